"""Score predictions per class: Dice, IoU, Hausdorff, the competition score, false positives.

:class:`Scores` collects the predicted masks of a set of slices one at a time
(at their original size) and summarises them with :mod:`rlemask.metrics`:

* ``dice`` and ``iou``: mean over every image x class, an empty prediction of an
  empty truth counting 1 (the competition's convention, ``empty=1.0``);
* ``hausdorff``: :func:`rlemask.metrics.uwmgi_score`'s normalised 3-D Hausdorff
  distance per case-day and class, averaged;
* ``score``: ``0.4 * dice + 0.6 * (1 - hausdorff)``, as the competition;
* ``empty_truth``, ``fp_empty``, ``fp_empty_rate``: the slices whose truth is
  empty (for the class; for the ``all`` row: empty for every class) and how many
  of them the model paints anyway.  The rate is NaN when there are none.

:func:`evaluate` runs a checkpoint over the validation fold it was trained
against and writes that table as CSV or JSON.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

import rlemask
from rlemask._io import atomic_path
from rlemask.errors import LayoutError, RlemaskError

__all__ = ["COLUMNS", "Scores", "evaluate", "write_table"]

CLASSES = ("large_bowel", "small_bowel", "stomach")

#: columns of the per-class table
COLUMNS = (
    "class",
    "dice",
    "iou",
    "hausdorff",
    "score",
    "images",
    "truth_positive",
    "pred_positive",
    "empty_truth",
    "fp_empty",
    "fp_empty_rate",
)


def _plain(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN to None."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) else value
    return value


class Scores:
    """Accumulate predicted masks of the rows of ``table`` and score them.

    Parameters
    ----------
    table : DataFrame
        ``id``, ``height``, ``width`` and one RLE column per class; every row must
        receive a prediction (:meth:`add`) before :meth:`summary`.  Score whole
        scans (all slices of each case-day) for a meaningful Hausdorff term.
    classes : sequence of str

    Examples
    --------
    >>> t = pd.DataFrame({"id": ["case1_day0_slice_0001"], "height": [2], "width": [2],
    ...                   "large_bowel": ["1 2"], "small_bowel": [""], "stomach": [""]})
    >>> s = Scores(t)
    >>> s.add(0, np.array([[[1, 1], [0, 0]], [[0, 0], [0, 0]], [[0, 1], [0, 0]]], np.uint8))
    >>> m = s.summary()
    >>> m["per_class"]["large_bowel"]["dice"], m["per_class"]["stomach"]["fp_empty"]
    (1.0, 1)
    """

    def __init__(self, table: pd.DataFrame, *, classes: Sequence[str] = CLASSES) -> None:
        missing = [c for c in ("id", "height", "width", *classes) if c not in table.columns]
        if missing:
            raise LayoutError(f"Scores: table lacks columns {missing}; found {list(table.columns)}")
        self.classes = tuple(classes)
        rows = table.reset_index(drop=True)
        self.ids = [str(v) for v in rows["id"].tolist()]
        self.shapes = [(int(h), int(w)) for h, w in zip(rows["height"].tolist(), rows["width"].tolist())]
        self.truth = [
            [v if isinstance(v, str) else "" for v in rows[c].astype(object).where(rows[c].notna(), "")]
            for c in self.classes
        ]
        n, k = len(rows), len(self.classes)
        self.dice = np.full((n, k), np.nan)
        self.iou = np.full((n, k), np.nan)
        self.truth_pos = np.zeros((n, k), bool)
        self.pred_pos = np.zeros((n, k), bool)
        self.pred: list[list[str] | None] = [None] * n

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, index: int, mask: NDArray[np.uint8]) -> None:
        """Record the prediction ``mask`` (classes, h, w) of row ``index`` at its original size."""
        shape = self.shapes[index]
        mask = np.asarray(mask)
        if mask.shape != (len(self.classes), *shape):
            raise RlemaskError(
                f"Scores.add: prediction of {self.ids[index]!r} has shape {mask.shape}; "
                f"expected {(len(self.classes), *shape)} (classes, height, width)"
            )
        truth = rlemask.decode_many([self.truth[c][index] for c in range(len(self.classes))], shape)
        self.dice[index] = rlemask.dice(mask, truth)
        self.iou[index] = rlemask.iou(mask, truth)
        self.truth_pos[index] = truth.reshape(len(self.classes), -1).any(axis=1)
        self.pred_pos[index] = mask.reshape(len(self.classes), -1).any(axis=1)
        self.pred[index] = rlemask.encode_many(mask)

    def state(self, indices: Sequence[int] | None = None) -> dict[str, Any]:
        """Picklable results of ``indices`` (default: those added), to merge across processes."""
        if indices is None:
            indices = [i for i, p in enumerate(self.pred) if p is not None]
        idx = np.asarray(indices, dtype=np.int64)
        return {
            "index": idx,
            "dice": self.dice[idx],
            "iou": self.iou[idx],
            "truth_pos": self.truth_pos[idx],
            "pred_pos": self.pred_pos[idx],
            "pred": [self.pred[i] for i in idx.tolist()],
        }

    def merge(self, state: dict[str, Any]) -> None:
        """Take in the results of :meth:`state` from another process."""
        idx = state["index"]
        self.dice[idx] = state["dice"]
        self.iou[idx] = state["iou"]
        self.truth_pos[idx] = state["truth_pos"]
        self.pred_pos[idx] = state["pred_pos"]
        for i, p in zip(idx.tolist(), state["pred"]):
            self.pred[i] = p

    def _check_complete(self) -> None:
        missing = [self.ids[i] for i, p in enumerate(self.pred) if p is None]
        if missing:
            raise RlemaskError(
                f"Scores: {len(missing)} of {len(self)} rows have no prediction yet "
                f"(first: {missing[:3]}); call add() for every row"
            )

    def report(self) -> Any:
        """The :class:`rlemask.metrics.ScoreReport` of the predictions so far (all rows needed)."""
        from rlemask.metrics import uwmgi_score

        self._check_complete()
        truth = pd.DataFrame({"id": self.ids, "height": [s[0] for s in self.shapes],
                              "width": [s[1] for s in self.shapes]})
        pred = pd.DataFrame({"id": self.ids})
        for k, c in enumerate(self.classes):
            truth[c] = self.truth[k]
            pred[c] = [p[k] for p in self.pred]  # type: ignore[index]
        return uwmgi_score(truth, pred, classes=self.classes)

    def table(self) -> pd.DataFrame:
        """One row per class and an ``all`` row, with the columns of :data:`COLUMNS`."""
        report = self.report()
        per_class = report.per_class.set_index("class")
        n = len(self)
        rows = []
        for k, c in enumerate(self.classes):
            empty = ~self.truth_pos[:, k]
            fp = int((empty & self.pred_pos[:, k]).sum())
            rows.append(
                {
                    "class": c,
                    "dice": float(per_class.loc[c, "dice"]),
                    "iou": float(np.nanmean(self.iou[:, k])) if n else math.nan,
                    "hausdorff": float(per_class.loc[c, "hausdorff"]),
                    "score": float(per_class.loc[c, "score"]),
                    "images": n,
                    "truth_positive": int(self.truth_pos[:, k].sum()),
                    "pred_positive": int(self.pred_pos[:, k].sum()),
                    "empty_truth": int(empty.sum()),
                    "fp_empty": fp,
                    "fp_empty_rate": fp / int(empty.sum()) if empty.any() else math.nan,
                }
            )
        empty = ~self.truth_pos.any(axis=1)
        fp = int((empty & self.pred_pos.any(axis=1)).sum())
        rows.append(
            {
                "class": "all",
                "dice": float(report.dice),
                "iou": float(np.nanmean(self.iou)) if n else math.nan,
                "hausdorff": float(report.hausdorff),
                "score": float(report.score),
                "images": n,
                "truth_positive": int(self.truth_pos.any(axis=1).sum()),
                "pred_positive": int(self.pred_pos.any(axis=1).sum()),
                "empty_truth": int(empty.sum()),
                "fp_empty": fp,
                "fp_empty_rate": fp / int(empty.sum()) if empty.any() else math.nan,
            }
        )
        return pd.DataFrame(rows, columns=list(COLUMNS))

    def summary(self) -> dict[str, Any]:
        """``dice``, ``iou``, ``hausdorff``, ``score``, false positives and ``per_class`` as a dict.

        Each class's dict is also a top-level key (``summary()["stomach"]["dice"]``).
        NaN values are ``None`` (JSON ``null``).
        """
        return table_to_dict(self.table())


def table_to_dict(table: pd.DataFrame) -> dict[str, Any]:
    """The per-class table as the nested dict of :meth:`Scores.summary`."""
    records = {
        str(row["class"]): {k: _plain(v) for k, v in row.items() if k != "class"}
        for row in table.to_dict(orient="records")
    }
    out: dict[str, Any] = dict(records.pop("all"))
    out["per_class"] = records
    out.update(records)
    return out


def write_table(table: pd.DataFrame, path: str | os.PathLike[str], *, extra: dict[str, Any] | None = None) -> Path:
    """Write the per-class table to ``path`` atomically: ``.json`` as :func:`table_to_dict`
    (plus ``extra``), anything else as CSV."""
    out = Path(path)
    with atomic_path(out) as tmp:
        if out.suffix.lower() == ".json":
            payload = {**table_to_dict(table), **(extra or {})}
            tmp.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n", encoding="utf-8")
        else:
            table.to_csv(tmp, index=False, float_format="%.6f")
    return out


def evaluate(
    checkpoint: str | os.PathLike[str],
    data_root: str | os.PathLike[str],
    fold: int | None = None,
    *,
    out: str | os.PathLike[str] | None = None,
    threshold: float | None = None,
    batch_size: int = 8,
    device: str | None = "auto",
    workers: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Score a checkpoint on every slice of one fold of ``data_root``; return the per-class table.

    Parameters
    ----------
    checkpoint : path
        Written by ``rlemask train``; its config gives the model, the image
        geometry and the fold split (``folds``, ``fold_seed``, ``exclude_bad``).
    data_root : path
        A labelled UWMGI folder (``train.csv`` and ``train/``).
    fold : int, optional
        Default: the checkpoint's validation fold.
    out : path, optional
        Write the table: ``.json`` (the nested dict of :meth:`Scores.summary`
        plus ``checkpoint``, ``fold``, ``encoder``) or CSV.
    threshold : float, optional
        Default: the checkpoint's.
    batch_size, device, workers, progress
        Inference options.

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS`; one row per class and an ``all`` row.  The nested
        dict is in ``table.attrs["metrics"]``.

    Raises
    ------
    RlemaskError
        Unreadable checkpoint, a fold outside the split, missing labels.
    """
    import torch

    from rlemask import uwmgi
    from rlemask_models.data import SliceDataset
    from rlemask_models.model import model_from_checkpoint
    from rlemask_models.predict import infer, resolve_device
    from rlemask_models.train import TrainConfig, split_folds

    model, saved, ckpt = model_from_checkpoint(checkpoint)
    cfg = TrainConfig.from_dict(saved)
    fold = cfg.fold if fold is None else int(fold)
    dev = resolve_device(device)
    model.to(dev)
    if dev.type == "cuda":
        model.to(memory_format=torch.channels_last)
    table = uwmgi.load_table(data_root, exclude_bad=cfg.exclude_bad)
    rows = split_folds(table, cfg, fold=fold)[2].reset_index(drop=True)
    dataset = SliceDataset(
        rows,
        size=cfg.size,
        resize=cfg.resize,
        context=cfg.context,
        stride=cfg.stride,
        channels=int(ckpt.get("in_channels", 3)) if cfg.context == 0 else 3,
        normalize=cfg.normalize,
        neighbours=table,
    )
    scores = Scores(rows)
    for index, mask in infer(
        model, dataset, batch_size=batch_size, device=dev, amp=cfg.amp, workers=workers,
        threshold=cfg.threshold if threshold is None else threshold, progress=progress,
    ):
        scores.add(index, mask)
    result = scores.table()
    extra = {"checkpoint": str(checkpoint), "fold": fold, "encoder": cfg.encoder,
             "epoch": int(ckpt.get("epoch", -1)) + 1}
    result.attrs["metrics"] = {**table_to_dict(result), **extra}
    if out is not None:
        write_table(result, out, extra=extra)
    return result
