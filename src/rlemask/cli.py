"""The ``rlemask`` command line.

Exit codes: 0 success, 1 some rows failed (each named on stderr), 2 usage
error (bad arguments, unreadable input, missing optional dependency) or a
file system / out-of-memory error, reported on one line without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser"]

# Modules that register sub-commands, in the order they appear in --help.
# rlemask_models.commands must not import torch at import time: its commands
# explain which install fixes a missing 'models' extra.
_COMMAND_MODULES = (
    "rlemask.commands.codec",
    "rlemask.commands.score",
    "rlemask.commands.folds",
    "rlemask.commands.describe",
    "rlemask_models.commands",
)

EPILOG = """\
examples:
  rlemask decode "28094 3 28358 7" --shape 266x266 -o mask.png
  rlemask decode train.csv --images ROOT --out masks/
  rlemask encode masks/ -o train_rle.csv
  rlemask score --truth train.csv --pred submission.csv --images ROOT
  rlemask folds train.csv -k 5 -o folds.csv
  rlemask demo --out demo_out

Run 'rlemask COMMAND --help' for the options of each command.
"""


def build_parser() -> argparse.ArgumentParser:
    from rlemask import __version__

    parser = argparse.ArgumentParser(
        prog="rlemask",
        description="Run-length masks, metrics, folds and UWMGI models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rlemask {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a module not written yet
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    from rlemask.errors import RlemaskError

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except RlemaskError as exc:
        print(f"rlemask {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError as exc:
        detail = f": {exc}" if str(exc) else ""
        print(f"rlemask {args.command}: error: out of memory{detail}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreadable input, full disk, output path that is a folder, ...
        print(f"rlemask {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rlemask {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
