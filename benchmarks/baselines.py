"""Trivial baselines on the built-in data, next to the demo model: is a reported dice honest?

Usage::

    python benchmarks/baselines.py                     # the demo's data (seed 0) and fold 0
    python benchmarks/baselines.py --model             # also run `rlemask demo` and score its model
    python benchmarks/baselines.py --demo-out DIR      # score an existing demo output (DIR/submission.csv)
    python benchmarks/baselines.py --model --demo-out DIR   # run the demo into DIR, then score it
    python benchmarks/baselines.py --data ROOT         # any UWMGI folder (train.csv + train/)

Every prediction is scored on the validation fold with ``rlemask.metrics.uwmgi_score``
(truth first): ``dice`` (mean over image x class rows, a pair of empty masks scores 1),
``dice on organ rows`` (mean over rows whose truth is not empty) and ``score``
(0.4 dice + 0.6 (1 - 3-D Hausdorff)).  The baselines are tuned on the training folds only:

* ``nothing``: every mask empty;
* ``mean mask by slice position``: the training masks, resized to a common grid, averaged
  per class and per bin of relative slice position (slice / slices in the scan); the
  threshold on that frequency is the one with the best training dice;
* ``intensity window + position prior``: pixels of the percentile-normalised slice inside a
  per-class window [lo, hi), kept where the position prior exceeds a per-class level;
  window (steps of 0.1) and level are a grid search on the training dice.

The folds are the demo's: ``rlemask.folds.assign_folds(table, 5, group="case",
random_state=42)`` (what ``rlemask_models.train.split_folds`` calls).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import ndimage  # noqa: E402

import rlemask  # noqa: E402
from rlemask import uwmgi  # noqa: E402
from rlemask.folds import assign_folds  # noqa: E402
from rlemask.metrics import uwmgi_score  # noqa: E402

CLASSES = uwmgi.CLASSES
GRID = 96  # common grid of the position prior and the tuning (pixels per side)
BINS = 10  # relative slice-position bins


def load(root: Path, *, fold: int, folds: int = 5, seed: int = 42) -> pd.DataFrame:
    """The labelled table with ``fold``, relative slice position and ``val`` flag."""
    table = uwmgi.load_table(root)
    table = assign_folds(table, folds, group="case", random_state=seed)
    scan = table["case"].astype(str) + "_" + table["day"].astype(str)
    depth = table.groupby(scan)["slice"].transform("max")
    table["position"] = (table["slice"] - 0.5) / depth
    table["bin"] = np.minimum((table["position"] * BINS).astype(int), BINS - 1)
    table["val"] = table["fold"] == fold
    return table.reset_index(drop=True)


def _small(array: np.ndarray, order: int) -> np.ndarray:
    h, w = array.shape
    return ndimage.zoom(array.astype(np.float32), (GRID / h, GRID / w), order=order)[:GRID, :GRID]


def _big(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    image = Image.fromarray(array.astype(np.uint8) * 255).resize((shape[1], shape[0]), Image.NEAREST)
    return (np.asarray(image) > 0).astype(np.uint8)


def grids(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, GRID, GRID) in [0, 1] and masks (N, 3, GRID, GRID) on the common grid."""
    images = np.empty((len(table), GRID, GRID), np.float32)
    masks = np.empty((len(table), 3, GRID, GRID), np.uint8)
    for i, row in enumerate(table.itertuples()):
        images[i] = _small(uwmgi.read_slice(row.path, normalize="percentile"), 1)
        shape = (row.height, row.width)
        for k, cls in enumerate(CLASSES):
            masks[i, k] = _small(rlemask.decode(getattr(row, cls), shape), 1) > 0.5
    return images, masks


def _dice(truth: np.ndarray, pred: np.ndarray) -> float:
    """Mean row dice (empty pair = 1) of (N, H, W) stacks, for tuning on the grid."""
    inter = (truth & pred).sum(axis=(1, 2))
    total = truth.sum(axis=(1, 2)) + pred.sum(axis=(1, 2))
    return float(np.where(total == 0, 1.0, 2 * inter / np.maximum(total, 1)).mean())


def position_prior(table: pd.DataFrame, masks: np.ndarray) -> np.ndarray:
    """Mean training mask per (bin, class): (BINS, 3, GRID, GRID) frequencies."""
    train = ~table["val"].to_numpy()
    prior = np.zeros((BINS, 3, GRID, GRID), np.float32)
    for b in range(BINS):
        pick = train & (table["bin"].to_numpy() == b)
        if pick.any():
            prior[b] = masks[pick].mean(axis=0)
    return prior


def tune_mean_mask(table: pd.DataFrame, masks: np.ndarray, prior: np.ndarray) -> list[float]:
    train = ~table["val"].to_numpy()
    bins = table["bin"].to_numpy()[train]
    best = []
    for k in range(3):
        truth = masks[train, k].astype(bool)
        scores = {t: _dice(truth, prior[bins, k] > t) for t in np.arange(0.05, 1.0, 0.05)}
        best.append(float(max(scores, key=scores.get)))
    return best


def _window(images: np.ndarray, prior: np.ndarray, lo: float, hi: float, level: float) -> np.ndarray:
    return (images >= lo) & (images < hi) & (prior > level)


def tune_window(table: pd.DataFrame, images: np.ndarray, masks: np.ndarray, prior: np.ndarray) -> list[tuple[float, float, float]]:
    """Grid search of [lo, hi) in steps of 0.1 and the prior level, from per-row bin counts."""
    train = ~table["val"].to_numpy()
    bins = table["bin"].to_numpy()[train]
    steps = 10
    level_of = np.minimum((images[train] * steps).astype(np.int64), steps - 1)  # intensity bin per pixel
    rows = np.repeat(np.arange(train.sum()), GRID * GRID).reshape(level_of.shape)
    best = []
    for k in range(3):
        truth = masks[train, k].astype(bool)
        t_sum = truth.sum(axis=(1, 2))
        p = prior[bins, k]
        scored = {}
        for level in (0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6):
            keep = p > level
            flat = rows[keep] * steps + level_of[keep]
            size = len(t_sum) * steps
            all_c = np.bincount(flat, minlength=size).reshape(-1, steps)
            hit_c = np.bincount(flat, weights=truth[keep], minlength=size).reshape(-1, steps)
            all_cum = np.concatenate([np.zeros((len(t_sum), 1)), np.cumsum(all_c, axis=1)], axis=1)
            hit_cum = np.concatenate([np.zeros((len(t_sum), 1)), np.cumsum(hit_c, axis=1)], axis=1)
            for lo in range(steps):
                for hi in range(lo + 1, steps + 1):
                    pred = all_cum[:, hi] - all_cum[:, lo]
                    inter = hit_cum[:, hi] - hit_cum[:, lo]
                    total = pred + t_sum
                    dice = np.where(total == 0, 1.0, 2 * inter / np.maximum(total, 1)).mean()
                    scored[(lo / steps, hi / steps if hi < steps else 1.01, level)] = float(dice)
        best.append(max(scored, key=scored.get))
    return best


def _table(val: pd.DataFrame, masks: list[list[np.ndarray]]) -> pd.DataFrame:
    out = val[["id", "height", "width"]].copy()
    for k, cls in enumerate(CLASSES):
        out[cls] = [rlemask.encode(m) for m in masks[k]]
    return out


def predictions(table: pd.DataFrame, images: np.ndarray, masks: np.ndarray) -> dict[str, pd.DataFrame]:
    """Validation predictions of every baseline, as wide RLE tables."""
    val = table[table["val"]]
    idx = np.flatnonzero(table["val"].to_numpy())
    shapes = list(zip(val["height"], val["width"]))
    prior = position_prior(table, masks)
    thresholds = tune_mean_mask(table, masks, prior)
    windows = tune_window(table, images, masks, prior)
    out = {"nothing": _table(val, [[np.zeros(s, np.uint8) for s in shapes] for _ in CLASSES])}
    mean_mask, window = [], []
    for k in range(3):
        p = prior[table["bin"].to_numpy()[idx], k]
        mean_mask.append([_big(m, s) for m, s in zip(p > thresholds[k], shapes)])
        lo, hi, level = windows[k]
        window.append([_big(m, s) for m, s in zip(_window(images[idx], p, lo, hi, level), shapes)])
    out[f"mean mask by slice position (thresholds {', '.join(f'{t:.2f}' for t in thresholds)})"] = _table(val, mean_mask)
    desc = "; ".join(f"[{lo:.1f}, {hi:.1f}] prior>{lv:.2f}" for lo, hi, lv in windows)
    out[f"intensity window + position prior ({desc})"] = _table(val, window)
    return out


def score(truth: pd.DataFrame, pred: pd.DataFrame) -> dict[str, float]:
    """dice, dice on rows with an organ, false positives on empty rows, score (truth first)."""
    report = uwmgi_score(truth, pred, images=truth[["id", "height", "width"]])
    per = report.per_image.set_index("id").loc[truth["id"]]
    organ, fp = [], []
    predicted = pred.set_index("id").reindex(truth["id"])
    for cls in CLASSES:
        has = truth[cls].to_numpy() != ""
        organ.append(per[cls].to_numpy()[has])
        fp.append((predicted[cls].fillna("").to_numpy()[~has] != ""))
    return {
        "dice": float(report.dice),
        "dice on organ rows": float(np.concatenate(organ).mean()),
        "fp rate on empty rows": float(np.concatenate(fp).mean()),
        "score": float(report.score),
    }


def demo_prediction(demo_out: Path, val: pd.DataFrame) -> pd.DataFrame:
    """The demo model's validation rows from DIR/submission.csv (written by `rlemask demo`)."""
    sub = uwmgi.read_labels(demo_out / "submission.csv", missing="empty")
    sub = sub.set_index("id").reindex(val["id"]).fillna("").reset_index()
    return sub[["id", *CLASSES]]


def run_demo(out: Path, seed: int, fold: int, extra: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")]))
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "rlemask", "demo", "--out", str(out), "--seed", str(seed),
           "--fold", str(fold), "--quiet", *extra]
    subprocess.run(cmd, check=True, env=env)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="UWMGI folder (default: generate the demo's data)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the built-in data (the demo's --seed)")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--model", action="store_true", help="run `rlemask demo` and score its model too")
    parser.add_argument("--demo-out", type=Path, default=None, help="score an existing demo output folder")
    parser.add_argument("--demo-args", default="", help="extra arguments for `rlemask demo` (with --model)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        demo_out = args.demo_out
        demo_seconds = None
        if args.model:  # run the demo (into --demo-out when given)
            demo_out = demo_out or Path(tmp) / "demo"
            demo_seconds = run_demo(demo_out, args.seed, args.fold, args.demo_args.split())
        root = args.data
        if root is None:
            root = demo_out / "data" if demo_out is not None and (demo_out / "data").is_dir() else Path(tmp) / "data"
            if not (root / "train.csv").is_file():
                from rlemask_models import synthetic  # numpy/scipy/Pillow only, no torch

                synthetic.generate(root, seed=args.seed)
        start = time.perf_counter()
        table = load(root, fold=args.fold)
        images, masks = grids(table)
        preds = predictions(table, images, masks)
        truth = table.loc[table["val"], ["id", "height", "width", *CLASSES]].reset_index(drop=True)
        rows = [(name, score(truth, p)) for name, p in preds.items()]
        if demo_out is not None:
            rows.append((f"demo model ({demo_out})", score(truth, demo_prediction(demo_out, truth))))
        seconds = time.perf_counter() - start

    val = table[table["val"]]
    empty_rows = float((val[list(CLASSES)] == "").to_numpy().mean())
    print("#### Baselines on the built-in data\n")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, python {platform.python_version()}")
    print(f"data: {root} ({len(table)} slices, {table['case'].nunique()} cases); validation fold {args.fold}: "
          f"{len(val)} slices, {empty_rows:.0%} of image x class rows empty; baselines tuned on the other folds "
          f"({seconds:.1f} s)\n")
    print("| prediction | dice | dice on organ rows | FP rate on empty rows | score |")
    print("|---|---:|---:|---:|---:|")
    for name, m in rows:
        print(f"| {name} | {m['dice']:.3f} | {m['dice on organ rows']:.3f} | {m['fp rate on empty rows']:.3f} | {m['score']:.3f} |")
    trivial = [m for name, m in rows if not name.startswith("demo model")]
    best = max(trivial, key=lambda m: m["dice"])
    print(f"\nbest trivial baseline: dice {best['dice']:.3f} (goal <= 0.78: {'yes' if best['dice'] <= 0.78 else 'NO'})")
    if demo_out is not None:
        model = rows[-1][1]
        best_organ = max(m["dice on organ rows"] for m in trivial)
        gain, organ_gain = model["dice"] - best["dice"], model["dice on organ rows"] - best_organ
        print(f"demo model - best trivial: dice {gain:+.3f} (goal >= +0.05: {'yes' if gain >= 0.05 else 'NO'}), "
              f"organ rows {organ_gain:+.3f} (goal >= +0.2: {'yes' if organ_gain >= 0.2 else 'NO'})")
        if demo_seconds is not None:
            print(f"demo wall time: {demo_seconds:.0f} s (goal < 300 s on the CPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
