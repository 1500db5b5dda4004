"""Tests of rlemask.overlap against plain pixel-set references and the dense metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.reference import (
    overlap_reference_matrix,
    overlap_reference_pixels,
    rle_reference_coco_counts,
    rle_reference_encode,
)
from tests.strategies import rle_strings

from rlemask import coco, decode
from rlemask.errors import InvalidRleError, RlemaskError
from rlemask.overlap import area_many, dice_matrix, dice_rle, iou_matrix, iou_rle
from rlemask.rle import encode

EMPTY = st.sampled_from([1.0, 0.0, "skip"])


@st.composite
def mask_lists(draw, max_items=5, max_side=8):
    h = draw(st.integers(0, max_side))
    w = draw(st.integers(0, max_side))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    na = draw(st.integers(0, max_items))
    nb = draw(st.integers(0, max_items))
    a = (rng.random((na, h, w)) < rng.random()).astype(np.uint8)
    b = (rng.random((nb, h, w)) < rng.random()).astype(np.uint8)
    if na and draw(st.booleans()):
        a[0] = 0  # an empty mask
    if na and nb and draw(st.booleans()):
        b[-1] = a[0]  # an identical pair
    return a, b


def _same(x, y):
    np.testing.assert_allclose(x, y, rtol=0, atol=1e-12, equal_nan=True)


@given(masks=mask_lists(), empty=EMPTY)
def test_matrices_of_kaggle_strings_equal_the_pixel_reference(masks, empty):
    a, b = masks
    shape = a.shape[1:]
    sa = [encode(m) for m in a]
    sb = [encode(m) or None for m in b]  # missing values are empty masks
    for fn, kind in ((iou_matrix, "iou"), (dice_matrix, "dice")):
        got = fn(sa, sb, shape=shape, empty=empty)
        assert got.shape == (len(a), len(b)) and got.dtype == np.float64
        _same(got, overlap_reference_matrix(sa, sb, shape, kind, empty))


@given(masks=mask_lists(), empty=EMPTY)
def test_matrices_of_coco_objects_equal_the_kaggle_ones(masks, empty):
    a, b = masks
    shape = a.shape[1:]
    ca = coco.encode(a)
    cb = [{"size": list(shape), "counts": rle_reference_coco_counts(m)} for m in b]  # uncompressed
    fa = [rle_reference_encode(m, "F") for m in a]
    expected = overlap_reference_matrix([encode(m) for m in a], [encode(m) for m in b], shape, "iou", empty)
    _same(iou_matrix(ca, cb, empty=empty), expected)
    _same(iou_matrix(fa, cb, shape=shape, order="F", empty=empty), expected)
    expected = overlap_reference_matrix([encode(m) for m in a], [encode(m) for m in b], shape, "dice", empty)
    _same(dice_matrix(ca, cb, empty=empty, shape=shape), expected)


@given(masks=mask_lists(max_items=4), empty=EMPTY)
def test_pairs_and_areas(masks, empty):
    a, b = masks
    shape = a.shape[1:]
    for x, y in zip(a, b):
        sx, sy = encode(x), encode(y)
        inter = int((x & y).sum())
        total = int(x.sum() + y.sum())
        _same(dice_rle(sx, sy, shape, empty=empty), 2 * inter / total if total else float("nan") if empty == "skip" else empty)
        union = total - inter
        _same(iou_rle(sx, sy, shape, empty=empty), inter / union if union else float("nan") if empty == "skip" else empty)
    items = [encode(m) for m in a] + coco.encode(b) + [None]
    assert area_many(items).tolist() == [int(m.sum()) for m in a] + [int(m.sum()) for m in b] + [0]
    assert area_many(items, shape=shape).dtype == np.int64


@given(
    runs=st.lists(st.tuples(st.integers(1, 30), st.integers(0, 6)), max_size=6),
    other=st.lists(st.tuples(st.integers(1, 30), st.integers(0, 6)), max_size=6),
)
def test_unsorted_overlapping_runs_with_strict_false_score_their_union(runs, other):
    shape = (6, 6)
    runs = [(s, n) for s, n in runs if s - 1 + n <= 36]
    other = [(s, n) for s, n in other if s - 1 + n <= 36]
    ta = " ".join(f"{s} {n}" for s, n in runs)
    tb = " ".join(f"{s} {n}" for s, n in other)
    expected = overlap_reference_matrix([ta], [tb], shape, "iou", strict=False)[0, 0]
    _same(iou_rle(ta, tb, shape, strict=False), expected)
    _same(iou_matrix([ta], [tb], shape=shape, strict=False)[0, 0], expected)
    px = set()
    for s, n in runs:
        px.update(range(s - 1, s - 1 + n))
    assert area_many([ta], strict=False).tolist() == [len(px)]


@given(masks=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 2**32 - 1)), max_size=6))
def test_area_many_of_coco_objects_of_several_sizes(masks):
    """The one-call path for bytes counts of mixed sizes (the real UWMGI mix), equal to the mask sums."""
    dense = [np.random.default_rng(seed).integers(0, 2, (h, w), dtype=np.uint8) for h, w, seed in masks]
    items = [coco.encode(m) for m in dense]
    assert area_many(items).tolist() == [int(m.sum()) for m in dense]
    # the same objects with sizes given as tuples / arrays (validated one by one) and list counts
    odd = [{"size": tuple(o["size"]), "counts": o["counts"]} for o in items]
    assert area_many(odd).tolist() == [int(m.sum()) for m in dense]


@given(
    data=st.binary(max_size=12).map(lambda b: bytes(48 + x % 64 for x in b)) | st.binary(max_size=8),
    h=st.integers(0, 4),
    w=st.integers(0, 4),
)
@example(data=b"0", h=0, w=0)  # one zero count
@example(data=b"4l", h=1, w=4)  # a second count that is negative
@example(data=b"31", h=2, w=2)  # counts summing to n exactly
@example(data=b"5", h=2, w=2)  # overrun
@example(data=b"3", h=2, w=2)  # short
@example(data=b"0p", h=1, w=1)  # a cut-off value (more bit on the last byte)
def test_area_many_of_any_counts_bytes_agrees_with_decode(data, h, w):
    """The one-pass area read either gives decode's area or decode's exact error."""
    obj = {"size": [h, w], "counts": data}
    try:
        want = int(coco.decode(obj).sum())
    except InvalidRleError as exc:
        with pytest.raises(InvalidRleError) as info:
            area_many([obj, obj])
        assert str(info.value) == "rles[0]: " + str(exc)
        assert info.value.item == 0
    else:
        assert area_many([obj, obj]).tolist() == [want, want]


def test_area_many_of_mixed_sizes_names_the_bad_item_with_its_own_size():
    good = coco.encode(np.ones((2, 3), np.uint8))
    with pytest.raises(InvalidRleError, match=r"rles\[2\]: COCO counts add up to 6 pixels; expected 4 for size=\[2, 2\]") as info:
        area_many([good, coco.encode(np.ones((1, 1), np.uint8)), {"size": [2, 2], "counts": good["counts"]}])
    assert info.value.item == 2
    with pytest.raises(InvalidRleError, match=r"rles\[1\]: COCO size=\[2, -1\] is not \[height, width\]") as info:
        area_many([good, {"size": [2, -1], "counts": b""}])
    assert info.value.item == 1
    with pytest.raises(InvalidRleError, match=r"rles\[1\]: .* is not a dict with 'size' and 'counts'") as info:
        area_many([good, {"counts": b""}])
    assert info.value.item == 1


@given(
    truth=st.lists(st.integers(0, 14), max_size=8).map(lambda v: " ".join(map(str, v))),
    pred=st.lists(st.integers(0, 14), max_size=8).map(lambda v: " ".join(map(str, v))),
)
@example(truth="1 2 3 2", pred="3 0 1 1")  # touching runs; a zero-length run before a start
@example(truth="1 0 1 1", pred="12 1")  # a zero-length run at the same start; the last pixel
@example(truth="2 2 3 1", pred="0 0")  # overlapping; start 0
def test_pairs_and_matrices_score_or_reject_as_decode_does(truth, pred):
    """Any pair of token strings: the decoded masks' scores, or decode's error naming the side."""
    shape = (3, 4)
    decoded = {}
    for name, text in (("truth", truth), ("pred", pred)):
        try:
            decoded[name] = decode(text, shape)
        except InvalidRleError as exc:
            decoded[name] = str(exc).replace("rle: ", f"{name}: ", 1)
    errors = [v for v in decoded.values() if isinstance(v, str)]
    if errors:
        with pytest.raises(InvalidRleError) as info:
            iou_rle(truth, pred, shape)
        assert str(info.value) == errors[0]
        with pytest.raises(InvalidRleError):
            iou_matrix([truth], [pred], shape=shape)
        return
    t, p = decoded["truth"], decoded["pred"]
    inter, union = int((t & p).sum()), int((t | p).sum())
    _same(iou_rle(truth, pred, shape), inter / union if union else 1.0)
    _same(iou_matrix([truth], [pred], shape=shape)[0, 0], inter / union if union else 1.0)


def test_bad_strings_raise_the_codec_messages_naming_the_item():
    with pytest.raises(InvalidRleError, match=r"pred: run 0 \(start=5, length=2\) ends at pixel 6, past the 4 pixels") as info:
        dice_rle("1 1", "5 2", (2, 2))
    assert info.value.run == 0
    with pytest.raises(InvalidRleError, match=r"truth: token 1 \('x', character 2\) is not an ASCII decimal integer"):
        iou_rle("1 x", "1 1", (2, 2))
    with pytest.raises(InvalidRleError, match=r"truth: run 1 \(start=1, length=1\) starts before run 0"):
        dice_rle("3 1 1 1", "", (2, 2))
    with pytest.raises(InvalidRleError, match=r"b\[1\]: odd number of tokens \(3\)") as info:
        iou_matrix(["1 1"], ["", "1 1 2"], shape=(2, 2))
    assert info.value.item == 1
    with pytest.raises(InvalidRleError, match=r"a\[0\]: COCO counts add up to 5 pixels; expected 4") as info:
        dice_matrix([{"size": [2, 2], "counts": b"5"}], [{"size": [2, 2], "counts": b"4"}])
    assert info.value.item == 0
    with pytest.raises(InvalidRleError, match=r"rles\[2\]: COCO counts: count 0 is -1") as info:
        area_many(["1 1", None, {"size": [1, 1], "counts": [-1, 2]}])
    assert info.value.item == 2
    with pytest.raises(InvalidRleError, match=r"rles\[1\]: run 0 \(start=0, length=1\) has start < 1") as info:
        area_many([{"size": [1, 1], "counts": b"1"}, "0 1"])
    assert info.value.item == 1
    with pytest.raises(InvalidRleError, match=r"rles\[0\]: run 0 \(start=4, length=2\) ends at pixel 5, past the 4 pixels"):
        area_many(["4 2"], shape=(2, 2))


def test_bad_arguments_say_what_is_expected():
    with pytest.raises(RlemaskError, match=r"a holds Kaggle strings; pass shape=\(height, width\)"):
        iou_matrix(["1 1"], ["1 1"])
    with pytest.raises(RlemaskError, match=r"a holds Kaggle strings in order='C' .* pass order='F'"):
        iou_matrix(["1 1"], [{"size": [2, 2], "counts": b"4"}])
    with pytest.raises(RlemaskError, match=r"b\[0\] has size=\[3, 2\]; expected shape=\(2, 2\)"):
        iou_matrix([{"size": [2, 2], "counts": b"4"}], [{"size": [3, 2], "counts": b"6"}])
    with pytest.raises(RlemaskError, match=r"a is a single str; expected a list"):
        iou_matrix("1 1", ["1 1"], shape=(2, 2))
    with pytest.raises(RlemaskError, match=r"rles is a single dict; expected a list"):
        area_many({"size": [1, 1], "counts": b"1"})
    with pytest.raises(RlemaskError, match=r"empty='zero' is not a valid empty-mask convention"):
        dice_rle("", "", (2, 2), empty="zero")


def test_empty_lists_give_empty_matrices():
    assert iou_matrix([], ["1 1"], shape=(2, 2)).shape == (0, 1)
    assert dice_matrix(["1 1"], [], shape=(2, 2)).shape == (1, 0)
    assert area_many([]).shape == (0,)
    assert math.isnan(iou_matrix([""], [None], shape=(2, 2), empty="skip")[0, 0])


@settings(deadline=None)
@example(keys=[])
@example(keys=[5])
@example(keys=[3, 3, 1, 3])
@given(keys=st.lists(st.integers(-(2**40), 2**40), max_size=60))
def test_the_heapsort_of_unsorted_runs_sorts(keys):
    from rlemask import _kernels_overlap as _ko

    arr = np.array(keys, np.int64)
    idx = _ko._argsort(arr)
    assert sorted(idx.tolist()) == list(range(len(keys)))  # a permutation
    assert arr[idx].tolist() == sorted(keys)


@settings(deadline=None)
@given(texts=st.lists(rle_strings(40), max_size=8), strict=st.booleans())
def test_area_many_of_strings_equals_the_reference(texts, strict):
    """The area-only kernel (every item a string): the size of each item's pixel set."""
    from tests.reference import RleReferenceError

    try:
        want = [len(overlap_reference_pixels(t, (1, 40), strict=strict)) for t in texts]
    except RleReferenceError:
        with pytest.raises(InvalidRleError):
            area_many(texts, shape=(1, 40), strict=strict)
        return
    assert area_many(texts, shape=(1, 40), strict=strict).tolist() == want
