"""Fixed regression cases for the structured fields and texts of run errors (mutation run of issue 11).

Callers read ``InvalidRleError.run``, ``.token`` and ``.offset`` instead of parsing
messages, so each field is pinned for a run past the first (where ``2 * run``,
``run`` and ``run - 1`` differ), and the bounds of dialect strings (``base=``,
``relative=``, ``empty_token=``) sit on their edges. Mutants killed here
(``tests/mutation/run.py --id``): ``rle::_parse_reason::2 -> 1#...`` (the token of a
run), ``rle::from_runs::1 -> 2#3`` (the previous run's length in the out-of-order
message of ``from_runs``), ``rle::_ascii::0 -> 1#0``, ``rle::_preview::...``,
``rle::_dialect_pairs::...`` (named in each test's docstring).
"""

from __future__ import annotations

import numpy as np
import pytest

from rlemask import InvalidRleError, area, decode, decode_many, from_runs


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


# ----------------------------------------------------------------------------------
# dialect strings (base=, relative=, empty_token=): the bounds of rle._dialect_pairs
# ----------------------------------------------------------------------------------


def test_a_number_of_exactly_n_plus_1_is_a_run_past_the_end_not_a_huge_number():
    """``pairs > bound`` with bound = n + 1 (``>=``, ``> bound + 1`` mutants), the shape in the message."""
    with pytest.raises(InvalidRleError, match=r"run 0 \(start=0, length=10\) covers pixels 0\.\.9 \(0-based\), past the 9"):
        decode("0 10", (3, 3), base=0)
    with pytest.raises(InvalidRleError) as info:
        decode("0 11", (3, 3), base=0)
    assert "run 0 (start=0, length=11) holds a number above 10, past the 9 pixels of shape=(3, 3)" in str(info.value)


@pytest.mark.parametrize("text, run", [("1 1 1 99 1 99", 1), ("1 1 1 1 1 99", 2), ("1 99 1 1 1 99", 0)])
def test_the_first_huge_number_names_its_run(text, run):
    """``r = big[0] // 2`` (``big[-1]``, ``// 3`` mutants)."""
    with pytest.raises(InvalidRleError) as info:
        decode(text, (3, 3), base=0)
    assert (info.value.run, info.value.token) == (run, 2 * run)


def test_the_first_start_below_1_names_its_run():
    """``bad[0]`` of the starts below the base (``bad[-1]`` mutant), on the dialect path (empty_token=)."""
    with pytest.raises(InvalidRleError, match=r"run 1 \(start=0, length=1\) has start < 1") as info:
        decode("1 1 0 1 0 1", (3, 3), empty_token="-1")
    assert info.value.run == 1


def _relative_summing_to(total: int, pairs: int = 462) -> str:
    """``pairs`` relative (offset, 1) pairs whose numbers add up to ``total`` (each below 10**16)."""
    q, rest = divmod(total - pairs, pairs)
    offsets = [q + 1] * rest + [q] * (pairs - rest)
    assert max(offsets) < 10**16
    return " ".join(f"{o} 1" for o in offsets)


def test_relative_offsets_adding_up_to_2_62_are_fine_and_past_it_are_not():
    """The int64 guard of relative strings: the sum of every number may reach 2**62, not pass it
    (``>= float(1 << 62)``, ``1 << 61``, ``1 << 63`` and ``2 << 62`` mutants, and the ``1 << 62``
    pixel bound of ``check_runs`` without a shape)."""
    assert area(_relative_summing_to(2**62), relative=True) == 462
    with pytest.raises(InvalidRleError, match="add up past the int64 range") as info:
        area(_relative_summing_to(2**62 + 4096), relative=True)
    assert info.value.run == 0  # the error names the first run (``fail(0, ...)`` moved to -1 or 1)


def test_runs_out_of_order_in_a_dialect_name_where_the_previous_run_ends():
    """``prev_end`` of the out-of-order message of ``_dialect_pairs`` (every index and constant of it):
    run 1 covers 0-based pixels 5..7; pairs chosen so that every neighbouring entry differs."""
    with pytest.raises(InvalidRleError) as info:
        decode("1 1 6 3 5 1", (3, 3), empty_token="-1")
    assert (info.value.run, info.value.offset) == (2, 4)
    assert "run 2 (start=5, length=1) starts at pixel 4 (0-based), before run 1 ends at pixel 7;" in str(info.value)


def test_decode_many_reports_a_bad_item_just_before_a_non_ascii_one():
    """``decode_many(items[:j])`` before the non-ASCII item j (``items[:j - 1]`` mutant): the
    batch raises the error of the first bad item, here the one right before the non-ASCII one."""
    with pytest.raises(InvalidRleError) as info:
        decode_many(["1 1", "5 99", "1\u00e9"], (3, 3))
    assert (info.value.item, info.value.run) == (1, 0)
    assert "past the 9 pixels" in str(info.value)


@pytest.mark.parametrize("field", ["starts", "lengths"])
def test_from_runs_rejects_unsigned_values_past_int64_and_keeps_the_largest_int64(field):
    """``int(v.max()) > np.iinfo(np.int64).max`` for unsigned input (``!=``, ``>=``, ``+ 1`` mutants)."""
    big = {"starts": np.array([2**63], np.uint64), "lengths": np.array([1], np.uint64)}
    if field == "lengths":
        big = {"starts": np.array([1], np.uint64), "lengths": np.array([2**63], np.uint64)}
    with pytest.raises(InvalidRleError, match=f"{field} holds a value above the int64 range"):
        from_runs(big["starts"], big["lengths"], (3, 3))
    # the largest int64 converts, and is then a run past the end
    with pytest.raises(InvalidRleError, match=r"run 0 \(start=9223372036854775807, length=1\) ends at pixel"):
        from_runs(np.array([2**63 - 1], np.uint64), np.array([1], np.uint64), (3, 3))


@pytest.mark.parametrize("text", ["3 2 1 1", "1 2 2 2"])
def test_area_of_a_dialect_string_rejects_unsorted_and_overlapping_runs(text):
    """``area`` validates strictly on the dialect path too (``True -> False`` of its strict argument)."""
    with pytest.raises(InvalidRleError, match="runs must be sorted and non-overlapping"):
        area(text, empty_token="-1")
    with pytest.raises(InvalidRleError, match="runs must be sorted and non-overlapping"):
        area(text)
