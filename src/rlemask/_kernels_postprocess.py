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
def _label(a, h, w, want, conn8, rs, re, rowstart, parent):
    """Runs of ``want`` in the C-ordered ``h x w`` mask ``a`` into ``rs``/``re``
    (row-local [start, end)), ``rowstart[y]`` the first run of row ``y``;
    joined in ``parent``. Returns the number of runs."""
    k = 0
    for y in range(h):
        rowstart[y] = k
        base = y * w
        x = 0
        while x < w:
            if a[base + x] != want:
                x += 1
                continue
            s = x
            while x < w and a[base + x] == want:
                x += 1
            rs[k] = s
            re[k] = x
            parent[k] = k
            k += 1
    rowstart[h] = k
    grow = 1 if conn8 else 0
    for y in range(1, h):
        i = rowstart[y - 1]
        iend = rowstart[y]
        j = rowstart[y]
        jend = rowstart[y + 1]
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
    return k


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
        for y in range(h):
            base = y * w
            for r in range(rowstart[y], rowstart[y + 1]):
                root = _find(parent, r)
                if op == OP_REMOVE_SMALL:
                    change = sizes[root] < size
                elif op == OP_LARGEST:
                    change = root != keep
                else:
                    change = sizes[root] >= 0 and (size < 0 or sizes[root] <= size)
                if change:
                    o[base + rs[r] : base + re[r]] = 1 - want
