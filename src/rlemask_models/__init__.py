"""rlemask_models: PyTorch / segmentation-models-pytorch adapters for the UWMGI data.

Everything that imports torch lives here (the core :mod:`rlemask` never does).
Sub-modules load on first use, so ``import rlemask_models`` (and the command-line
module :mod:`rlemask_models.commands`) stays cheap and works without torch:

* :mod:`~rlemask_models.synthetic` - ``generate``: the built-in UWMGI-shaped data set;
* :mod:`~rlemask_models.data` - ``SliceDataset``, ``select_slices``, ``restore``, ``make_loader``;
* :mod:`~rlemask_models.model` - ``build_model``: a UNet, never a download;
* :mod:`~rlemask_models.train` - ``fit`` / ``TrainConfig``: folds, loss, AMP, DDP, checkpoints;
* :mod:`~rlemask_models.evaluate` - ``evaluate`` / ``Scores``: per-class Dice, IoU, Hausdorff, score;
* :mod:`~rlemask_models.predict` - ``predict`` / ``infer``: submission CSV and overlays;
* :mod:`~rlemask_models.commands` - ``rlemask train / evaluate / predict / demo``.

The functions ``evaluate`` and ``predict`` share their module's name, so import
them from the module: ``from rlemask_models.predict import predict``.

Install with ``pip install 'rlemask[models]'``.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> sub-module that defines it
_API = {
    "generate": "synthetic",
    "SliceDataset": "data",
    "select_slices": "data",
    "restore": "data",
    "make_loader": "data",
    "build_model": "model",
    "TrainConfig": "train",
    "FitResult": "train",
    "fit": "train",
    "Scores": "evaluate",
    "infer": "predict",
}
_MODULES = ("synthetic", "data", "model", "train", "evaluate", "predict", "commands")

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
