"""Training throughput: the data pipeline alone, then (added later) training steps.

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
            rows += measure(args, context)
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
