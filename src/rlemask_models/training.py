"""Fit one fold from a :class:`~rlemask_models.config.TrainConfig` with a Lightning ``Trainer``.

:func:`fit_fold` builds the :class:`~rlemask_models.module.SegmentationModule`,
the :class:`~rlemask_models.datamodule.UWMGIDataModule` and the Trainer, fits,
and returns a :class:`FoldResult` with the validation metrics of the best epoch.
The Trainer does everything else: devices, DDP (torchrun, SLURM, or its own
launcher), precision, gradient accumulation and clipping, checkpoints
(``OUT/best.ckpt`` by ``val_score``, ``OUT/last.ckpt`` every epoch), resume
(``resume=True`` continues from ``last.ckpt``), early stopping (``patience``),
loggers (CSV under ``OUT/logs``, TensorBoard when installed) and the progress
bar.  Rank 0 then writes ``OUT/metrics.csv`` (one row per epoch, every run of a
resumed training merged; a fit that does not resume first deletes ``OUT/logs`` and
``OUT/tensorboard``) and ``OUT/learning_curve.png``.

Reproducibility: with the same config on a CPU, two runs give identical weights
(``seed_everything`` before the model is built, deterministic algorithms, shuffle
and augmentation functions of ``(seed, epoch)``).  A run resumed from
``last.ckpt`` restarts the interrupted epoch from its beginning with the saved
model, optimiser, schedule and loop state; what is not restored is the global
random state (used by dropout / drop-path and by an albumentations
``transform``), so the weights end close to, not identical with, an
uninterrupted run when the network draws random numbers (``docs/models.md``).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch

from rlemask_models.config import TrainConfig
from rlemask_models.datamodule import UWMGIDataModule
from rlemask_models.module import SegmentationModule, read_torch_file, strict_load, tune_postprocess

__all__ = ["FoldResult", "build", "build_trainer", "fit_fold", "read_history"]

_NOISE = (".*does not have many workers.*", ".*number of training batches.*smaller than the logging interval.*",
          ".*exists and is not empty.*", ".*sync_dist=True.*", ".*Trying to infer the `batch_size`.*",
          ".*LeafSpec.*", ".*isinstance\\(treespec, LeafSpec\\).*",
          ".*is not supported by the model summary.*")


@dataclass
class FoldResult:
    """What :func:`fit_fold` returns (``history`` and ``metrics`` are filled on rank 0)."""

    fold: int
    out: Path
    best: Path
    last: Path
    metrics: dict[str, float]
    history: pd.DataFrame
    module: SegmentationModule
    rank: int = 0
    files: dict[str, Path] = field(default_factory=dict)


def build(cfg: TrainConfig, *, transform: Any = None) -> tuple[SegmentationModule, UWMGIDataModule]:
    """The module and data module of ``cfg`` (the model seeded with ``cfg.seed``)."""
    data = UWMGIDataModule(cfg.data, fold=cfg.fold, folds=cfg.folds, fold_seed=cfg.fold_seed, size=cfg.size,
                           resize=cfg.resize, context=cfg.context, stride=cfg.stride, empty=cfg.empty,
                           augment=cfg.augment, transform=transform, normalize=cfg.normalize,
                           batch_size=cfg.batch_size, workers=cfg.workers, cache=cfg.cache, seed=cfg.seed,
                           exclude_bad=cfg.exclude_bad)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = SegmentationModule(arch=cfg.arch, encoder=cfg.encoder, in_channels=data.in_channels, weights=cfg.weights,
                                loss=cfg.loss, presence=cfg.presence, decoder_width=cfg.decoder_width, lr=cfg.lr, min_lr=cfg.min_lr, weight_decay=cfg.weight_decay,
                                warmup=cfg.warmup, threshold=cfg.threshold, min_area=cfg.min_area,
                                bn_momentum=cfg.bn_momentum, channels_last=cfg.channels_last,
                                size=cfg.size, resize=cfg.resize, context=cfg.context, stride=cfg.stride,
                                normalize=cfg.normalize)
    return module, data


def build_trainer(cfg: TrainConfig, *, callbacks: tuple[Any, ...] = ()) -> L.Trainer:
    """A Trainer for ``cfg``: checkpoints, CSV (and TensorBoard) logs, early stopping, precision."""
    from lightning.pytorch import callbacks as cb
    from lightning.pytorch.loggers import CSVLogger

    out = Path(cfg.out)
    cuda = torch.cuda.is_available() and cfg.accelerator in ("auto", "gpu", "cuda")
    precision = cfg.precision
    if precision == "auto":
        precision = ("bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed") if cuda else "32-true"
    deterministic = cfg.deterministic if cfg.deterministic is not None else not cuda
    devices: Any = cfg.devices
    if devices != "auto":
        devices = [int(d) for d in devices.split(",") if d] if "," in devices else int(devices)
    loggers: list[Any] = [CSVLogger(out, name="logs")]
    try:
        from lightning.pytorch.loggers import TensorBoardLogger

        import tensorboard  # noqa: F401

        loggers.append(TensorBoardLogger(out, name="tensorboard"))
    except ImportError:
        pass
    # two callbacks: Lightning's save_last only writes when a better "best" is saved
    best = cb.ModelCheckpoint(dirpath=out, filename="best", monitor="val_score", mode="max", save_top_k=1,
                              auto_insert_metric_name=False, enable_version_counter=False)
    last = cb.ModelCheckpoint(dirpath=out, filename="last", monitor=None, save_top_k=1,
                              auto_insert_metric_name=False, enable_version_counter=False)
    extra = [best, last, cb.LearningRateMonitor(logging_interval="epoch"), *callbacks]
    if cfg.ema is not None:
        extra.append(cb.EMAWeightAveraging(decay=cfg.ema))
    if cfg.patience is not None:
        extra.append(cb.EarlyStopping(monitor="val_score", mode="max", patience=cfg.patience))
    if cfg.quiet:
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    return L.Trainer(max_epochs=cfg.epochs, accelerator=cfg.accelerator, devices=devices, num_nodes=cfg.num_nodes,
                     strategy=cfg.strategy, precision=precision, deterministic=deterministic,
                     sync_batchnorm=cfg.sync_bn, accumulate_grad_batches=cfg.accumulate,
                     gradient_clip_val=cfg.clip_grad, callbacks=extra, logger=loggers, log_every_n_steps=10,
                     enable_progress_bar=not cfg.quiet, enable_model_summary=not cfg.quiet,
                     default_root_dir=out)


def fit_fold(cfg: TrainConfig, *, transform: Any = None, callbacks: tuple[Any, ...] = ()) -> FoldResult:
    """Train fold ``cfg.fold`` and validate on every slice of it; return the best epoch's metrics.

    The entry point for scripts (``benchmarks/empty_slices.py``): for example
    ``fit_fold(TrainConfig(data=root, out="run", empty="drop", epochs=5)).metrics["dice_present"]``.
    Metric names are those of :class:`~rlemask_models.metrics.SegmentationScores`
    (``score``, ``dice``, ``dice_present``, ``baseline_empty_dice``, ...) plus ``loss``
    (validation) and ``train_loss``.
    """
    cfg = require_data(dataclasses.replace(cfg).check())
    out = Path(cfg.out)
    last = out / "last.ckpt"
    if not cfg.resume:  # a fresh fit: no earlier run's logs merged into metrics.csv and the best epoch
        for name in ("logs", "tensorboard"):
            shutil.rmtree(out / name, ignore_errors=True)
    previous = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    with warnings.catch_warnings():
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        module, data = build(cfg, transform=transform)
        trainer = build_trainer(cfg, callbacks=callbacks)
        try:
            trainer.fit(module, datamodule=data, ckpt_path=last if cfg.resume and last.is_file() else None)
        finally:  # Trainer(deterministic=True) switches torch globally: no switch outlives the run
            torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
    result = FoldResult(fold=cfg.fold, out=out, best=out / "best.ckpt", last=last, metrics={},
                        history=pd.DataFrame(), module=module, rank=trainer.global_rank)
    if trainer.is_global_zero:
        from rlemask._io import atomic_path
        from rlemask_models.plots import plot_learning_curve

        history = read_history(out)
        with atomic_path(out / "metrics.csv") as tmp:
            history.to_csv(tmp, index=False)
        plot_learning_curve(history, out / "learning_curve.png")
        best = history.loc[history["val_score"].idxmax()] if history["val_score"].notna().any() else history.iloc[-1]
        result.history = history
        result.metrics = {k.removeprefix("val_"): float(v) for k, v in best.items() if k.startswith(("val_", "train"))}
        result.metrics["epoch"] = int(best["epoch"]) + 1
        result.files = {"metrics": out / "metrics.csv", "learning_curve": out / "learning_curve.png"}
        if cfg.tune:
            cuda = torch.cuda.is_available() and cfg.accelerator in ("auto", "gpu", "cuda")
            tune_checkpoints(module, data, [result.best, last], batch_size=cfg.batch_size, workers=cfg.workers,
                             device="cuda" if cuda else "cpu")
    return result


def tune_checkpoints(module: SegmentationModule, data: UWMGIDataModule, files: list[Path], *, batch_size: int = 8,
                     workers: int = 0, device: str = "cpu") -> None:
    """Load the first file's weights, tune threshold and min_area on the training folds' slices
    (:func:`~rlemask_models.module.tune_postprocess`, on ``device``) and store them in every file
    and ``module.hparams``; the module ends on the CPU."""
    from rlemask._io import atomic_path

    strict_load(module, read_torch_file(files[0], "checkpoint")["state_dict"], files[0], what="the module")
    rows = data.table.loc[data.table["fold"] != data.hparams.fold].reset_index(drop=True)
    try:
        threshold, min_area = tune_postprocess(module.to(device), data.dataset(rows), batch_size=batch_size,
                                               workers=workers)
    finally:
        module.cpu()
    module.hparams.update(threshold=threshold, min_area=min_area)
    for file in files:
        ckpt = read_torch_file(file, "checkpoint")
        ckpt["hyper_parameters"].update(threshold=threshold, min_area=min_area)
        with atomic_path(file) as tmp:
            torch.save(ckpt, tmp)


def require_data(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` when it names a data folder, else an error saying what is expected."""
    from rlemask.errors import RlemaskError

    if not cfg.data:
        raise RlemaskError("data is empty; expected --data ROOT, a UWMGI folder with train.csv and train/")
    return cfg


def read_history(out: str | Path) -> pd.DataFrame:
    """One row per epoch from every CSV log under ``OUT/logs`` (a resumed run's later logs win)."""
    files = sorted(Path(out, "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    frames = [pd.read_csv(f) for f in files if f.stat().st_size]
    if not frames:
        return pd.DataFrame(columns=["epoch", "train_loss", "val_loss", "val_score"])
    logs = pd.concat(frames, ignore_index=True)
    if "step" in logs.columns:  # the learning-rate monitor logs at an epoch's first step, without the epoch
        logs = logs.sort_values("step", kind="stable")
        logs["epoch"] = logs["epoch"].bfill()
    history = logs.dropna(subset=["epoch"]).groupby("epoch", as_index=False).last()
    history = history.drop(columns=[c for c in ("step",) if c in history.columns])
    history["epoch"] = history["epoch"].astype(int)
    for column in ("train_loss", "val_loss", "val_score"):
        if column not in history.columns:
            history[column] = float("nan")
    return history
