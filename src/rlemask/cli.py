"""The ``rlemask`` command line.

Exit codes (docs/cli.md): 0 success; 1 some rows or files failed (each named on
stderr, the rest written); 2 usage or whole-input error, reported on one line
without a traceback (bad arguments, unreadable input, missing optional
dependency, out of memory, file system error, and any unexpected error);
130 interrupted (Ctrl-C); 141 standard output closed early (``| head``), like
any Unix tool killed by SIGPIPE.

``main`` is the safety net of every sub-command, the model commands included:
no Python traceback reaches a user. Set ``RLEMASK_DEBUG=1`` to see it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILED_ITEMS", "EXIT_USAGE", "EXIT_INTERRUPTED", "EXIT_PIPE"]

EXIT_OK = 0
EXIT_FAILED_ITEMS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool whose reader went away

#: environment variable that lets tracebacks through (for developers)
DEBUG_ENV = "RLEMASK_DEBUG"

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
  rlemask decode "28094 3 28358 7" --shape 266x266 -o - --format text
  rlemask decode train.csv --images ROOT --out masks/
  rlemask encode masks/ -o train_rle.csv
  rlemask score --truth train.csv --pred submission.csv --images ROOT
  rlemask folds train.csv -k 5 -o folds.csv
  rlemask demo --out demo_out

'-' is standard input or output wherever a file is read or written.
exit codes: 0 ok, 1 some rows failed (named on stderr, the rest written),
2 usage or whole-input error, 130 interrupted, 141 output pipe closed.
Run 'rlemask COMMAND --help' for the options of each command.
"""


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _complete(parser: argparse.ArgumentParser, version: str) -> None:
    """Give a sub-command parser what every command has: ``--version``, ``-q/--quiet``, ``-o/--out``.

    ``-q`` and ``-o`` / ``--out`` are added as aliases where a command has only ``--quiet``,
    ``--out`` or ``--output``. Also sets the help formatter that shows a default only where
    it says something.
    """
    from rlemask.commands import HelpFormatter

    parser.formatter_class = HelpFormatter
    for action in parser._actions:  # help texts of generated parsers: no "(default: None)", one default
        if action.help and action.help is not argparse.SUPPRESS:
            text = re.sub(r"\s*\(default:? None\)", "", action.help)
            first = text.find("default")
            if first >= 0:
                text = text[: first + 7] + re.sub(r"\s*\(default:? [^)]*\)", "", text[first + 7 :])
            action.help = text
    for action in parser._actions:  # argparse prints no default for an option without help
        if action.help is None and action.option_strings and action.nargs != 0:
            if action.default is not None and not isinstance(action.default, bool):
                action.help = f"(default: {action.default})"
    taken = parser._option_string_actions  # argparse keeps no public lookup of option strings
    if "--version" not in taken:
        parser.add_argument("--version", action="version", version=version)
    if "-q" not in taken and "--quiet" not in taken:
        parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or informational messages")
    # one spelling everywhere: -q/--quiet, -o/--out (a command's own spelling keeps working)
    for existing, alias in (("--quiet", "-q"), ("--output", "--out"), ("--out", "-o"), ("--output", "-o")):
        action = taken.get(existing)
        if action is not None and alias not in taken:
            action.option_strings.insert(0 if alias.startswith("-") and not alias.startswith("--") else 1, alias)
            taken[alias] = action


def build_parser() -> argparse.ArgumentParser:
    from rlemask import __version__

    version = f"rlemask {__version__}"
    parser = argparse.ArgumentParser(
        prog="rlemask",
        description="Run-length masks, metrics, folds and UWMGI models.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a module not written yet
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    for sub in subparsers.choices.values():
        _complete(sub, version)
    return parser


def _error_line(command: str, message: str) -> None:
    from rlemask.commands import one_line

    try:
        prog = f"rlemask {command}" if command else "rlemask"
        text = f"{prog}: error: {one_line(message)}".encode("utf-8", "backslashreplace").decode("utf-8")
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed too: nothing left to tell
        pass


def _stdout_gone() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - stdout without a descriptor
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (see the module docstring)."""
    import warnings

    with warnings.catch_warnings():
        if not _debug():  # a warning is one line too, without the source line it points at
            warnings.showwarning = _show_warning
        return _main(argv)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from rlemask.commands import one_line

    prog = f"rlemask {_running}" if _running else "rlemask"
    try:
        print(f"{prog}: warning: {one_line(f'{category.__name__}: {message}')}", file=file or sys.stderr)
    except (OSError, ValueError):  # pragma: no cover - stderr closed
        pass


#: the sub-command being run, for warnings
_running = ""


def _main(argv: Sequence[str] | None) -> int:
    global _running
    command = _running = ""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = _running = getattr(args, "command", None) or ""
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.func(args))
    except SystemExit:  # argparse's usage errors (2), --help and --version (0)
        raise
    except KeyboardInterrupt:
        _error_line(command, "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (| head): stop quietly
        _stdout_gone()
        return EXIT_PIPE
    except BaseException as exc:  # the safety net: one line, never a traceback
        if _debug():
            raise
        _error_line(command, _describe(exc))
        return EXIT_USAGE


def _describe(exc: BaseException) -> str:
    from rlemask.errors import RlemaskError

    if isinstance(exc, RlemaskError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory" + (f": {exc}" if str(exc) else "")
    if isinstance(exc, OSError):  # unreadable input, full disk, output path that is a folder, ...
        return str(exc)
    if isinstance(exc, ImportError):
        return f"{exc}; is the package installed with the extra this command needs?"
    return (
        f"unexpected {type(exc).__name__}: {exc} "
        f"(a bug in rlemask: please report it; run with {DEBUG_ENV}=1 for the traceback)"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
