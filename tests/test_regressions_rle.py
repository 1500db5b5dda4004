"""Fixed regression cases for the run-length codec, from mutation testing (issue 11).

Each test pins a boundary or an error contract that a planted bug slipped past
before: bytes just outside the digit and whitespace ranges, the last pixels of
a span decoded into a garbage-filled ``out=``, a bad value at offset 0, a
negative width, two bad items in one batch, ``pd.NaT``, non-0/1 values such as
1.5 or 256. The mutant each one kills is named in its docstring
(``python tests/mutation/run.py --id ...``, see docs/testing.md).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rlemask import InvalidMaskError, InvalidRleError, area, decode, decode_many, encode, encode_many, from_runs, runs

DIGITS = set(range(48, 58))
WHITESPACE = {9, 10, 11, 12, 13, 32}


# ----------------------------------------------------------------------------------
# the tokenizer: bytes just outside '0'..'9' and the whitespace range
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("byte", sorted(set(range(1, 128)) - DIGITS - WHITESPACE))
def test_every_other_ascii_byte_is_junk(byte):
    """Kills ``_parse``: ``d > 9 -> d > 10`` (':' read as a digit), ``d < 0 -> d < -1``
    ('/'), ``c <= 13 -> c <= 14`` and ``c >= 9 -> c >= 8`` (control bytes read as
    whitespace), ``c == 32 -> c == 33``."""
    ch = chr(byte)
    for text, token, offset in ((f"1{ch}2 3", 0, 1), (f"1 2{ch}", 1, 3), (f"{ch}1 2", 0, 0)):
        with pytest.raises(InvalidRleError, match="not an ASCII decimal integer") as info:
            decode(text, (4, 4))
        assert (info.value.token, info.value.offset) == (token, offset), text
        with pytest.raises(InvalidRleError) as info:
            area(text)
        assert info.value.token == token
        with pytest.raises(InvalidRleError, match=r"rles\[1\]"):
            decode_many(["1 1", text], (4, 4))


@pytest.mark.parametrize("byte", sorted(WHITESPACE))
def test_every_whitespace_byte_separates_tokens(byte):
    ch = chr(byte)
    expected = decode("1 2 5 3", (4, 4))
    for text in (f"1{ch}2{ch}5{ch}3", f"{ch}1 2 5{ch}{ch}3{ch}"):
        np.testing.assert_array_equal(decode(text, (4, 4)), expected)
        np.testing.assert_array_equal(decode_many([text], (4, 4))[0], expected)
        assert area(text) == 5


def test_non_ascii_bytes_are_junk_too():
    for byte in (128, 185, 255):
        with pytest.raises(InvalidRleError) as info:
            decode(b"1 2" + bytes([byte]), (4, 4))
        assert (info.value.token, info.value.offset) == (1, 3)


def test_digits_per_token_limit():
    """17 digits still parse (the run is then past the end), 18 are "too large".

    Kills ``_BIG = 10**16 -> 10**17 / 10**15`` and ``v >= _BIG -> v > _BIG``."""
    seventeen = "9" * 17
    assert area(f"1 {seventeen}") == int(seventeen)
    assert area(f"{'0' * 30}1 {'0' * 25}7") == 7  # leading zeros are not digits that count
    assert area("1 " + "1" + "0" * 16) == 10**16
    with pytest.raises(InvalidRleError, match="ends at pixel") as info:
        decode(f"1 {seventeen}", (4, 4))
    assert info.value.run == 0
    for text, token in ((f"1 {seventeen}9", 1), (f"{seventeen}9 1", 0)):
        with pytest.raises(InvalidRleError, match="too large") as info:
            decode(text, (4, 4))
        assert info.value.token == token
        with pytest.raises(InvalidRleError, match="too large"):
            area(text)


# ----------------------------------------------------------------------------------
# writing into out=: every byte, the last pixels of a span included
# ----------------------------------------------------------------------------------

SHAPES = [(1, 9), (3, 5), (8, 8), (4, 17)]


def _texts_ending_near_the_end(n):
    """Runs that end on the last, second-to-last and third-to-last pixel."""
    texts = []
    for end in (n, n - 1, n - 2):
        for length in (1, 2):
            start = end - length + 1
            if start >= 1:
                texts.append(f"{start} {length}")
                if start > 2:
                    texts.append(f"1 1 {start} {length}")
    return texts


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", SHAPES)
def test_decode_into_garbage_out_near_the_last_pixel(shape, order):
    """Kills ``_fill``: ``out[pos:n] = 0`` bounds off by one."""
    n = shape[0] * shape[1]
    for text in _texts_ending_near_the_end(n):
        expected = decode(text, shape, order=order)
        for strict in (True, False):
            for out in (np.full(shape, 7, np.uint8), np.asfortranarray(np.full(shape, 9, np.uint8))):
                got = decode(text, shape, order=order, strict=strict, out=out)
                assert got is out
                np.testing.assert_array_equal(out, expected, err_msg=f"{text!r} strict={strict}")


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", SHAPES)
def test_decode_many_into_garbage_out_near_the_end_of_a_span(shape, order, parallel, monkeypatch):
    """Kills ``_fill_span``: ``end > pos -> end > pos + 1`` / ``>=`` and ``_set``'s
    ``hi > lo`` bounds: the zeros after a run that ends on the second-to-last
    pixel of the last mask of a span, in the serial and the parallel kernel."""
    if parallel:
        monkeypatch.setattr("rlemask.rle._PARALLEL_PIXELS", 0)
    n = shape[0] * shape[1]
    texts = _texts_ending_near_the_end(n)
    batches = [texts, texts[::-1], ["", *texts[:2]], [texts[1], "", ""], [texts[1]], [texts[1], texts[1], texts[1]]]
    for items in batches:
        expected = np.stack([decode(t, shape, order=order) for t in items])
        for strict in (True, False):
            out = np.full((len(items), *shape), 7, np.uint8)
            got = decode_many(items, shape, order=order, strict=strict, out=out)
            assert got is out
            np.testing.assert_array_equal(out, expected, err_msg=f"{items} strict={strict}")
            # the fresh (zeroed) result too
            np.testing.assert_array_equal(decode_many(items, shape, order=order, strict=strict), expected)


# ----------------------------------------------------------------------------------
# bad mask values: offset 0, and values that are not 0/1 in every dtype
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (8, 8), (2, 13)])
def test_bad_value_at_offset_zero(shape, order):
    """Kills ``_gather``'s ``e <= -2`` and the ``-1 - offset`` / ``-2 - offset``
    encodings at offset 0 (a bad first pixel read as "no run" or "no room")."""
    for bad in (2, 255):
        mask = np.zeros(shape, np.uint8)
        mask[0, 0] = bad
        for call in (lambda: encode(mask, order=order), lambda: runs(mask, order=order)):
            with pytest.raises(InvalidMaskError, match=rf"mask\[0, 0\] = {bad}"):
                call()
        batch = np.zeros((3, *shape), np.uint8)
        batch[1, 0, 0] = bad
        with pytest.raises(InvalidMaskError, match=rf"masks\[1\]\[0, 0\] = {bad}"):
            encode_many(batch, order=order)
        batch[0, 0, 0] = bad  # the lowest item is reported
        with pytest.raises(InvalidMaskError, match=rf"masks\[0\]\[0, 0\] = {bad}"):
            encode_many(batch, order=order)
        # ones before it change nothing
        mask[:] = 1
        mask[0, 0] = bad
        with pytest.raises(InvalidMaskError, match=r"mask\[0, 0\]"):
            encode(mask, order=order)


@pytest.mark.parametrize(
    "values, dtype",
    [([0, 1.5], np.float64), ([0, 256], np.int16), ([256, 1], np.uint16), ([0, -1], np.int8),
     ([1, np.nan], np.float32), ([0, 0.5], np.float16), ([0, 2**32], np.int64)],
)
def test_values_other_than_0_and_1_in_every_dtype(values, dtype):
    """256 must not wrap to 0 and 1.5 must not truncate to 1 (a cast before the check)."""
    mask = np.array([values, [0, 0]], dtype=dtype)
    for call in (lambda: encode(mask), lambda: encode(mask, order="F"), lambda: runs(mask)):
        with pytest.raises(InvalidMaskError, match="expected only 0 and 1"):
            call()
    with pytest.raises(InvalidMaskError, match="expected only 0 and 1"):
        encode_many(mask[None])


# ----------------------------------------------------------------------------------
# shapes
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, -1), (-1, 3), (0, -1), (np.int64(3), np.int64(-1)), [np.int32(-2), 4]])
def test_negative_height_or_width_is_rejected_everywhere(shape):
    """Kills ``_check_shape``: ``w >= 0 -> w >= -1`` (fast path) and ``h < 0 or w < 0 ->
    h < 0 and w < 0`` / ``w < -1`` (slow path)."""
    for call in (
        lambda: decode("", shape),
        lambda: decode("1 1", shape),
        lambda: decode(None, shape),
        lambda: decode_many(["", "1 1"], shape),
        lambda: decode_many([], shape),
        lambda: from_runs([], [], shape),
    ):
        with pytest.raises(InvalidRleError, match="negative"):
            call()


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0), (np.int64(0), np.int64(2))])
def test_zero_sizes_are_shapes(shape):
    h, w = (int(v) for v in shape)
    assert decode("", shape).shape == (h, w)
    assert decode_many(["", None], shape).shape == (2, h, w)
    assert from_runs([], [], shape).shape == (h, w)


# ----------------------------------------------------------------------------------
# batches: which bad item is reported, nothing written
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first, second",
    [("x 1", "9 9"), ("9 9", "x 1"), ("1 2 3", "0 1"), ("0 1", "1 2 3"), ("3 1 1 1", "1 99"), ("1 99", "3 1 1 1")],
)
def test_decode_many_reports_the_first_of_two_bad_items(first, second):
    """Kills ``bad[0] -> bad[1]`` (the last bad item reported) and status rows
    attached to the wrong item."""
    items = ["1 1", first, "", second, "2 2"]
    out = np.full((5, 3, 3), 7, np.uint8)
    with pytest.raises(InvalidRleError) as info:
        decode_many(items, (3, 3), out=out)
    message = str(info.value)
    assert message.startswith("rles[1]"), message
    assert "rles[3]" not in message
    if hasattr(info.value, "item"):
        assert info.value.item == 1
    with pytest.raises(InvalidRleError) as single:
        decode(first, (3, 3))
    # the same fields as decode() of that item alone
    assert (info.value.token, info.value.run, info.value.offset) == (
        single.value.token,
        single.value.run,
        single.value.offset,
    )
    assert (out == 7).all()  # nothing written


# ----------------------------------------------------------------------------------
# missing values
# ----------------------------------------------------------------------------------

MISSING = [None, "", float("nan"), np.float32("nan"), np.float64("nan"), pd.NA, pd.NaT]


@pytest.mark.parametrize("missing", MISSING, ids=repr)
def test_every_missing_value_is_an_empty_mask(missing):
    """Kills ``_is_missing``: the ``"NaTType"`` / ``"NAType"`` names, the float and
    numpy-float branches."""
    np.testing.assert_array_equal(decode(missing, (2, 3)), np.zeros((2, 3), np.uint8))
    out = np.full((2, 3), 7, np.uint8)
    decode(missing, (2, 3), out=out)
    assert not out.any()
    assert area(missing) == 0
    batch = decode_many(["1 1", missing, "6 1"], (2, 3))
    assert batch.sum(axis=(1, 2)).tolist() == [1, 0, 1]
    assert decode_many(pd.Series(["1 1", missing], dtype=object), (2, 3)).sum() == 1


@pytest.mark.parametrize("value", [0, 1.5, math.inf, np.datetime64("2020-01-01"), object(), [1, 1]])
def test_non_missing_non_strings_are_rejected(value):
    with pytest.raises(InvalidRleError, match="not a run-length string"):
        decode(value, (2, 3))
    with pytest.raises(InvalidRleError, match=r"rles\[1\]"):
        decode_many(["", value], (2, 3))
