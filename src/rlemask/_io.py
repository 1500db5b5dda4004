"""Atomic file output shared by the CLI, the core and the model adapters.

Every output is written to a temporary file in the destination folder and renamed over
the target with :func:`os.replace`, so a crash, a bad row or Ctrl-C never leaves a
half-written file behind: the target holds either its old content or the new one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_path", "atomic_open", "write_atomic"]


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` when the block succeeds.

    The parent folder is created. On any exception the temporary file is removed and
    ``path`` is left as it was. Use it for writers that want a path (``torch.save``,
    ``PIL.Image.save``, ``Figure.savefig``); pass the format explicitly, since the
    temporary name ends in ``.tmp``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``open(path, mode)`` that only replaces ``path`` when the block succeeds."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes a new file: mode={mode!r}, expected 'w', 'wb' or 'wt'")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def write_atomic(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(file)`` on a temporary binary file next to ``path``, then rename it to ``path``."""
    with atomic_open(path, "wb") as f:
        write(f)
