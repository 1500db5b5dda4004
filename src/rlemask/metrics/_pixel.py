"""Dice and IoU of dense masks: count, then reduce.

A numba kernel counts the intersection and the two areas of every mask pair
in one pass over the pixels; the scores are computed from the counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rlemask import _tier
from rlemask.metrics._common import (
    Empty,
    _empty_value,
    _first_bad,
    _pair,
    _ratio,
    _renamed,
    _threads_for,
    _words,
)

__all__ = ["dice", "iou"]


def _counts(truth: Any, pred: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(intersection, |truth|, |pred|) per mask over the last two axes, shape (...)."""
    t, p = _pair(truth, pred)
    lead = t.shape[:-2]
    row_len = t.shape[-2] * t.shape[-1]
    n_rows = int(np.prod(lead, dtype=np.int64))
    if n_rows == 0 or row_len == 0:
        z = np.zeros(lead, np.int64)
        return z, z.copy(), z.copy()
    tf, pf = t.reshape(-1), p.reshape(-1)
    if _tier.use_twin("rlemask._kernels_metrics", pf.nbytes + tf.nbytes):
        t2, p2 = tf.reshape(n_rows, row_len), pf.reshape(n_rows, row_len)
        inter, st, sp = (np.count_nonzero(x, axis=1).astype(np.int64) for x in (t2 & p2, t2, p2))
        bad = (t2 > 1).any() or (p2 > 1).any()
    else:
        from rlemask import _kernels_metrics as K

        tw, pw = _words(tf), _words(pf)
        if pw.size != tw.size:  # one of them is not 8-byte aligned: count byte by byte
            pw = tw = np.zeros(0, np.uint64)
        inter, st, sp = (np.empty(n_rows, np.int64) for _ in range(3))
        flags = np.empty(n_rows, np.uint8)
        with _threads_for(pf.nbytes + tf.nbytes):
            K.count_rows(tf, pf, tw, pw, n_rows, row_len, inter, st, sp, flags)
        bad = flags.any()
    if bad:
        for arr, name in ((t, "truth"), (p, "pred")):
            if arr.max() > 1:
                raise _first_bad(arr, arr > 1, name)
    return inter.reshape(lead), st.reshape(lead), sp.reshape(lead)


@_renamed()
def dice(truth: ArrayLike, pred: ArrayLike, *, empty: Empty = 1.0) -> NDArray[np.float64]:
    """Dice coefficient ``2|T & P| / (|T| + |P|)`` of every mask over the last two axes.

    Parameters
    ----------
    truth, pred : array_like, shape (..., H, W)
        Ground truth and prediction, binary masks of equal shape: bool,
        integers or floats with values 0 and 1 (torch tensors are converted
        with ``.detach().cpu().numpy()``). Dice is symmetric, so the order
        only names the arrays in error messages (truth first, as
        scikit-learn's ``y_true, y_pred``).
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
    >>> t = np.zeros((2, 3, 4, 4), bool); p = np.zeros((2, 3, 4, 4), bool)
    >>> t[0, 0, :2] = True; p[0, 0, 1:3] = True
    >>> dice(t, p)[0]
    array([0.5, 1. , 1. ])
    >>> dice(t, p, empty="skip")[0]
    array([0.5, nan, nan])
    """
    e = _empty_value(empty)
    inter, st, sp = _counts(truth, pred)
    return _ratio(2.0 * inter, (sp + st).astype(np.float64), e)


@_renamed()
def iou(truth: ArrayLike, pred: ArrayLike, *, empty: Empty = 1.0) -> NDArray[np.float64]:
    """Intersection over union (Jaccard) ``|T & P| / |T | P|`` over the last two axes.

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
    inter, st, sp = _counts(truth, pred)
    return _ratio(inter.astype(np.float64), (sp + st - inter).astype(np.float64), e)
