"""``rlemask demo``: built-in data -> fit one fold -> evaluate -> predict, overlays and curves.

Writes, under ``OUT``: ``data/`` (generated unless ``data`` is given),
``folds.csv``, ``checkpoints/`` (``best.ckpt``, ``last.ckpt``, logs),
``metrics.csv`` and ``learning_curve.png`` (training and validation loss),
``metrics.json``, ``submission.csv`` and ``overlays/`` (validation images, each
prediction panel naming its dice).  ``metrics.json`` holds the validation
``fold``, ``dice``, ``dice_present`` (image x class rows whose truth has an
organ), ``baseline_empty_dice`` (what predicting nothing scores on the same
rows), IoU, Hausdorff, score, per-class values, the learning curve and the threshold and
minimum area the predictions used (per class when ``tune`` chose them).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rlemask._io import atomic_path
from rlemask_models.config import TrainConfig
from rlemask_models.datamodule import split_folds
from rlemask_models.inference import evaluate, predict
from rlemask_models.training import fit_fold

__all__ = ["CPU_BF16_DEMO", "CPU_DEMO", "GPU_DEMO", "run_demo"]

#: the demo on a CPU: small enough to finish in minutes on two cores; a presence head and one
#: neighbouring slice on each side as input channels (issue 8: fewer organs painted on empty
#: slices; three channels either way, so no slower); with the presence head, thresholds tuned on
#: the training folds lowered the validation fold's organ-row dice and score in 5 of 6 runs
#: (benchmarks/README.md), so they stay at 0.5
CPU_DEMO = {"encoder": "resnet18", "size": (128, 128), "epochs": 7, "batch_size": 8, "lr": 2e-3, "channels_last": True,
            "presence": 0.5, "context": 1, "tune": False}
#: on a CPU with AMX: a step is ~2.5x faster in bf16-mixed, so the same minutes buy 12 epochs
CPU_BF16_DEMO = {"precision": "bf16-mixed", "epochs": 12}
#: the demo on a GPU: the seed project's UNet-EfficientNetB7
#: (it tunes each class's threshold and minimum mask area on the training folds; issue 8: the raw
#: network paints organs on empty slices)
GPU_DEMO = {"encoder": "efficientnet-b7", "size": (320, 384), "epochs": 20, "batch_size": 16, "lr": 1e-3,
            "tune": True}
#: both: from scratch, EfficientNets need a faster batch-norm momentum than smp's 0.01
COMMON = {"out": "demo_out", "warmup": 0.5, "bn_momentum": 0.1, "cache": True, "seed": 0}


def preset(gpu: bool) -> dict[str, Any]:
    """The demo's defaults (flags and ``--config`` override them): on a CPU with native bfloat16
    matrix units (Intel AMX) the CPU preset trains in ``bf16-mixed`` precision, channels-last,
    about 2.5x faster a step than ``32-true`` there, for 12 epochs instead of 7."""
    if gpu:
        return {**COMMON, **GPU_DEMO}
    return {**COMMON, **CPU_DEMO, **(CPU_BF16_DEMO if cpu_bf16() else {})}


def cpu_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (Intel AMX tiles, or the AVX-512 BF16
    dot products of AMD Zen 4 and Intel Cooper Lake and later), where mixed precision pays off."""
    import torch

    for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        check = getattr(torch.cpu, name, None)  # private helpers of torch: absent -> no
        try:
            if check is not None and bool(check()):
                return True
        except Exception:  # noqa: BLE001 - a probe of the CPU must never stop the demo
            pass
    return False


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def run_demo(cfg: TrainConfig) -> dict[str, Any]:
    """Run the demo (see the module doc); return the ``metrics.json`` payload."""
    from rlemask import uwmgi
    from rlemask_models import synthetic

    start = time.perf_counter()
    out = Path(cfg.out)
    say = (lambda text: None) if cfg.quiet else (lambda text: print(f"demo: {text}", file=sys.stderr, flush=True))
    data = Path(cfg.data) if cfg.data else out / "data"
    if not cfg.data:
        say(f"generating the built-in data in {data}")
        synthetic.generate(data, seed=cfg.seed)
    table = split_folds(uwmgi.load_table(data, exclude_bad=cfg.exclude_bad), cfg.folds, seed=cfg.fold_seed)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "folds.csv") as tmp:
        table[["id", "case", "day", "slice", "fold"]].to_csv(tmp, index=False)
    say(f"{len(table)} slices, {table['case'].nunique()} cases, {cfg.folds} folds by case; training "
        f"{cfg.arch}-{cfg.encoder} at {cfg.size[0]}x{cfg.size[1]} for {cfg.epochs} epochs on fold {cfg.fold} "
        f"(precision {cfg.precision}{', channels-last' if cfg.channels_last else ''})")
    result = fit_fold(dataclasses.replace(cfg, data=str(data), out=str(out / "checkpoints")))
    if result.rank:
        return {}
    for name in ("learning_curve.png", "metrics.csv"):
        shutil.copyfile(result.out / name, out / name)
    table_ = evaluate([result.best], data, cfg.fold, workers=cfg.workers, batch_size=cfg.batch_size)
    values = table_.attrs["metrics"]
    val_ids = set(table.loc[table["fold"] == cfg.fold, "id"])
    rows = predict([result.best], data, out / "submission.csv", overlays=out / "overlays", overlay_ids=val_ids,
                   workers=cfg.workers, batch_size=cfg.batch_size)
    curve = result.history[["epoch", "train_loss", "val_loss", "val_score"]].to_dict(orient="records")
    payload = {**{k: _plain(v) for k, v in values.items()},
               "learning_curve": [{k: _plain(float(v)) for k, v in row.items()} for row in curve],
               "arch": cfg.arch, "encoder": cfg.encoder, "size": list(cfg.size), "epochs": cfg.epochs,
               "best_epoch": result.metrics.get("epoch"), "threshold": result.module.hparams.threshold,
               "min_area": result.module.hparams.min_area, "images_predicted": int(rows["id"].nunique()),
               "seconds": round(time.perf_counter() - start, 1)}
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    if not cfg.quiet:
        print(table_.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return payload
