"""Train a U-Net on one fold of a UWMGI folder: the loop behind ``rlemask train``.

:func:`fit` takes a :class:`TrainConfig` and

1. loads the table (:func:`rlemask.uwmgi.load_table`), assigns stratified folds
   grouped by case (:func:`rlemask.folds.assign_folds`) and keeps fold ``fold``
   for validation; the training slices go through the empty-slice policy
   (:func:`rlemask_models.data.select_slices`), validation always uses **every**
   slice of the fold;
2. builds the model (:func:`rlemask_models.model.build_model`, never a download)
   and trains it with BCE + soft Dice loss, AdamW and a cosine learning-rate
   schedule (optional linear warm-up), stepped every batch; on CUDA with mixed
   precision (bf16, or fp16 with a gradient scaler) and ``channels_last``;
3. validates after every epoch on the original image sizes with
   :class:`rlemask_models.evaluate.Scores` (Dice, IoU, Hausdorff, competition
   score, per class);
4. writes, in ``out``: ``last.pt`` every epoch and ``best.pt`` when the score
   improves (both atomically: ``torch.save`` to a temporary file, then
   ``os.replace``), ``metrics.csv`` (one row per epoch) and ``learning_curve.png``.

A checkpoint holds the model, optimizer, scheduler, gradient scaler, the epoch,
the random-number states (torch, CUDA, numpy, random; one set per rank), the
config, the metrics and the history; everything loads with
``torch.load(..., weights_only=True)``.  ``resume=True`` continues from
``out/last.pt``: a killed run loses at most the epoch it was in, and on the CPU
a resumed run ends with the same weights as an uninterrupted one (the shuffle
and augmentation depend only on the seed and the epoch, and the random states
are restored).

Under ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` set) the same call
trains with :class:`~torch.nn.parallel.DistributedDataParallel`: NCCL on GPUs,
gloo on CPUs, each rank on its share of the batches (``batch_size`` is per
rank).  Batch-norm buffers are broadcast from rank 0 after every epoch so all
ranks hold identical weights, validation is split over the ranks and gathered,
and only rank 0 writes files.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import random
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from rlemask._io import atomic_open, atomic_path
from rlemask.errors import RlemaskError

__all__ = ["FitResult", "TrainConfig", "bce_dice_loss", "fit", "split_folds", "train_step"]

CLASSES = ("large_bowel", "small_bowel", "stomach")
CHECKPOINT_FORMAT = "rlemask-checkpoint-1"

#: config fields that may differ when resuming (everything else comes from the checkpoint)
_RESUME_FREE = ("epochs", "workers", "progress", "resume", "device", "out", "data")


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in every checkpoint).

    Attributes
    ----------
    data : str
        UWMGI-layout folder (``train.csv`` and ``train/``).
    out : str
        Output folder for checkpoints, ``metrics.csv`` and ``learning_curve.png``.
    fold, folds, fold_seed : int
        Validation fold, number of folds and the seed of
        :func:`rlemask.folds.assign_folds` (grouped by case).
    encoder : str
        smp encoder name (``"efficientnet-b7"``, ``"resnet18"``, ``"tu-..."``).
    weights : str or None
        Local encoder or model weights for :func:`~rlemask_models.model.build_model`.
    size : (int, int)
        Model input (height, width), multiples of 32.
    resize : "resize" or "pad"
    context, stride : int
        2.5D input: ``2*context + 1`` neighbouring slices as channels.
    empty : "keep", "drop" or float
        Empty-slice policy for the training slices (validation keeps all).
    augment : bool
        Flips and affine augmentation of the training slices.
    normalize : str
        Slice normalisation (:func:`rlemask.uwmgi.read_slice`).
    epochs, batch_size : int
        ``batch_size`` per process.
    val_batch_size : int or None
        Default: ``batch_size``.
    lr, min_lr, weight_decay : float
        AdamW learning rate, the cosine floor and the weight decay.
    warmup : float
        Epochs of linear warm-up (fractions allowed), then cosine decay.
    bce_weight : float
        Loss = ``bce_weight * BCE + (1 - bce_weight) * soft Dice``.
    threshold : float
        Probability above which a pixel is predicted.
    clip_grad : float or None
        Maximum gradient norm.
    amp : "auto", "bf16", "fp16" or "off"
        Mixed precision (CUDA only).
    channels_last : bool or None
        Default: on CUDA.
    sync_bn : bool
        SyncBatchNorm under DistributedDataParallel on CUDA.
    bn_momentum : float or None
        Momentum of every batch-norm layer's running statistics; None keeps the
        encoder's (smp's EfficientNets use 0.01, which lags far behind the weights
        of a model trained from scratch for a few hundred steps: 0.1 fixes that).
    workers : int
        DataLoader workers.
    cache : bool
        Keep the slices in memory after the first read (small data sets).
    seed : int
        Seed of the initialisation, shuffle, augmentation and empty-slice draw.
    deterministic : bool or None
        ``torch.use_deterministic_algorithms`` during the run; default: on CPU.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``.
    exclude_bad : bool
        Drop the scans with known bad labels (:data:`rlemask.uwmgi.BAD_SCANS`).
    progress : bool
        Progress bar (loss, img/s) and one line per epoch on stderr.
    resume : bool
        Continue from ``out/last.pt`` when it exists.
    """

    data: str = ""
    out: str = "runs/fold0"
    fold: int = 0
    folds: int = 5
    fold_seed: int = 42
    encoder: str = "efficientnet-b7"
    weights: str | None = None
    size: tuple[int, int] = (256, 256)
    resize: str = "resize"
    context: int = 0
    stride: int = 1
    empty: str | float = "keep"
    augment: bool = True
    normalize: str = "percentile"
    epochs: int = 10
    batch_size: int = 8
    val_batch_size: int | None = None
    lr: float = 1e-3
    min_lr: float = 1e-6
    weight_decay: float = 1e-2
    warmup: float = 0.0
    bce_weight: float = 0.5
    threshold: float = 0.5
    clip_grad: float | None = None
    amp: str = "auto"
    channels_last: bool | None = None
    sync_bn: bool = False
    bn_momentum: float | None = None
    workers: int = 0
    cache: bool = False
    seed: int = 42
    deterministic: bool | None = None
    device: str = "auto"
    exclude_bad: bool = False
    progress: bool = True
    resume: bool = False

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """A config from a (saved) dict; unknown keys are ignored, ``size`` becomes a tuple."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in values.items() if k in names}
        cfg = cls(**kwargs)
        cfg.size = _size(cfg.size)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (loadable with ``torch.load(weights_only=True)`` and JSON)."""
        out = asdict(self)
        out["size"] = list(self.size)
        return out

    def check(self) -> TrainConfig:
        """Raise :class:`RlemaskError` naming the first invalid field; return self."""
        self.size = _size(self.size)
        ints = {"fold": 0, "folds": 2, "epochs": 1, "batch_size": 1, "context": 0, "stride": 1, "workers": 0}
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise RlemaskError(f"TrainConfig: {name}={value!r} must be an int >= {low}")
        if self.fold >= self.folds:
            raise RlemaskError(f"TrainConfig: fold={self.fold} must be < folds={self.folds}")
        if self.resize == "pad" and (self.size[0] % 32 or self.size[1] % 32):
            raise RlemaskError(f"TrainConfig: size={self.size} must be multiples of 32 with resize='pad'")
        if self.size[0] % 32 or self.size[1] % 32:
            up = tuple(-(-s // 32) * 32 for s in self.size)
            raise RlemaskError(
                f"TrainConfig: size={self.size}; the U-Net needs multiples of 32, use size={up}"
            )
        for name in ("lr", "min_lr", "weight_decay", "warmup"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value < 0:
                raise RlemaskError(f"TrainConfig: {name}={getattr(self, name)!r} must be a finite number >= 0")
        if self.lr <= 0:
            raise RlemaskError(f"TrainConfig: lr={self.lr!r} must be > 0")
        if not 0.0 <= self.bce_weight <= 1.0:
            raise RlemaskError(f"TrainConfig: bce_weight={self.bce_weight!r} must be in [0, 1]")
        if self.bn_momentum is not None and not 0.0 < float(self.bn_momentum) <= 1.0:
            raise RlemaskError(f"TrainConfig: bn_momentum={self.bn_momentum!r} must be in (0, 1]")
        if not 0.0 < self.threshold < 1.0:
            raise RlemaskError(f"TrainConfig: threshold={self.threshold!r} must be in (0, 1)")
        if self.amp not in ("auto", "bf16", "fp16", "off"):
            raise RlemaskError(f"TrainConfig: amp={self.amp!r}; expected 'auto', 'bf16', 'fp16' or 'off'")
        if not self.data:
            raise RlemaskError("TrainConfig: data is empty; expected the UWMGI folder (train.csv, train/)")
        return self


def _size(size: Any) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        return int(size), int(size)
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise RlemaskError(f"size={size!r} must be an int or (height, width)") from None
    if h <= 0 or w <= 0:
        raise RlemaskError(f"size={size!r} must be positive")
    return h, w


@dataclass
class FitResult:
    """What :func:`fit` returns: the trained model (unwrapped, on its device) and the record."""

    model: nn.Module
    best: dict[str, Any]
    last: dict[str, Any]
    best_epoch: int
    history: list[dict[str, Any]]
    out: Path
    config: TrainConfig
    rank: int = 0
    world_size: int = 1
    files: dict[str, Path] = field(default_factory=dict)


# --------------------------------------------------------------------------- pieces


def split_folds(table: pd.DataFrame, config: TrainConfig, *, fold: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(table with fold, training rows, validation rows)`` for ``config``'s split.

    Folds come from :func:`rlemask.folds.assign_folds` (stratified on the three
    classes, grouped by case, ``config.fold_seed``); a ``fold`` column already in
    the table is used as it is.
    """
    from rlemask import folds as folds_mod

    fold = config.fold if fold is None else int(fold)
    if "fold" not in table.columns:
        cases = table["case"].nunique()
        if cases < config.folds:
            raise RlemaskError(
                f"split_folds: {cases} case(s) cannot fill folds={config.folds} grouped by case; "
                f"use folds <= {cases}"
            )
        table = folds_mod.assign_folds(table, config.folds, group="case", random_state=config.fold_seed)
    present = sorted(int(v) for v in table["fold"].unique())
    if fold not in present:
        raise RlemaskError(f"split_folds: fold={fold} is not one of the folds {present}")
    is_val = table["fold"].to_numpy() == fold
    return table, table.loc[~is_val], table.loc[is_val]


def bce_dice_loss(logits: torch.Tensor, target: torch.Tensor, *, bce_weight: float = 0.5, smooth: float = 1.0) -> torch.Tensor:
    """``bce_weight * BCE + (1 - bce_weight) * (1 - soft Dice)``, Dice per class over the batch.

    Parameters
    ----------
    logits, target : tensors (N, C, H, W)
        Raw scores and 0/1 targets.
    smooth : float
        Added to numerator and denominator so that a class absent from the batch
        and predicted absent costs nothing.
    """
    logits = logits.float()
    target = target.float()
    bce = F.binary_cross_entropy_with_logits(logits, target)
    probs = torch.sigmoid(logits)
    dims = (0, 2, 3)
    inter = (probs * target).sum(dims)
    total = probs.sum(dims) + target.sum(dims)
    dice = (2 * inter + smooth) / (total + smooth)
    return bce_weight * bce + (1 - bce_weight) * (1 - dice.mean())


def train_step(
    model: nn.Module,
    batch: Mapping[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    scaler: Any = None,
    scheduler: Any = None,
    device: torch.device | str = "cpu",
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    bce_weight: float = 0.5,
    clip_grad: float | None = None,
) -> float:
    """One optimisation step on ``batch``; return the loss (before the step)."""
    device = torch.device(device)
    image = batch["image"].to(device, non_blocking=True)
    mask = batch["mask"].to(device, non_blocking=True)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        logits = model(image)
    loss = bce_dice_loss(logits, mask, bce_weight=bce_weight)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        if clip_grad:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if clip_grad:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return float(loss.detach())


def _cosine(total: int, warmup: int, floor: float):
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


# --------------------------------------------------------------------------- random states


def _rng_state(device: torch.device) -> dict[str, Any]:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- distributed


@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local: int = 0
    owned: bool = False  # we initialised the process group

    @property
    def on(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device_name: str) -> _Dist:
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    owned = False
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        owned = True
    return _Dist(rank=dist.get_rank(), world=dist.get_world_size(), local=local, owned=owned)


def _gather(obj: Any, ctx: _Dist) -> list[Any]:
    if not ctx.on:
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


def _broadcast(obj: Any, ctx: _Dist) -> Any:
    if not ctx.on:
        return obj
    import torch.distributed as dist

    box = [obj if ctx.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _sync_buffers(model: nn.Module, ctx: _Dist) -> None:
    """Batch-norm running statistics from rank 0 to every rank (DDP keeps parameters equal)."""
    if not ctx.on:
        return
    import torch.distributed as dist

    with torch.no_grad():
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


# --------------------------------------------------------------------------- files


def _atomic_save(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _atomic_copy(src: Path, dst: Path) -> None:
    import shutil

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _flat_row(epoch: int, lr: float, loss: float, metrics: Mapping[str, Any], seconds: float, rate: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "epoch": epoch + 1,
        "lr": lr,
        "train_loss": loss,
        "dice": metrics["dice"],
        "iou": metrics["iou"],
        "hausdorff": metrics["hausdorff"],
        "score": metrics["score"],
        "fp_empty_rate": metrics["fp_empty_rate"],
    }
    for c, values in metrics["per_class"].items():
        for key in ("dice", "iou", "hausdorff", "score"):
            row[f"{key}_{c}"] = values[key]
    row["seconds"] = seconds
    row["img_per_s"] = rate
    return row


def write_metrics_csv(history: list[dict[str, Any]], path: Path) -> None:
    """All epoch rows to ``path``, atomically (rewritten from the history each epoch)."""
    if not history:
        return
    columns = list(history[0])
    with atomic_open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in history:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})


def plot_learning_curve(history: list[dict[str, Any]], path: Path) -> None:
    """Training loss and validation metrics per epoch as a PNG (matplotlib's Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [row["epoch"] for row in history]

    def series(key: str) -> list[float]:
        return [math.nan if row.get(key) is None else float(row[key]) for row in history]

    fig = Figure(figsize=(9, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    left.plot(epochs, series("train_loss"), marker="o", label="train loss")
    left.set_xlabel("epoch")
    left.set_ylabel("BCE + Dice loss")
    left.grid(alpha=0.3)
    left.legend()
    for key in ("dice", "iou", "score"):
        right.plot(epochs, series(key), marker="o", label=f"val {key}")
    right.plot(epochs, [1 - v for v in series("hausdorff")], marker="o", label="val 1 - hausdorff")
    right.set_xlabel("epoch")
    right.set_ylim(0, 1.02)
    right.grid(alpha=0.3)
    right.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


# --------------------------------------------------------------------------- validation


def validate(
    model: nn.Module,
    dataset: Any,
    rows: pd.DataFrame,
    *,
    batch_size: int,
    threshold: float,
    device: torch.device,
    amp: str = "auto",
    workers: int = 0,
    ctx: _Dist | None = None,
) -> dict[str, Any]:
    """Score ``model`` on every item of ``dataset`` (the rows of ``rows``); split over ranks."""
    from rlemask_models.evaluate import Scores
    from rlemask_models.predict import infer

    ctx = ctx or _Dist()
    scores = Scores(rows)
    mine = list(range(ctx.rank, len(dataset), ctx.world))
    for index, mask in infer(model, dataset, indices=mine, batch_size=batch_size, threshold=threshold,
                             device=device, amp=amp, workers=workers):
        scores.add(index, mask)
    states = _gather(scores.state(mine), ctx)
    metrics = None
    if ctx.main:
        for rank, state in enumerate(states):
            if rank != ctx.rank:
                scores.merge(state)
        metrics = scores.summary()
    return _broadcast(metrics, ctx)


# --------------------------------------------------------------------------- fit


def _fmt(value: Any) -> str:
    return "nan" if value is None else f"{value:.4f}"


def _log(ctx: _Dist, cfg: TrainConfig, text: str) -> None:
    if ctx.main and cfg.progress:
        print(text, file=sys.stderr, flush=True)


def _resume_config(cfg: TrainConfig, saved: Mapping[str, Any], ctx: _Dist) -> TrainConfig:
    old = TrainConfig.from_dict(saved)
    changed = []
    for f in dataclasses.fields(TrainConfig):
        new_value, old_value = getattr(cfg, f.name), getattr(old, f.name)
        if f.name in _RESUME_FREE:
            setattr(old, f.name, new_value)
        elif new_value != old_value:
            changed.append(f"{f.name}={old_value!r} (asked {new_value!r})")
    if changed:
        _log(ctx, cfg, "resume: keeping the checkpoint's " + ", ".join(changed))
    return old


def fit(config: TrainConfig | None = None, /, **overrides: Any) -> FitResult:
    """Train one fold as described in the module doc; return a :class:`FitResult`.

    Parameters
    ----------
    config : TrainConfig, optional
        Default ``TrainConfig()``.
    **overrides
        Fields to change, e.g. ``fit(data="root", out="run", epochs=3)``.

    Raises
    ------
    RlemaskError
        An invalid config, a data folder that does not load, too few cases for
        the folds, or a checkpoint that does not fit.
    """
    cfg = dataclasses.replace(config or TrainConfig(), **overrides)
    cfg.check()
    ctx = _setup_distributed(cfg.device)
    previous_det = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    previous_benchmark = torch.backends.cudnn.benchmark
    try:
        return _fit(cfg, ctx)
    finally:  # no global switch outlives the run
        torch.use_deterministic_algorithms(previous_det, warn_only=previous_warn)
        torch.backends.cudnn.benchmark = previous_benchmark
        if ctx.owned:
            import torch.distributed as dist

            dist.destroy_process_group()


def _fit(cfg: TrainConfig, ctx: _Dist) -> FitResult:
    from torch.nn.parallel import DistributedDataParallel

    from rlemask import uwmgi
    from rlemask_models.data import SliceDataset, make_loader, select_slices, set_epoch
    from rlemask_models.model import build_model, read_checkpoint
    from rlemask_models.predict import amp_dtype, resolve_device

    out = Path(cfg.out)
    last_path, best_path = out / "last.pt", out / "best.pt"
    ckpt: dict[str, Any] | None = None
    if cfg.resume:
        if last_path.is_file():
            ckpt = read_checkpoint(last_path)
            cfg = _resume_config(cfg, ckpt["config"], ctx)
            cfg.check()
        else:
            _log(ctx, cfg, f"resume: no {last_path}; starting from scratch")

    if ctx.on and torch.cuda.is_available() and cfg.device in ("auto", "cuda"):
        device = torch.device("cuda", ctx.local)
    else:
        device = resolve_device(cfg.device)
    deterministic = cfg.deterministic if cfg.deterministic is not None else device.type == "cpu"
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
    dtype = amp_dtype(cfg.amp, device)
    channels_last = cfg.channels_last if cfg.channels_last is not None else device.type == "cuda"

    # data
    table = uwmgi.load_table(cfg.data, exclude_bad=cfg.exclude_bad)
    table, train_rows, val_rows = split_folds(table, cfg)
    train_rows = select_slices(train_rows, cfg.empty, seed=cfg.seed)
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise RlemaskError(
            f"fit: fold {cfg.fold} leaves {len(train_rows)} training and {len(val_rows)} validation slices"
        )
    common = dict(size=cfg.size, resize=cfg.resize, context=cfg.context, stride=cfg.stride,
                  normalize=cfg.normalize, neighbours=table, cache=cfg.cache)
    train_ds = SliceDataset(train_rows, augment=cfg.augment, seed=cfg.seed, **common)
    val_rows = val_rows.reset_index(drop=True)
    val_ds = SliceDataset(val_rows, augment=False, **common)
    loader = make_loader(
        train_ds, batch_size=cfg.batch_size, shuffle=True, workers=cfg.workers, seed=cfg.seed,
        distributed=ctx.on, drop_last=len(train_ds) >= 2 * cfg.batch_size * ctx.world,
        pin_memory=device.type == "cuda",
    )
    steps = len(loader)

    # model and optimisation (same seed on every rank: identical initial weights)
    _seed_all(cfg.seed)
    in_channels = train_ds.channels
    model = build_model(cfg.encoder, in_channels=in_channels, classes=len(CLASSES), weights=cfg.weights)
    if cfg.bn_momentum is not None:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = float(cfg.bn_momentum)
    if ctx.on and cfg.sync_bn and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _cosine(cfg.epochs * steps, int(round(cfg.warmup * steps)), cfg.min_lr / cfg.lr)
    )
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    start, history, best, best_epoch, best_metrics = 0, [], -math.inf, -1, {}
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start = int(ckpt["epoch"]) + 1
        history = list(ckpt.get("history", []))
        best = float(ckpt.get("best_score", -math.inf))
        best_epoch = int(ckpt.get("best_epoch", -1))
        best_metrics = dict(ckpt.get("best_metrics", {}))
        _log(ctx, cfg, f"resume: {last_path} after epoch {start}/{cfg.epochs}")
    # per-rank stream for dropout / drop-path; restored exactly on resume
    _seed_all(cfg.seed + 1 + ctx.rank)
    if ckpt is not None:
        states = ckpt["rng"]
        _set_rng_state(states[ctx.rank] if ctx.rank < len(states) else states[0], device)

    net: nn.Module = model
    if ctx.on:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    if ctx.main:
        out.mkdir(parents=True, exist_ok=True)
    label = f"{cfg.encoder} {cfg.size[0]}x{cfg.size[1]} on {device}" + (f" x{ctx.world}" if ctx.on else "")
    _log(ctx, cfg, f"train: {label}, fold {cfg.fold}: {len(train_ds)} training slices "
                   f"({cfg.empty} empty), {len(val_ds)} validation slices, {steps} steps/epoch")
    metrics: dict[str, Any] = dict(ckpt.get("metrics", {})) if ckpt else {}
    val_batch = cfg.val_batch_size or cfg.batch_size
    for epoch in range(start, cfg.epochs):
        set_epoch(loader, epoch)
        net.train()
        bar = None
        if ctx.main and cfg.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                       file=sys.stderr, leave=False, dynamic_ncols=True,
                       mininterval=0.1 if sys.stderr.isatty() else 30.0)  # logs: a line per 30 s
        tic = time.perf_counter()
        loss_sum, seen = 0.0, 0
        for batch in loader:
            n = int(batch["image"].shape[0])
            loss = train_step(net, batch, optimizer, scaler=scaler, scheduler=scheduler, device=device,
                              amp_dtype=dtype, channels_last=channels_last, bce_weight=cfg.bce_weight,
                              clip_grad=cfg.clip_grad)
            if not math.isfinite(loss):
                raise RlemaskError(
                    f"fit: loss is {loss} at epoch {epoch + 1}; lower lr={cfg.lr} or use amp='off'"
                )
            loss_sum += loss * n
            seen += n
            if bar is not None:
                rate = seen * ctx.world / max(time.perf_counter() - tic, 1e-9)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", img_s=f"{rate:.1f}", refresh=False)
                bar.update(1)  # redraws at most every mininterval
        if bar is not None:
            bar.close()
        train_seconds = time.perf_counter() - tic
        totals = torch.tensor([loss_sum, seen], dtype=torch.float64)
        if ctx.on:
            import torch.distributed as dist

            dist.all_reduce(totals)
        train_loss = float(totals[0] / max(totals[1], 1))
        rate = float(totals[1]) / max(train_seconds, 1e-9)
        _sync_buffers(model, ctx)

        metrics = validate(model, val_ds, val_rows, batch_size=val_batch, threshold=cfg.threshold,
                           device=device, amp=cfg.amp, workers=cfg.workers, ctx=ctx)
        seconds = time.perf_counter() - tic
        lr = float(scheduler.get_last_lr()[0])
        history.append(_flat_row(epoch, lr, train_loss, metrics, seconds, rate))
        improved = metrics["score"] is not None and metrics["score"] > best
        if improved:
            best, best_epoch, best_metrics = float(metrics["score"]), epoch, metrics
        rng = _gather(_rng_state(device), ctx)
        if ctx.main:
            state = {
                "format": CHECKPOINT_FORMAT,
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "epoch": epoch,
                "steps": steps,
                "rng": rng,
                "config": cfg.to_dict(),
                "metrics": metrics,
                "best_score": best,
                "best_epoch": best_epoch,
                "best_metrics": best_metrics,
                "history": history,
                "classes": list(CLASSES),
                "in_channels": in_channels,
                "world_size": ctx.world,
                "torch": str(torch.__version__),
            }
            _atomic_save(state, last_path)
            if improved:
                _atomic_copy(last_path, best_path)
            write_metrics_csv(history, out / "metrics.csv")
            plot_learning_curve(history, out / "learning_curve.png")
        shown = "  ".join(f"{key} {_fmt(metrics.get(key))}" for key in ("dice", "iou", "hausdorff", "score"))
        _log(ctx, cfg, (
            f"epoch {epoch + 1}/{cfg.epochs}  loss {train_loss:.4f}  {shown}"
            f"{'  (best)' if improved else ''}  {rate:.1f} img/s  {seconds:.1f} s"
        ))
        if ctx.on:
            import torch.distributed as dist

            dist.barrier()

    files = {"last": last_path, "best": best_path, "metrics": out / "metrics.csv",
             "learning_curve": out / "learning_curve.png"}
    return FitResult(model=model, best=best_metrics, last=metrics, best_epoch=best_epoch + 1,
                     history=history, out=out, config=cfg, rank=ctx.rank, world_size=ctx.world,
                     files=files)
