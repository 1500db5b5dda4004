"""Fixed regression case for :mod:`rlemask.postprocess` input checks, from mutation testing (issue 11).

A mask with values other than 0 and 1 is rejected naming the FIRST bad value
(row-major), as everywhere else in rlemask.
"""

from __future__ import annotations

import numpy as np
import pytest

from rlemask import InvalidMaskError
from rlemask.postprocess import largest_component


def test_the_first_bad_value_is_named():
    """Kills ``postprocess::_masks::0 -> -1#0`` (``argwhere(a > 1)[0]`` -> ``[-1]``)."""
    mask = np.zeros((3, 4), np.uint8)
    mask[0, 2] = 2
    mask[2, 1] = 7
    with pytest.raises(InvalidMaskError, match=r"mask\[0, 2\] = 2; expected only 0 and 1"):
        largest_component(mask)
