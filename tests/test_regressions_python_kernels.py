"""The pure-Python stand-ins of the numba intrinsics in ``rlemask._kernels`` equal the compiled ones.

The mutation harness's ``--python-kernels`` mode runs every kernel as plain
Python (``NUMBA_DISABLE_JIT=1``), where an ``@intrinsic`` cannot run; each has a
stand-in, used only in that mode. These cases pin that the stand-ins give the
compiled results on the defined inputs (trailing zeros of every bit, unaligned
8-byte loads from arrays and ``bytes``, the uint64 view, ``memset`` ranges), and
that the undefined ones (out of bounds, ctz of 0) raise ``IndexError``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from numba import njit

from rlemask import _kernels as _k

BUF = np.frombuffer(bytes(range(7, 7 + 40)) + b"1234567 89 \xff\x80", np.uint8).copy()
VALUES = [1 << b for b in range(64)] + [3, 0x8000000000000001, 0xFFFFFFFFFFFFFFFF, 0x0101010101010100]

_CHILD = r"""
import json, sys
import numpy as np
from rlemask import _kernels as _k
from numba.core import config
assert config.DISABLE_JIT
buf = np.array(json.loads(sys.argv[1]), np.uint8)
values = json.loads(sys.argv[2])
out = {"ctz": [int(_k._ctz(np.uint64(v))) for v in values],
       "load": [int(_k._load64(buf, i)) for i in range(buf.size - 7)],
       "load_bytes": [int(_k._load64(bytes(buf), i)) for i in range(buf.size - 7)],
       "u64": [int(x) for x in _k._u64(buf[:-3])]}
a = np.zeros(20, np.uint8)
_k._memset(a, 3, 11, 1)
_k._memset(a, 5, 5, 2)
out["memset"] = a.tolist()
errors = []
for call in (lambda: _k._ctz(np.uint64(0)), lambda: _k._load64(buf, buf.size - 7), lambda: _k._load64(buf, -1),
             lambda: _k._memset(a, 4, 3, 1), lambda: _k._memset(a, 0, 21, 1), lambda: _k._memset(a, -1, 2, 1)):
    try:
        call()
        errors.append("none")
    except IndexError as exc:
        errors.append("IndexError" + (" stand-in" if "stand-in" in str(exc) else ""))
out["errors"] = errors
print(json.dumps(out))
"""


@njit
def _compiled(buf, values, n_load):
    ctz = np.empty(values.size, np.int64)
    for i in range(values.size):
        ctz[i] = _k._ctz(values[i])
    load = np.empty(n_load, np.uint64)
    for i in range(n_load):
        load[i] = _k._load64(buf, i)
    a = np.zeros(20, np.uint8)
    _k._memset(a, 3, 11, 1)
    _k._memset(a, 5, 5, 2)
    return ctz, load, _k._u64(buf[:-3]).copy(), a


def test_stand_ins_equal_the_compiled_intrinsics():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(BUF.tolist()), json.dumps(VALUES)], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    py = json.loads(proc.stdout)
    ctz, load, u64, a = _compiled(BUF, np.array(VALUES, np.uint64), BUF.size - 7)
    assert py["ctz"] == ctz.tolist() == [(v & -v).bit_length() - 1 for v in VALUES]
    assert py["load"] == py["load_bytes"] == [int(x) for x in load]
    assert py["load"][1] == int.from_bytes(bytes(BUF[1:9]), "little")  # unaligned, little-endian
    assert py["u64"] == [int(x) for x in u64] and len(u64) == (BUF.size - 3) // 8
    assert py["memset"] == a.tolist() == [0] * 3 + [1] * 8 + [0] * 9
    assert py["errors"] == ["IndexError stand-in"] * 6


def test_stand_ins_exist_only_without_jit():
    # compiled runs use the intrinsics themselves (no Python function under those names)
    for name in ("_memset", "_ctz", "_u64", "_load64"):
        assert type(getattr(_k, name)).__name__ == "_Intrinsic", name
