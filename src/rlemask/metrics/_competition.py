"""The UW-Madison GI Tract competition score: ``0.4 * dice + 0.6 * (1 - hausdorff)``.

:func:`uwmgi_score` reads the two tables, checks that every scan is whole
(:func:`rlemask.masks._check_scan`, shared with :func:`rlemask.masks.volume`),
decodes one scan and class at a time, and scores it: per-slice Dice from the
counts of one kernel pass, and the 3-D Hausdorff distance of the volume.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rlemask.errors import InvalidRleError, LayoutError, RlemaskError
from rlemask.metrics._common import Empty, _empty_value, _name_some, _nanmean, _ratio
from rlemask.metrics._distance import _hausdorff_u8, bbox_union
from rlemask.uwmgi import CLASSES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["uwmgi_score", "ScoreReport"]

_OPTIONS = {
    "hausdorff_classes": ("per_class", "merged"),
    "normalize": ("diagonal", "unit"),
    "direction": ("symmetric", "pred_to_truth", "truth_to_pred"),
}
_SCAN_COLUMNS = [
    "case_day", "case", "day", "class", "slices", "depth", "height", "width",
    "dice", "hausdorff_raw", "hausdorff",
]


@dataclass(frozen=True)
class ScoreReport:
    """Result of :func:`uwmgi_score`.

    Attributes
    ----------
    score, dice, hausdorff : float
        ``weights[0] * dice + weights[1] * (1 - hausdorff)``, the mean Dice
        over image x class rows and the mean normalised Hausdorff distance over
        scan x class rows (NaN rows left out).
    summary : DataFrame
        One row: score, dice, hausdorff, images, scans, dice_rows, hausdorff_rows.
    per_class : DataFrame
        One row per class (and ``all``): class, dice, hausdorff, score, images,
        truth_positive, pred_positive.
    per_scan : DataFrame
        One row per case-day and class: case_day, case, day, class, slices,
        depth, height, width, dice, hausdorff_raw (voxels), hausdorff
        (normalised, in [0, 1]), score.
    per_image : DataFrame
        One row per image: id, case_day, and the Dice of each class.
    options : dict
        The options the score was computed with.
    """

    score: float
    dice: float
    hausdorff: float
    summary: pd.DataFrame = field(repr=False)
    per_class: pd.DataFrame = field(repr=False)
    per_scan: pd.DataFrame = field(repr=False)
    per_image: pd.DataFrame = field(repr=False)
    options: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """JSON-ready dict: score, dice, hausdorff, options and the three tables as records.

        NaN (a skipped value) and ``inf`` (a Hausdorff distance to an empty
        mask) become ``None``, since JSON has neither.
        """

        def records(frame):
            return [
                {k: _plain(v) for k, v in row.items()}
                for row in frame.to_dict(orient="records")
            ]

        return {
            "score": _plain(self.score),
            "dice": _plain(self.dice),
            "hausdorff": _plain(self.hausdorff),
            "options": {k: _plain(v) for k, v in self.options.items()},
            "summary": records(self.summary),
            "per_class": records(self.per_class),
            "per_scan": records(self.per_scan),
        }

    def __str__(self) -> str:
        import pandas as pd

        with pd.option_context("display.width", 120, "display.max_columns", 20):
            return (
                f"score={self.score:.6f}  dice={self.dice:.6f}  hausdorff={self.hausdorff:.6f}\n"
                f"{self.per_class.to_string(index=False, float_format=lambda v: f'{v:.6f}')}"
            )


def _plain(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        v = float(v)
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN or inf: NaN (skipped) and inf (one mask empty) become null
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def _read_table(obj: Any, name: str, classes: tuple[str, ...], missing: str = "error") -> pd.DataFrame:
    """One row per image with one RLE column per class (rlemask.uwmgi.read_labels).

    ``missing="empty"`` (for predictions) takes an absent ``(id, class)`` row
    of a long table as an empty mask, as in a submission that lists only its
    non-empty rows.
    """
    import pandas as pd

    from rlemask import uwmgi

    if isinstance(obj, (str, os.PathLike)):
        return uwmgi.read_labels(obj, missing=missing)
    if not isinstance(obj, pd.DataFrame):
        raise LayoutError(
            f"{name} is {type(obj).__name__}; expected a DataFrame or the path of a CSV file"
        )
    if "id" in obj.columns and all(c in obj.columns for c in classes):
        return obj
    return uwmgi.read_labels(obj, missing=missing)


def _read_images(images: Any) -> pd.DataFrame:
    import pandas as pd

    from rlemask import uwmgi

    if isinstance(images, (str, os.PathLike)):
        path = os.fspath(images)
        if os.path.isdir(path):
            frame = uwmgi.scan(path)
        else:
            frame = pd.read_csv(path)
    elif isinstance(images, pd.DataFrame):
        frame = images
    else:
        raise LayoutError(
            f"images is {type(images).__name__}; expected a DataFrame (rlemask.uwmgi.scan), "
            "an image root folder or a CSV with id, height, width"
        )
    missing = [c for c in ("id", "height", "width") if c not in frame.columns]
    if missing:
        raise LayoutError(
            f"images lacks the column(s) {missing}; found {list(frame.columns)}; "
            "expected id, height, width"
        )
    return frame




# --------------------------------------------------------------------------
# reading the two tables
# --------------------------------------------------------------------------


def _read_pair(truth: Any, pred: Any, classes: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables wide (one row per image), unique ids, prediction ids a subset of the truth's."""
    t = _read_table(truth, "truth", classes)
    p = _read_table(pred, "pred", classes, missing="empty")
    for frame, name in ((t, "truth"), (p, "pred")):
        missing = [c for c in ("id",) + classes if c not in frame.columns]
        if missing:
            raise LayoutError(f"{name} lacks the column(s) {missing}; found {list(frame.columns)}")
        dup = frame["id"][frame["id"].duplicated()]
        if len(dup):
            raise LayoutError(f"{name} has {len(dup)} duplicated id(s): {_name_some(dup.unique())}")
    if len(t) == 0:
        raise LayoutError("truth has no rows: nothing to score")
    t_ids = t["id"].astype(str)
    p_ids = p["id"].astype(str)
    extra = p_ids[~p_ids.isin(t_ids)]
    if len(extra):
        raise LayoutError(
            f"pred has {len(extra)} id(s) that are not in truth: {_name_some(extra)}; "
            "expected prediction ids to be a subset of the truth ids"
        )
    return t, p


def _image_sizes(t: pd.DataFrame, images: Any) -> tuple[np.ndarray, np.ndarray]:
    """Height and width of every truth row, from ``images`` or from the truth's own columns."""
    import pandas as pd

    from rlemask.masks import _sizes

    base = pd.DataFrame({"id": t["id"].astype(str).to_numpy()})
    if images is not None:
        im = _read_images(images)
        sizes = pd.DataFrame(
            {"id": im["id"].astype(str).to_numpy(), "height": im["height"].to_numpy(), "width": im["width"].to_numpy()}
        ).drop_duplicates("id")
        base = base.merge(sizes, on="id", how="left", validate="one_to_one")
        lost = base["id"][base["height"].isna()]
        if len(lost):
            raise LayoutError(f"{len(lost)} truth id(s) have no size in images: {_name_some(lost)}")
    elif "height" in t.columns and "width" in t.columns:
        base["height"] = t["height"].to_numpy()
        base["width"] = t["width"].to_numpy()
    else:
        raise LayoutError(
            "truth has no height/width columns; pass images= (rlemask.uwmgi.scan(root), the image "
            "root folder, or a CSV with id, height, width)"
        )
    return _sizes(base)


def _rle_columns(
    t: pd.DataFrame, p: pd.DataFrame, classes: tuple[str, ...]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per class, the truth's and the prediction's strings in truth row order (absent: "")."""
    import pandas as pd

    from rlemask._convert import rle_texts

    t_ids = t["id"].astype(str).to_numpy()
    p_ids = p["id"].astype(str).to_numpy()
    t_rles = {c: rle_texts(t[c], f"truth column {c!r}", "{name}, row {i}") for c in classes}
    p_rles = {}
    for c in classes:
        cells = pd.Series(rle_texts(p[c], f"pred column {c!r}", "{name}, row {i}"), index=p_ids, dtype=object)
        p_rles[c] = cells.reindex(t_ids).fillna("").tolist()
    return t_rles, p_rles


def _scans(ids: Sequence[str]) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """One ``(case, day, rows, slices)`` per scan, rows sorted by slice."""
    from rlemask.uwmgi import _id_parts

    parts = _id_parts(list(ids), "truth")
    case, day, slc = parts[:, 0], parts[:, 1], parts[:, 2]
    order = np.lexsort((slc, day, case))
    if not len(order):
        return []
    key = case[order] * (1 << 32) + day[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    out = []
    for lo, hi in zip(starts, np.r_[starts[1:], len(order)]):
        rows = order[lo:hi]
        out.append((int(case[rows[0]]), int(day[rows[0]]), rows, slc[rows]))
    return out


def _decode_scan(rles: list[str], ids: np.ndarray, shape: tuple[int, int], name: str, c: str) -> np.ndarray:
    """(D, H, W) uint8 volume of one class of one scan; a bad string is named by id and class."""
    from rlemask.rle import decode_many

    try:
        return decode_many(rles, shape)
    except InvalidRleError as exc:
        if exc.item is None:  # pragma: no cover - decode_many always sets the item
            raise
        raise InvalidRleError(
            f"{name} id {ids[exc.item]} class {c}: {exc.reason}",
            token=exc.token,
            run=exc.run,
            offset=exc.offset,
            item=exc.item,
            reason=exc.reason,
        ) from None


# --------------------------------------------------------------------------
# scoring one scan
# --------------------------------------------------------------------------


@dataclass
class _Scores:
    """Per image x class Dice and positives, filled scan by scan."""

    dice: np.ndarray
    t_pos: np.ndarray
    p_pos: np.ndarray


def _hausdorff_of(gt: np.ndarray, pr: np.ndarray, spacing: tuple, direction: str, stats: Any) -> float:
    """Raw (voxel) Hausdorff distance of one volume pair in the chosen direction."""
    if direction == "symmetric":
        return _hausdorff_u8(pr, gt, spacing, False, stats)
    if direction == "pred_to_truth":
        return _hausdorff_u8(pr, gt, spacing, True, stats)
    swapped = None if stats is None else (stats[0][:, [1, 0, 2]], stats[1])
    return _hausdorff_u8(gt, pr, spacing, True, swapped)


def _normalised(raw: float, gt_any: bool, pr_any: bool, max_dist: float, e: float) -> float:
    """Hausdorff in [0, 1]: empty against empty follows ``empty``; one side empty costs 1."""
    if not gt_any and not pr_any:
        return 0.0 if e == 1.0 else (1.0 if e == 0.0 else math.nan)
    if not gt_any or not pr_any:
        return 1.0
    return min(raw / max_dist, 1.0)


def _score_scan(
    scan: tuple[int, int],
    rows: np.ndarray,
    shape: tuple[int, int, int],
    vols: tuple[list[np.ndarray], list[np.ndarray]],
    scores: _Scores,
    classes: tuple[str, ...],
    e: float,
    opts: dict[str, str],
) -> list[dict[str, Any]]:
    """Fill the Dice of the scan's rows in ``scores``; return its per-scan rows (one per class or merged)."""
    depth, height, width = shape
    vols_t, vols_p = vols
    # one pass per class: per-slice counts and the bounding box
    stats = [bbox_union(vols_p[k], vols_t[k]) for k in range(len(classes))]
    for k in range(len(classes)):
        s_p, s_t, inter = stats[k][0].T
        scores.dice[rows, k] = _ratio(2.0 * inter, (s_p + s_t).astype(np.float64), e)
        scores.t_pos[rows, k] = s_t > 0
        scores.p_pos[rows, k] = s_p > 0
    if opts["normalize"] == "diagonal":
        spacing, max_dist = (1.0, 1.0, 1.0), math.sqrt(depth**2 + height**2 + width**2)
    else:
        spacing, max_dist = (1.0 / depth, 1.0 / height, 1.0 / width), math.sqrt(3.0)
    if opts["hausdorff_classes"] == "per_class":
        groups = [(c, [k], vols_t[k], vols_p[k], stats[k]) for k, c in enumerate(classes)]
    else:
        ks = list(range(len(classes)))
        groups = [("all", ks, np.bitwise_or.reduce(vols_t), np.bitwise_or.reduce(vols_p), None)]
    case, day = scan
    out = []
    for c, ks, gt, pr, st in groups:
        raw = _hausdorff_of(gt, pr, spacing, opts["direction"], st)
        gt_any = bool(scores.t_pos[np.ix_(rows, ks)].any())
        pr_any = bool(scores.p_pos[np.ix_(rows, ks)].any())
        out.append(
            {
                "case_day": f"case{case}_day{day}",
                "case": case,
                "day": day,
                "class": c,
                "slices": int(len(rows)),
                "depth": depth,
                "height": int(height),
                "width": int(width),
                "dice": _nanmean(scores.dice[np.ix_(rows, ks)]),
                "hausdorff_raw": float(raw),
                "hausdorff": float(_normalised(raw, gt_any, pr_any, max_dist, e)),
            }
        )
    return out


# --------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------


def _class_table(
    scores: _Scores, per_scan: pd.DataFrame, classes: tuple[str, ...], weights: tuple[float, float], merged: bool
) -> pd.DataFrame:
    import pandas as pd

    w_dice, w_hd = weights
    n_img = scores.dice.shape[0]
    rows = []
    for k, c in enumerate(classes):
        d_c = _nanmean(scores.dice[:, k])
        h_c = math.nan if merged else _nanmean(per_scan.loc[per_scan["class"] == c, "hausdorff"].to_numpy())
        rows.append(
            {
                "class": c,
                "dice": d_c,
                "hausdorff": h_c,
                "score": w_dice * d_c + w_hd * (1.0 - h_c),
                "images": n_img,
                "truth_positive": int(scores.t_pos[:, k].sum()),
                "pred_positive": int(scores.p_pos[:, k].sum()),
            }
        )
    mean_dice = _nanmean(scores.dice)
    mean_hd = _nanmean(per_scan["hausdorff"].to_numpy())
    rows.append(
        {
            "class": "all",
            "dice": mean_dice,
            "hausdorff": mean_hd,
            "score": w_dice * mean_dice + w_hd * (1.0 - mean_hd),
            "images": n_img,
            "truth_positive": int(scores.t_pos.sum()),
            "pred_positive": int(scores.p_pos.sum()),
        }
    )
    return pd.DataFrame(rows)


def uwmgi_score(
    truth: Any,
    pred: Any,
    *,
    images: Any = None,
    classes: Sequence[str] = CLASSES,
    empty: Empty = 1.0,
    hausdorff_classes: str = "per_class",
    normalize: str = "diagonal",
    direction: str = "symmetric",
    weights: tuple[float, float] = (0.4, 0.6),
) -> ScoreReport:
    """Score a prediction the way the UW-Madison GI Tract competition did.

    ``score = 0.4 * dice + 0.6 * (1 - hausdorff)`` where ``dice`` is the mean
    Dice over every image x class row and ``hausdorff`` the mean, over every
    case-day x class, of the symmetric 3-D Hausdorff distance between the
    foreground voxels of the truth and predicted volumes (slices stacked in
    order, slice depth 1, distances in pixels) divided by the volume diagonal
    ``sqrt(D**2 + H**2 + W**2)`` and clipped to 1. An empty prediction of a
    non-empty organ (or the reverse) costs the maximum, 1.

    Parameters
    ----------
    truth : DataFrame or path
        One row per image with an RLE column per class (as
        :func:`rlemask.uwmgi.read_labels` returns), or anything
        ``read_labels`` accepts (the competition's ``train.csv``).
    pred : DataFrame or path
        The same layout, or a submission (``id, class, predicted``). Images of
        ``truth`` missing from ``pred`` are empty predictions, and so are the
        classes a long-format ``pred`` has no row for (a sparse submission
        that lists only its non-empty rows).
    images : DataFrame or path, optional, keyword-only
        Image sizes: a table with ``id, height, width``
        (:func:`rlemask.uwmgi.scan`), the image root folder, or a CSV with
        those columns. Not needed when ``truth`` has ``height`` and ``width``.
    classes : sequence of str, keyword-only
        RLE columns to score (default large_bowel, small_bowel, stomach).
    empty : {1.0, 0.0, "skip"}, keyword-only
        Score of a pair of empty masks, for both terms: 1.0 (default; Dice 1
        and Hausdorff 0), 0.0 (Dice 0 and Hausdorff 1) or "skip" (left out).
    hausdorff_classes : {"per_class", "merged"}, keyword-only
        ``"per_class"`` (default): one Hausdorff per case-day and class;
        ``"merged"``: one per case-day on the union of the classes.
    normalize : {"diagonal", "unit"}, keyword-only
        ``"diagonal"`` (default): divide by ``sqrt(D**2 + H**2 + W**2)``;
        ``"unit"``: scale each axis to [0, 1) (coordinates divided by the
        axis length) and divide by ``sqrt(3)``.
    direction : {"symmetric", "pred_to_truth", "truth_to_pred"}, keyword-only
        Symmetric Hausdorff (default) or one of the one-sided distances.
    weights : (float, float), keyword-only
        Weights of Dice and of ``1 - hausdorff`` (default 0.4, 0.6).

    Returns
    -------
    ScoreReport
        ``.score``, ``.dice``, ``.hausdorff`` and the tables ``.summary``,
        ``.per_class``, ``.per_scan``, ``.per_image``.

    Raises
    ------
    LayoutError
        Prediction ids that are not in ``truth``, duplicated ids, missing
        image sizes or sizes that are not non-negative integers (the id is
        named), or a scan whose slices are incomplete.
    InvalidRleError
        A malformed RLE string.
    RlemaskError
        An unknown option value.

    Examples
    --------
    >>> import pandas as pd
    >>> truth = pd.DataFrame({"id": ["case1_day0_slice_0001", "case1_day0_slice_0002"],
    ...                       "height": 4, "width": 4,
    ...                       "stomach": ["1 2", ""]})
    >>> pred = pd.DataFrame({"id": ["case1_day0_slice_0001"], "stomach": ["1 2"]})
    >>> report = uwmgi_score(truth, pred, classes=["stomach"])
    >>> report.dice, report.hausdorff, report.score
    (1.0, 0.0, 1.0)
    """
    import pandas as pd

    from rlemask.masks import _check_scan

    e = _empty_value(empty)
    classes = tuple(classes)
    opts = {"hausdorff_classes": hausdorff_classes, "normalize": normalize, "direction": direction}
    for key, value in opts.items():
        if value not in _OPTIONS[key]:
            raise RlemaskError(f"{key}={value!r} is not one of {_OPTIONS[key]}")
    w_dice, w_hd = (float(x) for x in weights)

    t, p = _read_pair(truth, pred, classes)
    heights, widths = _image_sizes(t, images)
    t_rles, p_rles = _rle_columns(t, p, classes)
    ids = t["id"].astype(str).to_numpy()
    n_img = len(ids)
    scores = _Scores(
        dice=np.full((n_img, len(classes)), np.nan),
        t_pos=np.zeros((n_img, len(classes)), bool),
        p_pos=np.zeros((n_img, len(classes)), bool),
    )
    scan_rows: list[dict[str, Any]] = []
    case_day = np.empty(n_img, dtype=object)
    scans = _scans(ids)
    for case, day, rows, slices in scans:
        label = f"case{case}_day{day}"
        case_day[rows] = label
        depth, height, width = _check_scan(label, slices, heights[rows], widths[rows])
        vols = tuple(
            [_decode_scan([rles[c][i] for i in rows], ids[rows], (height, width), name, c) for c in classes]
            for rles, name in ((t_rles, "truth"), (p_rles, "pred"))
        )
        scan_rows += _score_scan((case, day), rows, (depth, height, width), vols, scores, classes, e, opts)

    per_scan = pd.DataFrame(scan_rows, columns=_SCAN_COLUMNS)
    per_scan["score"] = w_dice * per_scan["dice"] + w_hd * (1.0 - per_scan["hausdorff"])
    per_class = _class_table(scores, per_scan, classes, (w_dice, w_hd), hausdorff_classes == "merged")
    mean_dice, mean_hd, score = (float(per_class.iloc[-1][k]) for k in ("dice", "hausdorff", "score"))
    per_image = pd.DataFrame({"id": ids, "case_day": case_day})
    for k, c in enumerate(classes):
        per_image[c] = scores.dice[:, k]
    summary = pd.DataFrame(
        [
            {
                "score": score,
                "dice": mean_dice,
                "hausdorff": mean_hd,
                "images": n_img,
                "scans": len(scans),
                "dice_rows": int(np.isfinite(scores.dice).sum()),
                "hausdorff_rows": int(per_scan["hausdorff"].notna().sum()),
            }
        ]
    )
    options = {"classes": classes, "empty": empty, **opts, "weights": (w_dice, w_hd)}
    return ScoreReport(
        score=score,
        dice=mean_dice,
        hausdorff=mean_hd,
        summary=summary,
        per_class=per_class,
        per_scan=per_scan,
        per_image=per_image,
        options=options,
    )
