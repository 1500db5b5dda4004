"""Kaggle run-length strings: ``"start length start length ..."``.

Format
------
A mask of shape ``(height, width)`` is numbered pixel by pixel, **row by row**
(C order, ``order="C"``, the default and what the UW-Madison GI Tract
``train.csv`` actually uses) or column by column (``order="F"``, used by many
other Kaggle data sets). Pixel numbers start at **1**. A run is a start pixel
and a length; the string lists the runs of ones as ASCII decimal integers
separated by whitespace (single or repeated spaces, tabs or newlines; leading
and trailing whitespace is ignored). Runs are sorted and do not overlap. An
empty mask is ``""``; ``None``, ``""``, NaN and ``pd.NA`` decode to an empty mask.

Worked example, a 3 x 4 mask::

    0 1 1 0         C order: 0 1 1 0 | 0 0 1 1 | 1 0 0 0
    0 0 1 1             pixels 2-3 and 7-9 are set   -> "2 2 7 3"
    1 0 0 0         F order: 0 0 1 | 1 0 0 | 1 1 0 | 0 1 0
                        pixels 3-4, 7-8 and 11       -> "3 2 7 2 11 1"

>>> import numpy as np
>>> m = np.array([[0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=np.uint8)
>>> encode(m)
'2 2 7 3'
>>> encode(m, order="F")
'3 2 7 2 11 1'
>>> bool((decode("2 2 7 3", (3, 4)) == m).all())
True

The order is a property of the *format*, never of the array's memory layout:
a Fortran-ordered or strided array encodes exactly like its C-ordered copy.

Other dialects are explicit keywords of every function, never guessed:
``base=0`` (0-based starts), ``relative=True`` (each start counted from the end
of the previous run, SIIM-ACR) and ``empty_token="-1"`` (a string that also
means an empty mask); :mod:`rlemask.dialects` names the competitions' presets
and converts between them. ``docs/format.md`` lists them.

>>> encode(m, order="F", base=0, relative=True)
'2 2 2 2 2 1'

Bad input raises :class:`~rlemask.errors.InvalidRleError` (a ``ValueError``)
naming the token or run, its values and what was expected: an odd number of
tokens, a token that is not an ASCII decimal integer, a start below 1, a run
past ``height * width``, runs out of order or overlapping (``strict=True``, the
default; ``strict=False`` takes the union of the runs), a shape that is not two
non-negative ints. Every check happens before the first byte of the output is
written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import re

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rlemask import _codes as _c
from rlemask import _convert as _cv
from rlemask import _tier
from rlemask.errors import InvalidMaskError, InvalidRleError, RlemaskError

__all__ = ["encode", "decode", "encode_many", "decode_many", "area", "runs", "from_runs"]

# encode_many: masks per kernel call, and bytes of text kept per mask before the
# (rare) second pass for masks with long encodings. The slot grows with the mask
# (1 byte per 32 pixels, at most _SCRATCH) so that large masks (1024x1024: ~30 KB
# of text) fit at the first pass; the chunk shrinks so slots stay near _SLOTS_BYTES.
_CHUNK = 4096
_SLOT = 2048
_SLOTS_BYTES = 1 << 23
# encode: text is written into a per-thread scratch buffer of this many bytes
# (no new array per call); longer encodings fall back to a growing buffer
_SCRATCH = 1 << 16
_scratch = threading.local()
# batches with fewer pixels run on the calling thread (starting threads costs more)
_PARALLEL_PIXELS = 1 << 20
# decode: strings up to this many bytes are decoded in pure Python while the kernels
# are not loaded yet (rlemask._tier: a CLI call on one string never imports numba)
_PY_BYTES = 4096
# how to fix a mask of 0/255 values, in every bad-value message of the codec
_HINT = "; for 0/255 or other non-zero foreground values pass nonzero=True"


class _LazyKernels:
    """:mod:`rlemask._kernels`, imported (with numba) on first use."""

    def __getattr__(self, name: str) -> Any:
        from rlemask import _kernels

        globals()["_k"] = _kernels
        return getattr(_kernels, name)


_k: Any = _LazyKernels()


# a token of the Kaggle format: bytes other than the separators (space, \t..\r)
_TOKEN = re.compile(rb"[^ \t\n\r\x0b\x0c]+")


def _decode_py(data: bytes, flat: np.ndarray, strict: bool) -> tuple[int, int, int]:
    """:func:`rlemask._kernels.decode_into` in pure Python, for short strings.

    Same error codes, same first error, same result; used only while the
    kernels are not loaded (it spares a short-lived process numba's start-up).
    """
    tokens = data.split()
    if all(t.isdigit() and len(t) <= 16 for t in tokens):  # below BIG at every digit
        values = [int(t) for t in tokens]
    else:
        values = []
        for ntok, m in enumerate(_TOKEN.finditer(data)):
            v = 0
            for i in range(m.start(), m.end()):
                d = data[i] - 48
                if d < 0 or d > 9:
                    return _c.E_TOKEN, ntok, i
                if v >= _c.BIG:
                    return _c.E_BIG, ntok, m.start()
                v = v * 10 + d
            values.append(v)
    if len(values) & 1:
        return _c.E_ODD, len(values), len(data)
    n = flat.size
    nrun = len(values) // 2
    prev_end = 0
    for r in range(nrun):
        s, length = values[2 * r], values[2 * r + 1]
        if s < 1:
            return _c.E_START, r, 0
        if length > n or s - 1 > n - length:
            return _c.E_END, r, 0
        if strict:
            if s <= prev_end:
                return _c.E_ORDER, r, 0
            prev_end = s - 1 + length
    flat[:] = 0
    for r in range(nrun):
        s = values[2 * r] - 1
        flat[s : s + values[2 * r + 1]] = 1
    return _c.OK, nrun, 0


def _encode_np(flat: np.ndarray) -> tuple[int, Any]:
    """:func:`rlemask._kernels.encode_into` in numpy (see :mod:`rlemask._tier`).

    Returns ``(OK, text)`` or ``(E_VALUE, offset of the first value above 1)``.
    """
    bad = np.flatnonzero(flat > 1)
    if bad.size:
        return _c.E_VALUE, int(bad[0])
    edges = np.flatnonzero(np.diff(flat, prepend=np.uint8(0), append=np.uint8(0)))
    edges[1::2] -= edges[::2]
    edges[::2] += 1
    return _c.OK, " ".join(map(str, edges.tolist()))


def get_num_threads() -> int:
    """numba's thread count (numba imported on first use; tests patch this name)."""
    from numba import get_num_threads as threads

    return threads()


# ----------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------


def _check_order(order: str) -> None:
    if order != "C" and order != "F":
        raise RlemaskError(f"order={order!r} is not a pixel order; expected 'C' (row by row) or 'F' (column by column)")


def _is_int(x: Any) -> bool:
    if type(x) is int:  # the common case, without the abstract-class checks below
        return True
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_shape(shape: Any) -> tuple[int, int]:
    if type(shape) is tuple and len(shape) == 2:  # fast path
        h, w = shape
        if type(h) is int and type(w) is int and 0 <= h <= _MAX_PIXELS and 0 <= w <= _MAX_PIXELS:
            if h * w <= _MAX_PIXELS:
                return h, w
    try:
        items = tuple(shape)
    except TypeError:
        raise InvalidRleError(
            f"shape={shape!r} is not a shape; expected (height, width), two non-negative ints"
        ) from None
    if len(items) != 2 or not all(_is_int(v) for v in items):
        raise InvalidRleError(f"shape={shape!r} is not a shape; expected (height, width), two non-negative ints")
    h, w = int(items[0]), int(items[1])
    if h < 0 or w < 0:
        raise InvalidRleError(f"shape={shape!r} has a negative size; expected (height, width), two non-negative ints")
    if max(h, w, h * w) > _MAX_PIXELS:  # pixel offsets and numpy sizes are int64
        raise InvalidRleError(
            f"shape={shape!r} has {h * w} pixels or a side past {_MAX_PIXELS} (2**63 - 1), "
            "more than an int64 pixel offset holds"
        )
    return h, w


#: most pixels a mask can have: its pixel offsets are int64
_MAX_PIXELS = 2**63 - 1


def _ascii(text: str, where: str = "rle", item: int | None = None) -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError as exc:
        pos = exc.start
        tok = len(text[:pos].split())
        if pos > 0 and not text[pos - 1].isspace() and tok:
            tok -= 1
        reason = (
            f"character {pos} ({text[pos]!r}) in token {tok} is not ASCII; "
            "expected decimal digits 0-9 separated by whitespace"
        )
        raise InvalidRleError(f"{where}: {reason}", token=tok, offset=pos, item=item, reason=reason) from None


def _preview(data: bytes, limit: int = 60) -> str:
    text = data.decode("ascii", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _raise_parse(
    code: int,
    idx: int,
    off: int,
    data: bytes,
    shape: tuple[int, int] | None,
    where: str = "rle",
    item: int | None = None,
):
    """Turn a kernel error code into an InvalidRleError (``item``: index in a batch)."""
    reason, fields = _parse_reason(code, idx, off, data, shape)
    raise InvalidRleError(f"{where}: {reason}", item=item, reason=reason, **fields)


def _parse_reason(
    code: int, idx: int, off: int, data: bytes, shape: tuple[int, int] | None
) -> tuple[str, dict[str, int]]:
    """The message (without location) and the structured fields of a kernel error code."""
    n = None if shape is None else shape[0] * shape[1]
    shape_txt = "" if shape is None else f" of shape=({shape[0]}, {shape[1]})"
    if code == _c.E_ODD:
        return (
            f"odd number of tokens ({idx}) in {_preview(data)}; "
            "expected start/length pairs (an even number of integers)"
        ), {"token": idx - 1}
    if code in (_c.E_TOKEN, _c.E_BIG):
        tokens = data.split()
        tok = tokens[idx].decode("ascii", "replace") if idx < len(tokens) else ""
        if code == _c.E_TOKEN:
            hint = " (for '-1' as an empty mask, as SIIM-ACR writes it, pass empty_token='-1')" if tok == "-1" else ""
            return (
                f"token {idx} ({tok!r}, character {off}) is not an ASCII decimal integer; "
                f"expected digits 0-9 separated by whitespace{hint}"
            ), {"token": idx, "offset": off}
        limit = "" if n is None else f"; starts and lengths must be at most {n + 1} for the {n} pixels{shape_txt}"
        return (
            f"token {idx} ({tok[:30]}{'...' if len(tok) > 30 else ''}) is too large{limit}"
        ), {"token": idx, "offset": off}
    tokens = data.split()
    r = idx
    s, length = int(tokens[2 * r]), int(tokens[2 * r + 1])
    if code == _c.E_START:
        return (
            f"run {r} (start={s}, length={length}) has start < 1; starts are 1-indexed (pass base=0 "
            "for 0-based starts)"
        ), {"run": r, "token": 2 * r}
    if code == _c.E_END:
        return (
            f"run {r} (start={s}, length={length}) ends at pixel {s + length - 1}, "
            f"past the {n} pixels{shape_txt}; check the shape (height, width) and the order"
        ), {"run": r, "token": 2 * r, "offset": s - 1}
    if code == _c.E_ORDER:
        ps, pl = int(tokens[2 * r - 2]), int(tokens[2 * r - 1])
        return (
            f"run {r} (start={s}, length={length}) starts before run {r - 1} "
            f"(start={ps}, length={pl}) ends at pixel {ps + pl - 1}; runs must be sorted and "
            "non-overlapping (pass strict=False to take their union)"
        ), {"run": r, "token": 2 * r, "offset": s - 1}
    return f"invalid run-length string {_preview(data)} (code {code})", {}  # pragma: no cover


def _as_mask01(mask: ArrayLike, ndim: int, name: str = "mask", nonzero: bool = False) -> np.ndarray:
    """``mask`` as a uint8 0/1 array of ``ndim`` dims (uint8 values are checked by the kernel)."""
    dims = "(height, width)" if ndim == 2 else "(n, height, width)"
    return _cv.as_binary(mask, name, ndim=ndim, dims=dims, nonzero=nonzero, check_uint8=False, hint=_HINT)


def _bad_value(a: np.ndarray, flat_offset: int, order: str, name: str = "mask") -> InvalidMaskError:
    idx = np.unravel_index(flat_offset, a.shape, order=order)
    return _cv.bad_value(name, idx, a[idx], _HINT)



# ----------------------------------------------------------------------------------
# dialects: 0- or 1-based starts, absolute or relative offsets, a token for "empty"
# ----------------------------------------------------------------------------------


def _check_dialect(base: Any, relative: Any, empty_token: Any) -> None:
    if not (_is_int(base) and base in (0, 1)):
        raise RlemaskError(
            f"base={base!r} is not an index base; expected 1 (the first pixel is 1, Kaggle's usual) or 0"
        )
    if not isinstance(relative, (bool, np.bool_)):
        raise RlemaskError(
            f"relative={relative!r} is not a bool; expected False (absolute starts) or True (each start "
            "counted from the end of the previous run, as SIIM-ACR)"
        )
    if empty_token is not None and (not isinstance(empty_token, str) or not empty_token.strip()):
        raise RlemaskError(
            f"empty_token={empty_token!r}: expected None or a non-blank string such as '-1' (SIIM-ACR's empty mask)"
        )


def _plain(base: int, relative: bool, empty_token: str | None) -> bool:
    """True for the default dialect (1-based absolute starts, no empty token): the fast paths."""
    return type(base) is int and base == 1 and relative is False and empty_token is None


def _dialect_pairs(
    text: str,
    n: int | None,
    shape: tuple[int, int] | None,
    base: int,
    relative: bool,
    strict: bool,
    where: str,
    item: int | None = None,
) -> np.ndarray:
    """Interleaved (start, length) pairs of ``text`` in the default dialect (1-based
    absolute starts), validated against ``n`` pixels (``None``: no bound)."""
    data = _ascii(text, where, item)
    code, idx, off, pairs = _k.parse(np.frombuffer(data, np.uint8))
    if code != _c.OK:
        _raise_parse(code, idx, off, data, shape, where, item)
    written = pairs.copy()
    starts, lengths = pairs[0::2], pairs[1::2]
    label = "offset" if relative else "start"

    def fail(r: int, what: str, **fields: int) -> None:
        reason = f"run {r} ({label}={int(written[2 * r])}, length={int(written[2 * r + 1])}) {what}"
        raise InvalidRleError(f"{where}: {reason}", run=r, token=2 * r, item=item, reason=reason, **fields)

    bound = (1 << 62) if n is None else n + 1
    big = np.flatnonzero(pairs > bound)
    if big.size:  # also keeps the sums of relative offsets far from int64 overflow
        r = int(big[0]) // 2
        fail(r, f"holds a number above {bound}" + ("" if shape is None else f", past the {n} pixels of shape={shape}"))
    if relative:
        if pairs.size and float(pairs.sum(dtype=np.float64)) > float(1 << 62):
            fail(0, "and the runs after it add up past the int64 range")
        ends = np.cumsum(starts + lengths)
        zero_based = ends - lengths - base
    else:
        zero_based = starts - base
    bad = np.flatnonzero(zero_based < 0)
    if bad.size:
        fail(int(bad[0]), f"has {label} < 1; with base=1 the first pixel is 1 (pass base=0 for 0-based starts)")
    pairs[0::2] = zero_based + 1
    code, r = _k.check_runs(pairs, (1 << 62) if n is None else n, bool(strict))
    if code != _c.OK:
        s0, ln = int(pairs[2 * r]) - 1, int(pairs[2 * r + 1])
        if code == _c.E_END:
            fail(r, f"covers pixels {s0}..{s0 + ln - 1} (0-based), past the {n} pixels of shape={shape}; check "
                    "the shape (height, width), the order and the dialect (base=, relative=)", offset=s0)
        prev_end = int(pairs[2 * r - 2]) - 1 + int(pairs[2 * r - 1])
        fail(r, f"starts at pixel {s0} (0-based), before run {r - 1} ends at pixel {prev_end - 1}; runs must be "
                "sorted and non-overlapping (pass strict=False to take their union)", offset=s0)
    return pairs


def _dialect_text(starts: np.ndarray, lengths: np.ndarray, base: int, relative: bool, empty_token: str | None) -> str:
    """Runs given by 1-based absolute ``starts`` and ``lengths`` as a string of the dialect."""
    if starts.size == 0:
        return "" if empty_token is None else empty_token
    out = np.empty(2 * starts.size, np.int64)
    zero_based = starts - 1
    if relative:
        prev_end = np.empty_like(zero_based)
        prev_end[0] = 0
        prev_end[1:] = zero_based[:-1] + lengths[:-1]
        out[0::2] = zero_based - prev_end  # gaps; the first counts from pixel ``base``
        out[0] += base
    else:
        out[0::2] = zero_based + base
    out[1::2] = lengths
    return " ".join(map(str, out.tolist()))


def _is_empty_token(text: str, empty_token: str | None) -> bool:
    return empty_token is not None and text.strip() == empty_token


def _decode_dialect(text: str, flat: np.ndarray, shape: tuple[int, int], base: int, relative: bool,
                    empty_token: str | None, strict: bool, where: str, item: int | None = None) -> None:
    """Decode one string of any dialect into the contiguous flat ``flat`` (every byte written)."""
    if not text or _is_empty_token(text, empty_token):
        flat[:] = 0
        return
    pairs = _dialect_pairs(text, flat.size, shape, base, relative, strict, where, item)
    _k.fill_runs(pairs, flat, bool(strict))


# ----------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------


def encode(
    mask: ArrayLike,
    *,
    order: str = "C",
    base: int = 1,
    relative: bool = False,
    empty_token: str | None = None,
    nonzero: bool = False,
) -> str:
    """Encode a 2-D 0/1 mask as a run-length string.

    Parameters
    ----------
    mask : array_like
        2-D array of 0/1 values (any integer or float dtype) or bool, any memory
        layout (C, Fortran, strided views).
    order : {"C", "F"}, optional
        Pixel order of the format: ``"C"`` row by row (default, UWMGI),
        ``"F"`` column by column. Independent of the array's memory layout.
    base : {1, 0}, optional
        Index of the first pixel in the starts: 1 (default, Kaggle's usual) or 0.
    relative : bool, optional
        False (default): absolute starts. True: each start counted from the end
        of the previous run (the first from pixel ``base``), as SIIM-ACR writes them.
    empty_token : str, optional
        What an empty mask encodes to instead of ``""`` (SIIM-ACR: ``"-1"``).
    nonzero : bool, optional
        False (default): only 0 and 1 are accepted. True: any non-zero value is
        foreground (0/255 PNG masks) and a trailing channel of size 1,
        ``(H, W, 1)``, is dropped.

    Returns
    -------
    str
        ``"start length ..."``; ``""`` (or ``empty_token``) for an empty mask.

    Raises
    ------
    InvalidMaskError
        ``mask`` is not 2-D, or holds a value other than 0 and 1 (NaN with
        ``nonzero=True``).
    RlemaskError
        ``order``, ``base``, ``relative`` or ``empty_token`` is not valid.

    Examples
    --------
    >>> import numpy as np
    >>> encode(np.array([[0, 1, 1], [1, 0, 0]]))
    '2 3'
    >>> encode(np.array([[0, 1, 1], [1, 0, 0]]), order="F")
    '2 2 5 1'
    >>> encode(np.zeros((2, 2), dtype=bool))
    ''
    >>> encode(np.array([[0, 255, 255], [255, 0, 0]])[..., None], nonzero=True)
    '2 3'
    >>> encode(np.array([[0, 1, 1], [1, 0, 1]]), base=0, relative=True)
    '1 3 1 1'
    """
    if order != "C":
        _check_order(order)
    if not _plain(base, relative, empty_token):
        _check_dialect(base, relative, empty_token)
        starts, lengths = runs(mask, order=order, nonzero=nonzero)
        return _dialect_text(starts, lengths, base, relative, empty_token)
    a = _as_mask01(mask, 2, nonzero=nonzero)
    flat = np.ravel(a, order=order)  # contiguous (reshape(-1) may give a strided view)
    if _tier.use_twin("rlemask._kernels", flat.nbytes):
        code, value = _encode_np(flat)
        if code == _c.OK:
            return value
        raise _bad_value(a, value, order)
    buf = getattr(_scratch, "buf", None)
    if buf is None:
        buf = _scratch.buf = np.empty(_SCRATCH, np.uint8)
    code, value = _k.encode_into(flat, buf)
    if code == _c.E_SPACE:  # a long encoding: let the kernel grow its own buffer
        code, value, buf, length = _k.encode(flat)
    else:
        length = value
    if code != _c.OK:
        raise _bad_value(a, value, order)
    if length == 0:
        return ""
    return buf[:length].tobytes().decode("ascii")


def decode(
    rle: str | None,
    shape: tuple[int, int],
    *,
    order: str = "C",
    base: int = 1,
    relative: bool = False,
    empty_token: str | None = None,
    strict: bool = True,
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Decode a run-length string into a 2-D uint8 mask.

    Parameters
    ----------
    rle : str or None
        ``"start length ..."``; ``None``, ``""``, NaN, ``pd.NA`` and ``pd.NaT``
        give an empty mask.
    shape : tuple of int
        ``(height, width)``, two non-negative ints.
    order : {"C", "F"}, optional
        Pixel order of the format (``"C"`` row by row, the default).
    base : {1, 0}, optional
        Index of the first pixel in the starts (1, the default, or 0).
    relative : bool, optional
        True when each start is counted from the end of the previous run
        (SIIM-ACR); False (default) for absolute starts. Never guessed: a
        one-run string reads the same either way.
    empty_token : str, optional
        A string that also means an empty mask, e.g. ``"-1"`` (SIIM-ACR).
    strict : bool, optional
        If True (default), runs must be sorted and non-overlapping; if False,
        the mask is the union of the runs in any order.
    out : ndarray, optional
        A writeable uint8 array of shape ``shape`` to fill (every element is
        written) instead of allocating a new one; fastest when it is
        C-contiguous for ``order="C"`` (F-contiguous for ``order="F"``).

    Returns
    -------
    ndarray of uint8, shape ``(height, width)``
        0/1 values; ``out`` when given. For ``order="F"`` a new array is
        Fortran-contiguous.

    Raises
    ------
    InvalidRleError
        The string or shape is malformed (see the module docstring); raised
        before anything is written to ``out``.

    Examples
    --------
    >>> decode("2 3", (2, 3))
    array([[0, 1, 1],
           [1, 0, 0]], dtype=uint8)
    >>> decode("2 2 5 1", (2, 3), order="F")
    array([[0, 1, 1],
           [1, 0, 0]], dtype=uint8)
    >>> decode(None, (1, 2))
    array([[0, 0]], dtype=uint8)
    >>> decode("1 3 1 1", (2, 3), base=0, relative=True)
    array([[0, 1, 1],
           [1, 0, 1]], dtype=uint8)
    >>> decode("-1", (1, 2), empty_token="-1")
    array([[0, 0]], dtype=uint8)
    >>> decode("5 2", (2, 2))
    Traceback (most recent call last):
    ...
    rlemask.errors.InvalidRleError: rle: run 0 (start=5, length=2) ends at pixel 6, past the 4 pixels of shape=(2, 2); check the shape (height, width) and the order
    """
    h, w = _check_shape(shape)
    if order != "C":
        _check_order(order)
    text = rle if type(rle) is str else _cv.rle_text(rle)
    if not _plain(base, relative, empty_token):
        _check_dialect(base, relative, empty_token)
        if _is_empty_token(text, empty_token):
            text = ""
        elif text:
            return _decode_with(out, (h, w), order, lambda flat: _decode_dialect(
                text, flat, (h, w), base, relative, empty_token, strict, "rle"))
    if not text:  # the common empty mask: no kernel call
        if out is None:
            return np.zeros((h, w), np.uint8, order=order)
        out = _check_out(out, (h, w))
        out[...] = 0
        return out
    try:
        data = text.encode("ascii")
    except UnicodeEncodeError:
        _ascii(text)
        raise  # pragma: no cover
    target = None
    if out is None:
        if order == "C":
            res = np.empty((h, w), np.uint8)
            flat = res.reshape(-1)
        else:
            res, flat = _alloc(None, h, w, order)
    else:
        out = _check_out(out, (h, w))
        flat = _flat_view(out, order)
        res = out
        if flat is None:
            target = out
            res, flat = _alloc(None, h, w, order)
    if len(data) <= _PY_BYTES and _tier.use_twin("rlemask._kernels", flat.nbytes):
        code, idx, off = _decode_py(data, flat, bool(strict))
    else:
        pairs = np.empty((len(data) + 1) // 2, np.int64)
        code, idx, off = _k.decode_into(np.frombuffer(data, np.uint8), flat, bool(strict), pairs)
    if code != _c.OK:
        _raise_parse(code, idx, off, data, (h, w))
    if target is not None:
        target[...] = res
        return target
    return res


def _decode_with(out: Any, shape: tuple[int, ...], order: str, fill: Any) -> np.ndarray:
    """Allocate (or check ``out``), call ``fill(flat)`` on a contiguous flat view in pixel
    ``order`` (per item for a batch), copy into ``out`` when it has no such view."""
    nitem = shape[0] if len(shape) == 3 else None
    h, w = shape[-2:]
    target = None
    if out is None:
        res, flat = _alloc(nitem, h, w, order)
    else:
        out = _check_out(out, shape)
        flat = _flat_view(out, order)
        res = out
        if flat is None:
            target = out
            res, flat = _alloc(nitem, h, w, order)
    fill(flat)  # raises before anything is written to a target
    if target is not None:
        target[...] = res
        return target
    return res


def _alloc(nitem: int | None, h: int, w: int, order: str, zeros: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A new result array and its flat (per item) view in pixel ``order``.

    ``zeros`` for a batch: ``np.zeros`` of a large size maps zero pages lazily, so
    the kernel writes only the ones and never touches the pages of empty masks.
    """
    if nitem is None:
        if order == "C":
            res = np.empty((h, w), np.uint8)
            return res, res.reshape(-1)
        base = np.empty((w, h), np.uint8)
        return base.T, base.reshape(-1)
    make = np.zeros if zeros else np.empty
    if order == "C":
        res = make((nitem, h, w), np.uint8)
        return res, res.reshape(nitem, h * w)
    base = make((nitem, w, h), np.uint8)
    return base.transpose(0, 2, 1), base.reshape(nitem, h * w)


def _check_out(out: Any, shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(out, np.ndarray) and type(out) is not np.ndarray:
        # a subclass (np.matrix, masked array) reshapes and indexes its own way
        raise RlemaskError(
            f"out is a {type(out).__module__}.{type(out).__name__}, a numpy array subclass; expected a plain "
            f"uint8 numpy array of shape {shape} (np.asarray(out) is a view that can be passed instead)"
        )
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != shape:
        found = f"{type(out).__name__}" if not isinstance(out, np.ndarray) else f"dtype={out.dtype}, shape={out.shape}"
        raise RlemaskError(f"out ({found}) does not fit; expected a uint8 numpy array of shape {shape}")
    if not out.flags.writeable:
        raise RlemaskError("out is read-only; expected a writeable uint8 array")
    return out


def _flat_view(out: np.ndarray, order: str) -> np.ndarray | None:
    """A flat view of ``out`` in pixel ``order`` over its last two axes, or None."""
    if order == "C":
        if out.flags.c_contiguous:
            return out.reshape(out.shape[0], out.shape[1] * out.shape[2]) if out.ndim == 3 else out.reshape(-1)
        return None
    t = out.T if out.ndim == 2 else out.transpose(0, 2, 1)
    if t.flags.c_contiguous:
        return t.reshape(t.shape[0], t.shape[1] * t.shape[2]) if t.ndim == 3 else t.reshape(-1)
    return None


def encode_many(
    masks: ArrayLike,
    *,
    order: str = "C",
    base: int = 1,
    relative: bool = False,
    empty_token: str | None = None,
    nonzero: bool = False,
) -> list[str]:
    """Encode a batch of masks ``(n, height, width)`` in parallel.

    Parameters
    ----------
    masks : array_like
        3-D array of 0/1 values or bool, any memory layout.
    order : {"C", "F"}, optional
        Pixel order of the format (``"C"`` row by row, the default).
    base, relative, empty_token, nonzero
        The dialect and the mask values, as in :func:`encode`
        (``nonzero=True`` also accepts ``(n, H, W, 1)``).

    Returns
    -------
    list of str
        One run-length string per mask, equal to ``[encode(m) for m in masks]``.

    Raises
    ------
    InvalidMaskError
        ``masks`` is not 3-D or holds a value other than 0 and 1.

    Examples
    --------
    >>> import numpy as np
    >>> encode_many(np.array([[[0, 1], [1, 1]], [[0, 0], [0, 0]]]))
    ['2 3', '']
    """
    _check_order(order)
    plain = _plain(base, relative, empty_token)
    if not plain:
        _check_dialect(base, relative, empty_token)
    a = _as_mask01(masks, 3, "masks", nonzero=nonzero)
    if not plain:
        return [_restyle(t, base, relative, empty_token) for t in encode_many(a, order=order)]
    nitem = a.shape[0]
    if nitem == 0:
        return []
    if order == "C":
        flat = np.ascontiguousarray(a).reshape(nitem, a.shape[1] * a.shape[2])
    else:
        flat = np.ascontiguousarray(a.transpose(0, 2, 1)).reshape(nitem, a.shape[1] * a.shape[2])
    # one slot of text per mask, reused from chunk to chunk: the masks are read once
    npix = a.shape[1] * a.shape[2]
    slot = min(max(_SLOT, npix // 32), _SCRATCH)
    chunk = min(nitem, max(1, min(_CHUNK, _SLOTS_BYTES // slot)))
    parallel = get_num_threads() > 1
    slots = np.empty((chunk, slot), np.uint8)
    texts: list[str] = []
    for lo in range(0, nitem, chunk):
        part = flat[lo : lo + chunk]
        kernel = _k.encode_many if parallel and part.size >= _PARALLEL_PIXELS else _k.encode_many_serial
        code, item, off, buf = kernel(part, slots)
        if code != _c.OK:
            err = _bad_value(a[lo + item], off, order, f"masks[{lo + item}]")
            err.item = lo + item
            raise err
        texts += buf[:-1].tobytes().decode("ascii").split("\n")
    return texts


def _restyle(text: str, base: int, relative: bool, empty_token: str | None) -> str:
    """A string of the default dialect rewritten in another one."""
    if not text:
        return "" if empty_token is None else empty_token
    pairs = _k.parse(np.frombuffer(text.encode("ascii"), np.uint8))[3]
    return _dialect_text(pairs[0::2], pairs[1::2], base, relative, empty_token)


def decode_many(
    rles: Iterable[str | None],
    shape: tuple[int, int],
    *,
    order: str = "C",
    base: int = 1,
    relative: bool = False,
    empty_token: str | None = None,
    strict: bool = True,
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Decode a batch of run-length strings of one shape in parallel.

    Parameters
    ----------
    rles : sequence of str or None
        Run-length strings (a list, a pandas Series, ...); missing values
        (``None``, NaN, ``pd.NA``) give empty masks.
    shape : tuple of int
        ``(height, width)`` of every mask.
    order : {"C", "F"}, optional
        Pixel order of the format (``"C"`` row by row, the default).
    base, relative, empty_token
        The dialect, as in :func:`decode`.
    strict : bool, optional
        If True (default), runs must be sorted and non-overlapping.
    out : ndarray, optional
        A writeable uint8 array ``(n, height, width)`` to fill instead of
        allocating (every element is written).

    Returns
    -------
    ndarray of uint8, shape ``(n, height, width)``
        Equal to ``np.stack([decode(r, shape) for r in rles])``. For
        ``order="F"`` a new result is a transposed view of a C-contiguous
        ``(n, width, height)`` buffer.

    Raises
    ------
    InvalidRleError
        Any string is malformed; the message starts with ``rles[i]``. Nothing
        is written to ``out`` in that case.

    Examples
    --------
    >>> decode_many(["2 3", None, "1 1 4 1"], (2, 2))
    array([[[0, 1],
            [1, 1]],
    <BLANKLINE>
           [[0, 0],
            [0, 0]],
    <BLANKLINE>
           [[1, 0],
            [0, 1]]], dtype=uint8)
    """
    h, w = _check_shape(shape)
    _check_order(order)
    items = _cv.rle_texts(rles)
    nitem = len(items)
    if not _plain(base, relative, empty_token):
        _check_dialect(base, relative, empty_token)

        def fill(flat: np.ndarray) -> None:
            pairs = [  # every string is checked before the first write
                None if not t or _is_empty_token(t, empty_token)
                else _dialect_pairs(t, h * w, (h, w), base, relative, strict, f"rles[{i}]", i)
                for i, t in enumerate(items)
            ]
            for i, p in enumerate(pairs):
                if p is None:
                    flat[i] = 0
                else:
                    _k.fill_runs(p, flat[i], bool(strict))

        return _decode_with(out, (nitem, h, w), order, fill)
    joined = "".join(items)
    if not joined.isascii():
        j = next(i for i, t in enumerate(items) if not t.isascii())
        # the error of the first bad item, as a loop of decode would raise it
        decode_many(items[:j], (h, w), strict=strict)
        _ascii(items[j], f"rles[{j}]", j)
    data = joined.encode("ascii")
    offsets = np.zeros(nitem + 1, np.int64)
    if nitem:
        np.cumsum(np.fromiter(map(len, items), np.int64, nitem), out=offsets[1:])
    target = None
    zeroed = out is None
    if out is None:
        res, flat = _alloc(nitem, h, w, order, zeros=True)
    else:
        out = _check_out(out, (nitem, h, w))
        flat = _flat_view(out, order)
        res = out
        if flat is None:
            target = out
            res, flat = _alloc(nitem, h, w, order)
    buf = np.frombuffer(data, np.uint8)
    threads = get_num_threads()
    if threads > 1 and nitem * h * w >= _PARALLEL_PIXELS:
        status = _k.decode_many_into(buf, offsets, flat, bool(strict), zeroed, threads)
    else:
        status = _k.decode_many_into_serial(buf, offsets, flat, bool(strict), zeroed)
    bad = np.flatnonzero(status[:, 0])
    if bad.size:
        i = int(bad[0])
        code, idx, off = (int(v) for v in status[i])
        _raise_parse(code, idx, off, data[offsets[i] : offsets[i + 1]], (h, w), f"rles[{i}]", i)
    if target is not None:
        target[...] = res
        return target
    return res


def area(rle: str | None, *, base: int = 1, relative: bool = False, empty_token: str | None = None) -> int:
    """Number of pixels set by a run-length string, without decoding it.

    Parameters
    ----------
    rle : str or None
        ``"start length ..."``; missing values have area 0.
    base, relative, empty_token
        The dialect, as in :func:`decode`.

    Returns
    -------
    int
        The sum of the lengths.

    Raises
    ------
    InvalidRleError
        Malformed string, start below 1, or runs out of order / overlapping.

    Examples
    --------
    >>> area("2 3 10 4")
    7
    >>> area("")
    0
    """
    text = _cv.rle_text(rle)
    if not _plain(base, relative, empty_token):
        _check_dialect(base, relative, empty_token)
        if not text or _is_empty_token(text, empty_token):
            return 0
        return int(_dialect_pairs(text, None, None, base, relative, True, "rle")[1::2].sum())
    data = _ascii(text)
    code, idx, off, total = _k.area(np.frombuffer(data, np.uint8))
    if code != _c.OK:
        _raise_parse(code, idx, off, data, None)
    return int(total)


def runs(
    mask: ArrayLike, *, order: str = "C", nonzero: bool = False
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Runs of ones of a 2-D mask as integer arrays.

    Parameters
    ----------
    mask : array_like
        2-D 0/1 or bool array, any memory layout.
    order : {"C", "F"}, optional
        Pixel order (``"C"`` row by row, the default).
    nonzero : bool, optional
        Any non-zero value is foreground, ``(H, W, 1)`` accepted (as :func:`encode`).

    Returns
    -------
    starts, lengths : ndarray of int64
        1-based starts and lengths of the runs, sorted.

    Raises
    ------
    InvalidMaskError
        ``mask`` is not 2-D or holds a value other than 0 and 1.

    Examples
    --------
    >>> starts, lengths = runs([[0, 1, 1], [1, 0, 1]])
    >>> starts.tolist(), lengths.tolist()
    ([2, 6], [3, 1])
    """
    _check_order(order)
    a = _as_mask01(mask, 2, nonzero=nonzero)
    code, off, starts, lengths = _k.runs(np.ravel(a, order=order))
    if code != _c.OK:
        raise _bad_value(a, off, order)
    return starts, lengths


def from_runs(
    starts: ArrayLike,
    lengths: ArrayLike,
    shape: tuple[int, int],
    *,
    order: str = "C",
) -> NDArray[np.uint8]:
    """Build a mask from 1-based run starts and lengths (the inverse of :func:`runs`).

    Parameters
    ----------
    starts, lengths : array_like of int
        1-D integer arrays of the same size; runs sorted and non-overlapping.
    shape : tuple of int
        ``(height, width)``.
    order : {"C", "F"}, optional
        Pixel order (``"C"`` row by row, the default).

    Returns
    -------
    ndarray of uint8, shape ``shape``

    Raises
    ------
    InvalidRleError
        Sizes differ, non-integer values, a start below 1, a negative length, a
        run past the end, or runs out of order / overlapping.

    Examples
    --------
    >>> from_runs([2, 6], [3, 1], (2, 3))
    array([[0, 1, 1],
           [1, 0, 1]], dtype=uint8)
    """
    h, w = _check_shape(shape)
    _check_order(order)
    s = np.asarray(starts)
    ln = np.asarray(lengths)
    for name, v in (("starts", s), ("lengths", ln)):
        if v.ndim != 1 or (v.size and v.dtype.kind not in "iu"):
            raise InvalidRleError(f"{name} has shape {v.shape} and dtype {v.dtype}; expected a 1-D integer array")
        if v.dtype.kind == "u" and v.size and int(v.max()) > np.iinfo(np.int64).max:
            raise InvalidRleError(f"{name} holds a value above the int64 range")
    if s.size != ln.size:
        raise InvalidRleError(f"starts has {s.size} values and lengths {ln.size}; expected the same number")
    pairs = np.empty(2 * s.size, np.int64)
    pairs[0::2] = s
    pairs[1::2] = ln
    n = h * w
    code, r = _k.check_runs(pairs, n, True)
    if code != _c.OK:
        sv, lv = int(pairs[2 * r]), int(pairs[2 * r + 1])
        if code == _c.E_START:
            what = "has start < 1; starts are 1-indexed"
        elif code == _c.E_NEG:
            what = "has a negative length"
        elif code == _c.E_END:
            what = f"ends at pixel {sv + lv - 1}, past the {n} pixels of shape=({h}, {w})"
        else:
            ps, pl = int(pairs[2 * r - 2]), int(pairs[2 * r - 1])
            what = (
                f"starts before run {r - 1} (start={ps}, length={pl}) ends at pixel {ps + pl - 1}; "
                "runs must be sorted and non-overlapping"
            )
        raise InvalidRleError(f"run {r} (start={sv}, length={lv}) {what}", run=r)
    if order == "C":
        res = np.empty((h, w), np.uint8)
        _k.fill_runs(pairs, res.reshape(-1), True)
        return res
    res = np.empty((w, h), np.uint8)
    _k.fill_runs(pairs, res.reshape(-1), True)
    return res.T

