"""Benchmark of COCO masks, run-length scores and post-processing against rlemasklib.

Prints one markdown table per workload: rlemask next to rlemasklib 0.8.1 (the
named baseline), pycocotools and scipy.ndimage / OpenCV where they do the same
job, all measured in this one process on the same masks, outputs checked equal
before any clock starts. ``--repeat`` rounds each time rlemask then the baseline
back to back; rates are the best round of each, and the ratio column gives the
ratio of those best times and, in brackets, the median of the rounds' own ratios
(a slow stretch of a shared machine hits both sides of a round's ratio).

Workloads (issue 10):

* ``uwmgi-like``: ``--n`` (3,000) synthetic 266 x 266 masks, ~70% empty
  (``benchmarks/rle.py``'s generator);
* ``uwmgi-real``: the 3,000 real predicted strings of
  ``../shared/data/uwmgi-real/predicted_rle_first1000.csv``, sizes from
  ``image_index.csv`` (266x266, 310x360, ...): batches are per size;
* ``coco-like``: ``--n-coco`` (100) 1024 x 1024 masks of 1-4 discs each.

Rows: COCO encode / decode one mask per call and a batch per call; IoU of
consecutive pairs (rlemask's ``iou_rle`` on Kaggle strings, rlemasklib's
``iou`` on its dicts); a 100 x 100 IoU matrix (rlemasklib's
``RLEMask.iou_matrix``, its objects built outside the clock); the area of
every item of a list; and on the first workload the post-processing of
:mod:`rlemask.postprocess` (scipy.ndimage / OpenCV / rlemasklib equivalents).

Run: ``python benchmarks/coco.py [--quick] [--repeat 5] [--threads 1]``.
``--quick`` takes 300 / 300 / 10 masks. Ratios above 1 mean rlemask is faster.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rle import coco_like, machine, uwmgi_like_masks  # noqa: E402

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "uwmgi-real"


def real_masks(limit: int) -> list[np.ndarray]:
    from rlemask import rle

    sizes = {}
    with open(REAL / "image_index.csv", newline="") as f:
        for row in csv.DictReader(f):
            sizes[row["id"]] = (int(row["height"]), int(row["width"]))
    masks = []
    with open(REAL / "predicted_rle_first1000.csv", newline="") as f:
        for row in csv.DictReader(f):
            masks.append(rle.decode(row["predicted"], sizes[row["id"]]))
            if len(masks) >= limit:
                break
    return masks


def paired(ours: Callable[[], object], base: Callable[[], object], repeat: int) -> tuple[float, float, list[float]]:
    """Best time of each and the per-round ratios (base / ours) of ``repeat`` rounds,
    each round timing ``ours`` then ``base`` back to back (one warm-up round first), so
    that a slow stretch of a shared machine hits both sides of a ratio."""
    ours()
    base()
    t_ours, t_base, ratios = float("inf"), float("inf"), []
    for _ in range(repeat):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        base()
        t2 = time.perf_counter()
        t_ours, t_base = min(t_ours, t1 - t0), min(t_base, t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
    return t_ours, t_base, ratios


def by_size(masks: list[np.ndarray]) -> list[np.ndarray]:
    groups: dict[tuple[int, int], list[np.ndarray]] = {}
    for m in masks:
        groups.setdefault(m.shape, []).append(m)
    return [np.stack(g) for g in groups.values()]


def workload(name: str, masks: list[np.ndarray], repeat: int, post: bool) -> None:
    import rlemasklib
    import pycocotools.mask as pm

    from rlemask import coco, overlap, postprocess, rle

    n = len(masks)
    stacks = by_size(masks)
    ours_objs = [coco.encode(m) for m in masks]
    rl_objs = [rlemasklib.encode(m) for m in masks]
    pc_objs = [pm.encode(np.asfortranarray(m)) for m in masks]
    assert ours_objs == rl_objs == pc_objs, "COCO encodings differ"
    assert sum((coco.encode(s) for s in stacks), []) == [o for s in stacks for o in rlemasklib.encode(s, batch_first=True)]
    for o in rl_objs[:50]:
        assert (coco.decode(o) == rlemasklib.decode(o)).all()
    strings = [rle.encode(m) for m in masks]
    shapes = [m.shape for m in masks]
    rows: list[tuple[str, str, float, float, str]] = []

    def add(op: str, unit: float, ours: Callable, base: Callable, base_name: str = "rlemasklib") -> None:
        t_ours, t_base, ratios = paired(ours, base, repeat)
        rows.append((op, base_name, unit / t_base, unit / t_ours, f"{t_base / t_ours:.2f}x ({np.median(ratios):.2f}x)"))

    add("COCO encode, one mask per call (masks/s)", n, lambda: [coco.encode(m) for m in masks],
        lambda: [rlemasklib.encode(m) for m in masks])
    add("COCO encode, one mask per call (masks/s)", n, lambda: [coco.encode(m) for m in masks],
        lambda: [pm.encode(np.asfortranarray(m)) for m in masks], "pycocotools")
    add("COCO encode, a batch per call (masks/s)", n, lambda: [coco.encode(s) for s in stacks],
        lambda: [rlemasklib.encode(s, batch_first=True) for s in stacks])
    add("COCO decode, one mask per call (masks/s)", n, lambda: [coco.decode(o) for o in rl_objs],
        lambda: [rlemasklib.decode(o) for o in rl_objs])
    add("COCO decode, one mask per call (masks/s)", n, lambda: [coco.decode(o) for o in rl_objs],
        lambda: [pm.decode(o) for o in rl_objs], "pycocotools")
    groups = [[o for o in rl_objs if o["size"] == list(s.shape[1:])] for s in stacks]
    add("COCO decode, a batch per call (masks/s)", n, lambda: [coco.decode(g) for g in groups],
        lambda: [pm.decode(g) for g in groups], "pycocotools (list)")

    pairs = [(i, i + 1) for i in range(n - 1) if shapes[i] == shapes[i + 1]]
    assert all(abs(overlap.iou_rle(strings[i], strings[j], shapes[i]) - rlemasklib.iou([rl_objs[i], rl_objs[j]])) < 1e-12
               for i, j in pairs[:200] if rl_objs[i]["counts"] != rl_objs[i + 1]["counts"] or True
               if (masks[i].any() or masks[j].any()))
    add("IoU of a pair (pairs/s)", len(pairs), lambda: [overlap.iou_rle(strings[i], strings[j], shapes[i]) for i, j in pairs],
        lambda: [rlemasklib.iou([rl_objs[i], rl_objs[j]]) for i, j in pairs])

    s0 = stacks[0]
    k = min(100, len(s0) // 2)
    a_objs = coco.encode(s0[:k])
    b_objs = coco.encode(s0[k : 2 * k])
    a_str = [rle.encode(m) for m in s0[:k]]
    b_str = [rle.encode(m) for m in s0[k : 2 * k]]
    ra = [rlemasklib.RLEMask.from_dict(o) for o in a_objs]
    rb = [rlemasklib.RLEMask.from_dict(o) for o in b_objs]
    theirs = rlemasklib.RLEMask.iou_matrix(ra, rb)
    both_empty = np.array([[not x.any() and not y.any() for y in s0[k : 2 * k]] for x in s0[:k]])
    assert np.allclose(overlap.iou_matrix(a_objs, b_objs)[~both_empty], theirs[~both_empty])
    add(f"IoU matrix {k} x {k}, COCO dicts (matrices/s)", 1, lambda: overlap.iou_matrix(a_objs, b_objs),
        lambda: rlemasklib.RLEMask.iou_matrix(ra, rb))
    add(f"IoU matrix {k} x {k}, Kaggle strings (matrices/s)", 1,
        lambda: overlap.iou_matrix(a_str, b_str, shape=s0.shape[1:]), lambda: rlemasklib.RLEMask.iou_matrix(ra, rb))
    assert overlap.area_many(rl_objs).tolist() == [int(a) for a in rlemasklib.area(rl_objs)]
    add("area of every item of a list, COCO dicts (items/s)", n, lambda: overlap.area_many(rl_objs),
        lambda: rlemasklib.area(rl_objs))
    add("area of every item of a list, Kaggle strings (items/s)", n, lambda: overlap.area_many(strings),
        lambda: rlemasklib.area(rl_objs))

    if post:
        from scipy import ndimage
        import cv2

        m8 = [m for m in masks if m.any()][:300]
        eight = np.ones((3, 3), bool)

        def scipy_remove_small(m, size=50):
            lab, k = ndimage.label(m, structure=eight)
            sizes = np.bincount(lab.ravel())
            keep = sizes >= size
            keep[0] = False
            return keep[lab].astype(np.uint8)

        def cv2_remove_small(m, size=50):
            k, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
            keep = stats[:, cv2.CC_STAT_AREA] >= size
            keep[0] = False
            return keep[lab].astype(np.uint8)

        for m in m8[:30]:
            assert (postprocess.remove_small(m, 50) == scipy_remove_small(m)).all()
            assert (postprocess.fill_holes(m) == ndimage.binary_fill_holes(m)).all()
            assert (postprocess.resize(m, (384, 384)) == cv2.resize(m, (384, 384), interpolation=cv2.INTER_NEAREST)).all()
        u = len(m8)
        add("remove_small(50), 8-conn (masks/s)", u, lambda: [postprocess.remove_small(m, 50) for m in m8],
            lambda: [scipy_remove_small(m) for m in m8], "scipy.ndimage")
        add("remove_small(50), 8-conn (masks/s)", u, lambda: [postprocess.remove_small(m, 50) for m in m8],
            lambda: [cv2_remove_small(m) for m in m8], "OpenCV")
        objs8 = [rlemasklib.encode(m) for m in m8]
        add("remove_small(50), 8-conn (masks/s)", u, lambda: [postprocess.remove_small(m, 50) for m in m8],
            lambda: [rlemasklib.remove_small_components(o, connectivity=8, min_size=50) for o in objs8], "rlemasklib (RLE in, RLE out)")
        add("largest_component, 8-conn (masks/s)", u, lambda: [postprocess.largest_component(m) for m in m8],
            lambda: [rlemasklib.largest_connected_component(o, connectivity=8) for o in objs8], "rlemasklib (RLE in, RLE out)")
        strs8 = [rle.encode(m) for m in m8]
        shape8 = [m.shape for m in m8]
        for i in range(min(30, u)):
            got = postprocess.remove_small_rle(strs8[i], shape8[i], 50)
            assert rle.decode(got, shape8[i]).tolist() == rlemasklib.decode(
                rlemasklib.remove_small_components(objs8[i], connectivity=8, min_size=50)).tolist()
        add("remove_small_rle(50), 8-conn, string in and out (masks/s)", u,
            lambda: [postprocess.remove_small_rle(t, sh, 50) for t, sh in zip(strs8, shape8)],
            lambda: [rlemasklib.remove_small_components(o, connectivity=8, min_size=50) for o in objs8],
            "rlemasklib (RLE in, RLE out)")
        add("largest_component_rle, 8-conn, string in and out (masks/s)", u,
            lambda: [postprocess.largest_component_rle(t, sh) for t, sh in zip(strs8, shape8)],
            lambda: [rlemasklib.largest_connected_component(o, connectivity=8) for o in objs8],
            "rlemasklib (RLE in, RLE out)")
        add("fill_holes, 4-conn holes (masks/s)", u, lambda: [postprocess.fill_holes(m) for m in m8],
            lambda: [ndimage.binary_fill_holes(m) for m in m8], "scipy.ndimage")
        add("resize to 384 x 384, nearest (masks/s)", u, lambda: [postprocess.resize(m, (384, 384)) for m in m8],
            lambda: [cv2.resize(m, (384, 384), interpolation=cv2.INTER_NEAREST) for m in m8], "OpenCV")

    print(f"\n### {name}: {n} masks, sizes {sorted({tuple(s.shape[1:]) for s in stacks})}\n")
    print("| operation | baseline | baseline /s | rlemask /s | rlemask vs baseline: best times (median of rounds) |")
    print("|---|---|---:|---:|---:|")
    for op, base, fb, fo, ratio in rows:
        print(f"| {op} | {base} | {fb:,.0f} | {fo:,.0f} | {ratio} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 / 300 / 10 masks")
    parser.add_argument("--n", type=int, default=3000, help="UWMGI-like masks (default 3000)")
    parser.add_argument("--n-coco", type=int, default=100, help="1024 x 1024 masks (default 100)")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds per row (default 7)")
    parser.add_argument("--threads", type=int, default=1, help="numba threads (default 1)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.n_coco, args.repeat = 300, 10, 3
    import numba
    import rlemasklib

    numba.set_num_threads(args.threads)
    print(f"machine: {machine()}; numba threads: {args.threads}; rlemasklib {getattr(rlemasklib, '__version__', '0.8.1')}")
    workload("uwmgi-like 266 x 266", list(uwmgi_like_masks(args.n)), args.repeat, post=True)
    if (REAL / "predicted_rle_first1000.csv").exists():
        workload("uwmgi-real predicted strings", real_masks(args.n), args.repeat, post=False)
    else:
        print(f"\n(uwmgi-real skipped: {REAL} not found)")
    workload("coco-like 1024 x 1024", list(coco_like(args.n_coco)), args.repeat, post=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
