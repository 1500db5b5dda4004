"""Atomic file output shared by the CLI, the core and the model adapters.

Every output is written to a temporary file in the destination folder, flushed to disk
(``fsync``) and renamed over the target with :func:`os.replace`, so a crash, a bad row,
Ctrl-C or ``kill -9`` never leaves a half-written target: it holds either its old content
or the new one.

Temporary files
---------------
A temporary file is named ``.rlemask-tmp-<16 hex digits>.tmp`` (:data:`TEMP_PREFIX`):

* its length does not depend on the target's name, so every target name the file system
  accepts (up to ``NAME_MAX`` bytes, usually 255) can be written;
* the writing process holds an exclusive ``flock`` on it while it exists. The lock dies with
  the process, even under ``kill -9``, so the first write of a later run into the same folder
  removes every temporary file whose lock it can take (:func:`clean_stale_temps`): nothing
  outlives a killed run for longer than the next run, and the temporary files of a run that
  is still going are never touched. Where ``flock`` is not available (Windows, some network
  file systems) stale files are left alone rather than risk removing a live one.
"""

from __future__ import annotations

import errno
import io
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "TEMP_PREFIX",
    "atomic_path",
    "atomic_open",
    "write_atomic",
    "open_output",
    "clean_stale_temps",
    "check_name",
    "name_max",
]

#: start of the name of every temporary file (in the destination folder)
TEMP_PREFIX = ".rlemask-tmp-"
_TEMP_SUFFIX = ".tmp"
#: folders whose stale temporary files this process already removed
_cleaned: set[str] = set()


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _lock(fd: int) -> bool | None:
    """Take an exclusive lock on ``fd`` without waiting: True taken, False held elsewhere, None unsupported."""
    if fcntl is None:  # pragma: no cover - Windows
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # ENOLCK, EOPNOTSUPP: a file system without flock
        return None
    return True


def clean_stale_temps(folder: str | os.PathLike[str]) -> int:
    """Remove the temporary files that a killed run left in ``folder``; return how many.

    Only files named ``.rlemask-tmp-*`` whose ``flock`` can be taken are removed: the
    process that wrote them is gone. Files of a run still writing are locked and kept.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            if _lock(fd) is True and os.stat(entry.path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _clean_once(folder: Path) -> None:
    key = os.fspath(folder.resolve())
    if key not in _cleaned:
        _cleaned.add(key)
        clean_stale_temps(folder)


def _create_temp(folder: Path) -> tuple[int, Path]:
    """A new locked temporary file in ``folder``: its open descriptor and its path."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = folder / f"{TEMP_PREFIX}{secrets.token_hex(8)}{_TEMP_SUFFIX}"
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue
        _lock(fd)
        try:  # a cleaner of another process may have removed it before the lock was taken
            same = os.stat(tmp, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd, tmp
        os.close(fd)  # pragma: no cover - a race of microseconds
    raise FileExistsError(errno.EEXIST, f"cannot create a temporary file in {str(folder)!r}")  # pragma: no cover


def name_max(folder: str | os.PathLike[str]) -> int:
    """The longest file name (in bytes) the file system of ``folder`` (or its nearest existing parent) accepts."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return int(os.pathconf(path, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no pathconf (Windows)
        return 255


def check_name(path: str | os.PathLike[str]) -> None:
    """Raise a clear ``OSError`` / ``ValueError`` when ``path``'s file name cannot be created.

    The checks: no NUL character, encodable in the file system's encoding, at most
    :func:`name_max` bytes.
    """
    target = Path(path)
    name = target.name
    if "\0" in os.fspath(path):
        raise ValueError(f"file name {name!r} holds a NUL character, which no file name can hold")
    try:
        size = len(os.fsencode(name))
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"file name {name!r} cannot be encoded for the file system ({exc.reason})"
        ) from None
    limit = name_max(target.parent)
    if size > limit:
        raise OSError(
            errno.ENAMETOOLONG,
            f"file name is {size} bytes, more than the {limit} the file system allows: {name[:40]!r}...",
        )


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` when the block succeeds.

    The parent folder is created. On any exception the temporary file is removed and
    ``path`` is left as it was. Before the rename the file is flushed to disk with
    ``fsync`` (``fsync=False`` skips it, for scratch output). Use it for writers that want
    a path (``torch.save``, ``PIL.Image.save``, ``Figure.savefig``); pass the format
    explicitly, since the temporary name ends in ``.tmp``. See the module docstring for
    how temporary files of a killed run are cleaned up.

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
    _clean_once(target.parent)
    fd, tmp = _create_temp(target.parent)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # the temporary file is 0600
        if fsync:
            _fsync_path(tmp)  # by path: the writer may have replaced the file
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    finally:
        os.close(fd)  # releases the lock


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


@contextmanager
def open_output(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """:func:`atomic_open`, except that ``"-"`` is standard output (left open, flushed at the end).

    In text mode ``encoding`` and ``newline`` apply to standard output too.
    """
    if os.fspath(path) != "-":
        with atomic_open(path, mode, **kwargs) as f:
            yield f
        return
    sys.stdout.flush()
    binary = sys.stdout.buffer
    if "b" in mode:
        yield binary
        binary.flush()
        return
    text = io.TextIOWrapper(
        binary,
        encoding=kwargs.get("encoding") or "utf-8",
        errors=kwargs.get("errors") or "strict",
        newline=kwargs.get("newline"),
        write_through=True,
    )
    try:
        yield text
        text.flush()
    finally:
        text.detach()  # keep sys.stdout's buffer open
