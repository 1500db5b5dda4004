"""Predict masks with a trained model and write a competition submission.

:func:`infer` runs a model over a :class:`~rlemask_models.data.SliceDataset` and
yields, for every item, the thresholded masks **at the image's original size**
(:func:`rlemask_models.data.restore` undoes the dataset's resize or padding).
:func:`predict` does that for every slice of a data folder and writes the
submission: three rows per image, ``id,class,predicted``, the RLE in the
competition's format (1-based starts, row-major pixel order) from
:func:`rlemask.encode_many`, an empty cell for an empty mask.  ``overlays=DIR``
also writes side-by-side PNGs of the slice, its ground truth and the prediction.

A model passed in is put back in the train/eval mode it had.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import nn

import rlemask
from rlemask._io import atomic_open, atomic_path
from rlemask.errors import RlemaskError

__all__ = ["COLORS", "infer", "overlay", "predict", "write_submission"]

CLASSES = ("large_bowel", "small_bowel", "stomach")

#: RGB colour of each class in overlays (large bowel, small bowel, stomach)
COLORS = ((230, 60, 60), (60, 200, 80), (70, 130, 255))


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` -> CUDA when available, else CPU; other values as given."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RlemaskError(f"device={str(device)!r} but CUDA is not available; use device='cpu'")
    return dev


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` ("auto", "bf16", "fp16", "off") on ``device``; None = off.

    Mixed precision is only used on CUDA; "auto" picks bf16 where the GPU has it.
    """
    if amp not in ("auto", "bf16", "fp16", "off"):
        raise RlemaskError(f"amp={amp!r}; expected 'auto', 'bf16', 'fp16' or 'off'")
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def _batch_shapes(shape: Any, n: int) -> list[tuple[int, int]]:
    """Item shapes from a collated batch (default_collate turns (h, w) into two tensors)."""
    if isinstance(shape, (list, tuple)) and len(shape) == 2 and isinstance(shape[0], torch.Tensor):
        return list(zip(shape[0].tolist(), shape[1].tolist()))
    return [tuple(int(v) for v in s) for s in shape][:n]  # type: ignore[misc]


def infer(
    model: nn.Module,
    dataset: Any,
    *,
    indices: Sequence[int] | None = None,
    batch_size: int = 8,
    threshold: float = 0.5,
    device: str | torch.device | None = None,
    amp: str = "auto",
    workers: int = 0,
    progress: bool = False,
) -> Iterator[tuple[int, NDArray[np.uint8]]]:
    """Yield ``(index, mask)`` for each item: uint8 0/1 masks ``(classes, h, w)`` at the original size.

    Parameters
    ----------
    model : torch.nn.Module
        Returns one logit map per class.  It is switched to eval mode while this
        generator runs and put back in its previous mode when it ends (exhausted
        or closed).
    dataset : SliceDataset
        Items ``dict(image, mask, id, shape)``; its ``size`` and ``resize`` give
        the geometry to undo.
    indices : sequence of int, optional
        Items to run, in this order (default: all).
    batch_size : int
    threshold : float
        A pixel belongs to a class when its probability is above ``threshold``.
    device : str or torch.device, optional
        Default: the device of the model's parameters (the model is not moved).
    amp : {"auto", "bf16", "fp16", "off"}
        Mixed precision on CUDA.
    workers : int
        DataLoader workers.
    progress : bool
        Show a progress bar on stderr.
    """
    from torch.utils.data import DataLoader, Subset

    from rlemask_models.data import restore

    if not 0.0 < float(threshold) < 1.0:
        raise RlemaskError(f"threshold={threshold!r} must be in (0, 1)")
    if device is None:
        param = next(model.parameters(), None)
        dev = param.device if param is not None else torch.device("cpu")
    else:
        dev = resolve_device(device)
    dtype = amp_dtype(amp, dev)
    order = list(range(len(dataset))) if indices is None else [int(i) for i in indices]
    subset = dataset if indices is None else Subset(dataset, order)
    loader = DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=workers)
    size, resize = getattr(dataset, "size", None), getattr(dataset, "resize", "resize")
    was_training = model.training
    model.eval()
    bar = None
    try:
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(order), desc="predict", unit="img", file=sys.stderr, leave=False,
                       mininterval=0.1 if sys.stderr.isatty() else 30.0)
        position = 0
        for batch in loader:
            image = batch["image"].to(dev, non_blocking=True)
            if dev.type == "cuda":
                image = image.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast(
                device_type=dev.type, dtype=dtype or torch.float32, enabled=dtype is not None
            ):
                logits = model(image)
            probs = torch.sigmoid(logits.float()).cpu()
            shapes = _batch_shapes(batch["shape"], len(probs))
            for k in range(len(probs)):
                full = restore(probs[k], shapes[k], size=size, resize=resize)
                yield order[position], (full > threshold).astype(np.uint8)
                position += 1
            if bar is not None:
                bar.update(len(probs))
    finally:
        if bar is not None:
            bar.close()
        model.train(was_training)


# --------------------------------------------------------------------------- files


def write_submission(rows: list[tuple[str, str, str]], path: str | os.PathLike[str]) -> Path:
    """Write ``id,class,predicted`` rows to ``path`` atomically (temp file + ``os.replace``)."""
    out = Path(path)
    with atomic_open(out, "w", newline="", encoding="ascii") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "class", "predicted"])
        writer.writerows(rows)
    return out


def overlay(
    image: NDArray[np.floating],
    truth: NDArray[np.uint8] | None,
    pred: NDArray[np.uint8],
    *,
    title: str = "",
    alpha: float = 0.45,
) -> Any:
    """One RGB picture: the slice, the slice with its ground truth, the slice with the prediction.

    Parameters
    ----------
    image : float array (h, w)
        The slice, scaled to [0, 1] (values outside are clipped).
    truth : uint8 array (K, h, w) or None
        Ground-truth masks; ``None`` leaves the middle panel out.
    pred : uint8 array (K, h, w)
        Predicted masks.

    Returns
    -------
    PIL.Image.Image
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

    panels = [("original", base.astype(np.uint8))]
    if truth is not None:
        panels.append(("ground truth", paint(truth)))
    panels.append(("prediction", paint(pred)))
    h, w = gray.shape
    header, gap = 14, 4
    canvas = Image.new("RGB", (len(panels) * w + (len(panels) - 1) * gap, h + header), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    for k, (name, pixels) in enumerate(panels):
        x = k * (w + gap)
        canvas.paste(Image.fromarray(pixels, "RGB"), (x, header))
        label = f"{name}  {title}" if (k == 0 and title) else name
        draw.text((x + 2, 1), label, fill=(255, 255, 255))
    return canvas


def _pick(candidates: list[int], limit: int) -> list[int]:
    """Up to ``limit`` items spread evenly over ``candidates``."""
    if len(candidates) <= limit:
        return candidates
    spots = np.linspace(0, len(candidates) - 1, limit).round().astype(int)
    return [candidates[i] for i in sorted(set(spots.tolist()))]


# --------------------------------------------------------------------------- predict


def prediction_table(
    root: str | os.PathLike[str], *, split: str = "train", exclude_bad: bool = False
) -> tuple[pd.DataFrame, bool]:
    """Every slice under ``root/{split}``: ``(table, labelled)``.

    With ``split="train"`` and ``root/train.csv`` present the table holds the
    labels (``labelled`` is True); otherwise (``split="test"``, the Kaggle test
    set, has no labels) every RLE column is empty.
    """
    from rlemask import uwmgi

    if split == "train" and (Path(root) / "train.csv").is_file():
        return uwmgi.load_table(root, split=split, exclude_bad=exclude_bad), True
    table = uwmgi.scan(root, split=split, exclude_bad=exclude_bad)
    for c in CLASSES:
        table[c] = ""
    return table, False


def predict(
    checkpoint: str | os.PathLike[str] | nn.Module,
    data_root: str | os.PathLike[str],
    out_csv: str | os.PathLike[str],
    *,
    overlays: str | os.PathLike[str] | None = None,
    max_overlays: int = 24,
    overlay_ids: Collection[str] | None = None,
    fold: int | None = None,
    threshold: float | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = "auto",
    workers: int = 0,
    config: dict[str, Any] | None = None,
    progress: bool = False,
    split: str = "train",
) -> pd.DataFrame:
    """Predict every slice of a UWMGI folder; write ``id,class,predicted`` rows to ``out_csv``.

    Parameters
    ----------
    checkpoint : path or torch.nn.Module
        A checkpoint of ``rlemask train`` (its config gives the encoder, image
        size, resize mode and 2.5D context), or a model (then ``config`` gives
        those; the model stays on its device and keeps its train/eval mode).
    data_root : path
        A UWMGI-layout folder (``train/caseN/...`` or ``test/caseN/...``); with
        ``split="train"`` and ``train.csv`` the overlays show the ground truth too.
    out_csv : path
        The submission, written atomically: three rows per image (classes in the
        order large_bowel, small_bowel, stomach), images sorted by case, day, slice.
    overlays : path, optional
        Folder for ``<id>.png`` pictures (slice / ground truth / prediction) of up
        to ``max_overlays`` slices where the truth or the prediction is non-empty,
        spread evenly over the data.
    overlay_ids : collection of str, optional
        Only these images are candidates for overlays (e.g. the validation fold).
    fold : int, optional
        Only the slices of this fold, with the checkpoint's split (needs labels).
    threshold : float, optional
        Default: the checkpoint's (0.5).
    batch_size, device, workers, progress
        Inference options; ``device="auto"`` picks CUDA when available.
    split : {"train", "test"}
        The image folder under ``data_root`` (default ``train``). ``test`` is the
        Kaggle test set: no labels, so no ground truth in overlays and no ``fold``.
    config : dict, optional
        With a model: ``size``, ``resize``, ``context``, ``stride``, ``normalize``,
        ``threshold``, ``folds``, ``fold_seed``, ``exclude_bad`` (defaults as in
        :class:`~rlemask_models.train.TrainConfig`).

    Returns
    -------
    DataFrame
        The submission rows (``id``, ``class``, ``predicted``).

    Raises
    ------
    RlemaskError
        Unreadable checkpoint, bad layout, or a fold without labels.
    """
    from rlemask_models.data import SliceDataset
    from rlemask_models.model import model_from_checkpoint
    from rlemask_models.train import TrainConfig

    if isinstance(checkpoint, nn.Module):
        model = checkpoint
        cfg = TrainConfig.from_dict(config or {})
        dev = None
        in_channels = _in_channels(model, cfg)
    else:
        model, saved, ckpt = model_from_checkpoint(checkpoint)
        cfg = TrainConfig.from_dict({**saved, **(config or {})})
        dev = resolve_device(device)
        model.to(dev)
        if dev.type == "cuda":
            model.to(memory_format=torch.channels_last)
        in_channels = int(ckpt.get("in_channels", 3))
    thr = cfg.threshold if threshold is None else float(threshold)

    table, labelled = prediction_table(data_root, split=split, exclude_bad=cfg.exclude_bad)
    rows = table
    if fold is not None:
        if not labelled:
            reason = (
                f"split={split!r} has no labels" if split != "train"
                else f"{str(Path(data_root) / 'train.csv')!r} is missing"
            )
            raise RlemaskError(f"predict: fold={fold} needs labels, but {reason}")
        from rlemask_models.train import split_folds

        rows = split_folds(table, cfg, fold=fold)[2]
    rows = rows.reset_index(drop=True)
    dataset = SliceDataset(
        rows,
        size=cfg.size,
        resize=cfg.resize,
        context=cfg.context,
        stride=cfg.stride,
        channels=in_channels if cfg.context == 0 else 3,
        normalize=cfg.normalize,
        neighbours=table,
    )
    submission: list[tuple[str, str, str]] = []
    interesting: list[int] = []
    pred_rles: dict[int, list[str]] = {}
    for index, mask in infer(
        model, dataset, batch_size=batch_size, threshold=thr, device=dev,
        amp=cfg.amp, workers=workers, progress=progress,
    ):
        rles = rlemask.encode_many(mask)
        image_id = dataset.ids[index]
        submission.extend((image_id, c, r) for c, r in zip(CLASSES, rles))
        has_truth = any(r is not None for r in dataset.rles[index])
        eligible = overlay_ids is None or image_id in overlay_ids
        if overlays is not None and eligible and (has_truth or any(rles)):
            interesting.append(index)
            pred_rles[index] = rles
    write_submission(submission, out_csv)
    if overlays is not None:
        _write_overlays(dataset, _pick(interesting, max_overlays), pred_rles, Path(overlays), labelled)
    return pd.DataFrame(submission, columns=["id", "class", "predicted"])


def _in_channels(model: nn.Module, cfg: Any) -> int:
    if cfg.context:
        return 2 * cfg.context + 1
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            return int(module.in_channels)
    return 3


def _write_overlays(
    dataset: Any, indices: list[int], pred_rles: dict[int, list[str]], folder: Path, labelled: bool
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for index in indices:
        image, truth = dataset.load(index)
        shape = dataset.shapes[index]
        pred = rlemask.decode_many(pred_rles[index], shape)
        middle = image[len(image) // 2] if dataset.context else image[0]
        picture = overlay(middle, truth if labelled else None, pred, title=dataset.ids[index])
        path = folder / f"{dataset.ids[index]}.png"
        with atomic_path(path) as tmp:
            picture.save(tmp, format="PNG")
        written.append(path)
    return written
