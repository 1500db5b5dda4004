"""Fixed regression cases for the metrics, from mutation testing (issue 11).

A stray value 2 in the unaligned head or tail bytes of a row (the counting
kernel reads whole 8-byte words in the middle, single bytes at the ends),
non-0/1 values such as 1.5 or 256 without torch, and reports where a whole
class or a whole scan is skipped under ``empty="skip"`` (NaN, never 0).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from tests.reference import metric_uwmgi_score

from rlemask import InvalidMaskError, dice, encode, iou, uwmgi_score

CLASSES = ("large_bowel", "small_bowel", "stomach")


def _unaligned(shape):
    """A zeroed uint8 array of ``shape`` whose data starts one byte past an 8-byte boundary."""
    n = int(np.prod(shape))
    base = np.zeros(n + 16, np.uint8)
    skip = (-base.ctypes.data) % 8 + 1
    return base[skip : skip + n].reshape(shape)


@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 3, 3), (1, 1, 9), (4, 2, 12)])
@pytest.mark.parametrize("aligned", [True, False])
def test_a_stray_2_anywhere_in_a_row_is_found(shape, aligned):
    """Kills ``count_rows``: ``o_byte > 1 -> o_byte > 2`` / ``>= 2`` misses, the head and
    tail loops' bounds (``head_end``, ``tail_start``) and the word flag ``_HIGH7``."""
    make = (lambda: np.zeros(shape, np.uint8)) if aligned else (lambda: _unaligned(shape))
    zeros = make()
    ones = make()
    ones[...] = 1
    for flat in range(int(np.prod(shape))):
        index = np.unravel_index(flat, shape)
        for value, background, other in ((2, 0, zeros), (2, 0, ones), (2, 1, ones), (3, 0, zeros), (255, 1, zeros)):
            # on zeros against zeros, the OR of the row's bytes is exactly the stray value
            bad = make()
            bad[...] = background
            bad[index] = value
            for args in ((bad, other), (other, bad)):
                with pytest.raises(InvalidMaskError, match=rf"\b{value}\b"):
                    dice(*args)
                with pytest.raises(InvalidMaskError, match=rf"\b{value}\b"):
                    iou(*args)


@pytest.mark.parametrize(
    "values, dtype",
    [([0, 1.5], np.float64), ([0, 256], np.int16), ([256, 1], np.uint16), ([0, -1], np.int8),
     ([1, np.nan], np.float32), ([0, 0.5], np.float16)],
)
def test_values_other_than_0_and_1_without_torch(values, dtype):
    """256 must not wrap to 0 and 1.5 must not truncate to 1 (a cast before the check)."""
    bad = np.array([values, [0, 1]], dtype=dtype)
    good = np.array([[0, 1], [0, 1]], dtype=np.uint8)
    for args in ((bad, good), (good, bad)):
        with pytest.raises(InvalidMaskError, match="0/1"):
            dice(*args)
        with pytest.raises(InvalidMaskError, match="0/1"):
            iou(*args)


def test_counts_near_row_ends_are_exact():
    """Rows of 1 to 20 pixels, every single-pixel overlap: head/tail bytes counted once."""
    for width in range(1, 21):
        for k in range(width):
            a = np.zeros((3, 1, width), np.uint8)
            b = np.zeros((3, 1, width), np.uint8)
            a[1, 0, k] = 1
            b[1, 0, k] = 1
            b[1, 0, (k + 1) % width] = 1
            expected = 1.0 if width == 1 else 2 / 3
            np.testing.assert_allclose(dice(a, b), [1.0, expected, 1.0])


# ----------------------------------------------------------------------------------
# reports: everything skipped in a class or a scan
# ----------------------------------------------------------------------------------


def _tables():
    """Scan case1_day0 (3 slices): large bowel in both, small bowel never, stomach missed
    on slice 2. Scan case2_day0 (2 slices): nothing at all."""
    shape = (6, 6)
    lb = np.zeros(shape, np.uint8)
    lb[1:3, 1:4] = 1
    lb_pred = np.zeros(shape, np.uint8)
    lb_pred[1:3, 2:5] = 1
    st = np.zeros(shape, np.uint8)
    st[4:6, 0:2] = 1
    truth, pred = [], {}
    for s in (1, 2, 3):
        i = f"case1_day0_slice_{s:04d}"
        truth.append({"id": i, "height": 6, "width": 6, "large_bowel": encode(lb), "small_bowel": "",
                      "stomach": encode(st) if s == 2 else ""})
        pred[i] = {"large_bowel": encode(lb_pred), "small_bowel": "", "stomach": ""}
    for s in (1, 2):
        i = f"case2_day0_slice_{s:04d}"
        truth.append({"id": i, "height": 6, "width": 6, "large_bowel": "", "small_bowel": "", "stomach": ""})
        pred[i] = {"large_bowel": "", "small_bowel": "", "stomach": ""}
    pred_frame = pd.DataFrame([{"id": i, **v} for i, v in pred.items()])
    return truth, pred, pd.DataFrame(truth), pred_frame


def test_all_skipped_class_and_scan_are_nan_not_zero():
    """Kills ``_nanmean``'s NaN for an all-NaN input (``0.0`` instead) and the
    ``empty="skip"`` Hausdorff of two empty volumes."""
    truth_rows, pred_rows, truth, pred = _tables()
    report = uwmgi_score(truth, pred, empty="skip")
    per_class = report.per_class.set_index("class")
    assert math.isnan(per_class.loc["small_bowel", "dice"])
    assert math.isnan(per_class.loc["small_bowel", "hausdorff"])
    assert math.isnan(per_class.loc["small_bowel", "score"])
    # stomach: one scored row (slice 2, missed: Dice 0), the rest skipped
    assert per_class.loc["stomach", "dice"] == 0.0
    assert per_class.loc["stomach", "hausdorff"] == 1.0
    scan2 = report.per_scan[report.per_scan["case_day"] == "case2_day0"]
    assert len(scan2) == 3
    assert scan2["dice"].isna().all() and scan2["hausdorff"].isna().all() and scan2["score"].isna().all()
    scan1_sb = report.per_scan[(report.per_scan["case_day"] == "case1_day0") & (report.per_scan["class"] == "small_bowel")]
    assert scan1_sb["dice"].isna().all() and scan1_sb["hausdorff"].isna().all()
    # the means leave the skipped rows out: only large bowel (3 rows) and stomach (1 row) count
    score, mean_dice, mean_hd = metric_uwmgi_score(truth_rows, pred_rows, CLASSES, empty="skip")
    assert report.dice == pytest.approx(mean_dice) and report.hausdorff == pytest.approx(mean_hd)
    assert report.score == pytest.approx(score)
    summary = report.summary.iloc[0]
    assert summary["dice_rows"] == 4 and summary["hausdorff_rows"] == 2
    data = report.to_dict()
    rows = {r["class"]: r for r in data["per_class"]}
    assert rows["small_bowel"]["dice"] is None and rows["small_bowel"]["hausdorff"] is None


@pytest.mark.parametrize("empty, dice_value, hd_value", [(1.0, 1.0, 0.0), (0.0, 0.0, 1.0)])
def test_all_empty_class_and_scan_score_the_convention(empty, dice_value, hd_value):
    truth_rows, pred_rows, truth, pred = _tables()
    report = uwmgi_score(truth, pred, empty=empty)
    per_class = report.per_class.set_index("class")
    assert per_class.loc["small_bowel", "dice"] == dice_value
    assert per_class.loc["small_bowel", "hausdorff"] == hd_value
    scan2 = report.per_scan[report.per_scan["case_day"] == "case2_day0"]
    assert (scan2["dice"] == dice_value).all() and (scan2["hausdorff"] == hd_value).all()
    score, mean_dice, mean_hd = metric_uwmgi_score(truth_rows, pred_rows, CLASSES, empty=empty)
    assert (report.score, report.dice, report.hausdorff) == pytest.approx((score, mean_dice, mean_hd))


def test_everything_skipped_is_nan():
    truth = pd.DataFrame({"id": ["case3_day1_slice_0001"], "height": [4], "width": [4],
                          "large_bowel": [""], "small_bowel": [None], "stomach": [""]})
    report = uwmgi_score(truth, truth.copy(), empty="skip")
    assert math.isnan(report.dice) and math.isnan(report.hausdorff) and math.isnan(report.score)
    assert report.summary.iloc[0]["dice_rows"] == 0


@pytest.mark.parametrize("side", ["truth", "pred"])
def test_a_stray_2_is_found_by_the_numpy_twin_too(monkeypatch, side):
    """Kills ``metrics/_pixel::_counts``: ``t2 > 1 -> t2 > 2`` (and ``p2``), the twin's check."""
    from rlemask import _tier
    from rlemask.metrics import dice

    monkeypatch.setattr(_tier, "use_twin", lambda module, nbytes: True)
    bad = np.zeros((2, 3, 4), np.uint8)
    bad[1, 2, 1] = 2
    ones = np.ones_like(bad)
    pair = (bad, ones) if side == "truth" else (ones, bad)
    with pytest.raises(InvalidMaskError, match=rf"^{side}\[1, 2, 1\] = 2;"):
        dice(*pair)


# ----------------------------------------------------------------------------------
# Hausdorff through the numpy twin (rlemask._tier): empty and nested masks
# ----------------------------------------------------------------------------------


def _volume(*voxels, shape=(2, 4, 5)):
    m = np.zeros(shape, np.uint8)
    for v in voxels:
        m[v] = 1
    return m


@pytest.mark.parametrize("twin", [True, False])
@pytest.mark.parametrize(
    "truth, pred, symmetric, directed",
    [
        # equal masks: both directed distances are skipped (each lies inside the other)
        (_volume((0, 1, 1), (1, 3, 4)), _volume((0, 1, 1), (1, 3, 4)), 0.0, 0.0),
        # truth inside pred: h(truth, pred) skipped, h(pred, truth) = 3 (1,3,4 -> 1,3,1)
        (_volume((1, 3, 1)), _volume((1, 3, 1), (1, 3, 4)), 3.0, 0.0),
        # pred inside truth: h(truth, pred) = 4 (0,0,0 -> 0,0,4), h(pred, truth) skipped
        (_volume((0, 0, 0), (0, 0, 4)), _volume((0, 0, 4)), 4.0, 4.0),
        # one side empty
        (_volume(), _volume((1, 2, 3)), math.inf, 0.0),
        (_volume((1, 2, 3)), _volume(), math.inf, math.inf),
        (_volume(), _volume(), 0.0, 0.0),
    ],
)
def test_hausdorff_of_empty_equal_and_nested_masks(monkeypatch, twin, truth, pred, symmetric, directed):
    """Kills ``_hausdorff_u8``: ``max(values, default=0.0) -> default=1.0`` (the twin's result
    when both directed distances are skipped) and ``elif ca == 0 or cb == 0`` ->
    ``ca == -1`` (an empty truth reached the twin, whose ``d.min(axis=1)`` over no
    boundary voxel raises ``ValueError``; the kernel gives inf). The root conftest
    switches the twin off, so without the patch no test reaches it in-process."""
    from rlemask import _tier
    from rlemask.metrics import hausdorff

    monkeypatch.setattr(_tier, "use_twin", lambda module, nbytes: twin)
    assert hausdorff(truth, pred) == symmetric
    assert hausdorff(truth, pred, directed=True) == directed
    assert hausdorff(pred, truth) == symmetric


@pytest.mark.parametrize("twin", [True, False])
def test_hausdorff_below_one_voxel_with_fine_spacing(monkeypatch, twin):
    """Kills ``_directed_max_sq_np``: ``best = 0.0 -> 1.0`` (a start of 1 hides every squared
    distance below 1, which a spacing under 1 makes)."""
    from rlemask import _tier
    from rlemask.metrics import hausdorff

    monkeypatch.setattr(_tier, "use_twin", lambda module, nbytes: twin)
    truth = _volume((0, 1, 1), (1, 1, 1), shape=(2, 3, 3))
    pred = _volume((0, 1, 1), shape=(2, 3, 3))
    assert hausdorff(truth, pred, spacing=(0.5, 1.0, 1.0)) == 0.5
    assert hausdorff(truth, pred, spacing=(0.5, 1.0, 1.0), directed=True) == 0.5
    assert hausdorff(pred, truth, spacing=(0.5, 1.0, 1.0), directed=True) == 0.0
    truth = _volume((0, 1, 1), (0, 1, 2), shape=(2, 3, 3))
    pred = _volume((0, 1, 1), shape=(2, 3, 3))
    assert hausdorff(truth, pred, spacing=(1.0, 1.0, 0.25)) == 0.25


@pytest.mark.parametrize("twin", [True, False])
def test_hausdorff_to_a_plane_of_more_than_65536_boundary_voxels(monkeypatch, twin):
    """Kills ``_directed_max_sq_np``'s chunking of the queries: with more than 2**16 boundary
    voxels a chunk is one query (``step = max(1, 2**16 // len(edge))``); ``max(0, ...)`` and
    ``min(1, ...)`` give a step of 0 (``range`` raises ``ValueError``) and
    ``queries[lo : lo + step - 1]`` an empty chunk (``ValueError`` from ``max``); a query
    dropped from a chunk would lose the distance."""
    from rlemask import _tier
    from rlemask.metrics import hausdorff

    monkeypatch.setattr(_tier, "use_twin", lambda module, nbytes: twin)
    plane = np.zeros((3, 300, 300), np.uint8)
    plane[0] = 1  # 90,000 voxels, every one on the boundary
    pred = plane.copy()
    pred[2, 299, 299] = 1  # the one query: 2 slices away
    pred[1, 0, 0] = 1  # a nearer one before it
    assert hausdorff(plane, pred) == 2.0
    assert hausdorff(pred, plane, directed=True) == 2.0
    assert hausdorff(plane, pred, directed=True) == 0.0


def test_hausdorff_scratch_buffers_fit_the_kernels_run_as_python(monkeypatch):
    """Kills ``_directed_max_sq``: ``fw`` one float short per row (``side + 1 -> side``).

    numba does not check bounds, so a compiled kernel writing one float64 past its
    scratch row (``z[n] = inf`` of the lower envelope, with every position of the longest
    axis a feature) gives the right distance and corrupts the heap silently. The same
    kernels as plain Python (their undecorated functions) index numpy arrays, which
    raise ``IndexError`` there. A full row of ``pred`` along the longest axis (6 and 9)
    fills every envelope.
    """
    from rlemask import _kernels_metrics as K
    from rlemask.metrics import hausdorff

    compiled = []
    cases = []
    for shape, row in (((2, 6, 9), (0, 2, slice(None))), ((2, 9, 6), (0, slice(None), 2))):
        pred = np.zeros(shape, np.uint8)
        pred[row] = 1
        truth = pred.copy()
        truth[1, 0, 0] = 1
        truth[1, -1, -1] = 1
        cases.append((truth, pred))
        compiled.append(hausdorff(truth, pred))
    assert compiled == [math.sqrt(1 + 3**2)] * 2  # the far corner: 1 slice and 3 rows (columns) away
    monkeypatch.setattr(K, "_envelope_1d", K._envelope_1d.py_func)
    for name in ("axis0_sq", "query_bounds", "refine_max"):
        monkeypatch.setattr(K, name, getattr(K, f"_{name}"))
    assert [hausdorff(t, p) for t, p in cases] == compiled
