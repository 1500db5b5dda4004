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
``rlemask.metrics.uwmgi_score`` (truth first); then the mean and spread over seeds.
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
#: the CPU demo's model (rlemask_models.commands.CPU_DEMO)
DEMO = {"encoder": "resnet18", "size": 128, "epochs": 7, "batch_size": 8, "lr": 2e-3}


def training_rows(table: pd.DataFrame, fold: int, policy: str | float, seed: int) -> int:
    """How many training slices ``policy`` keeps (the data module's own selection)."""
    from rlemask_models.data import select_slices

    return len(select_slices(table[table["fold"] != fold], policy, seed=seed))


def train_and_predict(root: Path, out: Path, *, fold: int, policy: str | float, seed: int,
                      epochs: int, model: dict[str, Any]) -> pd.DataFrame:
    """Train one policy; return the validation fold's prediction (one row per image).

    The only function that touches the training API (``rlemask_models.train.fit`` and
    ``rlemask_models.predict.predict``).
    """
    from rlemask_models.predict import predict
    from rlemask_models.train import TrainConfig, fit

    cfg = TrainConfig(
        data=str(root), out=str(out / "checkpoints"), fold=fold, encoder=model["encoder"],
        size=(model["size"], model["size"]), epochs=epochs, batch_size=model["batch_size"],
        lr=model["lr"], warmup=0.5, seed=seed, bn_momentum=0.1, empty=policy, cache=True,
        progress=False,
    )
    result = fit(cfg)
    predict(result.files["best"], root, out / "submission.csv", fold=fold, batch_size=model["batch_size"])
    return uwmgi.read_labels(out / "submission.csv", missing="empty")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="UWMGI folder (default: the demo's built-in data)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the built-in data")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--epochs", type=int, default=DEMO["epochs"], help="epochs of the keep policy")
    parser.add_argument("--size", type=int, default=DEMO["size"])
    parser.add_argument("--encoder", default=DEMO["encoder"])
    parser.add_argument("--out", type=Path, default=None, help="keep checkpoints and submissions here")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    model = dict(DEMO, size=args.size, encoder=args.encoder)
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
                pred = train_and_predict(root, work / f"{policy}_seed{seed}", fold=args.fold, policy=policy,
                                         seed=seed, epochs=epochs, model=model)
                pred = pred.set_index("id").reindex(truth["id"]).fillna("").reset_index()[["id", *CLASSES]]
                results.append({"policy": str(policy), "seed": seed, "train slices": n, "epochs": epochs,
                                **score(truth, pred)})
                print(f"  {policy} seed {seed}: {results[-1]}", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - start

    frame = pd.DataFrame(results)
    metrics = ["dice", "dice on organ rows", "fp rate on empty rows", "score"]
    print("#### Empty training slices: keep / drop / keep half\n")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"data: {root} ({len(table)} slices); validation fold {args.fold}: {len(truth)} slices, all kept; "
          f"model {model['encoder']} UNet {model['size']}x{model['size']}, {args.epochs} epochs for keep "
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
