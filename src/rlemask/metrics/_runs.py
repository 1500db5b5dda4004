"""Dice straight from run-length strings: a merge walk over the runs, no masks built."""

from __future__ import annotations

from typing import Any

import numpy as np

from rlemask.metrics._common import Empty, _empty_value, _renamed

__all__ = ["dice_rle"]


def _parse_intervals(rle: Any, n_pixels: int, shape: tuple[int, int], name: str, strict: bool):
    """Sorted, disjoint half-open 0-based pixel intervals of a Kaggle RLE string.

    Parsing and validation are the codec's own (:func:`rlemask.rle.decode`):
    the same inputs are accepted (str, bytes, None/NaN/pd.NA for an empty
    mask) and the same ones raise, with the codec's messages.
    """
    from rlemask import _kernels as _k
    from rlemask import _kernels_metrics as K
    from rlemask._convert import rle_text
    from rlemask.rle import _ascii, _raise_parse

    text = rle_text(rle, name)
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


@_renamed(truth_rle="truth", pred_rle="pred")
def dice_rle(
    truth: str | None,
    pred: str | None,
    shape: tuple[int, int],
    *,
    empty: Empty = 1.0,
    strict: bool = True,
) -> float:
    """Dice of two masks given as Kaggle run-length strings, without building the masks.

    The runs are parsed into sorted pixel intervals and intersected by a
    merge walk, so the cost is proportional to the number of runs, not pixels.
    ``dice_rle(t, p, shape) == float(dice(decode(t, shape), decode(p, shape)))``.

    Parameters
    ----------
    truth, pred : str, bytes or None
        Ground truth and prediction: "start length" pairs, starts 1-based, as
        :func:`rlemask.decode` reads them; ``None``, ``""``, NaN, ``pd.NA``
        and ``pd.NaT`` are empty masks. (Before 0.2 the parameters were
        ``pred_rle, truth_rle``; those keywords still work, with a
        ``FutureWarning``, and the value is symmetric.)
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
    ts, te = _parse_intervals(truth, n, (h, w), "truth", strict)
    ps, pe = _parse_intervals(pred, n, (h, w), "pred", strict)
    area = int((pe - ps).sum() + (te - ts).sum())
    if area == 0:
        return e
    inter = int(K.intersect_runs(ps, pe, ts, te))
    return 2.0 * inter / area


