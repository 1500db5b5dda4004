"""rlemask: run-length masks, metrics, folds and the UWMGI data layout.

The public API is importable from the top level::

    >>> import rlemask
    >>> rlemask.encode([[0, 1], [1, 1]])
    '2 3'

Sub-modules load on first use (PEP 562), so ``import rlemask`` stays fast and
compiles nothing; numba kernels compile on their first call and are cached on
disk for the next process.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_API = {
    # run-length codec
    "encode": "rle",
    "decode": "rle",
    "encode_many": "rle",
    "decode_many": "rle",
    "area": "rle",
    "runs": "rle",
    "from_runs": "rle",
    "convert": "dialects",
    "Dialect": "dialects",
    "DIALECTS": "dialects",
    "to_coco": "coco",
    "from_coco": "coco",
    # scores and areas from run lengths, post-processing (h-perf)
    "iou_matrix": "overlap",
    "dice_matrix": "overlap",
    "iou_rle": "overlap",
    "area_many": "overlap",
    "remove_small": "postprocess",
    "largest_component": "postprocess",
    "fill_holes": "postprocess",
    "resize": "postprocess",
    # masks
    "stack": "masks",
    "stack_table": "masks",
    "unstack_many": "masks",
    "unstack": "masks",
    "volume": "masks",
    # metrics
    "dice": "metrics",
    "iou": "metrics",
    "dice_rle": "metrics",
    "hausdorff": "metrics",
    "uwmgi_score": "metrics",
    # folds
    "MultilabelStratifiedGroupKFold": "folds",
    "assign_folds": "folds",
    "check_folds": "folds",
    "summarize_folds": "folds",
    # errors
    "RlemaskError": "errors",
    "InvalidRleError": "errors",
    "InvalidMaskError": "errors",
    "LayoutError": "errors",
    "FoldError": "errors",
}

__all__ = sorted(_API) + ["__version__", "uwmgi"]


def __getattr__(name: str) -> Any:
    if name in _API:
        module = importlib.import_module(f"rlemask.{_API[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in {"uwmgi", "rle", "coco", "masks", "metrics", "folds", "errors", "cli", "dialects",
                "overlap", "postprocess"}:
        return importlib.import_module(f"rlemask.{name}")
    raise AttributeError(f"module 'rlemask' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
