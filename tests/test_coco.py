"""Tests of rlemask.coco against pycocotools and the plain reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tests.reference import rle_reference_coco_counts, rle_reference_coco_string, rle_reference_encode
from tests.strategies import rle_masks

from rlemask import coco
from rlemask.coco import from_coco, to_coco
from rlemask.errors import InvalidMaskError, InvalidRleError
from rlemask.rle import decode, encode

mask_api = pytest.importorskip("pycocotools.mask", reason="pycocotools is in the 'test' extra")

ORDERS = st.sampled_from(["C", "F"])
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _coco(mask) -> dict:
    return mask_api.encode(np.asfortranarray(np.asarray(mask).astype(np.uint8)))


# pinned (issue 11): a leading count of 0, counts of 32 and more (several 5-bit
# groups), a count smaller than the one two before (negative difference)
@example(mask=np.ones((3, 4), np.uint8), order="C")
@example(mask=np.pad(np.ones((20, 19), np.uint8), ((0, 0), (1, 0))), order="F")
@example(mask=np.pad(np.ones((20, 2), np.uint8), ((0, 0), (17, 1)))[:, :20], order="C")
@given(mask=rle_masks(max_side=20), order=ORDERS)
def test_to_coco_is_byte_identical_to_pycocotools(mask, order):
    ours = to_coco(encode(mask, order=order), mask.shape, order=order)
    theirs = _coco(mask)
    assert ours == theirs
    assert isinstance(ours["counts"], bytes)
    assert ours["counts"] == rle_reference_coco_string(rle_reference_coco_counts(mask))


@given(mask=rle_masks(max_side=20), order=ORDERS)
def test_from_coco_reads_pycocotools_output(mask, order):
    expected = rle_reference_encode(mask, order)
    obj = _coco(mask)
    assert from_coco(obj, order=order) == expected
    assert from_coco({"size": obj["size"], "counts": obj["counts"].decode("ascii")}, order=order) == expected
    uncompressed = {"size": list(mask.shape), "counts": rle_reference_coco_counts(mask)}
    assert from_coco(uncompressed, order=order) == expected


@given(mask=rle_masks(max_side=20))
def test_decode_in_f_order_matches_pycocotools_decode(mask):
    if mask.size == 0:
        return  # pycocotools cannot decode 0-sized masks
    obj = _coco(mask)
    theirs = mask_api.decode(obj)
    np.testing.assert_array_equal(decode(encode(mask, order="F"), mask.shape, order="F"), theirs)
    np.testing.assert_array_equal(decode(from_coco(obj), mask.shape), theirs)
    assert int(mask_api.area(obj)) == int(np.asarray(mask).astype(bool).sum())


def test_uncompressed_counts_through_pycocotools():
    mask = np.array([[0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=np.uint8)
    counts = [2, 2, 2, 2, 2, 1, 1]
    compressed = mask_api.frPyObjects({"size": [3, 4], "counts": counts}, 3, 4)
    assert compressed == to_coco("2 2 7 3", (3, 4)) == {"size": [3, 4], "counts": b"22200OO"}
    assert from_coco({"size": [3, 4], "counts": counts}) == "2 2 7 3" == encode(mask)
    assert from_coco({"size": (3, 4), "counts": np.array(counts)}, order="F") == "3 2 7 2 11 1"


def test_large_counts_and_negative_deltas():
    mask = np.zeros((700, 900), np.uint8)
    mask[10:690, 3:5] = 1  # long runs, then short ones: deltas of both signs
    mask[:, 800] = 1
    mask[699, 899] = 1
    obj = _coco(mask)
    assert to_coco(encode(mask), mask.shape) == obj
    assert from_coco(obj) == encode(mask)


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        ({"size": [2, 2], "counts": b"4 "}, r"COCO counts: byte 1 \(b' '\) is not a counts character; expected"),
        ({"size": [2, 2], "counts": "0\u00e9"}, r"COCO counts: character 1 \('\u00e9'\) is not ASCII"),
        ({"size": [2, 2], "counts": b"0`"}, r"COCO counts: count 1 is cut off at the end"),
        ({"size": [2, 2], "counts": b"5"}, r"COCO counts add up to 5 pixels; expected 4 for size=\[2, 2\]"),
        ({"size": [2, 2], "counts": [1, 1]}, r"COCO counts add up to 2 pixels; expected 4"),
        ({"size": [2, 2], "counts": [5, -1]}, r"COCO counts: count 1 is -1; expected counts >= 0"),
        ({"size": [2, 2], "counts": [1.5, 2.5]}, r"COCO counts list has dtype float64"),
        ({"size": [2, 2], "counts": 4}, r"COCO counts of type int; expected bytes or str"),
        ({"size": [2], "counts": b"2"}, r"COCO size=\[2\] is not \[height, width\]"),
        ({"size": [-2, 2], "counts": b"0"}, r"COCO size=\[-2, 2\] is not \[height, width\]"),
        ({"counts": b"4"}, r"is not a dict with 'size' and 'counts'"),
        ([4], r"is not a dict with 'size' and 'counts'"),
    ],
)
def test_bad_coco_objects(obj, fragment):
    with pytest.raises(InvalidRleError, match=fragment):
        from_coco(obj)


def test_counts_that_wrap_around_int64_are_rejected():
    # 4 counts sum to 2**64 + 4, which an int64 sum wraps around to exactly n = 4
    with pytest.raises(InvalidRleError, match=r"COCO counts add up to 18446744073709551620 pixels; expected 4 for size=\[2, 2\]") as info:
        from_coco({"size": [2, 2], "counts": [2**62, 2**62, 2**62, 2**62 + 4]})
    assert info.value.offset == 2**64 + 4
    counts = np.array([2**63 + 1, 1], np.uint64)  # above int64: astype would make it negative
    with pytest.raises(InvalidRleError, match=r"COCO counts: count 0 is 9223372036854775809, above the int64 range"):
        from_coco({"size": [2, 2], "counts": counts})


def test_to_coco_rejects_bad_rle():
    with pytest.raises(InvalidRleError, match=r"run 0 \(start=3, length=3\) ends at pixel 5, past the 4 pixels"):
        to_coco("3 3", (2, 2))
    with pytest.raises(InvalidRleError, match=r"shape=\(2,\) is not a shape"):
        to_coco("1 1", (2,))


# ----------------------------------------------------------------------------------
# dense masks <-> COCO (coco.encode / coco.decode)
# ----------------------------------------------------------------------------------


@given(mask=rle_masks(max_side=24))
def test_encode_is_byte_identical_to_pycocotools_in_every_layout(mask):
    ours = coco.encode(mask)
    assert ours == _coco(mask)
    assert ours["counts"] == rle_reference_coco_string(rle_reference_coco_counts(mask))


@given(mask=rle_masks(max_side=24))
def test_decode_equals_pycocotools_decode_and_round_trips(mask):
    obj = _coco(mask)
    ours = coco.decode(obj)
    expected = np.asarray(mask).astype(np.uint8)
    assert ours.dtype == np.uint8 and ours.shape == expected.shape
    np.testing.assert_array_equal(ours, expected)
    if mask.size:
        np.testing.assert_array_equal(ours, mask_api.decode(obj))
    uncompressed = {"size": list(mask.shape), "counts": rle_reference_coco_counts(mask)}
    np.testing.assert_array_equal(coco.decode(uncompressed), expected)
    np.testing.assert_array_equal(coco.decode({"size": obj["size"], "counts": obj["counts"].decode()}), expected)


@given(
    n=st.integers(0, 5),
    h=st.integers(0, 9),
    w=st.integers(0, 9),
    seed=st.integers(0, 2**32 - 1),
    layout=st.sampled_from(["C", "F", "transposed", "strided"]),
)
def test_batches_equal_one_call_per_mask(n, h, w, seed, layout):
    rng = np.random.default_rng(seed)
    stack = (rng.random((n, h, w)) < rng.random()).astype(np.uint8)
    if layout == "F":
        stack = np.asfortranarray(stack)
    elif layout == "transposed":  # each mask Fortran-contiguous, batch first
        stack = np.ascontiguousarray(stack.transpose(0, 2, 1)).transpose(0, 2, 1)
    elif layout == "strided":
        big = np.ones((n, 2 * h, w), np.uint8)
        big[:, ::2] = stack
        stack = big[:, ::2]
    objs = coco.encode(stack)
    assert objs == [_coco(m) for m in stack]
    if n == 0:
        return
    decoded = coco.decode(objs)
    assert decoded.shape == (n, h, w)
    np.testing.assert_array_equal(decoded, stack)
    # a mixed batch: compressed and uncompressed objects together
    mixed = [o if i % 2 else {"size": [h, w], "counts": rle_reference_coco_counts(m)} for i, (o, m) in enumerate(zip(objs, stack))]
    np.testing.assert_array_equal(coco.decode(mixed), stack)


def test_encode_rejects_non_binary_values_with_their_index():
    m = np.zeros((3, 4), np.uint8)
    m[2, 1] = 7
    with pytest.raises(InvalidMaskError, match=r"mask\[2, 1\] = 7; expected only 0 and 1"):
        coco.encode(m)
    with pytest.raises(InvalidMaskError, match=r"mask\[2, 1\] = 7"):
        coco.encode(np.asfortranarray(m))
    stack = np.zeros((3, 3, 4), np.uint8)
    stack[1, 0, 3] = 2
    with pytest.raises(InvalidMaskError, match=r"mask\[1\]\[0, 3\] = 2"):
        coco.encode(stack)
    with pytest.raises(InvalidMaskError, match=r"mask has shape=\(4,\) \(1-D\); expected a 2-D mask \(height, width\) or a 3-D stack"):
        coco.encode(np.zeros(4))


@pytest.mark.parametrize(
    ("objs", "fragment", "item"),
    [
        ([{"size": [2, 2], "counts": b"4"}, {"size": [2, 2], "counts": b"5"}], r"objs\[1\]: COCO counts add up to 5 pixels; expected 4 for size=\[2, 2\] \(the counts overrun the mask at count 0\)", 1),
        ([{"size": [2, 2], "counts": b"3"}], r"objs\[0\]: COCO counts add up to 3 pixels; expected 4 .*fall short", 0),
        ([{"size": [2, 2], "counts": b"4"}, {"size": [2, 2], "counts": b"0`"}], r"objs\[1\]: COCO counts: count 1 is cut off", 1),
        ([{"size": [2, 2], "counts": b"4"}, {"size": [2, 2], "counts": b"~"}], r"objs\[1\]: COCO counts: byte 0 \(b'~'\) is not a counts character", 1),
        ([{"size": [2, 2], "counts": b"4"}, {"size": [2, 2], "counts": [1, 1, -2, 4]}], r"objs\[1\]: COCO counts: count 2 is -2; expected counts >= 0", 1),
        ([{"size": [2, 2], "counts": b"4"}, {"size": [2, 3], "counts": b"6"}], r"objs\[1\] has size=\[2, 3\] but objs\[0\] has size=\[2, 2\]", 1),
        ([{"size": [2, 2], "counts": b"4"}, {"size": [2, 2]}], r"objs\[1\]: .* is not a dict with 'size' and 'counts'", None),
        ([{"size": [2, 2], "counts": b"4"}, {"size": [2, 2], "counts": b"o" * 13 + b"0"}], r"objs\[1\]: COCO counts: count 0 at byte 12 is too large", 1),
    ],
)
def test_bad_objects_in_a_batch_name_the_item(objs, fragment, item):
    with pytest.raises(InvalidRleError, match=fragment) as info:
        coco.decode(objs)
    if item is not None:
        assert info.value.item == item


def test_decode_rejects_what_is_not_an_object_or_a_list():
    with pytest.raises(InvalidRleError, match=r"obj of type str is not a COCO object"):
        coco.decode("22200OO")
    with pytest.raises(InvalidRleError, match=r"obj is an empty list"):
        coco.decode([])


def test_large_masks_and_negative_deltas_through_dense_api():
    mask = np.zeros((700, 900), np.uint8)
    mask[10:690, 3:5] = 1
    mask[:, 800] = 1
    mask[699, 899] = 1
    mask[0, 0] = 1
    obj = _coco(mask)
    assert coco.encode(mask) == obj == coco.encode(np.asfortranarray(mask))
    np.testing.assert_array_equal(coco.decode(obj), mask)
