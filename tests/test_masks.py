"""rlemask.masks: stacking per-class RLE strings into channels and back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from rlemask import masks, rle
from rlemask.errors import InvalidMaskError, InvalidRleError, LayoutError
from rlemask.masks import stack, stack_table, unstack, unstack_many, volume
from rlemask.uwmgi import CLASSES, format_id, from_paths, merge, read_labels
from tests.reference import masks_stack_plain, masks_unstack_plain
from tests.strategies import masks_multichannel


def _random_mask(rng, h, w, c=3, p=0.3):
    return (rng.random((h, w, c)) < p).astype(np.uint8)


def _table(rng, sizes, ids=None):
    """One row per (h, w) in ``sizes`` with random masks; returns (table, masks)."""
    ms = [_random_mask(rng, h, w) for h, w in sizes]
    rows = []
    for i, m in enumerate(ms):
        strings = masks_unstack_plain(m)
        rows.append({"id": ids[i] if ids else f"img{i}", "height": m.shape[0], "width": m.shape[1],
                     **dict(zip(CLASSES, strings))})
    return pd.DataFrame(rows), ms


# ---------------------------------------------------------------------------
# stack / unstack
# ---------------------------------------------------------------------------


def test_stack_matches_the_plain_twin():
    rng = np.random.default_rng(0)
    m = _random_mask(rng, 7, 5)
    strings = masks_unstack_plain(m)
    out = stack(strings, (7, 5))
    assert out.dtype == np.uint8 and out.shape == (7, 5, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, m)
    np.testing.assert_array_equal(out, masks_stack_plain(strings, (7, 5)))
    first = stack(strings, (7, 5), channels_first=True)
    assert first.shape == (3, 7, 5) and first.flags.c_contiguous
    np.testing.assert_array_equal(first, np.moveaxis(m, -1, 0))


def test_stack_empty_values_and_mappings():
    out = stack([None, "", np.nan], (2, 3))
    assert out.shape == (2, 3, 3) and out.sum() == 0
    out = stack({"small_bowel": "2 2", "stomach": None}, (2, 2))
    assert out[..., 1].tolist() == [[0, 1], [1, 0]] and out[..., 0].sum() == 0 and out[..., 2].sum() == 0
    with pytest.raises(LayoutError, match=r"unknown class\(es\) \['liver'\]"):
        stack({"liver": "1 1"}, (2, 2))
    with pytest.raises(InvalidRleError, match="rles is a single string; expected one string per class"):
        stack("1 1", (2, 2))


def test_stack_names_the_bad_channel():
    with pytest.raises(InvalidRleError, match=r"rles\[1\].*ends at pixel 5, past the 4 pixels"):
        stack(["", "3 3", ""], (2, 2))


def test_overlapping_classes_stay_separate_channels():
    out = stack(["1 4", "2 2", "3 2"], (2, 2))
    assert out.sum(axis=-1).tolist() == [[1, 2], [3, 2]]  # no argmax: a pixel can be in 3 classes


def test_unstack_rows_ready_for_a_submission():
    m = np.zeros((2, 3, 3), np.uint8)
    m[0, 1:, 0] = 1
    m[1, :, 2] = 1
    out = unstack(m, id="case1_day0_slice_0001")
    assert out.columns.tolist() == ["id", "class", "segmentation"]
    assert out.values.tolist() == [
        ["case1_day0_slice_0001", "large_bowel", "2 2"],
        ["case1_day0_slice_0001", "small_bowel", ""],
        ["case1_day0_slice_0001", "stomach", "4 3"],
    ]
    first = unstack(np.moveaxis(m, -1, 0), channels_first=True, classes=["a", "b", "c"])
    assert first["segmentation"].tolist() == ["2 2", "", "4 3"]
    assert first["class"].tolist() == ["a", "b", "c"] and first["id"].tolist() == [None] * 3
    assert unstack(m.astype(bool))["segmentation"].tolist() == ["2 2", "", "4 3"]


def test_unstack_errors():
    with pytest.raises(InvalidMaskError, match=r"shape=\(2, 2, 2\): 2 channel\(s\) on axis -1 .*expected 3 .*channels_first=True"):
        unstack(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(InvalidMaskError, match=r"expected 3-D \(H, W, C\)"):
        unstack(np.zeros((2, 2), np.uint8))
    bad = np.zeros((2, 2, 3), np.uint8)
    bad[1, 0, 2] = 7
    with pytest.raises(InvalidMaskError, match=r"mask \(id=x, class=stomach\)\[1, 0\] = 7; expected only 0 and 1"):
        unstack(bad, id="x")
    with pytest.raises(InvalidMaskError, match=r"mask \(class=stomach\)\[1, 0\] = 0.5; expected only 0 and 1"):
        unstack(np.where(bad == 7, 0.5, 0.0))
    with pytest.raises(LayoutError, match="names a class twice"):
        unstack(np.zeros((1, 1, 2), np.uint8), classes=["a", "a"])


@settings(max_examples=60)
@given(masks_multichannel())
def test_stack_unstack_round_trip(m):
    h, w, _ = m.shape
    strings = unstack(m)["segmentation"].tolist()
    assert strings == masks_unstack_plain(m)
    np.testing.assert_array_equal(stack(strings, (h, w)), m)
    np.testing.assert_array_equal(stack(strings, (h, w), channels_first=True), np.moveaxis(m, -1, 0))


@settings(max_examples=40)
@given(masks_multichannel(max_side=6))
def test_non_c_layouts_encode_like_c(m):
    f = np.asfortranarray(m)
    strided = np.zeros((m.shape[0], m.shape[1] * 2, 3), np.uint8)[:, ::2]
    strided[...] = m
    expected = masks_unstack_plain(m)
    assert unstack(f)["segmentation"].tolist() == expected
    assert unstack(strided)["segmentation"].tolist() == expected


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------


def test_stack_table_each_row_at_its_own_size():
    rng = np.random.default_rng(1)
    sizes = [(4, 5), (3, 3), (4, 5), (6, 2), (3, 3), (4, 5)]
    table, ms = _table(rng, sizes)
    out = stack_table(table)
    assert len(out) == len(ms)
    for got, want in zip(out, ms):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    first = stack_table(table, channels_first=True)
    for got, want in zip(first, ms):
        np.testing.assert_array_equal(got, np.moveaxis(want, -1, 0))


def test_stack_table_decodes_once_per_size(monkeypatch):
    rng = np.random.default_rng(2)
    table, ms = _table(rng, [(4, 5), (3, 3)] * 10 + [(2, 2)])
    calls = []
    real = rle.decode_many

    def counting(rles, shape, **kw):
        calls.append((len(rles), tuple(shape)))
        return real(rles, shape, **kw)

    monkeypatch.setattr(masks._rle, "decode_many", counting)
    out = stack_table(table)
    assert sorted(calls) == [(3, (2, 2)), (30, (3, 3)), (30, (4, 5))]
    np.testing.assert_array_equal(out[-1], ms[-1])


def test_stack_table_errors_name_the_row():
    rng = np.random.default_rng(3)
    table, _ = _table(rng, [(2, 2), (3, 3)], ids=["a", "b"])
    broken = table.copy()
    broken.loc[1, "small_bowel"] = "1 99"
    with pytest.raises(InvalidRleError, match=r"table row 1 \(id=b, class=small_bowel, shape=\(3, 3\)\): run 0 .*past the 9 pixels"):
        stack_table(broken)
    with pytest.raises(LayoutError, match=r"no column\(s\) \['width'\]"):
        stack_table(table.drop(columns="width"))
    with pytest.raises(LayoutError, match=r"table row 0 \(id=a\) has height=-2: expected a non-negative integer"):
        stack_table(table.assign(height=[-2, 3]))
    assert stack_table(table.iloc[:0]) == []


def test_stack_table_accepts_nan_and_pandas_na():
    table = pd.DataFrame({"id": ["a"], "height": [2], "width": [2], "large_bowel": [np.nan],
                          "small_bowel": [pd.NA], "stomach": ["1 1"]})
    assert stack_table(table)[0][..., 2].tolist() == [[1, 0], [0, 0]]


def test_unstack_many_array_and_list():
    rng = np.random.default_rng(4)
    batch = (rng.random((4, 3, 5, 3)) < 0.4).astype(np.uint8)
    ids = ["a", "b", "c", "d"]
    out = unstack_many(batch, ids)
    assert out["id"].tolist() == [i for i in ids for _ in CLASSES]
    assert out["class"].tolist() == list(CLASSES) * 4
    assert out["segmentation"].tolist() == [s for m in batch for s in masks_unstack_plain(m)]
    first = unstack_many(np.moveaxis(batch, -1, 1), ids, channels_first=True)
    assert first["segmentation"].tolist() == out["segmentation"].tolist()
    mixed = [batch[0], _random_mask(rng, 2, 7), batch[2]]
    listed = unstack_many(mixed, ["x", "y", "z"])
    assert listed["segmentation"].tolist() == [s for m in mixed for s in masks_unstack_plain(m)]
    assert len(unstack_many(np.zeros((0, 2, 2, 3), np.uint8), [])) == 0


def test_unstack_many_errors():
    with pytest.raises(InvalidMaskError, match=r"2 mask\(s\) but 1 id\(s\)"):
        unstack_many(np.zeros((2, 2, 2, 3), np.uint8), ["a"])
    with pytest.raises(InvalidMaskError, match=r"expected 4-D \(N, H, W, C\)"):
        unstack_many(np.zeros((2, 2, 3), np.uint8), ["a", "b"])
    with pytest.raises(InvalidMaskError, match=r"masks\[1\] has shape=\(2, 2\): expected 3-D"):
        unstack_many([np.zeros((2, 2, 3)), np.zeros((2, 2))], ["a", "b"])
    bad = [np.zeros((2, 2, 3), np.uint8), np.zeros((3, 3, 3), np.uint8), np.zeros((2, 2, 3), np.uint8)]
    bad[2][0, 1, 1] = 2
    with pytest.raises(InvalidMaskError, match=r"masks\[2\] \(id=c, class=small_bowel\)\[0, 1\] = 2"):
        unstack_many(bad, ["a", "b", "c"])
    arr = np.zeros((2, 2, 2, 3), np.uint8)
    arr[1, 1, 1, 0] = 3
    with pytest.raises(InvalidMaskError, match=r"masks\[1\] \(id=b, class=large_bowel\)\[1, 1\] = 3"):
        unstack_many(arr, ["a", "b"])


def test_table_round_trip_through_a_submission():
    rng = np.random.default_rng(5)
    ids = [format_id(3, 1, s) for s in range(1, 7)]
    table, ms = _table(rng, [(4, 4), (5, 3)] * 3, ids=ids)
    sub = unstack_many(stack_table(table), table["id"])
    back = read_labels(sub.rename(columns={"segmentation": "predicted"}))
    assert back[list(CLASSES)].values.tolist() == table[list(CLASSES)].values.tolist()


# ---------------------------------------------------------------------------
# volume
# ---------------------------------------------------------------------------


def _scan_table(rng, case=5, day=2, depth=6, size=(4, 3), order=None):
    slices = list(range(1, depth + 1)) if order is None else order
    ids = [format_id(case, day, s) for s in slices]
    table, ms = _table(rng, [size] * len(slices), ids=ids)
    return table, dict(zip(slices, ms))


def test_volume_slices_in_order():
    rng = np.random.default_rng(6)
    order = [3, 1, 6, 2, 5, 4]
    table, by_slice = _scan_table(rng, order=order)
    other, _ = _scan_table(rng, case=5, day=3, depth=2)
    table = pd.concat([other, table], ignore_index=True)
    vol = volume(table, "case5_day2")
    assert vol.shape == (6, 4, 3, 3) and vol.dtype == np.uint8 and vol.flags.c_contiguous
    for d in range(6):
        np.testing.assert_array_equal(vol[d], by_slice[d + 1])
    np.testing.assert_array_equal(volume(table, (5, 2)), vol)
    # with case/day/slice columns instead of parsing ids
    with_cols = table.assign(case=5, day=[3, 3] + [2] * 6, slice=[1, 2] + order).drop(columns="id")
    np.testing.assert_array_equal(volume(with_cols, "case5_day2"), vol)


def test_volume_names_missing_slices():
    rng = np.random.default_rng(7)
    table, _ = _scan_table(rng, order=[1, 2, 4, 5, 9])
    with pytest.raises(LayoutError, match=r"scan case5_day2 misses 4 of its slices 1..9: slice\(s\) 3, 6, 7, 8 \(found 5 rows\)"):
        volume(table, "case5_day2")
    table, _ = _scan_table(rng, order=[2, 3])
    with pytest.raises(LayoutError, match=r"misses 1 of its slices 1..3: slice\(s\) 1 "):
        volume(table, "case5_day2")


def test_volume_errors():
    rng = np.random.default_rng(8)
    table, _ = _scan_table(rng, depth=3)
    mixed = table.copy()
    mixed.loc[2, ["height", "width"]] = [3, 4]
    with pytest.raises(LayoutError, match=r"scan case5_day2 mixes slice sizes \(height x width\): 4x3 \(2 slices\), 3x4 \(1 slices\)"):
        volume(mixed, "case5_day2")
    with pytest.raises(LayoutError, match=r"no rows for scan case9_day0 in the table; it holds case5_day2"):
        volume(table, "case9_day0")
    with pytest.raises(LayoutError, match=r"case_day='case5-day2': expected 'caseN_dayD'"):
        volume(table, "case5-day2")
    dup = pd.concat([table, table.iloc[[1]]], ignore_index=True)
    with pytest.raises(LayoutError, match=r"lists slice\(s\) \[2\] more than once"):
        volume(dup, "case5_day2")
    with pytest.raises(LayoutError, match=r"bad image id 'oops' in table row 0"):
        volume(table.assign(id=["oops"] + table["id"].tolist()[1:]), "case5_day2")


def test_volume_ids_and_scan_names_take_ascii_digits_only():
    rng = np.random.default_rng(9)
    table, _ = _scan_table(rng, depth=2)
    with pytest.raises(LayoutError, match=r"bad image id 'case5_day\u0662_slice_0001' in table row 0"):
        volume(table.assign(id=["case5_day\u0662_slice_0001", table["id"].iloc[1]]), "case5_day2")
    with pytest.raises(LayoutError, match=r"bad image id 'case5_day2_slice_0001 ' in table row 0"):
        volume(table.assign(id=["case5_day2_slice_0001 ", table["id"].iloc[1]]), "case5_day2")
    with pytest.raises(LayoutError, match=r"case_day='case\u0665_day2': expected 'caseN_dayD'"):
        volume(table, "case\u0665_day2")
    with pytest.raises(LayoutError, match=r"case_day=' case5_day2': expected 'caseN_dayD'"):
        volume(table, " case5_day2")


def test_volume_huge_numbers_are_layout_errors_not_overflows():
    rng = np.random.default_rng(10)
    table, _ = _scan_table(rng, depth=2)
    huge = "case" + "9" * 25 + "_day2_slice_0001"
    with pytest.raises(LayoutError, match=r"bad image id 'case9+_day2_slice_0001' \(a number has more than 9 digits\) in table row 0"):
        volume(table.assign(id=[huge, table["id"].iloc[1]]), "case5_day2")
    with pytest.raises(LayoutError, match=r"case_day='case9+_day2': expected 'caseN_dayD'"):
        volume(table, "case" + "9" * 25 + "_day2")


@pytest.mark.parametrize("bad", [2.5, 1e30, float("inf"), 2**31])
def test_sizes_must_be_whole_numbers_in_range(bad):
    rng = np.random.default_rng(11)
    table, _ = _table(rng, [(2, 2), (3, 3)], ids=["a", "b"])
    table["width"] = table["width"].astype(object)
    table.loc[1, "width"] = bad
    with pytest.raises(LayoutError, match=r"table row 1 \(id=b\) has width=.*expected a non-negative integer \(at most 2147483647\)"):
        stack_table(table)


# ---------------------------------------------------------------------------
# real UWMGI material
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_predictions(real_data):
    index = from_paths(pd.read_csv(real_data / "image_index.csv")["path"])
    labels = read_labels(real_data / "predicted_rle_first1000.csv")
    return merge(index, labels, how="inner")


@pytest.mark.realdata
def test_real_rle_round_trip(real_predictions):
    table = real_predictions
    assert len(table) == 1000
    assert set(zip(table["height"], table["width"])) == {(266, 266), (310, 360)}
    out = stack_table(table)
    for i in (0, 500, 999):
        h, w = table.loc[i, ["height", "width"]]
        assert out[i].shape == (h, w, 3)
        np.testing.assert_array_equal(out[i], masks_stack_plain(table.loc[i, list(CLASSES)].tolist(), (h, w)))
    areas = np.array([[rle.area(s) for s in table[c]] for c in CLASSES]).T
    np.testing.assert_array_equal(np.array([m.sum(axis=(0, 1)) for m in out]), areas)
    sub = unstack_many(out, table["id"])
    back = read_labels(sub).set_index("id").loc[table["id"]]
    for c in CLASSES:  # the model's strings come back exactly
        assert back[c].tolist() == table[c].tolist()


@pytest.mark.realdata
def test_real_volume(real_predictions):
    table = real_predictions
    vol = volume(table, "case123_day20")
    scan_rows = table[(table["case"] == 123) & (table["day"] == 20)].sort_values("slice")
    assert vol.shape == (144, 266, 266, 3)
    for c, name in enumerate(CLASSES):
        assert int(vol[..., c].sum()) == sum(rle.area(s) for s in scan_rows[name])
    d = int(np.argmax(vol[..., 2].sum(axis=(1, 2))))
    np.testing.assert_array_equal(vol[d], stack(scan_rows.iloc[d][list(CLASSES)].tolist(), (266, 266)))
