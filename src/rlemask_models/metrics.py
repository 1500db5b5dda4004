"""Validation metrics as a :class:`torchmetrics.Metric` over rlemask's kernels.

:class:`SegmentationScores` takes predicted and true masks **at the original
image size** and keeps, per image, its id, size, per-class Dice and IoU
(:func:`rlemask.metrics.dice` / ``iou``, an empty pair scoring 1 as in the
competition) and the run-length runs of both masks.  Every state is a
``"cat"`` state, so torchmetrics gathers them from every DDP rank; ``compute``
then drops the duplicates that DistributedSampler pads with and sorts by id,
so any number of ranks gives exactly the numbers of one process.  It returns

* ``dice``, ``iou``: means over image x class rows;
* ``dice_present``: the mean Dice of the rows whose truth has the organ;
* ``baseline_empty_dice``: the Dice that predicting nothing scores on the same
  rows (the share of empty rows), so a reader sees the empty-slice credit;
* ``hausdorff``, ``score``: :func:`rlemask.metrics.uwmgi_score` (3-D Hausdorff
  per scan and class, ``0.4 * dice + 0.6 * (1 - hausdorff)``), the runs turned
  back into RLE strings;
* ``fp_empty_rate``: the share of empty rows with a predicted organ;
* the same per class as ``<name>_<class>``, and ``images``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

import rlemask
from rlemask import uwmgi
from rlemask.errors import RlemaskError
from rlemask.metrics import uwmgi_score

__all__ = ["SegmentationScores"]

_STATES = ("key", "shape", "dice", "iou", "truth_runs", "pred_runs")


class SegmentationScores(Metric):
    """Per-image Dice / IoU and the competition score, exact under DDP (see the module doc).

    ``update(preds, target, ids)``: sequences of 0/1 masks ``(classes, h, w)`` at
    each image's original size (numpy or tensors) and the UWMGI image ids.
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, classes: Sequence[str] = uwmgi.CLASSES, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.classes = tuple(classes)
        for name in _STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, preds: Sequence[Any], target: Sequence[Any], ids: Sequence[str]) -> None:
        dev = self.device
        for pred, truth, image_id in zip(preds, target, ids, strict=True):
            p = _numpy(pred)
            t = _numpy(truth)
            if p.shape != t.shape or p.shape[0] != len(self.classes):
                raise RlemaskError(
                    f"SegmentationScores: {image_id} has pred shape={p.shape}, truth shape={t.shape}; "
                    f"expected equal (classes={len(self.classes)}, h, w)"
                )
            key = uwmgi.parse_id(image_id)
            self.key.append(torch.tensor([key], dtype=torch.int64, device=dev))
            self.shape.append(torch.tensor([p.shape[1:]], dtype=torch.int64, device=dev))
            self.dice.append(torch.from_numpy(rlemask.dice(truth=t, pred=p)[None]).to(dev))
            self.iou.append(torch.from_numpy(rlemask.iou(truth=t, pred=p)[None]).to(dev))
            for name, mask in (("truth_runs", t), ("pred_runs", p)):
                getattr(self, name).append(torch.from_numpy(_runs(key, mask)).to(dev))

    def compute(self) -> dict[str, float]:
        state = {name: dim_zero_cat(getattr(self, name)).cpu().numpy() for name in _STATES}
        keys, first = np.unique(state["key"], axis=0, return_index=True)
        dice, iou = state["dice"][first], state["iou"][first]
        ids = [uwmgi.format_id(*map(int, k)) for k in keys]
        shapes = state["shape"][first]
        tables = {}
        for name in ("truth_runs", "pred_runs"):
            runs = _unique_runs(state[name])
            tables[name] = _table(ids, keys, shapes, runs, self.classes)
        truth_area = np.array([[rlemask.area(r) for r in tables["truth_runs"][c]] for c in self.classes]).T
        pred_area = np.array([[rlemask.area(r) for r in tables["pred_runs"][c]] for c in self.classes]).T
        report = uwmgi_score(tables["truth_runs"], tables["pred_runs"], classes=self.classes)
        per_class = report.per_class.set_index("class")
        out = {"images": float(len(ids))}
        columns = [("", slice(None))] + [(f"_{c}", slice(k, k + 1)) for k, c in enumerate(self.classes)]
        for suffix, cols in columns:
            present = truth_area[:, cols] > 0
            out["dice" + suffix] = _mean(dice[:, cols])
            out["iou" + suffix] = _mean(iou[:, cols])
            out["dice_present" + suffix] = _mean(dice[:, cols][present])
            out["baseline_empty_dice" + suffix] = _mean(~present)
            out["fp_empty_rate" + suffix] = _mean((pred_area[:, cols] > 0)[~present])
            row = per_class.loc[suffix[1:]] if suffix else report
            out["hausdorff" + suffix] = float(row["hausdorff"] if suffix else row.hausdorff)
            out["score" + suffix] = float(row["score"] if suffix else row.score)
        return out


def _numpy(mask: Any) -> np.ndarray:
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    return np.asarray(mask, dtype=np.uint8)


def _runs(key: tuple[int, int, int], mask: np.ndarray) -> np.ndarray:
    """Rows ``(case, day, slice, class, start, length)`` of every run of every class of one image."""
    rows = []
    for k in range(len(mask)):
        starts, lengths = rlemask.runs(mask[k])
        block = np.empty((len(starts), 6), np.int64)
        block[:, :3] = key
        block[:, 3] = k
        block[:, 4] = starts
        block[:, 5] = lengths
        rows.append(block)
    return np.concatenate(rows) if rows else np.empty((0, 6), np.int64)


def _unique_runs(runs: np.ndarray) -> np.ndarray:
    """Runs without the copies of padded duplicate images, sorted by image, class, start."""
    return np.unique(runs.reshape(-1, 6), axis=0) if len(runs) else runs.reshape(0, 6)


def _table(ids: list[str], keys: np.ndarray, shapes: np.ndarray, runs: np.ndarray,
           classes: tuple[str, ...]) -> pd.DataFrame:
    """One row per image with an RLE column per class, rebuilt from runs."""
    table = pd.DataFrame({"id": ids, "height": shapes[:, 0], "width": shapes[:, 1]})
    rles = {c: [""] * len(ids) for c in classes}
    if len(runs):
        where = {tuple(k): i for i, k in enumerate(keys.tolist())}
        bounds = np.flatnonzero(np.any(np.diff(runs[:, :4], axis=0) != 0, axis=1)) + 1
        for block in np.split(runs, bounds):
            i, c = where[tuple(block[0, :3].tolist())], classes[int(block[0, 3])]
            shape = (int(shapes[i, 0]), int(shapes[i, 1]))
            rles[c][i] = rlemask.encode(rlemask.from_runs(block[:, 4], block[:, 5], shape))
    for c in classes:
        table[c] = rles[c]
    return table


def _mean(values: Any) -> float:
    values = np.asarray(values, np.float64)
    return float(values.mean()) if values.size else math.nan
