"""``rlemask describe``: tables and figures that summarise a UWMGI-shaped data set.

Heavy imports happen inside :func:`run`.
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["register", "run"]

EPILOG = """\
examples:
  rlemask describe ROOT -o report/
  rlemask describe train.csv --images image_index.csv -o report/
  rlemask describe submission.csv -o report/ --no-figures

ROOT is a folder holding train.csv (and usually train/caseN/...), or a labels
CSV. Without an image folder the tables come from the CSV alone; --images adds
sizes (a CSV with id, height, width[, path]). Rows with a malformed RLE or
without an image are named on stderr and left out (exit code 1).
"""


def register(subparsers) -> None:
    """Add the ``describe`` sub-command."""
    p = subparsers.add_parser(
        "describe",
        help="summarise a data set: classes, areas, scans, sizes, on/off runs, figures",
        description="Write report.md, stats.json and PNG figures (with matplotlib) that describe "
        "a UWMGI folder or labels CSV.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("root", help="UWMGI folder with train.csv, or a labels CSV")
    p.add_argument("-o", "--out", default="report", help="output folder (default: report)")
    p.add_argument("--images", default=None, help="image folder, or a CSV with id,height,width[,path]")
    p.add_argument("--samples", type=int, default=3, help="original/mask/overlay panels (default 3)")
    p.add_argument("--no-figures", action="store_true", help="write the tables only")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Describe ``args.root``; return the exit code."""
    from rlemask import eda

    if not os.path.exists(args.root):
        print(f"rlemask describe: error: {args.root!r} does not exist", file=sys.stderr)
        return 2
    if args.samples < 0:
        print(f"rlemask describe: error: --samples {args.samples} must be >= 0", file=sys.stderr)
        return 2
    s = eda.survey(args.root, images=args.images)
    if s.labels.empty:
        print(f"rlemask describe: error: no usable rows in {s.source!r}", file=sys.stderr)
        for where, reason in s.bad[:20]:
            print(f"rlemask describe: bad row {where}: {reason}", file=sys.stderr)
        return 2
    stats = eda.write_report(s, args.out, figures=not args.no_figures, samples=args.samples)
    for where, reason in s.bad:
        print(f"rlemask describe: bad row {where}: {reason}", file=sys.stderr)
    if not args.quiet:
        o = stats["overview"]
        print(f"{o['images']} images, {o['segmented rows']} segmented rows, {o['cases']} cases, "
              f"{o['scans (case-days)']} scans -> {os.path.join(args.out, 'report.md')}")
        if isinstance(stats["figures"], str):
            print(stats["figures"])
    return 1 if s.bad else 0
