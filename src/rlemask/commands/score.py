"""``rlemask score``: the UW-Madison GI Tract competition score of a prediction.

Prints the per-class table (Dice, normalised 3-D Hausdorff, score) and writes
it as CSV or JSON with ``-o`` (the suffix picks the format). Heavy imports
happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import os
import sys

from rlemask.commands import HelpFormatter, UsageError, add_quiet, read_csv_frame, usage

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

'-' is standard input for one of --truth / --pred, and standard output for -o
(CSV unless --format json; the table then goes to stderr).

exit codes: 0 success, 2 usage or whole-input error (one line on stderr).
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
        formatter_class=HelpFormatter,
    )
    p.add_argument("--truth", required=True, help="truth CSV (train.csv layout, or one row per image), or -")
    p.add_argument("--pred", required=True, help="prediction CSV (id,class,predicted submission, or one row per image), or -")
    p.add_argument("--images", default=None, help="image root folder, or a CSV with id,height,width")
    p.add_argument("-o", "--out", default=None, help="write the table to this .csv or .json file, or - (standard output)")
    p.add_argument("--format", choices=("csv", "json"), default=None, help="format of -o (default: its suffix; csv for -)")
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
    add_quiet(p, "no 'wrote' message on stderr")
    p.set_defaults(func=run)


def _write(path: str, text: str) -> None:
    from rlemask._io import open_output

    with open_output(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def _frame(path: str, what: str):
    from rlemask.errors import RlemaskError
    from rlemask.uwmgi import read_labels

    frame = read_csv_frame(path, what)
    try:
        read_labels(frame, missing="empty")  # checks the layout; the message names the file
    except RlemaskError as exc:
        name = "standard input" if path == "-" else repr(path)
        raise UsageError(f"{what} {name}: {str(exc).replace('the labels table', 'the table')}") from None
    return frame


def run(args: argparse.Namespace) -> int:
    """Score ``--pred`` against ``--truth``; return the exit code."""
    import json

    from rlemask.metrics import uwmgi_score

    if args.truth == "-" and args.pred == "-":
        return usage("score", "--truth and --pred cannot both be standard input")
    for name in ("truth", "pred"):
        path = getattr(args, name)
        if path != "-" and not os.path.isfile(path):
            return usage("score", f"--{name} {path!r} is not a file")
    if args.images is not None and not os.path.exists(args.images):
        return usage("score", f"--images {args.images!r} does not exist")
    out = args.out
    fmt = args.format
    if out is not None and fmt is None:
        if out == "-":
            fmt = "csv"
        elif out.lower().endswith((".csv", ".json")):
            fmt = out.lower().rsplit(".", 1)[1]
        else:
            return usage("score", f"-o {out!r} must end in .csv or .json (or give --format)")
    truth = _frame(args.truth, "--truth")
    pred = _frame(args.pred, "--pred")
    info = sys.stderr if out == "-" else sys.stdout  # stdout carries the data with -o -

    report = uwmgi_score(
        truth,
        pred,
        images=args.images,
        empty=args.empty,
        hausdorff_classes=args.hausdorff_classes,
        normalize=args.normalize,
        direction=args.direction,
    )
    print(report, file=info)
    if args.per_scan:
        print(file=info)
        print(report.per_scan.to_string(index=False, float_format=lambda v: f"{v:.6f}"), file=info)
    if out is not None:
        if fmt == "json":
            text = json.dumps(report.to_dict(), indent=2, allow_nan=False) + "\n"
        else:
            text = report.per_class.to_csv(index=False, float_format="%.10g", lineterminator="\n")
        _write(out, text)
        if not args.quiet and out != "-":
            print(f"wrote {out}", file=sys.stderr)
    return 0
