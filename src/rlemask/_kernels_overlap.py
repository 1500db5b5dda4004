"""numba kernels of :mod:`rlemask.overlap` (areas and overlaps from run lengths).

A mask is held as sorted, disjoint, half-open pixel intervals ``[s, e)``
(0-based, in the pixel order of its format); a batch of masks as one flat
``bounds`` array of ``s0, e0, s1, e1, ...`` and per-item offsets into it.
Kernels return arrays and the error codes of :mod:`rlemask._kernels`; they
never raise with runtime data.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rlemask import _kernels_cache  # noqa: F401  (before any kernel: sets the cache folder)
from rlemask._kernels import E_END, E_NEG, E_ORDER, E_START, OK, _parse, _validate
from rlemask._kernels_coco import _check_counts, _decompress


@njit(cache=True, nogil=True)
def _argsort(keys):
    """Indices that sort ``keys`` (int64; ties in any order), by heapsort.

    Written out because ``np.argsort`` compiles numba's generic sort, seconds
    on a cold cache, into every kernel that may sort.
    """
    n = keys.size
    idx = np.empty(n, np.int64)
    for i in range(n):
        idx[i] = i
    # build a max-heap, then move the largest to the end, n - 1 times
    start = n // 2 - 1
    while start >= 0:
        _sift(keys, idx, start, n)
        start -= 1
    end = n - 1
    while end > 0:
        t = idx[0]
        idx[0] = idx[end]
        idx[end] = t
        _sift(keys, idx, np.int64(0), end)
        end -= 1
    return idx


@njit(cache=True, nogil=True)
def _sift(keys, idx, root, n):
    """Restore the max-heap below ``root`` in ``idx[:n]`` (ordered by ``keys``)."""
    while True:
        child = 2 * root + 1
        if child >= n:
            return
        if child + 1 < n and keys[idx[child + 1]] > keys[idx[child]]:
            child += 1
        if keys[idx[child]] <= keys[idx[root]]:
            return
        t = idx[root]
        idx[root] = idx[child]
        idx[child] = t
        root = child


@njit(cache=True, nogil=True)
def _to_bounds(pairs, p0, nrun, bounds, b0, strict):
    """Kaggle (1-based start, length) pairs -> sorted disjoint ``bounds[b0:]``;
    return (number of values written, area). Zero-length runs vanish; with
    ``strict=False`` the runs are sorted and overlapping ones merged."""
    sort = not strict and nrun > 1
    if sort:
        starts = np.empty(nrun, np.int64)
        for r in range(nrun):
            starts[r] = pairs[p0 + 2 * r]
        order = _argsort(starts)
    else:
        order = np.empty(0, np.int64)  # sorted already: no permutation
    k = b0
    area = 0
    for q in range(nrun):
        r = order[q] if sort else q
        s = pairs[p0 + 2 * r] - 1
        e = s + pairs[p0 + 2 * r + 1]
        if e <= s:
            continue
        if k > b0 and s <= bounds[k - 1]:  # touches or overlaps the previous run
            if e > bounds[k - 1]:
                area += e - bounds[k - 1]
                bounds[k - 1] = e
            continue
        bounds[k] = s
        bounds[k + 1] = e
        area += e - s
        k += 2
    return k - b0, area


@njit(cache=True, nogil=True)
def _checked_bounds(pairs, nrun, n, strict, bounds, b0):
    """:func:`rlemask._kernels._validate` then :func:`_to_bounds` of the runs
    ``pairs[:2 * nrun]``; return (code, run, number of values written, area).

    With ``strict`` (sorted runs, the common case) both happen in one pass:
    the same checks in the same order, then the run's interval.
    """
    if not strict:
        code, r = _validate(pairs, np.int64(0), nrun, n, strict)
        if code != OK:
            return code, r, 0, 0
        nval, area = _to_bounds(pairs, np.int64(0), nrun, bounds, b0, strict)
        return OK, -1, nval, area
    prev_end = np.int64(0)
    k = b0
    area = 0
    for r in range(nrun):
        s = pairs[2 * r]
        length = pairs[2 * r + 1]
        if s < 1:
            return E_START, r, 0, 0
        if length < 0:
            return E_NEG, r, 0, 0
        if length > n or s - 1 > n - length:
            return E_END, r, 0, 0
        if s <= prev_end:
            return E_ORDER, r, 0, 0
        prev_end = s - 1 + length
        if length == 0:
            continue
        area += length
        if k > b0 and s - 1 == bounds[k - 1]:  # touches the run before: one interval
            bounds[k - 1] = prev_end
        else:
            bounds[k] = s - 1
            bounds[k + 1] = prev_end
            k += 2
    return OK, -1, k - b0, area


@njit(cache=True, nogil=True)
def areas_kaggle(buf, offsets, n, strict):
    """Area of every Kaggle string ``buf[offsets[i]:offsets[i + 1]]`` of ``n`` pixels;
    return (status, areas) as :func:`bounds_kaggle` (no intervals kept: with
    ``strict`` the runs are disjoint and the area is the sum of the lengths)."""
    nitem = offsets.size - 1
    status = np.zeros((nitem, 3), np.int64)
    longest = np.int64(0)
    for i in range(nitem):
        if offsets[i + 1] - offsets[i] > longest:
            longest = offsets[i + 1] - offsets[i]
    pairs = np.empty(longest // 2 + 2, np.int64)
    bounds = np.empty(0 if strict else pairs.size, np.int64)
    areas = np.zeros(nitem, np.int64)
    for i in range(nitem):
        code, idx, off = _parse(buf, offsets[i], offsets[i + 1], pairs, np.int64(0))
        if code == OK:
            nrun = idx // 2
            code, idx = _validate(pairs, np.int64(0), nrun, n, strict)
            if code == OK:
                if strict:
                    total = np.int64(0)
                    for r in range(nrun):
                        total += pairs[2 * r + 1]
                    areas[i] = total
                else:
                    areas[i] = _to_bounds(pairs, np.int64(0), nrun, bounds, np.int64(0), strict)[1]
                continue
            off = 0
        status[i, 0] = code
        status[i, 1] = idx
        status[i, 2] = off
    return status, areas


@njit(cache=True, nogil=True)
def bounds_kaggle(buf, offsets, ns, strict):
    """Parse and validate every Kaggle string ``buf[offsets[i]:offsets[i + 1]]``
    (item ``i`` has ``ns[i]`` pixels).

    Returns (status, bounds, boff, areas): ``status`` ``(N, 3)`` (code,
    index, offset) per item, the intervals of item ``i`` at
    ``bounds[boff[i]:boff[i + 1]]`` and its area.
    """
    nitem = offsets.size - 1
    status = np.zeros((nitem, 3), np.int64)
    pairs = np.empty((offsets[nitem] - offsets[0] + 1) // 2 + nitem, np.int64)
    bounds = np.empty(pairs.size, np.int64)
    boff = np.zeros(nitem + 1, np.int64)
    areas = np.zeros(nitem, np.int64)
    k = np.int64(0)
    for i in range(nitem):
        boff[i] = k
        code, idx, off = _parse(buf, offsets[i], offsets[i + 1], pairs, np.int64(0))
        if code == OK:
            code, idx, nval, area = _checked_bounds(pairs, idx // 2, ns[i], strict, bounds, k)
            if code == OK:
                k += nval
                areas[i] = area
                continue
            off = 0
        status[i, 0] = code
        status[i, 1] = idx
        status[i, 2] = off
    boff[nitem] = k
    return status, bounds, boff, areas


@njit(cache=True, nogil=True)
def bounds_coco(buf, offsets, ns):
    """:func:`bounds_kaggle` for COCO compressed counts (column order)."""
    nitem = offsets.size - 1
    status = np.zeros((nitem, 3), np.int64)
    counts = np.empty(max(offsets[nitem] - offsets[0], 1), np.int64)
    bounds = np.empty(counts.size + 2 * nitem, np.int64)
    boff = np.zeros(nitem + 1, np.int64)
    areas = np.zeros(nitem, np.int64)
    k = 0
    for i in range(nitem):
        boff[i] = k
        code, m, off = _decompress(buf, offsets[i], offsets[i + 1], counts, np.int64(0))
        if code == OK:
            code, m2, off = _check_counts(counts, np.int64(0), m, ns[i])
            if code == OK:
                pos = 0
                area = 0
                for c in range(m):
                    cnt = counts[c]
                    if c & 1 and cnt:
                        bounds[k] = pos
                        bounds[k + 1] = pos + cnt
                        k += 2
                        area += cnt
                    pos += cnt
                areas[i] = area
                continue
            m = m2
        status[i, 0] = code
        status[i, 1] = m
        status[i, 2] = off
    boff[nitem] = k
    return status, bounds, boff, areas


@njit(cache=True, nogil=True)
def _intersect(b1, lo1, hi1, b2, lo2, hi2):
    """Pixels in both interval lists ``b1[lo1:hi1]`` and ``b2[lo2:hi2]``."""
    if lo1 == hi1 or lo2 == hi2:
        return 0
    if b1[hi1 - 1] <= b2[lo2] or b2[hi2 - 1] <= b1[lo1]:
        return 0  # the spans do not meet
    i = lo1
    j = lo2
    total = 0
    while i < hi1 and j < hi2:
        s1 = b1[i]
        e1 = b1[i + 1]
        s2 = b2[j]
        e2 = b2[j + 1]
        lo = s1 if s1 > s2 else s2
        hi = e1 if e1 < e2 else e2
        if hi > lo:
            total += hi - lo
        if e1 < e2:
            i += 2
        else:
            j += 2
    return total


@njit(cache=True, nogil=True)
def boxes(bounds, boff, line):
    """Bounding box of every item over lines of ``line`` pixels (rows in C order,
    columns in F order): ``(N, 4)`` first line, last line, first and last
    position in a line; an empty item gets an empty box (first > last)."""
    nitem = boff.size - 1
    out = np.empty((nitem, 4), np.int64)
    for i in range(nitem):
        lo = boff[i]
        hi = boff[i + 1]
        if lo == hi or line == 0:
            out[i, 0] = 1
            out[i, 1] = 0
            out[i, 2] = 1
            out[i, 3] = 0
            continue
        out[i, 0] = bounds[lo] // line
        out[i, 1] = (bounds[hi - 1] - 1) // line
        cmin = line
        cmax = -1
        for k in range(lo, hi, 2):
            s = bounds[k]
            e = bounds[k + 1] - 1
            if s // line != e // line:  # wraps a line: every position of a line
                cmin = 0
                cmax = line - 1
                break
            cmin = min(cmin, s % line)
            cmax = max(cmax, e % line)
        out[i, 2] = cmin
        out[i, 3] = cmax
    return out


@njit(cache=True, nogil=True)
def scores(b1, o1, x1, a1, b2, o2, x2, a2, dice, empty):
    """``(N, M)`` float64 IoU (or Dice when ``dice``) of every item of two batches.

    ``x1``, ``x2`` are their :func:`boxes` (pairs whose boxes miss share no
    pixel), ``a1``, ``a2`` their areas; two empty masks score ``empty``.
    """
    n1 = o1.size - 1
    n2 = o2.size - 1
    out = np.empty((n1, n2), np.float64)
    for i in range(n1):
        lo1 = o1[i]
        hi1 = o1[i + 1]
        for j in range(n2):
            inter = 0
            if lo1 < hi1 and not (
                x1[i, 0] > x2[j, 1] or x2[j, 0] > x1[i, 1] or x1[i, 2] > x2[j, 3] or x2[j, 2] > x1[i, 3]
            ):
                inter = _intersect(b1, lo1, hi1, b2, o2[j], o2[j + 1])
            total = a1[i] + a2[j]
            if total == 0:
                out[i, j] = empty
            elif dice:
                out[i, j] = 2.0 * inter / total
            else:
                out[i, j] = inter / (total - inter)
    return out


@njit(cache=True, nogil=True)
def _one(buf, n, strict, pairs, bounds):
    """Parse, validate and convert one Kaggle string; return (code, index, offset, nvalues, area)."""
    code, idx, off = _parse(buf, np.int64(0), len(buf), pairs, np.int64(0))
    if code != OK:
        return code, idx, off, 0, 0
    code, r, nval, area = _checked_bounds(pairs, idx // 2, n, strict, bounds, np.int64(0))
    if code != OK:
        return code, r, 0, 0, 0
    return OK, 0, 0, nval, area


@njit(cache=True, nogil=True)
def pair(buf1, buf2, n, strict):
    """Overlap of two Kaggle strings (bytes) over ``n`` pixels.

    Returns (code, which, index, offset, intersection, area1, area2): on an
    error ``which`` is 1 or 2 (the failing string) and (code, index, offset)
    locate it.
    """
    size = (max(len(buf1), len(buf2)) + 1) // 2
    work = np.empty(3 * size + 4, np.int64)  # one allocation: pairs, then both interval lists
    p = work[:size]
    b1 = work[size : 2 * size + 2]
    b2 = work[2 * size + 2 :]
    code, idx, off, k1, a1 = _one(buf1, n, strict, p, b1)
    if code != OK:
        return code, 1, idx, off, 0, 0, 0
    code, idx, off, k2, a2 = _one(buf2, n, strict, p, b2)
    if code != OK:
        return code, 2, idx, off, 0, 0, 0
    return OK, 0, 0, 0, _intersect(b1, np.int64(0), k1, b2, np.int64(0), k2), a1, a2
