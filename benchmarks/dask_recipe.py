"""The Dask recipe of docs/dask.md against plain pandas, one table, side by side.

    python benchmarks/dask_recipe.py [--scans 12] [--slices 20] [--size 64] [--processes]

Prints a markdown table: the row-wise work (area, dice_rle, decode/encode round trip of every
class) and uwmgi_score, once in this process and once through docs/dask.md's code on a
LocalCluster (1 worker x 1 thread, 4 partitions; --processes for a worker process).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

import rlemask
from rlemask.uwmgi import CLASSES

DOC = Path(__file__).resolve().parents[1] / "docs" / "dask.md"


def synthetic_table(scans: int = 12, slices: int = 20, size: int = 64, seed: int = 0) -> pd.DataFrame:
    """Truth and prediction (a shifted, sometimes missing copy) of whole scans, rows shuffled."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(scans):
        case, day = 10 + s // 2, s % 2
        for k in range(1, slices + 1):
            row = {"id": f"case{case}_day{day}_slice_{k:04d}", "height": size, "width": size}
            for j, c in enumerate(CLASSES):
                m = np.zeros((size, size), np.uint8)
                if rng.random() < 0.6:
                    r0, c0 = rng.integers(0, size - 10, 2)
                    m[r0 : r0 + rng.integers(3, 10), c0 : c0 + rng.integers(3, 10)] = 1
                p = np.roll(m, int(rng.integers(-2, 3)), axis=j % 2) if rng.random() < 0.9 else np.zeros_like(m)
                row[c], row[f"pred_{c}"] = rlemask.encode(m), rlemask.encode(p)
            rows.append(row)
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def recipe_blocks(processes: bool = False) -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    if processes:
        blocks[0] = blocks[0].replace("processes=False", "processes=True")
    return blocks


def one_process(table: pd.DataFrame) -> tuple[float, float]:
    """Seconds for the row-wise work and for uwmgi_score, plain pandas."""
    t0 = time.perf_counter()
    for c in CLASSES:
        table[c].map(rlemask.area)
        [rlemask.dice_rle(t, p, (h, w)) for t, p, h, w in zip(table[c], table[f"pred_{c}"], table.height, table.width)]
        for (h, w), group in table.groupby(["height", "width"]):
            masks = rlemask.decode_many(group[c], (h, w))
            masks[:, 0, :] = 0
            rlemask.encode_many(masks)
    t1 = time.perf_counter()
    truth = table[["id", "height", "width", *CLASSES]]
    pred = table[["id", *(f"pred_{c}" for c in CLASSES)]].rename(columns=lambda k: k.removeprefix("pred_"))
    rlemask.uwmgi_score(truth, pred)
    return t1 - t0, time.perf_counter() - t1


def with_dask(table: pd.DataFrame, processes: bool) -> tuple[float, float]:
    """Seconds for the same two parts through the recipe (cluster start-up excluded)."""
    setup, rowwise, score, close = recipe_blocks(processes)
    ns: dict = {"table": table}
    exec(setup, ns)  # noqa: S102 - our own documentation
    t0 = time.perf_counter()
    exec(rowwise, ns)  # noqa: S102
    t1 = time.perf_counter()
    exec(score, ns)  # noqa: S102
    t2 = time.perf_counter()
    exec(close, ns)  # noqa: S102
    return t1 - t0, t2 - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=12)
    parser.add_argument("--slices", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--processes", action="store_true", help="worker in its own process")
    args = parser.parse_args()
    table = synthetic_table(args.scans, args.slices, args.size)
    one_process(table)  # compile the kernels first
    plain = one_process(table)
    dask_times = with_dask(table, args.processes)
    print(f"{len(table)} images x {len(CLASSES)} classes, {args.size} x {args.size}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print()
    print("| work | single process | LocalCluster (1 x 1 thread, 4 partitions) |")
    print("|---|---|---|")
    for name, a, b in zip(("area + dice_rle + decode/encode", "uwmgi_score"), plain, dask_times):
        print(f"| {name} | {a:.3f} s | {b:.3f} s |")


if __name__ == "__main__":
    main()
