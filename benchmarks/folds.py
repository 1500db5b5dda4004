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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="ignore the real image index")
    parser.add_argument("--seeds", type=int, default=5, help="seeds for shuffle=True (default 5)")
    parser.add_argument("--label-seed", type=int, default=0, help="seed of the label generator")
    parser.add_argument("--repeat", type=int, default=5, help="timing repeats (best of)")
    parser.add_argument("-k", "--n-splits", type=int, default=5)
    args = parser.parse_args(argv)

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
