"""numba kernels of :mod:`rlemask.coco` (dense masks <-> COCO compressed counts).

COCO counts are run lengths over the pixels in column (Fortran) order, zeros
first. A row-major (C-contiguous) mask is never transposed densely: the encoder
reads it row by row and records the *vertical* transitions, the pixels whose
value differs from the pixel above (row ``-1`` and row ``h`` count as zeros).
Sorted by column, then by row, the transitions at flat Fortran positions
``x * h + y`` are exactly the run boundaries of the column-order pixel stream
(a transition below the last row of column ``x`` and one at the top of column
``x + 1`` sit at the same position and cancel). This is a run-space transpose:
its cost is one pass over the pixels plus the number of boundaries.

Kernels take contiguous arrays and return arrays and error codes (the codes of
:mod:`rlemask._kernels`); they never raise with runtime data and write an
output mask only after every count of every item has been validated.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rlemask import _kernels_cache  # noqa: F401  (before any kernel: sets the cache folder)
from rlemask._kernels import (
    _BYTE,
    _HIGH,
    _ZERO64,
    E_BIG,
    E_END,
    E_NEG,
    E_ODD,
    E_TOKEN,
    E_VALUE,
    OK,
    _ctz,
    _find,
    _first_bad,
    _load64,
    _memset,
    _next_run,
    _words,
)

# counts that add up to fewer pixels than the size
E_SHORT = 10

# 5-bit groups of one LEB128-like value: 13 hold any int64 difference
_GROUPS = 13


@njit(cache=True, nogil=True)
def _leb(out, p, x):
    """Write one value in pycocotools' LEB128-like form at ``out[p:]``; return the new end."""
    more = True
    while more:
        c = x & 0x1F
        x >>= 5
        if c & 0x10:
            more = x != -1
        else:
            more = x != 0
        if more:
            c |= 0x20
        out[p] = c + 48
        p += 1
    return p


@njit(cache=True, nogil=True)
def _grow(buf, need):
    """``buf`` itself, or a copy twice as large (or ``need``) when it holds fewer than ``need``."""
    if need <= buf.size:
        return buf
    grown = np.empty(max(need, 2 * buf.size), buf.dtype)
    for i in range(buf.size):  # a loop: a slice copy compiles numba's size-mismatch error (seconds)
        grown[i] = buf[i]
    return grown


@njit(cache=True, nogil=True)
def _emit(flips, m, n, out, p):
    """Compress the run boundaries ``flips[:m]`` (sorted positions) of ``n`` pixels
    as COCO counts into ``out[p:]`` (grown as needed); return (out, new end)."""
    out = _grow(out, p + _GROUPS * (m + 2))
    prev = np.int64(0)  # position of the previous boundary
    c1 = np.int64(0)  # the count before the previous one
    c2 = np.int64(0)  # the previous count
    i = 0
    for k in range(m + 1):
        pos = flips[k] if k < m else n
        cnt = pos - prev
        prev = pos
        p = _leb(out, p, cnt - c1 if i > 2 else cnt)
        c1 = c2
        c2 = cnt
        i += 1
    return out, p


@njit(cache=True, nogil=True)
def _row_events(cur, c0, prv, p0, w, y, ev, m, colcount):
    """Record the columns where row ``cur[c0:c0 + w]`` differs from ``prv[p0:p0 + w]``
    as events ``ev[m], ev[m + 1] = (x, y)`` (room for ``2 * w`` values); return the
    new ``m`` (even) plus 1 when the current row holds a one, or ``-1 - offset`` of
    its first value above 1."""
    nw = w >> 3
    hi = _ZERO64
    for q in range(nw):
        k = q << 3
        cw = _load64(cur, c0 + k)
        hi |= cw
        d = cw ^ _load64(prv, p0 + k)
        while d != _ZERO64:
            b = _ctz(d) >> np.uint64(3)
            x = k + np.int64(b)
            ev[m] = x
            ev[m + 1] = y
            colcount[x + 1] += 1
            m += 2
            d &= ~(_BYTE << (b << np.uint64(3)))
    for x in range(8 * nw, w):
        v = cur[c0 + x]
        hi |= np.uint64(v)
        if v != prv[p0 + x]:
            ev[m] = x
            ev[m + 1] = y
            colcount[x + 1] += 1
            m += 2
    if (hi & _HIGH) != _ZERO64:  # one return point in the loops: LLVM keeps them tight
        return -1 - _first_bad(cur, c0, c0 + w)
    return m + (hi != _ZERO64)


@njit(cache=True, nogil=True)
def encode_rows(masks, h, w):
    """COCO counts of each row of ``masks`` (2-D uint8, ``(N, h * w)``, every row a
    C-ordered ``h x w`` mask); return (code, item, offset, buf, ends).

    ``buf[ends[i - 1]:ends[i]]`` is the compressed counts of mask ``i``
    (``ends[-1] == 0``). On a value other than 0/1: ``code == E_VALUE`` and
    ``item`` / ``offset`` locate it (row-major offset in the mask, the first one).

    Each row is compared with the row above, 8 pixels at a time (unaligned
    64-bit loads, XOR): a zero word means no transition there, so the cost
    is one pass over the pixels plus the number of transitions.
    """
    nitem = masks.shape[0]
    n = h * w
    out = np.empty(64 * nitem + 64, np.uint8)
    ends = np.zeros(nitem, np.int64)
    ev = np.empty(4 * (h + w) + 64, np.int64)  # (column, row) of each transition
    colcount = np.zeros(w + 1, np.int64)
    zero = np.zeros(w + 8, np.uint8)  # row -1 and row h
    p = np.int64(0)
    for i in range(nitem):
        a = masks[i]
        wd = _words(a)
        colcount[:] = 0
        m = np.int64(0)
        y = 0 if n else h + 1  # no pixels: no rows to compare
        above = False  # the row above y holds a one
        while y <= h:
            if not above and y < h:  # skip the rows of zeros under a row of zeros
                s = _find(a, wd, y * w, n, 1)
                if s < 0:
                    return E_VALUE, i, -1 - s, out[:0], ends
                y = s // w
                if y >= h:
                    break
            if m + 2 * w + 2 > ev.size:
                ev = _grow(ev, m + 2 * w + 2)
            if y == 0:
                m = _row_events(a, np.int64(0), zero, np.int64(0), w, y, ev, m, colcount)
            elif y < h:
                m = _row_events(a, y * w, a, y * w - w, w, y, ev, m, colcount)
            else:
                m = _row_events(zero, np.int64(0), a, y * w - w, w, y, ev, m, colcount)
            if m < 0:
                return E_VALUE, i, -1 - m, out[:0], ends
            above = (m & 1) == 1
            m -= m & 1
            y += 1
        # counting sort by column (stable: rows stay increasing within a column)
        for x in range(w):
            colcount[x + 1] += colcount[x]
        flips = np.empty(m // 2, np.int64)
        for k in range(0, m, 2):
            x = ev[k]
            flips[colcount[x]] = x * h + ev[k + 1]
            colcount[x] += 1
        # a change below column x and one atop column x + 1 coincide: drop both
        q = np.int64(0)
        for k in range(m // 2):
            if q > 0 and flips[q - 1] == flips[k]:
                q -= 1
            else:
                flips[q] = flips[k]
                q += 1
        if q and flips[q - 1] == n:  # the last pixel is set: no trailing count
            q -= 1
        out, p = _emit(flips, q, n, out, p)
        ends[i] = p
    return OK, -1, 0, out[:p], ends


@njit(cache=True, nogil=True)
def encode_columns(masks):
    """COCO counts of each row of ``masks`` (2-D uint8, every row a mask already
    in column order); return (code, item, offset, buf, ends) as :func:`encode_rows`.

    The offset of a bad value is the column-order offset.
    """
    nitem, n = masks.shape
    out = np.empty(64 * nitem + 64, np.uint8)
    ends = np.zeros(nitem, np.int64)
    flips = np.empty(64, np.int64)
    p = np.int64(0)
    for i in range(nitem):
        a = masks[i]
        wd = _words(a)
        m = np.int64(0)
        pos = 0
        while pos < n:
            s, e = _next_run(a, wd, pos, n)
            if s < 0:
                return E_VALUE, i, e, out[:0], ends
            if s >= n:
                break
            flips = _grow(flips, m + 2)
            flips[m] = s
            flips[m + 1] = e
            m += 2
            pos = e
        if m and flips[m - 1] == n:
            m -= 1
        out, p = _emit(flips, m, n, out, p)
        ends[i] = p
    return OK, -1, 0, out[:p], ends


# ----------------------------------------------------------------------------------
# decoding
# ----------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _value(buf, p, hi):
    """The value whose first byte is ``buf[p]`` (before delta coding); return
    (code, value, position after it, or of the failing byte)."""
    x = np.int64(0)
    k = 0
    more = True
    while more:
        if p >= hi:
            return E_ODD, x, p
        c = np.int64(buf[p]) - 48
        if c < 0 or c > 63:
            return E_TOKEN, x, p
        if k >= 12:
            return E_BIG, x, p
        x |= (c & 0x1F) << (5 * k)
        more = (c & 0x20) != 0
        p += 1
        k += 1
        if not more and (c & 0x10):
            x |= np.int64(-1) << (5 * k)
    return OK, x, p


@njit(cache=True, nogil=True)
def _decompress(buf, lo, hi, counts, c0):
    """pycocotools ``rleFrString`` of ``buf[lo:hi]`` into ``counts[c0:]``;
    return (code, number of counts, byte offset relative to ``lo``)."""
    m = 0
    p = lo
    while p < hi:
        code, x, p = _value(buf, p, hi)
        if code != OK:
            return code, m, p - lo
        if m > 2:
            x += counts[c0 + m - 2]
        counts[c0 + m] = x
        m += 1
    return OK, m, 0


@njit(cache=True, nogil=True)
def decompress(buf):
    """All counts of one compressed string; return (code, count index, offset, counts)."""
    counts = np.empty(max(buf.size, 1), np.int64)
    code, m, off = _decompress(buf, np.int64(0), buf.size, counts, np.int64(0))
    return code, m, off, counts[:m]


@njit(cache=True, nogil=True)
def _check_counts(counts, c0, m, n):
    """Validate counts ``counts[c0:c0 + m]`` of ``n`` pixels; return (code, count index, total)."""
    for k in range(m):
        if counts[c0 + k] < 0:
            return E_NEG, k, 0
    total = np.int64(0)
    for k in range(m):
        c = counts[c0 + k]
        if c > n - total:
            return E_END, k, total
        total += c
    if total < n:
        return E_SHORT, m, total
    return OK, m, total


@njit(cache=True, nogil=True)
def _fill_counts(counts, c0, m, flat):
    """Write the runs of ones of validated counts ``counts[c0:c0 + m]`` (zeros
    first, alternating) into ``flat``, which holds zeros."""
    pos = 0
    for k in range(m):
        c = counts[c0 + k]
        if k & 1:
            _memset(flat, pos, pos + c, 1)
        pos += c


@njit(cache=True, nogil=True)
def decode_compressed(buf, offsets, n, out):
    """Decode the compressed counts ``buf[offsets[i]:offsets[i + 1]]`` into the
    rows of ``out`` (2-D uint8 ``(N, n)`` of zeros, column-order masks).

    Returns an ``(N, 3)`` int64 array of (code, count index, offset or total)
    per item; ``out`` is written only when every item is valid.
    """
    nitem = offsets.size - 1
    status = np.zeros((nitem, 3), np.int64)
    counts = np.empty(max(offsets[nitem] - offsets[0], 1), np.int64)
    cstart = np.empty(nitem, np.int64)
    ncount = np.zeros(nitem, np.int64)
    c0 = np.int64(0)
    bad = 0
    for i in range(nitem):
        code, m, off = _decompress(buf, offsets[i], offsets[i + 1], counts, c0)
        if code == OK:
            code, m2, off = _check_counts(counts, c0, m, n)
            if code != OK:
                m = m2
        if code != OK:
            status[i, 0] = code
            status[i, 1] = m
            status[i, 2] = off
            bad += 1
            continue
        cstart[i] = c0
        ncount[i] = m
        c0 += m
    if bad:
        return status
    for i in range(nitem):
        _fill_counts(counts, cstart[i], ncount[i], out[i])
    return status


@njit(cache=True, nogil=True)
def decode_one(buf, out):
    """Decode one compressed counts string (``bytes``) into the contiguous uint8
    array ``out`` of zeros (any shape); return (code, count index, offset
    or total) as :func:`decode_compressed`."""
    n = out.size
    flat = out.reshape(n)
    counts = np.empty(len(buf) + 1, np.int64)
    code, m, off = _decompress(buf, np.int64(0), len(buf), counts, np.int64(0))
    if code != OK:
        return code, m, off
    code, m2, total = _check_counts(counts, np.int64(0), m, n)
    if code != OK:
        return code, m2, total
    _fill_counts(counts, np.int64(0), m, flat)
    return OK, m, 0


@njit(cache=True, nogil=True)
def decode_counts(counts, offsets, n, out):
    """:func:`decode_compressed` for uncompressed counts (``counts`` int64, one
    concatenated array, item ``i`` at ``counts[offsets[i]:offsets[i + 1]]``)."""
    nitem = offsets.size - 1
    status = np.zeros((nitem, 3), np.int64)
    bad = 0
    for i in range(nitem):
        code, m, total = _check_counts(counts, offsets[i], offsets[i + 1] - offsets[i], n)
        if code != OK:
            status[i, 0] = code
            status[i, 1] = m
            status[i, 2] = total
            bad += 1
    if bad:
        return status
    for i in range(nitem):
        _fill_counts(counts, offsets[i], offsets[i + 1] - offsets[i], out[i])
    return status


@njit(cache=True, nogil=True)
def _area(buf, lo, hi, n):
    """Foreground area of the valid compressed counts ``buf[lo:hi]`` of ``n``
    pixels in one pass, storing no counts; -1 when anything is wrong (the caller
    then locates the error as :func:`decode_compressed` would).

    The value reading of :func:`_value` is written out here: through the
    function's (code, value, position) tuple this loop ran ~1.4x slower.
    """
    m = 0
    p = lo
    c2 = np.int64(0)  # counts m - 2 and m - 1 (the deltas' bases)
    c1 = np.int64(0)
    total = np.int64(0)
    area = np.int64(0)
    while p < hi:
        x = np.int64(0)
        k = 0
        while True:
            if p >= hi:
                return -1
            c = np.int64(buf[p]) - 48
            if np.uint64(c) > np.uint64(63) or k >= 12:  # a bad byte or a value too long
                return -1
            x |= (c & 0x1F) << (5 * k)
            p += 1
            k += 1
            if (c & 0x20) == 0:  # its last byte
                if c & 0x10:
                    x |= np.int64(-1) << (5 * k)
                break
        if m > 2:
            x += c2
        if x < 0 or x > n - total:
            return -1
        total += x
        if m & 1:
            area += x
        c2 = c1
        c1 = x
        m += 1
    return area if total == n else -1


@njit(cache=True, nogil=True)
def areas_compressed(buf, offsets, ns):
    """Foreground area of each compressed counts item (of ``ns[i]`` pixels); (status, areas) as :func:`decode_compressed`."""
    nitem = offsets.size - 1
    status = np.zeros((nitem, 3), np.int64)
    areas = np.zeros(nitem, np.int64)
    counts = np.empty(0, np.int64)  # for the items that fail the one-pass read
    for i in range(nitem):
        a = _area(buf, offsets[i], offsets[i + 1], ns[i])
        if a >= 0:
            areas[i] = a
            continue
        if counts.size < offsets[i + 1] - offsets[i] + 1:
            counts = np.empty(offsets[i + 1] - offsets[i] + 1, np.int64)
        code, m, off = _decompress(buf, offsets[i], offsets[i + 1], counts, np.int64(0))
        if code == OK:
            code, m, off = _check_counts(counts, np.int64(0), m, ns[i])
        status[i, 0] = code
        status[i, 1] = m
        status[i, 2] = off
    return status, areas
