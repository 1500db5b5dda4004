"""The UW-Madison GI Tract (UWMGI) data layout: ids, file names, tables, slices.

The competition ships one folder per case and day and one PNG per slice::

    ROOT/train.csv
    ROOT/train/case123/case123_day20/scans/slice_0065_266_266_1.50_1.50.png
    ROOT/test/...     (the Kaggle test set: the same layout, no labels; split="test")

* An image id is ``case{N}_day{D}_slice_{SSSS}`` (``case123_day20_slice_0065``).
* A file name is ``slice_{SSSS}_{W}_{H}_{PW}_{PH}.png``: the slice number, the
  **width first, then the height** in pixels, and the pixel spacing in mm
  along the width and the height. ``slice_0065_360_310_1.50_1.50.png`` holds
  an array of 310 rows x 360 columns.
* ``train.csv`` is in the *long* format: three rows per image (``id``,
  ``class``, ``segmentation``), one per class, with an empty segmentation for
  an empty mask. Submissions use the column name ``predicted`` instead.

Every function here works on a *table*: a pandas DataFrame with one row per
image, at least ``id``, ``height``, ``width`` and one RLE column per class
(:data:`CLASSES`, ``""`` for an empty mask).

Examples
--------
>>> parse_id("case123_day20_slice_0065")
(123, 20, 65)
>>> parse_filename("slice_0065_360_310_1.50_1.50.png")["height"]
310
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from rlemask.errors import LayoutError

__all__ = [
    "CLASSES",
    "BAD_SCANS",
    "ID_PATTERN",
    "FILENAME_PATTERN",
    "ID_REGEX",
    "SCAN_REGEX",
    "parse_id",
    "format_id",
    "parse_filename",
    "from_paths",
    "scan",
    "read_labels",
    "merge",
    "load_table",
    "read_slice",
]

#: The three classes, in the order of the competition's ``train.csv``.
CLASSES: tuple[str, ...] = ("large_bowel", "small_bowel", "stomach")

#: Scans (``case{N}_day{D}``) whose labels the organisers / community flagged as
#: wrong: in ``case7_day0`` and ``case81_day30`` the annotations do not match
#: the anatomy. ``scan``, ``load_table`` and friends drop them with
#: ``exclude_bad=True``; by default they are kept, as in the competition.
BAD_SCANS: tuple[str, ...] = ("case7_day0", "case81_day30")

#: What an image id looks like.
ID_PATTERN = "case{N}_day{D}_slice_{SSSS}, e.g. case123_day20_slice_0065"
#: What a slice file name looks like.
FILENAME_PATTERN = "slice_{SSSS}_{W}_{H}_{PW}_{PH}.png, e.g. slice_0065_360_310_1.50_1.50.png"

# Most digits in a number of an id, folder or file name: ASCII 0-9 only (not
# Unicode digits such as '\u0661'), and few enough that every value fits an int64.
_MAX_DIGITS = 9
_INT = rf"([0-9]{{1,{_MAX_DIGITS}}})"
_ID_TEXT = rf"case{_INT}_day{_INT}_slice_{_INT}"
_ID_RE = re.compile(_ID_TEXT)
_SCAN_RE = re.compile(rf"case{_INT}_day{_INT}")
_CASE_RE = re.compile(rf"case{_INT}")
#: Compiled regular expression of an image id, for ``ID_REGEX.fullmatch(text)``:
#: groups case, day, slice; ASCII digits only (``\\d`` would accept Unicode
#: digits), at most 9 per number. The one definition every module imports.
ID_REGEX: re.Pattern[str] = _ID_RE
#: Compiled regular expression of a scan name ``case{N}_day{D}`` (groups case, day).
SCAN_REGEX: re.Pattern[str] = _SCAN_RE
_NUM = rf"([0-9]{{1,{_MAX_DIGITS}}}(?:\.[0-9]*)?|\.[0-9]+)"
_FILE_RE = re.compile(rf"slice_{_INT}_{_INT}_{_INT}_{_NUM}_{_NUM}\.png")
_LONG_NUMBER = re.compile(rf"[0-9]{{{_MAX_DIGITS + 1},}}")
_SPLITS = ("train", "test")

_IMAGE_COLUMNS = ("id", "case", "day", "slice", "path", "height", "width", "spacing_w", "spacing_h")
_LABEL_VALUE_COLUMNS = ("segmentation", "predicted")
_NORMALIZE = ("none", "minmax", "percentile")


# --------------------------------------------------------------------------
# ids and file names
# --------------------------------------------------------------------------


def _digits_hint(text: str) -> str:
    """A hint for a name that fails only because a number is too long."""
    if _LONG_NUMBER.search(text):
        return f" (a number has more than {_MAX_DIGITS} digits)"
    return ""


def parse_id(image_id: str) -> tuple[int, int, int]:
    """Split an image id into ``(case, day, slice)``.

    Parameters
    ----------
    image_id : str
        ``case{N}_day{D}_slice_{SSSS}``.

    Returns
    -------
    tuple of int
        ``(case, day, slice)``.

    Raises
    ------
    LayoutError
        If ``image_id`` does not match the pattern exactly: ASCII digits
        only, at most 9 per number, no surrounding spaces.

    Examples
    --------
    >>> parse_id("case123_day20_slice_0065")
    (123, 20, 65)
    >>> parse_id("case1_day0_slice_1")
    (1, 0, 1)
    """
    if not isinstance(image_id, str):
        raise LayoutError(
            f"image id must be a string, found {type(image_id).__name__} {image_id!r}; "
            f"expected {ID_PATTERN}"
        )
    m = _ID_RE.fullmatch(image_id)
    if m is None:
        raise LayoutError(f"bad image id {image_id!r}{_digits_hint(image_id)}: expected {ID_PATTERN}")
    return int(m[1]), int(m[2]), int(m[3])


def format_id(case: int, day: int, slice: int) -> str:
    """Build an image id from its parts (the inverse of :func:`parse_id`).

    Examples
    --------
    >>> format_id(123, 20, 65)
    'case123_day20_slice_0065'
    """
    return f"case{int(case)}_day{int(day)}_slice_{int(slice):04d}"


def parse_filename(name: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the slice number, size and pixel spacing from a slice file name.

    Parameters
    ----------
    name : str or path-like
        ``slice_{SSSS}_{W}_{H}_{PW}_{PH}.png``, or a path ending in one.
        **Width comes first**: the image is ``H`` rows x ``W`` columns.

    Returns
    -------
    dict
        ``slice``, ``width``, ``height`` (int) and ``spacing_w``,
        ``spacing_h`` (float, mm per pixel along the width / the height).

    Raises
    ------
    LayoutError
        If the name does not match the pattern or a size is zero.

    Examples
    --------
    >>> info = parse_filename("slice_0065_360_310_1.50_1.50.png")
    >>> info["width"], info["height"], info["spacing_w"]
    (360, 310, 1.5)
    >>> parse_filename("train/case1/case1_day0/scans/slice_0001_266_266_1.50_1.50.png")["slice"]
    1
    """
    base = os.path.basename(os.fspath(name))
    m = _FILE_RE.fullmatch(base)
    if m is None:
        raise LayoutError(
            f"bad slice file name {base!r}{_digits_hint(base)} (in {os.fspath(name)!r}): "
            f"expected {FILENAME_PATTERN}"
        )
    width, height = int(m[2]), int(m[3])
    if width == 0 or height == 0:
        raise LayoutError(
            f"slice file name {base!r} gives width={width} height={height}: expected positive sizes"
        )
    return {
        "slice": int(m[1]),
        "width": width,
        "height": height,
        "spacing_w": float(m[4]),
        "spacing_h": float(m[5]),
    }


def _empty_images() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": pd.Series([], dtype=object).astype(str),
            "case": np.zeros(0, np.int64),
            "day": np.zeros(0, np.int64),
            "slice": np.zeros(0, np.int64),
            "path": pd.Series([], dtype=object).astype(str),
            "height": np.zeros(0, np.int64),
            "width": np.zeros(0, np.int64),
            "spacing_w": np.zeros(0, np.float64),
            "spacing_h": np.zeros(0, np.float64),
        }
    )


def from_paths(paths: Iterable[str | os.PathLike[str]]) -> pd.DataFrame:
    """Build the image table from slice paths ``.../caseN/caseN_dayD/scans/slice_*.png``.

    The case and day come from the scan folder (``caseN_dayD``, the parent of
    ``scans``), the rest from the file name. Paths are kept as given.

    Parameters
    ----------
    paths : iterable of str or path-like

    Returns
    -------
    DataFrame
        ``id, case, day, slice, path, height, width, spacing_w, spacing_h``,
        sorted by case, day and slice.

    Raises
    ------
    LayoutError
        If a path does not follow the layout, or two paths give the same id.

    Examples
    --------
    >>> t = from_paths(["train/case2/case2_day1/scans/slice_0003_360_310_1.50_1.50.png"])
    >>> print(t[["id", "case", "day", "height", "width"]].to_string(index=False))
                       id  case  day  height  width
    case2_day1_slice_0003     2    1     310    360
    """
    texts = [os.fspath(p) for p in paths]
    if not texts:
        return _empty_images()
    table = pd.DataFrame.from_records(_parse_paths(texts), columns=list(_IMAGE_COLUMNS))
    for col in ("case", "day", "slice", "height", "width"):
        table[col] = table[col].astype(np.int64)
    for col in ("spacing_w", "spacing_h"):
        table[col] = table[col].astype(np.float64)
    table = table.sort_values(["case", "day", "slice"], kind="stable").reset_index(drop=True)
    dup = table["id"].duplicated(keep=False)
    if dup.any():
        first = table.loc[dup, ["id", "path"]].head(4)
        listing = "; ".join(f"{i} <- {p}" for i, p in zip(first["id"], first["path"]))
        raise LayoutError(
            f"{int(dup.sum())} slice files map to an id that another file also gives "
            f"(two files for one slice): {listing}"
        )
    return table


def _parse_paths(texts: list[str]) -> list[tuple]:
    """One record per path (a plain loop: as fast as pandas' string methods here)."""
    rows: list[tuple] = []
    for text in texts:
        parts = re.split(r"[\\/]+", text)
        if len(parts) < 3:
            raise LayoutError(
                f"slice path {text!r} is too short: expected .../caseN/caseN_dayD/scans/{FILENAME_PATTERN}"
            )
        info = parse_filename(parts[-1])
        scan_dir = parts[-3]
        m = _SCAN_RE.fullmatch(scan_dir)
        if m is None or parts[-2] != "scans":
            raise LayoutError(
                f"slice path {text!r} is not inside a scan folder{_digits_hint(scan_dir)}: expected "
                f".../caseN/caseN_dayD/scans/{FILENAME_PATTERN}"
            )
        case, day = int(m[1]), int(m[2])
        if len(parts) >= 4 and _CASE_RE.fullmatch(parts[-4]) and int(parts[-4][4:]) != case:
            raise LayoutError(
                f"slice path {text!r}: scan folder {scan_dir!r} sits in case folder "
                f"{parts[-4]!r}; expected it in 'case{case}'"
            )
        rows.append(
            (
                format_id(case, day, info["slice"]),
                case,
                day,
                info["slice"],
                text,
                info["height"],
                info["width"],
                info["spacing_w"],
                info["spacing_h"],
            )
        )
    return rows


def _drop_bad(table: pd.DataFrame) -> pd.DataFrame:
    scan_of = "case" + table["case"].astype(str) + "_day" + table["day"].astype(str)
    return table.loc[~scan_of.isin(BAD_SCANS)].reset_index(drop=True)


def _check_split(split: Any) -> str:
    if not isinstance(split, str) or split not in _SPLITS:
        raise LayoutError(f"split={split!r}: expected 'train' or 'test' (the folder under ROOT holding caseN/)")
    return split


def scan(
    root: str | os.PathLike[str], *, split: str = "train", exclude_bad: bool = False
) -> pd.DataFrame:
    """List every slice image under ``root/{split}/caseN/caseN_dayD/scans/``.

    Hidden folders (a name starting with ``.``, such as the
    ``.ipynb_checkpoints`` Jupyter leaves behind) are skipped; any other
    folder that breaks the layout raises.

    Parameters
    ----------
    root : str or path-like
        The competition folder (the one holding ``train/`` and ``train.csv``,
        or ``test/`` in the Kaggle test download).
    split : {"train", "test"}, default "train"
        The folder under ``root`` to list; ``test/`` has the same layout and
        file names as ``train/`` (and no labels).
    exclude_bad : bool, default False
        Drop the scans listed in :data:`BAD_SCANS` (wrong labels).

    Returns
    -------
    DataFrame
        ``id, case, day, slice, path, height, width, spacing_w, spacing_h``,
        one row per PNG, sorted by case, day and slice. ``path`` is the full
        path (``root`` joined with the relative path) as a string.

    Raises
    ------
    LayoutError
        If ``split`` is not "train" or "test", ``root/{split}`` is missing,
        holds no slice, or a file or folder breaks the layout (named in the
        message).
    """
    split = _check_split(split)
    root = Path(root)
    train = root / split
    if not train.is_dir():
        raise LayoutError(
            f"no {split!r} folder in {str(root)!r}: expected "
            f"ROOT/{split}/caseN/caseN_dayD/scans/{FILENAME_PATTERN}"
        )
    paths: list[str] = []
    for case_entry in sorted(os.scandir(train), key=lambda e: e.name):
        if not case_entry.is_dir() or case_entry.name.startswith("."):
            continue
        if _CASE_RE.fullmatch(case_entry.name) is None:
            raise LayoutError(
                f"unexpected folder {case_entry.path!r}{_digits_hint(case_entry.name)}: "
                f"expected case folders named caseN in {str(train)!r}"
            )
        for scan_entry in sorted(os.scandir(case_entry.path), key=lambda e: e.name):
            if not scan_entry.is_dir() or scan_entry.name.startswith("."):
                continue
            scans = os.path.join(scan_entry.path, "scans")
            if not os.path.isdir(scans):
                raise LayoutError(
                    f"scan folder {scan_entry.path!r} has no 'scans' sub-folder: "
                    f"expected {scan_entry.path}/scans/{FILENAME_PATTERN}"
                )
            for f in os.scandir(scans):
                if f.name.lower().endswith(".png"):
                    paths.append(f.path)
    if not paths:
        raise LayoutError(
            f"no slice images found under {str(train)!r}: expected "
            f"{train}/caseN/caseN_dayD/scans/{FILENAME_PATTERN}"
        )
    table = from_paths(paths)
    return _drop_bad(table) if exclude_bad else table


# --------------------------------------------------------------------------
# labels
# --------------------------------------------------------------------------


def _clean_rle(values: pd.Series, where: str) -> list[str]:
    """RLE cells as stripped strings; empty cells (None, NaN, pd.NA, pd.NaT) -> "".

    Any other non-string cell (a number, a list) raises :class:`InvalidRleError`
    naming its row (:func:`rlemask._convert.rle_texts`, the one empty-cell rule).
    """
    from rlemask._convert import rle_texts

    return [t.strip() for t in rle_texts(values, where, "{name}, row {i}")]


def _id_parts(ids: Sequence[str], where: str) -> NDArray[np.int64]:
    if not len(ids):
        return np.zeros((0, 3), np.int64)
    series = pd.Series(ids, dtype=object)
    parts = series.astype(str).str.extract(rf"^{_ID_TEXT}\Z")
    bad = parts[0].isna().to_numpy() | ~series.map(lambda v: isinstance(v, str)).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise LayoutError(
            f"bad image id {ids[i]!r}{_digits_hint(str(ids[i]))} in row {i} of {where}: expected {ID_PATTERN}"
        )
    return parts.to_numpy(dtype=np.int64)


def _listing(values: Sequence[Any], n: int = 5) -> str:
    values = list(values)
    shown = ", ".join(map(str, values[:n]))
    more = f", ... ({len(values)} in all)" if len(values) > n else f" ({len(values)} in all)"
    return shown + more


def read_labels(
    labels: str | os.PathLike[str] | pd.DataFrame,
    *,
    classes: Sequence[str] = CLASSES,
    missing: str = "error",
) -> pd.DataFrame:
    """Read labels (or predictions) into one row per image, one RLE column per class.

    Parameters
    ----------
    labels : path or DataFrame
        The competition's long format ``id, class, segmentation`` (three rows
        per image), a submission ``id, class, predicted``, or an already wide
        table with ``id`` and one column per class.
    classes : sequence of str, default :data:`CLASSES`
        The class names, in the order of the output columns.
    missing : {"error", "empty"}, default "error"
        What to do when an image lacks a row for some class: raise, or take
        the mask as empty (as a submission that lists only non-empty rows).

    Returns
    -------
    DataFrame
        ``id, case, day, slice`` and one column per class holding RLE strings
        (``""`` for an empty mask; NaN and blanks become ``""``). Images keep
        the order in which they first appear.

    Raises
    ------
    LayoutError
        Missing columns, a bad id, an unknown class, a duplicated
        ``(id, class)`` row, or (with ``missing="error"``) an image without
        all its classes.

    Examples
    --------
    >>> long = pd.DataFrame({"id": ["case1_day0_slice_0001"] * 3,
    ...                      "class": ["large_bowel", "small_bowel", "stomach"],
    ...                      "segmentation": ["1 2", None, "5 1"]})
    >>> read_labels(long).iloc[0].to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'id': 'case1_day0_slice_0001', 'case': 1, 'day': 0, 'slice': 1,
     'large_bowel': '1 2', 'small_bowel': '', 'stomach': '5 1'}
    """
    if missing not in ("error", "empty"):
        raise LayoutError(f"missing={missing!r}: expected 'error' or 'empty'")
    classes = tuple(classes)
    if isinstance(labels, pd.DataFrame):
        frame, where = labels, "the labels table"
    else:
        where = repr(os.fspath(labels))
        try:
            frame = pd.read_csv(labels, dtype=str, keep_default_na=False)
        except FileNotFoundError as exc:
            raise LayoutError(f"labels file {where} not found") from exc
    if "id" not in frame.columns:
        raise LayoutError(
            f"{where} has no 'id' column (columns: {list(frame.columns)}): expected "
            "'id, class, segmentation' (train.csv), 'id, class, predicted' (submission) "
            f"or 'id' plus one column per class {list(classes)}"
        )
    ids_all = [str(v) if v is not None and v is not pd.NA else v for v in frame["id"].tolist()]

    if "class" not in frame.columns:  # wide already
        absent = [c for c in classes if c not in frame.columns]
        if absent:
            raise LayoutError(
                f"{where} has neither a 'class' column nor the class columns {absent}: "
                "expected 'id, class, segmentation', 'id, class, predicted' or a wide table"
            )
        ids = ids_all
        dup = pd.Series(ids).duplicated()
        if dup.any():
            raise LayoutError(f"{where} lists some ids twice: {_listing(pd.Series(ids)[dup].unique())}")
        parts = _id_parts(ids, where)
        out = {"id": ids, "case": parts[:, 0], "day": parts[:, 1], "slice": parts[:, 2]}
        for c in classes:
            out[c] = _clean_rle(frame[c], f"{where}, column {c!r}")
        return pd.DataFrame(out)

    value_col = next((c for c in _LABEL_VALUE_COLUMNS if c in frame.columns), None)
    if value_col is None:
        raise LayoutError(
            f"{where} has a 'class' column but no 'segmentation' or 'predicted' column "
            f"(columns: {list(frame.columns)})"
        )
    cls = frame["class"].astype(str).str.strip().tolist()
    unknown = sorted(set(cls) - set(classes))
    if unknown:
        row = cls.index(unknown[0])
        raise LayoutError(
            f"{where}: unknown class {unknown[0]!r} in row {row} "
            f"({len(unknown)} unknown name(s): {unknown[:5]}); expected one of {list(classes)}"
        )
    rles = _clean_rle(frame[value_col], f"{where}, column {value_col!r}")
    # order of first appearance
    codes, uniq = pd.factorize(pd.Series(ids_all, dtype=object), sort=False)
    uniq = [str(u) for u in uniq]
    parts = _id_parts(uniq, where)
    class_index = {c: k for k, c in enumerate(classes)}
    cls_code = np.fromiter((class_index[c] for c in cls), np.int64, len(cls))
    flat = codes.astype(np.int64) * len(classes) + cls_code
    counts = np.bincount(flat, minlength=len(uniq) * len(classes))
    if (counts > 1).any():
        bad = np.flatnonzero(counts > 1)
        named = [f"{uniq[b // len(classes)]}/{classes[b % len(classes)]}" for b in bad]
        raise LayoutError(f"{where} has more than one row for some (id, class) pairs: {_listing(named)}")
    if missing == "error" and (counts == 0).any():
        bad = np.flatnonzero(counts == 0)
        named = [f"{uniq[b // len(classes)]}/{classes[b % len(classes)]}" for b in bad]
        raise LayoutError(
            f"{where} lacks rows for some (id, class) pairs: {_listing(named)}; "
            "pass missing='empty' to take them as empty masks"
        )
    grid = np.full(len(uniq) * len(classes), "", dtype=object)
    grid[flat] = np.asarray(rles, dtype=object)
    grid = grid.reshape(len(uniq), len(classes))
    out = {"id": uniq, "case": parts[:, 0], "day": parts[:, 1], "slice": parts[:, 2]}
    for k, c in enumerate(classes):
        out[c] = grid[:, k].tolist()
    return pd.DataFrame(out)


def merge(images: pd.DataFrame, labels: pd.DataFrame, *, how: str = "exact") -> pd.DataFrame:
    """Join the image table (:func:`scan`) with the label table (:func:`read_labels`) on ``id``.

    Parameters
    ----------
    images : DataFrame
        With ``id`` (and typically ``path``, ``height``, ``width``).
    labels : DataFrame
        With ``id`` and the RLE columns; its ``case``/``day``/``slice``
        columns are dropped in favour of those of ``images``.
    how : {"exact", "inner"}, default "exact"
        ``"exact"`` raises when an id is in one table and not the other;
        ``"inner"`` keeps only the ids in both.

    Returns
    -------
    DataFrame
        The rows of ``images`` in their order, with the label columns added.

    Raises
    ------
    LayoutError
        Ids in one table but not the other (with ``how="exact"``: the first
        few of each side and their counts), duplicated ids, no ``id`` column.

    Examples
    --------
    >>> images = pd.DataFrame({"id": ["case1_day0_slice_0001"], "height": [2], "width": [2]})
    >>> labels = pd.DataFrame({"id": ["case1_day0_slice_0001"], "large_bowel": ["1 1"]})
    >>> merge(images, labels).columns.tolist()
    ['id', 'height', 'width', 'large_bowel']
    """
    if how not in ("exact", "inner"):
        raise LayoutError(f"how={how!r}: expected 'exact' or 'inner'")
    for name, t in (("images", images), ("labels", labels)):
        if "id" not in t.columns:
            raise LayoutError(f"{name} table has no 'id' column (columns: {list(t.columns)})")
        dup = t["id"].duplicated()
        if dup.any():
            raise LayoutError(f"{name} table lists some ids twice: {_listing(t.loc[dup, 'id'].unique())}")
    img_ids = pd.Index(images["id"].astype(str))
    lab_ids = pd.Index(labels["id"].astype(str))
    if how == "exact":
        only_img = img_ids.difference(lab_ids, sort=False)
        only_lab = lab_ids.difference(img_ids, sort=False)
        if len(only_img) or len(only_lab):
            msg = ["image and label tables do not list the same ids:"]
            if len(only_img):
                msg.append(f"{len(only_img)} image(s) without labels: {_listing(only_img)}")
            if len(only_lab):
                msg.append(f"{len(only_lab)} labelled id(s) without an image: {_listing(only_lab)}")
            msg.append("(pass how='inner' to keep only the ids in both)")
            raise LayoutError(" ".join(msg))
    extra = [c for c in labels.columns if c == "id" or c not in images.columns]
    right = labels[extra].copy()
    right["id"] = right["id"].astype(str)
    left = images.copy()
    left["id"] = left["id"].astype(str)
    out = left.merge(right, on="id", how="inner", sort=False, validate="one_to_one")
    return out.reset_index(drop=True)


def load_table(
    root: str | os.PathLike[str],
    labels: str | os.PathLike[str] | pd.DataFrame | None = None,
    *,
    split: str = "train",
    exclude_bad: bool = False,
) -> pd.DataFrame:
    """:func:`scan` + :func:`read_labels` + :func:`merge`: one row per labelled image.

    Parameters
    ----------
    root : path
        The competition folder.
    labels : path or DataFrame, optional
        Default ``root/train.csv`` with ``split="train"``; required with
        ``split="test"`` (the competition ships no test labels).
    split : {"train", "test"}, default "train"
        The image folder under ``root``, as in :func:`scan`.
    exclude_bad : bool, default False
        Drop the scans in :data:`BAD_SCANS` from both images and labels.

    Returns
    -------
    DataFrame
        ``id, case, day, slice, path, height, width, spacing_w, spacing_h``
        plus one RLE column per class, sorted by case, day and slice.

    Raises
    ------
    LayoutError
        As :func:`scan`, :func:`read_labels` and :func:`merge`; also
        ``split="test"`` without ``labels``.
    """
    split = _check_split(split)
    if labels is None and split != "train":
        raise LayoutError(
            f"split={split!r} has no labels file: pass labels=, or use scan(root, split={split!r}) "
            "for the images alone"
        )
    images = scan(root, split=split, exclude_bad=exclude_bad)
    labels_table = read_labels(Path(root) / "train.csv" if labels is None else labels)
    if exclude_bad:
        labels_table = _drop_bad(labels_table)
    return merge(images, labels_table)


# --------------------------------------------------------------------------
# pixels
# --------------------------------------------------------------------------


def read_slice(
    path: str | os.PathLike[str],
    *,
    normalize: str = "none",
    percentile: float = 99.5,
    check_size: bool = True,
) -> NDArray[np.float32]:
    """Read one slice as a float32 ``(height, width)`` array, without losing range.

    The competition's PNGs are 16-bit grayscale (Pillow mode ``I;16``, raw
    scanner counts, typically 0 to a few thousand, up to 65535). Every 16-bit
    value is exactly representable in float32, so ``normalize="none"`` keeps
    the counts bit for bit. 8-bit (``L``), 32-bit integer (``I``) and float
    (``F``) grayscale files are read the same way.

    Parameters
    ----------
    path : path
    normalize : {"none", "minmax", "percentile"}, default "none"
        * ``"none"``: the raw counts as float32.
        * ``"minmax"``: ``(x - min) / (max - min)`` per image, in [0, 1]; a
          constant image gives zeros.
        * ``"percentile"``: clip at the ``percentile``-th percentile ``p`` of
          the image (99.5 by default, which tames the few very bright voxels
          of these scans), then ``(x - min) / (p - min)``, in [0, 1]; zeros
          when ``p == min``.
    percentile : float, default 99.5
        Used by ``normalize="percentile"``; in (0, 100].
    check_size : bool, default True
        When the file name follows the UWMGI pattern, check that the image is
        ``height`` rows x ``width`` columns as the name says.

    Returns
    -------
    ndarray of float32, shape (height, width)

    Raises
    ------
    LayoutError
        If the file is missing, is not single-channel grayscale, its size
        contradicts its name, or ``normalize`` is unknown.
    """
    from PIL import Image

    if normalize not in _NORMALIZE:
        raise LayoutError(f"normalize={normalize!r}: expected one of {list(_NORMALIZE)}")
    if not 0 < percentile <= 100:
        raise LayoutError(f"percentile={percentile!r}: expected a number in (0, 100]")
    text = os.fspath(path)
    try:
        with Image.open(text) as im:
            mode = im.mode
            if mode not in ("I;16", "I;16B", "I;16L", "I", "L", "F"):
                raise LayoutError(
                    f"slice {text!r} has Pillow mode {mode!r}: expected single-channel "
                    "grayscale ('I;16' for the competition's 16-bit PNGs, or 'L', 'I', 'F')"
                )
            raw = np.asarray(im)
    except FileNotFoundError as exc:
        raise LayoutError(f"slice file {text!r} not found") from exc
    if check_size:
        m = _FILE_RE.fullmatch(os.path.basename(text))
        if m is not None:
            expected = (int(m[3]), int(m[2]))
            if raw.shape != expected:
                raise LayoutError(
                    f"slice {text!r} is {raw.shape[0]} rows x {raw.shape[1]} columns but its name "
                    f"says width={expected[1]} height={expected[0]} (expected shape {expected}); "
                    "pass check_size=False to skip this check"
                )
    image = raw.astype(np.float32)
    if normalize == "none" or image.size == 0:
        return image
    lo = float(image.min())
    hi = float(image.max()) if normalize == "minmax" else float(np.percentile(image, percentile))
    if hi <= lo:
        return np.zeros_like(image)
    if normalize == "percentile":
        np.clip(image, lo, hi, out=image)
    image -= lo
    image /= hi - lo
    return image
