"""``rlemask train / cv / evaluate / predict / demo``: options generated from :mod:`rlemask_models.config`.

This module imports neither torch nor Lightning: each command checks for them
when it runs and, when the ``models`` extra is missing, says which install fixes
it and returns 2.  Failures are one line on stderr and exit 2; an unknown flag is
a usage error naming the closest valid one.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from typing import Any, Callable

from rlemask.errors import RlemaskError
from rlemask_models import config

__all__ = ["INSTALL_HINT", "register"]

INSTALL_HINT = "pip install 'rlemask[models]'"
_NEEDED = ("torch", "segmentation_models_pytorch", "timm", "lightning", "torchmetrics")


class _Parser(argparse.ArgumentParser):
    """A sub-command parser whose unknown options name the closest valid one."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        namespace, extra = super().parse_known_args(args, namespace)
        if extra:
            flags = [s for s in self._option_string_actions if s.startswith("--")]
            word = extra[0].split("=")[0]
            close = difflib.get_close_matches(word, flags, n=1)
            self.error(f"unknown option {word}" + (f"; did you mean {close[0]}?" if close else ""))
        return namespace, extra


def _missing_models(command: str) -> int | None:
    for name in _NEEDED:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            print(f"rlemask {command}: needs the 'models' extra: {INSTALL_HINT} (cannot import {name!r}: {exc})",
                  file=sys.stderr)
            return 2
    return None


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a DataLoader worker's error: its original last line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
    text = lines[-1] if lines[0].startswith("Caught ") else lines[0]
    return text.split(": ", 1)[1] if text.split(": ", 1)[0].endswith(("Error", "Exception")) else text


def _command(name: str, job: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if (code := _missing_models(name)) is not None:
            return code
        from lightning.fabric.utilities.exceptions import MisconfigurationException

        try:
            return job(args)
        except (RlemaskError, OSError, MisconfigurationException) as exc:
            print(f"rlemask {name}: error: {_one_line(exc)}", file=sys.stderr)
            return 2

    return run


def register(subparsers: Any) -> None:
    """Add ``train``, ``cv``, ``evaluate``, ``predict`` and ``demo`` to the ``rlemask`` parser."""
    commands = [
        ("train", "train one fold (Lightning; needs the 'models' extra)", config.TrainConfig, _train,
         "Train an smp network on one fold of a UWMGI folder (folds grouped by case). Under torchrun, "
         "SLURM or with --devices N the Lightning Trainer runs DDP."),
        ("cv", "k-fold cross-validation: oof.csv, scores.csv, a checkpoint per fold", config.TrainConfig, _cv,
         "Train every fold; write OUT/oof.csv (each image predicted by the model that did not see it), "
         "OUT/scores.csv (per fold and class, mean and std) and OUT/fold<k>/best.ckpt."),
        ("evaluate", "per-class scores of checkpoints on a fold", config.InferConfig, _evaluate,
         "Score one checkpoint or an ensemble (optionally with flip TTA) on every slice of a fold."),
        ("predict", "write a submission (id,class,predicted) from checkpoints", config.InferConfig, _predict,
         "Average the probabilities of every checkpoint and TTA view, restore the original size and write "
         "the competition's RLE rows."),
        ("demo", "generate built-in data, train, evaluate, predict", config.TrainConfig, _demo,
         "Generate the built-in data under OUT/data, train one fold, evaluate and predict: OUT/metrics.json, "
         "OUT/submission.csv, OUT/overlays/, OUT/learning_curve.png, OUT/checkpoints/. On a CPU a small "
         "resnet18 UNet at 128x128 (minutes), on a GPU the UNet-EfficientNetB7."),
    ]
    kind = subparsers._parser_class
    subparsers._parser_class = _Parser  # argparse offers no per-parser class
    try:
        for name, help_text, cls, job, description in commands:
            p = subparsers.add_parser(name, help=help_text, description=description, allow_abbrev=False)
            config.add_arguments(p, cls)
            p.set_defaults(func=_command(name, job), config_class=cls)
    finally:
        subparsers._parser_class = kind


def _config(args: argparse.Namespace, *, preset: dict[str, Any] | None = None) -> Any:
    cfg = config.from_args(args.config_class, args, preset=preset)
    if args.print_config:
        print(config.to_yaml(cfg), end="")
    return cfg


def _train(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.print_config:
        return 0
    from rlemask_models.training import fit_fold

    result = fit_fold(cfg)
    if result.rank == 0:
        m = result.metrics
        shown = "  ".join(f"{k} {m.get(k, float('nan')):.4f}" for k in ("score", "dice", "dice_present", "loss"))
        print(f"best epoch {m.get('epoch')}: {shown} -> {result.best}")
    return 0


def _cv(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.print_config:
        return 0
    from rlemask_models.crossval import cross_validate

    scores = cross_validate(cfg)
    if len(scores):
        print(scores[scores["fold"].isin(["mean", "std"])].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _inference_options(cfg: config.InferConfig) -> dict[str, Any]:
    from rlemask_models.inference import parse_tta

    return {"tta": parse_tta(cfg.tta), "threshold": cfg.threshold, "batch_size": cfg.batch_size,
            "workers": cfg.workers, "device": cfg.device, "progress": not cfg.quiet}


def _evaluate(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.print_config:
        return 0
    from rlemask_models.inference import evaluate

    table = evaluate(cfg.checkpoint, cfg.data, cfg.fold, out=cfg.out, **_inference_options(cfg))
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _predict(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if args.print_config:
        return 0
    if not cfg.out:
        raise RlemaskError("predict needs -o/--out, the submission CSV")
    from rlemask_models.inference import predict

    rows = predict(cfg.checkpoint, cfg.data, cfg.out, split=cfg.split, fold=cfg.fold, overlays=cfg.overlays,
                   max_overlays=cfg.max_overlays, **_inference_options(cfg))
    if not cfg.quiet:
        filled = int((rows["predicted"] != "").sum())
        print(f"{cfg.out}: {rows['id'].nunique()} images, {len(rows)} rows, {filled} non-empty", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    import torch

    from rlemask_models.demo import preset, run_demo

    gpu = torch.cuda.is_available() and getattr(args, "accelerator", "auto") in ("auto", "gpu", "cuda")
    cfg = _config(args, preset=preset(gpu))
    if args.print_config:
        return 0
    payload = run_demo(cfg)
    if payload:
        print(f"demo: fold {payload['fold']} dice {payload['dice']:.4f} (organ present {payload['dice_present']:.4f}, "
              f"predicting nothing {payload['baseline_empty_dice']:.4f})  score {payload['score']:.4f}  "
              f"({payload['images_predicted']} images predicted, {payload['seconds']:.0f} s) -> {cfg.out}",
              file=sys.stderr)
    return 0
