"""Fixed regression cases for :func:`rlemask.dialects.convert`, from mutation testing (issue 11).

With ``strict=True`` (the default) a conversion that keeps the pixel order
rewrites the runs without decoding them, and still rejects runs that are out of
order or overlap, with or without a shape.
"""

from __future__ import annotations

import pytest

from rlemask import InvalidRleError
from rlemask.dialects import convert


@pytest.mark.parametrize("shape", [None, (3, 3)])
@pytest.mark.parametrize(("text", "union"), [("5 2 1 3", "1 3 5 2"), ("1 3 2 2", "1 3")], ids=["unsorted", "overlapping"])
def test_strict_convert_rejects_unsorted_and_overlapping_runs(text, union, shape):
    """Kills ``dialects::convert::True -> False#1`` (the strict flag of the no-decode path)."""
    with pytest.raises(InvalidRleError, match="run"):
        convert(text, shape, source="rlemask", target={"base": 0})
    # strict=False decodes and scores the union instead
    assert convert(text, (3, 3), source="rlemask", target="rlemask", strict=False) == union
