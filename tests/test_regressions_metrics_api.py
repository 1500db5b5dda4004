"""Fixed cases for the metrics package's input checks and names (mutation run of issue 11).

Each case kills a mutant of ``rlemask.metrics`` that the metrics tests let
through (named in the test's docstring).
"""

from __future__ import annotations

import numpy as np
import pytest

import rlemask.metrics as metrics
from rlemask.errors import InvalidMaskError
from rlemask.metrics import dice, hausdorff, iou


def _pair(dtype):
    t = np.zeros((2, 3), dtype)
    p = t.copy()
    p[1, 2] = 2
    return t, p


@pytest.mark.parametrize("dtype", [np.int64, np.int16, np.float32])
@pytest.mark.parametrize("metric", [dice, iou, hausdorff])
def test_the_bad_side_is_named(metric, dtype):
    """``_pair``/``hausdorff`` name each array for itself (``metrics/_common::_pair::1 -> 0#0``: pred called truth)."""
    t, p = _pair(dtype)
    with pytest.raises(InvalidMaskError, match=r"^pred\[1, 2\] = 2") as info:
        metric(t, p)
    assert "truth" not in str(info.value)
    with pytest.raises(InvalidMaskError, match=r"^truth\[1, 2\] = 2") as info:
        metric(p, t)
    assert "pred" not in str(info.value)


@pytest.mark.parametrize("side", ["truth", "pred"])
def test_hausdorff_checks_uint8_values(side):
    """hausdorff has no counting kernel that checks uint8 values: its conversion must
    (``metrics/_common::_binary::True -> False#0``, the default ``check_uint8``)."""
    t, p = _pair(np.uint8)
    args = (t, p) if side == "pred" else (p, t)
    with pytest.raises(InvalidMaskError, match=rf"^{side}\[1, 2\] = 2; expected only 0 and 1"):
        hausdorff(*args)
    with pytest.raises(InvalidMaskError, match=rf"^{side}\[1, 2\] = 2"):
        hausdorff(*args, directed=True)


@pytest.mark.parametrize("name", ["_read_table", "_nanmean", "_plain", "nothing_here"])
def test_unknown_names_are_attribute_errors_of_the_package(name):
    """Only the lazily re-exported names load a submodule (``metrics/__init__::__getattr__::in -> not in#2``:
    every other name was looked up in ``_competition``)."""
    with pytest.raises(AttributeError, match=rf"^module 'rlemask.metrics' has no attribute '{name}'$"):
        getattr(metrics, name)
    assert not hasattr(metrics, name)


def test_lazy_names_resolve():
    from rlemask import overlap
    from rlemask.metrics import _competition

    assert metrics.uwmgi_score is _competition.uwmgi_score
    assert metrics.ScoreReport is _competition.ScoreReport
    for name in ("iou_matrix", "dice_matrix", "iou_rle", "area_many"):
        assert getattr(metrics, name) is getattr(overlap, name)


def _tables(n_extra: int):
    import pandas as pd

    truth = pd.DataFrame({"id": ["case1_day0_slice_0001"], "height": [4], "width": [4],
                          "large_bowel": [""], "small_bowel": [""], "stomach": ["1 2"]})
    ids = ["case1_day0_slice_0001"] + [f"case9_day9_slice_{k:04d}" for k in range(1, n_extra + 1)]
    pred = pd.DataFrame({"id": ids, "large_bowel": "", "small_bowel": "", "stomach": ""})
    return truth, pred


@pytest.mark.parametrize(("n_extra", "tail"), [(4, ""), (5, ""), (6, " and 1 more"), (8, " and 3 more")])
def test_messages_name_at_most_five_ids(n_extra, tail):
    """``_name_some`` lists the first 5 ids, then "and N more" (``metrics/_common::_name_some``:
    the limit 4 or 6, ``ids[:limit - 1]``, ``> limit + 1``)."""
    from rlemask.errors import LayoutError
    from rlemask.metrics import uwmgi_score

    truth, pred = _tables(n_extra)
    shown = ", ".join(repr(f"case9_day9_slice_{k:04d}") for k in range(1, min(n_extra, 5) + 1))
    with pytest.raises(LayoutError) as info:
        uwmgi_score(truth, pred)
    assert f"pred has {n_extra} id(s) that are not in truth: {shown}{tail}; expected" in str(info.value)


def test_score_report_repr_shows_the_three_numbers_only():
    """The tables and options stay out of ``repr`` (``metrics/_competition::ScoreReport::False -> True#0-3``)."""
    import pandas as pd

    from rlemask.metrics import uwmgi_score

    truth, pred = _tables(0)
    truth = pd.concat([truth, truth.assign(id="case1_day0_slice_0002", stomach="")], ignore_index=True)
    report = uwmgi_score(truth, pred)
    assert repr(report) == f"ScoreReport(score={report.score!r}, dice={report.dice!r}, hausdorff={report.hausdorff!r})"


def _truth_pred():
    import pandas as pd

    t = pd.DataFrame({"id": ["case1_day0_slice_0001"], "height": [4], "width": [4],
                      "large_bowel": [""], "small_bowel": [""], "stomach": ["1 2"]})
    return t, t.drop(columns=["height", "width"])


def test_uwmgi_score_rejects_inputs_that_are_not_tables():
    """``metrics/_competition::_read_table::raise LayoutError -> pass#0`` and ``_read_images`` ``#0``/``#1``
    (no test reached them)."""
    from rlemask.errors import LayoutError
    from rlemask.metrics import uwmgi_score

    t, p = _truth_pred()
    with pytest.raises(LayoutError, match=r"^truth is list; expected a DataFrame or the path of a CSV file$"):
        uwmgi_score([1], p)
    with pytest.raises(LayoutError, match=r"^pred is int; expected a DataFrame or the path of a CSV file$"):
        uwmgi_score(t, 5)
    with pytest.raises(LayoutError, match=r"^images is int; expected a DataFrame"):
        uwmgi_score(t, p, images=3)
    for cols, lacking in ((["id", "height"], "['width']"), (["width", "height"], "['id']")):
        with pytest.raises(LayoutError, match=rf"^images lacks the column\(s\) \{lacking}; found"):
            uwmgi_score(t, p, images=t[cols])


@pytest.mark.parametrize("drop", [["width"], ["height"], ["height", "width"]])
def test_truth_needs_both_sizes_without_images(drop):
    """Height and width both, or ``images=`` (``metrics/_competition::_image_sizes::and -> or#0``:
    a KeyError for a truth with only one of them)."""
    from rlemask.errors import LayoutError
    from rlemask.metrics import uwmgi_score

    t, p = _truth_pred()
    with pytest.raises(LayoutError, match=r"^truth has no height/width columns; pass images="):
        uwmgi_score(t.drop(columns=drop), p)
    assert uwmgi_score(t.drop(columns=drop), p, images=t[["id", "height", "width"]]).dice == 1.0


def _volume_tables(truth_slices, pred_slices):
    import pandas as pd

    from rlemask import rle

    ids = [f"case1_day0_slice_{k + 1:04d}" for k in range(len(truth_slices))]
    t = pd.DataFrame({"id": ids, "height": 4, "width": 4, "large_bowel": "", "small_bowel": "",
                      "stomach": [rle.encode(m) for m in truth_slices]})
    p = pd.DataFrame({"id": ids, "large_bowel": "", "small_bowel": "",
                      "stomach": [rle.encode(m) for m in pred_slices]})
    return t, p


def _slices():
    z = np.zeros((4, 4), np.uint8)
    a = z.copy()
    a[0, 0] = 1
    b = a.copy()
    b[3, 3] = 1
    return {"pred_holds_truth": ([a, z], [b, z]), "truth_empty": ([z, z], [b, z]),
            "pred_empty": ([a, z], [z, z]), "apart": ([a, z], [z, b])}


@pytest.mark.parametrize("case", ["pred_holds_truth", "truth_empty", "pred_empty", "apart"])
@pytest.mark.parametrize("direction", ["symmetric", "pred_to_truth", "truth_to_pred"])
def test_hausdorff_direction_of_the_competition_score(case, direction):
    """``direction=`` picks h(pred, truth) or h(truth, pred) (``metrics/_competition::_hausdorff_of``:
    ``== -> !=#1`` swapped the two one-sided distances, ``True -> False`` made them symmetric, and the
    column order of the swapped per-slice counts ``[1, 0, 2]`` was never checked): the raw distance of
    the scan equals :func:`rlemask.metrics.hausdorff` on the volumes, in both directions, with empty sides."""
    from rlemask.metrics import uwmgi_score

    tm, pm = _slices()[case]
    t, p = _volume_tables(tm, pm)
    report = uwmgi_score(t, p, direction=direction)
    row = report.per_scan[report.per_scan["class"] == "stomach"].iloc[0]
    T, P = np.stack(tm), np.stack(pm)
    want = {"symmetric": hausdorff(T, P), "pred_to_truth": hausdorff(P, T, directed=True),
            "truth_to_pred": hausdorff(T, P, directed=True)}[direction]
    assert row["hausdorff_raw"] == want


def test_a_bad_string_is_named_by_table_id_and_class():
    """``metrics/_competition::_decode_scan::raise -> pass#0``: the error must name the table, the image id
    and the class, and keep the item and run of the decoder's error."""
    from rlemask.errors import InvalidRleError
    from rlemask.metrics import uwmgi_score

    t, p = _volume_tables(*_slices()["apart"])
    t.loc[1, "stomach"] = "5 3 1 1"
    with pytest.raises(InvalidRleError, match=r"^truth id case1_day0_slice_0002 class stomach: run 1 ") as info:
        uwmgi_score(t, p)
    assert (info.value.item, info.value.run) == (1, 1)
    p.loc[0, "large_bowel"] = "99 9"
    with pytest.raises(InvalidRleError, match=r"^pred id case1_day0_slice_0001 class large_bowel: run 0 ") as info:
        uwmgi_score(t.assign(stomach=""), p)
    assert (info.value.item, info.value.run) == (0, 0)


@pytest.mark.parametrize("normalize", ["diagonal", "unit"])
def test_per_class_table_of_the_competition_score(normalize):
    """The per-class table: the normalised Hausdorff of each normalisation against :func:`hausdorff`
    (``_score_scan::1.0 -> 2.0#3``/``#4``: the unit spacing of depth or height), the image count
    (``_class_table::0 -> -1#0``/``0 -> 1#0``: classes counted instead of images), the score
    formula with a Hausdorff term above 0 (``_class_table::+ -> -#0``, ``- -> +#0``,
    ``1.0 -> 2.0#0``) and a one-pixel prediction counted as positive (``_score_scan::0 -> 1#2``)."""
    import math

    from rlemask.metrics import uwmgi_score

    tm, pm = _slices()["apart"]
    t, p = _volume_tables(tm, pm)
    report = uwmgi_score(t, p, normalize=normalize)
    T, P = np.stack(tm), np.stack(pm)
    d, h, w = T.shape
    if normalize == "unit":
        want = hausdorff(T, P, spacing=(1 / d, 1 / h, 1 / w)) / math.sqrt(3)
    else:
        want = hausdorff(T, P) / math.sqrt(d * d + h * h + w * w)
    per_class = report.per_class.set_index("class")
    assert 0 < want < 1
    assert per_class.loc["stomach", "hausdorff"] == pytest.approx(want, rel=1e-12)
    assert per_class["images"].tolist() == [2, 2, 2, 2]
    for c, row in per_class.iterrows():
        assert row["score"] == pytest.approx(0.4 * row["dice"] + 0.6 * (1.0 - row["hausdorff"]), rel=1e-12), c
    for _, row in report.per_scan.iterrows():  # the same formula per scan (uwmgi_score::+ -> -#0, ...)
        assert row["score"] == pytest.approx(0.4 * row["dice"] + 0.6 * (1.0 - row["hausdorff"]), rel=1e-12)
    z = np.zeros((4, 4), np.uint8)
    one = z.copy()
    one[2, 1] = 1
    t, p = _volume_tables([z, one], [one, z])
    per_class = uwmgi_score(t, p).per_class.set_index("class")
    assert (per_class.loc["stomach", "truth_positive"], per_class.loc["stomach", "pred_positive"]) == (1, 1)


def test_the_renamed_keyword_warning_points_at_the_caller():
    """``stacklevel=2``: the FutureWarning names the line that used the old keyword
    (``metrics/_common::_renamed.wrap.inner::2 -> 1#0`` / ``2 -> 3#0``)."""
    from rlemask.metrics import dice_rle

    t = np.zeros((5, 5), bool)
    t[0, 0] = True
    with pytest.warns(FutureWarning) as record:
        hausdorff(a=t, b=t)
    with pytest.warns(FutureWarning) as record2:
        dice_rle(pred_rle="1 4", truth_rle="3 4", shape=(4, 4))
    for rec in (record[0], record2[0]):
        assert rec.filename == __file__
