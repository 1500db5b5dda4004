"""Benchmark of the RLE codec on a UWMGI-like workload.

Prints masks/s for rlemask, the numpy snippet that UWMGI notebooks copy,
pycocotools and a memory floor, all measured in this one process on the same
masks, then the ratios against the targets of issue 2.

Workload: ``--n`` masks of 266 x 266 (uint8, C-contiguous), ~70% empty, the
rest organ-shaped blobs (1-4 rotated ellipses each), from
``np.random.default_rng(--seed)``. Each figure is the best of ``--repeat``
timed passes over all masks (best-of filters out noise from other processes).

The single-mask decode targets are checked with ``out=`` (one reused output
array), as issue 2 intends: a new 266x266 array per call costs page faults of
fresh memory that no codec controls; that ratio is printed too, unchecked.

pycocotools gets every advantage: its masks are converted to Fortran order and
its compressed objects are built before the clock starts, and the faster of its
one-at-a-time and batch APIs is used for the ``*_many`` comparisons.

Run: ``python benchmarks/rle.py [--n 2000] [--repeat 5] [--seed 0] [--threads T] [--quick]``.
``--quick``: ``--n 300 --repeat 3`` and a smaller scaling section.

A second section, batch scaling (issue 10 item 4), times on three workloads
(UWMGI-like 266x266, the real predicted strings of ``../shared/data/uwmgi-real``
at their most common size, COCO-like 1024x1024 masks) a loop over the single
calls against ``encode_many`` / ``decode_many`` on 1 and on 2 numba threads, and
prints GB/s of mask bytes next to the memory floor measured in the same run
(``np.empty`` + ``fill(0)`` of a fresh batch, and ``fill(0)`` of a reused one).
The exit code is 1 when a batch on numba's default thread count (2 on this
machine) is slower than its loop; the batch on 1 thread is printed next to it
(on 1024x1024 masks it runs the very kernel of the loop, so the two are at
parity there). The default ``--n 2000`` streams 141 MB of masks from memory; ``--n 192`` (a
batch of 64 slices x 3 classes, as inference produces them) stays in cache.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np

HEIGHT = WIDTH = 266


# ----------------------------------------------------------------------------------
# workload
# ----------------------------------------------------------------------------------


def uwmgi_like_masks(n: int, *, seed: int = 0, empty: float = 0.7) -> np.ndarray:
    """``n`` 266x266 uint8 masks: a share ``empty`` of them blank, the others blobs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:HEIGHT, :WIDTH].astype(np.float32)
    masks = np.zeros((n, HEIGHT, WIDTH), np.uint8)
    for i in range(n):
        if rng.random() < empty:
            continue
        m = np.zeros((HEIGHT, WIDTH), bool)
        cy, cx = rng.uniform(70, 200), rng.uniform(60, 210)
        for _ in range(rng.integers(1, 5)):  # an organ: a few overlapping lobes
            y0 = cy + rng.normal(0, 18)
            x0 = cx + rng.normal(0, 18)
            a, b = rng.uniform(6, 40), rng.uniform(5, 28)
            t = rng.uniform(0, np.pi)
            dy, dx = yy - y0, xx - x0
            u = dx * np.cos(t) + dy * np.sin(t)
            v = -dx * np.sin(t) + dy * np.cos(t)
            m |= (u / a) ** 2 + (v / b) ** 2 <= 1.0
        masks[i] = m
    return masks


# ----------------------------------------------------------------------------------
# the numpy snippet of the UWMGI notebooks (row-major, 1-based starts)
# ----------------------------------------------------------------------------------


def numpy_encode(img: np.ndarray) -> str:
    pixels = img.flatten()
    pixels = np.concatenate([[0], pixels, [0]])
    runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
    runs[1::2] -= runs[::2]
    return " ".join(str(x) for x in runs)


def numpy_decode(mask_rle: str, shape: tuple[int, int]) -> np.ndarray:
    s = mask_rle.split()
    starts, lengths = [np.asarray(x, dtype=int) for x in (s[0:][::2], s[1:][::2])]
    starts -= 1
    ends = starts + lengths
    img = np.zeros(shape[0] * shape[1], dtype=np.uint8)
    for lo, hi in zip(starts, ends):
        img[lo:hi] = 1
    return img.reshape(shape)


# ----------------------------------------------------------------------------------
# timing
# ----------------------------------------------------------------------------------


def drain(results) -> None:
    """Consume a generator, dropping each result before the next is made.

    Keeping thousands of fresh 70 KB arrays alive would time page faults of new
    memory (the same for every implementation) rather than the codecs.
    """
    for _ in results:
        pass


def best_of(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (and JIT / cache load)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="number of masks (default 2000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed passes, best kept (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    parser.add_argument(
        "--omp-wait-policy",
        default="passive",
        help="OMP_WAIT_POLICY for numba's omp threading layer unless already set (default passive: "
        "libgomp's default busy-waiting collapses the *_many kernels 10-30x when other processes "
        "share the cores; 'active' is libgomp's default)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (--n 300 --repeat 3)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the batch-scaling section")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeat = min(args.n, 300), min(args.repeat, 3)

    # must happen before numba loads libgomp (its first parallel call)
    os.environ.setdefault("OMP_WAIT_POLICY", args.omp_wait_policy)
    import numba

    if args.threads:
        numba.set_num_threads(args.threads)

    from rlemask import rle

    try:
        from pycocotools import mask as coco
    except ImportError:  # pragma: no cover
        coco = None

    n, shape = args.n, (HEIGHT, WIDTH)
    masks = uwmgi_like_masks(n, seed=args.seed)
    texts = rle.encode_many(masks)
    empty_share = float(np.mean([t == "" for t in texts]))
    runs = np.mean([len(t.split()) // 2 for t in texts if t])

    # correctness before speed
    assert texts == [numpy_encode(m) if m.any() else "" for m in masks]
    assert [rle.encode(m) for m in masks[:50]] == texts[:50]
    np.testing.assert_array_equal(rle.decode_many(texts, shape), masks)
    np.testing.assert_array_equal(numpy_decode(texts[-1], shape), masks[-1])

    rows: list[tuple[str, str, float]] = []  # (operation, implementation, masks/s)

    def record(op: str, impl: str, fn: Callable[[], object]) -> float:
        rate = n / best_of(fn, args.repeat)
        rows.append((op, impl, rate))
        return rate

    out1 = np.empty(shape, np.uint8)
    out_n = np.empty((n, *shape), np.uint8)
    r = {}
    r["enc"] = record("encode (one mask per call)", "rlemask.encode", lambda: drain(rle.encode(m) for m in masks))
    r["enc_np"] = record("encode (one mask per call)", "numpy snippet", lambda: drain(numpy_encode(m) for m in masks))
    r["enc_many"] = record("encode (batch)", "rlemask.encode_many", lambda: rle.encode_many(masks))
    r["dec"] = record("decode (one mask per call)", "rlemask.decode", lambda: drain(rle.decode(t, shape) for t in texts))
    r["dec_out"] = record(
        "decode (one mask per call)", "rlemask.decode(out=)", lambda: drain(rle.decode(t, shape, out=out1) for t in texts)
    )
    r["dec_np"] = record("decode (one mask per call)", "numpy snippet", lambda: drain(numpy_decode(t, shape) for t in texts))
    r["dec_many"] = record("decode (batch)", "rlemask.decode_many", lambda: rle.decode_many(texts, shape))
    r["dec_many_out"] = record(
        "decode (batch)", "rlemask.decode_many(out=)", lambda: rle.decode_many(texts, shape, out=out_n)
    )

    fill_src = np.empty_like(out_n)
    fill_dst = np.empty_like(out_n)

    def floor_prealloc():
        fill_src.fill(0)
        np.copyto(fill_dst, fill_src)

    def floor_alloc():
        a = np.empty((n, *shape), np.uint8)
        a.fill(0)
        b = np.empty_like(a)
        np.copyto(b, a)
        return b

    r["floor"] = record("memory floor", "fill + copy, preallocated", floor_prealloc)
    r["floor_alloc"] = record("memory floor", "fill + copy, fresh arrays", floor_alloc)

    if coco is not None:
        fortran = [np.asfortranarray(m) for m in masks]
        batch_f = np.asfortranarray(masks.transpose(1, 2, 0))
        objs = [coco.encode(f) for f in fortran]
        r["enc_coco"] = record("encode (one mask per call)", "pycocotools.encode", lambda: drain(coco.encode(f) for f in fortran))
        r["enc_coco_b"] = record("encode (batch)", "pycocotools.encode (H, W, N)", lambda: coco.encode(batch_f))
        r["dec_coco"] = record("decode (one mask per call)", "pycocotools.decode", lambda: drain(coco.decode(o) for o in objs))
        r["dec_coco_b"] = record("decode (batch)", "pycocotools.decode (list)", lambda: coco.decode(objs))

    print("# RLE codec benchmark")
    print(f"machine: {machine()}")
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, numba {numba.__version__} "
        f"({numba.threading_layer()} threading layer, {numba.get_num_threads()} threads, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')})"
        + (f", pycocotools {getattr(coco, '__version__', 'installed')}" if coco is not None else ", no pycocotools")
    )
    print(
        f"workload: {n} masks {HEIGHT}x{WIDTH} uint8, seed {args.seed}, {empty_share:.0%} empty, "
        f"{runs:.0f} runs per non-empty mask on average; best of {args.repeat}"
    )
    print()
    print(f"| {'operation':<28} | {'implementation':<30} | {'masks/s':>12} |")
    print(f"|{'-' * 30}|{'-' * 32}|{'-' * 13}:|")
    for op, impl, rate in rows:
        print(f"| {op:<28} | {impl:<30} | {rate:>12,.0f} |")
    print()

    checks: list[tuple[str, float, float | None]] = [
        ("encode vs numpy snippet", r["enc"] / r["enc_np"], 4.0),
        ("decode(out=) vs numpy snippet", r["dec_out"] / r["dec_np"], 2.0),
        ("decode (new array each) vs numpy snippet", r["dec"] / r["dec_np"], None),
        ("decode_many(out=) vs memory floor (preallocated)", r["dec_many_out"] / r["floor"], 1.0),
        ("decode_many vs memory floor (fresh arrays)", r["dec_many"] / r["floor_alloc"], 1.0),
    ]
    if coco is not None:
        coco_enc_best = max(r["enc_coco"], r["enc_coco_b"])
        coco_dec_best = max(r["dec_coco"], r["dec_coco_b"])
        checks[1:1] = [
            ("encode vs pycocotools", r["enc"] / r["enc_coco"], 4.0),
            ("encode_many vs pycocotools (best API)", r["enc_many"] / coco_enc_best, 6.0),
            ("decode(out=) vs pycocotools", r["dec_out"] / r["dec_coco"], 3.0),
            ("decode (new array each) vs pycocotools", r["dec"] / r["dec_coco"], None),
        ]
        checks.insert(7, ("decode_many vs pycocotools (best API)", r["dec_many"] / coco_dec_best, 5.0))
    print(f"| {'ratio':<50} | {'measured':>8} | {'target':>6} | {'met':<3} |")
    print(f"|{'-' * 52}|{'-' * 9}:|{'-' * 7}:|{'-' * 5}|")
    met_all = True
    for name, ratio, target in checks:
        if target is None:
            print(f"| {name:<50} | {ratio:>7.1f}x | {'-':>6} | {'':<3} |")
            continue
        met = ratio >= target
        met_all &= met
        print(f"| {name:<50} | {ratio:>7.1f}x | {target:>5.0f}x | {'yes' if met else 'NO':<3} |")
    if not args.no_scaling:
        met_all &= scaling(args)
    return 0 if met_all else 1


# ----------------------------------------------------------------------------------
# batch scaling (issue 10 item 4)
# ----------------------------------------------------------------------------------

REAL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "uwmgi-real")


def coco_like(n: int, side: int = 1024, seed: int = 0) -> np.ndarray:
    """``n`` masks of ``side`` x ``side``, each 1-4 discs."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    out = np.zeros((n, side, side), np.uint8)
    for i in range(n):
        for _ in range(rng.integers(1, 5)):
            cy, cx = rng.uniform(0, side, 2)
            r = rng.uniform(20, side / 4)
            out[i] |= ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.uint8)
    return out


def real_strings() -> tuple[list[str], tuple[int, int]] | None:
    """The real predicted strings of the most common image size, or None."""
    import csv

    path = os.path.join(REAL, "predicted_rle_first1000.csv")
    if not os.path.exists(path):
        return None
    sizes = {}
    with open(os.path.join(REAL, "image_index.csv"), newline="") as f:
        for row in csv.DictReader(f):
            sizes[row["id"]] = (int(row["height"]), int(row["width"]))
    groups: dict[tuple[int, int], list[str]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            groups.setdefault(sizes[row["id"]], []).append(row["predicted"])
    shape = max(groups, key=lambda k: len(groups[k]))
    return groups[shape], shape


def scaling(args) -> bool:
    """Loop vs batch and 1 vs 2 threads; print one table; True when every goal holds."""
    import numba

    from rlemask import rle

    rep = args.repeat
    work: list[tuple[str, np.ndarray]] = [(f"synthetic 266x266 x{args.n}", uwmgi_like_masks(args.n, seed=args.seed))]
    real = real_strings()
    if real is not None:
        texts, shape = real
        work.append((f"uwmgi-real {shape[0]}x{shape[1]} x{len(texts)}", rle.decode_many(texts, shape)))
    n_big = 20 if args.quick else 100
    work.append((f"COCO-like 1024x1024 x{n_big}", coco_like(n_big, seed=args.seed)))
    max_threads = numba.config.NUMBA_NUM_THREADS
    threads = [1, 2] if max_threads >= 2 else [1]
    rows = []
    ok = ok_default = True
    for name, masks in work:
        n, shape = masks.shape[0], masks.shape[1:]
        nbytes = masks.nbytes
        texts = rle.encode_many(masks)
        assert texts == [rle.encode(m) for m in masks]
        out_n = np.empty_like(masks)
        keep: list = []

        def gbs(sec: float) -> str:
            return f"{nbytes / sec / 1e9:.2f}"

        def fresh_floor():
            a = np.empty(masks.shape, np.uint8)
            a.fill(0)
            return a

        t_floor = best_of(fresh_floor, rep)
        t_floor_pre = best_of(lambda: out_n.fill(0), rep)
        numba.set_num_threads(1)
        t_enc_loop = best_of(lambda: [rle.encode(m) for m in masks], rep)
        t_dec_loop = best_of(lambda: keep.__setitem__(slice(None), [rle.decode(t, shape) for t in texts]), rep)
        keep.clear()
        t_dec_loop_out = best_of(lambda: [rle.decode(t, shape, out=out_n[i]) for i, t in enumerate(texts)], rep)
        t = {}
        for k in threads:
            numba.set_num_threads(k)
            t["enc", k] = best_of(lambda: rle.encode_many(masks), rep)
            t["dec", k] = best_of(lambda: rle.decode_many(texts, shape), rep)
            t["dec_out", k] = best_of(lambda: rle.decode_many(texts, shape, out=out_n), rep)
        numba.set_num_threads(max_threads)
        assert (rle.decode_many(texts, shape) == masks).all()

        def row(op, loop, key):
            nonlocal ok, ok_default
            batch = [t[key, k] for k in threads]
            ok &= batch[0] < loop
            ok_default &= batch[-1] < loop
            cells = " | ".join(f"{n / b:>10,.0f} | {gbs(b):>5}" for b in batch)
            pad = "" if len(threads) == 2 else " | - | -"
            two = f"{batch[0] / batch[1]:.2f}x" if len(threads) == 2 else "-"
            rows.append(f"| {name:<28} | {op:<16} | {n / loop:>10,.0f} | {gbs(loop):>5} | {cells}{pad} | "
                        f"{loop / batch[0]:.2f}x | {loop / batch[-1]:.2f}x | {two} | {gbs(t_floor)} / {gbs(t_floor_pre)} |")

        row("encode", t_enc_loop, "enc")
        row("decode", t_dec_loop, "dec")
        row("decode(out=)", t_dec_loop_out, "dec_out")
    print()
    print("## Batch scaling: loop over single calls vs *_many, 1 and 2 numba threads")
    print("masks/s and GB/s of mask bytes; the loop runs on 1 thread (decode loop keeps its masks);")
    print("floor = GB/s of np.empty + fill(0) of a fresh batch / fill(0) of a reused one, same run")
    print()
    print(f"| workload | op | loop masks/s | GB/s | batch 1t masks/s | GB/s | batch 2t masks/s | GB/s "
          f"| batch 1t / loop | batch {threads[-1]}t / loop | 2t / 1t | floor fresh / reused GB/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(r)
    print(f"\nbatch faster than the loop on every row, {threads[-1]} threads (numba's default here): "
          f"{'yes' if ok_default else 'NO'}; on 1 thread: {'yes' if ok else 'NO'}")
    return ok_default


if __name__ == "__main__":
    sys.exit(main())
