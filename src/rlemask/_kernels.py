"""Numba kernels of the Kaggle run-length codec (:mod:`rlemask.rle`).

Every function here takes 1-D (or, for the ``*_many`` kernels, 2-D) contiguous
arrays and returns arrays, ints or error codes. None of them raises with runtime
data and none of them trusts its input: every run is validated before the first
byte of an output mask is written. The wrappers in :mod:`rlemask.rle` turn the
error codes into :class:`rlemask.errors.InvalidRleError` messages.

Kernels compile on their first call (never at import) and are cached on disk
(``cache=True``).

Error codes returned by the parsers and validators (``code, index, offset``):

=========  ======================================================  ==============
code       meaning                                                 index
=========  ======================================================  ==============
OK (0)     valid                                                   token count
E_ODD      odd number of tokens                                    token count
E_TOKEN    a byte that is neither an ASCII digit nor whitespace    token index
E_BIG      a number with more than 17 digits                       token index
E_START    a start below 1                                         run index
E_END      a run that ends past the last pixel                     run index
E_ORDER    a run that starts before the previous one ends          run index
E_NEG      a negative length (only from integer arrays)            run index
E_VALUE    a mask value other than 0 or 1 (encoders)               pixel offset
E_SPACE    the output buffer is too small (encode_into)            -
=========  ======================================================  ==============
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from llvmlite.ir import IntType
from numba.core import cgutils
from numba.core import config as _numba_config
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic

from rlemask import _kernels_cache  # noqa: F401  (before any kernel: sets the cache folder)

from rlemask._codes import BIG as _BIG
from rlemask._codes import E_BIG, E_END, E_NEG, E_ODD, E_ORDER, E_SPACE, E_START, E_TOKEN, E_VALUE, OK  # noqa: F401

_ONES = np.uint64(0x0101010101010101)
# the parser's 8-bytes-at-a-time path (SWAR): digit values, non-digit bytes, lanes
_ASCII0 = np.uint64(0x3030303030303030)
_DIGIT_GAP = np.uint64(0x7676767676767676)  # a byte value 0-9 plus this stays below 0x80
_HIGH_BITS = np.uint64(0x8080808080808080)
_BYTE = np.uint64(0xFF)
_SPACE_MINUS_0 = np.uint64(0xF0)  # ord(" ") - ord("0"), as a byte
_LANES16 = np.uint64(0x00FF00FF00FF00FF)
_LANES32 = np.uint64(0x0000FFFF0000FFFF)
_LOW32 = np.uint64(0xFFFFFFFF)
_HIGH = np.uint64(0xFEFEFEFEFEFEFEFE)
_ZERO64 = np.uint64(0)


def _ir_bool(value):
    return IntType(1)(value)


@intrinsic
def _memset(typingctx, arr, start, stop, value):
    """``arr[start:stop] = value`` as one libc ``memset`` (1-D contiguous uint8 ``arr``).

    No bounds check: callers pass validated ranges only.
    """
    sig = types.void(arr, types.intp, types.intp, types.uint8)

    def codegen(context, builder, signature, args):
        array, lo, hi, value = args
        ary = context.make_array(signature.args[0])(context, builder, array)
        ptr = builder.gep(ary.data, [lo])
        cgutils.memset(builder, ptr, builder.sub(hi, lo), value)
        return context.get_dummy_value()

    return sig, codegen


# NUMBA_DISABLE_JIT=1 (the mutation harness's --python-kernels mode) runs every kernel as
# plain Python; an intrinsic cannot run there, so each has a pure-Python stand-in. Undefined
# behaviour of the compiled intrinsic (out of bounds, ctz of 0) raises IndexError instead.
if _numba_config.DISABLE_JIT:

    def _memset(arr, start, stop, value):  # noqa: F811 - pure-Python stand-in
        if not 0 <= start <= stop <= arr.size:
            raise IndexError(f"stand-in _memset: [{start}:{stop}] out of bounds of {arr.size} (undefined when compiled)")
        arr[start:stop] = value


# ----------------------------------------------------------------------------------
# parsing and validation
# ----------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _parse(buf, lo, hi, pairs, p0):
    """Parse ASCII ``buf[lo:hi]`` into ``pairs[p0:]``; return (code, index, offset).

    ``pairs`` must hold at least ``(hi - lo + 1) // 2`` values from ``p0``: every
    token takes one byte plus a separator, so that bound is never exceeded.
    On success ``index`` is the number of tokens. ``offset`` is relative to ``lo``.
    """
    ntok = 0
    v = np.int64(-1)  # the value of the token being read, -1 between tokens
    first = lo
    i = lo
    while i < hi:
        # between tokens: the common shape, 1-7 digits and one space, 8 bytes at a time
        while v < 0 and i + 8 <= hi:
            x = _load64(buf, i) - _ASCII0
            nd = ((x + _DIGIT_GAP) | x) & _HIGH_BITS  # high bit of each byte that is not a digit
            if nd == _ZERO64:
                break  # 8 digits or more: byte by byte
            k = _ctz(nd) >> np.uint64(3)  # leading digits
            if k == _ZERO64 or ((x >> (k << np.uint64(3))) & _BYTE) != _SPACE_MINUS_0:
                break  # not "digits then one space": byte by byte
            t = x << ((np.uint64(8) - k) << np.uint64(3))  # the digits, behind leading zeros
            t = (t * np.uint64(10) + (t >> np.uint64(8))) & _LANES16
            t = (t * np.uint64(100) + (t >> np.uint64(16))) & _LANES32
            t = (t * np.uint64(10000) + (t >> np.uint64(32))) & _LOW32
            pairs[p0 + ntok] = np.int64(t)
            ntok += 1
            i += np.int64(k) + 1
        if i >= hi:
            break
        d = np.int64(buf[i]) - 48
        if np.uint64(d) <= np.uint64(9):  # a digit: the commonest byte, tested first
            if v < 0:
                v = d
                first = i
            elif v >= _BIG:
                return E_BIG, ntok, first - lo
            else:
                v = v * 10 + d
        elif d == -16 or (d >= -39 and d <= -35):  # space, \t \n \v \f \r
            if v >= 0:
                pairs[p0 + ntok] = v
                ntok += 1
                v = -1
        else:
            return E_TOKEN, ntok, i - lo
        i += 1
    if v >= 0:
        pairs[p0 + ntok] = v
        ntok += 1
    if ntok & 1:
        return E_ODD, ntok, hi - lo
    return OK, ntok, 0


@njit(cache=True, nogil=True)
def _validate(pairs, p0, nrun, n, strict):
    """Check runs ``pairs[p0:p0 + 2 * nrun]`` against ``n`` pixels; return (code, run)."""
    prev_end = np.int64(0)
    for r in range(nrun):
        s = pairs[p0 + 2 * r]
        length = pairs[p0 + 2 * r + 1]
        if s < 1:
            return E_START, r
        if length < 0:
            return E_NEG, r
        if length > n or s - 1 > n - length:
            return E_END, r
        if strict:
            if s <= prev_end:
                return E_ORDER, r
            prev_end = s - 1 + length
    return OK, -1


@njit(cache=True, nogil=True)
def _fill(pairs, p0, nrun, out, strict):
    """Write validated runs into ``out`` (every byte of ``out`` is written)."""
    n = out.size
    if strict:
        pos = 0
        for r in range(nrun):
            s = pairs[p0 + 2 * r] - 1
            e = s + pairs[p0 + 2 * r + 1]
            out[pos:s] = 0
            out[s:e] = 1
            pos = e
        out[pos:n] = 0
    else:
        out[:] = 0
        for r in range(nrun):
            s = pairs[p0 + 2 * r] - 1
            e = s + pairs[p0 + 2 * r + 1]
            out[s:e] = 1


@njit(cache=True, nogil=True)
def parse(buf):
    """Parse a whole ASCII buffer; return (code, index, offset, pairs[:ntok])."""
    pairs = np.empty((buf.size + 1) // 2, np.int64)
    code, idx, off = _parse(buf, np.int64(0), buf.size, pairs, np.int64(0))
    if code != OK:
        return code, idx, off, pairs[:0]
    return code, idx, off, pairs[:idx]


@njit(cache=True, nogil=True)
def decode_into(buf, out, strict, pairs):
    """Decode ASCII ``buf`` into the flat uint8 ``out``; return (code, index, offset).

    Nothing is written to ``out`` unless the whole string is valid. ``pairs``
    is int64 scratch of at least ``(buf.size + 1) // 2`` values (allocated by
    the caller: an ``np.empty`` here would compile numba's own on a cold cache).
    """
    code, idx, off = _parse(buf, np.int64(0), buf.size, pairs, np.int64(0))
    if code != OK:
        return code, idx, off
    nrun = idx // 2
    code, r = _validate(pairs, np.int64(0), nrun, out.size, strict)
    if code != OK:
        return code, r, 0
    _fill(pairs, np.int64(0), nrun, out, strict)
    return OK, nrun, 0


@njit(cache=True, nogil=True)
def _parse_many(buf, offsets, n, strict):
    """Parse and validate every item; return (status, pairs, pstart, nruns, nbad).

    ``status`` is ``(N, 3)`` int64: (code, index, offset) per item. Parsing is
    cheap next to writing the masks, so it runs on one thread.
    """
    nitem = offsets.size - 1
    status = np.zeros((nitem, 3), np.int64)
    pstart = np.empty(nitem + 1, np.int64)
    pstart[0] = 0
    for i in range(nitem):
        pstart[i + 1] = pstart[i] + (offsets[i + 1] - offsets[i] + 1) // 2
    pairs = np.empty(pstart[nitem], np.int64)
    nruns = np.zeros(nitem, np.int64)
    nbad = 0
    for i in range(nitem):
        code, idx, off = _parse(buf, offsets[i], offsets[i + 1], pairs, pstart[i])
        if code != OK:
            status[i, 0] = code
            status[i, 1] = idx
            status[i, 2] = off
            nbad += 1
            continue
        nrun = idx // 2
        code, r = _validate(pairs, pstart[i], nrun, n, strict)
        if code != OK:
            status[i, 0] = code
            status[i, 1] = r
            nbad += 1
            continue
        nruns[i] = nrun
    return status, pairs, pstart, nruns, nbad


@njit(cache=True, nogil=True, parallel=True)
def decode_many_into(buf, offsets, out, strict, zeroed, nchunk):
    """Decode ``buf[offsets[i]:offsets[i+1]]`` into ``out[i]`` (2-D, C-contiguous).

    Returns an ``(N, 3)`` int64 array of (code, index, offset) per item; ``out``
    is written only when every item is valid. ``zeroed``: ``out`` holds zeros
    already, write the ones only. ``nchunk``: spans of masks filled in parallel
    (the number of threads); each span is one stretch of memory, so the zeros
    between the runs of consecutive masks (most masks are empty) become one
    large memset.
    """
    nitem = offsets.size - 1
    n = out.shape[1]
    status, pairs, pstart, nruns, nbad = _parse_many(buf, offsets, n, strict)
    if nbad:
        return status
    flat = out.reshape(nitem * n)
    nchunk = max(1, min(nchunk, nitem))
    for c in prange(nchunk):
        _fill_span(pairs, pstart, nruns, flat, n, c * nitem // nchunk, (c + 1) * nitem // nchunk, strict, zeroed)
    return status


@njit(cache=True, nogil=True)
def decode_many_into_serial(buf, offsets, out, strict, zeroed):
    """:func:`decode_many_into` on the calling thread (small batches)."""
    nitem = offsets.size - 1
    n = out.shape[1]
    status, pairs, pstart, nruns, nbad = _parse_many(buf, offsets, n, strict)
    if nbad:
        return status
    _fill_span(pairs, pstart, nruns, out.reshape(nitem * n), n, np.int64(0), nitem, strict, zeroed)
    return status


@njit(cache=True, nogil=True, inline="always")
def _set(flat, lo, hi, value):
    """``flat[lo:hi] = value`` (nothing when ``hi <= lo``)."""
    if hi > lo:
        _memset(flat, lo, hi, value)


@njit(cache=True, nogil=True)
def _fill_span(pairs, pstart, nruns, flat, n, lo, hi, strict, zeroed):
    """Write the validated runs of masks ``lo..hi-1`` into ``flat[lo * n:hi * n]``.

    With ``zeroed`` the span already holds zeros (fresh ``np.zeros`` memory) and
    only the ones are written, so pages of empty masks are never touched.
    """
    pos = lo * n
    end = hi * n
    if not strict and not zeroed:
        _memset(flat, pos, end, 0)
    for i in range(lo, hi):
        base = i * n - 1
        p0 = pstart[i]
        for r in range(nruns[i]):
            s = base + pairs[p0 + 2 * r]
            e = s + pairs[p0 + 2 * r + 1]
            if strict and not zeroed:
                _set(flat, pos, s, 0)
            _set(flat, s, e, 1)
            pos = e
    if strict and not zeroed and end > pos:
        _memset(flat, pos, end, 0)


@njit(cache=True, nogil=True)
def check_runs(pairs, n, strict):
    """Validate interleaved (start, length) ``pairs``; return (code, run)."""
    return _validate(pairs, np.int64(0), pairs.size // 2, n, strict)


@njit(cache=True, nogil=True)
def fill_runs(pairs, out, strict):
    """Write validated interleaved ``pairs`` into the flat ``out``."""
    _fill(pairs, np.int64(0), pairs.size // 2, out, strict)


@njit(cache=True, nogil=True)
def area(buf):
    """Parse, validate (sorted, non-overlapping) and sum the lengths of an ASCII RLE.

    Returns (code, index, offset, area).
    """
    pairs = np.empty((buf.size + 1) // 2, np.int64)
    code, idx, off = _parse(buf, np.int64(0), buf.size, pairs, np.int64(0))
    if code != OK:
        return code, idx, off, 0
    nrun = idx // 2
    # no shape: the only bound is the int64 range, kept far away by _BIG
    code, r = _validate(pairs, np.int64(0), nrun, np.int64(1) << 62, np.bool_(True))
    if code != OK:
        return code, r, 0, 0
    total = 0
    for k in range(nrun):
        total += pairs[2 * k + 1]
    return OK, nrun, 0, total


# ----------------------------------------------------------------------------------
# run finding, 64 pixels at a time
# ----------------------------------------------------------------------------------


@intrinsic
def _ctz(typingctx, value):
    """Count of trailing zero bits of a non-zero uint64."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], _ir_bool(1))

    return sig, codegen


if _numba_config.DISABLE_JIT:

    def _ctz(value):  # noqa: F811 - pure-Python stand-in
        v = int(value)
        if v == 0:
            raise IndexError("stand-in _ctz: ctz of 0 (undefined when compiled)")
        return np.uint64((v & -v).bit_length() - 1)


@intrinsic
def _u64(typingctx, arr):
    """``arr[:8 * (arr.size // 8)].view(np.uint64)`` of a 1-D contiguous uint8 ``arr``.

    Unlike ``ndarray.view``, whose compatibility check compiles a large helper on
    every cold start, this only re-labels the pointer (a shared, borrowed view).
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C" and arr.dtype == types.uint8):
        return None
    retty = types.Array(types.uint64, 1, "C")

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ret = context.make_array(retty)(context, builder)
        nbytes = builder.extract_value(ary.shape, 0)
        eight = context.get_constant(types.intp, 8)
        context.populate_array(
            ret,
            data=builder.bitcast(ary.data, ret.data.type),
            shape=cgutils.pack_array(builder, [builder.lshr(nbytes, context.get_constant(types.intp, 3))]),
            strides=cgutils.pack_array(builder, [eight]),
            itemsize=eight,
            meminfo=ary.meminfo,
            parent=ary.parent,
        )
        return impl_ret_borrowed(context, builder, retty, ret._getvalue())

    return retty(arr), codegen


if _numba_config.DISABLE_JIT:

    def _u64(arr):  # noqa: F811 - pure-Python stand-in
        return arr[: arr.size - arr.size % 8].view(np.uint64)


@intrinsic
def _load64(typingctx, arr, offset):
    """The 8 bytes ``arr[offset:offset + 8]`` of a 1-D contiguous uint8 array as a
    little-endian uint64, at any byte offset (an unaligned load; no bounds check).
    ``arr`` may also be ``bytes`` (any 1-D contiguous uint8 buffer)."""
    if not (isinstance(arr, types.Buffer) and arr.ndim == 1 and arr.layout == "C" and arr.dtype == types.uint8):
        return None
    if not isinstance(offset, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        off = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = builder.bitcast(builder.gep(ary.data, [off]), IntType(64).as_pointer())
        return builder.load(ptr, align=1)

    return types.uint64(arr, offset), codegen


if _numba_config.DISABLE_JIT:

    def _load64(arr, offset):  # noqa: F811 - pure-Python stand-in
        offset = int(offset)
        chunk = bytes(arr[offset : offset + 8]) if offset >= 0 else b""
        if len(chunk) != 8:
            raise IndexError(f"stand-in _load64: bytes [{offset}:{offset + 8}] out of bounds (undefined when compiled)")
        return np.uint64(int.from_bytes(chunk, "little"))


@njit(cache=True, nogil=True)
def _skip(w, wi, pattern):
    """First word index ``>= wi`` whose word is not ``pattern`` (or ``w.size``)."""
    nw = w.size
    # short stretches (the gaps inside an organ) 4 words at a time
    stop = wi + 64 if wi + 64 < nw else nw
    while wi + 4 <= stop:
        block = w[wi : wi + 4]
        if ((block[0] ^ pattern) | (block[1] ^ pattern) | (block[2] ^ pattern) | (block[3] ^ pattern)) != _ZERO64:
            while w[wi] == pattern:  # a word in this block differs
                wi += 1
            return wi
        wi += 4
    # long stretches (empty rows, empty masks): 256 then 1024 pixels per step,
    # branch-free loops that LLVM vectorises
    while wi + 32 <= nw:
        block = w[wi : wi + 32]
        acc = _ZERO64
        for j in range(32):  # indices from 0: no wraparound check, so it vectorises
            acc |= block[j] ^ pattern
        if acc != _ZERO64:
            break
        wi += 32
        while wi + 128 <= nw:
            block = w[wi : wi + 128]
            acc = _ZERO64
            for j in range(128):
                acc |= block[j] ^ pattern
            if acc != _ZERO64:
                break
            wi += 128
    while wi + 4 <= nw:
        block = w[wi : wi + 4]
        if ((block[0] ^ pattern) | (block[1] ^ pattern) | (block[2] ^ pattern) | (block[3] ^ pattern)) != _ZERO64:
            break
        wi += 4
    while wi < nw and w[wi] == pattern:
        wi += 1
    return wi


@njit(cache=True, nogil=True)
def _first_bad(a, lo, n):
    """Offset of the first value above 1 in ``a[lo:n]`` (``n`` if none)."""
    for j in range(lo, n):
        if a[j] > 1:
            return j
    return n


@njit(cache=True, nogil=True, inline="always")
def _find(a, w, pos, n, want):
    """First offset ``>= pos`` where ``a`` holds ``want`` (0 or 1), else ``n``.

    Works on 64-bit words: whole words of the other value are skipped, and the
    first matching byte of a word comes from a trailing-zero count. Every word
    looked at is checked for values above 1; ``-1 - offset`` reports one.
    """
    nw = w.size
    pattern = _ONES if want == 0 else _ZERO64  # words to skip
    wi = pos >> 3
    if wi < nw:
        v = w[wi]
        if v & _HIGH:
            return -1 - _first_bad(a, wi * 8, n)
        x = (v ^ pattern) >> np.uint64(8 * (pos & 7))
        if x != _ZERO64:
            return pos + np.int64(_ctz(x) >> np.uint64(3))
        wi = _skip(w, wi + 1, pattern)
        if wi < nw:
            v = w[wi]
            if v & _HIGH:
                return -1 - _first_bad(a, wi * 8, n)
            return wi * 8 + np.int64(_ctz(v ^ pattern) >> np.uint64(3))
    for j in range(max(pos, nw * 8), n):
        c = a[j]
        if c == want:
            return j
        if c > 1:
            return -1 - j
    return n


@njit(cache=True, nogil=True, inline="always")
def _next_run(a, w, pos, n):
    """Find the next run of ones in the flat uint8 ``a`` at or after ``pos``.

    ``w`` is ``a[:8 * (n // 8)]`` viewed as uint64. Returns ``(start, end)``
    (0-based, end exclusive), ``(n, n)`` when there is no further run, or
    ``(-1, offset)`` for a value other than 0 or 1 at ``offset``.
    """
    if pos >= n:
        return n, n
    start = _find(a, w, pos, n, 1)
    if start < 0:
        return -1, -1 - start
    if start >= n:
        return n, n
    end = _find(a, w, start + 1, n, 0) if start + 1 < n else n
    if end < 0:
        return -1, -1 - end
    return start, end


@njit(cache=True, nogil=True, inline="always")
def _words(a):
    return _u64(a)


def encode_into(a, buf):
    """Encode the flat uint8 mask ``a`` as ASCII into ``buf``; return (code, value).

    ``code`` OK: ``value`` bytes written; ``E_VALUE``: a bad value at offset
    ``value``; ``E_SPACE``: ``buf`` is too small (use :func:`encode`).

    Plain Python around the one kernel :func:`_encode_bounded` (a first call
    compiles one function, not two; Python callers only).
    """
    k = _encode_bounded(a, buf, 0, buf.size)
    if k == -1:
        return E_SPACE, 0
    if k < -1:
        return E_VALUE, -2 - k
    return OK, k


@njit(cache=True, nogil=True)
def encode(a):
    """Encode the flat uint8 mask ``a`` as ASCII; return (code, offset, buf, length).

    The buffer grows 4x per retry, up to the size that fits any mask of ``a.size``.
    """
    n = a.size
    bound = _bound(n)
    cap = min(bound, 1 << 18)
    while True:
        buf = np.empty(cap, np.uint8)
        k = _encode_bounded(a, buf, np.int64(0), cap)
        if k < -1:
            return E_VALUE, -2 - k, buf, 0
        if k >= 0:
            return OK, -1, buf, k
        cap = min(bound, cap * 4)


@njit(cache=True, nogil=True)
def _bound(n):
    """Buffer size that holds the encoding of any mask of ``n`` pixels (with 44 bytes spare)."""
    d = 1
    v = n
    while v >= 10:
        v //= 10
        d += 1
    return ((n + 1) // 2) * (2 * d + 2) + 44


@njit(cache=True, nogil=True)
def _encoded_size(a):
    """Bytes of the ASCII encoding of ``a``, or ``-1 - offset`` for a bad value."""
    size = _bound(a.size)
    k = _encode_bounded(a, np.empty(size, np.uint8), np.int64(0), size)
    return k + 1 if k < -1 else k


@njit(cache=True, nogil=True)
def _encode_bounded(a, buf, k, kmax):
    """Encode ``a`` into ``buf[k:kmax]``.

    Returns the new end, ``-1`` when the encoding does not fit (``a`` is then
    only partly checked), or ``-2 - offset`` for a bad value at ``offset``.

    One flat loop: the run finder of :func:`_next_run` written out once, its
    target value toggling between 1 and 0, with no ``inline="always"`` callee
    (only :func:`_skip`, compiled once on its own) and no ``ndarray.view``
    (:func:`_u64`). A cold first call compiles in about a third of the time of
    the inlined ``_next_run`` / ``_find`` / ``_put`` version. The scan is the
    same: 64-bit words, whole words of the value not wanted are skipped, the
    first wanted byte of a word comes from a trailing-zero count, and every
    word looked at is checked for values above 1.
    """
    n = a.size
    nw = n >> 3
    w = _u64(a)
    pos = 0
    start = 0
    want = 1
    first = True
    while True:
        # first offset >= pos holding `want` (n if none)
        pattern = _ONES if want == 0 else _ZERO64  # words to skip
        found = -1
        scan = -1  # start of a word that holds a value above 1
        wi = pos >> 3
        if wi < nw:
            v = w[wi]
            if v & _HIGH:
                scan = wi * 8
            else:
                x = (v ^ pattern) >> np.uint64(8 * (pos & 7))
                if x != _ZERO64:
                    found = pos + np.int64(_ctz(x) >> np.uint64(3))
                else:
                    wi = _skip(w, wi + 1, pattern)
                    if wi < nw:
                        v = w[wi]
                        if v & _HIGH:
                            scan = wi * 8
                        else:
                            found = wi * 8 + np.int64(_ctz(v ^ pattern) >> np.uint64(3))
        if scan >= 0:
            for j in range(scan, n):
                if a[j] > 1:
                    return -2 - j
        if found < 0:
            found = n
            for j in range(pos if pos > nw << 3 else nw << 3, n):
                c = a[j]
                if c == want:
                    found = j
                    break
                if c > 1:
                    return -2 - j
        if want == 1:
            if found >= n:
                return k
            start = found
            pos = start + 1
            want = 0
            continue
        # a run start..found: write "start+1 length"
        if k + 44 > kmax:
            return -1
        if not first:
            buf[k] = 32
            k += 1
        first = False
        k = _put(buf, k, start + 1)
        buf[k] = 32
        k = _put(buf, k + 1, found - start)
        pos = found
        want = 1


@njit(cache=True, nogil=True)
def _put(out, p, v):
    """Write the decimal digits of ``v >= 0`` at ``out[p:]``; return the new end."""
    d = 1
    t = v
    while t >= 10:
        t //= 10
        d += 1
    i = p + d - 1
    while i >= p:
        out[i] = 48 + v % 10
        v //= 10
        i -= 1
    return p + d


@njit(cache=True, nogil=True)
def _gather(masks, slots, ends):
    """Join the slot texts (re-encoding masks that overflowed their slot)."""
    nitem = masks.shape[0]
    sizes = np.empty(nitem, np.int64)
    for i in range(nitem):
        e = ends[i]
        if e <= -2:
            return E_VALUE, i, -2 - e, np.empty(0, np.uint8)
        if e == -1:
            size = _encoded_size(masks[i])
            if size < 0:
                return E_VALUE, i, -1 - size, np.empty(0, np.uint8)
            sizes[i] = size
        else:
            sizes[i] = e
    total = 0
    for i in range(nitem):
        total += sizes[i] + 1
    buf = np.empty(total, np.uint8)
    k = np.int64(0)  # not a literal 0: that would compile a second _encode_bounded
    for i in range(nitem):
        if ends[i] == -1:
            # validated by _encoded_size, and buf holds exactly sizes[i] bytes here
            k = _encode_bounded(masks[i], buf, k, k + sizes[i] + 44)
        else:
            row = slots[i]
            for j in range(sizes[i]):  # a loop: a slice copy compiles numba's size-mismatch error (5 s)
                buf[k + j] = row[j]
            k += sizes[i]
        buf[k] = 10
        k += 1
    return OK, -1, 0, buf


@njit(cache=True, nogil=True, parallel=True)
def encode_many(masks, slots):
    """Encode each row of the 2-D uint8 ``masks``; return (code, item, offset, buf).

    One pass over the masks, in parallel: each is encoded into its own row of
    ``slots`` (``slots.shape[0] >= masks.shape[0]``); the rare mask whose text
    does not fit its slot is encoded again straight into the result. ``buf``
    holds every encoding followed by a newline. On a bad value, ``code`` is
    ``E_VALUE`` and ``item`` / ``offset`` locate the first one (lowest item).
    """
    nitem = masks.shape[0]
    width = slots.shape[1]
    ends = np.empty(nitem, np.int64)
    start = np.int64(0)  # not a literal 0: one compiled _encode_bounded for every caller
    for i in prange(nitem):
        ends[i] = _encode_bounded(masks[i], slots[i], start, width)
    return _gather(masks, slots, ends)


@njit(cache=True, nogil=True)
def encode_many_serial(masks, slots):
    """:func:`encode_many` on the calling thread (small batches)."""
    nitem = masks.shape[0]
    width = slots.shape[1]
    ends = np.empty(nitem, np.int64)
    start = np.int64(0)
    for i in range(nitem):
        ends[i] = _encode_bounded(masks[i], slots[i], start, width)
    return _gather(masks, slots, ends)


@njit(cache=True, nogil=True)
def runs(a):
    """Runs of ones in the flat uint8 ``a``; return (code, offset, starts, lengths).

    Starts are 1-based.
    """
    n = a.size
    w = _words(a)
    count = 0
    pos = 0
    while pos < n:
        s, e = _next_run(a, w, pos, n)
        if s < 0:
            return E_VALUE, e, np.empty(0, np.int64), np.empty(0, np.int64)
        if s >= n:
            break
        count += 1
        pos = e
    starts = np.empty(count, np.int64)
    lengths = np.empty(count, np.int64)
    pos = 0
    for r in range(count):
        s, e = _next_run(a, w, pos, n)
        starts[r] = s + 1
        lengths[r] = e - s
        pos = e
    return OK, -1, starts, lengths
