"""Exact Hausdorff distance between the foreground voxels of two masks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from rlemask import _tier
from rlemask.errors import InvalidMaskError, RlemaskError
from rlemask.metrics._common import _binary, _renamed, _threads_for

__all__ = ["hausdorff"]


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
    if p.size == 0:
        return 0.0
    twin = _tier.use_twin("rlemask._kernels_metrics", p.nbytes + t.nbytes)
    if stats is None:
        stats = bbox_union(p, t, twin=twin)
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
    pairs = [(pc, tc)] if a_out else []  # h(a, b) is 0 when a lies inside b
    if not directed and b_out:
        pairs.append((tc, pc))
    if twin:
        values = [_directed_max_sq_np(a, b, sp) for a, b in pairs]
        if None not in values:
            return math.sqrt(max(values, default=0.0))
    work = np.empty(pc.shape, np.float64)
    with _threads_for(work.nbytes):
        return math.sqrt(max((_directed_max_sq(a, b, sp, work) for a, b in pairs), default=0.0))


# the numpy twin compares every query with every boundary voxel: small inputs only
_TWIN_PAIRS = 1 << 23


def _directed_max_sq_np(a: np.ndarray, b: np.ndarray, sp: tuple[float, float, float]) -> float | None:
    """:func:`_directed_max_sq` by brute force in numpy (the twin of :mod:`rlemask._tier`).

    None when that would take more than ``_TWIN_PAIRS`` distances (use the kernel).

    The voxel of ``b`` nearest to a voxel outside ``b`` lies on the boundary
    of ``b`` (a step towards the query from an interior voxel is closer), so
    every query is compared with the boundary voxels only. The squared
    distance is the kernel's expression, term by term and in its order, so
    with unit spacing (integers) the result is the same number.
    """
    inner = b.astype(bool)
    body = inner.copy()
    for ax in range(3):
        head = [slice(None)] * 3
        tail = [slice(None)] * 3
        head[ax], tail[ax] = slice(None, -1), slice(1, None)
        inner[tuple(tail)] &= body[tuple(head)]
        inner[tuple(head)] &= body[tuple(tail)]
    edge = np.argwhere(body & ~inner).astype(np.float64)
    queries = np.argwhere(a > b).astype(np.float64)
    if len(edge) * len(queries) > _TWIN_PAIRS:
        return None
    e0, e1, e2 = (edge[:, k] for k in range(3))
    best = 0.0
    step = max(1, (1 << 16) // max(1, len(edge)))
    for lo in range(0, len(queries), step):
        q = queries[lo : lo + step]
        d = (q[:, 2:3] * sp[2] - e2 * sp[2]) ** 2 + (
            (q[:, 1:2] * sp[1] - e1 * sp[1]) ** 2 + (np.abs(q[:, 0:1] - e0) * sp[0]) ** 2
        )
        best = max(best, float(d.min(axis=1).max()))
    return best


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

    n0, n1, n2 = a.shape
    g = K.axis0_sq(b, sp[0], work, np.empty((n1, n2), np.int64))
    row_u, plane_u = np.empty((n0, n1)), np.empty(n0)
    K.query_bounds(a, b, g, sp[1], sp[2], row_u, plane_u)
    order = np.argsort(-plane_u, kind="stable")
    side = max(n1, n2)
    fw, iw = np.empty((n2 + 1, 3, side + 1)), np.empty((n2 + 1, side), np.int64)
    return float(K.refine_max(a, b, g, row_u, plane_u, order, sp[1], sp[2], fw, iw))


def bbox_union(p: np.ndarray, t: np.ndarray, *, twin: bool = False) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(counts, box)`` of two validated 3-D uint8 0/1 arrays (see ``_kernels_metrics._bbox_union``).

    ``twin``: computed in numpy (:mod:`rlemask._tier`), with the same result.
    """
    if twin:
        counts = np.stack([np.count_nonzero(x, axis=(1, 2)) for x in (p, t, p & t)], axis=1).astype(np.int64)
        union = (p | t).astype(bool)
        if not union.any():
            return counts, (0,) * 6
        box: list[int] = []
        for ax in range(3):
            hit = np.flatnonzero(union.any(axis=tuple(k for k in range(3) if k != ax)))
            box += [int(hit[0]), int(hit[-1]) + 1]
        return counts, tuple(box)
    from rlemask import _kernels_metrics as K

    counts = np.empty((p.shape[0], 3), np.int64)
    with _threads_for(p.nbytes + t.nbytes):
        box = K.bbox_union(p, t, counts, np.empty((p.shape[0], 4), np.int64))
    return counts, box


@_renamed(a="truth", b="pred")
def hausdorff(
    truth: ArrayLike,
    pred: ArrayLike,
    *,
    spacing: Sequence[float] | float | None = None,
    directed: bool = False,
) -> float:
    """Exact Hausdorff distance between the foreground voxels of two 2-D or 3-D masks.

    ``max(h(truth, pred), h(pred, truth))`` with ``h(a, b) = max over a of
    the distance to the nearest voxel of b``: the value that
    ``scipy.spatial.distance.directed_hausdorff`` gives on ``np.argwhere`` of
    all foreground voxels (times ``spacing``), in both directions. Computed by
    an exact Euclidean distance transform (Felzenszwalb-Huttenlocher) over the
    bounding box of ``truth | pred``, so the cost is linear in the box volume
    instead of the product of the voxel counts.

    Parameters
    ----------
    truth, pred : array_like, shape (H, W) or (D, H, W)
        Ground truth and prediction, binary masks of equal shape (bool,
        integers or floats 0/1). (Before 0.2 the parameters were ``a, b``;
        those keywords still work, with a ``FutureWarning``: ``a`` is
        ``truth``, so a positional or keyword call keeps its meaning.)
    spacing : float or sequence of float, optional, keyword-only
        Size of a voxel along each axis (e.g. mm); default 1 (distances in
        pixels). A single number applies to every axis.
    directed : bool, keyword-only
        ``True`` returns only ``h(truth, pred)`` (from the truth to the
        prediction), like ``directed_hausdorff(truth, pred)[0]``.

    Returns
    -------
    float
        ``0.0`` when both masks are empty (also when ``directed``), ``inf``
        when exactly one is (for ``directed``: when ``pred`` is empty and
        ``truth`` is not; an empty ``truth`` is 0.0 away from anything).

    Raises
    ------
    InvalidMaskError
        Shapes differ, not 2-D or 3-D, or values other than 0/1.
    RlemaskError
        ``spacing`` is not one positive number per axis.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.zeros((5, 5), bool); p = np.zeros((5, 5), bool)
    >>> t[0, 0] = True; p[3, 4] = True; p[0, 1] = True
    >>> hausdorff(t, p), hausdorff(t, p, directed=True)
    (5.0, 1.0)
    >>> hausdorff(t, p, spacing=(2.0, 1.0))
    7.211102550927978
    >>> hausdorff(t, np.zeros((5, 5))), hausdorff(np.zeros((5, 5)), np.zeros((5, 5)))
    (inf, 0.0)
    """
    t = _binary(truth, "truth")
    p = _binary(pred, "pred")
    if t.shape != p.shape:
        raise InvalidMaskError(f"truth has shape={t.shape} but pred has shape={p.shape}; expected equal shapes")
    if t.ndim not in (2, 3):
        raise InvalidMaskError(
            f"truth and pred have shape={t.shape}; expected 2-D (H, W) or 3-D (D, H, W) masks"
        )
    sp = _spacing(spacing, t.ndim)
    if t.ndim == 2:
        t = t.reshape((1,) + t.shape)
        p = p.reshape((1,) + p.shape)
        sp = (1.0,) + sp
    return _hausdorff_u8(t, p, sp, directed)
