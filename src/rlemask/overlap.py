"""Areas and overlap scores straight from run lengths, without decoding masks.

A mask given as a Kaggle run-length string (with a ``shape``) or as a COCO
object (``{"size": [h, w], "counts": ...}``) is read into sorted pixel
intervals; intersections are merge walks over two interval lists, so the cost
grows with the number of runs, not of pixels.

* :func:`dice_rle`, :func:`iou_rle`: one pair of Kaggle strings, in one kernel call.
* :func:`dice_matrix`, :func:`iou_matrix`: every pair of two lists, an ``(N, M)`` array.
* :func:`area_many`: the area of every item of a list, in one call.

Scores follow :mod:`rlemask.metrics`: two empty masks score ``empty`` (1.0 by
default, 0.0, or NaN for ``"skip"``). Kaggle strings are parsed and
validated exactly as :func:`rlemask.decode` does and raise its
:class:`~rlemask.errors.InvalidRleError` messages; COCO objects as
:func:`rlemask.coco.decode` does.

>>> dice_rle("1 4", "3 4", (4, 4))
0.5
>>> iou_matrix(["1 4", ""], ["3 4", "1 2", None], shape=(4, 4))
array([[0.33333333, 0.5       , 0.        ],
       [0.        , 0.        , 1.        ]])
>>> area_many(["1 4 10 2", None, {"size": [2, 2], "counts": b"13"}]).tolist()
[6, 0, 3]
"""

from __future__ import annotations

import itertools
import operator
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from rlemask import _convert as _cv
from rlemask import _kernels as _k
from rlemask import _kernels_coco as _kc
from rlemask import _kernels_overlap as _ko
from rlemask.coco import _compressed, _error, _raise_status, _size, _sum_error, _uncompressed
from rlemask.errors import InvalidRleError, RlemaskError
from rlemask.rle import _ascii, _check_order, _check_shape, _raise_parse

if TYPE_CHECKING:
    from rlemask.metrics import Empty

__all__ = ["dice_rle", "iou_rle", "dice_matrix", "iou_matrix", "area_many"]

# area_many without a shape: runs are only bounded by the int64 range (as rle.area)
_NO_SHAPE = np.int64(1) << 62


# ----------------------------------------------------------------------------------
# one pair of Kaggle strings
# ----------------------------------------------------------------------------------


def _empty_value(empty: Any) -> float:
    if type(empty) is float and empty == 1.0:  # the default, checked in a few ns
        return 1.0
    # imported on use: rlemask.metrics re-exports this module's functions
    from rlemask.metrics._common import _empty_value as value

    return value(empty)


def _data(rle: Any, name: str) -> bytes:
    text = rle if type(rle) is str else _cv.rle_text(rle, name)
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        _ascii(text, name)
        raise  # pragma: no cover - _ascii raises


def _pair(truth: Any, pred: Any, shape: Any, strict: bool) -> tuple[int, int, int]:
    """(intersection, |truth|, |pred|) of two Kaggle strings."""
    h, w = _check_shape(shape)
    if type(truth) is str and type(pred) is str and not truth and not pred:
        return 0, 0, 0  # the commonest pair in UWMGI data (two empty slices): no kernel call
    t = _data(truth, "truth")
    p = _data(pred, "pred")
    code, which, idx, off, inter, at, ap = _ko.pair(t, p, h * w, bool(strict))
    if code != _k.OK:
        data, name = (t, "truth") if which == 1 else (p, "pred")
        _raise_parse(code, idx, off, data, (h, w), name)
    return inter, at, ap


def dice_rle(
    truth: str | None,
    pred: str | None,
    shape: tuple[int, int],
    *,
    empty: Empty = 1.0,
    strict: bool = True,
) -> float:
    """Dice of two masks given as Kaggle run-length strings, without building the masks.

    ``dice_rle(t, p, shape) == float(dice(decode(t, shape), decode(p, shape)))``;
    both strings are parsed, validated and intersected in one compiled call.

    Parameters
    ----------
    truth, pred : str, bytes or None
        Ground truth and prediction (truth first, as everywhere in rlemask):
        "start length" pairs, starts 1-based, as :func:`rlemask.decode` reads
        them; ``None``, ``""``, NaN and ``pd.NA`` are empty masks.
    shape : (int, int)
        ``(height, width)`` of both masks (the pixel count bounds the runs).
    empty : {1.0, 0.0, "skip"}, keyword-only
        Score of two empty masks, as in :func:`rlemask.metrics.dice`.
    strict : bool, keyword-only
        ``True`` (default) rejects runs that are unsorted or overlap; ``False``
        scores the union of the runs.

    Returns
    -------
    float

    Raises
    ------
    InvalidRleError
        Where :func:`rlemask.decode` raises, with its messages, naming
        ``truth`` or ``pred``.

    Examples
    --------
    >>> dice_rle("1 4", "3 4", (4, 4))
    0.5
    >>> dice_rle("", None, (4, 4)), dice_rle("", None, (4, 4), empty="skip")
    (1.0, nan)
    """
    e = 1.0 if type(empty) is float and empty == 1.0 else _empty_value(empty)
    inter, at, ap = _pair(truth, pred, shape, strict)
    total = at + ap
    return 2.0 * inter / total if total else e


def iou_rle(
    truth: str | None,
    pred: str | None,
    shape: tuple[int, int],
    *,
    empty: Empty = 1.0,
    strict: bool = True,
) -> float:
    """Intersection over union of two Kaggle run-length strings; as :func:`dice_rle`.

    Examples
    --------
    >>> iou_rle("1 4", "3 4", (4, 4))
    0.3333333333333333
    """
    e = 1.0 if type(empty) is float and empty == 1.0 else _empty_value(empty)
    inter, at, ap = _pair(truth, pred, shape, strict)
    union = at + ap - inter
    return inter / union if union else e


# ----------------------------------------------------------------------------------
# lists: Kaggle strings or COCO objects
# ----------------------------------------------------------------------------------


class _Batch:
    """Intervals of a list of masks: ``bounds[boff[i]:boff[i + 1]]`` and ``areas[i]``."""

    def __init__(self, bounds: np.ndarray, boff: np.ndarray, areas: np.ndarray, coco: bool, shapes: list):
        self.bounds = bounds
        self.boff = boff
        self.areas = areas
        self.coco = coco
        self.shapes = shapes


def _is_coco(items: list) -> bool:
    for x in items:
        if isinstance(x, dict):
            return True
        if isinstance(x, str):
            return False
    return False


def _kaggle_buffer(items: list, name: str) -> tuple[bytes, np.ndarray]:
    """The ASCII bytes of every Kaggle string of ``items``, joined, and their offsets."""
    texts = items if set(map(type, items)) <= {str} else _cv.rle_texts(items, name)
    nitem = len(texts)
    joined = "".join(texts)
    if not joined.isascii():
        for i, t in enumerate(texts):
            if not t.isascii():
                _ascii(t, f"{name}[{i}]", i)
    offsets = np.zeros(nitem + 1, np.int64)
    if nitem:
        np.cumsum(np.fromiter(map(len, texts), np.int64, nitem), out=offsets[1:])
    return joined.encode("ascii"), offsets


def _raise_first(status: np.ndarray, data: bytes, offsets: np.ndarray, shape: Any, name: str) -> None:
    bad = np.flatnonzero(status[:, 0])
    if bad.size:
        i = int(bad[0])
        code, idx, off = (int(v) for v in status[i])
        _raise_parse(code, idx, off, data[offsets[i] : offsets[i + 1]], shape, f"{name}[{i}]", item=i)


def _kaggle_batch(items: list, shape: tuple[int, int] | None, strict: bool, name: str) -> _Batch:
    data, offsets = _kaggle_buffer(items, name)
    nitem = offsets.size - 1
    n = _NO_SHAPE if shape is None else shape[0] * shape[1]
    ns = np.full(nitem, n, np.int64)
    status, bounds, boff, areas = _ko.bounds_kaggle(np.frombuffer(data, np.uint8), offsets, ns, bool(strict))
    _raise_first(status, data, offsets, shape, name)
    return _Batch(bounds, boff, areas, False, [shape] * nitem)


def _kaggle_areas(items: list, shape: tuple[int, int] | None, strict: bool, name: str) -> np.ndarray:
    data, offsets = _kaggle_buffer(items, name)
    n = _NO_SHAPE if shape is None else shape[0] * shape[1]
    status, areas = _ko.areas_kaggle(np.frombuffer(data, np.uint8), offsets, n, bool(strict))
    _raise_first(status, data, offsets, shape, name)
    return areas


def _packed(items: list, name: str) -> tuple[list, list, np.ndarray, np.ndarray, np.ndarray] | None:
    """(counts, (h, w) per item, pixels per item, joined counts bytes, their offsets)
    of a list of dicts that all hold bytes counts and a list size; None for any
    other list (the item-by-item path then names what is wrong).

    Sizes may differ: each run of equal sizes is validated once, so a bad size
    raises for the first item that has it, as the item-by-item path would.
    """
    nitem = len(items)
    if not nitem or set(map(type, items)) != {dict}:
        return None
    try:
        raws = [o["counts"] for o in items]
        sizes = [o["size"] for o in items]
    except KeyError:
        return None
    if set(map(type, raws)) != {bytes} or set(map(type, sizes)) != {list}:
        return None
    if sizes.count(sizes[0]) == nitem:  # one size, the rule
        starts = [0]
    else:
        change = np.fromiter(map(operator.ne, sizes[1:], sizes[:-1]), bool, nitem - 1)
        starts = [0] + (np.flatnonzero(change) + 1).tolist()
    runs = [_size(items[i], f"{name}[{i}]:", i) for i in starts]
    counts = np.diff(starts + [nitem])
    shapes: list = []
    for hw, k in zip(runs, counts.tolist()):
        shapes += [hw] * k
    ns = np.repeat(np.array([h * w for h, w in runs], np.int64), counts)
    offsets = np.zeros(nitem + 1, np.int64)
    np.cumsum(np.fromiter(map(len, raws), np.int64, nitem), out=offsets[1:])
    return raws, shapes, ns, np.frombuffer(b"".join(raws), np.uint8), offsets


def _coco_batch(items: list, shape: tuple[int, int] | None, name: str) -> _Batch:
    nitem = len(items)
    packed = _packed(items, name)
    if packed is not None and (shape is None or packed[1].count(shape) == nitem):  # no per-item checks
        raws, shapes, ns, buf, offsets = packed
        status, bounds, boff, areas = _ko.bounds_coco(buf, offsets, ns)
        if status[:, 0].any():
            _raise_status(status, raws, shapes, True, name)
        return _Batch(bounds, boff, areas, True, shapes)
    shapes = [_size(o, f"{name}[{i}]:", i) for i, o in enumerate(items)]
    if shape is not None:
        for i, s in enumerate(shapes):
            if s != shape:
                raise _error(f"{name}[{i}] has size={list(s)}; expected shape={tuple(shape)}", i)
    raws = [o["counts"] for o in items]
    datas = [_compressed(raw, f"{name}[{i}]: ", i) for i, raw in enumerate(raws)]
    ns = np.fromiter((h * w for h, w in shapes), np.int64, nitem)
    packed = [d if d is not None else b"" for d in datas]
    offsets = np.zeros(nitem + 1, np.int64)
    if nitem:
        np.cumsum(np.fromiter(map(len, packed), np.int64, nitem), out=offsets[1:])
    status, bounds, boff, areas = _ko.bounds_coco(np.frombuffer(b"".join(packed), np.uint8), offsets, ns)
    lists = [i for i, d in enumerate(datas) if d is None]
    if lists:  # uncompressed counts: their intervals in numpy, spliced in
        status[lists] = 0
    if status[:, 0].any():
        _raise_status(status, raws, shapes, True, name)
    if lists:
        parts = []
        newoff = [0]
        for i in range(nitem):
            if datas[i] is None:
                b = _counts_bounds(raws[i], shapes[i], f"{name}[{i}]: ", i)
                areas[i] = int((b[1::2] - b[0::2]).sum())
            else:
                b = bounds[boff[i] : boff[i + 1]]
            parts.append(b)
            newoff.append(newoff[-1] + b.size)
        bounds = np.concatenate(parts) if parts else bounds[:0]
        boff = np.array(newoff, np.int64)
    return _Batch(bounds, boff, areas, True, shapes)


def _coco_areas(items: list, name: str) -> np.ndarray:
    """Areas of COCO objects: one area-only kernel call for dicts with bytes counts (any sizes)."""
    packed = _packed(items, name)
    if packed is None:
        return _coco_batch(items, None, name).areas
    raws, shapes, ns, buf, offsets = packed
    status, areas = _kc.areas_compressed(buf, offsets, ns)
    if status[:, 0].any():
        _raise_status(status, raws, shapes, True, name)
    return areas


def _counts_bounds(raw: Any, shape: tuple[int, int], prefix: str, item: int) -> np.ndarray:
    """Intervals of uncompressed COCO counts, validated as :func:`rlemask.coco.decode` does."""
    counts = _uncompressed(raw, prefix, item)
    h, w = shape
    neg = np.flatnonzero(counts < 0)
    if neg.size:
        k = int(neg[0])
        raise _error(f"{prefix}COCO counts: count {k} is {int(counts[k])}; expected counts >= 0", item, run=k)
    total = sum(counts.tolist())  # Python ints: an int64 sum can wrap around
    if total != h * w:  # as rlemask.coco.decode says it
        ends = itertools.accumulate(counts.tolist())
        over = next(k for k, end in enumerate(ends) if end > h * w) if total > h * w else None
        raise _sum_error(prefix, counts, shape, item, over)
    ends = np.cumsum(counts)
    ones = counts[1::2]
    starts = ends[0::2][: ones.size]
    keep = ones > 0
    b = np.empty(2 * int(keep.sum()), np.int64)
    b[0::2] = starts[keep]
    b[1::2] = starts[keep] + ones[keep]
    return b


def _batch(items: Any, shape: Any, strict: bool, name: str) -> _Batch:
    if isinstance(items, (str, bytes, dict)):
        raise RlemaskError(
            f"{name} is a single {type(items).__name__}; expected a list of Kaggle strings or COCO objects"
        )
    items = items if type(items) is list else list(items)
    hw = None if shape is None else _check_shape(shape)
    if _is_coco(items):
        return _coco_batch(items, hw, name)
    return _kaggle_batch(items, hw, strict, name)


def _pair_batches(a: Any, b: Any, shape: Any, order: str, strict: bool) -> tuple[_Batch, _Batch]:
    _check_order(order)
    ba = _batch(a, shape, strict, "a")
    if shape is None and ba.coco and ba.shapes:
        shape = ba.shapes[0]
    bb = _batch(b, shape, strict, "b")
    if shape is None and bb.coco and bb.shapes:
        shape = bb.shapes[0]
        ba = _batch(a, shape, strict, "a") if not ba.coco else ba
    for batch, name in ((ba, "a"), (bb, "b")):
        if not batch.coco and batch.shapes and shape is None:
            raise RlemaskError(
                f"{name} holds Kaggle strings; pass shape=(height, width) (COCO objects carry their size)"
            )
    sizes = {s for s in ba.shapes + bb.shapes if s is not None}
    if len(sizes) > 1:
        raise RlemaskError(f"a and b hold masks of sizes {sorted(sizes)}; expected one size")
    if ba.coco != bb.coco and order != "F" and ba.shapes and bb.shapes:
        raise RlemaskError(
            f"{'a' if not ba.coco else 'b'} holds Kaggle strings in order={order!r} (row by row) and the "
            "other COCO objects (column by column); pass order='F' if the strings are column-major, or "
            "convert them with rlemask.coco.to_coco"
        )
    return ba, bb


def _matrix(a: Any, b: Any, shape: Any, order: str, strict: bool, dice: bool, empty: float) -> np.ndarray:
    ba, bb = _pair_batches(a, b, shape, order, strict)
    size = next((s for s in ba.shapes + bb.shapes if s is not None), (0, 0))
    # pixels of one line of the format: a row (Kaggle, C order) or a column (COCO, F order)
    line = size[0] if (ba.coco or bb.coco or order == "F") else size[1]
    xa = _ko.boxes(ba.bounds, ba.boff, line)
    xb = _ko.boxes(bb.bounds, bb.boff, line)
    return _ko.scores(ba.bounds, ba.boff, xa, ba.areas, bb.bounds, bb.boff, xb, bb.areas, dice, empty)


def iou_matrix(
    a: Any,
    b: Any,
    *,
    shape: tuple[int, int] | None = None,
    order: str = "C",
    empty: Empty = 1.0,
    strict: bool = True,
) -> NDArray[np.float64]:
    """IoU of every mask of ``a`` with every mask of ``b``, from run lengths.

    Parameters
    ----------
    a, b : sequence
        Kaggle run-length strings (``None``/NaN are empty masks; ``shape``
        required) or COCO objects ``{"size": [h, w], "counts": ...}``
        (compressed or not), all of one size.
    shape : (int, int), keyword-only
        ``(height, width)`` of Kaggle strings; optional for COCO objects
        (checked against their size when given).
    order : {"C", "F"}, keyword-only
        Pixel order of the Kaggle strings. Scores do not depend on it unless
        one list holds Kaggle strings and the other COCO objects (always
        column order): that needs ``order="F"``.
    empty : {1.0, 0.0, "skip"}, keyword-only
        Score of two empty masks (NaN for ``"skip"``), as in :func:`rlemask.metrics.iou`.
    strict : bool, keyword-only
        Kaggle strings: reject unsorted / overlapping runs (default), or take
        their union with ``False``.

    Returns
    -------
    ndarray of float64, shape ``(len(a), len(b))``

    Raises
    ------
    InvalidRleError
        A malformed string or object; the message starts with ``a[i]`` or
        ``b[j]`` and ``error.item`` is its index.
    RlemaskError
        No shape for Kaggle strings, sizes that differ, Kaggle strings in
        ``order="C"`` against COCO objects.

    Examples
    --------
    >>> iou_matrix(["1 2", "3 2"], ["2 2"], shape=(2, 2))
    array([[0.33333333],
           [0.33333333]])
    """
    return _matrix(a, b, shape, order, strict, False, _empty_value(empty))


def dice_matrix(
    a: Any,
    b: Any,
    *,
    shape: tuple[int, int] | None = None,
    order: str = "C",
    empty: Empty = 1.0,
    strict: bool = True,
) -> NDArray[np.float64]:
    """Dice of every mask of ``a`` with every mask of ``b``; as :func:`iou_matrix`.

    Examples
    --------
    >>> dice_matrix(["1 2", ""], ["2 2", None], shape=(2, 2))
    array([[0.5, 0. ],
           [0. , 1. ]])
    """
    return _matrix(a, b, shape, order, strict, True, _empty_value(empty))


def area_many(rles: Any, *, shape: tuple[int, int] | None = None, strict: bool = True) -> NDArray[np.int64]:
    """Foreground area of every item of a list, in one call, without decoding.

    Parameters
    ----------
    rles : sequence
        Kaggle run-length strings (missing values have area 0) and / or COCO
        objects (their own sizes; compressed or not).
    shape : (int, int), keyword-only
        ``(height, width)``: Kaggle runs past ``height * width`` raise (without
        it only the runs' order is checked, as :func:`rlemask.area` does).
    strict : bool, keyword-only
        Kaggle strings: reject unsorted / overlapping runs (default); with
        ``False`` the area of their union.

    Returns
    -------
    ndarray of int64, shape ``(len(rles),)``

    Raises
    ------
    InvalidRleError
        A malformed item; the message starts with ``rles[i]`` and ``error.item`` is ``i``.

    Examples
    --------
    >>> area_many(["2 3 10 4", "", None]).tolist()
    [7, 0, 0]
    """
    if isinstance(rles, (str, bytes, dict)):
        raise RlemaskError(
            f"rles is a single {type(rles).__name__}; expected a list (use rlemask.area for one string)"
        )
    items = rles if type(rles) is list else list(rles)
    hw = None if shape is None else _check_shape(shape)
    if not any(issubclass(t, dict) for t in set(map(type, items))):
        return _kaggle_areas(items, hw, strict, "rles")
    coco = [i for i, x in enumerate(items) if isinstance(x, dict)]
    if len(coco) == len(items):
        return _coco_areas(items, "rles")
    out = np.zeros(len(items), np.int64)
    kaggle = [i for i, x in enumerate(items) if not isinstance(x, dict)]
    for index, batch in ((coco, lambda x: _coco_areas(x, "rles")), (kaggle, lambda x: _kaggle_areas(x, hw, strict, "rles"))):
        try:
            out[index] = batch([items[i] for i in index])
        except InvalidRleError as exc:  # name the item by its index in rles
            raise _renamed(exc, index) from None
    return out


def _renamed(exc: InvalidRleError, index: list[int]) -> InvalidRleError:
    i = exc.item
    j = index[i]
    msg = str(exc).replace(f"rles[{i}]", f"rles[{j}]", 1)
    return InvalidRleError(msg, token=exc.token, run=exc.run, offset=exc.offset, item=j, reason=exc.reason)
