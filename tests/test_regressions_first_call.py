"""Fixed regression cases for the numpy / pure-Python twins of the kernels (rlemask._tier).

The twins serve the first small calls of a process and must give the kernel's
result and first error on every input. ``tests/test_first_call.py`` checks that on
generated strings; these cases pin the edges a planted bug in a twin slipped past
(mutation run of issue 11): every byte value inside and around a token (``':'``
right after ``'9'``, ``'/'`` before ``'0'``), numbers of 15 to 17 digits around
``_codes.BIG``, runs ending exactly on, and one past, the last pixel, zero
lengths, runs out of order by one pixel.
"""

from __future__ import annotations

import numpy as np
import pytest

from rlemask import _kernels as _k
from rlemask import rle

N = 30  # pixels


def _same(text: bytes, strict: bool) -> None:
    ours = np.full(N, 7, np.uint8)
    kernel = np.full(N, 7, np.uint8)
    got = rle._decode_py(text, ours, strict)
    want = _k.decode_into(np.frombuffer(text, np.uint8), kernel, strict, np.empty(len(text) // 2 + 1, np.int64))
    assert got == tuple(int(v) for v in want), text
    np.testing.assert_array_equal(ours, kernel, err_msg=repr(text))


@pytest.mark.parametrize("strict", [True, False])
def test_every_byte_inside_and_around_a_token(strict):
    for b in range(256):
        c = bytes([b])
        for text in (b"1" + c + b" 2", b"1 2" + c, c + b"1 2", b"1 " + c + b"2", b"3 " + c):
            _same(text, strict)


@pytest.mark.parametrize("strict", [True, False])
def test_numbers_around_the_parser_limit(strict):
    for digits in ("9" * 15, "9" * 16, "1" + "0" * 15, "1" + "0" * 16, "0" * 20 + "5", str(10**16 - 1), str(10**16)):
        for text in (f"1 {digits}", f"{digits} 1", f"1 1 {digits} 2"):
            _same(text.encode(), strict)


@pytest.mark.parametrize("strict", [True, False])
def test_runs_on_the_edges(strict):
    texts = [
        f"{N} 1", f"{N} 2", f"{N + 1} 0", f"{N + 1} 1", f"1 {N}", f"1 {N + 1}", f"2 {N - 1}", f"2 {N}", "0 1", "1 0",
        "1 2 3 4", "1 2 2 4", "1 2 4 4", "5 2 1 1", "5 2 6 1", "5 2 7 1", "1 1 3 1 5 1", "1 1 3 1 2 1", "3 0 3 2",
        f"1 1 {N} 1", f"1 1 {N} 2", "",
    ]
    for text in texts:
        _same(text.encode(), strict)
