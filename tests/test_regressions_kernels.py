"""Fixed cases for the run finders of ``rlemask._kernels`` (mutation run of issue 11, ``--python-kernels``).

A value other than 0 and 1 inside an 8-byte word that also holds ones: the
word scan sees a high bit and hands the word to ``_first_bad``, which must name
the first value above 1, not the first non-zero byte
(``_kernels::_first_bad::1 -> 0#0``). Every position of the bad value inside
the word, ones before and after it, every entry point that scans words.
"""

from __future__ import annotations

import numpy as np
import pytest

from rlemask import coco, rle
from rlemask.errors import InvalidMaskError


@pytest.mark.parametrize("where", range(8))
@pytest.mark.parametrize("ones", ["before", "after", "around"])
def test_the_bad_value_is_named_not_the_first_one(where, ones):
    m = np.zeros((3, 16), np.uint8)
    if ones in ("before", "around"):
        m[1, 8 : 8 + where] = 1
    if ones in ("after", "around"):
        m[1, 9 + where : 16] = 1
    m[1, 8 + where] = 2
    at = rf"\[1, {8 + where}\] = 2"
    for call in (rle.runs, rle.encode, coco.encode):
        with pytest.raises(InvalidMaskError, match=rf"^mask{at};"):
            call(m)
    with pytest.raises(InvalidMaskError, match=rf"^masks\[1\]{at};"):
        rle.encode_many([np.zeros_like(m), m])


def _text(m: np.ndarray) -> str:
    """Reference encoding (column of 1-based starts and lengths, row-major)."""
    flat = np.concatenate([[0], m.reshape(-1), [0]]).astype(np.int8)
    d = np.flatnonzero(np.diff(flat))
    return " ".join(f"{s + 1} {e - s}" for s, e in zip(d[::2], d[1::2]))


@pytest.mark.parametrize("n", [8 * 226, 8 * 300 + 3])
@pytest.mark.parametrize("background", [0, 1])
def test_a_lone_pixel_after_a_long_stretch_of_whole_words(n, background):
    """``_skip`` jumps over whole words of the skipped value in blocks of 4, 32 and 128 words: a
    lone different pixel on the first and last byte of every word is found
    (``_kernels::_skip::128 -> 129#3``: the word after a 128-word block was skipped unchecked)."""
    for p in sorted({q for k in range(n // 8) for q in (8 * k, 8 * k + 7)} | {n - 1}):
        m = np.full((1, n), background, np.uint8)
        m[0, p] = 1 - background
        want = _text(m)
        assert rle.encode(m) == want, p
        starts, lengths = rle.runs(m)
        assert " ".join(f"{s} {l}" for s, l in zip(starts, lengths)) == want, p


@pytest.mark.parametrize("start", [0, 3, 7])
@pytest.mark.parametrize("bad", [8, 9, 15, 16, 23])
def test_a_bad_value_met_while_looking_for_the_end_of_a_run(start, bad):
    """A run that starts in one 8-byte word and meets a value above 1 in a later word: the
    start is found cleanly, the bad value only by the search for the run's end
    (``_kernels::_next_run::return (a, b, ...) -> (b, a, ...)#1``: swapped, the offset became
    a start and the mask was accepted)."""
    flat = np.zeros(32, np.uint8)
    flat[start:bad] = 1
    flat[bad] = 2
    mask = flat.reshape(2, 16)
    at = rf"\[{bad // 16}, {bad % 16}\] = 2"
    for call in (rle.runs, rle.encode, coco.encode):
        with pytest.raises(InvalidMaskError, match=rf"^mask{at};"):
            call(mask)
