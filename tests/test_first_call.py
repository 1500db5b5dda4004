"""Start-up paths (issue 12 part 2): a short string decodes without numba, exactly as the kernel does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rlemask import _kernels as _k
from rlemask import rle
from tests.strategies import rle_strings

SRC = str(Path(__file__).resolve().parents[1] / "src")


@settings(deadline=None)
@example(text="1 " + "9" * 17, strict=True)
@example(text="1 " + "1" * 18, strict=True)
@example(text="1 0000000000000000000001", strict=True)
@example(text="1 2x 3", strict=False)
@example(text="3 2 1 1", strict=True)
@example(text="3 2 1 1", strict=False)
@given(text=rle_strings(30), strict=st.booleans())
def test_the_python_decoder_equals_the_kernel(text, strict):
    data = text.encode("utf-8")  # the wrapper rejects non-ASCII first; the decoders see any bytes
    ours = np.full(30, 7, np.uint8)
    kernel = np.full(30, 7, np.uint8)
    got = rle._decode_py(data, ours, strict)
    want = _k.decode_into(np.frombuffer(data, np.uint8), kernel, strict)
    assert got == tuple(int(v) for v in want)
    np.testing.assert_array_equal(ours, kernel)  # untouched (7) on an error, the mask otherwise


def _run(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=SRC)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_short_decode_imports_no_numba(tmp_path):
    out = tmp_path / "m.npy"
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['rlemask', 'decode', '1 3', '--shape', '2x2', '-o', {str(out)!r}]\n"
        "try:\n    runpy.run_module('rlemask', run_name='__main__')\nexcept SystemExit as e:\n    assert not e.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'pandas', 'PIL', 'scipy')))\n"
    )
    assert _run(code).strip() == "[]"
    np.testing.assert_array_equal(np.load(out), [[1, 1], [1, 0]])


def test_a_process_that_keeps_decoding_gets_the_kernel():
    code = (
        "import sys\nfrom rlemask import rle\n"
        "for i in range(40):\n    assert rle.decode('2 1', (1, 3)).tolist() == [[0, 1, 0]]\n"
        "print('rlemask._kernels' in sys.modules)\n"
    )
    assert _run(code).strip() == "True"


def test_a_bad_short_string_gives_the_kernel_message_without_numba():
    code = (
        "import sys\nfrom rlemask import rle\n"
        "for t in ['1 2 2 1', '1 x', '0 1', '1 5', '1']:\n"
        "    try:\n        rle.decode(t, (2, 2))\n    except rle.InvalidRleError as e:\n        print(e)\n"
        "print('numba' in sys.modules)\n"
    )
    lines = _run(code).splitlines()
    assert lines[-1] == "False"
    expected = []
    for t in ["1 2 2 1", "1 x", "0 1", "1 5", "1"]:
        data = t.encode()
        code_, idx, off = _k.decode_into(np.frombuffer(data, np.uint8), np.zeros(4, np.uint8), True)
        try:
            rle._raise_parse(int(code_), int(idx), int(off), data, (2, 2))
        except rle.InvalidRleError as e:
            expected.append(str(e))
    assert lines[:-1] == expected
