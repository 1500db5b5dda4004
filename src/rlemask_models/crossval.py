"""K-fold cross-validation: one Lightning fit per fold, out-of-fold predictions and per-fold scores.

:func:`cross_validate` splits the data into ``cfg.folds`` folds grouped by case
(the split of :class:`~rlemask_models.datamodule.UWMGIDataModule`), trains every
fold with :func:`~rlemask_models.training.fit_fold` into ``OUT/fold<k>/``
(``best.ckpt``, ``last.ckpt``, ``metrics.csv``, ``learning_curve.png``), predicts
the fold's images with its best checkpoint and writes

* ``OUT/oof.csv``: ``id,class,predicted`` for every image of ``train.csv``,
  each predicted by the one fold model that did not see it;
* ``OUT/scores.csv``: per fold and class (and ``all``) dice, dice on rows with an
  organ, the empty-prediction baseline, IoU, Hausdorff and score, then the mean
  and standard deviation over folds;
* ``OUT/folds.csv``: the split.

With ``resume=True`` finished folds (their ``oof.csv`` and ``scores.csv``
exist) are kept and the first unfinished one continues from its ``last.ckpt``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from rlemask._io import atomic_path
from rlemask.errors import RlemaskError
from rlemask.uwmgi import CLASSES
from rlemask_models.config import TrainConfig
from rlemask_models.datamodule import split_folds
from rlemask_models.inference import fold_predictions, score_table
from rlemask_models.training import fit_fold, require_data

__all__ = ["cross_validate"]


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6f")


def cross_validate(cfg: TrainConfig, *, transform: Any = None) -> pd.DataFrame:
    """Train and score every fold (see the module doc); return the scores table (rank 0; else empty)."""
    from rlemask import uwmgi

    cfg = require_data(dataclasses.replace(cfg).check())
    out = Path(cfg.out)
    table = split_folds(uwmgi.load_table(cfg.data, exclude_bad=cfg.exclude_bad), cfg.folds, seed=cfg.fold_seed)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(table[["id", "case", "day", "slice", "fold"]], out / "folds.csv")
    oofs, scores, rank = [], [], 0
    for fold in range(cfg.folds):
        folder = out / f"fold{fold}"
        if cfg.resume and (folder / "oof.csv").is_file() and (folder / "scores.csv").is_file():
            oofs.append(pd.read_csv(folder / "oof.csv", keep_default_na=False))
            scores.append(pd.read_csv(folder / "scores.csv"))
            continue
        result = fit_fold(dataclasses.replace(cfg, fold=fold, out=str(folder)), transform=transform)
        rank = result.rank
        if rank:
            continue
        rows, values = fold_predictions([result.best], cfg.data, fold, batch_size=cfg.batch_size,
                                        workers=cfg.workers, progress=not cfg.quiet)
        fold_scores = score_table(values)
        fold_scores.insert(0, "fold", str(fold))
        _write_csv(rows, folder / "oof.csv")
        _write_csv(fold_scores, folder / "scores.csv")
        oofs.append(rows)
        scores.append(fold_scores)
    if rank:
        return pd.DataFrame()
    oof = pd.concat(oofs, ignore_index=True)
    expected = {(i, c) for i in table["id"] for c in CLASSES}
    if len(oof) != len(expected) or set(zip(oof["id"], oof["class"])) != expected:
        raise RlemaskError(f"cross_validate: the out-of-fold rows cover {len(oof)} image x class pairs; "
                           f"expected each of the {len(expected)} once")
    order = {i: k for k, i in enumerate(table["id"])}
    oof = oof.sort_values(["id", "class"], key=lambda s: s.map(order) if s.name == "id" else s.map(CLASSES.index))
    _write_csv(oof, out / "oof.csv")
    per_fold = pd.concat(scores, ignore_index=True).astype({"fold": str})
    numbers = per_fold.drop(columns="fold").groupby("class", sort=False)
    summary = pd.concat([numbers.mean().reset_index().assign(fold="mean"),
                         numbers.std(ddof=0).reset_index().assign(fold="std")], ignore_index=True)
    result = pd.concat([per_fold, summary[per_fold.columns]], ignore_index=True)
    _write_csv(result, out / "scores.csv")
    return result
