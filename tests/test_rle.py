"""Tests of rlemask.rle: round trips, the decoder on junk, batches, errors, real data."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tests.reference import (
    RleReferenceError,
    rle_reference_decode,
    rle_reference_encode,
    rle_reference_parse,
    rle_reference_runs,
)
from tests.strategies import rle_mask_batches, rle_masks, rle_sorted_runs, rle_strings

from rlemask import _kernels
from rlemask.errors import InvalidMaskError, InvalidRleError, RlemaskError
from rlemask.rle import area, decode, decode_many, encode, encode_many, from_runs, runs

ORDERS = st.sampled_from(["C", "F"])


def _as01(mask) -> np.ndarray:
    return np.asarray(mask).astype(np.uint8)


# ----------------------------------------------------------------------------------
# round trips and fast == reference
# ----------------------------------------------------------------------------------


# boundaries pinned (issue 11): runs ending on the last and second-to-last pixel,
# a one at offset 0, whole words of ones
@example(mask=np.ones((1, 9), np.uint8), order="C")
@example(mask=np.array([[1] * 8 + [0]], np.uint8), order="F")
@example(mask=np.eye(3, dtype=np.uint8)[:, ::-1].copy(), order="C")
@example(mask=np.pad(np.ones((8, 7), np.uint8), ((0, 0), (0, 1))), order="C")
@given(mask=rle_masks(), order=ORDERS)
def test_encode_equals_reference_and_round_trips(mask, order):
    text = encode(mask, order=order)
    assert text == rle_reference_encode(mask, order)
    back = decode(text, mask.shape, order=order)
    assert back.dtype == np.uint8
    assert back.shape == mask.shape
    np.testing.assert_array_equal(back, _as01(mask))


@given(mask=rle_masks(dtypes=("uint8",)), order=ORDERS)
def test_order_is_the_format_not_the_memory_layout(mask, order):
    expected = encode(np.ascontiguousarray(mask), order=order)
    assert encode(np.asfortranarray(mask), order=order) == expected
    assert encode(mask.tolist() if mask.size else np.zeros(mask.shape, np.uint8), order=order) == expected


@given(data=st.data(), order=ORDERS)
def test_string_round_trip_from_valid_runs(data, order):
    h = data.draw(st.integers(0, 9))
    w = data.draw(st.integers(0, 9))
    text = data.draw(rle_sorted_runs(h * w))
    mask = decode(text, (h, w), order=order)
    np.testing.assert_array_equal(mask, rle_reference_decode(text, (h, w), order))
    # the encoder writes the canonical form: adjacent runs merged, empty runs dropped
    canonical = encode(mask, order=order)
    assert canonical == rle_reference_encode(mask, order)
    assert encode(decode(canonical, (h, w), order=order), order=order) == canonical
    assert area(text) == int(mask.sum())


@given(data=st.data(), order=ORDERS, strict=st.booleans())
def test_decoder_on_strings_the_encoder_never_makes(data, order, strict):
    h = data.draw(st.integers(0, 8))
    w = data.draw(st.integers(0, 8))
    text = data.draw(rle_strings(h * w))
    try:
        expected = rle_reference_decode(text, (h, w), order, strict)
    except RleReferenceError as ref:
        with pytest.raises(InvalidRleError) as info:
            decode(text, (h, w), order=order, strict=strict)
        if ref.kind in ("start", "end", "order"):
            assert info.value.run == ref.index
            assert f"run {ref.index} " in str(info.value)
        else:
            assert "token" in str(info.value)
        return
    np.testing.assert_array_equal(decode(text, (h, w), order=order, strict=strict), expected)


# boundaries pinned (issue 11): the last pixel, one past it, junk just past '9'
@example(text="39 2", strict=True)
@example(text="40 1 ", strict=False)
@example(text="41 0 1 1", strict=False)
@example(text="1 2 3:", strict=True)
@example(text="3 1 1 1", strict=True)
@given(text=rle_strings(40), strict=st.booleans())
def test_decode_many_rejects_exactly_what_decode_rejects(text, strict):
    good = "1 2"
    try:
        single = decode(text, (5, 8), strict=strict)
    except InvalidRleError as exc:
        with pytest.raises(InvalidRleError, match=r"^rles\[1\]: ") as info:
            decode_many([good, text], (5, 8), strict=strict)
        assert str(info.value) == "rles[1]: " + str(exc).removeprefix("rle: ")
        return
    batch = decode_many([good, text, None], (5, 8), strict=strict)
    np.testing.assert_array_equal(batch[1], single)
    np.testing.assert_array_equal(batch[0].ravel()[:3], [1, 1, 0])
    assert not batch[2].any()


@example(masks=np.array([[[1, 1, 0]], [[1, 1, 0]]], np.uint8), order="C")  # each mask ends 1 short
@given(masks=rle_mask_batches(), order=ORDERS)
def test_many_equals_single(masks, order):
    texts = encode_many(masks, order=order)
    assert texts == [encode(m, order=order) for m in masks]
    assert texts == [rle_reference_encode(m, order) for m in masks]
    back = decode_many(texts, masks.shape[1:], order=order)
    assert back.shape == masks.shape and back.dtype == np.uint8
    np.testing.assert_array_equal(back, _as01(masks))
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(back[i], decode(t, masks.shape[1:], order=order))


@given(mask=rle_masks(dtypes=("uint8", "bool")), order=ORDERS)
def test_runs_and_from_runs_equal_reference(mask, order):
    starts, lengths = runs(mask, order=order)
    ref_starts, ref_lengths = rle_reference_runs(mask, order)
    assert starts.dtype == np.int64 and lengths.dtype == np.int64
    assert starts.tolist() == ref_starts and lengths.tolist() == ref_lengths
    np.testing.assert_array_equal(from_runs(starts, lengths, mask.shape, order=order), _as01(mask))


# bytes just outside '0'..'9' and the whitespace range, and the digit limit (issue 11)
@example(text="1 2:")
@example(text="1/ 2")
@example(text="1 2\x0e")
@example(text="1\x082")
@example(text="1 " + "9" * 17)
@example(text="1 1" + "0" * 17)
@given(text=rle_strings(60))
def test_area_equals_reference(text):
    try:
        values = rle_reference_parse(text)
        from tests.reference import rle_reference_check

        rle_reference_check(values, 10**18, strict=True)
    except RleReferenceError:
        with pytest.raises(InvalidRleError):
            area(text)
        return
    assert area(text) == sum(values[1::2])


@st.composite
def _token_streams(draw):
    """Long strings of 1-10 digit numbers: the parser's 8-bytes-at-a-time path and its exits."""
    n = draw(st.integers(0, 24))
    parts = []
    for _ in range(n):
        digits = draw(st.integers(1, 10))
        parts.append(str(draw(st.integers(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1))))
        if draw(st.integers(0, 15)) == 0:
            parts[-1] += draw(st.sampled_from([":", "/", "x", "\x0e", "-"]))
        parts.append(draw(st.sampled_from([" "] * 12 + ["  ", "\t", " \n", "\r\n"])))
    text = "".join(parts)
    return text.rstrip() if draw(st.booleans()) else text


@example(text="1234567 1234567 1")
@example(text="12345678 1 2 3 4 5 6 7")
@example(text="1 2 3 4 5 6 7 8:")
@example(text="1 2 3 4 5 6 71234567 1")
@example(text="1 2 3 4  5 6")
@given(text=_token_streams())
def test_the_parser_equals_the_reference_on_token_streams(text):
    data = np.frombuffer(text.encode(), np.uint8)
    code, idx, off, values = _kernels.parse(data)
    try:
        want = rle_reference_parse(text)
    except RleReferenceError:
        assert code != 0
        return
    assert code == 0 and values.tolist() == want


# ----------------------------------------------------------------------------------
# fixed examples
# ----------------------------------------------------------------------------------

EXAMPLE = np.array([[0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=np.uint8)


def test_worked_example_of_the_module_docstring():
    assert encode(EXAMPLE) == "2 2 7 3"
    assert encode(EXAMPLE, order="F") == "3 2 7 2 11 1"
    np.testing.assert_array_equal(decode("3 2 7 2 11 1", (3, 4), order="F"), EXAMPLE)
    assert decode("3 2 7 2 11 1", (3, 4), order="F").flags.f_contiguous
    assert decode("2 2 7 3", (3, 4)).flags.c_contiguous


def test_top_level_exports_the_codec():
    import rlemask

    assert rlemask.encode([[0, 1], [1, 1]]) == "2 3"
    assert rlemask.decode is decode and rlemask.decode_many is decode_many
    assert rlemask.area is area and rlemask.from_runs is from_runs


@pytest.mark.parametrize("missing", [None, "", "   ", " \t\n", float("nan"), np.nan, np.float32("nan"), pd.NA])
def test_missing_values_decode_to_an_empty_mask(missing):
    mask = decode(missing, (3, 5))
    assert mask.shape == (3, 5) and mask.dtype == np.uint8 and not mask.any()
    assert area(missing) == 0
    batch = decode_many(["1 15", missing], (3, 5))
    assert batch[0].all() and not batch[1].any()


def test_whitespace_variants_and_leading_zeros():
    expected = decode("2 3 10 2", (3, 4))
    for text in ["  2 3 10 2", "2  3\t10\n2\n", "\r\n2\x0b3\x0c10 2", "002 0003 10 02"]:
        np.testing.assert_array_equal(decode(text, (3, 4)), expected)
    assert int(expected.sum()) == 5


def test_adjacent_and_zero_length_runs_are_valid():
    mask = decode("1 2 3 2 9 0 10 1", (2, 5))
    np.testing.assert_array_equal(mask, [[1, 1, 1, 1, 0], [0, 0, 0, 0, 1]])
    assert encode(mask) == "1 4 10 1"


def test_full_and_zero_sized_masks():
    assert encode(np.ones((3, 4), bool)) == "1 12"
    assert encode(np.zeros((0, 5))) == ""
    assert encode(np.zeros((5, 0))) == ""
    assert decode("", (0, 7)).shape == (0, 7)
    assert decode_many([], (4, 4)).shape == (0, 4, 4)
    assert encode_many(np.zeros((0, 3, 3), np.uint8)) == []
    assert encode_many(np.zeros((3, 0, 3), np.uint8)) == ["", "", ""]


def test_large_mask_with_long_runs_and_many_digits():
    rng = np.random.default_rng(0)
    mask = np.zeros((1000, 1003), np.uint8)
    mask[100:900, 50:1000] = 1
    mask[rng.integers(0, 1000, 5000), rng.integers(0, 1003, 5000)] ^= 1
    for order in "CF":
        text = encode(mask, order=order)
        assert text == rle_reference_encode(mask, order)
        np.testing.assert_array_equal(decode(text, mask.shape, order=order), mask)
    checker = np.arange(64 * 63).reshape(64, 63) % 2  # worst case: every other pixel
    assert encode(checker) == rle_reference_encode(checker)
    assert len(encode(checker).split()) == 64 * 63  # 2016 runs of length 1
    np.testing.assert_array_equal(decode(encode(checker), (64, 63)), checker)


def test_strict_false_takes_the_union():
    text = "5 3 1 2 6 4"  # unsorted and overlapping
    with pytest.raises(InvalidRleError, match="run 1 "):
        decode(text, (2, 5))
    mask = decode(text, (2, 5), strict=False)
    np.testing.assert_array_equal(mask.ravel(), [1, 1, 0, 0, 1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(decode_many([text], (2, 5), strict=False)[0], mask)


# ----------------------------------------------------------------------------------
# out=
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_decode_out_fills_every_element(order, layout):
    expected = decode("2 5 14 3", (4, 5), order=order)
    if layout == "strided":
        out = np.full((8, 5), 7, np.uint8)[::2]
    else:
        out = np.full((4, 5), 7, np.uint8, order=layout)
    result = decode("2 5 14 3", (4, 5), order=order, out=out)
    assert result is out
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_decode_many_out_fills_every_element(order, layout):
    texts = ["2 5 14 3", "", "1 20"]
    expected = decode_many(texts, (4, 5), order=order)
    if layout == "strided":
        out = np.full((6, 4, 5), 7, np.uint8)[::2]
    elif layout == "F":
        out = np.full((5, 4, 3), 7, np.uint8).T  # (3, 4, 5), each mask F-contiguous
    else:
        out = np.full((3, 4, 5), 7, np.uint8)
    assert decode_many(texts, (4, 5), order=order, out=out) is out
    np.testing.assert_array_equal(out, expected)
    assert out[2].all() and not out[1].any()


def test_nothing_is_written_to_out_on_error():
    out = np.full((2, 3), 7, np.uint8)
    with pytest.raises(InvalidRleError, match="past the 6 pixels"):
        decode("1 2 5 3", (2, 3), out=out)
    assert (out == 7).all()
    outs = np.full((3, 2, 3), 7, np.uint8)
    with pytest.raises(InvalidRleError, match=r"rles\[2\]: run 0 \(start=0, length=1\) has start < 1"):
        decode_many(["1 1", "2 2", "0 1"], (2, 3), out=outs)
    assert (outs == 7).all()


@pytest.mark.parametrize(
    ("out", "fragment"),
    [
        (np.zeros((3, 2), np.uint8), r"shape=\(3, 2\).*expected a uint8 numpy array of shape \(2, 3\)"),
        (np.zeros((2, 3), np.int64), r"dtype=int64.*expected a uint8"),
        ([[0, 0, 0], [0, 0, 0]], r"out \(list\) does not fit"),
    ],
)
def test_out_of_the_wrong_kind(out, fragment):
    with pytest.raises(RlemaskError, match=fragment):
        decode("1 1", (2, 3), out=out)


@pytest.mark.parametrize(
    "make",
    [np.asmatrix, lambda a: np.ma.array(a, mask=np.zeros_like(a, bool))],
    ids=["matrix", "masked"],
)
@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_out_must_not_be_an_ndarray_subclass(make):
    # np.matrix stays 2-D when flattened: decoding into it used to return a wrong mask silently
    out = make(np.full((3, 3), 7, np.uint8))
    with pytest.raises(RlemaskError, match=r"out is a numpy\..*, a numpy array subclass; expected a plain uint8") as info:
        decode("2 1", (3, 3), out=out)
    assert type(info.value) is RlemaskError  # the class every other bad out= raises
    assert (np.asarray(out) == 7).all()
    with pytest.raises(RlemaskError, match=r"out is a numpy\.ma\.MaskedArray, a numpy array subclass"):
        decode_many(["2 1"], (3, 3), out=np.ma.array(np.zeros((1, 3, 3), np.uint8)))
    view = np.asarray(out)  # the suggested fix works and writes through
    assert decode("2 1", (3, 3), out=view) is view
    assert np.asarray(out).tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 0]]


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_encode_accepts_ndarray_subclasses():
    # a fresh process: once a kernel has run on a plain array, numba lets subclasses through,
    # so only a masked array in the very first call showed the raw NumbaTypeError
    code = "import numpy as np; from rlemask.rle import encode; print(encode(np.ma.array([[0, 1]])))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, "2 1"), result.stderr[-2000:]
    expected = encode(np.array([[0, 1], [1, 1]]))
    assert expected == "2 3"
    assert encode(np.asmatrix([[0, 1], [1, 1]])) == expected
    assert encode(np.ma.array([[0, 1], [1, 1]])) == expected
    assert encode(np.ma.array([[0, 1], [1, 1]], dtype=bool), order="F") == encode(np.array([[0, 1], [1, 1]]), order="F")
    assert encode_many(np.ma.array([[[0, 1], [1, 1]], [[1, 0], [0, 0]]])) == ["2 3", "1 1"]
    assert runs(np.asmatrix([[0, 1], [1, 1]]))[0].tolist() == [2]


def test_encode_accepts_torch_tensors_of_every_dtype():
    torch = pytest.importorskip("torch")
    mask = np.array([[0, 1, 1], [1, 0, 0]], np.uint8)
    for dtype in (torch.bfloat16, torch.float16, torch.float32, torch.uint8, torch.bool):
        t = torch.from_numpy(mask).to(dtype)
        assert encode(t) == "2 3", dtype
        assert encode_many(t[None]) == ["2 3"], dtype
    assert encode(torch.from_numpy(mask).to(torch.bfloat16).requires_grad_()) == "2 3"
    with pytest.raises(InvalidMaskError, match=r"mask\[0, 1\] = .*1.5.*; expected only 0 and 1"):
        encode(torch.tensor([[0, 1.5]], dtype=torch.bfloat16))


def test_read_only_out():
    out = np.zeros((2, 3), np.uint8)
    out.flags.writeable = False
    with pytest.raises(RlemaskError, match="read-only"):
        decode("1 1", (2, 3), out=out)


# ----------------------------------------------------------------------------------
# bad input: exact class and message
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shape", "fragment", "attrs"),
    [
        ("1 2 3", (3, 3), r"odd number of tokens \(3\) in '1 2 3'; expected start/length pairs", {"token": 2}),
        ("1 2 x 4", (3, 3), r"token 2 \('x', character 4\) is not an ASCII decimal integer", {"token": 2, "offset": 4}),
        ("1 -2", (3, 3), r"token 1 \('-2', character 2\) is not an ASCII decimal", {"token": 1}),
        ("1 2.5", (3, 3), r"token 1 \('2.5', character 3\)", {"token": 1}),
        ("1 2\x1c3 4", (3, 3), r"token 1 \('2\\x1c3', character 3\)", {"token": 1}),
        ("1 \u0662", (3, 3), r"character 2 \('\u0662'\) in token 1 is not ASCII", {"token": 1}),
        ("0 3", (3, 3), r"run 0 \(start=0, length=3\) has start < 1; starts are 1-indexed", {"run": 0}),
        (
            "1 2 8 3",
            (3, 3),
            r"run 1 \(start=8, length=3\) ends at pixel 10, past the 9 pixels of shape=\(3, 3\); check the shape",
            {"run": 1, "offset": 7},
        ),
        (
            "5 2 1 2",
            (3, 3),
            r"run 1 \(start=1, length=2\) starts before run 0 \(start=5, length=2\) ends at pixel 6; "
            r"runs must be sorted and non-overlapping \(pass strict=False",
            {"run": 1},
        ),
        ("1 3 3 2", (3, 3), r"run 1 \(start=3, length=2\) starts before run 0", {"run": 1}),
        ("1 123456789012345678901234", (3, 3), r"token 1 \(123456789012345678901234\) is too large; starts and", {"token": 1}),
        ("99999999999999999 1", (3, 3), r"run 0 \(start=99999999999999999, length=1\) ends at pixel", {"run": 0}),
    ],
)
def test_bad_strings(text, shape, fragment, attrs):
    with pytest.raises(InvalidRleError, match=fragment) as info:
        decode(text, shape)
    for name, value in attrs.items():
        assert getattr(info.value, name) == value
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidRleError, match=r"^rles\[0\]: " + fragment):
        decode_many([text], shape)


@pytest.mark.parametrize(
    ("shape", "fragment"),
    [
        ((3,), r"shape=\(3,\) is not a shape; expected \(height, width\), two non-negative ints"),
        ((3, 4, 5), r"shape=\(3, 4, 5\) is not a shape"),
        ((3.0, 4), r"shape=\(3.0, 4\) is not a shape"),
        ((True, 4), r"shape=\(True, 4\) is not a shape"),
        ((-1, 4), r"shape=\(-1, 4\) has a negative size"),
        (7, r"shape=7 is not a shape"),
        ("3x4", r"shape='3x4' is not a shape"),
    ],
)
def test_bad_shapes(shape, fragment):
    with pytest.raises(InvalidRleError, match=fragment):
        decode("1 1", shape)
    with pytest.raises(InvalidRleError, match=fragment):
        decode_many(["1 1"], shape)
    with pytest.raises(InvalidRleError, match=fragment):
        from_runs([1], [1], shape)


def test_numpy_int_shapes_are_accepted():
    shape = tuple(np.array([2, 3]))
    np.testing.assert_array_equal(decode("2 2", shape), [[0, 1, 1], [0, 0, 0]])


def test_bad_order():
    with pytest.raises(RlemaskError, match=r"order='K' is not a pixel order; expected 'C' \(row by row\) or 'F'"):
        encode(np.zeros((2, 2)), order="K")
    with pytest.raises(RlemaskError, match="order='c'"):
        decode("1 1", (2, 2), order="c")


def test_non_string_rle():
    with pytest.raises(InvalidRleError, match=r"rle: 12 of type int is not a run-length string; expected str"):
        decode(12, (2, 2))
    with pytest.raises(InvalidRleError, match=r"rles\[1\]: \[1, 2\] of type list is not a run-length string"):
        decode_many(["1 1", [1, 2]], (2, 2))
    with pytest.raises(InvalidRleError, match="rles is a single str; expected a sequence"):
        decode_many("1 1", (2, 2))


def test_bytes_rle_is_accepted():
    np.testing.assert_array_equal(decode(b"1 2", (1, 3)), [[1, 1, 0]])


@pytest.mark.parametrize(
    ("mask", "error", "fragment"),
    [
        (np.zeros((2, 2, 2)), InvalidMaskError, r"mask has shape=\(2, 2, 2\) \(3-D\); expected a 2-D array \(height, width\)"),
        (np.zeros(4), InvalidMaskError, r"\(1-D\); expected a 2-D array"),
        (np.array([[0, 1], [2, 1]], np.uint8), InvalidMaskError, r"mask\[1, 0\] = 2; expected only 0 and 1"),
        (np.array([[0, 1], [1, 255]], np.uint8), InvalidMaskError, r"mask\[1, 1\] = 255; expected only 0 and 1"),
        (np.array([[0, 1], [1, -1]]), InvalidMaskError, r"mask\[1, 1\] = .*-1.*; expected only 0 and 1"),
        (np.array([[0.5, 1]]), InvalidMaskError, r"mask\[0, 0\] = .*0.5.*; expected only 0 and 1"),
        (np.array([["a", "b"]]), InvalidMaskError, r"mask has dtype=<U1; expected 0/1 integers"),
    ],
)
def test_bad_masks(mask, error, fragment):
    with pytest.raises(error, match=fragment):
        encode(mask)


def test_bad_value_found_in_any_word_position():
    # 2 placed at every offset of a 64-pixel stretch, inside and outside runs
    for offset in range(70):
        for fill in (0, 1):
            mask = np.full((3, 37), fill, np.uint8)
            mask.ravel()[offset] = 2
            row, col = divmod(offset, 37)
            with pytest.raises(InvalidMaskError, match=rf"mask\[{row}, {col}\] = 2"):
                encode(mask)
    batch = np.zeros((3, 4, 4), np.uint8)
    batch[2, 3, 1] = 9
    with pytest.raises(InvalidMaskError, match=r"masks\[2\]\[3, 1\] = 9"):
        encode_many(batch)
    with pytest.raises(InvalidMaskError, match=r"masks has shape=\(4, 4\) \(2-D\); expected a 3-D array"):
        encode_many(batch[0])


def test_bad_runs_arrays():
    with pytest.raises(InvalidRleError, match="starts has 2 values and lengths 1"):
        from_runs([1, 3], [1], (2, 2))
    with pytest.raises(InvalidRleError, match=r"run 0 \(start=1, length=-1\) has a negative length"):
        from_runs([1], [-1], (2, 2))
    with pytest.raises(InvalidRleError, match=r"run 1 \(start=2, length=1\) starts before run 0"):
        from_runs([1, 2], [2, 1], (2, 2))
    with pytest.raises(InvalidRleError, match=r"run 0 \(start=4, length=2\) ends at pixel 5, past the 4 pixels"):
        from_runs([4], [2], (2, 2))
    with pytest.raises(InvalidRleError, match=r"ends at pixel"):
        from_runs([2], [2**63 - 1], (2, 2))
    with pytest.raises(InvalidRleError, match="expected a 1-D integer array"):
        from_runs([1.0], [1], (2, 2))


def test_area_errors():
    with pytest.raises(InvalidRleError, match=r"run 1 \(start=2, length=1\) starts before run 0"):
        area("1 5 2 1")
    with pytest.raises(InvalidRleError, match="odd number of tokens"):
        area("1 5 2")
    assert area("1 5 7 1000000") == 1000005


# ----------------------------------------------------------------------------------
# compilation and caching
# ----------------------------------------------------------------------------------


def test_import_compiles_nothing():
    code = (
        "import rlemask, rlemask.rle, rlemask.coco\n"
        "from rlemask import _kernels\n"
        "compiled = [n for n, f in vars(_kernels).items() if hasattr(f, 'signatures') and f.signatures]\n"
        "print(compiled)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_kernel_is_cached():
    dispatchers = [f for f in vars(_kernels).values() if hasattr(f, "py_func")]
    assert len(dispatchers) >= 10
    for f in dispatchers:
        assert f._cache.__class__.__name__ == "FunctionCache", f.__name__


# ----------------------------------------------------------------------------------
# real data
# ----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_predictions_decode_and_re_encode_exactly(real_data):
    predicted = pd.read_csv(real_data / "predicted_rle_first1000.csv", keep_default_na=False, dtype=str)
    index = pd.read_csv(real_data / "image_index.csv", usecols=["id", "height", "width"])
    table = predicted.merge(index, on="id", how="left", validate="many_to_one")
    assert len(table) == 3000 and table["height"].notna().all()
    non_empty = 0
    for text, h, w in zip(table["predicted"], table["height"], table["width"]):
        mask = decode(text, (int(h), int(w)))
        assert encode(mask) == text
        assert int(mask.sum()) == area(text)
        non_empty += bool(text)
    assert non_empty == 810
    for (h, w), group in table.groupby(["height", "width"]):
        texts = group["predicted"].tolist()
        masks = decode_many(texts, (int(h), int(w)))
        assert encode_many(masks) == texts


def test_encode_many_chunks_and_slot_overflow(monkeypatch):
    import rlemask.rle as rle_module

    rng = np.random.default_rng(0)
    masks = (rng.random((50, 40, 60)) < np.linspace(0, 1, 50)[:, None, None]).astype(np.uint8)
    expected = [rle_reference_encode(m) for m in masks]
    assert encode_many(masks) == expected
    monkeypatch.setattr(rle_module, "_CHUNK", 7)  # 8 kernel calls, the last one short
    monkeypatch.setattr(rle_module, "_SLOT", 64)  # most masks overflow their slot
    assert encode_many(masks) == expected
    assert encode_many(np.asfortranarray(masks), order="F") == [rle_reference_encode(m, "F") for m in masks]
    masks[33, 5, 7] = 3  # found after the slot overflowed
    with pytest.raises(InvalidMaskError, match=r"masks\[33\]\[5, 7\] = 3"):
        encode_many(masks)
    masks[33, 5, 7] = 1
    masks[36, 0, 1] = 4  # found before
    with pytest.raises(InvalidMaskError, match=r"masks\[36\]\[0, 1\] = 4"):
        encode_many(masks)


@pytest.mark.parametrize("threshold", [0, 1 << 62], ids=["parallel", "serial"])
@pytest.mark.parametrize("order", ["C", "F"])
def test_parallel_and_serial_batch_kernels_agree(monkeypatch, threshold, order):
    import numba

    import rlemask.rle as rle_module

    monkeypatch.setattr(rle_module, "_PARALLEL_PIXELS", threshold)
    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)  # as on a 2-core machine
    monkeypatch.setattr(rle_module, "get_num_threads", lambda: 2)
    calls = []
    for name in ("decode_many_into", "encode_many", "decode_many_into_serial", "encode_many_serial"):
        kernel = getattr(_kernels, name)
        monkeypatch.setattr(_kernels, name, lambda *a, _k=kernel, _n=name: calls.append(_n) or _k(*a))
    rng = np.random.default_rng(0)
    n = 37
    masks = (rng.random((n, 23, 31)) < rng.random(n)[:, None, None] ** 3).astype(np.uint8)
    masks[rng.random(n) < 0.5] = 0  # many empty masks: long stretches of zeros across masks
    masks[5] = 1
    texts = encode_many(masks, order=order)
    assert texts == [rle_reference_encode(m, order) for m in masks]
    np.testing.assert_array_equal(decode_many(texts, (23, 31), order=order), masks)
    out = np.full((n, 23, 31), 9, np.uint8)
    decode_many(texts, (23, 31), order=order, out=out)
    np.testing.assert_array_equal(out, masks)
    shuffled = [" ".join(t.split()[2:] + t.split()[:2]) for t in texts]  # first run moved last
    loose = decode_many(shuffled, (23, 31), order=order, strict=False, out=np.full((n, 23, 31), 9, np.uint8))
    np.testing.assert_array_equal(loose, masks)
    texts[30] = texts[30] + " 1"
    out[...] = 9
    with pytest.raises(InvalidRleError, match=r"^rles\[30\]: odd number of tokens"):
        decode_many(texts, (23, 31), order=order, out=out)
    assert (out == 9).all()
    expected = {"decode_many_into", "encode_many"} if threshold == 0 else {"decode_many_into_serial", "encode_many_serial"}
    assert set(calls) == expected


def test_encode_scratch_buffer_overflow_falls_back(monkeypatch):
    import threading

    import rlemask.rle as rle_module

    monkeypatch.setattr(rle_module, "_SCRATCH", 16)
    monkeypatch.setattr(rle_module, "_scratch", threading.local())
    mask = np.zeros((5, 9), np.uint8)
    mask[::2, ::2] = 1  # 15 runs: far more than 16 bytes of text
    assert encode(mask) == rle_reference_encode(mask)
    assert encode(mask[:1, :3]) == "1 1 3 1"  # fits the scratch buffer
    mask[4, 7] = 5
    with pytest.raises(InvalidMaskError, match=r"mask\[4, 7\] = 5"):
        encode(mask)  # found after the scratch buffer filled up
    mask[0, 1] = 7
    with pytest.raises(InvalidMaskError, match=r"mask\[0, 1\] = 7"):
        encode(mask)
