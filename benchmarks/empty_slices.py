"""Empty training slices: keep them, drop them, or keep half — does dropping them overfit?

Usage::

    python benchmarks/empty_slices.py                       # demo data and model, seeds 0 1 2
    python benchmarks/empty_slices.py --seeds 0 --epochs 2  # a quick check that it runs
    python benchmarks/empty_slices.py --data ROOT --fold 1  # any UWMGI folder

The seed project reported that dropping the slices with no organ from training
overfits (the model then paints organs on every slice) and that keeping them scores
better.  This script trains the demo's model once per policy — ``keep``, ``drop`` and
``0.5`` (every labelled slice and half of the empty ones, drawn with the seed) — on the
same fold, with the same seed and the same budget, and validates every model on *all*
slices of the validation fold.

Budget: the same number of training images seen (optimizer steps x batch size) for
every policy; a policy with fewer training slices gets proportionally more epochs
(``epochs x n_keep / n_policy``, rounded), so dropping slices is not also a shorter run.

Per policy and seed it reports dice (every image x class row, an empty pair scores 1),
dice on organ rows (truth not empty), the false-positive rate on empty rows (share of
empty-truth rows with a non-empty prediction) and the competition score, all with
``rlemask.metrics.uwmgi_score`` (truth first); then the mean and spread over seeds.  When the
demo model tunes its threshold and minimum area on the training folds (``tune``), the
``raw`` columns also give the best epoch's validation metrics as logged during training
(threshold 0.5, no minimum area), so the effect of the policy on the network itself shows.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import CLASSES, score  # noqa: E402

from rlemask import uwmgi  # noqa: E402

POLICIES: tuple[str | float, ...] = ("keep", "drop", 0.5)
#: training-log metric -> column: the best epoch at the training threshold, without tuned post-processing
RAW = {"dice": "dice", "dice_present": "dice on organ rows", "fp_empty_rate": "fp rate on empty rows",
       "score": "score"}


def demo_model() -> dict[str, Any]:
    """The CPU demo's training settings (``rlemask_models.demo``), the one source of them."""
    from rlemask_models.demo import preset

    return {k: v for k, v in preset(gpu=False).items() if k != "out"}


def training_rows(table: pd.DataFrame, fold: int, policy: str | float, seed: int) -> int:
    """How many training slices ``policy`` keeps (the data module's own selection)."""
    from rlemask_models.data import select_slices

    return len(select_slices(table[table["fold"] != fold], policy, seed=seed))


def train_and_predict(root: Path, out: Path, *, fold: int, policy: str | float, seed: int,
                      epochs: int, model: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Train one policy; return the validation fold's prediction (one row per image) and the
    best epoch's validation metrics as logged while training (before ``tune``'s post-processing).

    The only function that touches the training API (``rlemask_models.training.fit_fold``
    and ``rlemask_models.inference.predict``).
    """
    from rlemask_models.config import TrainConfig
    from rlemask_models.inference import predict
    from rlemask_models.training import fit_fold

    cfg = TrainConfig(**{**model, "data": str(root), "out": str(out / "checkpoints"), "fold": fold,
                         "epochs": epochs, "seed": seed, "empty": policy, "quiet": True})
    result = fit_fold(cfg)
    predict([result.best], root, out / "submission.csv", fold=fold, batch_size=cfg.batch_size)
    raw = {f"raw {name}": result.metrics[key] for key, name in RAW.items()}
    return uwmgi.read_labels(out / "submission.csv", missing="empty"), raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="UWMGI folder (default: the demo's built-in data)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the built-in data")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the keep policy (default: the demo's)")
    parser.add_argument("--size", type=int, default=None, help="input size (default: the demo's)")
    parser.add_argument("--encoder", default=None, help="encoder (default: the demo's)")
    parser.add_argument("--out", type=Path, default=None, help="keep checkpoints and submissions here")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    model = demo_model()
    model.update({k: v for k, v in {"epochs": args.epochs, "encoder": args.encoder,
                                     "size": args.size and (args.size, args.size)}.items() if v})
    args.epochs = model["epochs"]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        root = args.data
        if root is None:
            from rlemask_models import synthetic

            root = synthetic.generate(work / "data", seed=args.data_seed)
        from baselines import load

        table = load(root, fold=args.fold)
        truth = table.loc[table["val"], ["id", "height", "width", *CLASSES]].reset_index(drop=True)
        results = []
        start = time.perf_counter()
        for seed in args.seeds:
            n_keep = training_rows(table, args.fold, "keep", seed)
            for policy in POLICIES:
                n = training_rows(table, args.fold, policy, seed)
                epochs = max(1, round(args.epochs * n_keep / max(n, 1)))
                pred, raw = train_and_predict(root, work / f"{policy}_seed{seed}", fold=args.fold, policy=policy,
                                         seed=seed, epochs=epochs, model=model)
                pred = pred.set_index("id").reindex(truth["id"]).fillna("").reset_index()[["id", *CLASSES]]
                results.append({"policy": str(policy), "seed": seed, "train slices": n, "epochs": epochs,
                                **score(truth, pred), **raw})
                print(f"  {policy} seed {seed}: {results[-1]}", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - start

    frame = pd.DataFrame(results)
    metrics = ["dice", "dice on organ rows", "fp rate on empty rows", "score"]
    if model.get("tune"):  # the predictions are post-processed: also show the raw validation
        metrics += [f"raw {m}" for m in metrics]
    print("#### Empty training slices: keep / drop / keep half\n")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"data: {root} ({len(table)} slices); validation fold {args.fold}: {len(truth)} slices, all kept; "
          f"model {model['encoder']} UNet {model['size'][0]}x{model['size'][1]}, {args.epochs} epochs for keep "
          f"(same images seen for every policy); seeds {args.seeds}; {seconds:.0f} s\n")
    print("| policy | train slices | epochs | " + " | ".join(metrics) + " |")
    print("|---|---:|---:|" + "---:|" * len(metrics))
    for policy, part in frame.groupby("policy", sort=False):
        cells = []
        for m in metrics:
            v = part[m].to_numpy()
            cells.append(f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else ""))
        print(f"| {policy} | {int(part['train slices'].mean())} | {int(part['epochs'].mean())} | " + " | ".join(cells) + " |")
    print("\nper seed:\n")
    print(frame.to_markdown(index=False, floatfmt=".3f") if _has_tabulate() else frame.to_string(index=False))
    keep, drop = frame[frame["policy"] == "keep"], frame[frame["policy"] == "drop"]
    diff = keep["score"].to_numpy() - drop["score"].to_numpy()
    print(f"\nkeep - drop score per seed: {np.round(diff, 3).tolist()} "
          f"({'keep better on every seed' if (diff > 0).all() else 'drop better on every seed' if (diff < 0).all() else 'not separated'})")
    return 0


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
