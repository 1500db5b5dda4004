"""Pictures: the learning curve (training and validation loss, validation metrics) and overlays."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from rlemask._io import atomic_path

__all__ = ["COLORS", "overlay", "plot_learning_curve"]

#: RGB colour of each class in overlays (large bowel, small bowel, stomach)
COLORS = ((230, 60, 60), (60, 200, 80), (70, 130, 255))


def plot_learning_curve(history: pd.DataFrame, path: str | Path) -> None:
    """Left: training and validation loss per epoch (overfitting shows as a gap); right: validation
    dice, dice on rows with an organ, score and 1 - hausdorff.  Written with matplotlib's Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    epochs = history["epoch"] + 1 if len(history) else []
    for column, label in (("train_loss", "training loss"), ("val_loss", "validation loss")):
        if column in history:
            left.plot(epochs, history[column], marker="o", label=label)
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.grid(alpha=0.3)
    left.legend()
    for column, label in (("val_dice", "dice"), ("val_dice_present", "dice (organ present)"),
                          ("val_score", "score")):
        if column in history:
            right.plot(epochs, history[column], marker="o", label=label)
    if "val_hausdorff" in history:
        right.plot(epochs, 1 - history["val_hausdorff"], marker="o", label="1 - hausdorff")
    right.set_xlabel("epoch")
    right.set_ylim(0, 1.02)
    right.grid(alpha=0.3)
    right.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png")


def overlay(image: NDArray[np.floating], truth: NDArray[np.uint8] | None, pred: NDArray[np.uint8], *,
            title: str = "", dice: float | None = None, alpha: float = 0.45) -> Any:
    """One RGB picture: the slice, the slice with its truth, the slice with the prediction.

    ``image`` (h, w) in [0, 1]; ``truth`` / ``pred`` (classes, h, w) 0/1.  The
    prediction panel names its ``dice`` against the truth; returns a PIL image.
    """
    from PIL import Image, ImageDraw

    gray = (np.clip(np.nan_to_num(image), 0.0, 1.0) * 255).astype(np.uint8)
    base = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)

    def paint(masks: NDArray[np.uint8]) -> NDArray[np.uint8]:
        out = base.copy()
        for k, color in enumerate(COLORS[: len(masks)]):
            on = masks[k].astype(bool)
            out[on] = (1 - alpha) * out[on] + alpha * np.asarray(color, np.float32)
        return out.astype(np.uint8)

    panels = [(title or "slice", base.astype(np.uint8))]
    if truth is not None:
        panels.append(("truth (dice 1)", paint(truth)))
    panels.append(("prediction" + (f" dice {dice:.3f}" if dice is not None else ""), paint(pred)))
    h, w = gray.shape
    header, gap = 14, 4
    canvas = Image.new("RGB", (len(panels) * w + (len(panels) - 1) * gap, h + header), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    for k, (name, pixels) in enumerate(panels):
        x = k * (w + gap)
        canvas.paste(Image.fromarray(pixels, "RGB"), (x, header))
        draw.text((x + 2, 1), name, fill=(255, 255, 255))
    return canvas
