"""Fixed regression cases for :func:`rlemask.dialects.convert`, from mutation testing (issue 11).

With ``strict=True`` (the default) a conversion that keeps the pixel order
rewrites the runs without decoding them, and still rejects runs that are out of
order or overlap, with or without a shape.
"""

from __future__ import annotations

import pytest

from rlemask import InvalidRleError
from rlemask.errors import RlemaskError
from rlemask.dialects import convert


@pytest.mark.parametrize("shape", [None, (3, 3)])
@pytest.mark.parametrize(("text", "union"), [("5 2 1 3", "1 3 5 2"), ("1 3 2 2", "1 3")], ids=["unsorted", "overlapping"])
def test_strict_convert_rejects_unsorted_and_overlapping_runs(text, union, shape):
    """Kills ``dialects::convert::True -> False#1`` (the strict flag of the no-decode path)."""
    with pytest.raises(InvalidRleError, match="run"):
        convert(text, shape, source="rlemask", target={"base": 0})
    # strict=False decodes and scores the union instead
    assert convert(text, (3, 3), source="rlemask", target="rlemask", strict=False) == union


@pytest.mark.parametrize("text", ["1 1 2 1", "1 0 3 1", "2 1 3 1 4 0", "1 2"])
@pytest.mark.parametrize("target", ["rlemask", {"base": 0}, {"relative": True, "empty_token": "-1"}])
def test_a_shape_only_checks_a_same_order_conversion(text, target):
    """With the pixel order unchanged, ``shape`` only bounds the runs: the runs are rewritten as they are
    written (adjacent runs stay apart, zero lengths stay), with or without it.

    Kills ``dialects::convert::and -> or#1`` (every conversion with a shape went through a decoded
    mask, which merges adjacent runs and drops empty ones)."""
    assert convert(text, (2, 2), source="uwmgi", target=target) == convert(text, source="uwmgi", target=target)
    assert convert(text, (2, 2), source="uwmgi", target="uwmgi") == text
    with pytest.raises(InvalidRleError, match=r"past the 3 pixels of shape=\(1, 3\)"):
        convert(text + " 4 1", (1, 3), source="uwmgi", target=target)


@pytest.mark.parametrize("bad", [3, None, 1.0, ["uwmgi"], ("C", 1)])
def test_a_dialect_that_is_neither_a_name_a_dialect_nor_a_dict(bad):
    """Kills ``dialects::_dialect::raise RlemaskError -> pass#2`` (an int taken as a dialect, failing later
    with an AttributeError)."""
    with pytest.raises(RlemaskError, match=r"^source=.* is not a dialect; expected a name \(airbus, .*\), a Dialect or a dict$"):
        convert("1 1", source=bad, target="uwmgi")
    with pytest.raises(RlemaskError, match=r"^target=.* is not a dialect; expected a name"):
        convert("1 1", source="uwmgi", target=bad)
