"""Fixed regression cases for the COCO counts codec, from mutation testing (issue 11).

The error contracts of :func:`rlemask.from_coco`: a dict without ``counts`` or
``size``, a ``size`` that is not iterable, counts characters just outside
``'0'..'o'``, counts too large, and the uint64 range boundary of count lists.
"""

from __future__ import annotations

import numpy as np
import pytest

from rlemask import InvalidRleError, from_coco, to_coco
from rlemask.coco import decode


@pytest.mark.parametrize(
    "obj",
    [
        {"size": [2, 2]},  # no counts
        {"counts": b"4"},  # no size
        {"size": [2, 2], "count": b"4"},
        {},
        [[2, 2], b"4"],
        None,
        "4",
    ],
    ids=repr,
)
def test_objects_without_size_and_counts(obj):
    """Kills ``_size``: ``or -> and`` in the key checks and the dropped raise."""
    with pytest.raises(InvalidRleError, match="is not a dict with 'size' and 'counts'"):
        from_coco(obj)


@pytest.mark.parametrize("size", [5, None, 2.0, object(), [2], [2, 2, 2], ["2", "2"], [2.0, 2.0], [2, -1], [-1, 2],
                                  [True, 2]], ids=repr)
def test_sizes_that_are_not_height_width(size):
    """A non-iterable size (``tuple(5)`` raises TypeError) is an InvalidRleError too."""
    with pytest.raises(InvalidRleError, match="size="):
        from_coco({"size": size, "counts": b"4"})


def test_numpy_and_tuple_sizes_are_sizes():
    for size in ((2, 2), [np.int64(2), np.int32(2)], np.array([2, 2])):
        assert from_coco({"size": size, "counts": b"04"}) == "1 4"


@pytest.mark.parametrize("byte", [b"/", b"p", b"\x00", b"\x7f", b" ", b"\xff"])
def test_counts_bytes_just_outside_the_alphabet(byte):
    """Kills ``coco_decompress``: ``c > 63 -> c > 64`` ('p') and ``c < 0 -> c < -1`` ('/')."""
    for raw in (byte, b"0" + byte, b"04" + byte):
        with pytest.raises(InvalidRleError, match="is not a counts character") as info:
            from_coco({"size": [2, 2], "counts": raw})
        assert info.value.offset == len(raw) - 1


def test_counts_alphabet_edges_are_characters():
    # '0' (0) and 'o' (63 = 0x20 | 0x1f: "more" bit set, low bits -1) are both valid
    assert from_coco({"size": [1, 4], "counts": b"4"}) == ""
    with pytest.raises(InvalidRleError, match="cut off at the end"):
        from_coco({"size": [1, 4], "counts": b"o"})


def test_counts_too_large():
    """Twelve 5-bit groups are the most a count may take (``k >= 12``)."""
    for k in (12, 13, 20):
        raw = b"_" * k + b"0"  # '_' = 47: more groups follow, low bits 15
        with pytest.raises(InvalidRleError, match="too large") as info:
            from_coco({"size": [2, 2], "counts": raw})
        assert info.value.offset == 12


def test_count_lists_at_the_int64_limit():
    """Kills ``_counts``: ``> int64 max -> >=``: 2**63 - 1 is a valid (if wrong-sized) count."""
    top = np.iinfo(np.int64).max
    with pytest.raises(InvalidRleError, match="add up to") as info:
        from_coco({"size": [2, 2], "counts": np.array([top], np.uint64)})
    assert "int64 range" not in str(info.value)
    for counts, first in (([0, top + 1, 5], 1), ([top, top + 1], 1), ([top + 1, top], 0), ([1, top, 2**64 - 1], 2)):
        with pytest.raises(InvalidRleError, match="above the int64 range") as info:
            from_coco({"size": [2, 2], "counts": np.array(counts, np.uint64)})
        assert info.value.run == first, counts


def test_counts_of_a_single_pixel_and_full_masks():
    for rle, shape in (("1 1", (1, 1)), ("", (1, 1)), ("1 6", (2, 3)), ("6 1", (2, 3)), ("1 1 6 1", (2, 3))):
        assert from_coco(to_coco(rle, shape)) == rle
        counts = to_coco(rle, shape)["counts"]
        assert from_coco({"size": list(shape), "counts": counts.decode("ascii")}) == rle


# found by the mutation run (coco::_size::0 -> 1#0): the list fast path of coco._size skipped the
# int64 pixel limit and numpy's ValueError escaped; fixed in coco._size
@pytest.mark.parametrize("size", [[2**40, 2**40], [0, 2**63], [2**63, 0], [2**31, 2**33]])
def test_list_sizes_past_the_int64_limit_are_invalid(size):
    for call in (from_coco, decode):
        with pytest.raises(InvalidRleError, match=r"size=\[|pixels"):
            call({"size": size, "counts": b""})
    # the same size as a tuple already is
    with pytest.raises(InvalidRleError):
        from_coco({"size": tuple(size), "counts": b""})


def test_the_last_counts_character_o_is_read_by_every_kernel():
    """'o' (byte 111, value 63: the more bit and 31) is the largest valid counts character; the
    area kernel must take it as a digit, as decode does (``_kernels_coco::_area::> -> >=#0``:
    'o' was rejected as a bad byte by ``area_many`` only)."""
    from rlemask import coco, overlap

    obj = {"size": [6, 7], "counts": b"011o00WO"}
    mask = coco.decode(obj)
    assert int(mask.sum()) == 40
    assert coco.encode(mask) == obj
    assert overlap.area_many([obj]).tolist() == [40]
    assert overlap.area_many([obj, obj]).tolist() == [40, 40]
