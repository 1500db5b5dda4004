"""Sub-commands of the ``rlemask`` command line, and what they share.

Each module exposes ``register(subparsers)``, which adds its sub-commands and
sets ``func`` on each parser. ``func(args) -> int`` returns the exit code:
0 success, 1 some rows/items failed (named on stderr), 2 usage or whole-input
error (one line on stderr). Heavy imports (pandas, torch) happen inside
``func``, never at import time.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from rlemask.errors import RlemaskError

__all__ = [
    "HelpFormatter",
    "UsageError",
    "add_quiet",
    "usage",
    "report",
    "read_input",
    "read_csv_frame",
    "parse_size",
    "format_size",
    "default_max_memory",
    "escape_formula",
    "FORMULA_START",
]


class UsageError(RlemaskError):
    """A whole-input or usage problem of a command: one line on stderr, exit code 2."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Raw description/epilog; ``(default: X)`` added only where it says something.

    Not added when the help already names its default, for required options, for
    flags (``store_true``) and for ``None`` defaults.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text.lower()
            or action.required
            or action.default is None
            or action.default is argparse.SUPPRESS
            or isinstance(action.default, bool)
            or not action.option_strings
            or action.nargs == 0
        ):
            return text
        value = action.default
        if isinstance(value, (tuple, list)):
            value = ",".join(str(v) for v in value)
        return f"{text} (default: {value})" if text else f"(default: {value})"


def add_quiet(parser: argparse.ArgumentParser, help: str = "no progress bar or informational messages") -> None:
    """Add ``-q/--quiet``."""
    parser.add_argument("-q", "--quiet", action="store_true", help=help)


def usage(command: str, message: str) -> int:
    """Print ``rlemask COMMAND: error: MESSAGE`` (one line) and return 2."""
    report(command, f"error: {message}")
    return 2


def report(command: str, message: str) -> None:
    """Print ``rlemask COMMAND: MESSAGE`` on stderr, on one line.

    Characters that cannot be encoded (the surrogates of a file name that is not UTF-8)
    are written as backslash escapes.
    """
    text = f"rlemask {command}: {one_line(message)}"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    print(text, file=sys.stderr, flush=True)


def one_line(text: str) -> str:
    """``text`` with its line breaks replaced by ``" | "`` (an error is one line on stderr)."""
    return re.sub(r"\s*[\r\n]+\s*", " | ", str(text).strip())


def read_input(path: str, what: str, *, allow_nul: bool = False) -> str:
    """The text of a UTF-8 file, or of standard input for ``"-"``.

    Raises :class:`UsageError` (one line) for a missing, unreadable, empty, binary or
    non-UTF-8 file (``allow_nul=True`` lets NUL characters through, for callers that
    report them per row). A UTF-8 byte order mark is dropped.
    """
    name = "standard input" if path == "-" else repr(path)
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except FileNotFoundError:
        raise UsageError(f"{what} {name} not found") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {name} is a folder; expected a CSV file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {name}: {exc.strerror or exc}") from None
    if not data.strip():
        raise UsageError(f"{what} {name} is empty; expected a CSV file with a header line")
    if not allow_nul and b"\0" in data[:65536]:
        raise UsageError(f"{what} {name} is a binary file (it holds NUL bytes); expected a UTF-8 CSV file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(
            f"{what} {name} is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line}; "
            "save it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def read_csv_frame(path: str, what: str):
    """:func:`read_input` parsed by pandas as strings (empty cells stay ``""``)."""
    import io

    import pandas as pd

    text = read_input(path, what)
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:  # EmptyDataError is a ValueError
        name = "standard input" if path == "-" else repr(path)
        raise UsageError(f"cannot read {what} {name} as CSV: {one_line(str(exc))}") from None


_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"1.5GiB"`` or a plain number of bytes, as bytes (powers of 1024)."""
    m = _SIZE_RE.fullmatch(text)
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; expected bytes or a number with K, M, G or T, e.g. 8G")
    power = "kmgtp".index(m[2].lower()) + 1 if m[2] else 0
    value = float(m[1]) * 1024**power
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive size")
    return int(value)


def format_size(n: float) -> str:
    """Bytes as a short human size: ``'1.5 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def default_max_memory() -> int:
    """Half of the physical memory, at most 8 GiB (4 GiB where it cannot be read)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 4 * 1024**3
    return int(min(8 * 1024**3, total // 2))


#: first characters that make a spreadsheet read a cell as a formula (OWASP's list)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value: str) -> str:
    """``value`` with a ``'`` in front when a spreadsheet would run it as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value
