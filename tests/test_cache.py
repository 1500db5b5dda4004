"""The numba cache works where the package folder is read-only (issue 12: first call)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rlemask import _kernels_cache

SRC = str(Path(__file__).resolve().parents[1] / "src")

# runs in a child process: the in-tree __pycache__ of rlemask is made unusable
# (as on a read-only install; chmod does not stop root, so numba's check is patched)
_CHILD = r"""
import os, sys
from numba.core import caching
real = caching.InTreeCacheLocator.ensure_cache_path
def refuse(self):
    if "rlemask" in self.get_cache_path():
        raise PermissionError("read-only install")
    return real(self)
caching.InTreeCacheLocator.ensure_cache_path = refuse
from rlemask import _kernels, rle
assert rle.decode("2 1", (1, 2)).tolist() == [[0, 1]]
stats = _kernels.decode_into.stats
print(stats.cache_hits.__len__(), stats.cache_misses.__len__())
"""


def _child(tmp_path: Path, **env: str) -> tuple[int, int]:
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environ.update(PYTHONPATH=SRC, XDG_CACHE_HOME=str(tmp_path / "cache"), HOME=str(tmp_path), **env)
    done = subprocess.run([sys.executable, "-c", _CHILD], env=environ, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    hits, misses = done.stdout.split()
    return int(hits), int(misses)


def test_read_only_install_caches_in_the_user_folder(tmp_path):
    assert _child(tmp_path) == (0, 1)  # compiled once ...
    saved = list((tmp_path / "cache" / "numba").rglob("*decode_into*.nbi"))
    assert saved, "no cache index in the user-wide folder"
    assert _child(tmp_path) == (1, 0)  # ... and loaded from there by the next process


def test_fallback_only_when_nothing_is_writable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")  # folders under a regular file cannot be made, even by root
    pkg, user = str(tmp_path / "pkg"), str(tmp_path / "user")
    assert _kernels_cache.fallback_dir(pkg, user, {}) is None
    assert _kernels_cache.fallback_dir(str(blocker / "pkg"), user, {}) is None  # numba uses the user folder
    forced = _kernels_cache.fallback_dir(str(blocker / "pkg"), str(blocker / "user"), {})
    assert forced is not None and "rlemask-numba-cache" in forced
    assert _kernels_cache.fallback_dir(str(blocker / "pkg"), str(blocker / "user"), {"NUMBA_CACHE_DIR": "/x"}) is None
