"""Post-processing of binary masks before a submission: small components, holes, resizing.

Every function takes one 2-D mask ``(height, width)`` or a batch
``(n, height, width)`` of 0/1 values (bool, integers or floats, any memory
layout) and returns a new uint8 array of the same shape (``resize``: of the
new shape); the input is never modified.

The ``*_rle`` functions do the same on one Kaggle run-length string
(1-based starts, row-major, sorted disjoint runs as :func:`rlemask.encode`
writes them) and return a string, without building the mask: the runs are
split at row ends and labelled as they are, so the cost grows with the
number of runs, not of pixels. ``encode(remove_small(decode(s, shape), k))
== remove_small_rle(s, shape, k)`` for every valid ``s``.

Connectivity: ``8`` (default for objects, as OpenCV's ``connectedComponents``)
joins pixels that share an edge or a corner, ``4`` only those that share an
edge (``scipy.ndimage.label``'s default). Holes are components of zeros that
do not touch the border; :func:`fill_holes` uses 4-connected holes by default,
the dual of 8-connected objects and what ``scipy.ndimage.binary_fill_holes``
fills.

>>> import numpy as np
>>> m = np.array([[1, 1, 0, 0, 1],
...               [1, 1, 0, 0, 0],
...               [0, 0, 0, 1, 0]], np.uint8)
>>> remove_small(m, 2)
array([[1, 1, 0, 0, 0],
       [1, 1, 0, 0, 0],
       [0, 0, 0, 0, 0]], dtype=uint8)
>>> resize(m, (6, 10)).shape
(6, 10)
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rlemask import _codes as _c
from rlemask import _convert as _cv
from rlemask import _kernels_postprocess as _kp
from rlemask.errors import InvalidMaskError, RlemaskError
from rlemask.rle import _as_mask01, _ascii, _check_shape, _is_int, _raise_parse

__all__ = [
    "remove_small",
    "largest_component",
    "fill_holes",
    "resize",
    "remove_small_rle",
    "largest_component_rle",
    "fill_holes_rle",
]

# the run-length operations write into per-thread scratch (no new arrays per call):
# int64 values for the runs and their labels, bytes for the text; grown on demand
_WORK = 1 << 14
_OUT = 1 << 16
_scratch = threading.local()


def _masks(mask: ArrayLike) -> tuple[np.ndarray, bool]:
    """A C-contiguous uint8 ``(n, h, w)`` stack of checked 0/1 values, and whether the input was 2-D."""
    a = _cv.as_array(mask)
    if a.ndim not in (2, 3):
        raise InvalidMaskError(
            f"mask has shape={a.shape} ({a.ndim}-D); expected a 2-D mask (height, width) "
            "or a 3-D stack (n, height, width)"
        )
    single = a.ndim == 2
    a = _as_mask01(a, a.ndim)
    if a.dtype == np.uint8 and a.size and int(a.max()) > 1:
        where = np.argwhere(a > 1)[0]
        raise InvalidMaskError(
            f"mask[{', '.join(str(int(i)) for i in where)}] = {int(a[tuple(where)])}; expected only 0 and 1"
        )
    a = np.ascontiguousarray(a)
    return (a[None] if single else a), single


def _connectivity(connectivity: object) -> bool:
    if _is_int(connectivity):
        if connectivity == 8:
            return True
        if connectivity == 4:
            return False
    raise RlemaskError(f"connectivity={connectivity!r}; expected 4 (edges) or 8 (edges and corners)")


def _apply(mask: ArrayLike, op: int, size: int, conn8: bool) -> NDArray[np.uint8]:
    a, single = _masks(mask)
    n, h, w = a.shape
    out = np.empty_like(a)
    if a.size:
        _kp.apply(a.reshape(n, h * w), h, w, op, size, conn8, out.reshape(n, h * w))
    return out[0] if single else out


def remove_small(mask: ArrayLike, min_size: int, *, connectivity: int = 8) -> NDArray[np.uint8]:
    """Clear the connected components of ones with fewer than ``min_size`` pixels.

    Parameters
    ----------
    mask : array_like
        ``(height, width)`` or ``(n, height, width)`` 0/1 values.
    min_size : int
        Components of at least this many pixels are kept.
    connectivity : {8, 4}, keyword-only
        Pixels joined through corners too (8, default) or through edges only (4).

    Returns
    -------
    ndarray of uint8, the shape of ``mask``

    Raises
    ------
    InvalidMaskError
        ``mask`` is not 2-D or 3-D or holds a value other than 0 and 1.
    RlemaskError
        ``min_size`` is not a non-negative int, ``connectivity`` not 4 or 8.

    Examples
    --------
    >>> remove_small([[1, 0, 0], [0, 1, 1]], 3)
    array([[1, 0, 0],
           [0, 1, 1]], dtype=uint8)
    >>> remove_small([[1, 0, 0], [0, 1, 1]], 3, connectivity=4)
    array([[0, 0, 0],
           [0, 0, 0]], dtype=uint8)
    """
    if not _is_int(min_size) or min_size < 0:
        raise RlemaskError(f"min_size={min_size!r}; expected a non-negative int (pixels)")
    return _apply(mask, _kp.OP_REMOVE_SMALL, int(min_size), _connectivity(connectivity))


def largest_component(mask: ArrayLike, *, connectivity: int = 8) -> NDArray[np.uint8]:
    """Keep only the largest connected component of ones (of each mask of a batch).

    Among components of equal size the one whose first pixel comes first in
    row-major order is kept. An empty mask stays empty.

    Parameters
    ----------
    mask : array_like
        ``(height, width)`` or ``(n, height, width)`` 0/1 values.
    connectivity : {8, 4}, keyword-only
        Pixels joined through corners too (8, default) or through edges only (4).

    Returns
    -------
    ndarray of uint8, the shape of ``mask``

    Raises
    ------
    InvalidMaskError, RlemaskError
        As :func:`remove_small`.

    Examples
    --------
    >>> largest_component([[1, 0, 1], [0, 0, 1]])
    array([[0, 0, 1],
           [0, 0, 1]], dtype=uint8)
    """
    return _apply(mask, _kp.OP_LARGEST, 0, _connectivity(connectivity))


def fill_holes(mask: ArrayLike, *, connectivity: int = 4, max_size: int | None = None) -> NDArray[np.uint8]:
    """Set the holes: components of zeros that touch no border of the mask.

    Parameters
    ----------
    mask : array_like
        ``(height, width)`` or ``(n, height, width)`` 0/1 values.
    connectivity : {4, 8}, keyword-only
        Connectivity of the *holes*: 4 (default, equal to
        ``scipy.ndimage.binary_fill_holes``) or 8.
    max_size : int, keyword-only
        Fill only holes of at most this many pixels (default: every hole).

    Returns
    -------
    ndarray of uint8, the shape of ``mask``

    Raises
    ------
    InvalidMaskError, RlemaskError
        As :func:`remove_small`; ``max_size`` not a non-negative int.

    Examples
    --------
    >>> fill_holes([[1, 1, 1], [1, 0, 1], [1, 1, 1]])
    array([[1, 1, 1],
           [1, 1, 1],
           [1, 1, 1]], dtype=uint8)
    """
    if max_size is not None and (not _is_int(max_size) or max_size < 0):
        raise RlemaskError(f"max_size={max_size!r}; expected None (any size) or a non-negative int (pixels)")
    size = -1 if max_size is None else int(max_size)
    return _apply(mask, _kp.OP_FILL_HOLES, size, _connectivity(connectivity))


@functools.lru_cache(maxsize=64)
def _nearest(src: int, dst: int) -> np.ndarray:
    """Source index of every destination index, as OpenCV's ``INTER_NEAREST`` computes it:
    ``min(floor(i * (1 / (dst / src))), src - 1)`` in double precision (int64, read-only:
    cached, as a batch of masks asks for the same sizes again and again)."""
    inv = 1.0 / (dst / src)
    idx = np.floor(np.arange(dst, dtype=np.float64) * inv).astype(np.int64)
    np.minimum(idx, src - 1, out=idx)
    idx.flags.writeable = False
    return idx


@functools.lru_cache(maxsize=64)
def _first_columns(src: int, dst: int) -> np.ndarray:
    """``first[c]``: the first destination column whose source column is at least ``c``
    (``c`` in ``0..src``), so a source run ``[s, e)`` lands on ``[first[s], first[e])``."""
    first = np.searchsorted(_nearest(src, dst), np.arange(src + 1), side="left").astype(np.int64)
    first.flags.writeable = False
    return first


def resize(mask: ArrayLike, shape: tuple[int, int]) -> NDArray[np.uint8]:
    """Nearest-neighbour resize to ``shape = (height, width)``, pixel for pixel equal to
    ``cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)``.

    OpenCV's ``INTER_NEAREST`` takes source pixel ``floor(i * src / dst)``
    (the top-left-aligned grid); Pillow's ``NEAREST`` and OpenCV's
    ``INTER_NEAREST_EXACT`` sample pixel centres and differ from it on many
    sizes. Use this one to undo a ``cv2.resize(..., INTER_NEAREST)`` made
    before the model, e.g. predictions made at model size back to the
    original UWMGI 266x266 / 310x360 / 276x276 / 234x234.

    Parameters
    ----------
    mask : array_like
        ``(height, width)`` or ``(n, height, width)`` 0/1 values.
    shape : (int, int)
        New ``(height, width)``, both at least 1.

    Returns
    -------
    ndarray of uint8, ``shape`` or ``(n, *shape)``

    Raises
    ------
    InvalidMaskError
        As :func:`remove_small`, or an empty input mask.
    InvalidRleError
        ``shape`` is not two non-negative ints.
    RlemaskError
        ``shape`` has a zero side.

    Examples
    --------
    >>> resize([[1, 0], [0, 1]], (4, 3))
    array([[1, 1, 0],
           [1, 1, 0],
           [0, 0, 1],
           [0, 0, 1]], dtype=uint8)
    """
    dh, dw = _check_shape(shape)
    if dh == 0 or dw == 0:
        raise RlemaskError(f"shape={shape!r} has a zero side; expected (height, width) of at least 1 pixel")
    a, single = _masks(mask)
    n, h, w = a.shape
    if h == 0 or w == 0:
        raise InvalidMaskError(f"mask has shape {a.shape[1:]}, no pixels to resize from; expected height, width >= 1")
    out = np.zeros((n, dh, dw), np.uint8)  # only the runs of ones are written
    _kp.resize(a.reshape(n, h * w), h, w, _nearest(h, dh), _first_columns(w, dw), out.reshape(n, dh * dw), dw)
    return out[0] if single else out


# ----------------------------------------------------------------------------------
# Kaggle run-length strings
# ----------------------------------------------------------------------------------


def _apply_rle(rle: Any, shape: Any, op: int, size: int, conn8: bool, strict: bool) -> str:
    h, w = _check_shape(shape)
    text = _cv.rle_text(rle)
    data = _ascii(text)
    work = getattr(_scratch, "work", None)
    if work is None:
        work = _scratch.work = np.empty(_WORK, np.int64)
        _scratch.out = np.empty(_OUT, np.uint8)
    out = _scratch.out
    while True:
        code, idx, off, length = _kp.apply_rle(data, h, w, op, size, conn8, bool(strict), work, out)
        if code != _c.E_SPACE:
            break
        # a long string: this thread's scratch grows (the runs first, then, once
        # they are labelled, the text), so at most two calls more
        if idx > work.size:
            work = _scratch.work = np.empty(idx, np.int64)
        if off > out.size:
            out = _scratch.out = np.empty(off, np.uint8)
    if code:
        _raise_parse(code, idx, off, data, (h, w))
    if length < 0:  # nothing changes and the input is already the encoder's text
        return text
    return out[:length].tobytes().decode("ascii")


def remove_small_rle(
    rle: str | None, shape: tuple[int, int], min_size: int, *, connectivity: int = 8, strict: bool = True
) -> str:
    """:func:`remove_small` of the mask of one Kaggle run-length string, as a string.

    Parameters
    ----------
    rle : str, bytes or None
        1-based "start length" pairs in row-major order, sorted and disjoint
        (what :func:`rlemask.decode` reads with ``strict=True``); ``None``,
        ``""`` and NaN are an empty mask.
    shape : (int, int)
        ``(height, width)`` of the mask.
    min_size, connectivity
        As :func:`remove_small`.
    strict : bool, keyword-only
        ``True`` (default) rejects unsorted or overlapping runs, as
        :func:`rlemask.decode` does; ``False`` takes their union.

    Returns
    -------
    str
        The Kaggle string of the result (``""`` when nothing is left).

    Raises
    ------
    InvalidRleError
        Where :func:`rlemask.decode` raises, with its messages.
    RlemaskError
        As :func:`remove_small`.

    Examples
    --------
    >>> remove_small_rle("1 2 8 1 9 2", (3, 4), 2)
    '1 2 9 2'
    """
    if not _is_int(min_size) or min_size < 0:
        raise RlemaskError(f"min_size={min_size!r}; expected a non-negative int (pixels)")
    return _apply_rle(rle, shape, _kp.OP_REMOVE_SMALL, int(min_size), _connectivity(connectivity), strict)


def largest_component_rle(
    rle: str | None, shape: tuple[int, int], *, connectivity: int = 8, strict: bool = True
) -> str:
    """:func:`largest_component` of the mask of one Kaggle run-length string, as a string.

    Parameters and errors as :func:`remove_small_rle`.

    Examples
    --------
    >>> largest_component_rle("1 1 3 2 7 2", (2, 4))
    '3 2 7 2'
    """
    return _apply_rle(rle, shape, _kp.OP_LARGEST, 0, _connectivity(connectivity), strict)


def fill_holes_rle(
    rle: str | None,
    shape: tuple[int, int],
    *,
    connectivity: int = 4,
    max_size: int | None = None,
    strict: bool = True,
) -> str:
    """:func:`fill_holes` of the mask of one Kaggle run-length string, as a string.

    Parameters and errors as :func:`remove_small_rle` and :func:`fill_holes`.

    Examples
    --------
    >>> fill_holes_rle("1 3 4 1 6 4", (3, 3))
    '1 9'
    """
    if max_size is not None and (not _is_int(max_size) or max_size < 0):
        raise RlemaskError(f"max_size={max_size!r}; expected None (any size) or a non-negative int (pixels)")
    size = -1 if max_size is None else int(max_size)
    return _apply_rle(rle, shape, _kp.OP_FILL_HOLES, size, _connectivity(connectivity), strict)
