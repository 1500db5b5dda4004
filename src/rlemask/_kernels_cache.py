"""Where the numba kernels of rlemask cache their machine code; imported first by every ``_kernels*`` module.

numba caches a ``cache=True`` function in the ``__pycache__`` folder next to
its source, or, when that folder is not writable (a read-only install, a
system package), in the user-wide folder ``~/.cache/numba`` (``$XDG_CACHE_HOME``).
When neither is writable (a read-only home in a container) numba refuses to
compile the function at all ("no locator available"); in that one case the
cache goes to a per-user folder under the temporary directory instead, set
through ``numba.config.CACHE_DIR`` before any kernel is declared.
``NUMBA_CACHE_DIR``, when set, always wins.
"""

from __future__ import annotations

import os
import tempfile


def _writable(path: str) -> bool:
    """``path`` exists or can be made, and a file can be created in it (numba's own test)."""
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def fallback_dir(package_dir: str, user_dir: str, env: dict) -> str | None:
    """The cache folder to force, or None when numba finds a writable one itself."""
    if env.get("NUMBA_CACHE_DIR"):
        return None
    if _writable(os.path.join(package_dir, "__pycache__")) or _writable(user_dir):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"rlemask-numba-cache-{uid}")


def _user_dir() -> str:
    from numba.misc.appdirs import AppDirs

    return AppDirs(appname="numba", appauthor=False).user_cache_dir


def configure() -> None:
    """Point numba at a writable cache folder when its own choices are not writable."""
    from numba.core import config

    if config.CACHE_DIR:
        return
    path = fallback_dir(os.path.dirname(os.path.abspath(__file__)), _user_dir(), dict(os.environ))
    if path is not None:
        config.CACHE_DIR = path


configure()
