"""Fixed regression cases for the shape check of the codec (mutation run of issue 11).

``rle._check_shape`` has a fast path for a tuple of two Python ints and a full
path for everything else; both must accept and reject the same shapes. Each case
sits on an edge a planted bug moved: a zero side given as a list or numpy int
(full path), a bool or float width next to an int height, a side of exactly 2**63
next to a zero side, and h * w of exactly 2**63 (one past the int64 pixel limit).
Mutants killed (``tests/mutation/run.py --id``): ``rle::_check_shape::0 -> 1#4``,
``rle::_check_shape::< -> <=#1`` (``w < 0``), ``rle::_check_shape::is -> is not#2``
(``type(w) is int``), ``rle::_check_shape::<= _MAX_PIXELS -> <= _MAX_PIXELS + 1#0..2``.
"""

from __future__ import annotations

import numpy as np
import pytest

from rlemask import InvalidRleError, decode


@pytest.mark.parametrize("shape", [[3, 0], [0, 3], (3, np.int64(0)), (np.int64(0), 3), np.array([3, 0])])
def test_a_zero_side_is_a_shape_on_the_full_path_too(shape):
    mask = decode("", shape)
    assert mask.shape == tuple(int(v) for v in shape) and mask.dtype == np.uint8


@pytest.mark.parametrize("shape", [(3, True), (3, 2.0), (True, 3), (2.0, 3), (3, np.True_)])
def test_bools_and_floats_are_not_sizes_on_either_side(shape):
    with pytest.raises(InvalidRleError, match="is not a shape"):
        decode("", shape)


@pytest.mark.parametrize("shape", [(2**63, 0), (0, 2**63), (2**32, 2**31), (2**31, 2**32), [2**63, 0], (2**63, 1)])
def test_shapes_one_past_the_int64_limit_are_rejected(shape):
    with pytest.raises(InvalidRleError, match=r"2\*\*63 - 1"):
        decode("", shape)


@pytest.mark.parametrize("shape", [(2**63 - 1, 0), (0, 2**63 - 1), [2**63 - 1, 0], (np.int64(2**63 - 1), 0)])
def test_a_side_of_exactly_the_int64_limit_is_a_shape(shape):
    """The limit itself is allowed on both paths (``max(...) > _MAX_PIXELS`` made ``>=``;
    ``_MAX_PIXELS = 2**63 - 1`` moved to ``2**63 - 2`` or ``2**62 - 1``)."""
    assert decode("", shape).shape == tuple(int(v) for v in shape)
