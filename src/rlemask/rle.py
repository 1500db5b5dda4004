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

Bad input raises :class:`~rlemask.errors.InvalidRleError` (a ``ValueError``)
naming the token or run, its values and what was expected: an odd number of
tokens, a token that is not an ASCII decimal integer, a start below 1, a run
past ``height * width``, runs out of order or overlapping (``strict=True``, the
default; ``strict=False`` takes the union of the runs), a shape that is not two
non-negative ints. Every check happens before the first byte of the output is
written.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
from numba import get_num_threads
from numpy.typing import ArrayLike, NDArray

from rlemask import _kernels as _k
from rlemask.errors import InvalidMaskError, InvalidRleError, RlemaskError

__all__ = ["encode", "decode", "encode_many", "decode_many", "area", "runs", "from_runs"]

# encode_many: masks per kernel call, and bytes of text kept per mask before the
# (rare) second pass for masks with long encodings
_CHUNK = 4096
_SLOT = 2048
# encode: text is written into a per-thread scratch buffer of this many bytes
# (no new array per call); longer encodings fall back to a growing buffer
_SCRATCH = 1 << 16
_scratch = threading.local()
# batches with fewer pixels run on the calling thread (starting threads costs more)
_PARALLEL_PIXELS = 1 << 20


# ----------------------------------------------------------------------------------
# argument checks
# ----------------------------------------------------------------------------------


def _check_order(order: str) -> None:
    if order != "C" and order != "F":
        raise RlemaskError(f"order={order!r} is not a pixel order; expected 'C' (row by row) or 'F' (column by column)")


def _is_int(x: Any) -> bool:
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


def _is_missing(x: Any) -> bool:
    if x is None:
        return True
    if isinstance(x, float):
        return math.isnan(x)
    if isinstance(x, np.floating):
        return bool(np.isnan(x))
    try:  # pd.NA, pd.NaT without importing pandas
        return type(x).__name__ in ("NAType", "NaTType")
    except Exception:  # pragma: no cover
        return False


def _as_text(rle: Any, where: str = "rle") -> str:
    """A run-length string as ``str`` ('' for a missing value)."""
    if type(rle) is str:
        return rle
    if isinstance(rle, str):
        return str(rle)
    if isinstance(rle, (bytes, bytearray, memoryview)):
        return bytes(rle).decode("latin-1")
    if _is_missing(rle):
        return ""
    raise InvalidRleError(
        f"{where}={rle!r} of type {type(rle).__name__} is not a run-length string; "
        "expected str (or None/NaN for an empty mask)"
    )


def _ascii(text: str, where: str = "rle") -> bytes:
    try:
        return text.encode("ascii")
    except UnicodeEncodeError as exc:
        pos = exc.start
        tok = len(text[:pos].split())
        if pos > 0 and not text[pos - 1].isspace() and tok:
            tok -= 1
        raise InvalidRleError(
            f"{where}: character {pos} ({text[pos]!r}) in token {tok} is not ASCII; "
            "expected decimal digits 0-9 separated by whitespace",
            token=tok,
            offset=pos,
        ) from None


def _preview(data: bytes, limit: int = 60) -> str:
    text = data.decode("ascii", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _raise_parse(code: int, idx: int, off: int, data: bytes, shape: tuple[int, int] | None, where: str = "rle"):
    """Turn a kernel error code into an InvalidRleError."""
    n = None if shape is None else shape[0] * shape[1]
    shape_txt = "" if shape is None else f" of shape=({shape[0]}, {shape[1]})"
    if code == _k.E_ODD:
        raise InvalidRleError(
            f"{where}: odd number of tokens ({idx}) in {_preview(data)}; "
            "expected start/length pairs (an even number of integers)",
            token=idx - 1,
        )
    if code in (_k.E_TOKEN, _k.E_BIG):
        tokens = data.split()
        tok = tokens[idx].decode("ascii", "replace") if idx < len(tokens) else ""
        if code == _k.E_TOKEN:
            raise InvalidRleError(
                f"{where}: token {idx} ({tok!r}, character {off}) is not an ASCII decimal integer; "
                "expected digits 0-9 separated by whitespace",
                token=idx,
                offset=off,
            )
        limit = "" if n is None else f"; starts and lengths must be at most {n + 1} for the {n} pixels{shape_txt}"
        raise InvalidRleError(
            f"{where}: token {idx} ({tok[:30]}{'...' if len(tok) > 30 else ''}) is too large{limit}",
            token=idx,
            offset=off,
        )
    tokens = data.split()
    r = idx
    s, length = int(tokens[2 * r]), int(tokens[2 * r + 1])
    if code == _k.E_START:
        raise InvalidRleError(
            f"{where}: run {r} (start={s}, length={length}) has start < 1; starts are 1-indexed",
            run=r,
            token=2 * r,
        )
    if code == _k.E_END:
        raise InvalidRleError(
            f"{where}: run {r} (start={s}, length={length}) ends at pixel {s + length - 1}, "
            f"past the {n} pixels{shape_txt}; check the shape (height, width) and the order",
            run=r,
            token=2 * r,
            offset=s - 1,
        )
    if code == _k.E_ORDER:
        ps, pl = int(tokens[2 * r - 2]), int(tokens[2 * r - 1])
        raise InvalidRleError(
            f"{where}: run {r} (start={s}, length={length}) starts before run {r - 1} "
            f"(start={ps}, length={pl}) ends at pixel {ps + pl - 1}; runs must be sorted and "
            "non-overlapping (pass strict=False to take their union)",
            run=r,
            token=2 * r,
            offset=s - 1,
        )
    raise InvalidRleError(f"{where}: invalid run-length string {_preview(data)} (code {code})")  # pragma: no cover


def _to_array(x: Any, name: str = "mask") -> np.ndarray:
    """``x`` as a base-class ndarray: subclasses (np.matrix, masked arrays: their data)
    and tensors (duck-typed, torch is never imported) included."""
    if type(x) is np.ndarray:
        return x
    if not isinstance(x, np.ndarray) and callable(getattr(x, "detach", None)) and callable(getattr(x, "cpu", None)):
        t = x.detach().cpu()  # a tensor: off the autograd graph and the GPU
        try:
            return np.asarray(t)
        except (TypeError, RuntimeError):  # a dtype numpy lacks (bfloat16): 0/1 are exact as float32
            try:
                return np.asarray(t.float())
            except (TypeError, RuntimeError, ValueError, AttributeError) as exc:
                raise InvalidMaskError(
                    f"{name} of type {type(x).__name__} (dtype={getattr(x, 'dtype', '?')}) cannot be "
                    f"converted to a numpy array ({exc}); expected 0/1 integers, floats or bool"
                ) from None
    return np.asarray(x)


def _as_mask01(mask: ArrayLike, ndim: int, name: str = "mask") -> np.ndarray:
    """``mask`` as an array of ``ndim`` dims whose values are checked 0/1 (uint8 kept as is)."""
    a = _to_array(mask, name)
    if a.ndim != ndim:
        dims = "(height, width)" if ndim == 2 else "(n, height, width)"
        raise InvalidMaskError(f"{name} has shape {a.shape} ({a.ndim}-D); expected a {ndim}-D array {dims}")
    dt = a.dtype
    if dt == np.uint8:
        return a  # values are checked by the kernel
    if dt == np.bool_:
        return a.view(np.uint8)
    if dt.kind not in "iuf":
        raise InvalidMaskError(f"{name} has dtype {dt}; expected 0/1 integers, floats or bool")
    ok = (a == 0) | (a == 1)
    if not ok.all():
        where = np.argwhere(~ok)[0]
        raise InvalidMaskError(
            f"{name}[{', '.join(str(int(i)) for i in where)}] = {a[tuple(where)]!r}; expected only 0 and 1"
        )
    return a.astype(np.uint8)


def _bad_value(a: np.ndarray, flat_offset: int, order: str, name: str = "mask") -> InvalidMaskError:
    idx = np.unravel_index(flat_offset, a.shape, order=order)
    return InvalidMaskError(
        f"{name}[{', '.join(str(int(i)) for i in idx)}] = {int(a[idx])}; expected only 0 and 1"
    )


# ----------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------


def encode(mask: ArrayLike, *, order: str = "C") -> str:
    """Encode a 2-D 0/1 mask as a run-length string.

    Parameters
    ----------
    mask : array_like
        2-D array of 0/1 values (any integer or float dtype) or bool, any memory
        layout (C, Fortran, strided views).
    order : {"C", "F"}, optional
        Pixel order of the format: ``"C"`` row by row (default, UWMGI),
        ``"F"`` column by column. Independent of the array's memory layout.

    Returns
    -------
    str
        ``"start length ..."`` with 1-based starts; ``""`` for an empty mask.

    Raises
    ------
    InvalidMaskError
        ``mask`` is not 2-D, or holds a value other than 0 and 1.

    Examples
    --------
    >>> import numpy as np
    >>> encode(np.array([[0, 1, 1], [1, 0, 0]]))
    '2 3'
    >>> encode(np.array([[0, 1, 1], [1, 0, 0]]), order="F")
    '2 2 5 1'
    >>> encode(np.zeros((2, 2), dtype=bool))
    ''
    """
    if order != "C":
        _check_order(order)
    a = _as_mask01(mask, 2)
    flat = np.ravel(a, order=order)  # contiguous (reshape(-1) may give a strided view)
    buf = getattr(_scratch, "buf", None)
    if buf is None:
        buf = _scratch.buf = np.empty(_SCRATCH, np.uint8)
    code, value = _k.encode_into(flat, buf)
    if code == _k.E_SPACE:  # a long encoding: let the kernel grow its own buffer
        code, value, buf, length = _k.encode(flat)
    else:
        length = value
    if code != _k.OK:
        raise _bad_value(a, value, order)
    if length == 0:
        return ""
    return buf[:length].tobytes().decode("ascii")


def decode(
    rle: str | None,
    shape: tuple[int, int],
    *,
    order: str = "C",
    strict: bool = True,
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Decode a run-length string into a 2-D uint8 mask.

    Parameters
    ----------
    rle : str or None
        ``"start length ..."``; ``None``, ``""``, NaN and ``pd.NA`` give an empty mask.
    shape : tuple of int
        ``(height, width)``, two non-negative ints.
    order : {"C", "F"}, optional
        Pixel order of the format (``"C"`` row by row, the default).
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
    >>> decode("5 2", (2, 2))
    Traceback (most recent call last):
    ...
    rlemask.errors.InvalidRleError: rle: run 0 (start=5, length=2) ends at pixel 6, past the 4 pixels of shape=(2, 2); check the shape (height, width) and the order
    """
    h, w = _check_shape(shape)
    if order != "C":
        _check_order(order)
    text = rle if type(rle) is str else _as_text(rle)
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
    code, idx, off = _k.decode_into(np.frombuffer(data, np.uint8), flat, bool(strict))
    if code != _k.OK:
        _raise_parse(code, idx, off, data, (h, w))
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


def encode_many(masks: ArrayLike, *, order: str = "C") -> list[str]:
    """Encode a batch of masks ``(n, height, width)`` in parallel.

    Parameters
    ----------
    masks : array_like
        3-D array of 0/1 values or bool, any memory layout.
    order : {"C", "F"}, optional
        Pixel order of the format (``"C"`` row by row, the default).

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
    a = _as_mask01(masks, 3, "masks")
    nitem = a.shape[0]
    if nitem == 0:
        return []
    if order == "C":
        flat = np.ascontiguousarray(a).reshape(nitem, a.shape[1] * a.shape[2])
    else:
        flat = np.ascontiguousarray(a.transpose(0, 2, 1)).reshape(nitem, a.shape[1] * a.shape[2])
    # one slot of text per mask, reused from chunk to chunk: the masks are read once
    chunk = min(nitem, _CHUNK)
    parallel = get_num_threads() > 1
    slots = np.empty((chunk, _SLOT), np.uint8)
    texts: list[str] = []
    for lo in range(0, nitem, chunk):
        part = flat[lo : lo + chunk]
        kernel = _k.encode_many if parallel and part.size >= _PARALLEL_PIXELS else _k.encode_many_serial
        code, item, off, buf = kernel(part, slots)
        if code != _k.OK:
            raise _bad_value(a[lo + item], off, order, f"masks[{lo + item}]")
        texts += buf[:-1].tobytes().decode("ascii").split("\n")
    return texts


def _texts(rles: Any) -> list[str]:
    if isinstance(rles, (str, bytes)):
        raise InvalidRleError(
            f"rles is a single {type(rles).__name__}; expected a sequence of run-length strings "
            "(use decode() for one string)"
        )
    items = rles if type(rles) is list else list(rles)
    for i, x in enumerate(items):
        if type(x) is not str:
            break
    else:
        return items
    return [_as_text(x, f"rles[{i}]") for i, x in enumerate(items)]


def decode_many(
    rles: Iterable[str | None],
    shape: tuple[int, int],
    *,
    order: str = "C",
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
    items = _texts(rles)
    nitem = len(items)
    joined = "".join(items)
    if not joined.isascii():
        for i, t in enumerate(items):
            if not t.isascii():
                _ascii(t, f"rles[{i}]")
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
        _raise_parse(code, idx, off, data[offsets[i] : offsets[i + 1]], (h, w), f"rles[{i}]")
    if target is not None:
        target[...] = res
        return target
    return res


def area(rle: str | None) -> int:
    """Number of pixels set by a run-length string, without decoding it.

    Parameters
    ----------
    rle : str or None
        ``"start length ..."``; missing values have area 0.

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
    text = _as_text(rle)
    data = _ascii(text)
    code, idx, off, total = _k.area(np.frombuffer(data, np.uint8))
    if code != _k.OK:
        _raise_parse(code, idx, off, data, None)
    return int(total)


def runs(mask: ArrayLike, *, order: str = "C") -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Runs of ones of a 2-D mask as integer arrays.

    Parameters
    ----------
    mask : array_like
        2-D 0/1 or bool array, any memory layout.
    order : {"C", "F"}, optional
        Pixel order (``"C"`` row by row, the default).

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
    a = _as_mask01(mask, 2)
    code, off, starts, lengths = _k.runs(np.ravel(a, order=order))
    if code != _k.OK:
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
    if code != _k.OK:
        sv, lv = int(pairs[2 * r]), int(pairs[2 * r + 1])
        if code == _k.E_START:
            what = "has start < 1; starts are 1-indexed"
        elif code == _k.E_NEG:
            what = "has a negative length"
        elif code == _k.E_END:
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

