"""Fixed regression cases for :mod:`rlemask.overlap`, from the full mutation run (issue 11).

Each test names the mutants of ``tests/mutation/run.py`` it kills; every one
survived the module's own tests (``tests/test_overlap.py``, ``tests/test_metrics.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlemask import coco, decode
from rlemask.errors import InvalidRleError, RlemaskError
from rlemask.overlap import area_many, dice_matrix, dice_rle, iou_matrix, iou_rle


def _decode_message(text, shape):
    with pytest.raises(InvalidRleError) as info:
        decode(text, shape)
    return str(info.value).removeprefix("rle: ")


@pytest.mark.parametrize("score", [dice_rle, iou_rle])
def test_true_is_not_the_default_empty_convention(score):
    """``empty=True`` equals 1.0 but is a bool: rejected as by the dense metrics, not taken for the default.

    Kills ``overlap::iou_rle::is -> is not#0`` (``type(empty) is not float and empty == 1.0``)."""
    with pytest.raises(RlemaskError, match=r"empty=True is not a valid empty-mask convention"):
        score("", "", (2, 2), empty=True)
    assert score("", "", (2, 2), empty=1) == 1.0  # an int 1 is the documented value


@pytest.mark.parametrize("score", [dice_rle, iou_rle])
@pytest.mark.parametrize("pred", [0, 0.0, [], ()])
def test_an_empty_truth_string_does_not_wave_through_a_falsy_non_string(score, pred):
    """The no-kernel path of two empty strings only takes two ``str``.

    Kills ``overlap::_pair::is -> is not#1`` (``type(pred) is not str``: ``dice_rle("", 0, shape)``
    scored 1.0 instead of rejecting the int)."""
    with pytest.raises(InvalidRleError, match=r"^pred: .* is not a run-length string; expected str"):
        score("", pred, (2, 2))


@pytest.mark.parametrize("score", [dice_rle, iou_rle])
@pytest.mark.parametrize("pred", [None, pd.NA, float("nan"), b""])
def test_an_empty_truth_string_with_a_missing_prediction(score, pred):
    """Missing values beside an empty string score ``empty`` (``pd.NA`` has no truth value)."""
    assert score("", pred, (2, 2)) == 1.0
    assert score(pred, "", (2, 2), empty=0.0) == 0.0


def test_a_batch_names_its_first_bad_string_of_two():
    """Kills ``overlap::_raise_first::0 -> -1#1`` (``bad[-1]``: the last bad item named)."""
    with pytest.raises(InvalidRleError, match=r"^a\[1\]: token 1 \('x'") as info:
        iou_matrix(["1 1", "1 x", "9 9 9"], ["1 1"], shape=(2, 2))
    assert info.value.item == 1
    with pytest.raises(InvalidRleError, match=r"^rles\[0\]: odd number of tokens") as info:
        area_many(["1 1 2", "4 1", "1 x"], shape=(2, 2))
    assert info.value.item == 0


@pytest.mark.parametrize(
    "bad",
    ["1 1 2", "2 1 1 1", "1 x", "3 3", "99999999999999999999 1"],
)
@pytest.mark.parametrize("where", [0, 1, 2])
def test_a_bad_string_of_a_batch_has_decodes_message(bad, where):
    """The message of a bad item is built from that item's text alone, as ``decode`` builds it.

    Kills ``overlap::_raise_first::+ -> -#0`` (``data[offsets[i]:offsets[i - 1]]``: the previous item's
    text, or the whole buffer for item 0, quoted in the message)."""
    items = ["1 2 3 1", "2 2", "4 1"]
    items[where] = bad
    want = f"a[{where}]: " + _decode_message(bad, (2, 2))
    with pytest.raises(InvalidRleError) as info:
        dice_matrix(items, ["1 1"], shape=(2, 2))
    assert str(info.value) == want
    assert info.value.item == where
    with pytest.raises(InvalidRleError) as info:
        area_many(items, shape=(2, 2))
    assert str(info.value) == want.replace("a[", "rles[", 1)


def test_coco_lists_with_a_non_dict_item_are_invalid_rle():
    """A list that starts with a COCO dict and holds something else goes item by item.

    Kills ``overlap::_packed::!= -> ==#0`` and ``overlap::_packed::or -> and#0`` (the one-call path
    taken for a mixed list: ``None["counts"]`` raised ``TypeError``)."""
    obj = coco.encode(np.eye(3, dtype=np.uint8))
    for other in (None, "x", 3, [obj]):
        with pytest.raises(InvalidRleError, match=r"^a\[1\]: .* is not a dict with 'size' and 'counts'") as info:
            iou_matrix([obj, other], [obj])
        assert info.value.item == 1


def test_coco_sizes_given_as_arrays():
    """Sizes that are not lists (numpy arrays, tuples) leave the one-call path.

    Kills ``overlap::_packed::!= -> ==#2`` (the one-call path taken for array sizes:
    ``list.count`` compared two arrays and raised ``ValueError``)."""
    m = np.eye(3, dtype=np.uint8)
    obj = coco.encode(m)
    items = [{"size": np.array(obj["size"]), "counts": obj["counts"]} for _ in range(3)]
    assert area_many(items).tolist() == [3, 3, 3]
    np.testing.assert_array_equal(iou_matrix(items, items), np.ones((3, 3)))
    items = [{"size": tuple(obj["size"]), "counts": obj["counts"]} for _ in range(2)]
    np.testing.assert_array_equal(dice_matrix(items, [obj], shape=(3, 3)), np.ones((2, 1)))


@pytest.mark.parametrize("size", [[2, -1], [-1, 2], [2**62, 4]])
def test_one_bad_size_shared_by_every_item_is_named_on_the_first(size):
    """Kills ``overlap::_packed::0 -> -1#1`` (``starts = [-1]``: the size checked on ``items[-1]`` and
    the error named ``rles[-1]``)."""
    bad = [{"size": list(size), "counts": b"0"} for _ in range(3)]
    with pytest.raises(InvalidRleError, match=r"^rles\[0\]: COCO size=.* is not \[height, width\]") as info:
        area_many(bad)
    assert info.value.item == 0
    with pytest.raises(InvalidRleError, match=r"^b\[0\]: COCO size=") as info:
        iou_matrix([], bad)
    assert info.value.item == 0


@pytest.mark.parametrize("counts", [b"5", b"3", b"0p", b"4l", b"1~"])
@pytest.mark.parametrize("first", [{"size": [2, 2], "counts": [1, 2, 1]}, {"size": (2, 2), "counts": b"4"}])
def test_bad_counts_bytes_beside_items_of_the_item_by_item_path(first, counts):
    """A list with uncompressed counts or tuple sizes goes item by item; a bad compressed item there
    raises ``coco.decode``'s message, named by its index.

    Kills ``overlap::_coco_batch::0 -> -1#2``, ``0 -> 1#2`` (the status column of the error code
    misread) and ``True -> False#2`` (the batch flag: no ``a[1]:`` prefix, no ``item``)."""
    bad = {"size": [2, 2], "counts": counts}
    with pytest.raises(InvalidRleError) as want:
        coco.decode(bad)
    with pytest.raises(InvalidRleError) as info:
        iou_matrix([first, bad], [first])
    assert str(info.value) == f"a[1]: {want.value}"
    assert info.value.item == 1
    with pytest.raises(InvalidRleError) as info:
        area_many([first, first, bad])
    assert str(info.value) == f"rles[2]: {want.value}"
    assert info.value.item == 2


def _dense(objs):
    return np.stack([coco.decode(o) for o in objs]).astype(bool)


def _iou_dense(a, b):
    inter = (a[:, None] & b[None]).sum((2, 3))
    union = (a[:, None] | b[None]).sum((2, 3))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def test_lists_mixing_compressed_and_uncompressed_counts():
    """Uncompressed counts are read in numpy and spliced between the kernel's intervals of the bytes items.

    Kills ``overlap::_coco_batch::+ -> -#1``, ``1 -> 0#4``, ``1 -> 2#4`` and the two moved slice bounds of
    ``bounds[boff[i]:boff[i + 1]]`` (the intervals of a bytes item beside a list item)."""
    rng = np.random.default_rng(0)
    masks = (rng.random((6, 5, 4)) < 0.5).astype(np.uint8)
    masks[2] = 0
    objs = coco.encode(masks)
    for k in (0, 2, 3):  # some items as lists of counts (one of them empty)
        objs[k] = {"size": [5, 4], "counts": _counts(masks[k])}
    dense = _dense(objs)
    np.testing.assert_array_equal(dense, masks.astype(bool))
    np.testing.assert_allclose(iou_matrix(objs, objs), _iou_dense(dense, dense), rtol=0, atol=1e-12)
    np.testing.assert_allclose(iou_matrix(objs[::-1], objs), _iou_dense(dense[::-1], dense), rtol=0, atol=1e-12)
    assert area_many(objs).tolist() == masks.sum((1, 2)).tolist()


def _counts(mask):
    """Uncompressed COCO counts (column-major, starting with zeros) of one mask."""
    flat = mask.ravel(order="F")
    counts, value, run = [], 0, 0
    for v in flat.tolist():
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    return counts


@pytest.mark.parametrize(
    "counts",
    [[1, 0, 1, 2, 0], [0, 0, 4], [2, 0, 0, 0, 2], [0, 4], [1, 0, 0, 3]],
)
def test_uncompressed_counts_with_zero_length_runs(counts):
    """Zero counts inside uncompressed counts: the empty runs of ones add nothing (pycocotools reads them so)."""
    obj = {"size": [2, 2], "counts": counts}
    dense = coco.decode(obj).astype(bool)
    other = [{"size": [2, 2], "counts": [1, 3]}, {"size": [2, 2], "counts": [4]}, obj]
    got = iou_matrix([obj], other)
    np.testing.assert_allclose(got, _iou_dense(dense[None], _dense(other)), rtol=0, atol=1e-12)
    assert area_many([obj, obj]).tolist() == [int(dense.sum())] * 2


def test_uncompressed_counts_errors_name_the_first_bad_count_and_the_total():
    """Kills ``overlap::_counts_bounds::0 -> -1#1`` (``neg[-1]``: the last negative count named) and
    ``raise _error -> pass#1`` (uncompressed counts that do not add up to the size, read as they are)."""
    with pytest.raises(InvalidRleError, match=r"^a\[0\]: COCO counts: count 1 is -2; expected counts >= 0") as info:
        iou_matrix([{"size": [2, 2], "counts": [1, -2, 3, -1, 3]}], [])
    assert info.value.item == 0 and info.value.run == 1
    for counts, total in (([1, 2], 3), ([1, 2, 3], 6), ([], 0)):
        obj = {"size": [2, 2], "counts": counts}
        with pytest.raises(InvalidRleError) as want:
            coco.decode(obj)
        assert f"add up to {total} pixels; expected 4" in str(want.value)
        with pytest.raises(InvalidRleError) as info:
            iou_matrix([{"size": [2, 2], "counts": [4]}], [{"size": [2, 2], "counts": [4]}, obj])
        # the message of coco.decode, the why (short / overrun at count k) included
        assert str(info.value) == "b[1]: " + str(want.value)
        assert info.value.item == 1
    with pytest.raises(InvalidRleError) as info:
        area_many([{"size": [2, 2], "counts": [1, 2, 3]}])
    assert str(info.value).endswith("add up to 6 pixels; expected 4 for size=[2, 2] (the counts overrun the mask at count 2)")
    with pytest.raises(InvalidRleError) as info:
        area_many([{"size": [2, 2], "counts": [1, 2]}])
    assert str(info.value).endswith("add up to 3 pixels; expected 4 for size=[2, 2] (the counts fall short of the mask)")


def test_generators_are_read_once():
    """Kills ``overlap::_batch::is -> is not#0`` and ``overlap::area_many::is -> is not#0`` (a generator
    used as it is, after a first pass over it has consumed it)."""
    texts = ["1 2", "", "2 3"]
    np.testing.assert_allclose(
        iou_matrix((t for t in texts), iter(texts), shape=(2, 3)), iou_matrix(texts, texts, shape=(2, 3))
    )
    objs = coco.encode(np.eye(3, dtype=np.uint8)[None].repeat(2, 0))
    np.testing.assert_array_equal(dice_matrix(iter(objs), (o for o in objs)), np.ones((2, 2)))
    assert area_many(t for t in texts).tolist() == [2, 0, 3]
    assert area_many(iter(objs)).tolist() == [3, 3]
    assert area_many(iter(objs + texts)).tolist() == [3, 3, 2, 0, 3]


def _coco_eye(n):
    return coco.encode(np.eye(n, dtype=np.uint8))


def test_masks_of_two_sizes_are_rejected():
    """Kills ``overlap::_pair_batches::0 -> -1#0`` (``shape = ba.shapes[-1]``: b checked against the last
    size of a), ``is not -> is#0``, ``1 -> 2#0`` and ``raise RlemaskError -> pass#1`` (two sizes scored)."""
    two = [_coco_eye(2), _coco_eye(3)]
    with pytest.raises(RlemaskError, match=r"^a and b hold masks of sizes \[\(2, 2\), \(3, 3\)\]; expected one size"):
        iou_matrix(two, [_coco_eye(2)])
    with pytest.raises(RlemaskError, match=r"^a and b hold masks of sizes \[\(2, 2\), \(3, 3\)\]; expected one size"):
        dice_matrix(two, [])
    # b is checked against the size of a's first object
    with pytest.raises(RlemaskError, match=r"^b\[1\] has size=\[3, 3\]; expected shape=\(2, 2\)"):
        dice_matrix([_coco_eye(2)], two)


@pytest.mark.parametrize("b", [[_coco_eye(2)], [_coco_eye(2), _coco_eye(3)]])
def test_kaggle_strings_against_coco_objects_take_the_first_objects_size(b):
    """Kaggle strings without ``shape`` are checked against the size of the first COCO object of the other list.

    Kills ``overlap::_pair_batches::not x -> x#0`` (the strings not read again with that size: a run
    past its pixels scored) and ``0 -> -1#1`` (``bb.shapes[-1]``: checked against the last size)."""
    with pytest.raises(InvalidRleError, match=r"^a\[1\]: run 0 \(start=4, length=2\) ends at pixel 5, past the 4 pixels of shape=\(2, 2\)"):
        iou_matrix(["1 1", "4 2"], b, order="F")


def test_strict_is_the_default_of_the_list_functions():
    """Kills ``overlap::dice_matrix::True -> False#0`` and ``overlap::area_many::True -> False#0``."""
    for text in ("3 1 1 1", "1 2 2 1"):
        with pytest.raises(InvalidRleError, match=r"runs must be sorted and non-overlapping"):
            dice_matrix([text], ["1 1"], shape=(2, 2))
        with pytest.raises(InvalidRleError, match=r"runs must be sorted and non-overlapping"):
            iou_matrix(["1 1"], [text], shape=(2, 2))
        with pytest.raises(InvalidRleError, match=r"^rles\[0\]: .*runs must be sorted and non-overlapping"):
            area_many([text])
        assert area_many([text], strict=False).tolist() == [2]


def test_a_mixed_list_renames_only_the_item_prefix():
    """The index of a Kaggle item in a mixed list is rewritten in the prefix only, not in the quoted text.

    Kills ``overlap::_renamed::1 -> 2#0`` (``str.replace(..., 2)``)."""
    with pytest.raises(InvalidRleError) as info:
        area_many([_coco_eye(2), "1 1 rles[0]"])
    assert str(info.value).startswith("rles[1]: token 2 ('rles[0]', character 4)")
    assert info.value.item == 1
