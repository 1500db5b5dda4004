"""rlemask_models: thin Lightning adapters for the UWMGI data (the 'models' extra).

Everything that imports torch lives here (the core :mod:`rlemask` never does).
Sub-modules load on first use, so ``import rlemask_models`` (and the command-line
module :mod:`rlemask_models.commands`) stays cheap and works without torch.
Data flows one way (each module imports only those above it)::

    config      TrainConfig / InferConfig: defaults, YAML, command-line options
    synthetic   generate: the built-in UWMGI-shaped data set
    data        SliceDataset, select_slices, restore, make_loader, collate
    metrics     SegmentationScores (torchmetrics.Metric over rlemask's kernels)
    module      SegmentationModule (LightningModule): smp network, smp losses, AdamW + cosine
    datamodule  UWMGIDataModule (LightningDataModule): folds by case, empty-slice policy
    plots       learning curve, overlays
    training    fit_fold: one fold with a Lightning Trainer
    inference   load_checkpoint, infer, predict, evaluate: ensembles and flip TTA
    crossval    cross_validate: every fold, oof.csv, scores.csv
    demo        run_demo
    commands    rlemask train / cv / evaluate / predict / demo

A Lightning user needs only ``SegmentationModule`` and ``UWMGIDataModule``.
Install with ``pip install 'rlemask[models]'``.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> sub-module that defines it
_API = {
    "TrainConfig": "config",
    "InferConfig": "config",
    "generate": "synthetic",
    "SliceDataset": "data",
    "select_slices": "data",
    "restore": "data",
    "make_loader": "data",
    "SegmentationScores": "metrics",
    "SegmentationModule": "module",
    "UWMGIDataModule": "datamodule",
    "FoldResult": "training",
    "fit_fold": "training",
    "load_checkpoint": "inference",
    "infer": "inference",
    "predict": "inference",
    "evaluate": "inference",
    "cross_validate": "crossval",
    "run_demo": "demo",
}
_MODULES = ("config", "synthetic", "data", "metrics", "module", "datamodule", "plots", "training", "inference",
            "crossval", "demo", "commands")

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(f"rlemask_models.{_API[name]}"), name)
        globals()[name] = value
        return value
    if name in _MODULES:
        return importlib.import_module(f"rlemask_models.{name}")
    raise AttributeError(f"module 'rlemask_models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_MODULES))
