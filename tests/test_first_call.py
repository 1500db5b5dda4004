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
    want = _k.decode_into(np.frombuffer(data, np.uint8), kernel, strict, np.empty(len(data) // 2 + 1, np.int64))
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
        code_, idx, off = _k.decode_into(np.frombuffer(data, np.uint8), np.zeros(4, np.uint8), True, np.empty(8, np.int64))
        try:
            rle._raise_parse(int(code_), int(idx), int(off), data, (2, 2))
        except rle.InvalidRleError as e:
            expected.append(str(e))
    assert lines[:-1] == expected


# ----------------------------------------------------------------------------------
# numpy twins of the encode, dice and Hausdorff kernels (rlemask._tier)
# ----------------------------------------------------------------------------------


@st.composite
def _flat_masks(draw, max_size=80, bad=True):
    n = draw(st.integers(0, max_size))
    values = st.integers(0, 3) if bad and draw(st.booleans()) else st.integers(0, 1)
    flat = np.array(draw(st.lists(values, min_size=n, max_size=n)), np.uint8)
    return flat


@settings(deadline=None)
@example(flat=np.zeros(0, np.uint8))
@example(flat=np.ones(17, np.uint8))
@example(flat=np.array([2] + [0] * 15, np.uint8))
@example(flat=np.array([0] * 15 + [1, 0, 3], np.uint8))
@given(flat=_flat_masks())
def test_the_numpy_encoder_equals_the_kernel(flat):
    code, value = rle._encode_np(flat)
    buf = np.empty(1024, np.uint8)
    want_code, want_value = _k.encode_into(flat, buf)
    assert code == want_code
    assert value == (buf[:want_value].tobytes().decode() if want_code == 0 else want_value)


@st.composite
def _volumes(draw, max_side=9):
    shape = tuple(draw(st.lists(st.integers(1, max_side), min_size=3, max_size=3)))
    size = int(np.prod(shape))
    density = draw(st.sampled_from([0.05, 0.3, 0.7]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    a = (rng.random(size) < density).astype(np.uint8).reshape(shape)
    b = (rng.random(size) < density / 2).astype(np.uint8).reshape(shape)
    return a, b


def _twin(monkeypatch, on: bool):
    from rlemask import _tier

    monkeypatch.setattr(_tier, "use_twin", lambda module, nbytes: on)


@settings(deadline=None)
@given(pair=_volumes(), spacing=st.sampled_from([None, (1.0, 1.0, 1.0), (3.0, 1.5, 1.5), (0.7, 1.3, 2.9)]),
       directed=st.booleans())
def test_the_numpy_hausdorff_dice_and_box_equal_the_kernels(pair, spacing, directed):
    import pytest

    from rlemask import metrics
    from rlemask.metrics import _distance

    a, b = pair
    results = []
    for on in (True, False):
        with pytest.MonkeyPatch.context() as mp:
            _twin(mp, on)
            results.append((
                metrics.hausdorff(a, b, spacing=spacing, directed=directed),
                metrics.dice(a, b, empty="skip").tolist(),
                metrics.iou(a, b).tolist(),
                _distance.bbox_union(a, b, twin=on),
            ))
    (h_np, d_np, i_np, (c_np, box_np)), (h_k, d_k, i_k, (c_k, box_k)) = results
    if spacing in (None, (1.0, 1.0, 1.0), (3.0, 1.5, 1.5)):  # exact in binary floating point: the same number
        assert h_np == h_k
    else:
        assert h_np == h_k or abs(h_np - h_k) <= 1e-12 * h_k
    np.testing.assert_array_equal(d_np, d_k)
    np.testing.assert_array_equal(i_np, i_k)
    np.testing.assert_array_equal(c_np, c_k)
    assert tuple(int(x) for x in box_np) == tuple(int(x) for x in box_k)


def test_bad_values_give_the_kernel_message_through_the_twins(monkeypatch):
    from rlemask import metrics

    mask = np.zeros((4, 5), np.uint8)
    mask[2, 3] = 7
    messages = []
    for on in (True, False):
        _twin(monkeypatch, on)
        for call in (lambda: rle.encode(mask), lambda: metrics.dice(np.zeros_like(mask), mask)):
            with __import__("pytest").raises(rle.InvalidMaskError) as info:
                call()
            messages.append(str(info.value))
    assert messages[:2] == messages[2:]
    assert messages[0].startswith("mask[2, 3] = 7;")


def test_first_small_calls_of_the_four_import_no_numba():
    code = (
        "import sys\nimport numpy as np\nimport rlemask\n"
        "m = np.zeros((266, 266), np.uint8); m[60:120, 70:150] = 1\n"
        "text = rlemask.encode(m)\n"
        "assert (rlemask.decode(text, (266, 266)) == m).all()\n"
        "assert rlemask.dice(m, m) == 1.0\n"
        "print(rlemask.hausdorff(m, np.roll(m, 7, axis=1)))\n"
        "print('numba' in sys.modules)\n"
    )
    assert _run(code).split() == ["7.0", "False"]


def test_large_inputs_and_later_calls_use_the_kernels():
    code = (
        "import sys\nimport numpy as np\nimport rlemask\n"
        "big = np.zeros((2048, 1024), np.uint8)\n"
        "rlemask.dice(big, big)\n"
        "print('rlemask._kernels_metrics' in sys.modules)\n"
        "m = np.zeros((20, 20), np.uint8)\n"
        "for _ in range(40):\n    rlemask.encode(m)\n"
        "print('rlemask._kernels' in sys.modules)\n"
    )
    assert _run(code).split() == ["True", "True"]
