"""numba kernels of :mod:`rlemask.metrics`; nothing else lives here.

Every kernel takes contiguous arrays that the wrapper in ``metrics.py`` has
already validated (dtype, shape, bounds) and returns arrays or numbers; none
raises with runtime data. Kernels compile on first call and are cached on disk
(``cache=True``), so ``import rlemask`` compiles nothing.
"""

from __future__ import annotations

import types

import numba
import numpy as np
from numba import njit, prange

from rlemask import _kernels_cache  # noqa: F401  (before any kernel: sets the cache folder)
from rlemask import _tier

# --------------------------------------------------------------------------
# counting: intersection and sums of 0/1 rows
# --------------------------------------------------------------------------


_LO = np.uint64(0x00FF00FF00FF00FF)
_ONES16 = np.uint64(0x0001000100010001)
_HIGH7 = np.uint64(0xFEFEFEFEFEFEFEFE)


@njit(cache=True, nogil=True, inline="always")
def _lane_sum(acc):  # pragma: no cover - compiled
    """Sum of the 8 byte lanes of a uint64 (each lane <= 255)."""
    pairs = (acc & _LO) + ((acc >> np.uint64(8)) & _LO)  # four 16-bit lanes <= 510
    return np.int64((pairs * _ONES16) >> np.uint64(48))


def _count_rows(pred, truth, pred64, truth64, n_rows, row_len, inter, sum_p, sum_t, bad):  # pragma: no cover - compiled
    """Per row of ``row_len`` uint8 values: |P & T|, |P|, |T| and a non-binary flag.

    ``pred`` and ``truth`` are 1-D uint8 arrays of ``n_rows * row_len`` values;
    ``pred64`` and ``truth64`` are uint64 views of their first ``8 * k`` bytes
    (same memory). Whole 8-byte words are counted SWAR-style: the bytes of a
    word are 0 or 1, so adding words adds eight byte lanes at once, folded
    every 255 words before a lane can overflow. ``bad[r]`` is 1 when row ``r``
    holds a value other than 0 or 1 in either array; the counts of such a row
    are meaningless and the wrapper raises.

    The four outputs (int64, int64, int64, uint8; ``n_rows`` each, any
    content) come from the caller, as do all arrays of the kernels here: a
    numba ``np.zeros`` / ``np.empty`` / ``np.argsort`` inside a kernel compiles
    its own implementation on a cold cache (0.1-2 s each).
    """
    n_words = pred64.shape[0]
    for r in prange(n_rows):
        b0 = r * row_len
        b1 = b0 + row_len
        w0 = (b0 + 7) // 8
        w1 = b1 // 8
        if w1 > n_words:
            w1 = n_words
        if w1 < w0:
            w1 = w0
            head_end = b1
        else:
            head_end = 8 * w0
        i_acc = np.int64(0)  # int64, not a literal: plain Python (NUMBA_DISABLE_JIT) would add uint8s and wrap at 256
        p_acc = np.int64(0)
        t_acc = np.int64(0)
        o_byte = 0
        for k in range(b0, head_end):
            x = pred[k]
            y = truth[k]
            i_acc += x & y
            p_acc += x
            t_acc += y
            o_byte |= x | y
        o_word = np.uint64(0)
        w = w0
        while w < w1:
            stop = w + 255 if w + 255 < w1 else w1
            ai = np.uint64(0)
            ap = np.uint64(0)
            at = np.uint64(0)
            ao = np.uint64(0)
            for q in range(w, stop):
                x = pred64[q]
                y = truth64[q]
                ai += x & y
                ap += x
                at += y
                ao |= x | y
            i_acc += _lane_sum(ai)
            p_acc += _lane_sum(ap)
            t_acc += _lane_sum(at)
            o_word |= ao
            w = stop
        tail_start = 8 * w1 if 8 * w1 > head_end else head_end
        for k in range(tail_start, b1):
            x = pred[k]
            y = truth[k]
            i_acc += x & y
            p_acc += x
            t_acc += y
            o_byte |= x | y
        inter[r] = i_acc
        sum_p[r] = p_acc
        sum_t[r] = t_acc
        bad[r] = 1 if (o_byte > 1 or (o_word & _HIGH7) != 0) else 0
    return inter, sum_p, sum_t, bad


# --------------------------------------------------------------------------
# Hausdorff: bounding box and exact squared Euclidean distance transform
# --------------------------------------------------------------------------


def _bbox_union(a, b, cnt, ext):  # pragma: no cover - compiled
    """Per-plane counts and the bounding box of ``a | b`` (3-D uint8 0/1, one shape).

    Fills ``cnt[i] = (|a|, |b|, |a & b|)`` of plane ``i`` (int64, shape
    (n0, 3)) and uses ``ext`` (int64, shape (n0, 4), any content) as scratch;
    returns ``box = (lo0, hi0, lo1, hi1, lo2, hi2)``, half-open bounds, all 0
    when both arrays are all zero.
    """
    n0, n1, n2 = a.shape
    lo1s = ext[:, 0]
    hi1s = ext[:, 1]
    lo2s = ext[:, 2]
    hi2s = ext[:, 3]
    for i in prange(n0):
        lo1s[i] = n1
        hi1s[i] = -1
        lo2s[i] = n2
        hi2s[i] = -1
        ca = 0
        cb = 0
        cab = 0
        for j in range(n1):
            ra = 0
            rb = 0
            rab = 0
            for k in range(n2):
                x = a[i, j, k]
                y = b[i, j, k]
                ra += x
                rb += y
                rab += x & y
            ca += ra
            cb += rb
            cab += rab
            if ra + rb:
                if j < lo1s[i]:
                    lo1s[i] = j
                hi1s[i] = j
                k = 0
                while not (a[i, j, k] | b[i, j, k]):
                    k += 1
                if k < lo2s[i]:
                    lo2s[i] = k
                k = n2 - 1
                while not (a[i, j, k] | b[i, j, k]):
                    k -= 1
                if k > hi2s[i]:
                    hi2s[i] = k
        cnt[i, 0] = ca
        cnt[i, 1] = cb
        cnt[i, 2] = cab
    lo0 = n0
    hi0 = -1
    lo1 = n1
    hi1 = -1
    lo2 = n2
    hi2 = -1
    for i in range(n0):
        if hi1s[i] >= 0:
            if i < lo0:
                lo0 = i
            hi0 = i
            if lo1s[i] < lo1:
                lo1 = lo1s[i]
            if hi1s[i] > hi1:
                hi1 = hi1s[i]
            if lo2s[i] < lo2:
                lo2 = lo2s[i]
            if hi2s[i] > hi2:
                hi2 = hi2s[i]
    if hi0 < 0:
        return 0, 0, 0, 0, 0, 0
    return lo0, hi0 + 1, lo1, hi1 + 1, lo2, hi2 + 1


_FAR = 1 << 40  # "no feature" distance in index units, far beyond any array side


@njit(cache=True, nogil=True)
def _envelope_1d(f, n, step, d, v, z):  # pragma: no cover - compiled
    """Felzenszwalb-Huttenlocher lower envelope: d[q] = min_p (q-p)^2 step^2 + f[p].

    ``f`` holds squared distances (``inf`` where there is no feature yet).
    Positions are ``q * step``; with ``step == 1`` and integer ``f`` every
    value is an exact integer in float64, so the transform is exact.
    """
    k = -1
    for q in range(n):
        fq = f[q]
        if fq == np.inf:
            continue
        xq = q * step
        if k < 0:
            k = 0
            v[0] = q
            z[0] = -np.inf
            z[1] = np.inf
            continue
        while True:
            p = v[k]
            xp = p * step
            s = ((fq + xq * xq) - (f[p] + xp * xp)) / (2.0 * (xq - xp))
            if s <= z[k]:
                k -= 1
                if k < 0:
                    break
            else:
                break
        if k < 0:
            k = 0
            v[0] = q
            z[0] = -np.inf
            z[1] = np.inf
            continue
        k += 1
        v[k] = q
        z[k] = s
        z[k + 1] = np.inf
    if k < 0:
        for q in range(n):
            d[q] = np.inf
        return
    j = 0
    for q in range(n):
        xq = q * step
        while z[j + 1] < xq:
            j += 1
        p = v[j]
        dx = xq - p * step
        d[q] = dx * dx + f[p]


def _axis0_sq(b, s0, g, lasts):  # pragma: no cover - compiled
    """Squared distance to the nearest nonzero of ``b`` along axis 0 (``inf`` if none).

    Written into ``g``, a float64 array of the shape of ``b``, which is
    returned; ``lasts`` (int64, shape ``b.shape[1:]``, any content) is scratch.
    """
    n0, n1, n2 = b.shape
    # 1. axis 0: squared distance to the nearest feature along the axis
    #    (branch-free sweeps; a distance >= _FAR means no feature on the column)
    for j in prange(n1):
        last = lasts[j]
        for k in range(n2):
            last[k] = -_FAR
        for i in range(n0):
            for k in range(n2):
                last[k] = i if b[i, j, k] else last[k]
                g[i, j, k] = i - last[k]
        for k in range(n2):
            last[k] = _FAR
        for i in range(n0 - 1, -1, -1):
            for k in range(n2):
                last[k] = i if b[i, j, k] else last[k]
                up = g[i, j, k]
                dist = last[k] - i
                if up < dist:
                    dist = up
                x = dist * s0
                g[i, j, k] = x * x if dist < _FAR // 2 else np.inf
    return g


def _query_bounds(a, b, g, s1, s2, row_u, plane_u):  # pragma: no cover - compiled
    """Largest upper bound, per row and per plane, of the squared distances to ``b``
    of the voxels of ``a & ~b`` (the queries); 0 where a row or plane has none.

    The bound of a query is the nearest voxel of ``b`` on the three axis lines
    through it (``g`` gives axis 0). Written into ``row_u`` (float64, shape
    (n0, n1)) and ``plane_u`` (float64, n0), any content before.
    """
    n0, n1, n2 = a.shape
    # 2. upper bounds of the queries: the nearest voxel of b on the three axis
    #    lines through them, searched outwards only while it could beat the bound
    for i in prange(n0):
        pmax = 0.0
        for j in range(n1):
            rmax = 0.0
            for k in range(n2):
                if not (a[i, j, k] and not b[i, j, k]):
                    continue
                bound = g[i, j, k]
                step = 1
                while True:  # axis 2
                    x = step * s2
                    if x * x >= bound or (k - step < 0 and k + step >= n2):
                        break
                    if (k - step >= 0 and b[i, j, k - step]) or (k + step < n2 and b[i, j, k + step]):
                        bound = x * x
                        break
                    step += 1
                step = 1
                while True:  # axis 1
                    x = step * s1
                    if x * x >= bound or (j - step < 0 and j + step >= n1):
                        break
                    if (j - step >= 0 and b[i, j - step, k]) or (j + step < n1 and b[i, j + step, k]):
                        bound = x * x
                        break
                    step += 1
                if bound > rmax:
                    rmax = bound
            row_u[i, j] = rmax
            if rmax > pmax:
                pmax = rmax
        plane_u[i] = pmax
    return 0


def _refine_max(a, b, g, row_u, plane_u, order, s1, s2, fw, iw):  # pragma: no cover - compiled
    """Exact maximum of the queries' squared distances, planes by decreasing bound.

    ``g`` (from :func:`axis0_sq`) is overwritten, plane by plane, by the
    distance transform over axes 0 and 1. ``order`` lists the planes by
    decreasing ``plane_u`` (``np.argsort(-plane_u)``). Scratch, any content:
    ``fw`` float64 of shape (n2 + 1, 3, max(n1, n2) + 1) and ``iw`` int64 of
    shape (n2 + 1, max(n1, n2)); row ``k < n2`` serves column ``k`` of a
    plane, row ``n2`` the rows.
    """
    n0, n1, n2 = a.shape
    # 3. planes by decreasing bound; exact values only where they can matter
    m = 0.0
    f = fw[n2, 0]
    d = fw[n2, 1]
    z = fw[n2, 2]
    v = iw[n2]
    for t in range(n0):
        i = order[t]
        if plane_u[i] <= m:
            break
        if n1 > 1:
            for k in prange(n2):
                fk = fw[k, 0]
                dk = fw[k, 1]
                zk = fw[k, 2]
                vk = iw[k]
                for j in range(n1):
                    fk[j] = g[i, j, k]
                _envelope_1d(fk, n1, s1, dk, vk, zk)
                for j in range(n1):
                    g[i, j, k] = dk[j]
        for j in range(n1):
            if row_u[i, j] <= m:
                continue
            for k in range(n2):
                f[k] = g[i, j, k]
            _envelope_1d(f, n2, s2, d, v, z)
            for k in range(n2):
                if d[k] > m and a[i, j, k] and not b[i, j, k]:
                    m = d[k]
    return m


# --------------------------------------------------------------------------
# serial and parallel builds of the prange kernels
# --------------------------------------------------------------------------
# Each kernel above with a ``prange`` loop is compiled twice from one source:
# without ``parallel=True`` (``prange`` is then ``range``) and with it. A call
# on one numba thread (small inputs: ``metrics._threads_for``) runs the serial
# build, so a first call compiles no parallel region (a parfor lowering costs
# seconds of compile time) and never wakes the thread pool.


def _twin(fn, name):
    """A copy of ``fn`` under another name (its own numba cache file)."""
    twin = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    twin.__qualname__ = name
    twin.__doc__ = fn.__doc__
    return twin


def _both(fn):
    """A function that runs the serial build of ``fn`` on one numba thread, else the parallel one."""
    name = fn.__name__.lstrip("_")
    serial = njit(cache=True, nogil=True)(_twin(fn, f"{name}_serial"))
    parallel = njit(cache=True, nogil=True, parallel=True)(_twin(fn, f"{name}_parallel"))

    def run(*args):
        if _tier.is_serial() or numba.get_num_threads() == 1:
            return serial(*args)
        return parallel(*args)

    run.__name__ = run.__qualname__ = name
    run.__doc__ = fn.__doc__
    run.serial = serial
    run.parallel = parallel
    return run


count_rows = _both(_count_rows)
bbox_union = _both(_bbox_union)
axis0_sq = _both(_axis0_sq)
query_bounds = _both(_query_bounds)
refine_max = _both(_refine_max)

