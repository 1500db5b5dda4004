"""Multi-class masks: stack per-class RLE strings into channels and back.

The UWMGI classes overlap (a pixel can be both large and small bowel), so a
multi-class mask is a stack of 0/1 channels, one per class, never an argmax
label map. Channels are last by default, ``(H, W, C)``; ``channels_first=True``
gives ``(C, H, W)`` (PyTorch's layout). Channel ``k`` is ``classes[k]``
(:data:`rlemask.uwmgi.CLASSES` by default: large_bowel, small_bowel, stomach).

Everything goes through :func:`rlemask.rle.decode_many` /
:func:`rlemask.rle.encode_many`: a table is decoded with one call per image
size, never with a Python loop per pixel or per image.

Examples
--------
>>> m = stack(["1 2", "", "4 1"], (2, 2))
>>> m.shape
(2, 2, 3)
>>> m[..., 0].tolist(), m[..., 2].tolist()
([[1, 1], [0, 0]], [[0, 0], [0, 1]])
>>> unstack(m, id="case1_day0_slice_0001")["segmentation"].tolist()
['1 2', '', '4 1']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from rlemask import _convert as _cv
from rlemask import rle as _rle
from rlemask import uwmgi as _uwmgi
from rlemask.errors import InvalidMaskError, InvalidRleError, LayoutError
from rlemask.uwmgi import CLASSES, ID_PATTERN

__all__ = ["stack", "stack_table", "unstack", "unstack_many", "volume"]

# ASCII digits only, at most 9 of them (no int64 overflow downstream): uwmgi's patterns
_SCAN_RE = _uwmgi._SCAN_RE
_ID_RE = _uwmgi._ID_RE
_ID_TEXT = _uwmgi._ID_TEXT
_digits_hint = _uwmgi._digits_hint
#: largest height or width accepted in a table
_MAX_SIDE = 2**31 - 1


def _classes(classes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(classes, str):
        raise LayoutError(f"classes={classes!r} is a single string; expected a sequence of class names")
    out = tuple(classes)
    if not out:
        raise LayoutError("classes is empty; expected at least one class name")
    if len(set(out)) != len(out):
        raise LayoutError(f"classes={list(out)} names a class twice")
    return out


def _channels_last(block: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``(..., C, H, W)`` -> contiguous ``(..., H, W, C)``.

    One strided copy per channel: about 3x faster than ``ascontiguousarray``
    of ``moveaxis`` for a few channels.
    """
    c = block.shape[-3]
    out = np.empty(block.shape[:-3] + block.shape[-2:] + (c,), block.dtype)
    for k in range(c):
        out[..., k] = block[..., k, :, :]
    return out


def stack(
    rles: Sequence[str | None] | Mapping[str, str | None],
    shape: tuple[int, int],
    *,
    channels_first: bool = False,
    classes: Sequence[str] = CLASSES,
    order: str = "C",
) -> NDArray[np.uint8]:
    """Decode one RLE string per class into a multi-channel 0/1 mask.

    Parameters
    ----------
    rles : sequence of str or None, or mapping class -> str
        One string per channel, in channel order; a mapping is read in the
        order of ``classes`` (a class it lacks is an empty channel).
        ``None``, ``""`` and NaN are empty masks.
    shape : (height, width)
    channels_first : bool, default False
        Return ``(C, H, W)`` instead of ``(H, W, C)``.
    classes : sequence of str, default :data:`~rlemask.uwmgi.CLASSES`
        Only used to read a mapping.
    order : {"C", "F"}, default "C"
        Pixel order of the strings (UWMGI is row by row, ``"C"``).

    Returns
    -------
    ndarray of uint8
        ``(H, W, C)`` or ``(C, H, W)``, C-contiguous.

    Raises
    ------
    InvalidRleError
        A malformed string; the message names its channel.

    Examples
    --------
    >>> stack({"stomach": "1 1"}, (1, 2), channels_first=True).tolist()
    [[[0, 0]], [[0, 0]], [[1, 0]]]
    """
    if isinstance(rles, Mapping):
        names = _classes(classes)
        unknown = [k for k in rles if k not in names]
        if unknown:
            raise LayoutError(f"rles names unknown class(es) {unknown}; expected some of {list(names)}")
        items = [rles.get(c) for c in names]
    else:
        if isinstance(rles, (str, bytes)):
            raise InvalidRleError(
                "rles is a single string; expected one string per class (use rlemask.decode for one mask)"
            )
        items = list(rles)
    block = _rle.decode_many(items, shape, order=order)
    return block if channels_first else _channels_last(block)


def _table_columns(table: pd.DataFrame, classes: tuple[str, ...], need: Sequence[str]) -> None:
    missing = [c for c in (*need, *classes) if c not in table.columns]
    if missing:
        raise LayoutError(
            f"table has no column(s) {missing} (columns: {list(table.columns)}); "
            f"expected 'height', 'width' and one RLE column per class {list(classes)}"
        )


def _sizes(table: pd.DataFrame) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``height`` and ``width`` as int64; a value that is not a whole number in
    ``[0, 2**31 - 1]`` (2.7, NaN, -1, 1e30, text) raises, naming the row and id."""
    out = []
    for col in ("height", "width"):
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (values < 0) | (values > _MAX_SIDE) | (values != np.round(values))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            row_id = table["id"].iloc[i] if "id" in table.columns else i
            found = table[col].iloc[i]
            found = found.item() if isinstance(found, np.generic) else found
            raise LayoutError(
                f"table row {i} (id={row_id}) has {col}={found!r}: expected a non-negative integer "
                f"(at most {_MAX_SIDE})"
            )
        out.append(values.astype(np.int64))
    return out[0], out[1]


def _decode_rows(
    table: pd.DataFrame,
    rows: NDArray[np.intp],
    classes: tuple[str, ...],
    shape: tuple[int, int],
    order: str,
) -> NDArray[np.uint8]:
    """Decode ``rows`` x ``classes`` of ``table`` at one shape -> (n, C, H, W)."""
    columns = [table[c].to_numpy(dtype=object)[rows] for c in classes]
    flat = np.stack(columns, axis=1).reshape(-1).tolist() if len(rows) else []
    try:
        block = _rle.decode_many(flat, shape, order=order)
    except InvalidRleError as exc:
        if exc.item is None:  # pragma: no cover - decode_many always sets the item
            raise
        row, k = int(rows[exc.item // len(classes)]), classes[exc.item % len(classes)]
        row_id = table["id"].iloc[row] if "id" in table.columns else row
        raise InvalidRleError(
            f"table row {row} (id={row_id}, class={k}, shape={shape}): {exc.reason}",
            token=exc.token,
            run=exc.run,
            offset=exc.offset,
            item=row,
            reason=exc.reason,
        ) from exc
    return block.reshape(len(rows), len(classes), *shape)


def stack_table(
    table: pd.DataFrame,
    *,
    classes: Sequence[str] = CLASSES,
    channels_first: bool = False,
    order: str = "C",
) -> list[NDArray[np.uint8]]:
    """Decode every row of a table into its multi-channel mask, each at its own size.

    Rows are grouped by ``(height, width)`` and each group is decoded with one
    :func:`~rlemask.rle.decode_many` call.

    Parameters
    ----------
    table : DataFrame
        ``height``, ``width`` and one RLE column per class (``id`` is used in
        error messages when present).
    classes : sequence of str, default :data:`~rlemask.uwmgi.CLASSES`
    channels_first : bool, default False
    order : {"C", "F"}, default "C"

    Returns
    -------
    list of ndarray of uint8
        One mask per row, in row order, ``(H, W, C)`` or ``(C, H, W)``. Masks
        of one size are views into one block.

    Raises
    ------
    LayoutError
        Missing columns or a bad size.
    InvalidRleError
        A malformed string; the message names the row, id and class.

    Examples
    --------
    >>> t = pd.DataFrame({"id": ["a", "b"], "height": [1, 2], "width": [2, 1],
    ...                   "large_bowel": ["1 1", ""], "small_bowel": ["", "2 1"], "stomach": ["", ""]})
    >>> [m.shape for m in stack_table(t)]
    [(1, 2, 3), (2, 1, 3)]
    >>> stack_table(t)[1][:, 0, 1].tolist()
    [0, 1]
    """
    names = _classes(classes)
    _table_columns(table, names, ("height", "width"))
    heights, widths = _sizes(table)
    out: list[Any] = [None] * len(table)
    if not len(table):
        return out
    sizes = np.stack([heights, widths], axis=1)
    uniq, inverse = np.unique(sizes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for g, (h, w) in enumerate(uniq.tolist()):
        rows = np.flatnonzero(inverse == g)
        block = _decode_rows(table, rows, names, (h, w), order)
        if not channels_first:
            block = _channels_last(block)
        for j, r in enumerate(rows.tolist()):
            out[r] = block[j]
    return out


def _to_cfirst(mask: NDArray[Any], channels_first: bool, n_classes: int, name: str) -> NDArray[Any]:
    """``(..., H, W, C)`` or ``(..., C, H, W)`` -> ``(..., C, H, W)``; checks C."""
    axis = -3 if channels_first else -1
    if mask.shape[axis] != n_classes:
        layout = "(C, H, W)" if channels_first else "(H, W, C)"
        raise InvalidMaskError(
            f"{name} has shape={mask.shape}: {mask.shape[axis]} channel(s) on axis {axis} of layout "
            f"{layout}, expected {n_classes} (one per class)"
            + ("" if channels_first else "; pass channels_first=True for (C, H, W) masks")
        )
    return mask if channels_first else np.moveaxis(mask, -1, -3)


def _value_error(
    mask: NDArray[Any], name: str, image_id: Any, names: tuple[str, ...], channels_first: bool
) -> InvalidMaskError:
    """The first value of ``mask`` (3-D) that is not 0 or 1, named ``name (id=..., class=...)[row, col]``."""
    label = name if image_id is None else f"{name} (id={image_id})"
    if mask.dtype.kind not in "biuf":
        return InvalidMaskError(f"{label} has dtype={mask.dtype}; expected 0/1 integers, floats or bool")
    where = tuple(int(i) for i in np.argwhere(~((mask == 0) | (mask == 1)))[0])
    k = where[0] if channels_first else where[-1]
    pixel = where[1:] if channels_first else where[:-1]
    what = f"class={names[k]}" if image_id is None else f"id={image_id}, class={names[k]}"
    return _cv.bad_value(f"{name} ({what})", pixel, mask[where])


def _first_invalid(items: Sequence[NDArray[Any]], members: Sequence[int]) -> int:
    """The first of ``members`` whose mask holds a value other than 0 or 1 (or a bad dtype)."""
    for i in members:
        m = items[i]
        if m.dtype != np.bool_ and (m.dtype.kind not in "iuf" or not ((m == 0) | (m == 1)).all()):
            return i
    return members[0]  # pragma: no cover - encode_many raised for one of them


def unstack(
    mask: ArrayLike,
    *,
    classes: Sequence[str] = CLASSES,
    id: str | None = None,
    channels_first: bool = False,
    order: str = "C",
) -> pd.DataFrame:
    """Encode a multi-channel mask into submission rows ``id, class, segmentation``.

    Parameters
    ----------
    mask : array_like
        ``(H, W, C)`` (or ``(C, H, W)`` with ``channels_first=True``) of 0/1
        or bool, with one channel per class.
    classes : sequence of str, default :data:`~rlemask.uwmgi.CLASSES`
    id : str, optional
        The image id written in every row (None when not given).
    channels_first : bool, default False
    order : {"C", "F"}, default "C"

    Returns
    -------
    DataFrame
        ``len(classes)`` rows ``id, class, segmentation`` (``""`` for an
        empty channel), in class order.

    Raises
    ------
    InvalidMaskError
        Not 3-D, the wrong number of channels, or values other than 0/1.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((2, 2, 3), np.uint8); m[1, 1, 2] = 1
    >>> unstack(m, id="x").values.tolist()
    [['x', 'large_bowel', ''], ['x', 'small_bowel', ''], ['x', 'stomach', '4 1']]
    """
    names = _classes(classes)
    a = _cv.as_array(mask, "mask")
    if a.ndim != 3:
        raise InvalidMaskError(
            f"mask has shape={a.shape}: expected 3-D (H, W, C) or (C, H, W) with channels_first=True"
        )
    block = _to_cfirst(a, channels_first, len(names), "mask")
    try:
        strings = _rle.encode_many(block, order=order)
    except InvalidMaskError as exc:
        raise _value_error(a, "mask", id, names, channels_first) from exc
    return pd.DataFrame({"id": [id] * len(names), "class": list(names), "segmentation": strings})


def unstack_many(
    masks: ArrayLike | Sequence[ArrayLike],
    ids: Sequence[str],
    *,
    classes: Sequence[str] = CLASSES,
    channels_first: bool = False,
    order: str = "C",
) -> pd.DataFrame:
    """Encode many multi-channel masks into submission rows, class-minor.

    Parameters
    ----------
    masks : array_like or sequence of array_like
        A 4-D array ``(N, H, W, C)`` (``(N, C, H, W)`` with
        ``channels_first=True``), or a list of 3-D masks of possibly
        different sizes (what :func:`stack_table` returns). Masks of one size
        are encoded with one :func:`~rlemask.rle.encode_many` call.
    ids : sequence of str
        One id per mask.
    classes, channels_first, order
        As :func:`unstack`.

    Returns
    -------
    DataFrame
        ``N * len(classes)`` rows ``id, class, segmentation``: for each mask
        in order, one row per class in class order (the layout of
        ``train.csv`` and of a submission).

    Raises
    ------
    InvalidMaskError
        Wrong dimensions or channel count, values other than 0/1, or a
        number of ids that differs from the number of masks.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((2, 1, 1, 3), np.uint8); m[1, 0, 0, 0] = 1
    >>> unstack_many(m, ["a", "b"])["segmentation"].tolist()
    ['', '', '', '1 1', '', '']
    """
    names = _classes(classes)
    ids = list(ids)
    if not isinstance(masks, (list, tuple)):
        masks = _cv.as_array(masks, "masks")  # an array or a tensor (N, ...)
    if isinstance(masks, np.ndarray):
        if masks.ndim != 4:
            raise InvalidMaskError(
                f"masks has shape={masks.shape}: expected 4-D (N, H, W, C), or (N, C, H, W) with "
                "channels_first=True, or a list of 3-D masks"
            )
        items: list[NDArray[Any]] | None = None
        n = masks.shape[0]
    else:
        items = [_cv.as_array(m, f"masks[{i}]") for i, m in enumerate(masks)]
        n = len(items)
    if len(ids) != n:
        raise InvalidMaskError(f"{n} mask(s) but {len(ids)} id(s): expected one id per mask")
    strings: list[str] = [""] * (n * len(names))
    if items is None:
        block = _to_cfirst(masks, channels_first, len(names), "masks")  # (N, C, H, W)
        if n:
            h, w = block.shape[-2:]
            try:
                strings = _rle.encode_many(block.reshape(n * len(names), h, w), order=order)
            except InvalidMaskError as exc:
                i = exc.item // len(names) if exc.item is not None else _first_invalid(masks, range(n))
                raise _value_error(masks[i], f"masks[{i}]", ids[i], names, channels_first) from exc
    else:
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, m in enumerate(items):
            if m.ndim != 3:
                raise InvalidMaskError(
                    f"masks[{i}] has shape={m.shape}: expected 3-D (H, W, C), or (C, H, W) with channels_first=True"
                )
            _to_cfirst(m, channels_first, len(names), f"masks[{i}]")
            by_shape.setdefault(m.shape, []).append(i)
        for members in by_shape.values():
            block = np.stack([items[i] for i in members])
            block = _to_cfirst(block, channels_first, len(names), "masks")
            h, w = block.shape[-2:]
            try:
                encoded = _rle.encode_many(block.reshape(len(members) * len(names), h, w), order=order)
            except InvalidMaskError as exc:
                i = members[exc.item // len(names)] if exc.item is not None else _first_invalid(items, members)
                raise _value_error(items[i], f"masks[{i}]", ids[i], names, channels_first) from exc
            for j, i in enumerate(members):
                strings[i * len(names) : (i + 1) * len(names)] = encoded[j * len(names) : (j + 1) * len(names)]
    return pd.DataFrame(
        {
            "id": np.repeat(np.asarray(ids, dtype=object), len(names)).tolist(),
            "class": list(names) * n,
            "segmentation": strings,
        }
    )


def _scan_key(case_day: Any) -> tuple[int, int]:
    if isinstance(case_day, tuple) and len(case_day) == 2:
        return int(case_day[0]), int(case_day[1])
    if isinstance(case_day, str):
        m = _SCAN_RE.fullmatch(case_day)
        if m is not None:
            return int(m[1]), int(m[2])
    raise LayoutError(f"case_day={case_day!r}: expected 'caseN_dayD' (e.g. 'case123_day20') or a (case, day) tuple")


def _case_day_slice(table: pd.DataFrame) -> NDArray[np.int64]:
    if all(c in table.columns for c in ("case", "day", "slice")):
        return np.stack([table[c].to_numpy(dtype=np.int64) for c in ("case", "day", "slice")], axis=1)
    if "id" not in table.columns:
        raise LayoutError(
            f"table has neither 'case', 'day', 'slice' columns nor an 'id' column (columns: {list(table.columns)})"
        )
    parts = table["id"].astype(str).str.extract(rf"^{_ID_TEXT}\Z")
    bad = parts[0].isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        bad_id = table["id"].iloc[i]
        raise LayoutError(
            f"bad image id {bad_id!r}{_digits_hint(str(bad_id))} in table row {i}: expected {ID_PATTERN}"
        )
    return parts.to_numpy(dtype=np.int64)


def _check_scan(
    label: str, slices: NDArray[np.int64], heights: NDArray[np.int64], widths: NDArray[np.int64]
) -> tuple[int, int, int]:
    """Check that one scan is whole: slices ``1 .. depth`` once each, of one size.

    ``slices`` (sorted), ``heights`` and ``widths`` are per row of the scan;
    returns ``(depth, height, width)``. Shared by :func:`volume` and
    :func:`rlemask.metrics.uwmgi_score` (a 3-D Hausdorff needs whole scans).

    Raises
    ------
    LayoutError
        A slice listed twice, numbered below 1, or missing from ``1 .. max``
        (named), or slices of different sizes.
    """
    slices = np.asarray(slices, np.int64)
    dup = slices[1:][slices[1:] == slices[:-1]]
    if dup.size:
        raise LayoutError(
            f"scan {label} lists slice(s) {sorted(set(dup.tolist()))[:10]} more than once: expected one row per slice"
        )
    if slices[0] < 1:
        raise LayoutError(f"scan {label} has slice number {int(slices[0])}: expected slices numbered from 1")
    depth = int(slices[-1])
    if slices.size != depth:
        missing = np.setdiff1d(np.arange(1, depth + 1), slices)
        shown = ", ".join(str(int(s)) for s in missing[:10])
        more = ", ..." if missing.size > 10 else ""
        raise LayoutError(
            f"scan {label} misses {missing.size} of its slices 1..{depth}: slice(s) {shown}{more} "
            f"(found {slices.size} rows); expected every slice from 1 to {depth}"
        )
    sizes = list(zip(np.asarray(heights).tolist(), np.asarray(widths).tolist()))
    if len(set(sizes)) > 1:
        counts = pd.Series(sizes).value_counts()
        listing = ", ".join(f"{h}x{w} ({n} slices)" for (h, w), n in counts.items())
        raise LayoutError(f"scan {label} mixes slice sizes (height x width): {listing}; expected one size per scan")
    return depth, int(sizes[0][0]), int(sizes[0][1])


def volume(
    table: pd.DataFrame,
    case_day: str | tuple[int, int],
    *,
    classes: Sequence[str] = CLASSES,
    order: str = "C",
) -> NDArray[np.uint8]:
    """Decode one scan (all slices of one case and day) into a 4-D mask.

    Parameters
    ----------
    table : DataFrame
        ``height``, ``width``, one RLE column per class and either ``case``,
        ``day``, ``slice`` columns or an ``id`` column to parse them from.
    case_day : str or (int, int)
        ``"case123_day20"`` or ``(123, 20)``.
    classes : sequence of str, default :data:`~rlemask.uwmgi.CLASSES`
    order : {"C", "F"}, default "C"

    Returns
    -------
    ndarray of uint8, shape (D, H, W, C)
        Slice ``d`` is slice number ``d + 1``.

    Raises
    ------
    LayoutError
        No row for the scan; slices missing from ``1 .. max`` (named) or
        listed twice; slices of different sizes in one scan.
    InvalidRleError
        A malformed string (row, id and class named).

    Examples
    --------
    >>> t = pd.DataFrame({"id": ["case1_day0_slice_0002", "case1_day0_slice_0001"],
    ...                   "height": [1, 1], "width": [2, 2], "large_bowel": ["2 1", "1 1"],
    ...                   "small_bowel": ["", ""], "stomach": ["", ""]})
    >>> volume(t, "case1_day0")[..., 0].tolist()
    [[[1, 0]], [[0, 1]]]
    """
    names = _classes(classes)
    _table_columns(table, names, ("height", "width"))
    case, day = _scan_key(case_day)
    label = f"case{case}_day{day}"
    keys = _case_day_slice(table)
    rows = np.flatnonzero((keys[:, 0] == case) & (keys[:, 1] == day))
    if rows.size == 0:
        scans = sorted({(int(c), int(d)) for c, d in keys[:, :2].tolist()})
        shown = ", ".join(f"case{c}_day{d}" for c, d in scans[:5])
        more = f", ... ({len(scans)} in all)" if len(scans) > 5 else ""
        raise LayoutError(f"no rows for scan {label} in the table; it holds {shown or 'no scan'}{more}")
    rows = rows[np.argsort(keys[rows, 2], kind="stable")]
    heights, widths = _sizes(table.iloc[rows])
    _, h, w = _check_scan(label, keys[rows, 2], heights, widths)
    block = _decode_rows(table, rows, names, (h, w), order)  # (D, C, H, W)
    return _channels_last(block)
