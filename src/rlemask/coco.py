"""COCO run-length counts, without pycocotools.

COCO stores a mask of shape ``(h, w)`` as ``{"size": [h, w], "counts": ...}``
where the counts are the lengths of alternating runs of zeros and ones over the
pixels in **column order** (Fortran order), zeros first (so a mask starting with
a one has a leading count of 0). ``counts`` is either a list of ints
("uncompressed") or the compact ASCII form that ``pycocotools.mask.encode``
writes ("compressed": each count minus the count two places before, in 5-bit
groups, ``chr(48 + group)``, bit 0x20 meaning "more groups follow").

:func:`to_coco` writes counts byte-identical to
``pycocotools.mask.encode(np.asfortranarray(mask))``; :func:`from_coco` reads
both forms back into a Kaggle run-length string.

>>> obj = to_coco("2 2 7 3", (3, 4))
>>> obj
{'size': [3, 4], 'counts': b'22200OO'}
>>> from_coco(obj)
'2 2 7 3'
>>> from_coco({"size": [3, 4], "counts": [2, 2, 2, 2, 2, 1, 1]})
'2 2 7 3'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlemask import _kernels as _k
from rlemask.errors import InvalidRleError
from rlemask.rle import _check_order, _check_shape, decode, encode, from_runs

__all__ = ["to_coco", "from_coco"]


def to_coco(rle: str | None, shape: tuple[int, int], *, order: str = "C") -> dict[str, Any]:
    """Convert a Kaggle run-length string to COCO compressed counts.

    Parameters
    ----------
    rle : str or None
        ``"start length ..."``; missing values give an empty mask.
    shape : tuple of int
        ``(height, width)``.
    order : {"C", "F"}, optional
        Pixel order of ``rle`` (``"C"`` row by row, the default).

    Returns
    -------
    dict
        ``{"size": [height, width], "counts": bytes}``, equal to
        ``pycocotools.mask.encode(np.asfortranarray(mask))``.

    Raises
    ------
    InvalidRleError
        ``rle`` or ``shape`` is malformed.

    Examples
    --------
    >>> to_coco("", (2, 2))
    {'size': [2, 2], 'counts': b'4'}
    >>> to_coco("1 4", (2, 2))
    {'size': [2, 2], 'counts': b'04'}
    """
    h, w = _check_shape(shape)
    _check_order(order)
    mask = decode(rle, (h, w), order=order)
    code, _, starts, lengths = _k.runs(np.ravel(mask, order="F"))
    pairs = np.empty(2 * starts.size, np.int64)
    pairs[0::2] = starts
    pairs[1::2] = lengths
    counts = _k.coco_counts(pairs, h * w)
    out = np.empty(6 * counts.size, np.uint8)
    k = _k.coco_compress(counts, out)
    return {"size": [h, w], "counts": out[:k].tobytes()}


def _size(obj: Any) -> tuple[int, int]:
    if not isinstance(obj, dict) or "size" not in obj or "counts" not in obj:
        raise InvalidRleError(
            f"COCO object {obj!r:.80} is not a dict with 'size' and 'counts'; "
            "expected {'size': [height, width], 'counts': bytes, str or list}"
        )
    size = obj["size"]
    try:
        return _check_shape(tuple(size))
    except (InvalidRleError, TypeError):
        raise InvalidRleError(
            f"COCO size={size!r} is not [height, width]; expected two non-negative ints"
        ) from None


def _counts(raw: Any) -> np.ndarray:
    if isinstance(raw, str):
        try:
            raw = raw.encode("ascii")
        except UnicodeEncodeError as exc:
            raise InvalidRleError(
                f"COCO counts: character {exc.start} ({raw[exc.start]!r}) is not ASCII; "
                "expected characters '0' to 'o'",
                offset=exc.start,
            ) from None
    if isinstance(raw, (bytes, bytearray, memoryview)):
        buf = np.frombuffer(bytes(raw), np.uint8)
        counts = np.empty(buf.size, np.int64)
        code, m, off = _k.coco_decompress(buf, counts)
        if code == _k.E_TOKEN:
            raise InvalidRleError(
                f"COCO counts: byte {off} ({bytes(raw)[off:off + 1]!r}) is not a counts character; "
                "expected characters '0' to 'o' (pycocotools compressed counts)",
                offset=off,
            )
        if code == _k.E_ODD:
            raise InvalidRleError(
                f"COCO counts: count {m} is cut off at the end (its last byte has the "
                "'more' bit 0x20 set); expected a complete pycocotools string",
                offset=off,
            )
        if code == _k.E_BIG:
            raise InvalidRleError(f"COCO counts: count {m} at byte {off} is too large", offset=off)
        return counts[:m]
    if isinstance(raw, (list, tuple, np.ndarray)):
        arr = np.asarray(raw)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise InvalidRleError(
                f"COCO counts list has dtype {arr.dtype} and shape {arr.shape}; expected a flat list of ints"
            )
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            i = int(np.argmax(arr > np.iinfo(np.int64).max))
            raise InvalidRleError(f"COCO counts: count {i} is {int(arr[i])}, above the int64 range", run=i)
        return arr.astype(np.int64)
    raise InvalidRleError(
        f"COCO counts of type {type(raw).__name__}; expected bytes or str (compressed) or a list of ints"
    )


def from_coco(obj: dict[str, Any], *, order: str = "C") -> str:
    """Convert COCO counts (compressed or not) to a Kaggle run-length string.

    Parameters
    ----------
    obj : dict
        ``{"size": [height, width], "counts": ...}`` with ``counts`` as bytes or
        str (pycocotools compressed form) or a list of ints (uncompressed).
    order : {"C", "F"}, optional
        Pixel order of the returned string (``"C"`` row by row, the default).

    Returns
    -------
    str
        ``"start length ..."``, ``""`` for an empty mask.

    Raises
    ------
    InvalidRleError
        Malformed counts: a bad character, a negative count, or counts that do
        not add up to ``height * width``.

    Examples
    --------
    >>> from_coco({"size": [2, 2], "counts": b"04"})
    '1 4'
    >>> from_coco({"size": [2, 3], "counts": "11101"}, order="F")
    '2 1 4 1'
    """
    h, w = _size(obj)
    _check_order(order)
    counts = _counts(obj["counts"])
    n = h * w
    negative = np.flatnonzero(counts < 0)
    if negative.size:
        i = int(negative[0])
        raise InvalidRleError(f"COCO counts: count {i} is {int(counts[i])}; expected counts >= 0", run=i)
    total = sum(counts.tolist())  # Python ints: an int64 sum can wrap around to n
    if total != n:
        raise InvalidRleError(
            f"COCO counts add up to {total} pixels; expected {n} for size=[{h}, {w}]",
            offset=total,
        )
    ends = np.cumsum(counts)
    lengths = counts[1::2]
    starts = ends[0::2][: lengths.size] + 1
    keep = lengths > 0
    mask = from_runs(starts[keep], lengths[keep], (h, w), order="F")
    return encode(mask, order=order)
