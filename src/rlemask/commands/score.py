"""``rlemask score``: the UW-Madison GI Tract competition score of a prediction.

Prints the per-class table (Dice, normalised 3-D Hausdorff, score) and writes
it as CSV or JSON with ``-o`` (the suffix picks the format). Heavy imports
happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["register", "run"]

EPILOG = """\
examples:
  rlemask score --truth train.csv --pred submission.csv --images ROOT
  rlemask score --truth train.csv --pred submission.csv --images image_index.csv -o score.json
  rlemask score --truth val.csv --pred val_pred.csv --images ROOT --empty skip --normalize unit

--images gives the image sizes: the image root (its train/caseN/... tree is
scanned), or a CSV with id, height, width columns. It is not needed when the
truth table has height and width columns. Prediction rows missing for an image
are empty predictions; prediction ids that are not in the truth are an error.
"""


def _empty(text: str):
    if text == "skip":
        return "skip"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not 1, 0 or skip") from None
    if value not in (0.0, 1.0):
        raise argparse.ArgumentTypeError(f"{text!r} is not 1, 0 or skip")
    return value


def register(subparsers) -> None:
    """Add the ``score`` sub-command."""
    p = subparsers.add_parser(
        "score",
        help="score a prediction like the UWMGI competition (0.4 Dice + 0.6 (1 - 3-D Hausdorff))",
        description="Score a prediction like the UW-Madison GI Tract competition: "
        "0.4 * mean Dice over image x class rows + 0.6 * (1 - mean 3-D Hausdorff "
        "distance per case-day and class, divided by the volume diagonal).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--truth", required=True, help="truth CSV (train.csv layout, or one row per image)")
    p.add_argument("--pred", required=True, help="prediction CSV (id,class,predicted submission, or one row per image)")
    p.add_argument("--images", default=None, help="image root folder, or a CSV with id,height,width")
    p.add_argument("-o", "--out", default=None, help="write the table to this .csv or .json file")
    p.add_argument(
        "--empty",
        type=_empty,
        default=1.0,
        help="score of a pair of empty masks: 1 (default), 0 or skip (left out of means)",
    )
    p.add_argument(
        "--hausdorff-classes",
        choices=("per_class", "merged"),
        default="per_class",
        help="one Hausdorff per class (default) or on the union of the classes",
    )
    p.add_argument(
        "--normalize",
        choices=("diagonal", "unit"),
        default="diagonal",
        help="divide by the volume diagonal (default) or scale the volume to the unit cube",
    )
    p.add_argument(
        "--direction",
        choices=("symmetric", "pred_to_truth", "truth_to_pred"),
        default="symmetric",
        help="symmetric Hausdorff (default) or a one-sided distance",
    )
    p.add_argument("--per-scan", action="store_true", help="also print the per case-day table")
    p.set_defaults(func=run)


def _atomic_write(path: str, text: str) -> None:
    from rlemask._io import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def run(args: argparse.Namespace) -> int:
    """Score ``--pred`` against ``--truth``; return the exit code."""
    import json

    from rlemask.metrics import uwmgi_score

    for name in ("truth", "pred"):
        path = getattr(args, name)
        if not os.path.isfile(path):
            print(f"rlemask score: error: --{name} {path!r} is not a file", file=sys.stderr)
            return 2
    if args.images is not None and not os.path.exists(args.images):
        print(f"rlemask score: error: --images {args.images!r} does not exist", file=sys.stderr)
        return 2
    out = args.out
    if out is not None and not out.lower().endswith((".csv", ".json")):
        print(f"rlemask score: error: -o {out!r} must end in .csv or .json", file=sys.stderr)
        return 2

    report = uwmgi_score(
        args.truth,
        args.pred,
        images=args.images,
        empty=args.empty,
        hausdorff_classes=args.hausdorff_classes,
        normalize=args.normalize,
        direction=args.direction,
    )
    print(report)
    if args.per_scan:
        print()
        print(report.per_scan.to_string(index=False, float_format=lambda v: f"{v:.6f}"))
    if out is not None:
        if out.lower().endswith(".json"):
            text = json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
        else:
            text = report.per_class.to_csv(index=False, float_format="%.10g", lineterminator="\n")
        _atomic_write(out, text)
        print(f"wrote {out}", file=sys.stderr)
    return 0
