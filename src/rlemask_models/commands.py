"""``rlemask train``, ``evaluate``, ``predict`` and ``demo``: the model sub-commands.

This module imports neither torch nor segmentation-models-pytorch: each command
checks for them when it runs and, when the ``models`` extra is missing, says
which install fixes it and returns 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["register", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'rlemask[models]'"
_NEEDED = ("torch", "segmentation_models_pytorch", "timm")

#: the demo's model on a CPU: small enough to finish in minutes on two cores
CPU_DEMO = {"encoder": "resnet18", "size": 128, "epochs": 7, "batch_size": 8, "lr": 2e-3}
#: the demo's model on a GPU: the seed project's UNet-EfficientNetB7
GPU_DEMO = {"encoder": "efficientnet-b7", "size": (320, 384), "epochs": 20, "batch_size": 16, "lr": 1e-3}


def _missing_models(command: str) -> int | None:
    """None when the 'models' extra is importable, else print why and return 2."""
    for name in _NEEDED:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            print(
                f"rlemask {command}: needs the 'models' extra: {INSTALL_HINT} "
                f"(cannot import {name!r}: {exc})",
                file=sys.stderr,
            )
            return 2
    return None


def _size(text: str) -> tuple[int, int]:
    """``256`` or ``320x384`` (height x width)."""
    try:
        parts = [int(p) for p in text.lower().replace(",", "x").split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected N or HxW, e.g. 256 or 320x384") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected N or HxW of positive ints")
    return parts[0], parts[1]


def _empty(text: str) -> str | float:
    if text in ("keep", "drop"):
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--empty {text!r}: expected keep, drop or a fraction in (0, 1]") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"--empty {text!r}: a fraction must be in (0, 1]")
    return value


def _inference_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, default=8, help="images per batch (default 8)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1 ...")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    p.add_argument("--threshold", type=float, default=None, help="probability threshold (default: the checkpoint's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(subparsers: Any) -> None:
    """Add ``train``, ``evaluate``, ``predict`` and ``demo`` to the ``rlemask`` parser."""
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = subparsers.add_parser(
        "train", help="train a UNet on one fold (needs the 'models' extra)", formatter_class=fmt,
        description="Train a segmentation-models-pytorch UNet on one fold of a UWMGI folder "
        "(folds grouped by case). Under torchrun the same command uses DistributedDataParallel.",
    )
    p.add_argument("--data", required=True, help="UWMGI folder with train.csv and train/")
    p.add_argument("--out", default=None, help="output folder (default runs/fold<F>)")
    p.add_argument("--fold", type=int, default=0, help="validation fold")
    p.add_argument("--folds", type=int, default=5, help="number of folds")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--encoder", default="efficientnet-b7", help="smp encoder, e.g. efficientnet-b7, resnet18, tu-<timm>")
    p.add_argument("--weights", default=None, help="local encoder or model weights file (never downloaded)")
    p.add_argument("--size", type=_size, default=(256, 256), help="model input: N or HxW, multiples of 32")
    p.add_argument("--resize", choices=("resize", "pad"), default="resize")
    p.add_argument("--batch-size", type=int, default=8, help="per process")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--warmup", type=float, default=0.0, help="epochs of linear warm-up")
    p.add_argument("--context", type=int, default=0, help="2.5D: neighbouring slices on each side")
    p.add_argument("--stride", type=int, default=1, help="slice step of the 2.5D context")
    p.add_argument("--empty", type=_empty, default="keep", help="empty training slices: keep, drop or a fraction")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="no flips / affine")
    p.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), default="auto", help="mixed precision on CUDA")
    p.add_argument("--bn-momentum", type=float, default=None,
                   help="batch-norm running-stat momentum (default: the encoder's; 0.1 for EfficientNets from scratch)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--cache", action="store_true", help="keep slices in memory")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--device", default="auto")
    p.add_argument("--exclude-bad", action="store_true", help="drop the scans with known bad labels")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")
    p.set_defaults(func=_train)

    p = subparsers.add_parser(
        "evaluate", help="per-class Dice / IoU / Hausdorff / score of a checkpoint", formatter_class=fmt,
        description="Score a checkpoint on every slice of a validation fold; prints the per-class "
        "table (with false positives on empty slices) and writes it as CSV or JSON.",
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--fold", type=int, default=None, help="default: the checkpoint's fold")
    p.add_argument("-o", "--output", default=None, help="table.csv or table.json")
    _inference_options(p)
    p.set_defaults(func=_evaluate)

    p = subparsers.add_parser(
        "predict", help="write a submission (id,class,predicted) from a checkpoint", formatter_class=fmt,
        description="Predict every slice of a UWMGI folder at its original size and write "
        "id,class,predicted rows in the competition's RLE.",
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("-o", "--output", required=True, help="submission CSV")
    p.add_argument("--overlays", default=None, help="folder for slice / truth / prediction PNGs")
    p.add_argument("--max-overlays", type=int, default=24)
    p.add_argument("--fold", type=int, default=None, help="only this fold's slices")
    p.add_argument("--split", choices=("train", "test"), default="train",
                   help="image folder under --data: train (default) or test (the Kaggle test set, no labels)")
    _inference_options(p)
    p.set_defaults(func=_predict)

    p = subparsers.add_parser(
        "demo", help="generate built-in data, train, evaluate, predict", formatter_class=fmt,
        description="Generate the built-in UWMGI-shaped data under OUT/data, split folds, train, "
        "evaluate and predict: OUT/submission.csv, OUT/metrics.json, OUT/overlays/, "
        "OUT/learning_curve.png, OUT/checkpoints/. On a GPU it trains the UNet-EfficientNetB7; "
        f"on a CPU a {CPU_DEMO['encoder']} at {CPU_DEMO['size']}x{CPU_DEMO['size']} (minutes).",
    )
    p.add_argument("--out", default="demo_out")
    p.add_argument("--encoder", default=None, help="default: efficientnet-b7 on GPU, a small encoder on CPU")
    p.add_argument("--size", type=_size, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of training")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_demo)


# --------------------------------------------------------------------------- commands


def _train(args: argparse.Namespace) -> int:
    if (code := _missing_models("train")) is not None:
        return code
    from rlemask_models.train import TrainConfig, fit

    cfg = TrainConfig(
        data=args.data, out=args.out or f"runs/fold{args.fold}", fold=args.fold, folds=args.folds,
        epochs=args.epochs, encoder=args.encoder, weights=args.weights, size=args.size,
        resize=args.resize, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        warmup=args.warmup, context=args.context, stride=args.stride, empty=args.empty,
        augment=args.augment, amp=args.amp, workers=args.workers, cache=args.cache, seed=args.seed,
        device=args.device, exclude_bad=args.exclude_bad, resume=args.resume, progress=not args.quiet,
        bn_momentum=args.bn_momentum,
    )
    result = fit(cfg)
    if result.rank == 0:
        best = result.best
        shown = "  ".join(f"{k} {best[k]:.4f}" if best.get(k) is not None else f"{k} nan"
                          for k in ("score", "dice", "iou", "hausdorff"))
        print(f"best epoch {result.best_epoch}: {shown}  -> {result.files['best']}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    if (code := _missing_models("evaluate")) is not None:
        return code
    from rlemask_models.evaluate import evaluate

    table = evaluate(args.checkpoint, args.data, args.fold, out=args.output, threshold=args.threshold,
                     batch_size=args.batch_size, device=args.device, workers=args.workers,
                     progress=not args.quiet)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _predict(args: argparse.Namespace) -> int:
    if (code := _missing_models("predict")) is not None:
        return code
    from rlemask_models.predict import predict

    rows = predict(args.checkpoint, args.data, args.output, overlays=args.overlays,
                   max_overlays=args.max_overlays, fold=args.fold, threshold=args.threshold,
                   batch_size=args.batch_size, device=args.device, workers=args.workers,
                   progress=not args.quiet, split=args.split)
    images = rows["id"].nunique()
    filled = int((rows["predicted"] != "").sum())
    print(f"{args.output}: {images} images, {len(rows)} rows, {filled} non-empty", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    if (code := _missing_models("demo")) is not None:
        return code
    return run_demo(args)


def run_demo(args: argparse.Namespace) -> int:
    """The ``demo`` pipeline (see the command's help)."""
    import json
    import shutil

    import torch

    from rlemask import uwmgi
    from rlemask_models import synthetic
    from rlemask_models.evaluate import evaluate
    from rlemask_models.predict import predict, resolve_device
    from rlemask_models.train import TrainConfig, fit, split_folds

    start = time.perf_counter()
    out = Path(args.out)
    device = resolve_device(args.device)
    preset = dict(GPU_DEMO if device.type == "cuda" else CPU_DEMO)
    if args.encoder is not None and args.encoder != preset["encoder"]:
        if args.encoder == "efficientnet-b7":
            preset.update(GPU_DEMO)
        preset["encoder"] = args.encoder
    for key in ("size", "epochs", "batch_size", "lr"):
        if getattr(args, key) is not None:
            preset[key] = getattr(args, key)
    size = preset["size"] if isinstance(preset["size"], tuple) else (preset["size"], preset["size"])
    say = (lambda text: None) if args.quiet else (lambda text: print(f"demo: {text}", file=sys.stderr, flush=True))
    if device.type == "cpu" and preset["encoder"] != "efficientnet-b7":
        threads = torch.get_num_threads()
        say(f"no GPU: training a small {preset['encoder']} UNet at {size[0]}x{size[1]} for "
            f"{preset['epochs']} epochs on the CPU ({threads} threads) instead of the "
            "UNet-EfficientNetB7; pass --encoder efficientnet-b7 for the full model")
    else:
        slow = (" (the full model on a CPU takes hours at this size; --size and --epochs shorten it)"
                if device.type == "cpu" else "")
        say(f"training {preset['encoder']} UNet at {size[0]}x{size[1]} for {preset['epochs']} epochs on {device}{slow}")

    data = out / "data"
    say(f"generating the built-in data in {data}")
    synthetic.generate(data, seed=args.seed)
    cfg = TrainConfig(
        data=str(data), out=str(out / "checkpoints"), fold=args.fold, folds=args.folds,
        encoder=preset["encoder"], size=size, epochs=int(preset["epochs"]),
        batch_size=int(preset["batch_size"]), lr=float(preset["lr"]), warmup=0.5, seed=args.seed,
        bn_momentum=0.1,  # from scratch: smp's EfficientNet default (0.01) lags behind the weights
        device=args.device, workers=args.workers, cache=True, progress=not args.quiet,
    )
    table = uwmgi.load_table(data)
    folds, _, val_rows = split_folds(table, cfg)
    out.mkdir(parents=True, exist_ok=True)
    folds[["id", "case", "day", "slice", "fold"]].to_csv(out / "folds.csv", index=False)
    say(f"{len(table)} slices, {table['case'].nunique()} cases, {cfg.folds} folds by case -> {out / 'folds.csv'}")

    result = fit(cfg)
    best = result.files["best"]
    for name in ("learning_curve.png", "metrics.csv"):
        shutil.copyfile(result.out / name, out / name)
    metrics_table = evaluate(best, data, cfg.fold, out=out / "metrics.json", device=args.device,
                             batch_size=cfg.batch_size, workers=args.workers)
    rows = predict(best, data, out / "submission.csv", overlays=out / "overlays", device=args.device,
                   batch_size=cfg.batch_size, workers=args.workers, overlay_ids=set(val_rows["id"]))
    seconds = time.perf_counter() - start
    payload = json.loads((out / "metrics.json").read_text())
    payload.update({"size": list(size), "epochs": cfg.epochs, "device": str(device), "seconds": round(seconds, 1)})
    (out / "metrics.json").write_text(json.dumps(payload, indent=2) + "\n")
    if not args.quiet:
        print(metrics_table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(
        f"demo: validation dice {payload['dice']:.4f}  iou {payload['iou']:.4f}  "
        f"hausdorff {payload['hausdorff']:.4f}  score {payload['score']:.4f}  "
        f"({len(rows) // 3} images predicted, {seconds:.0f} s) -> {out}",
        file=sys.stderr,
    )
    return 0
