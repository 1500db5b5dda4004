"""Training throughput: the data pipeline alone, then training steps.

Usage::

    python benchmarks/train.py                    # built-in data, generated in a temp folder
    python benchmarks/train.py --data ROOT        # any UWMGI-layout folder (train.csv + train/)
    python benchmarks/train.py --quick            # fewer images, for a smoke run

Every measurement is one function that returns table rows (dicts with the keys
of ``COLUMNS``); ``main()`` runs them in order and prints one table.  To add a
measurement, write ``def bench_x(args, context) -> list[dict]`` and append it to
``MEASUREMENTS``.

Data pipeline rows (images per second, one process unless said otherwise):

* ``rle decode``: ``rlemask.decode`` of the three class masks of an image;
* ``slice read``: ``rlemask.uwmgi.read_slice`` of the 16-bit PNG, normalised;
* ``dataset item``: ``SliceDataset[i]`` (read + decode + resize/pad, then the
  random flip + affine with ``augment``), for 2D and 2.5D (5 slices) input, the
  latter in slice order (neighbour reads shared) and in shuffled order;
* ``loader``: batches from ``make_loader`` with 0 and 1 worker processes, after
  the first batch (so worker start-up is not counted).

Training-step rows (``bench_train_steps``; ``--only train_steps`` runs just these):

* ``train step``: forward + BCE/Dice loss + backward + AdamW of
  ``rlemask_models.train.train_step`` on random batches, after a warm-up step:
  UNet-EfficientNetB7 and the tiny test encoder on the CPU (fp32, ``--size``),
  and on CUDA the B7 at 320x384 with AMP (bf16) (``--gpu-fp32``: also fp32);
* ``pipeline vs step``: one worker's augmented-item time against the step time
  per image: the data pipeline's share of a step, and how many times the step
  rate one worker feeds (at least 5x for the CPU B7).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import rlemask  # noqa: E402
from rlemask import uwmgi  # noqa: E402
from rlemask_models import data, synthetic  # noqa: E402

COLUMNS = ("measurement", "setting", "images", "seconds", "images/s", "ms/image")
CLASSES = ("large_bowel", "small_bowel", "stomach")


def _row(measurement: str, setting: str, images: int, seconds: float) -> dict[str, Any]:
    return {
        "measurement": measurement,
        "setting": setting,
        "images": images,
        "seconds": seconds,
        "images/s": images / seconds if seconds > 0 else float("nan"),
        "ms/image": 1000.0 * seconds / images if images else float("nan"),
    }


def _timed(run: Callable[[], int], min_images: int) -> tuple[int, float]:
    """Call ``run`` (which returns how many images it handled) until ``min_images``."""
    run()  # warm-up: numba compile, page cache, first-call costs
    images, start = 0, time.perf_counter()
    while images < min_images:
        images += run()
    return images, time.perf_counter() - start


# ----------------------------------------------------------------------------- data pipeline


def bench_decode(args: argparse.Namespace, context: dict[str, Any]) -> list[dict[str, Any]]:
    """RLE decode of the three class masks per image, at the original size."""
    table = context["table"]
    rows = [(tuple(map(int, (r.height, r.width))), [getattr(r, c) for c in CLASSES])
            for r in table.itertuples()]

    def run() -> int:
        for shape, rles in rows:
            for rle in rles:
                rlemask.decode(rle, shape)
        return len(rows)

    n, seconds = _timed(run, args.images)
    return [_row("rle decode", "3 masks/image", n, seconds)]


def bench_read(args: argparse.Namespace, context: dict[str, Any]) -> list[dict[str, Any]]:
    """16-bit PNG read + normalisation."""
    paths = context["table"]["path"].tolist()
    out = []
    for normalize in ("none", "percentile"):
        def run(normalize: str = normalize) -> int:
            for p in paths:
                uwmgi.read_slice(p, normalize=normalize)
            return len(paths)

        n, seconds = _timed(run, args.images)
        out.append(_row("slice read", f"normalize={normalize}", n, seconds))
    return out


def _dataset(context: dict[str, Any], args: argparse.Namespace, **kwargs: Any) -> data.SliceDataset:
    return data.SliceDataset(context["table"], size=tuple(args.size), **kwargs)


def bench_items(args: argparse.Namespace, context: dict[str, Any]) -> list[dict[str, Any]]:
    """SliceDataset items in this process: 2D / 2.5D, with and without augmentation."""
    size = f"{args.size[0]}x{args.size[1]}"
    settings = [
        ("resize, no augment", dict()),
        ("resize, augment", dict(augment=True)),
        ("pad 320x384, augment", dict(augment=True, resize="pad", size=(320, 384))),
        ("2.5D context=2, augment, slice order", dict(augment=True, context=2, stride=2)),
        ("2.5D context=2, augment, shuffled", dict(augment=True, context=2, stride=2, shuffled=True)),
    ]
    out = []
    for label, kwargs in settings:
        kw = dict(kwargs)
        shuffled = kw.pop("shuffled", False)
        ds = data.SliceDataset(context["table"], size=kw.pop("size", tuple(args.size)), **kw)
        # slice order lets 2.5D items share neighbour reads (validation, prediction);
        # training draws items in random order, so every item reads 2*context+1 files
        order = np.random.default_rng(0).permutation(len(ds)) if shuffled else range(len(ds))

        def run(ds: data.SliceDataset = ds, order: Any = order) -> int:
            for i in order:
                ds[int(i)]
            return len(ds)

        n, seconds = _timed(run, args.images)
        setting = label if "pad" in label else f"{label}, {size}"
        out.append(_row("dataset item", setting, n, seconds))
    return out


def bench_loader(args: argparse.Namespace, context: dict[str, Any]) -> list[dict[str, Any]]:
    """Batches from make_loader (augment on), 0 and 1 worker processes."""
    ds = _dataset(context, args, augment=True)
    out = []
    for workers in args.workers:
        loader = data.make_loader(ds, batch_size=args.batch_size, shuffle=True, workers=workers, seed=0)
        images, seconds, epoch = 0, 0.0, 0
        while images < args.images:
            data.set_epoch(loader, epoch)
            iterator = iter(loader)
            next(iterator)  # the first batch pays for worker start-up: not counted
            start = time.perf_counter()
            for batch in iterator:
                images += len(batch["id"])
            seconds += time.perf_counter() - start
            epoch += 1
        out.append(_row("loader", f"workers={workers}, batch={args.batch_size}, augment", images, seconds))
    return out


MEASUREMENTS: list[Callable[[argparse.Namespace, dict[str, Any]], list[dict[str, Any]]]] = [
    bench_decode,
    bench_read,
    bench_items,
    bench_loader,
]


# ----------------------------------------------------------------------------- training steps
# (model side, rlemask_models.train.train_step; added after the data-pipeline rows)


def _step_rate(encoder: str, size: tuple[int, int], batch: int, steps: int, device: str,
               amp: str = "off") -> tuple[int, float]:
    """Images and seconds of ``steps`` timed training steps (after one untimed warm-up step)."""
    from rlemask_models.model import build_model
    from rlemask_models.predict import amp_dtype
    from rlemask_models.train import train_step

    dev = torch.device(device)
    torch.manual_seed(0)
    model = build_model(encoder).to(dev)
    channels_last = dev.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    dtype = amp_dtype(amp, dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(dev.type, enabled=dtype == torch.float16)
    g = torch.Generator().manual_seed(0)
    batch_data = {
        "image": torch.rand(batch, 3, *size, generator=g),
        "mask": (torch.rand(batch, 3, *size, generator=g) > 0.8).float(),
    }
    if dev.type == "cuda":
        batch_data = {k: v.to(dev) for k, v in batch_data.items()}
        torch.backends.cudnn.benchmark = True

    def step() -> None:
        train_step(model, batch_data, optimizer, scaler=scaler, device=dev, amp_dtype=dtype,
                   channels_last=channels_last)

    for _ in range(2 if dev.type == "cuda" else 1):  # warm-up (cudnn autotune, allocator)
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch, time.perf_counter() - start


def _item_rate(context: dict[str, Any], size: tuple[int, int], images: int, **kwargs: Any) -> float:
    """Augmented SliceDataset items per second in this process (one worker's rate)."""
    ds = data.SliceDataset(context["table"], size=size, augment=True, **kwargs)
    order = np.random.default_rng(1).permutation(len(ds))
    ds[int(order[0])]
    start, n = time.perf_counter(), 0
    while n < images:
        ds[int(order[n % len(ds)])]
        n += 1
    return n / (time.perf_counter() - start)


def bench_train_steps(args: argparse.Namespace, context: dict[str, Any]) -> list[dict[str, Any]]:
    """Training steps (forward + BCE/Dice + backward + AdamW) and the data pipeline's share.

    CPU, fp32, this process's torch threads: UNet-EfficientNetB7 and the tiny
    test encoder at ``--size``.  CUDA (when present): B7 at 320x384 with AMP.
    Then, per model, the time of one augmented dataset item (one worker) against
    the step time per image: the pipeline's share of a step, and how many times
    the step rate one worker feeds (the issue asks >= 5x for the CPU B7).
    """
    size = tuple(args.size)
    label = f"{size[0]}x{size[1]}"
    out: list[dict[str, Any]] = []
    item_rate = _item_rate(context, size, max(40, args.images // 10))
    out.append(_row("dataset item (for the ratios)", f"resize, augment, {label}, 1 worker",
                    max(40, args.images // 10), max(40, args.images // 10) / item_rate))
    steps = 1 if args.quick else args.steps
    rates: list[tuple[str, float, float]] = []
    cpu_models = [] if args.skip_cpu_steps else [(args.b7, args.b7_batch), ("tu-test_efficientnet", 8)]
    for encoder, batch in cpu_models:
        n, seconds = _step_rate(encoder, size, batch, steps, "cpu")
        out.append(_row("train step", f"{encoder}, CPU fp32, {label}, batch {batch}", n, seconds))
        rates.append((f"{encoder} CPU {label}", n / seconds, item_rate))
    if torch.cuda.is_available():
        gpu_size = (320, 384)
        for amp in ("bf16", "off") if args.gpu_fp32 else ("bf16",):
            n, seconds = _step_rate(args.b7, gpu_size, args.gpu_batch, 5 if args.quick else 20, "cuda", amp=amp)
            setting = f"{args.b7}, CUDA {'AMP bf16' if amp != 'off' else 'fp32'}, 320x384, batch {args.gpu_batch}"
            out.append(_row("train step", setting, n, seconds))
            if amp != "off":
                pad_rate = _item_rate(context, gpu_size, max(40, args.images // 10), resize="pad")
                rates.append((f"{args.b7} CUDA AMP 320x384", n / seconds, pad_rate))
    for name, step_rate, feed in rates:
        share = (1 / feed) / (1 / feed + 1 / step_rate)
        ratio = feed / step_rate
        verdict = "ok" if ratio >= 5 else f"needs {int(np.ceil(5 * step_rate / feed))} workers for 5x"
        setting = (f"{name}: pipeline {1000 / feed:.1f} ms + step {1000 / step_rate:.1f} ms per image; "
                   f"share {100 * share:.1f} %; 1 worker feeds {ratio:.1f}x the step rate ({verdict})")
        n = 100
        out.append(_row("pipeline vs step", setting, n, n / feed + n / step_rate))
    return out


MEASUREMENTS.append(bench_train_steps)


# ----------------------------------------------------------------------------- table


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as a Markdown table (the README's format)."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.1f}" if v >= 10 else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(r[c]) for c in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, {gpu}; "
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"torch threads {torch.get_num_threads()}"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None,
                   help="UWMGI-layout root (default: built-in data generated in a temp folder)")
    p.add_argument("--images", type=int, default=600, help="images per measurement (at least)")
    p.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    p.add_argument("--threads", type=int, default=1, help="torch threads in this process")
    p.add_argument("--quick", action="store_true", help="a smoke run: 60 images per measurement")
    # training steps (bench_train_steps)
    p.add_argument("--steps", type=int, default=2, help="timed training steps per CPU model")
    p.add_argument("--b7", default="efficientnet-b7", help="the full model's encoder")
    p.add_argument("--b7-batch", type=int, default=2, help="CPU batch of the full model")
    p.add_argument("--gpu-batch", type=int, default=16, help="CUDA batch of the full model at 320x384")
    p.add_argument("--skip-cpu-steps", action="store_true", help="only the CUDA training-step rows")
    p.add_argument("--gpu-fp32", action="store_true", help="also time the CUDA B7 step in fp32 (another cudnn autotune)")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME",
                   help="run only these measurements (function names without 'bench_', e.g. train_steps)")
    args = p.parse_args(argv)
    if args.quick:
        args.images = 60
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="rlemask-bench-") as tmp:
        root = args.data
        if root is None:
            start = time.perf_counter()
            root = synthetic.generate(Path(tmp) / "data", seed=0)
            print(f"built-in data generated in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        table = uwmgi.load_table(root)
        context: dict[str, Any] = {"root": root, "table": table}
        shapes = table.groupby(["height", "width"]).size().to_dict()
        print(f"machine: {machine()}")
        print(f"data: {root} ({len(table)} images; (h, w): count {shapes})")
        print()
        rows: list[dict[str, Any]] = []
        for measure in MEASUREMENTS:
            if args.only and measure.__name__.removeprefix("bench_") not in args.only:
                continue
            rows += measure(args, context)
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
