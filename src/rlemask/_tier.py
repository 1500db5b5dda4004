"""Which implementation serves a call: numpy for the first small calls of a process, then numba.

A numba kernel costs its process about a second before it runs, even with a
warm disk cache (``import numba`` and numba's target set-up), and a cold cache
adds its compile time (0.3-2 s per kernel). A short-lived process (a CLI call,
a notebook cell scoring one mask) would spend nearly all its time there. So the
first few small calls of a process, made while a kernel module is not yet
imported, run a numpy (or pure Python) twin of the kernel with the same result
and the same first error; after ``CALLS`` of them, or on the first large
input, the kernel module is imported and every later call uses it.
Property tests check each twin against its kernel (``tests/test_first_call.py``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# inputs above this many bytes always go to the kernels (the twins are 3-30x slower)
SMALL_BYTES = 1 << 20
# small calls a process may make before it loads the kernel module anyway
CALLS = 16
_left: dict[str, int] = {}


def use_twin(module: str, nbytes: int) -> bool:
    """True when this call should run the numpy twin of a kernel of ``module``.

    ``module`` is the kernel module's full name (``"rlemask._kernels"``); each
    True answer uses up one of its ``CALLS`` calls.
    """
    if nbytes > SMALL_BYTES or module in sys.modules:
        return False
    left = _left.get(module, CALLS)
    if left <= 0:
        return False
    _left[module] = left - 1
    return True


# Serial or parallel build of a parallel kernel: a call on a small input runs the
# serial build (waking the thread pool costs more than it saves). Chosen per thread
# here, never with numba.set_num_threads: with numba's OpenMP layer that changes
# the OpenMP thread count torch shares in the same process.
_serial = threading.local()


@contextmanager
def serial(on: bool = True) -> Iterator[None]:
    """Within the block, this thread's parallel kernels run their serial builds (when ``on``)."""
    before = getattr(_serial, "on", False)
    _serial.on = before or on
    try:
        yield
    finally:
        _serial.on = before


def is_serial() -> bool:
    """Whether this thread is inside :func:`serial`."""
    return getattr(_serial, "on", False)
