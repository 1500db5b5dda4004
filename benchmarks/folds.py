"""Folds benchmark: MultilabelStratifiedGroupKFold against scikit-learn's StratifiedGroupKFold.

Run from the repository root::

    python benchmarks/folds.py              # real case structure when available
    python benchmarks/folds.py --synthetic  # a UWMGI-like structure, no data needed

Workload: the 38,496 training images of UWMGI grouped by their 85 cases, from
``image_index.csv`` in ``$RLEMASK_REAL_DATA`` (default
``../shared/data/uwmgi-real``). The real labels are not available, so the
label matrix (which organs each image shows) comes from the seeded generator
``folds_synthetic_labels`` in ``tests/reference.py``: one contiguous band of
slices per organ and scan, band position and extent drawn per case and
jittered per day; with seed 0 the positive rates are 0.386 / 0.281 / 0.233
(large bowel / small bowel / stomach; real data: 0.366 / 0.291 / 0.224).

Quality: the mean over classes of the standard deviation (ddof=0) across the
5 test folds of the fraction of images with a non-empty mask of that class
(lower is better), for ``shuffle=False`` and for ``shuffle=True`` with
several seeds. scikit-learn's splitter gets the two usual single-label
targets: the number of non-empty classes of an image, and its class
combination (a 3-bit code). "partitions" counts the distinct partitions of the
cases over the seeds (the same for every seed is useless for repeated CV).

Speed: the best of ``--repeat`` runs of ``split`` (and of ``assign_folds`` on
the table of RLE strings) on all 38,496 images.

Scale (the second part, ``--scale-only`` runs it alone): seeded multilabel
workloads from ``make_multilabel`` below (per-label base rates log-uniform in
[0.01, 0.5], a per-group shift of each label's log-odds ~ N(0, 1), group
sizes 1 + multinomial with Dirichlet(2) weights): rlemask against
scikit-learn's ``StratifiedGroupKFold`` (fed the number of positive labels of
each sample) and iterative-stratification's ``MultilabelStratifiedKFold``
(with one sample per group it gets the samples; with real groups it gets one
row per group, "does the group have the label", and the folds are mapped back
to the samples -- the usual way to keep groups whole with it). Workloads:
1,000 samples x 20 labels (one per group); 1,990 and 2,010 one-sample groups
x 3 labels (the old local-search limit, 2,000 groups); 100,000 samples in
5,000 groups x 20 labels; then a series over the number of groups. Balance:
the mean over labels of the std across folds of the positive fraction, as
above; sizes: the largest minus the smallest fold. All single-threaded
(``OMP_NUM_THREADS=1`` is set before numpy loads).
"""

from __future__ import annotations

import argparse
import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
import platform
import sys
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from reference import folds_synthetic_index, folds_synthetic_labels  # noqa: E402
from sklearn.model_selection import StratifiedGroupKFold  # noqa: E402

from rlemask.folds import MultilabelStratifiedGroupKFold, assign_folds  # noqa: E402
from rlemask.uwmgi import CLASSES, from_paths  # noqa: E402


def fold_array(cv, y, groups):
    fold = np.full(len(groups), -1)
    for k, (_, test) in enumerate(cv.split(np.zeros(len(groups)), y, groups)):
        fold[test] = k
    return fold


def class_std(labels, fold):
    """Per-class std (ddof=0) across folds of the positive fraction."""
    fractions = np.array([labels[fold == k].mean(axis=0) for k in np.unique(fold)])
    return fractions.std(axis=0)


def partition(fold, groups):
    return frozenset(frozenset(np.unique(groups[fold == k]).tolist()) for k in np.unique(fold))


def best_of(fn, repeat):
    fn()
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def load(synthetic: bool):
    root = os.environ.get("RLEMASK_REAL_DATA", os.path.join(HERE, "..", "..", "shared", "data", "uwmgi-real"))
    path = os.path.join(root, "image_index.csv")
    if not synthetic and os.path.isfile(path):
        return from_paths(pd.read_csv(path)["path"]), f"real case structure ({path})"
    return folds_synthetic_index(85, seed=0), "synthetic UWMGI-like case structure (folds_synthetic_index)"


def make_multilabel(n_samples: int, n_groups: int, n_labels: int, seed: int = 0):
    """Seeded ``(y, groups)``: one sample per group when ``n_groups == n_samples``."""
    rng = np.random.default_rng(seed)
    if n_groups == n_samples:
        groups = rng.permutation(n_samples)
    else:
        sizes = rng.multinomial(n_samples - n_groups, rng.dirichlet(np.full(n_groups, 2.0))) + 1
        groups = rng.permutation(np.repeat(np.arange(n_groups), sizes))
    base = np.exp(rng.uniform(np.log(0.01), np.log(0.5), n_labels))
    shift = rng.normal(0.0, 1.0, (n_groups, n_labels))
    p = 1.0 / (1.0 + np.exp(-(np.log(base / (1.0 - base)) + shift[groups])))
    return (rng.random((n_samples, n_labels)) < p).astype(np.uint8), groups


def iterstrat_folds(y, groups, k, seed=0, per_group=True):
    """MultilabelStratifiedKFold on one row per group (``per_group``, when groups repeat) or the samples."""
    from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

    codes, uniques = pd.factorize(groups)
    if not per_group:
        codes, uniques = np.arange(len(groups)), groups
    per_group = y
    if len(uniques) < len(groups):
        per_group = np.zeros((len(uniques), y.shape[1]), np.uint8)
        np.maximum.at(per_group, codes, y)
    fold = np.full(len(per_group), -1)
    cv = MultilabelStratifiedKFold(k, shuffle=True, random_state=seed)
    for i, (_, test) in enumerate(cv.split(per_group, per_group)):
        fold[test] = i
    return fold[codes] if len(uniques) < len(groups) else fold


def timed(fn, repeat):
    """(result of the fastest run, best seconds) over ``repeat`` runs."""
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
        if elapsed < best:
            best, out = elapsed, result
    return out, best


def scale(args) -> None:
    """Print the table of rlemask vs StratifiedGroupKFold vs iterative-stratification and the series."""
    try:
        import iterstrat  # noqa: F401
    except ImportError:  # pragma: no cover - bench extra missing
        print("iterative-stratification is not installed (pip install 'rlemask[bench]'): its rows are skipped")
        have_iterstrat = False
    else:
        have_iterstrat = True
    k = args.n_splits
    factor = 10 if args.quick else 1
    workloads = [
        (1000 // factor, 1000 // factor, 20),
        (1990 // factor, 1990 // factor, 3),
        (2010 // factor, 2010 // factor, 3),
        (100000 // factor, 5000 // factor, 20),
    ]
    splitters = [
        ("rlemask", lambda y, g: fold_array(MultilabelStratifiedGroupKFold(k), y, g)),
        ("StratifiedGroupKFold (y = number of labels)",
         lambda y, g: fold_array(StratifiedGroupKFold(k), y.sum(axis=1), g)),
    ]
    if have_iterstrat:
        splitters.append(("iterative-stratification", lambda y, g: iterstrat_folds(y, g, k)))
        splitters.append(("iterative-stratification on the samples (splits groups: leaks)",
                          lambda y, g: iterstrat_folds(y, g, k, per_group=False)))
    y, groups = make_multilabel(200, 200, 5, seed=9)  # warm-up: imports and first-call costs left out
    for _, fn in splitters:
        fn(y, groups)
    print(f"### {k} folds on multilabel workloads (best of {args.scale_repeat}, wall seconds, one thread)")
    print()
    print("| workload | splitter | seconds | balance (mean std) | fold sizes max-min |")
    print("|---|---|---:|---:|---:|")
    for n, g, labels in workloads:
        y, groups = make_multilabel(n, g, labels, seed=0)
        name = f"{n:,} samples, {g:,} groups x {labels} labels"
        for splitter, fn in splitters:
            if "leaks" in splitter and len(np.unique(groups)) == len(groups):
                continue  # one sample per group: the row above
            fold, seconds = timed(lambda: fn(y, groups), args.scale_repeat)
            sizes = np.bincount(fold, minlength=k)
            print(f"| {name} | {splitter} | {seconds:.3f} | {class_std(y, fold).mean():.6f} | "
                  f"{sizes.max() - sizes.min()} |")
    print()
    series = [500, 1000, 1990, 2010, 4000, 8000, 16000, 32000]
    if args.quick:
        series = series[:3]
    print("### Time over the number of groups (20 labels, 5 folds)")
    print()
    header = "| groups | one sample per group: rlemask s | iterstrat s | 20 samples per group: rlemask s |"
    print(header)
    print("|---:|---:|---:|---:|")
    for g in series:
        y, groups = make_multilabel(g, g, 20, seed=1)
        _, ours = timed(lambda: fold_array(MultilabelStratifiedGroupKFold(k), y, groups), args.scale_repeat)
        theirs = "-"
        if have_iterstrat:
            _, t = timed(lambda: iterstrat_folds(y, groups, k), args.scale_repeat)
            theirs = f"{t:.3f}"
        y2, groups2 = make_multilabel(20 * g, g, 20, seed=1)
        _, grouped = timed(lambda: fold_array(MultilabelStratifiedGroupKFold(k), y2, groups2), args.scale_repeat)
        print(f"| {g:,} | {ours:.3f} | {theirs} | {grouped:.3f} |")
    print()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="ignore the real image index")
    parser.add_argument("--seeds", type=int, default=5, help="seeds for shuffle=True (default 5)")
    parser.add_argument("--label-seed", type=int, default=0, help="seed of the label generator")
    parser.add_argument("--repeat", type=int, default=5, help="timing repeats (best of)")
    parser.add_argument("-k", "--n-splits", type=int, default=5)
    parser.add_argument("--scale-repeat", type=int, default=3, help="timing repeats of the scale part (best of)")
    parser.add_argument("--scale-only", action="store_true", help="only the multilabel scale part")
    parser.add_argument("--no-scale", action="store_true", help="skip the multilabel scale part")
    parser.add_argument("--quick", action="store_true", help="scale part at a tenth of the sizes (a smoke run)")
    args = parser.parse_args(argv)
    if args.scale_only:
        scale(args)
        return 0

    index, source = load(args.synthetic)
    y = folds_synthetic_labels(index, seed=args.label_seed)
    groups = index["case"].to_numpy()
    k = args.n_splits
    import sklearn

    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
          f"numpy {np.__version__}, scikit-learn {sklearn.__version__}")
    print(f"workload: {source}: {len(index)} images, {len(np.unique(groups))} cases, {k} folds; "
          f"labels folds_synthetic_labels(seed={args.label_seed}), positive rates "
          + ", ".join(f"{c} {r:.3f}" for c, r in zip(CLASSES, y.mean(axis=0))))
    print()

    targets = {
        "StratifiedGroupKFold, y = number of classes": y.sum(axis=1),
        "StratifiedGroupKFold, y = class combination": y @ (1 << np.arange(y.shape[1])),
    }
    splitters = [("MultilabelStratifiedGroupKFold (rlemask)", None)] + list(targets.items())

    print("| splitter | shuffle | mean std | " + " | ".join(f"std {c}" for c in CLASSES)
          + " | fold sizes (min-max) | partitions |")
    print("|---|---|---:|" + "---:|" * len(CLASSES) + "---|---:|")
    for name, target in splitters:
        for shuffle in (False, True):
            seeds = list(range(args.seeds)) if shuffle else [None]
            stds, sizes, parts = [], [], set()
            for seed in seeds:
                if target is None:
                    fold = fold_array(MultilabelStratifiedGroupKFold(k, shuffle=shuffle, random_state=seed), y, groups)
                else:
                    fold = fold_array(StratifiedGroupKFold(k, shuffle=shuffle, random_state=seed), target, groups)
                stds.append(class_std(y, fold))
                counts = np.bincount(fold)
                sizes += [counts.min(), counts.max()]
                parts.add(partition(fold, groups))
            per_class = np.mean(stds, axis=0)
            label = f"True ({len(seeds)} seeds, mean)" if shuffle else "False"
            print(f"| {name} | {label} | {per_class.mean():.5f} | "
                  + " | ".join(f"{v:.5f}" for v in per_class)
                  + f" | {min(sizes)}-{max(sizes)} | {len(parts)} |")
    print()

    table = index.copy()
    for j, c in enumerate(CLASSES):
        table[c] = np.where(y[:, j] == 1, "1 3", "")
    timings = [
        ("MultilabelStratifiedGroupKFold.split, shuffle=False",
         lambda: fold_array(MultilabelStratifiedGroupKFold(k), y, groups)),
        ("MultilabelStratifiedGroupKFold.split, shuffle=True",
         lambda: fold_array(MultilabelStratifiedGroupKFold(k, shuffle=True, random_state=0), y, groups)),
        ("assign_folds (from the RLE table)", lambda: assign_folds(table, k, random_state=0)),
        ("StratifiedGroupKFold.split, y = class combination",
         lambda: fold_array(StratifiedGroupKFold(k), targets["StratifiedGroupKFold, y = class combination"], groups)),
    ]
    print(f"| task ({len(index)} images) | ms (best of {args.repeat}) |")
    print("|---|---:|")
    for name, fn in timings:
        print(f"| {name} | {best_of(fn, args.repeat) * 1e3:.1f} |")
    print()
    if not args.no_scale:
        scale(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
