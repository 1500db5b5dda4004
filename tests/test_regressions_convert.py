"""Fixed regression cases for :mod:`rlemask._convert` (the one conversion of user input), from the full
mutation run (issue 11). Each test names the mutants of ``tests/mutation/run.py`` it kills.
"""

from __future__ import annotations

import numpy as np
import pytest

from rlemask import _convert as cv
from rlemask.errors import InvalidMaskError


class _Tensor:
    """A duck-typed tensor whose ``numpy()`` fails (a dtype numpy lacks), with or without a working ``float()``."""

    def __init__(self, values, float_ok):
        self.values = np.asarray(values, np.float32)
        self.float_ok = float_ok

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        raise TypeError("Got unsupported ScalarType BFloat16")

    def float(self):
        if not self.float_ok:
            raise RuntimeError("float() is not implemented for this tensor")
        return self.values


def test_a_tensor_numpy_cannot_read():
    """Kills ``_convert::as_array::raise InvalidMaskError -> pass#1`` (a tensor whose ``numpy()`` and
    ``float()`` both fail returned None instead of raising)."""
    np.testing.assert_array_equal(cv.as_array(_Tensor([[1, 0]], float_ok=True)), [[1, 0]])
    with pytest.raises(InvalidMaskError, match=r"^mask cannot be read as an array: float\(\) is not implemented"):
        cv.as_array(_Tensor([[1, 0]], float_ok=False))
    with pytest.raises(InvalidMaskError, match=r"^pred cannot be read as an array: .*; expected a tensor or array of 0/1"):
        cv.as_binary(_Tensor([[1]], float_ok=False), "pred")


def test_uint8_values_are_checked_by_default():
    """Kills ``_convert::as_binary::True -> False#0`` (``check_uint8=False`` by default: a uint8 2 passed)
    and ``1 -> 2#3`` (``a.max() > 2``: a largest value of 2 passed)."""
    for values in ([[1, 2, 3]], [[1, 2, 0]], [[0, 0, 2]]):
        with pytest.raises(InvalidMaskError, match=r"^mask\[0, [12]\] = 2; expected only 0 and 1"):
            cv.as_binary(np.array(values, np.uint8))
    assert cv.as_binary(np.array([[1, 2]], np.uint8), check_uint8=False).tolist() == [[1, 2]]  # a kernel checks


@pytest.mark.parametrize(
    "shape, ndim, want",
    [
        ((4, 5, 1), 2, (4, 5)),  # a PNG mask (H, W, 1)
        ((3, 4, 5, 1), 3, (3, 4, 5)),  # a stack (n, H, W, 1)
        ((4, 5, 1), (2, 3), (4, 5, 1)),  # 3-D allowed: the axis stays
        ((3, 4, 5, 1), (2, 3), (3, 4, 5)),  # one more than the largest allowed: dropped
        ((1,), 0, ()),  # one value with a trailing axis, as a 0-D mask
        ((4, 1), 1, (4,)),
    ],
)
def test_a_trailing_axis_of_one_is_dropped_only_to_reach_the_largest_ndim(shape, ndim, want):
    """Kills ``_convert::as_binary::+ -> -#0``, ``1 -> 0#0``, ``1 -> 2#0``, ``== -> !=#0`` (which inputs
    lose the axis), ``max -> min#0`` (an allowed 3-D input squeezed to 2-D) and ``1 -> 2#1`` / ``>= -> >#0``
    (a 1-D input of one value not squeezed to 0-D)."""
    a = np.full(shape, 255, np.uint8)
    got = cv.as_binary(a, nonzero=True, ndim=ndim)
    assert got.shape == want
    assert got.dtype == np.uint8 and (got == 1).all()
    if shape[-1] == 1 and got.ndim != a.ndim:
        with pytest.raises(InvalidMaskError, match=r"has shape=.*; expected a"):
            cv.as_binary(a, nonzero=False, ndim=ndim)  # only nonzero=True drops the axis


def test_a_trailing_axis_longer_than_one_is_kept():
    with pytest.raises(InvalidMaskError, match=r"^mask has shape=\(4, 5, 2\) \(3-D\); expected a 2-D array"):
        cv.as_binary(np.ones((4, 5, 2), np.uint8), nonzero=True, ndim=2)


def test_nonzero_reads_any_non_zero_number_as_foreground_and_rejects_nan():
    """Kills ``_convert::as_binary::!= -> ==#0``, ``0 -> -1#1``, ``0 -> 1#1`` (the foreground test),
    ``== -> !=#4``, ``and -> or#3`` and ``raise first_bad -> pass#0`` (the NaN check of float masks)."""
    for values, dtype in (([[0, 255, 3]], np.uint8), ([[0, -1, 1]], np.int64), ([[0.0, 2.5, -0.5]], np.float32)):
        got = cv.as_binary(np.array(values, dtype), nonzero=True)
        assert got.dtype == np.uint8 and got.tolist() == [[0, 1, 1]]
    with pytest.raises(InvalidMaskError, match=r"^mask\[1, 0\] = nan; expected only 0 and 1 .*; NaN is neither background nor foreground$"):
        cv.as_binary(np.array([[0.0, 1.0], [np.nan, np.nan]]), nonzero=True)


@pytest.mark.parametrize("values", [np.array([[1 + 0j, 0j]]), np.array([["1", "0"]]), np.array([[1, 0]], dtype=object)])
def test_nonzero_does_not_accept_other_dtypes(values):
    """Kills ``_convert::as_binary::== -> !=#3`` and ``and -> or#2`` (with ``nonzero=True`` a complex,
    string or object array was read as non-zero values)."""
    for nonzero in (True, False):
        with pytest.raises(InvalidMaskError, match=rf"^mask has dtype={values.dtype}; expected 0/1 integers, floats or bool$"):
            cv.as_binary(values, nonzero=nonzero)
