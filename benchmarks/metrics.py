"""Metrics benchmark: rlemask against numpy, smp, torchmetrics, MONAI and scipy.

Run from the repository root::

    python benchmarks/metrics.py            # full sizes
    python benchmarks/metrics.py --quick    # small sizes, a smoke run

Prints three tables, all from one process:

1. batch Dice / IoU of (N, 3, 266, 266) bool masks: rlemask vs numpy
   vectorised, segmentation_models_pytorch ``get_stats``, torchmetrics
   ``dice_score`` and MONAI ``compute_dice`` (each where installed);
2. the 3-D Hausdorff distance of a 144x266x266 scan: rlemask vs scipy's
   ``directed_hausdorff`` on all foreground voxels in both directions (the
   competition's way; the values must be identical) and MONAI
   ``compute_hausdorff_distance``;
3. ``uwmgi_score`` of a synthetic train-sized table (274 case-days, 38,496
   images, the competition's scan sizes).

Every time is the best of ``--repeat`` runs after one warm-up call (numba
compiles on the warm-up, or loads its on-disk cache).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from rlemask.metrics import dice, hausdorff, iou, uwmgi_score  # noqa: E402


def best_of(fn, repeat):
    """(best seconds, last result) of ``repeat`` calls after one warm-up call."""
    result = fn()
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def row(task, impl, seconds, base, note=""):
    speed = base / seconds if seconds and base else float("nan")
    print(f"| {task} | {impl} | {seconds * 1e3:10.1f} | {speed:7.1f}x | {note} |")


def header():
    print("| task | implementation | ms | vs baseline | note |")
    print("|---|---|---:|---:|---|")


def try_import(name):
    try:
        return __import__(name, fromlist=["_"])
    except Exception as exc:  # noqa: BLE001 - any import failure means "not installed"
        print(f"| - | {name} | - | - | not installed ({type(exc).__name__}) |")
        return None


# --------------------------------------------------------------------------
# 1. batch Dice / IoU
# --------------------------------------------------------------------------


def blobs_2d(rng, n, c, h, w):
    """Organ-like masks: one ellipse per (image, class), some empty."""
    yy, xx = np.mgrid[:h, :w]
    out = np.zeros((n, c, h, w), bool)
    for i in range(n):
        for k in range(c):
            if rng.random() < 0.4:
                continue
            cy, cx = rng.uniform(0.2, 0.8, 2) * (h, w)
            ry, rx = rng.uniform(5, 40, 2)
            out[i, k] = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    return out


def bench_batch(n, repeat):
    rng = np.random.default_rng(0)
    truth = blobs_2d(rng, n, 3, 266, 266)
    pred = truth.copy()
    shift = rng.integers(-3, 4, size=2)
    pred = np.roll(pred, tuple(shift), axis=(-2, -1))
    pred |= rng.random(pred.shape) < 0.001
    print(f"\n### Batch Dice / IoU: pred, truth bool ({n}, 3, 266, 266)\n")
    header()

    def numpy_dice():
        inter = np.logical_and(pred, truth).sum(axis=(-2, -1))
        total = pred.sum(axis=(-2, -1)) + truth.sum(axis=(-2, -1))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 1.0)

    def numpy_iou():
        inter = np.logical_and(pred, truth).sum(axis=(-2, -1))
        union = np.logical_or(pred, truth).sum(axis=(-2, -1))
        return np.where(union > 0, inter / np.maximum(union, 1), 1.0)

    t_np, ref = best_of(numpy_dice, repeat)
    row("dice", "numpy vectorised (baseline)", t_np, t_np)
    t_ours, got = best_of(lambda: dice(truth, pred), repeat)
    assert np.array_equal(got, ref), "rlemask dice differs from numpy"
    row("dice", "rlemask.dice", t_ours, t_np, "identical to numpy")
    t_np_iou, ref_iou = best_of(numpy_iou, repeat)
    row("iou", "numpy vectorised (baseline)", t_np_iou, t_np_iou)
    t_ours_iou, got_iou = best_of(lambda: iou(truth, pred), repeat)
    assert np.allclose(got_iou, ref_iou, rtol=0, atol=1e-15)
    row("iou", "rlemask.iou", t_ours_iou, t_np_iou, "identical to numpy")
    speedups = {"dice": t_np / t_ours, "iou": t_np_iou / t_ours_iou}

    torch = try_import("torch")
    if torch is not None:
        tp_, tt_ = torch.from_numpy(pred), torch.from_numpy(truth)
        nonempty = (pred.sum((-2, -1)) + truth.sum((-2, -1))) > 0
        smp = try_import("segmentation_models_pytorch")
        if smp is not None:
            pl, tl = tp_.long(), tt_.long()

            def smp_dice():
                tp, fp, fn, _ = smp.metrics.get_stats(pl, tl, mode="multilabel")
                return (2 * tp / (2 * tp + fp + fn)).numpy()

            t, v = best_of(smp_dice, repeat)
            ok = np.allclose(v[nonempty], ref[nonempty], atol=1e-6)
            row("dice", "smp get_stats (torch long, CPU)", t, t_np, f"non-empty rows agree: {ok}; 2tp/(2tp+fp+fn) is NaN for empty pairs (smp f1_score gives 1.0)")
        tm = try_import("torchmetrics")
        if tm is not None:
            from torchmetrics.functional.segmentation import dice_score

            pl, tl = tp_.long(), tt_.long()

            def tm_dice():
                return dice_score(pl, tl, num_classes=3, average="none", input_format="one-hot").numpy()

            t, v = best_of(tm_dice, repeat)
            ok = np.allclose(v[nonempty], ref[nonempty], atol=1e-6)
            row("dice", "torchmetrics dice_score (CPU)", t, t_np, f"non-empty rows agree: {ok}")
        monai = try_import("monai.metrics")
        if monai is not None:
            pf, tf = tp_.float(), tt_.float()

            def monai_dice():
                return monai.compute_dice(pf, tf, include_background=True).numpy()

            t, v = best_of(monai_dice, repeat)
            has_truth = truth.sum((-2, -1)) > 0
            ok = np.allclose(v[has_truth], ref[has_truth], atol=1e-6)
            row("dice", "MONAI compute_dice (CPU)", t, t_np, f"agree where truth non-empty: {ok}; empty truth NaN")
    return speedups


# --------------------------------------------------------------------------
# 2. 3-D Hausdorff
# --------------------------------------------------------------------------


def organ_scan(rng, shape=(144, 266, 266), stray=True):
    """Truth and a prediction of one organ-like structure in a scan.

    ``stray`` adds a small false-positive blob away from the organ, as models
    produce; without it the prediction only hugs the truth (small distance).
    """
    d, h, w = shape
    zz, yy, xx = np.ogrid[:d, :h, :w]
    truth = np.zeros(shape, bool)
    pred = np.zeros(shape, bool)
    for _ in range(3):  # a few lobes
        c = rng.uniform([0.3, 0.3, 0.3], [0.7, 0.7, 0.7]) * shape
        r = rng.uniform([10, 15, 15], [30, 40, 40])
        truth |= ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2 < 1
        c2 = c + rng.normal(0, 2, 3)
        r2 = r * rng.uniform(0.9, 1.1, 3)
        pred |= ((zz - c2[0]) / r2[0]) ** 2 + ((yy - c2[1]) / r2[1]) ** 2 + ((xx - c2[2]) / r2[2]) ** 2 < 1
    if stray:  # a small false-positive blob further away
        c = rng.uniform([0.1, 0.1, 0.1], [0.3, 0.3, 0.3]) * shape
        pred |= ((zz - c[0]) / 3) ** 2 + ((yy - c[1]) / 4) ** 2 + ((xx - c[2]) / 4) ** 2 < 1
    return truth, pred


def bench_hausdorff(shape, repeat, stray=True):
    from scipy.spatial.distance import directed_hausdorff

    rng = np.random.default_rng(0)
    truth, pred = organ_scan(rng, shape, stray=stray)
    what = "with a stray false-positive blob" if stray else "prediction hugging the truth, no stray blob"
    print(
        f"\n### 3-D Hausdorff: one {shape[0]}x{shape[1]}x{shape[2]} scan, {what}: "
        f"truth {int(truth.sum()):,} voxels, pred {int(pred.sum()):,} voxels\n"
    )
    header()

    def scipy_way():
        a = np.argwhere(pred)
        b = np.argwhere(truth)
        return max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])

    t_sc, ref = best_of(scipy_way, max(1, repeat // 2))
    row("hausdorff", "scipy directed_hausdorff x2, all voxels (baseline)", t_sc, t_sc, f"{ref:.6f}")
    t_ours, got = best_of(lambda: hausdorff(truth, pred), repeat)
    assert got == ref, f"rlemask {got!r} != scipy {ref!r}"
    row("hausdorff", "rlemask.hausdorff", t_ours, t_sc, f"{got:.6f}, identical: {got == ref}")
    sp = (3.0, 1.5, 1.5)
    t_mm, got_mm = best_of(lambda: hausdorff(truth, pred, spacing=sp), repeat)
    a, b = np.argwhere(pred) * sp, np.argwhere(truth) * sp
    ref_mm = max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])
    assert abs(got_mm - ref_mm) <= 1e-12 * ref_mm
    row("hausdorff", "rlemask.hausdorff spacing=(3, 1.5, 1.5)", t_mm, t_sc, f"{got_mm:.6f} mm (scipy {ref_mm:.6f})")
    monai = try_import("monai.metrics")
    if monai is not None:
        import torch

        pp = torch.from_numpy(pred)[None, None]
        tt = torch.from_numpy(truth)[None, None]

        def monai_hd():
            return float(monai.compute_hausdorff_distance(pp, tt, include_background=True)[0, 0])

        t, v = best_of(monai_hd, max(1, repeat // 2))
        row("hausdorff", "MONAI compute_hausdorff_distance (surfaces)", t, t_sc, f"{v:.6f}, equal: {v == ref}")
    return t_sc / t_ours


# --------------------------------------------------------------------------
# 3. uwmgi_score of a train-sized table
# --------------------------------------------------------------------------


def train_sized_tables(rng, scale=1.0):
    """Synthetic truth and prediction tables with the competition's layout.

    274 case-days (259 of 144 slices, 15 of 80) over 85 cases; sizes 266x266
    (most), 360x310, 276x276 and 234x234; organ blobs in about 30% of the
    image x class rows, as in train.csv. ``scale`` < 1 keeps a fraction of the
    scans for a quick run.
    """
    import pandas as pd

    from rlemask.rle import encode_many

    classes = ("large_bowel", "small_bowel", "stomach")
    sizes = [(266, 266)] * 7 + [(310, 360), (276, 276), (234, 234)]
    n_scans = max(2, int(round(274 * scale)))
    truth_rows, pred_rows = [], []
    scan = 0
    case = 1
    while scan < n_scans:
        days = min(int(rng.integers(1, 6)), n_scans - scan)
        h, w = sizes[int(rng.integers(len(sizes)))]
        for day in range(days):
            depth = 80 if scan % 18 == 17 else 144
            ids = [f"case{case}_day{day}_slice_{z + 1:04d}" for z in range(depth)]
            t_cols, p_cols = {}, {}
            zz, yy, xx = np.ogrid[:depth, :h, :w]
            for c in classes:
                cz, cy, cx = rng.uniform([0.35, 0.3, 0.3], [0.65, 0.7, 0.7]) * (depth, h, w)
                rz, ry, rx = rng.uniform([15, 10, 10], [35, 35, 35])
                vol = ((zz - cz) / rz) ** 2 + ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
                pz, py, px = np.array([cz, cy, cx]) + rng.normal(0, 2, 3)
                pvol = ((zz - pz) / rz) ** 2 + ((yy - py) / ry) ** 2 + ((xx - px) / (rx * 1.05)) ** 2 < 1
                t_cols[c] = encode_many(vol.astype(np.uint8))
                p_cols[c] = encode_many(pvol.astype(np.uint8))
            truth_rows.append(pd.DataFrame({"id": ids, "height": h, "width": w, **t_cols}))
            pred_rows.append(pd.DataFrame({"id": ids, **p_cols}))
            scan += 1
        case += 1
    return pd.concat(truth_rows, ignore_index=True), pd.concat(pred_rows, ignore_index=True)


def bench_score(scale, repeat):
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    truth, pred = train_sized_tables(rng, scale)
    made = time.perf_counter() - t0
    n_scans = truth["id"].str.replace(r"_slice_\d+$", "", regex=True).nunique()
    print(
        f"\n### uwmgi_score: {len(truth):,} images, {n_scans} case-days, "
        f"{len(truth) * 3:,} image x class rows (tables built in {made:.1f} s)\n"
    )
    header()
    t, report = best_of(lambda: uwmgi_score(truth, pred), max(1, repeat // 3))

    # the competition's way on the first scans (decoding with rlemask, so only
    # Dice and Hausdorff are compared), extrapolated to the whole table
    from scipy.spatial.distance import directed_hausdorff

    from rlemask.rle import decode_many

    classes = ("large_bowel", "small_bowel", "stomach")
    scan_of = truth["id"].str.replace(r"_slice_\d+$", "", regex=True)
    first = list(dict.fromkeys(scan_of))[:2]
    t0 = time.perf_counter()
    for cd in first:
        rows = np.flatnonzero((scan_of == cd).to_numpy())
        h, w = int(truth["height"].iloc[rows[0]]), int(truth["width"].iloc[rows[0]])
        for c in classes:
            vt = decode_many(truth[c].iloc[rows].tolist(), (h, w)).astype(bool)
            vp = decode_many(pred[c].iloc[rows].tolist(), (h, w)).astype(bool)
            inter = (vt & vp).sum(axis=(1, 2))
            _ = 2 * inter / np.maximum(vt.sum(axis=(1, 2)) + vp.sum(axis=(1, 2)), 1)
            a, b = np.argwhere(vp), np.argwhere(vt)
            hd = max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0]) if len(a) and len(b) else np.inf
            ours = report.per_scan.set_index(["case_day", "class"]).loc[(cd, c), "hausdorff_raw"]
            assert hd == ours, (cd, c, hd, ours)
    per_scan_sc = (time.perf_counter() - t0) / len(first)
    t_sc = per_scan_sc * n_scans
    row(
        "uwmgi_score",
        f"scipy directed_hausdorff + numpy Dice, {len(first)} scans x {n_scans} (extrapolated baseline)",
        t_sc,
        t_sc,
        "identical per-scan Hausdorff",
    )
    row(
        "uwmgi_score",
        "rlemask.uwmgi_score (decode, Dice, 3-D Hausdorff)",
        t,
        t_sc,
        f"score={report.score:.6f} dice={report.dice:.6f} hd={report.hausdorff:.6f}",
    )
    return t


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per row (best is kept)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["batch", "hausdorff", "score"])
    args = parser.parse_args(argv)

    import numba

    print("## Metrics benchmark\n")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"{os.cpu_count()} CPUs, numba threads {numba.get_num_threads()}, {platform.platform()}"
    )
    try:
        import torch

        print(f"torch {torch.__version__}, torch threads {torch.get_num_threads()}")
    except ImportError:
        pass
    results = {}
    if "batch" not in args.skip:
        for n in (4, 16) if args.quick else (16, 128):
            results["batch"] = bench_batch(n, args.repeat)
    if "hausdorff" not in args.skip:
        shape = (48, 128, 128) if args.quick else (144, 266, 266)
        results["hausdorff"] = min(
            bench_hausdorff(shape, args.repeat, stray=True),
            bench_hausdorff(shape, args.repeat, stray=False),
        )
    if "score" not in args.skip:
        results["score"] = bench_score(0.03 if args.quick else 1.0, args.repeat)
    print("\n### Targets\n")
    if "batch" in results:
        s = results["batch"]["dice"]
        print(f"- batch dice >= 5x numpy vectorised (largest batch): {s:.1f}x -> {'met' if s >= 5 else 'NOT met'}")
    if "hausdorff" in results:
        s = results["hausdorff"]
        print(f"- Hausdorff >= 20x scipy, identical values (worse of the two scans): {s:.1f}x -> {'met' if s >= 20 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
