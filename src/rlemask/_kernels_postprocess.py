"""numba kernels of :mod:`rlemask.postprocess` (connected components on row runs).

A mask is labelled run by run: the runs of one value in each row are the
nodes, runs of consecutive rows that touch (share a column for
4-connectivity, or a column or a corner for 8-connectivity) are joined in a
union-find forest. The cost grows with the number of runs, not of pixels, and
every operation is one pass to find runs, one to join them and one to write.

One kernel, :func:`apply`, serves every operation (fewer compiled functions,
a shorter first call). Inputs are validated 0/1 uint8 by the wrapper.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rlemask import _kernels_cache  # noqa: F401  (before any kernel: sets the cache folder)
from rlemask._kernels import E_SPACE, OK, _ONES, _ZERO64, _ctz, _load64, _memset, _parse, _put
from rlemask._kernels_overlap import _checked_bounds

OP_REMOVE_SMALL = 0
OP_LARGEST = 1
OP_FILL_HOLES = 2


@njit(cache=True, nogil=True)
def _find(parent, i):
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        nxt = parent[i]
        parent[i] = root
        i = nxt
    return root


@njit(cache=True, nogil=True)
def _scan(a, base, x, w, skip):
    """First ``x' >= x`` (``< w``) where byte ``a[base + x']`` differs from the bytes
    of ``skip`` (8 equal 0/1 bytes), else ``w``; 8 bytes at a time."""
    while x + 8 <= w:
        v = _load64(a, base + x) ^ skip
        if v != _ZERO64:
            return x + np.int64(_ctz(v) >> np.uint64(3))
        x += 8
    b = np.uint8(skip & np.uint64(1))
    while x < w and a[base + x] == b:
        x += 1
    return x


@njit(cache=True, nogil=True)
def _join_rows(rs, re, i, iend, j, jend, grow, parent):
    """Join the runs ``i..iend-1`` of one row with the touching runs ``j..jend-1`` of the next."""
    while i < iend and j < jend:
        # touching: the column ranges meet (widened by one for corners)
        if rs[i] < re[j] + grow and rs[j] < re[i] + grow:
            ri = _find(parent, i)
            rj = _find(parent, j)
            if ri != rj:
                if ri < rj:
                    parent[rj] = ri
                else:
                    parent[ri] = rj
        if re[i] < re[j]:
            i += 1
        else:
            j += 1


@njit(cache=True, nogil=True)
def _join(rs, re, rowstart, h, conn8, parent):
    """Join the runs of consecutive rows that touch (``parent[r] == r`` on entry)."""
    grow = 1 if conn8 else 0
    for y in range(1, h):
        _join_rows(rs, re, rowstart[y - 1], rowstart[y], rowstart[y], rowstart[y + 1], grow, parent)


@njit(cache=True, nogil=True)
def _label(a, h, w, want, conn8, rs, re, rowstart, parent):
    """Runs of ``want`` in the C-ordered ``h x w`` mask ``a`` into ``rs``/``re``
    (row-local [start, end)), ``rowstart[y]`` the first run of row ``y``;
    joined in ``parent``. Returns the number of runs."""
    k = 0
    other = _ZERO64 if want else _ONES  # 8 bytes of the value that is not wanted
    for y in range(h):
        rowstart[y] = k
        base = y * w
        x = np.int64(0)
        while x < w:
            x = _scan(a, base, x, w, other)  # first byte == want
            if x >= w:
                break
            s = x
            x = _scan(a, base, x, w, other ^ _ONES)  # first byte != want
            rs[k] = s
            re[k] = x
            parent[k] = k
            k += 1
    rowstart[h] = k
    _join(rs, re, rowstart, h, conn8, parent)
    return k


@njit(cache=True, nogil=True)
def _flips(op, size, h, w, k, rs, re, rowstart, parent, sizes, flip):
    """After :func:`_join`: ``flip[r] = 1`` for the runs whose value ``op`` changes."""
    sizes[:k] = 0
    for r in range(k):
        sizes[_find(parent, r)] += re[r] - rs[r]
    if op == OP_FILL_HOLES:
        # components touching the border are background, not holes
        for y in range(h):
            for r in range(rowstart[y], rowstart[y + 1]):
                if y == 0 or y == h - 1 or rs[r] == 0 or re[r] == w:
                    sizes[_find(parent, r)] = -1
    keep = -1
    if op == OP_LARGEST:
        best = -1
        for r in range(k):
            if parent[r] == r and sizes[r] > best:
                best = sizes[r]
                keep = r
    for r in range(k):
        root = _find(parent, r)
        if op == OP_REMOVE_SMALL:
            flip[r] = sizes[root] < size
        elif op == OP_LARGEST:
            flip[r] = root != keep
        else:
            flip[r] = sizes[root] >= 0 and (size < 0 or sizes[root] <= size)


@njit(cache=True, nogil=True)
def apply(masks, h, w, op, size, conn8, out):
    """Apply ``op`` to every row of ``masks`` (2-D uint8 ``(N, h * w)``, C-ordered
    masks) into ``out`` (same shape).

    ``OP_REMOVE_SMALL``: clear components with fewer than ``size`` pixels.
    ``OP_LARGEST``: keep the largest component (the first in row-major order
    of its first pixel among equals). ``OP_FILL_HOLES``: set the components of
    zeros that touch no border (``conn8`` is their connectivity here) with at
    most ``size`` pixels (``size < 0``: any size).
    """
    nitem = masks.shape[0]
    cap = h * ((w + 1) // 2) + 1
    rs = np.empty(cap, np.int64)
    re = np.empty(cap, np.int64)
    parent = np.empty(cap, np.int64)
    sizes = np.empty(cap, np.int64)
    flip = np.empty(cap, np.int64)
    rowstart = np.empty(h + 1, np.int64)
    want = 0 if op == OP_FILL_HOLES else 1
    for m in range(nitem):
        a = masks[m]
        o = out[m]
        for i in range(a.size):  # not o[:] = a: that compiles numba's size-mismatch error
            o[i] = a[i]
        k = _label(a, h, w, want, conn8, rs, re, rowstart, parent)
        if k == 0:
            continue
        _flips(op, size, h, w, k, rs, re, rowstart, parent, sizes, flip)
        for y in range(h):
            base = y * w
            for r in range(rowstart[y], rowstart[y + 1]):
                if flip[r]:
                    o[base + rs[r] : base + re[r]] = 1 - want


@njit(cache=True, nogil=True)
def resize(masks, h, w, ys, first, out, dw):
    """Nearest-neighbour resize in run space: ``out[m, i, j] = masks[m, ys[i], xs[j]]``.

    ``masks`` is 2-D uint8 ``(N, h * w)`` of 0/1, ``out`` 2-D ``(N, dh * dw)`` of
    zeros; ``first[c]`` is the first output column whose source column ``xs[j]``
    is at least ``c`` (``xs`` ascending, ``first[w] == dw`` or less), so a source
    run ``[s, e)`` becomes the output columns ``[first[s], first[e])``: one
    memset per run instead of one read per output pixel. An output row with the
    source row of the row above is a copy of it.
    """
    nitem = masks.shape[0]
    dh = ys.size
    for m in range(nitem):
        a = masks[m]
        o = out[m]
        prev = -1  # source row of the output row above, and whether it holds ones
        ones = False
        for i in range(dh):
            y = ys[i]
            ob = i * dw
            if y == prev:
                if ones:
                    for j in range(dw):
                        o[ob + j] = o[ob - dw + j]
                continue
            prev = y
            ones = False
            base = y * w
            x = np.int64(0)
            while x < w:
                x = _scan(a, base, x, w, _ZERO64)  # the next one
                if x >= w:
                    break
                s = x
                x = _scan(a, base, x, w, _ONES)  # the next zero
                if first[x] > first[s]:
                    _memset(o, ob + first[s], ob + first[x], 1)
                    ones = True


# ----------------------------------------------------------------------------------
# Kaggle run-length strings in and out (no dense mask)
# ----------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _canonical(buf, tokens, ntok):
    """Whether ASCII ``buf``, parsed already into ``tokens[:ntok]`` (so it holds
    digits and whitespace only), is the text the encoder writes for them.

    Its digits number at least the tokens' decimal digits (more with leading
    zeros) and its whitespace bytes at least ``ntok - 1``, so a length of exactly
    their sum leaves no leading zero and one separator between tokens and none
    at the ends; ``ntok - 1`` spaces then make every separator a space.
    """
    spaces = 0
    for i in range(len(buf)):  # no early exit: vectorised
        spaces += buf[i] == 32
    if ntok == 0:
        return len(buf) == 0
    if spaces != ntok - 1:
        return False
    length = ntok - 1
    for t in range(ntok):
        v = tokens[t]
        length += 1
        while v >= 10:
            v //= 10
            length += 1
    return length == len(buf)


@njit(cache=True, nogil=True)
def apply_rle(buf, h, w, op, size, conn8, strict, work, out):
    """``op`` of :func:`apply` on one Kaggle string (ASCII ``buf``, 1-based C-order
    runs; sorted and disjoint unless not ``strict``: then their union) of an
    ``h x w`` mask; return (code, index, offset, length).

    The runs are split at row ends into row runs (for ``OP_FILL_HOLES``, the
    runs of zeros between them), labelled as :func:`apply` labels a dense mask,
    and the kept ones written back as a Kaggle string into ``out`` (uint8 ASCII,
    ``length`` bytes). ``length == -1``: nothing changes and ``buf`` is already
    the text the encoder writes (the caller returns its input). ``work`` (int64)
    and ``out`` are the caller's scratch: ``E_SPACE`` asks for ``index`` int64
    values and ``offset`` bytes. (code, index, offset) are those of
    :mod:`rlemask._kernels` for a bad string.
    """
    n = h * w
    npair = len(buf) // 2 + 2
    cap = 2 * (npair // 2 + h) + 2  # row runs: each run splits at most once per row
    need = npair + npair + 2 + 4 * cap + 3 * (h + 1) + 3 * (cap + 1)
    if work.size < need:
        return E_SPACE, need, 0, 0
    pairs = work[:npair]
    code, idx, off = _parse(buf, np.int64(0), len(buf), pairs, np.int64(0))
    if code != OK:
        return code, idx, off, 0
    nrun = idx // 2
    bounds = work[npair : 2 * npair + 2]  # sorted, disjoint [start, end) of the runs
    code, r, nval, _ = _checked_bounds(pairs, nrun, n, strict, bounds, np.int64(0))
    if code != OK:
        return code, r, 0, 0
    at = 2 * npair + 2
    merged = nval // 2 != nrun or not strict  # runs joined, emptied or maybe reordered: not the encoder's text
    nrun = nval // 2
    os_ = work[at : at + cap]  # row runs of ones: start and end columns, row by row
    oe = work[at + cap : at + 2 * cap]
    ry = work[at + 2 * cap : at + 2 * cap + h + 1]  # the rows that hold runs ...
    rfirst = work[at + 2 * cap + h + 1 : at + 2 * cap + 2 * h + 2]  # ... and their first run
    at += 2 * cap + 2 * h + 2
    k = 0
    nr = 0
    for q in range(nrun):
        s = bounds[2 * q]
        e = bounds[2 * q + 1]
        while s < e:
            ys = s // w
            if nr == 0 or ry[nr - 1] != ys:
                ry[nr] = ys
                rfirst[nr] = k
                nr += 1
            stop = (ys + 1) * w
            os_[k] = s - ys * w
            oe[k] = (e if e < stop else stop) - ys * w
            k += 1
            s = stop
    rfirst[nr] = k
    if op == OP_FILL_HOLES:  # label the runs of zeros: the gaps of each row
        rs = work[at : at + cap]
        re = work[at + cap : at + 2 * cap]
        rowstart = work[at + 2 * cap : at + 2 * cap + h + 1]
        m = np.int64(0)
        t = 0
        for y in range(h):
            rowstart[y] = m
            x = 0
            if t < nr and ry[t] == y:
                for q in range(rfirst[t], rfirst[t + 1]):
                    if os_[q] > x:
                        rs[m] = x
                        re[m] = os_[q]
                        m += 1
                    x = oe[q]
                t += 1
            if x < w:
                rs[m] = x
                re[m] = w
                m += 1
        rowstart[h] = m
    else:
        rs, re, m = os_, oe, k
        rowstart = rfirst  # only the rows that hold runs, listed in ry
    at += 2 * cap + h + 1
    parent = work[at : at + m + 1]
    sizes = work[at + cap + 1 : at + cap + m + 2]
    flip = work[at + 2 * cap + 2 : at + 2 * cap + m + 3]
    for q in range(m):
        parent[q] = q
    changed = False
    if m:
        if op == OP_FILL_HOLES:
            _join(rs, re, rowstart, h, conn8, parent)
        else:
            grow = 1 if conn8 else 0
            for t in range(1, nr):
                if ry[t] == ry[t - 1] + 1:
                    _join_rows(rs, re, rfirst[t - 1], rfirst[t], rfirst[t], rfirst[t + 1], grow, parent)
        _flips(op, size, h, w, m, rs, re, rowstart, parent, sizes, flip)
        for q in range(m):
            if flip[q]:
                changed = True
                break
    if not changed and not merged and _canonical(buf, pairs, idx):
        return OK, 0, 0, -1
    if out.size < 44 * (m + k + 1):
        return E_SPACE, need, 44 * (m + k + 1), 0
    p = np.int64(0)
    start = np.int64(-1)  # the run being written (flat, 0-based; -1: none yet)
    end = np.int64(-1)
    if op == OP_FILL_HOLES:
        for y in range(h):
            base = y * w
            x = 0  # the ones are the gaps between the runs of zeros that stay
            for q in range(rowstart[y], rowstart[y + 1]):
                if not flip[q]:
                    p, start, end = _add(out, p, start, end, base + x, base + rs[q])
                    x = re[q]
            p, start, end = _add(out, p, start, end, base + x, base + w)
    else:
        for t in range(nr):
            base = ry[t] * w
            for q in range(rfirst[t], rfirst[t + 1]):
                if not flip[q]:
                    p, start, end = _add(out, p, start, end, base + rs[q], base + re[q])
    p, start, end = _add(out, p, start, end, np.int64(-2), np.int64(-2))  # flush the last run
    return OK, 0, 0, p


@njit(cache=True, nogil=True)
def _add(out, p, start, end, lo, hi):
    """Append pixels ``[lo, hi)`` to the run ``[start, end)`` being written when they
    continue it, else write that run (``" start+1 length"``) and begin a new one."""
    if hi <= lo and lo != -2:
        return p, start, end
    if lo == end:
        return p, start, hi
    if start >= 0:
        if p:
            out[p] = 32
            p += 1
        p = _put(out, p, start + 1)
        out[p] = 32
        p = _put(out, p + 1, end - start)
    return p, lo, hi
