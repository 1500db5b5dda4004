"""Fixed regression case for :mod:`rlemask.postprocess` input checks, from mutation testing (issue 11).

A mask with values other than 0 and 1 is rejected naming the FIRST bad value
(row-major), as everywhere else in rlemask.
"""

from __future__ import annotations

import numpy as np
import pytest

from rlemask import InvalidMaskError, InvalidRleError
from rlemask.postprocess import largest_component


def test_the_first_bad_value_is_named():
    """Kills ``postprocess::_masks::0 -> -1#0`` (``argwhere(a > 1)[0]`` -> ``[-1]``)."""
    mask = np.zeros((3, 4), np.uint8)
    mask[0, 2] = 2
    mask[2, 1] = 7
    with pytest.raises(InvalidMaskError, match=r"mask\[0, 2\] = 2; expected only 0 and 1"):
        largest_component(mask)


@pytest.mark.parametrize("op", ["largest_component", "remove_small", "fill_holes", "resize"])
def test_the_first_bad_value_after_ones_is_named(op):
    """Ones before the bad value are good values: the first value above 1 is named, not the first non-zero.

    Kills ``postprocess::_masks::1 -> 0#1`` and ``> -> >=#1`` (``argwhere(a > 0)``, ``argwhere(a >= 1)``:
    ``mask[0, 0] = 1`` named)."""
    from rlemask import postprocess

    mask = np.ones((2, 3, 4), np.uint8)
    mask[1, 1, 2] = 3
    args = {"largest_component": (), "remove_small": (2,), "fill_holes": (), "resize": ((4, 4),)}[op]
    with pytest.raises(InvalidMaskError, match=r"^mask\[1, 1, 2\] = 3; expected only 0 and 1$"):
        getattr(postprocess, op)(mask, *args)


def test_a_negative_max_size_is_rejected_not_read_as_any_size():
    """-1 is the internal "any size" of ``max_size=None``; a caller's -1 is an error.

    Kills ``postprocess::fill_holes::0 -> -1#0`` (``max_size < -1``: -1 accepted and every hole filled)."""
    from rlemask.errors import RlemaskError
    from rlemask.postprocess import fill_holes, fill_holes_rle

    ring = np.ones((5, 5), np.uint8)
    ring[1:4, 1:4] = 0
    for bad in (-1, -2):
        with pytest.raises(RlemaskError, match=rf"^max_size={bad}; expected None \(any size\) or a non-negative int"):
            fill_holes(ring, max_size=bad)
        with pytest.raises(RlemaskError, match=rf"^max_size={bad}; expected None"):
            fill_holes_rle("1 5 6 1 10 2 15 2 20 6", (5, 5), max_size=bad)
    assert fill_holes(ring, max_size=8).tolist() == ring.tolist()  # the hole has 9 pixels
    assert fill_holes(ring, max_size=9).sum() == 25


def test_resize_rejects_a_zero_width_as_well_as_a_zero_height():
    """Kills ``postprocess::resize::0 -> -1#1`` (``dw == -1``: a target width 0 gave an empty array) and
    ``0 -> -1#3`` (``w == -1``: a source of width 0 divided by zero)."""
    from rlemask.errors import RlemaskError
    from rlemask.postprocess import resize

    m = np.ones((2, 3), np.uint8)
    for shape in ((3, 0), (0, 3), (0, 0)):
        with pytest.raises(RlemaskError, match=r"has a zero side; expected \(height, width\) of at least 1 pixel"):
            resize(m, shape)
    for empty in (np.zeros((2, 0), np.uint8), np.zeros((0, 2), np.uint8), np.zeros((4, 3, 0), np.uint8)):
        with pytest.raises(InvalidMaskError, match=r"no pixels to resize from; expected height, width >= 1"):
            resize(empty, (2, 2))


def test_the_cached_resize_indices_are_read_only():
    """The index arrays are cached (lru_cache) and shared by every later call: read-only, as documented.

    Kills ``postprocess::_nearest::False -> True#0`` and ``postprocess::_first_columns::False -> True#0``."""
    from rlemask.postprocess import _first_columns, _nearest

    for src, dst in ((3, 7), (266, 384), (5, 2)):
        for arr in (_nearest(src, dst), _first_columns(src, dst)):
            assert arr.flags.writeable is False
            with pytest.raises(ValueError, match="read-only"):
                arr[0] = 1


def test_negative_min_size_and_max_size_of_the_string_functions():
    """Kills ``postprocess::remove_small_rle::0 -> -1#0`` (``min_size < -1``: -1 accepted),
    ``fill_holes_rle::0 -> -1#0``, ``or -> and#0`` and ``raise RlemaskError -> pass#0``."""
    from rlemask.errors import RlemaskError
    from rlemask.postprocess import fill_holes_rle, remove_small_rle

    with pytest.raises(RlemaskError, match=r"^min_size=-1; expected a non-negative int \(pixels\)$"):
        remove_small_rle("1 2", (2, 2), -1)
    for bad in (-1, 1.5, "3"):
        with pytest.raises(RlemaskError, match=r"^max_size=.*; expected None \(any size\) or a non-negative int"):
            fill_holes_rle("1 2", (2, 2), max_size=bad)


@pytest.mark.parametrize("name", ["largest_component_rle", "fill_holes_rle", "remove_small_rle"])
def test_the_string_functions_are_strict_by_default(name):
    """Kills ``postprocess::largest_component_rle::True -> False#0`` and ``fill_holes_rle::True -> False#0``."""
    from rlemask import postprocess

    fn = getattr(postprocess, name)
    args = (1,) if name == "remove_small_rle" else ()
    for text in ("4 1 1 1", "1 3 2 1"):
        with pytest.raises(InvalidRleError, match=r"runs must be sorted and non-overlapping"):
            fn(text, (2, 3), *args)
    assert fn("4 1 1 1", (2, 3), *args, strict=False) == fn("1 1 4 1", (2, 3), *args)


def _in_a_new_thread(fn, *args):
    """``fn(*args)`` in a fresh thread (so with fresh per-thread scratch), with a time limit."""
    import threading

    box = {}

    def run():
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), f"{fn.__name__} did not return within 60 s (its scratch never grew?)"
    if "error" in box:
        raise box["error"]
    return box["value"]


def _need(text, shape):
    """The int64 scratch a string asks for: grown from nothing in a fresh thread."""
    from rlemask import postprocess

    def probe():
        postprocess._scratch.work = np.empty(0, np.int64)
        postprocess._scratch.out = np.empty(0, np.uint8)
        postprocess.largest_component_rle(text, shape)
        return postprocess._scratch.work.size

    return _in_a_new_thread(probe)


def test_a_string_that_needs_one_int64_more_than_the_scratch_holds():
    """A thread whose scratch was grown for one string, then given a string that needs one value more, grows it again.

    Kills ``postprocess::_apply_rle::> work.size -> > work.size + 1#0`` (that string asked again and
    again for the same space: an endless loop)."""
    from rlemask import postprocess

    floor = postprocess._WORK + 1000  # above the first scratch: the first string sets its size exactly
    needs = {}
    for h in range(1, 40):
        shape = (h, 8)
        lo, hi = 3, 4 * floor  # the need grows with the length: the shortest padded string reaching floor
        while lo < hi:
            mid = (lo + hi) // 2
            if _need("1 1".ljust(mid), shape) < floor:
                lo = mid + 1
            else:
                hi = mid
        for length in range(lo, lo + 4):
            needs.setdefault(_need("1 1".ljust(length), shape), ("1 1".ljust(length), shape))
    pair = next(((needs[n], needs[n + 1]) for n in sorted(needs) if n + 1 in needs), None)
    assert pair is not None, "no two padded strings whose needs differ by one"
    (first, shape1), (second, shape2) = pair

    def both():
        return postprocess.largest_component_rle(first, shape1), postprocess.largest_component_rle(second, shape2)

    assert _in_a_new_thread(both) == ("1 1", "1 1")
