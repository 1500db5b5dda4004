"""COCO run-length counts, without pycocotools.

COCO stores a mask of shape ``(h, w)`` as ``{"size": [h, w], "counts": ...}``
where the counts are the lengths of alternating runs of zeros and ones over the
pixels in **column order** (Fortran order), zeros first (so a mask starting with
a one has a leading count of 0). ``counts`` is either a list of ints
("uncompressed") or the compact ASCII form that ``pycocotools.mask.encode``
writes ("compressed": each count minus the count two places before, in 5-bit
groups, ``chr(48 + group)``, bit 0x20 meaning "more groups follow").

:func:`encode` turns dense masks into compressed COCO objects byte-identical to
``pycocotools.mask.encode(np.asfortranarray(mask))``, whatever the memory
layout of the mask (a row-major mask is transposed in run space, never
copied); :func:`decode` reads both forms back into dense masks, like
``pycocotools.mask.decode``. Both take one mask / object or a batch in one
call. :func:`to_coco` / :func:`from_coco` convert Kaggle run-length strings.

>>> import numpy as np
>>> m = np.array([[0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=np.uint8)
>>> encode(m)
{'size': [3, 4], 'counts': b'22200OO'}
>>> bool((decode(encode(m)) == m).all())
True
>>> obj = to_coco("2 2 7 3", (3, 4))
>>> obj
{'size': [3, 4], 'counts': b'22200OO'}
>>> from_coco(obj)
'2 2 7 3'
>>> from_coco({"size": [3, 4], "counts": [2, 2, 2, 2, 2, 1, 1]})
'2 2 7 3'
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rlemask import _convert as _cv
from rlemask import _kernels as _k
from rlemask import _kernels_coco as _kc
from rlemask.errors import InvalidMaskError, InvalidRleError
from rlemask.rle import _MAX_PIXELS, _as_mask01, _bad_value, _check_order, _check_shape
from rlemask.rle import decode as _decode_rle
from rlemask.rle import encode as _encode_rle

__all__ = ["encode", "decode", "to_coco", "from_coco"]

# Outputs come from np.zeros and only the runs of ones are written, as
# rlemasklib does with calloc: fresh pages arrive zeroed from the OS and a
# recycled block is cleared in one memset (measured faster than np.empty plus a
# memset in the kernel, at every size of issue 10's workloads).


# ----------------------------------------------------------------------------------
# dense masks -> COCO
# ----------------------------------------------------------------------------------


def encode(mask: ArrayLike) -> dict[str, Any] | list[dict[str, Any]]:
    """Encode a 2-D mask, or a stack ``(n, height, width)``, as COCO compressed counts.

    Parameters
    ----------
    mask : array_like
        2-D array of 0/1 values (any integer or float dtype) or bool, or a 3-D
        stack of such masks (batch first), any memory layout.

    Returns
    -------
    dict or list of dict
        ``{"size": [height, width], "counts": bytes}``, equal to
        ``pycocotools.mask.encode(np.asfortranarray(mask))``; a list of them
        for a stack.

    Raises
    ------
    InvalidMaskError
        ``mask`` is not 2-D or 3-D, or holds a value other than 0 and 1.

    Examples
    --------
    >>> import numpy as np
    >>> encode(np.array([[0, 1], [1, 1]]))
    {'size': [2, 2], 'counts': b'13'}
    >>> encode(np.zeros((2, 1, 3), bool))
    [{'size': [1, 3], 'counts': b'3'}, {'size': [1, 3], 'counts': b'3'}]
    """
    arr = _cv.as_array(mask)
    if arr.ndim not in (2, 3):
        raise InvalidMaskError(
            f"mask has shape={arr.shape} ({arr.ndim}-D); expected a 2-D mask (height, width) "
            "or a 3-D stack (n, height, width)"
        )
    if arr.ndim == 2:
        a = _as_mask01(arr, 2)
        h, w = a.shape
        if a.flags.f_contiguous and not a.flags.c_contiguous:
            code, item, off, buf, ends = _kc.encode_columns(a.T.reshape(1, h * w))
            order = "F"
        else:
            code, item, off, buf, ends = _kc.encode_rows(np.ascontiguousarray(a).reshape(1, h * w), h, w)
            order = "C"
        if code != _k.OK:
            raise _bad_value(a, off, order)
        return {"size": [h, w], "counts": buf.tobytes()}
    a = _as_mask01(arr, 3, "mask")
    nitem, h, w = a.shape
    t = a.transpose(0, 2, 1)
    if t.flags.c_contiguous and not a.flags.c_contiguous:
        code, item, off, buf, ends = _kc.encode_columns(t.reshape(nitem, h * w))
        order = "F"
    else:
        code, item, off, buf, ends = _kc.encode_rows(np.ascontiguousarray(a).reshape(nitem, h * w), h, w)
        order = "C"
    if code != _k.OK:
        raise _bad_value(a[item], off, order, f"mask[{item}]")
    data = buf.tobytes()
    size = [h, w]
    res = []
    lo = 0
    for hi in ends.tolist():
        res.append({"size": list(size), "counts": data[lo:hi]})
        lo = hi
    return res


# ----------------------------------------------------------------------------------
# COCO -> dense masks
# ----------------------------------------------------------------------------------


def _error(message: str, item: int | None, **fields: Any) -> InvalidRleError:
    """An InvalidRleError with ``item``, the index of the failing object in a batch (None for one)."""
    return InvalidRleError(message, item=item, **fields)


def _size(obj: Any, where: str = "COCO object", item: int | None = None) -> tuple[int, int]:
    """``(h, w)`` of a COCO object; ``where`` names it in messages (``"objs[3]:"``
    with ``item=3`` for an item of a list)."""
    if not isinstance(obj, dict) or "size" not in obj or "counts" not in obj:
        raise InvalidRleError(
            f"{where} {obj!r:.80} is not a dict with 'size' and 'counts'; "
            "expected {'size': [height, width], 'counts': bytes, str or list}",
            item=item,
        )
    size = obj["size"]
    if type(size) is list and len(size) == 2:  # fast path
        h, w = size
        if type(h) is int and type(w) is int and 0 <= h <= _MAX_PIXELS and 0 <= w <= _MAX_PIXELS:
            if h * w <= _MAX_PIXELS:  # pixel offsets are int64, as rle._check_shape requires
                return h, w
    try:
        return _check_shape(tuple(size))
    except (InvalidRleError, TypeError):
        prefix = "" if item is None else f"{where} "
        raise InvalidRleError(
            f"{prefix}COCO size={size!r} is not [height, width]; expected two non-negative ints "
            f"with at most {_MAX_PIXELS} (2**63 - 1) pixels",
            item=item,
        ) from None


def _compressed(raw: Any, prefix: str, item: int | None) -> bytes | None:
    """The bytes of compressed counts, or None for an uncompressed list."""
    if type(raw) is bytes:
        return raw
    if isinstance(raw, str):
        try:
            return raw.encode("ascii")
        except UnicodeEncodeError as exc:
            raise _error(
                f"{prefix}COCO counts: character {exc.start} ({raw[exc.start]!r}) is not ASCII; "
                "expected characters '0' to 'o'",
                item,
                offset=exc.start,
            ) from None
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return bytes(raw)
    if isinstance(raw, (list, tuple, np.ndarray)):
        return None
    raise _error(
        f"{prefix}COCO counts of type {type(raw).__name__}; expected bytes or str (compressed) or a list of ints",
        item,
    )


def _uncompressed(raw: Any, prefix: str, item: int | None) -> np.ndarray:
    arr = np.asarray(raw)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise _error(
            f"{prefix}COCO counts list has dtype {arr.dtype} and shape {arr.shape}; expected a flat list of ints",
            item,
        )
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        i = int(np.argmax(arr > np.iinfo(np.int64).max))
        raise _error(f"{prefix}COCO counts: count {i} is {int(arr[i])}, above the int64 range", item, run=i)
    return arr.astype(np.int64)


def _raise_status(
    status: np.ndarray, raws: list[Any], shape: tuple[int, int] | list, batch: bool, name: str = "objs"
) -> None:
    """Raise for the first failing item of a kernel status array (``shape`` per item when a list)."""
    i = int(np.flatnonzero(status[:, 0])[0])
    code, idx, off = (int(v) for v in status[i])
    item = i if batch else None
    prefix = f"{name}[{i}]: " if batch else ""
    if isinstance(shape, list):
        shape = shape[i]
    raw = raws[i]
    if code == _k.E_TOKEN:
        data = _compressed(raw, prefix, item)
        raise _error(
            f"{prefix}COCO counts: byte {off} ({data[off:off + 1]!r}) is not a counts character; "
            "expected characters '0' to 'o' (pycocotools compressed counts)",
            item,
            offset=off,
        )
    if code == _k.E_ODD:
        raise _error(
            f"{prefix}COCO counts: count {idx} is cut off at the end (its last byte has the "
            "'more' bit 0x20 set); expected a complete pycocotools string",
            item,
            offset=off,
        )
    if code == _k.E_BIG:
        raise _error(f"{prefix}COCO counts: count {idx} at byte {off} is too large", item, offset=off)
    data = _compressed(raw, prefix, item)
    if data is None:
        counts = _uncompressed(raw, prefix, item)
    else:
        counts = _kc.decompress(np.frombuffer(data, np.uint8))[3]
    if code == _k.E_NEG:
        raise _error(f"{prefix}COCO counts: count {idx} is {int(counts[idx])}; expected counts >= 0", item, run=idx)
    raise _sum_error(prefix, counts, shape, item, idx if code == _k.E_END else None)


def _sum_error(prefix: str, counts: np.ndarray, shape: tuple[int, int], item: int | None,
               over: int | None) -> InvalidRleError:
    """Counts (>= 0) that do not add up to ``h * w`` pixels; ``over`` is the count at which
    they overrun the mask, None when they fall short."""
    h, w = shape
    total = sum(counts.tolist())  # Python ints: an int64 sum can wrap around
    what = "fall short of the mask" if over is None else f"overrun the mask at count {over}"
    return _error(
        f"{prefix}COCO counts add up to {total} pixels; expected {h * w} for size=[{h}, {w}] (the counts {what})",
        item,
        offset=total,
    )


def _decode_into(raws: list[Any], shape: tuple[int, int], flat: np.ndarray, batch: bool) -> None:
    """Validate every item of ``raws`` (counts of one size), then write their ones
    into ``flat`` (N, h*w) of zeros."""
    n = shape[0] * shape[1]
    nitem = len(raws)
    datas: list[bytes] = []
    packed: list[int] = []  # items with compressed counts
    lists: list[int] = []  # items with uncompressed counts
    for i, raw in enumerate(raws):
        data = _compressed(raw, f"objs[{i}]: " if batch else "", i if batch else None)
        if data is None:
            lists.append(i)
        else:
            packed.append(i)
            datas.append(data)
    mixed = bool(packed) and bool(lists)
    parts = []
    if packed:
        offsets = np.zeros(len(packed) + 1, np.int64)
        np.cumsum(np.fromiter(map(len, datas), np.int64, len(packed)), out=offsets[1:])
        buf = np.frombuffer(b"".join(datas), np.uint8)
        target = np.zeros((len(packed), n), np.uint8) if mixed else flat
        status = _kc.decode_compressed(buf, offsets, n, target)
        if status[:, 0].any():
            full = np.zeros((nitem, 3), np.int64)
            full[packed] = status
            _raise_status(full, raws, shape, batch)
        parts.append((packed, target))
    if lists:
        arrays = [_uncompressed(raws[i], f"objs[{i}]: " if batch else "", i if batch else None) for i in lists]
        offsets = np.zeros(len(lists) + 1, np.int64)
        np.cumsum([a.size for a in arrays], out=offsets[1:])
        counts = np.concatenate(arrays)
        target = np.zeros((len(lists), n), np.uint8) if mixed else flat
        status = _kc.decode_counts(counts, offsets, n, target)
        if status[:, 0].any():
            full = np.zeros((nitem, 3), np.int64)
            full[lists] = status
            _raise_status(full, raws, shape, batch)
        parts.append((lists, target))
    if mixed:
        for index, target in parts:
            flat[index] = target


def decode(obj: dict[str, Any] | list[dict[str, Any]]) -> NDArray[np.uint8]:
    """Decode COCO counts (compressed or not) into a dense mask, or a batch into a stack.

    Parameters
    ----------
    obj : dict or sequence of dict
        ``{"size": [height, width], "counts": ...}`` with ``counts`` as bytes
        or str (pycocotools compressed form) or a list of ints (uncompressed);
        or a list of such objects, all of one size.

    Returns
    -------
    ndarray of uint8
        ``(height, width)`` for one object, ``(n, height, width)`` for a list;
        0/1 values equal to ``pycocotools.mask.decode``. Each mask is
        Fortran-ordered in memory, as pycocotools returns it (the format's
        order; ``np.ascontiguousarray`` gives a row-major copy).

    Raises
    ------
    InvalidRleError
        A malformed object: not a dict with ``size`` and ``counts``, a bad
        size, a byte that is not a counts character, a cut-off value, a
        negative count, counts that add up to more or fewer pixels than
        ``height * width``, or objects of different sizes in one list. In a
        batch the message starts with ``objs[i]`` and ``error.item`` is ``i``.
        Nothing is decoded unless every object is valid.

    Examples
    --------
    >>> decode({"size": [2, 2], "counts": b"13"})
    array([[0, 1],
           [1, 1]], dtype=uint8)
    >>> decode([{"size": [1, 2], "counts": [1, 1]}, {"size": [1, 2], "counts": b"2"}])
    array([[[0, 1]],
    <BLANKLINE>
           [[0, 0]]], dtype=uint8)
    """
    if isinstance(obj, dict):
        h, w = _size(obj)
        base = np.zeros((w, h), np.uint8)
        raw = obj["counts"]
        if type(raw) is bytes:  # the common case, in one kernel call
            code, idx, off = _kc.decode_one(raw, base)
            if code != _k.OK:
                _raise_status(np.array([[code, idx, off]]), [raw], (h, w), False)
            return base.T
        _decode_into([obj["counts"]], (h, w), base.reshape(1, h * w), False)
        return base.T
    if isinstance(obj, (str, bytes)) or not hasattr(obj, "__iter__"):
        raise InvalidRleError(
            f"obj of type {type(obj).__name__} is not a COCO object or a list of them; "
            "expected {'size': [height, width], 'counts': ...} or a list of such dicts"
        )
    objs = obj if type(obj) is list else list(obj)
    if not objs:
        raise InvalidRleError("obj is an empty list: its mask size is unknown; expected at least one COCO object")
    h, w = _size(objs[0], "objs[0]:", 0)
    raws = []
    for i, o in enumerate(objs):
        size = _size(o, f"objs[{i}]:", i)
        if size != (h, w):
            raise _error(
                f"objs[{i}] has size={list(size)} but objs[0] has size={[h, w]}; expected one size "
                "(decode objects of different sizes one by one)",
                i,
            )
        raws.append(o["counts"])
    base = np.zeros((len(objs), w, h), np.uint8)
    _decode_into(raws, (h, w), base.reshape(len(objs), h * w), True)
    return base.transpose(0, 2, 1)


# ----------------------------------------------------------------------------------
# Kaggle strings <-> COCO
# ----------------------------------------------------------------------------------


def to_coco(rle: str | None, shape: tuple[int, int], *, order: str = "C") -> dict[str, Any]:
    """Convert a Kaggle run-length string to COCO compressed counts.

    Parameters
    ----------
    rle : str or None
        ``"start length ..."``; missing values give an empty mask.
    shape : tuple of int
        ``(height, width)``.
    order : {"C", "F"}, optional
        Pixel order of ``rle`` (``"C"`` row by row, the default).

    Returns
    -------
    dict
        ``{"size": [height, width], "counts": bytes}``, equal to
        ``pycocotools.mask.encode(np.asfortranarray(mask))``.

    Raises
    ------
    InvalidRleError
        ``rle`` or ``shape`` is malformed.

    Examples
    --------
    >>> to_coco("", (2, 2))
    {'size': [2, 2], 'counts': b'4'}
    >>> to_coco("1 4", (2, 2))
    {'size': [2, 2], 'counts': b'04'}
    """
    h, w = _check_shape(shape)
    _check_order(order)
    return encode(_decode_rle(rle, (h, w), order=order))


def from_coco(obj: dict[str, Any], *, order: str = "C") -> str:
    """Convert COCO counts (compressed or not) to a Kaggle run-length string.

    Parameters
    ----------
    obj : dict
        ``{"size": [height, width], "counts": ...}`` with ``counts`` as bytes or
        str (pycocotools compressed form) or a list of ints (uncompressed).
    order : {"C", "F"}, optional
        Pixel order of the returned string (``"C"`` row by row, the default).

    Returns
    -------
    str
        ``"start length ..."``, ``""`` for an empty mask.

    Raises
    ------
    InvalidRleError
        Malformed counts, as :func:`decode` raises.

    Examples
    --------
    >>> from_coco({"size": [2, 2], "counts": b"04"})
    '1 4'
    >>> from_coco({"size": [2, 3], "counts": "11101"}, order="F")
    '2 1 4 1'
    """
    if not isinstance(obj, dict):
        _size(obj)
    _check_order(order)
    return _encode_rle(decode(obj), order=order)
