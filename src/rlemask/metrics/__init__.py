"""Segmentation metrics: Dice, IoU, Hausdorff and the UWMGI competition score.

The pair is always **truth first, prediction second** (scikit-learn's
``y_true, y_pred``): ``dice(truth, pred)``, ``iou(truth, pred)``,
``dice_rle(truth, pred, shape)``, ``hausdorff(truth, pred)``,
``uwmgi_score(truth, pred)``. Dice, IoU and the symmetric Hausdorff distance
have the same value either way; the order names the arrays in messages and
the direction of ``hausdorff(..., directed=True)``. The keyword names of
before 0.2 (``pred_rle=``/``truth_rle=``, ``a=``/``b=``) still work with a
``FutureWarning``.

Modules: ``_pixel`` (dense Dice / IoU: count, then reduce), ``_runs`` (Dice
from run-length strings), ``_distance`` (Hausdorff), ``_competition``
(:func:`uwmgi_score`), ``_common`` (the ``empty`` convention and mask
conversion they share). This package re-exports them: import from
``rlemask.metrics``.

Empty masks
-----------
A pair of empty masks has no Dice or IoU of its own (0/0). Every metric takes
the same keyword ``empty`` that says what such a pair scores:

========  =========================================================
``1.0``   (default) a correct "nothing here" is perfect, as smp and most
          notebooks do
``0.0``   the pair scores zero
"skip"    the pair scores NaN and is left out of every mean
========  =========================================================

One empty mask against a non-empty one always scores 0.0. :func:`hausdorff`
is a distance, not a score: two empty masks are 0.0 apart and one empty mask
is ``inf`` away from a non-empty one. ``docs/metrics.md`` has the full table.

Inputs
------
Masks are arrays of 0/1 values: bool, any integer dtype or float 0.0/1.0.
Anything else (probabilities, 255, NaN) raises :class:`InvalidMaskError`;
threshold first. Objects with ``.detach().cpu().numpy()`` (torch tensors) are
converted at the edge; this module never imports torch.

Examples
--------
>>> import numpy as np
>>> from rlemask.metrics import dice, iou, dice_rle, hausdorff
>>> a = np.array([[1, 1, 0, 0]], dtype=np.uint8)
>>> b = np.array([[0, 1, 1, 0]], dtype=np.uint8)
>>> float(dice(a, b)), float(iou(a, b))  # truth, pred
(0.5, 0.3333333333333333)
>>> dice_rle("1 2", "2 2", (1, 4))
0.5
>>> hausdorff(a, b)
1.0
"""


from __future__ import annotations

from typing import Any

from rlemask.metrics._common import Empty
from rlemask.metrics._distance import hausdorff
from rlemask.metrics._pixel import dice, iou
from rlemask.metrics._runs import dice_rle

# Run-length overlap metrics live in rlemask.overlap (which imports this package);
# they are re-exported here lazily, next to dice_rle.
_OVERLAP = ("iou_matrix", "dice_matrix", "iou_rle", "area_many")

__all__ = [
    "Empty",
    "dice",
    "iou",
    "dice_rle",
    "hausdorff",
    "uwmgi_score",
    "ScoreReport",
]


def __getattr__(name: str) -> Any:
    # the competition score needs pandas (through rlemask.uwmgi): loaded on first use,
    # so ``from rlemask.metrics import dice`` stays light
    if name in ("iou_matrix", "dice_matrix", "iou_rle", "area_many"):  # rlemask.overlap (loaded on use)
        from rlemask import overlap

        value = getattr(overlap, name)
        globals()[name] = value
        return value
    if name in ("uwmgi_score", "ScoreReport") or name in _OVERLAP:
        import importlib

        module = importlib.import_module("rlemask.overlap" if name in _OVERLAP else "rlemask.metrics._competition")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rlemask.metrics' has no attribute {name!r}")
