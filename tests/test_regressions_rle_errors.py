"""Fixed regression cases for the structured fields and texts of run errors (mutation run of issue 11).

Callers read ``InvalidRleError.run``, ``.token`` and ``.offset`` instead of parsing
messages, so each field is pinned for a run past the first (where ``2 * run``,
``run`` and ``run - 1`` differ). Mutants killed here (``tests/mutation/run.py --id``):
``rle::_parse_reason::2 -> 1#...`` (the token of a run), ``rle::from_runs::1 -> 2#3``
(the previous run's length in the out-of-order message of ``from_runs``).
"""

from __future__ import annotations

import numpy as np
import pytest

from rlemask import InvalidRleError, decode, from_runs


@pytest.mark.parametrize(
    "text, run, token, offset, message",
    [
        # run 2 starts at pixel 3, before run 1 (5..6) ends
        ("1 1 5 2 3 1", 2, 4, 2, "run 2 (start=3, length=1) starts before run 1 (start=5, length=2) ends at pixel 6"),
        # run 1 (8..12) ends past the 9 pixels
        ("1 1 8 5", 1, 2, 7, "run 1 (start=8, length=5) ends at pixel 12, past the 9 pixels"),
        # run 2 has start 0
        ("1 1 3 1 0 1", 2, 4, None, "run 2 (start=0, length=1) has start < 1"),
    ],
)
def test_run_errors_carry_the_run_its_first_token_and_its_offset(text, run, token, offset, message):
    with pytest.raises(InvalidRleError) as info:
        decode(text, (3, 3))
    err = info.value
    assert (err.run, err.token, err.offset) == (run, token, offset)
    assert message in str(err)


def test_from_runs_out_of_order_names_the_previous_run_exactly():
    with pytest.raises(InvalidRleError) as info:
        from_runs(np.array([2, 6, 4]), np.array([1, 2, 3]), (3, 3))
    assert info.value.run == 2
    assert "run 2 (start=4, length=3) starts before run 1 (start=6, length=2) ends at pixel 7" in str(info.value)


@pytest.mark.parametrize("text, token, offset", [("1\u00e9 2", 0, 1), ("12\u00e9 2", 0, 2), ("1 \u00e9", 1, 2), ("\u00e9 2", 0, 0)])
def test_a_non_ascii_character_inside_a_token_names_that_token(text, token, offset):
    """``rle::_ascii::0 -> 1#0``: the character right after the first one (pos == 1) belongs to token 0."""
    with pytest.raises(InvalidRleError) as info:
        decode(text, (3, 3))
    assert (info.value.token, info.value.offset) == (token, offset)


def test_the_preview_of_a_bad_string_keeps_60_characters():
    """``rle::_preview``: 60 characters are shown whole, 61 cut to the first 60 and '...'
    (the ``limit`` default, ``<=`` and the slice bound)."""
    sixty = "1" + " 1" * 27 + " 1111"  # 29 tokens: odd
    sixty_one = "1" + " 1" * 29 + " 5"  # 31 tokens: odd
    assert (len(sixty), len(sixty_one)) == (60, 61)
    for text, shown in [(sixty, repr(sixty)), (sixty_one, repr(sixty_one[:60] + "..."))]:
        with pytest.raises(InvalidRleError, match="odd number of tokens") as info:
            decode(text, (100, 100))
        assert f" in {shown}; expected" in str(info.value)
