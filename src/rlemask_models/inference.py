"""Inference: checkpoints x test-time views -> averaged probabilities -> original size -> RLE rows.

:func:`load_checkpoint` rebuilds a :class:`~rlemask_models.module.SegmentationModule`
from a Lightning ``.ckpt`` (``torch.load(weights_only=True)``; the hyper-parameters
hold the architecture, encoder, classes, size, context, normalisation and threshold).
:func:`infer` averages the sigmoid probabilities of every checkpoint and every view
(the image, plus ``hflip`` / ``vflip`` when asked, flipped back) on the model's grid,
restores them to each image's original size and thresholds them: time and memory
grow linearly with checkpoints x views.  :func:`predict` writes a submission
(``id,class,predicted``) and optional overlays, :func:`evaluate` the per-class
scores of a fold, :func:`fold_predictions` both (the out-of-fold rows of ``cv``).
Inference runs in float32 on the chosen device; the model is put back in the mode it had.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import rlemask
from rlemask._io import atomic_open, atomic_path
from rlemask.errors import LayoutError, RlemaskError
from rlemask.uwmgi import CLASSES
from rlemask_models.data import SliceDataset, make_loader, restore
from rlemask_models.datamodule import split_folds
from rlemask_models.metrics import SegmentationScores
from rlemask_models.module import SegmentationModule, binarize, read_torch_file, strict_load

__all__ = ["VIEWS", "evaluate", "fold_predictions", "infer", "load_checkpoint", "parse_tta", "predict",
           "score_table"]

#: test-time views: the dimensions each one flips (of an N, C, H, W batch)
VIEWS = {"hflip": (3,), "vflip": (2,)}
#: hyper-parameters every checkpoint of an ensemble must share
_GEOMETRY = ("classes", "size", "resize", "context", "stride", "normalize", "in_channels")


def parse_tta(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"hflip,vflip"`` -> ``("hflip", "vflip")``; unknown names raise."""
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text or ()) if t.strip()]
    bad = [n for n in names if n not in VIEWS]
    if bad:
        raise RlemaskError(f"tta={bad[0]!r} is not a view; expected a comma-separated list of {', '.join(VIEWS)}")
    return tuple(dict.fromkeys(names))


def load_checkpoint(path: str | os.PathLike[str]) -> SegmentationModule:
    """The module of a ``.ckpt`` written by ``rlemask train`` / ``cv``, in eval mode on the CPU."""
    file = Path(path)
    ckpt = read_torch_file(file, "checkpoint")
    if isinstance(ckpt, dict) and ckpt.get("format") == "rlemask-checkpoint-1":
        raise RlemaskError(f"checkpoint {str(file)!r} is in the old rlemask-checkpoint-1 format (.pt of rlemask "
                           "0.1); retrain with this version, which writes Lightning .ckpt files")
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hp, dict) or "encoder" not in hp or not isinstance(ckpt.get("state_dict"), dict):
        raise RlemaskError(f"checkpoint {str(file)!r} is not a SegmentationModule checkpoint (no encoder "
                           "hyper-parameters or state_dict); expected a .ckpt of 'rlemask train' or 'rlemask cv'")
    if list(hp.get("classes", ())) != list(CLASSES):
        raise RlemaskError(f"checkpoint {str(file)!r} has classes={list(hp.get('classes', ()))}; "
                           f"expected {list(CLASSES)}")
    module = SegmentationModule(**{**hp, "weights": None})
    strict_load(module, ckpt["state_dict"], file, what=f"{hp.get('arch')} with encoder {hp.get('encoder')!r}")
    module.datamodule_hparams = dict(ckpt.get("datamodule_hyper_parameters") or {})
    return module.eval()


def _check_ensemble(modules: Sequence[SegmentationModule], names: Sequence[Any]) -> None:
    first = modules[0].hparams
    for module, name in zip(modules[1:], names[1:]):
        for key in _GEOMETRY:
            if module.hparams.get(key) != first.get(key):
                raise RlemaskError(f"checkpoint {str(name)!r} has {key}={module.hparams.get(key)!r} but "
                                   f"{str(names[0])!r} has {first.get(key)!r}; an ensemble needs the same data geometry")


def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RlemaskError(f"device={device!r} but CUDA is not available; use device='cpu'")
    return dev


def infer(modules: Sequence[SegmentationModule], dataset: SliceDataset, *, tta: Sequence[str] = (),
          threshold: float | None = None, batch_size: int = 8, workers: int = 0, device: str = "auto",
          progress: bool = False) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, mask)`` per item: uint8 ``(classes, h, w)`` at the original size (see the module doc)."""
    views = (None, *(VIEWS[v] for v in parse_tta(tta)))
    dev = _device(device)
    thr = modules[0].hparams.threshold if threshold is None else float(threshold)
    min_area = modules[0].hparams.get("min_area", 0)
    modes = [m.training for m in modules]
    loader = make_loader(dataset, batch_size=batch_size, workers=workers)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(dataset), desc="predict", unit="img", file=sys.stderr, leave=False)
    try:
        for m in modules:
            m.to(dev).eval()
        index = 0
        for batch in loader:
            image = batch["image"].to(dev)
            total = torch.zeros((), device=dev)
            with torch.inference_mode():
                for m in modules:
                    for dims in views:
                        if dims is None:
                            total = total + torch.sigmoid(m(image).float())
                        else:
                            total = total + torch.sigmoid(m(image.flip(dims)).float()).flip(dims)
            probs = (total / (len(modules) * len(views))).cpu()
            for p, shape in zip(probs, batch["shape"]):
                yield index, binarize(restore(p, shape, size=dataset.size, resize=dataset.resize), thr, min_area)
                index += 1
            if bar is not None:
                bar.update(len(probs))
    finally:
        if bar is not None:
            bar.close()
        for m, mode in zip(modules, modes):
            m.train(mode)


def _dataset(module: SegmentationModule, rows: pd.DataFrame, table: pd.DataFrame) -> SliceDataset:
    hp = module.hparams
    return SliceDataset(rows.reset_index(drop=True), size=tuple(hp.size), resize=hp.resize, context=hp.context,
                        stride=hp.stride, normalize=hp.normalize, neighbours=table,
                        channels=hp.in_channels if not hp.context else 3)


def _load(checkpoints: Sequence[Any]) -> list[SegmentationModule]:
    if not checkpoints:
        raise RlemaskError("no checkpoint given; expected one or more .ckpt files")
    modules = [c if isinstance(c, SegmentationModule) else load_checkpoint(c) for c in checkpoints]
    _check_ensemble(modules, list(checkpoints))
    return modules


def _rows(module: SegmentationModule, root: Any, *, split: str = "train",
          fold: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    """(rows to predict, whole table, labelled) of a data folder, with the checkpoint's fold split."""
    from rlemask import uwmgi

    dm = _datamodule_hparams(module)
    labelled = split == "train" and (Path(root) / "train.csv").is_file()
    if labelled:
        table = uwmgi.load_table(root, exclude_bad=dm.get("exclude_bad", False))
    else:
        table = uwmgi.scan(root, split=split)
        for c in CLASSES:
            table[c] = ""
    if fold is None:
        return table, table, labelled
    if not labelled:
        raise RlemaskError(f"fold={fold} needs labels, but {str(Path(root) / 'train.csv')!r} is missing "
                           f"or split={split!r} has none")
    table = split_folds(table, int(dm.get("folds", 5)), seed=int(dm.get("fold_seed", 42)))
    if fold not in set(table["fold"]):
        raise RlemaskError(f"fold={fold} is not one of the folds {sorted(set(table['fold']))}")
    return table[table["fold"] == fold], table, labelled


def _datamodule_hparams(module: SegmentationModule) -> dict[str, Any]:
    return dict(getattr(module, "datamodule_hparams", {}))


def score_table(values: dict[str, float]) -> pd.DataFrame:
    """Per-class rows (and ``all``) of :class:`SegmentationScores` values."""
    names = ("dice", "dice_present", "baseline_empty_dice", "iou", "hausdorff", "score", "fp_empty_rate")
    rows = [{"class": c, **{n: values[f"{n}_{c}"] for n in names}} for c in CLASSES]
    rows.append({"class": "all", **{n: values[n] for n in names}})
    return pd.DataFrame(rows)


def fold_predictions(checkpoints: Sequence[Any], root: Any, fold: int | None, *, tta: Sequence[str] = (),
                     threshold: float | None = None, batch_size: int = 8, workers: int = 0, device: str = "auto",
                     progress: bool = False) -> tuple[pd.DataFrame, dict[str, float]]:
    """``(submission rows, metrics)`` of one fold's slices (``fold=None``: the first checkpoint's)."""
    modules = _load(checkpoints)
    if fold is None:
        fold = int(_datamodule_hparams(modules[0]).get("fold", 0))
    rows, table, _ = _rows(modules[0], root, fold=fold)
    dataset = _dataset(modules[0], rows, table)
    scores = SegmentationScores()
    out = []
    for index, mask in infer(modules, dataset, tta=tta, threshold=threshold, batch_size=batch_size,
                             workers=workers, device=device, progress=progress):
        truth = rlemask.decode_many([r or "" for r in dataset.rles[index]], dataset.shapes[index])
        scores.update([mask], [truth], [dataset.ids[index]])
        out.extend(zip([dataset.ids[index]] * len(CLASSES), CLASSES, rlemask.encode_many(mask)))
    return pd.DataFrame(out, columns=["id", "class", "predicted"]), {"fold": fold, **scores.compute()}


def evaluate(checkpoints: Sequence[Any], root: Any, fold: int | None = None, *, out: Any = None,
             **options: Any) -> pd.DataFrame:
    """Per-class table of a fold (default: the checkpoint's); ``out`` ``.json`` (all metrics) or CSV."""
    import json

    _, values = fold_predictions(checkpoints, root, fold, **options)
    table = score_table(values)
    table.attrs["metrics"] = values
    if out is not None:
        with atomic_path(Path(out)) as tmp:
            if str(out).lower().endswith(".json"):
                clean = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in values.items()}
                tmp.write_text(json.dumps({**clean, "checkpoints": [str(c) for c in checkpoints]}, indent=2) + "\n")
            else:
                table.to_csv(tmp, index=False, float_format="%.6f")
    return table


def predict(checkpoints: Sequence[Any], root: Any, out: Any, *, split: str = "train", fold: int | None = None,
            overlays: Any = None, max_overlays: int = 24, overlay_ids: Any = None, tta: Sequence[str] = (),
            threshold: float | None = None, batch_size: int = 8, workers: int = 0, device: str = "auto",
            progress: bool = False) -> pd.DataFrame:
    """Predict every slice of ``root/split`` (or of one fold); write ``id,class,predicted`` rows to ``out``.

    ``overlays=DIR`` writes up to ``max_overlays`` PNGs (slice / truth / prediction,
    the prediction panel naming its dice) of images with an organ in the truth or
    the prediction, among ``overlay_ids`` when given.
    """
    modules = _load(checkpoints)
    rows, table, labelled = _rows(modules[0], root, split=split, fold=fold)
    if not len(rows):
        raise LayoutError(f"no images under {str(Path(root) / split)!r}")
    dataset = _dataset(modules[0], rows, table)
    submission, candidates = [], []
    for index, mask in infer(modules, dataset, tta=tta, threshold=threshold, batch_size=batch_size,
                             workers=workers, device=device, progress=progress):
        rles = rlemask.encode_many(mask)
        image_id = dataset.ids[index]
        submission.extend(zip([image_id] * len(CLASSES), CLASSES, rles))
        if overlays is not None and (overlay_ids is None or image_id in overlay_ids) and (
                any(rles) or any(dataset.rles[index])):
            candidates.append((index, rles))
    with atomic_open(Path(out), "w", newline="", encoding="ascii") as f:
        f.write("id,class,predicted\n")
        f.writelines(f"{i},{c},{r}\n" for i, c, r in submission)
    if overlays is not None:
        _write_overlays(dataset, candidates, Path(overlays), max_overlays, labelled)
    return pd.DataFrame(submission, columns=["id", "class", "predicted"])


def _write_overlays(dataset: SliceDataset, candidates: list, folder: Path, limit: int, labelled: bool) -> None:
    from rlemask_models.plots import overlay

    if len(candidates) > limit:
        spots = np.linspace(0, len(candidates) - 1, limit).round().astype(int)
        candidates = [candidates[i] for i in sorted(set(spots.tolist()))]
    folder.mkdir(parents=True, exist_ok=True)
    for index, rles in candidates:
        image, truth = dataset.load(index)
        pred = rlemask.decode_many(rles, dataset.shapes[index])
        dice = float(np.mean(rlemask.dice(truth=truth, pred=pred))) if labelled else None
        picture = overlay(image[len(image) // 2], truth if labelled else None, pred, title=dataset.ids[index],
                          dice=dice)
        with atomic_path(folder / f"{dataset.ids[index]}.png") as tmp:
            picture.save(tmp, format="PNG")
