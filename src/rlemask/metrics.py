"""Segmentation metrics: Dice, IoU, Hausdorff and the UWMGI competition score.

Count, then reduce: numba kernels count the intersection and the two areas of
every mask pair in one pass, and the scores are computed from the counts.

Empty masks
-----------
A pair of empty masks has no Dice or IoU of its own (0/0). Every metric takes
the same keyword ``empty`` that says what such a pair scores:

========  =========================================================
``1.0``   (default) a correct "nothing here" is perfect, as smp and most
          notebooks do
``0.0``   the pair scores zero
"skip"    the pair scores NaN and is left out of every mean
========  =========================================================

One empty mask against a non-empty one always scores 0.0. :func:`hausdorff`
is a distance, not a score: two empty masks are 0.0 apart and one empty mask
is ``inf`` away from a non-empty one. ``docs/metrics.md`` has the full table.

Inputs
------
Masks are arrays of 0/1 values: bool, any integer dtype or float 0.0/1.0.
Anything else (probabilities, 255, NaN) raises :class:`InvalidMaskError`;
threshold first. Objects with ``.detach().cpu().numpy()`` (torch tensors) are
converted at the edge; this module never imports torch.

Examples
--------
>>> import numpy as np
>>> from rlemask.metrics import dice, iou, dice_rle, hausdorff
>>> a = np.array([[1, 1, 0, 0]], dtype=np.uint8)
>>> b = np.array([[0, 1, 1, 0]], dtype=np.uint8)
>>> float(dice(a, b)), float(iou(a, b))
(0.5, 0.3333333333333333)
>>> dice_rle("1 2", "2 2", (1, 4))
0.5
>>> hausdorff(a, b)
1.0
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rlemask.errors import InvalidMaskError, InvalidRleError, LayoutError, RlemaskError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "dice",
    "iou",
    "dice_rle",
    "hausdorff",
    "uwmgi_score",
    "ScoreReport",
]

Empty = Union[float, Literal["skip"]]

_CLASSES = ("large_bowel", "small_bowel", "stomach")


# --------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------


def _empty_value(empty: Any) -> float:
    """1.0, 0.0 or NaN for the ``empty`` keyword; anything else raises."""
    if isinstance(empty, str):
        if empty == "skip":
            return math.nan
    elif not isinstance(empty, bool) and isinstance(empty, (int, float, np.integer, np.floating)):
        if empty == 1:
            return 1.0
        if empty == 0:
            return 0.0
    raise RlemaskError(
        f"empty={empty!r} is not a valid empty-mask convention; "
        "expected 1.0 (two empty masks score 1), 0.0 (they score 0) or 'skip' (NaN, left out of means)"
    )


def _to_numpy(x: Any, name: str) -> np.ndarray:
    """np.asarray, converting torch-like tensors through .detach().cpu().numpy().

    A dtype numpy lacks (torch.bfloat16) goes through ``.float()`` first.
    """
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):
        x = x.detach().cpu()
        try:
            x = x.numpy()
        except (TypeError, RuntimeError) as exc:
            if not hasattr(x, "float"):
                raise InvalidMaskError(f"{name} cannot be read as an array: {exc}") from None
            try:
                x = x.float().numpy()
            except (TypeError, RuntimeError) as exc2:
                raise InvalidMaskError(f"{name} cannot be read as an array: {exc2}") from None
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InvalidMaskError(f"{name} cannot be read as an array: {exc}") from None


def _first_bad(arr: np.ndarray, bad: np.ndarray, name: str) -> InvalidMaskError:
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
    value = arr[index].item()
    return InvalidMaskError(
        f"{name} holds {value!r} at index {index} (dtype={arr.dtype}); expected a binary mask "
        "of 0/1 values (bool, integers or floats 0.0/1.0); threshold probabilities first, "
        f"e.g. {name} > 0.5"
    )


def _binary(x: Any, name: str, *, check_uint8: bool = True) -> np.ndarray:
    """C-contiguous uint8 0/1 array with the shape of ``x``.

    bool arrays are viewed without copying the values. uint8 arrays are only
    checked when ``check_uint8`` (the counting kernel checks them otherwise).
    """
    arr = _to_numpy(x, name)
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr).view(np.uint8)
    if arr.dtype == np.uint8:
        arr = np.ascontiguousarray(arr)
        if check_uint8 and arr.size and arr.max() > 1:
            raise _first_bad(arr, arr > 1, name)
        return arr
    if arr.dtype.kind in "iuf":
        ok = (arr == 0) | (arr == 1)
        if not ok.all():
            raise _first_bad(arr, ~ok, name)
        return np.ascontiguousarray(arr, dtype=np.uint8)
    raise InvalidMaskError(
        f"{name} has dtype={arr.dtype}; expected a binary mask (bool, integer or float 0/1 values)"
    )


def _pair(pred: Any, truth: Any, names: tuple[str, str], *, min_ndim: int = 2):
    p = _binary(pred, names[0], check_uint8=False)
    t = _binary(truth, names[1], check_uint8=False)
    if p.shape != t.shape:
        raise InvalidMaskError(
            f"{names[0]} has shape={p.shape} but {names[1]} has shape={t.shape}; "
            "expected equal shapes (..., H, W)"
        )
    if p.ndim < min_ndim:
        raise InvalidMaskError(
            f"{names[0]} and {names[1]} have shape={p.shape}; expected at least 2 dimensions (..., H, W)"
        )
    return p, t


def _counts(pred: Any, truth: Any):
    """(intersection, |pred|, |truth|) per mask over the last two axes, shape (...)."""
    from rlemask import _kernels_metrics as K

    p, t = _pair(pred, truth, ("pred", "truth"))
    lead = p.shape[:-2]
    row_len = p.shape[-2] * p.shape[-1]
    n_rows = int(np.prod(lead, dtype=np.int64))
    if n_rows == 0 or row_len == 0:
        z = np.zeros(lead, np.int64)
        return z, z.copy(), z.copy()
    pf, tf = p.reshape(-1), t.reshape(-1)
    pw, tw = _words(pf), _words(tf)
    if pw.size != tw.size:  # one of them is not 8-byte aligned: count byte by byte
        pw = tw = np.zeros(0, np.uint64)
    with _threads_for(pf.nbytes + tf.nbytes):
        inter, sp, st, bad = K.count_rows(pf, tf, pw, tw, n_rows, row_len)
    if bad.any():
        for arr, name in ((p, "pred"), (t, "truth")):
            if arr.max() > 1:
                raise _first_bad(arr, arr > 1, name)
    return inter.reshape(lead), sp.reshape(lead), st.reshape(lead)


# Below this many bytes of input a kernel runs on the calling thread only: waking
# the thread pool costs more than it saves, and on a busy machine a parallel
# region can wait milliseconds for a descheduled worker.
_SERIAL_BYTES = 1 << 21


@contextmanager
def _threads_for(nbytes: int):
    """Run the numba kernels inside on one thread when the input is small."""
    import numba

    old = numba.get_num_threads()
    if nbytes >= _SERIAL_BYTES or old == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _words(flat: np.ndarray) -> np.ndarray:
    """uint64 view of the whole 8-byte words of a contiguous uint8 array (empty if unaligned)."""
    n = flat.size // 8
    if n == 0 or flat.ctypes.data % 8:
        return np.zeros(0, np.uint64)
    return flat[: 8 * n].view(np.uint64)


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    out = np.empty(np.shape(num), np.float64)
    nz = den != 0
    np.divide(num, den, out=out, where=nz)
    out[~nz] = empty
    return out


# --------------------------------------------------------------------------
# Dice and IoU
# --------------------------------------------------------------------------


def dice(pred: ArrayLike, truth: ArrayLike, *, empty: Empty = 1.0) -> NDArray[np.float64]:
    """Dice coefficient ``2|P & T| / (|P| + |T|)`` of every mask over the last two axes.

    Parameters
    ----------
    pred, truth : array_like, shape (..., H, W)
        Binary masks of equal shape: bool, integers or floats with values 0
        and 1 (torch tensors are converted with ``.detach().cpu().numpy()``).
    empty : {1.0, 0.0, "skip"}, keyword-only
        Score of a pair of empty masks: 1.0 (default), 0.0, or NaN for
        ``"skip"`` (``np.nanmean`` then leaves it out).

    Returns
    -------
    numpy.ndarray of float64, shape (...)
        One score per mask; a 0-d array for 2-D inputs.

    Raises
    ------
    InvalidMaskError
        Shapes differ, fewer than 2 dimensions, or a value other than 0/1.
    RlemaskError
        ``empty`` is not 1.0, 0.0 or "skip".

    Examples
    --------
    >>> import numpy as np
    >>> p = np.zeros((2, 3, 4, 4), bool); t = np.zeros((2, 3, 4, 4), bool)
    >>> p[0, 0, :2] = True; t[0, 0, 1:3] = True
    >>> dice(p, t)[0]
    array([0.5, 1. , 1. ])
    >>> dice(p, t, empty="skip")[0]
    array([0.5, nan, nan])
    """
    e = _empty_value(empty)
    inter, sp, st = _counts(pred, truth)
    return _ratio(2.0 * inter, (sp + st).astype(np.float64), e)


def iou(pred: ArrayLike, truth: ArrayLike, *, empty: Empty = 1.0) -> NDArray[np.float64]:
    """Intersection over union (Jaccard) ``|P & T| / |P | T|`` over the last two axes.

    Same inputs, ``empty`` convention, output and errors as :func:`dice`.

    Examples
    --------
    >>> import numpy as np
    >>> iou(np.array([[1, 1, 0]]), np.array([[0, 1, 1]]))
    array(0.33333333)
    >>> float(iou(np.zeros((2, 2)), np.zeros((2, 2)), empty=0.0))
    0.0
    """
    e = _empty_value(empty)
    inter, sp, st = _counts(pred, truth)
    return _ratio(inter.astype(np.float64), (sp + st - inter).astype(np.float64), e)


# --------------------------------------------------------------------------
# Dice straight from run-length strings
# --------------------------------------------------------------------------


def _parse_intervals(rle: Any, n_pixels: int, shape: tuple[int, int], name: str, strict: bool):
    """Sorted, disjoint half-open 0-based pixel intervals of a Kaggle RLE string.

    Parsing and validation are the codec's own (:func:`rlemask.rle.decode`):
    the same inputs are accepted (str, bytes, None/NaN/pd.NA for an empty
    mask) and the same ones raise, with the codec's messages.
    """
    from rlemask import _kernels as _k
    from rlemask import _kernels_metrics as K
    from rlemask.rle import _as_text, _ascii, _raise_parse

    text = _as_text(rle, name)
    if not text:
        e = np.zeros(0, np.int64)
        return e, e.copy()
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        _ascii(text, name)
        raise  # pragma: no cover - _ascii raises
    code, idx, off, pairs = _k.parse(np.frombuffer(data, np.uint8))
    if code != _k.OK:
        _raise_parse(code, idx, off, data, shape, name)
    code, r = _k._validate(pairs, 0, idx // 2, n_pixels, bool(strict))
    if code != _k.OK:
        _raise_parse(code, r, 0, data, shape, name)
    starts = pairs[0::2] - 1
    ends = starts + pairs[1::2]
    keep = ends > starts
    if not keep.all():
        starts, ends = starts[keep], ends[keep]
    if starts.size > 1:
        if not strict:
            order = np.argsort(starts, kind="stable")
            starts, ends = starts[order], ends[order]
        starts, ends = K.merge_runs(np.ascontiguousarray(starts), np.ascontiguousarray(ends))
    return starts, ends


def dice_rle(
    pred_rle: str | None,
    truth_rle: str | None,
    shape: tuple[int, int],
    *,
    empty: Empty = 1.0,
    strict: bool = True,
) -> float:
    """Dice of two masks given as Kaggle run-length strings, without building the masks.

    The runs are parsed into sorted pixel intervals and intersected by a
    merge walk, so the cost is proportional to the number of runs, not pixels.
    ``dice_rle(p, t, shape) == float(dice(decode(p, shape), decode(t, shape)))``.

    Parameters
    ----------
    pred_rle, truth_rle : str, bytes or None
        "start length" pairs, starts 1-based, as :func:`rlemask.decode` reads
        them; ``None``, ``""``, NaN and ``pd.NA`` are empty masks.
    shape : (int, int)
        ``(height, width)`` of both masks (the pixel count bounds the runs).
    empty : {1.0, 0.0, "skip"}, keyword-only
        Score of two empty masks, as in :func:`dice`.
    strict : bool, keyword-only
        ``True`` (default) rejects runs that are unsorted or overlap; ``False``
        scores the union of the runs.

    Returns
    -------
    float

    Raises
    ------
    InvalidRleError
        Exactly where :func:`rlemask.decode` raises, with its messages (the
        string is parsed by the codec): odd token count, a token that is not
        an ASCII decimal integer, start 0, a run past ``height * width``,
        unsorted/overlapping runs when strict, or a bad ``shape``.

    Examples
    --------
    >>> dice_rle("1 4", "3 4", (4, 4))
    0.5
    >>> dice_rle("", None, (4, 4)), dice_rle("", None, (4, 4), empty="skip")
    (1.0, nan)
    """
    from rlemask import _kernels_metrics as K
    from rlemask.rle import _check_shape

    e = _empty_value(empty)
    h, w = _check_shape(shape)
    n = h * w
    ps, pe = _parse_intervals(pred_rle, n, (h, w), "pred_rle", strict)
    ts, te = _parse_intervals(truth_rle, n, (h, w), "truth_rle", strict)
    area = int((pe - ps).sum() + (te - ts).sum())
    if area == 0:
        return e
    inter = int(K.intersect_runs(ps, pe, ts, te))
    return 2.0 * inter / area


# --------------------------------------------------------------------------
# Hausdorff
# --------------------------------------------------------------------------


def _spacing(spacing: Any, ndim: int) -> tuple[float, ...]:
    if spacing is None:
        return (1.0,) * ndim
    try:
        values = tuple(float(s) for s in np.broadcast_to(np.asarray(spacing, dtype=np.float64), (ndim,)))
    except (TypeError, ValueError):
        values = ()
    if len(values) != ndim or not all(math.isfinite(s) and s > 0 for s in values):
        raise RlemaskError(
            f"spacing={spacing!r} is not valid for {ndim}-D masks; expected {ndim} positive "
            "finite numbers (one per axis, e.g. slice thickness then pixel height and width)"
        )
    return values


def _hausdorff_u8(
    p: np.ndarray,
    t: np.ndarray,
    sp: tuple[float, float, float],
    directed: bool,
    stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> float:
    """Hausdorff distance of two validated 3-D C-contiguous uint8 0/1 arrays of one shape.

    ``stats`` is ``bbox_union(p, t)`` when the caller has it already.
    """
    from rlemask import _kernels_metrics as K

    if p.size == 0:
        return 0.0
    if stats is None:
        with _threads_for(p.nbytes + t.nbytes):
            stats = K.bbox_union(p, t)
    counts, bounds = stats
    ca, cb, cab = (int(x) for x in counts.sum(axis=0))
    a_out, b_out = ca - cab, cb - cab
    lo0, hi0, lo1, hi1, lo2, hi2 = (int(x) for x in bounds)
    if ca == 0 and cb == 0:
        return 0.0
    if directed:
        if ca == 0:
            return 0.0
        if cb == 0:
            return math.inf
    elif ca == 0 or cb == 0:
        return math.inf
    box = (slice(lo0, hi0), slice(lo1, hi1), slice(lo2, hi2))
    pc = np.ascontiguousarray(p[box])
    tc = np.ascontiguousarray(t[box])
    d2 = 0.0
    work = np.empty(pc.shape, np.float64)
    with _threads_for(work.nbytes):
        if a_out:  # h(a, b) is 0 when a lies inside b
            d2 = _directed_max_sq(pc, tc, sp, work)
        if not directed and b_out:
            d2 = max(d2, _directed_max_sq(tc, pc, sp, work))
    return math.sqrt(d2)


def _directed_max_sq(a: np.ndarray, b: np.ndarray, sp: tuple[float, float, float], work: np.ndarray) -> float:
    """Largest squared distance from a voxel of ``a`` to the nearest voxel of ``b`` (b non-empty).

    An exact squared Euclidean distance transform of ``b``
    (Felzenszwalb-Huttenlocher, one axis at a time), evaluated with branch and
    bound: (1) along axis 0 for every voxel by two sweeps; (2) an upper bound
    for every voxel of ``a`` outside ``b``: the nearest voxel of ``b`` on the
    three axis lines through it; (3) planes in decreasing order of their
    largest bound: the lower envelopes along axes 1 and 2 give exact values on
    the rows whose bound exceeds the running maximum; a plane whose bound does
    not exceed it cannot raise it, nor can any plane after it.
    """
    from rlemask import _kernels_metrics as K

    g = K.axis0_sq(b, sp[0], work)
    row_u, plane_u = K.query_bounds(a, b, g, sp[1], sp[2])
    return float(K.refine_max(a, b, g, row_u, plane_u, sp[1], sp[2]))


def hausdorff(
    a: ArrayLike,
    b: ArrayLike,
    *,
    spacing: Sequence[float] | float | None = None,
    directed: bool = False,
) -> float:
    """Exact Hausdorff distance between the foreground voxels of two 2-D or 3-D masks.

    ``max(h(a, b), h(b, a))`` with ``h(a, b) = max over a of the distance to
    the nearest voxel of b``: the value that
    ``scipy.spatial.distance.directed_hausdorff`` gives on ``np.argwhere`` of
    all foreground voxels (times ``spacing``), in both directions. Computed by
    an exact Euclidean distance transform (Felzenszwalb-Huttenlocher) over the
    bounding box of ``a | b``, so the cost is linear in the box volume instead
    of the product of the voxel counts.

    Parameters
    ----------
    a, b : array_like, shape (H, W) or (D, H, W)
        Binary masks of equal shape (bool, integers or floats 0/1).
    spacing : float or sequence of float, optional, keyword-only
        Size of a voxel along each axis (e.g. mm); default 1 (distances in
        pixels). A single number applies to every axis.
    directed : bool, keyword-only
        ``True`` returns only ``h(a, b)``, like ``directed_hausdorff(a, b)[0]``.

    Returns
    -------
    float
        ``0.0`` when both masks are empty (also when ``directed``), ``inf``
        when exactly one is (for ``directed``: when ``b`` is empty and ``a`` is
        not; an empty ``a`` is 0.0 away from anything).

    Raises
    ------
    InvalidMaskError
        Shapes differ, not 2-D or 3-D, or values other than 0/1.
    RlemaskError
        ``spacing`` is not one positive number per axis.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((5, 5), bool); b = np.zeros((5, 5), bool)
    >>> a[0, 0] = True; b[3, 4] = True; b[0, 1] = True
    >>> hausdorff(a, b), hausdorff(a, b, directed=True)
    (5.0, 1.0)
    >>> hausdorff(a, b, spacing=(2.0, 1.0))
    7.211102550927978
    >>> hausdorff(a, np.zeros((5, 5))), hausdorff(np.zeros((5, 5)), np.zeros((5, 5)))
    (inf, 0.0)
    """
    p = _binary(a, "a")
    t = _binary(b, "b")
    if p.shape != t.shape:
        raise InvalidMaskError(
            f"a has shape={p.shape} but b has shape={t.shape}; expected equal shapes"
        )
    if p.ndim not in (2, 3):
        raise InvalidMaskError(
            f"a and b have shape={p.shape}; expected 2-D (H, W) or 3-D (D, H, W) masks"
        )
    sp = _spacing(spacing, p.ndim)
    if p.ndim == 2:
        p = p.reshape((1,) + p.shape)
        t = t.reshape((1,) + t.shape)
        sp = (1.0,) + sp
    return _hausdorff_u8(p, t, sp, directed)


# --------------------------------------------------------------------------
# the UWMGI competition score
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreReport:
    """Result of :func:`uwmgi_score`.

    Attributes
    ----------
    score, dice, hausdorff : float
        ``weights[0] * dice + weights[1] * (1 - hausdorff)``, the mean Dice
        over image x class rows and the mean normalised Hausdorff distance over
        scan x class rows (NaN rows left out).
    summary : DataFrame
        One row: score, dice, hausdorff, images, scans, dice_rows, hausdorff_rows.
    per_class : DataFrame
        One row per class (and ``all``): class, dice, hausdorff, score, images,
        truth_positive, pred_positive.
    per_scan : DataFrame
        One row per case-day and class: case_day, case, day, class, slices,
        depth, height, width, dice, hausdorff_raw (voxels), hausdorff
        (normalised, in [0, 1]), score.
    per_image : DataFrame
        One row per image: id, case_day, and the Dice of each class.
    options : dict
        The options the score was computed with.
    """

    score: float
    dice: float
    hausdorff: float
    summary: pd.DataFrame = field(repr=False)
    per_class: pd.DataFrame = field(repr=False)
    per_scan: pd.DataFrame = field(repr=False)
    per_image: pd.DataFrame = field(repr=False)
    options: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready dict: score, dice, hausdorff, options and the three tables as records.

        NaN (a skipped value) and ``inf`` (a Hausdorff distance to an empty
        mask) become ``None``, since JSON has neither.
        """

        def records(frame):
            return [
                {k: _plain(v) for k, v in row.items()}
                for row in frame.to_dict(orient="records")
            ]

        return {
            "score": _plain(self.score),
            "dice": _plain(self.dice),
            "hausdorff": _plain(self.hausdorff),
            "options": {k: _plain(v) for k, v in self.options.items()},
            "summary": records(self.summary),
            "per_class": records(self.per_class),
            "per_scan": records(self.per_scan),
        }

    def __str__(self) -> str:
        import pandas as pd

        with pd.option_context("display.width", 120, "display.max_columns", 20):
            return (
                f"score={self.score:.6f}  dice={self.dice:.6f}  hausdorff={self.hausdorff:.6f}\n"
                f"{self.per_class.to_string(index=False, float_format=lambda v: f'{v:.6f}')}"
            )


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        v = float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN or inf: NaN (skipped) and inf (one mask empty) become null
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def _read_table(obj: Any, name: str, classes: tuple[str, ...], missing: str = "error") -> pd.DataFrame:
    """One row per image with one RLE column per class (rlemask.uwmgi.read_labels).

    ``missing="empty"`` (for predictions) takes an absent ``(id, class)`` row
    of a long table as an empty mask, as in a submission that lists only its
    non-empty rows.
    """
    import pandas as pd

    from rlemask import uwmgi

    if isinstance(obj, (str, os.PathLike)):
        return uwmgi.read_labels(obj, missing=missing)
    if not isinstance(obj, pd.DataFrame):
        raise LayoutError(
            f"{name} is {type(obj).__name__}; expected a DataFrame or the path of a CSV file"
        )
    if "id" in obj.columns and all(c in obj.columns for c in classes):
        return obj
    return uwmgi.read_labels(obj, missing=missing)


def _read_images(images: Any) -> pd.DataFrame:
    import pandas as pd

    from rlemask import uwmgi

    if isinstance(images, (str, os.PathLike)):
        path = os.fspath(images)
        if os.path.isdir(path):
            frame = uwmgi.scan(path)
        else:
            frame = pd.read_csv(path)
    elif isinstance(images, pd.DataFrame):
        frame = images
    else:
        raise LayoutError(
            f"images is {type(images).__name__}; expected a DataFrame (rlemask.uwmgi.scan), "
            "an image root folder or a CSV with id, height, width"
        )
    missing = [c for c in ("id", "height", "width") if c not in frame.columns]
    if missing:
        raise LayoutError(
            f"images lacks the column(s) {missing}; found {list(frame.columns)}; "
            "expected id, height, width"
        )
    return frame


def _name_some(ids: Sequence[str], limit: int = 5) -> str:
    ids = list(ids)
    shown = ", ".join(repr(str(i)) for i in ids[:limit])
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return shown + more


def _nanmean(x: Any) -> float:
    """Mean of the non-NaN values; NaN when there are none (no warning)."""
    x = np.asarray(x, np.float64).reshape(-1)
    finite = ~np.isnan(x)
    return float(x[finite].mean()) if finite.any() else math.nan


def _decode_scan(rles: np.ndarray, ids: np.ndarray, shape: tuple[int, int], name: str, c: str) -> np.ndarray:
    """(D, H, W) uint8 volume of one class of one scan; a bad string is named by id and class."""
    from rlemask.rle import decode, decode_many

    try:
        return decode_many(rles, shape)
    except InvalidRleError:
        for image_id, rle in zip(ids, rles):
            try:
                decode(rle, shape)
            except InvalidRleError as exc:
                raise InvalidRleError(
                    f"{name} id {image_id} class {c}: {exc}", token=exc.token, run=exc.run, offset=exc.offset
                ) from None
        raise


_OPTIONS = {
    "hausdorff_classes": ("per_class", "merged"),
    "normalize": ("diagonal", "unit"),
    "direction": ("symmetric", "pred_to_truth", "truth_to_pred"),
}


def uwmgi_score(
    truth: Any,
    pred: Any,
    *,
    images: Any = None,
    classes: Sequence[str] = _CLASSES,
    empty: Empty = 1.0,
    hausdorff_classes: str = "per_class",
    normalize: str = "diagonal",
    direction: str = "symmetric",
    weights: tuple[float, float] = (0.4, 0.6),
) -> ScoreReport:
    """Score a prediction the way the UW-Madison GI Tract competition did.

    ``score = 0.4 * dice + 0.6 * (1 - hausdorff)`` where ``dice`` is the mean
    Dice over every image x class row and ``hausdorff`` the mean, over every
    case-day x class, of the symmetric 3-D Hausdorff distance between the
    foreground voxels of the truth and predicted volumes (slices stacked in
    order, slice depth 1, distances in pixels) divided by the volume diagonal
    ``sqrt(D**2 + H**2 + W**2)`` and clipped to 1. An empty prediction of a
    non-empty organ (or the reverse) costs the maximum, 1.

    Parameters
    ----------
    truth : DataFrame or path
        One row per image with an RLE column per class (as
        :func:`rlemask.uwmgi.read_labels` returns), or anything
        ``read_labels`` accepts (the competition's ``train.csv``).
    pred : DataFrame or path
        The same layout, or a submission (``id, class, predicted``). Images of
        ``truth`` missing from ``pred`` are empty predictions, and so are the
        classes a long-format ``pred`` has no row for (a sparse submission
        that lists only its non-empty rows).
    images : DataFrame or path, optional, keyword-only
        Image sizes: a table with ``id, height, width``
        (:func:`rlemask.uwmgi.scan`), the image root folder, or a CSV with
        those columns. Not needed when ``truth`` has ``height`` and ``width``.
    classes : sequence of str, keyword-only
        RLE columns to score (default large_bowel, small_bowel, stomach).
    empty : {1.0, 0.0, "skip"}, keyword-only
        Score of a pair of empty masks, for both terms: 1.0 (default; Dice 1
        and Hausdorff 0), 0.0 (Dice 0 and Hausdorff 1) or "skip" (left out).
    hausdorff_classes : {"per_class", "merged"}, keyword-only
        ``"per_class"`` (default): one Hausdorff per case-day and class;
        ``"merged"``: one per case-day on the union of the classes.
    normalize : {"diagonal", "unit"}, keyword-only
        ``"diagonal"`` (default): divide by ``sqrt(D**2 + H**2 + W**2)``;
        ``"unit"``: scale each axis to [0, 1) (coordinates divided by the
        axis length) and divide by ``sqrt(3)``.
    direction : {"symmetric", "pred_to_truth", "truth_to_pred"}, keyword-only
        Symmetric Hausdorff (default) or one of the one-sided distances.
    weights : (float, float), keyword-only
        Weights of Dice and of ``1 - hausdorff`` (default 0.4, 0.6).

    Returns
    -------
    ScoreReport
        ``.score``, ``.dice``, ``.hausdorff`` and the tables ``.summary``,
        ``.per_class``, ``.per_scan``, ``.per_image``.

    Raises
    ------
    LayoutError
        Prediction ids that are not in ``truth``, duplicated ids, missing
        image sizes or sizes that are not non-negative integers (the id is
        named), or a scan whose slices are incomplete.
    InvalidRleError
        A malformed RLE string.
    RlemaskError
        An unknown option value.

    Examples
    --------
    >>> import pandas as pd
    >>> truth = pd.DataFrame({"id": ["case1_day0_slice_0001", "case1_day0_slice_0002"],
    ...                       "height": 4, "width": 4,
    ...                       "stomach": ["1 2", ""]})
    >>> pred = pd.DataFrame({"id": ["case1_day0_slice_0001"], "stomach": ["1 2"]})
    >>> report = uwmgi_score(truth, pred, classes=["stomach"])
    >>> report.dice, report.hausdorff, report.score
    (1.0, 0.0, 1.0)
    """
    import pandas as pd

    from rlemask import _kernels_metrics as K

    e = _empty_value(empty)
    classes = tuple(classes)
    for key, value in (
        ("hausdorff_classes", hausdorff_classes),
        ("normalize", normalize),
        ("direction", direction),
    ):
        if value not in _OPTIONS[key]:
            raise RlemaskError(f"{key}={value!r} is not one of {_OPTIONS[key]}")
    w_dice, w_hd = (float(x) for x in weights)

    t = _read_table(truth, "truth", classes)
    p = _read_table(pred, "pred", classes, missing="empty")
    for frame, name in ((t, "truth"), (p, "pred")):
        missing = [c for c in ("id",) + classes if c not in frame.columns]
        if missing:
            raise LayoutError(f"{name} lacks the column(s) {missing}; found {list(frame.columns)}")
        dup = frame["id"][frame["id"].duplicated()]
        if len(dup):
            raise LayoutError(f"{name} has {len(dup)} duplicated id(s): {_name_some(dup.unique())}")
    if len(t) == 0:
        raise LayoutError("truth has no rows: nothing to score")
    t_ids = t["id"].astype(str)
    p_ids = p["id"].astype(str)
    extra = p_ids[~p_ids.isin(t_ids)]
    if len(extra):
        raise LayoutError(
            f"pred has {len(extra)} id(s) that are not in truth: {_name_some(extra)}; "
            "expected prediction ids to be a subset of the truth ids"
        )

    # sizes
    base = pd.DataFrame({"id": t_ids.to_numpy()})
    if images is not None:
        im = _read_images(images)
        sizes = pd.DataFrame(
            {
                "id": im["id"].astype(str).to_numpy(),
                "height": im["height"].to_numpy(),
                "width": im["width"].to_numpy(),
            }
        ).drop_duplicates("id")
        base = base.merge(sizes, on="id", how="left", validate="one_to_one")
        lost = base["id"][base["height"].isna()]
        if len(lost):
            raise LayoutError(
                f"{len(lost)} truth id(s) have no size in images: {_name_some(lost)}"
            )
    elif "height" in t.columns and "width" in t.columns:
        base["height"] = t["height"].to_numpy()
        base["width"] = t["width"].to_numpy()
    else:
        raise LayoutError(
            "truth has no height/width columns; pass images= (rlemask.uwmgi.scan(root), the image "
            "root folder, or a CSV with id, height, width)"
        )
    from rlemask.masks import _sizes

    heights, widths = _sizes(base)

    def rle_values(frame: pd.DataFrame, c: str) -> np.ndarray:
        col = frame[c]
        return col.astype(object).where(col.notna(), "").to_numpy(dtype=object)

    t_rles = {c: rle_values(t, c) for c in classes}
    p_rles = {}
    for c in classes:
        p_series = pd.Series(rle_values(p, c), index=p_ids.to_numpy())
        p_rles[c] = p_series.reindex(t_ids.to_numpy()).fillna("").to_numpy(dtype=object)

    from rlemask import uwmgi

    parsed = np.array([uwmgi.parse_id(i) for i in t_ids], dtype=np.int64).reshape(-1, 3)
    case, day, slc = parsed[:, 0], parsed[:, 1], parsed[:, 2]
    ids_arr = t_ids.to_numpy()
    case_day = np.array([f"case{c}_day{d}" for c, d in zip(case, day)], dtype=object)

    n_img = len(ids_arr)
    dice_rows = np.full((n_img, len(classes)), np.nan)
    t_pos = np.zeros((n_img, len(classes)), bool)
    p_pos = np.zeros((n_img, len(classes)), bool)

    order_all = np.lexsort((slc, day, case))
    if n_img:
        key = case[order_all] * (1 << 32) + day[order_all]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        bounds = list(zip(starts, np.r_[starts[1:], n_img]))
    else:
        bounds = []
    scan_rows = []
    for lo, hi in bounds:
        rows = order_all[lo:hi]
        cs, dy = int(case[rows[0]]), int(day[rows[0]])
        cd = f"case{cs}_day{dy}"
        slices = slc[rows]
        depth = int(slices[-1])
        if slices[0] != 1 or len(slices) != depth or np.any(slices[1:] == slices[:-1]):
            missing = np.setdiff1d(np.arange(1, max(depth, 1) + 1), slices)
            shown = ", ".join(str(int(x)) for x in missing[:10]) + (", ..." if missing.size > 10 else "")
            raise LayoutError(
                f"scan {cd} has {len(slices)} rows for slices 1..{depth}"
                + (f"; missing slice(s) {shown}" if missing.size else "; some slices repeat")
                + ": a 3-D Hausdorff needs whole scans, every slice from 1 to the last"
            )
        hw = set(zip(heights[rows].tolist(), widths[rows].tolist()))
        if len(hw) > 1:
            raise LayoutError(f"scan {cd} mixes slice sizes {sorted(hw)}; expected one size per scan")
        height, width = hw.pop()
        vols_t = [_decode_scan(t_rles[c][rows], ids_arr[rows], (height, width), "truth", c) for c in classes]
        vols_p = [_decode_scan(p_rles[c][rows], ids_arr[rows], (height, width), "pred", c) for c in classes]
        # one pass per class: per-slice counts (Dice) and the bounding box (Hausdorff)
        with _threads_for(2 * vols_t[0].nbytes):
            stats = [K.bbox_union(vols_p[k], vols_t[k]) for k in range(len(classes))]
        for k in range(len(classes)):
            s_p, s_t, inter = stats[k][0].T
            dice_rows[rows, k] = _ratio(2.0 * inter, (s_p + s_t).astype(np.float64), e)
            t_pos[rows, k] = s_t > 0
            p_pos[rows, k] = s_p > 0

        if normalize == "diagonal":
            spacing = (1.0, 1.0, 1.0)
            max_dist = math.sqrt(depth**2 + height**2 + width**2)
        else:
            spacing = (1.0 / depth, 1.0 / height, 1.0 / width)
            max_dist = math.sqrt(3.0)
        if hausdorff_classes == "per_class":
            groups = [(c, vols_t[k], vols_p[k], stats[k]) for k, c in enumerate(classes)]
        else:
            groups = [("all", np.bitwise_or.reduce(vols_t), np.bitwise_or.reduce(vols_p), None)]
        for c, gt, pr, st in groups:
            if direction == "symmetric":
                raw = _hausdorff_u8(pr, gt, spacing, False, st)
            elif direction == "pred_to_truth":
                raw = _hausdorff_u8(pr, gt, spacing, True, st)
            else:
                swapped = None if st is None else (st[0][:, [1, 0, 2]], st[1])
                raw = _hausdorff_u8(gt, pr, spacing, True, swapped)
            if c == "all":
                gt_any = bool(t_pos[rows].any())
                pr_any = bool(p_pos[rows].any())
                d_vals = dice_rows[rows]
            else:
                k = classes.index(c)
                gt_any = bool(t_pos[rows, k].any())
                pr_any = bool(p_pos[rows, k].any())
                d_vals = dice_rows[rows, k]
            if not gt_any and not pr_any:
                hd = 0.0 if e == 1.0 else (1.0 if e == 0.0 else math.nan)
            elif not gt_any or not pr_any:
                hd = 1.0
            else:
                hd = min(raw / max_dist, 1.0)
            scan_rows.append(
                {
                    "case_day": cd,
                    "case": cs,
                    "day": dy,
                    "class": c,
                    "slices": int(len(rows)),
                    "depth": depth,
                    "height": int(height),
                    "width": int(width),
                    "dice": _nanmean(d_vals),
                    "hausdorff_raw": float(raw),
                    "hausdorff": float(hd),
                }
            )
    keys = bounds

    per_scan = pd.DataFrame(
        scan_rows,
        columns=[
            "case_day", "case", "day", "class", "slices", "depth", "height", "width",
            "dice", "hausdorff_raw", "hausdorff",
        ],
    )
    per_scan["score"] = w_dice * per_scan["dice"] + w_hd * (1.0 - per_scan["hausdorff"])

    mean_dice = _nanmean(dice_rows.reshape(-1))
    mean_hd = _nanmean(per_scan["hausdorff"].to_numpy())
    score = w_dice * mean_dice + w_hd * (1.0 - mean_hd)

    class_rows = []
    for k, c in enumerate(classes):
        d_c = _nanmean(dice_rows[:, k])
        if hausdorff_classes == "per_class":
            h_c = _nanmean(per_scan.loc[per_scan["class"] == c, "hausdorff"].to_numpy())
        else:
            h_c = math.nan
        class_rows.append(
            {
                "class": c,
                "dice": d_c,
                "hausdorff": h_c,
                "score": w_dice * d_c + w_hd * (1.0 - h_c),
                "images": n_img,
                "truth_positive": int(t_pos[:, k].sum()),
                "pred_positive": int(p_pos[:, k].sum()),
            }
        )
    class_rows.append(
        {
            "class": "all",
            "dice": mean_dice,
            "hausdorff": mean_hd,
            "score": score,
            "images": n_img,
            "truth_positive": int(t_pos.sum()),
            "pred_positive": int(p_pos.sum()),
        }
    )
    per_class = pd.DataFrame(class_rows)
    per_image = pd.DataFrame({"id": t_ids.to_numpy(), "case_day": case_day})
    for k, c in enumerate(classes):
        per_image[c] = dice_rows[:, k]
    summary = pd.DataFrame(
        [
            {
                "score": score,
                "dice": mean_dice,
                "hausdorff": mean_hd,
                "images": n_img,
                "scans": int(len(keys)),
                "dice_rows": int(np.isfinite(dice_rows).sum()),
                "hausdorff_rows": int(per_scan["hausdorff"].notna().sum()),
            }
        ]
    )
    options = {
        "classes": classes,
        "empty": empty,
        "hausdorff_classes": hausdorff_classes,
        "normalize": normalize,
        "direction": direction,
        "weights": (w_dice, w_hd),
    }
    return ScoreReport(
        score=score,
        dice=mean_dice,
        hausdorff=mean_hd,
        summary=summary,
        per_class=per_class,
        per_scan=per_scan,
        per_image=per_image,
        options=options,
    )
