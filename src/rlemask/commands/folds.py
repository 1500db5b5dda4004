"""``rlemask folds``: leak-free, multilabel-stratified folds for a labels CSV.

Reads ``train.csv`` (the competition's long ``id, class, segmentation``
layout, or one row per image with one RLE column per class), assigns each
case to one of ``k`` folds with :func:`rlemask.folds.assign_folds` and writes
one row per image (``id, case, day, slice``, the RLE columns and ``fold``).
Prints, per fold, the number of images and cases and the fraction of images
with a non-empty mask of each class. Heavy imports happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import sys

from rlemask.commands import HelpFormatter, UsageError, add_quiet, escape_formula, read_csv_frame, usage

__all__ = ["register", "run"]

EPILOG = """\
examples:
  rlemask folds train.csv -k 5 -o folds.csv
  rlemask folds train.csv -k 5 -o folds_seed7.csv --seed 7
  rlemask folds train.csv -k 4 --no-shuffle            # print the table only

Every case (all its days and slices) lands in exactly one fold; the positive
fraction of every class is balanced across folds. With shuffling (the
default) each --seed gives a different, equally balanced partition.

'-' is standard input for LABELS and standard output for -o (the fold table
then goes to stderr). Ids are written as they are; --escape-formulas puts a '
before ids starting with =, +, -, @ for a CSV meant for a spreadsheet.

exit codes: 0 success, 2 usage or whole-input error (one line on stderr).
"""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"{value} folds: expected at least 2")
    return value


def register(subparsers) -> None:
    """Add the ``folds`` sub-command."""
    p = subparsers.add_parser(
        "folds",
        help="assign cases to k multilabel-stratified folds (no case in two folds)",
        description="Assign every case of a UWMGI labels CSV to one of k folds, balancing "
        "the share of images with each organ across folds.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument("labels", help="labels CSV: train.csv (id,class,segmentation) or one row per image; - for stdin")
    p.add_argument("-k", "--n-splits", type=_positive_int, default=5, help="number of folds (default 5)")
    p.add_argument("-o", "--out", default=None, help="write one row per image with its fold to this CSV, or - (stdout)")
    p.add_argument("--seed", type=int, default=None, help="random seed of the shuffle (default 42)")
    p.add_argument(
        "--no-shuffle",
        action="store_true",
        help="deterministic partition without a seed (--seed is then not allowed)",
    )
    p.add_argument("--group", default="case", help="column that must not span folds (default: case)")
    p.add_argument(
        "--exclude-bad",
        action="store_true",
        help="drop the scans with known wrong labels (rlemask.uwmgi.BAD_SCANS) first",
    )
    p.add_argument(
        "--escape-formulas",
        action="store_true",
        help="put a ' before ids starting with =, +, -, @ (for spreadsheets; Kaggle wants them verbatim)",
    )
    add_quiet(p, "no fold table or 'wrote' message")
    p.set_defaults(func=run)


def _write_csv(frame, path: str) -> None:
    from rlemask._io import open_output

    with open_output(path, "w", encoding="utf-8", newline="") as fh:
        frame.to_csv(fh, index=False, lineterminator="\n")


def format_summary(summary, classes) -> str:
    """The per-fold table as text, with an ``all`` row and a ``std`` row."""
    header = ["fold", "images", "cases", *classes]
    rows = []
    for k, r in summary.iterrows():
        rows.append([str(k), str(int(r["images"])), str(int(r["groups"])), *(f"{r[c]:.4f}" for c in classes)])
    total_images = int(summary["images"].sum())
    overall = [
        float((summary[c] * summary["images"]).sum() / total_images) if total_images else 0.0 for c in classes
    ]
    rows.append(["all", str(total_images), str(int(summary["groups"].sum())), *(f"{v:.4f}" for v in overall)])
    rows.append(["std", "", "", *(f"{summary[c].std(ddof=0):.4f}" for c in classes)])
    widths = [max(len(header[j]), *(len(r[j]) for r in rows)) for j in range(len(header))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Assign folds to ``args.labels``; return the exit code."""
    if args.no_shuffle and args.seed is not None:
        print("rlemask folds: error: --seed has no effect with --no-shuffle; drop one of them", file=sys.stderr)
        return 2
    if args.out is not None and args.out != "-" and not args.out.lower().endswith(".csv"):
        return usage("folds", f"-o {args.out!r} must end in .csv (or - for standard output)")

    import numpy as np

    from rlemask import uwmgi
    from rlemask.folds import assign_folds, summarize_folds

    from rlemask.errors import RlemaskError

    frame = read_csv_frame(args.labels, "labels file")
    try:
        table = uwmgi.read_labels(frame)
    except RlemaskError as exc:
        name = "standard input" if args.labels == "-" else repr(args.labels)
        raise UsageError(f"labels file {name}: {str(exc).replace('the labels table', 'the table')}") from None
    classes = list(uwmgi.CLASSES)
    if args.exclude_bad:
        key = "case" + table["case"].astype(str) + "_day" + table["day"].astype(str)
        table = table.loc[~key.isin(uwmgi.BAD_SCANS)].reset_index(drop=True)
    shuffle = not args.no_shuffle
    out = assign_folds(
        table,
        args.n_splits,
        classes=classes,
        group=args.group,
        shuffle=shuffle,
        random_state=(42 if args.seed is None else args.seed) if shuffle else None,
    )
    summary = summarize_folds(out, classes=classes, group=args.group)
    info = sys.stderr if args.out == "-" else sys.stdout  # stdout carries the CSV with -o -
    if not args.quiet:
        print(format_summary(summary, classes), file=info)
        spread = float(np.mean([summary[c].std(ddof=0) for c in classes]))
        print(f"mean std of the positive fraction across folds: {spread:.5f}", file=info)
    if args.out is not None:
        if args.escape_formulas:
            out = out.assign(id=out["id"].map(escape_formula))
        _write_csv(out, args.out)
        if not args.quiet and args.out != "-":
            print(f"wrote {len(out)} rows to {args.out}", file=sys.stderr)
    return 0
