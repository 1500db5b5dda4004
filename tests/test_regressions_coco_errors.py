"""Fixed regression cases for the errors of ``rlemask.coco.decode`` (full mutation run of ``coco``).

A batch names its first bad object (``coco::_raise_status::0 -> -1#1``: the last one); a
single object's error carries no item and no ``objs[i]`` prefix (``coco::decode::False ->
True#0`` / ``#1``: the batch flag passed for a single object).
"""

from __future__ import annotations

import pytest

from rlemask import InvalidRleError
from rlemask.coco import decode

GOOD = {"size": [2, 2], "counts": b"04"}


def test_a_batch_names_its_first_bad_object():
    objs = [GOOD, {"size": [2, 2], "counts": b"0~"}, GOOD, {"size": [2, 2], "counts": b"0!"}]
    with pytest.raises(InvalidRleError) as info:
        decode(objs)
    assert info.value.item == 1
    assert str(info.value).startswith("objs[1]: COCO counts: byte 1 (b'~')")


@pytest.mark.parametrize("obj", [{"size": [2, 2], "counts": b"0~"}, {"size": [2, 2], "counts": [1, 9]}])
def test_a_single_object_error_has_no_item(obj):
    with pytest.raises(InvalidRleError) as info:
        decode(obj)
    assert info.value.item is None
    assert str(info.value).startswith("COCO counts")
