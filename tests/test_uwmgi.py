"""rlemask.uwmgi: ids, file names, the image tree, labels, merging, slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from rlemask import uwmgi
from rlemask.errors import LayoutError, RlemaskError
from rlemask.uwmgi import (
    BAD_SCANS,
    CLASSES,
    format_id,
    from_paths,
    load_table,
    merge,
    parse_filename,
    parse_id,
    read_labels,
    read_slice,
    scan,
)

# ---------------------------------------------------------------------------
# ids and file names
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("case123_day20_slice_0065", (123, 20, 65)),
        ("case1_day0_slice_0001", (1, 0, 1)),
        ("case7_day0_slice_0144", (7, 0, 144)),
        ("case156_day13_slice_12", (156, 13, 12)),
    ],
)
def test_parse_id(text, expected):
    assert parse_id(text) == expected


@pytest.mark.parametrize(
    "text",
    ["case123_day20", "case_day20_slice_0065", "case123_day20_slice_", "Case1_day0_slice_0001", "x", ""],
)
def test_parse_id_rejects_bad_ids(text):
    with pytest.raises(LayoutError, match=r"bad image id .*expected case\{N\}_day\{D\}_slice_\{SSSS\}"):
        parse_id(text)


@pytest.mark.parametrize(
    "text",
    [
        "case\u0661_day0_slice_0001",  # Arabic-Indic digit one
        "case1_day\uff10_slice_0001",  # fullwidth zero
        "case1_day0_slice_\u0967",  # Devanagari one
        " case1_day0_slice_0001",
        "case1_day0_slice_0001 ",
        "case1_day0_slice_0001\n",
        "\tcase1_day0_slice_0001",
    ],
)
def test_parse_id_takes_ascii_digits_only_and_no_spaces(text):
    with pytest.raises(LayoutError, match=r"bad image id .*expected case\{N\}_day\{D\}_slice_\{SSSS\}"):
        parse_id(text)


def test_huge_numbers_are_layout_errors_not_overflows(tmp_path):
    huge = "case" + "9" * 30 + "_day0_slice_0001"
    with pytest.raises(LayoutError, match=r"bad image id 'case9+_day0_slice_0001' \(a number has more than 9 digits\)"):
        parse_id(huge)
    assert parse_id("case999999999_day0_slice_0001") == (999999999, 0, 1)  # nine digits are fine
    with pytest.raises(LayoutError, match=r"bad image id 'case9+_day0_slice_0001' \(a number has more than 9 digits\) in row 0"):
        read_labels(_long([huge], [["", "", ""]]))
    with pytest.raises(LayoutError, match=r"bad image id 'case1_day0_slice_9+' \(a number has more than 9 digits\) in row 0"):
        read_labels(pd.DataFrame({"id": ["case1_day0_slice_" + "9" * 20], **{c: [""] for c in CLASSES}}))
    with pytest.raises(LayoutError, match=r"bad image id 'case1_day0_slice_0001\\n' in row 0"):
        read_labels(_long(["case1_day0_slice_0001\n"], [["", "", ""]]))
    with pytest.raises(LayoutError, match=r"bad image id 'case1_day\u0660_slice_0001' in row 0"):
        read_labels(_long(["case1_day\u0660_slice_0001"], [["", "", ""]]))
    with pytest.raises(LayoutError, match=r"is not inside a scan folder \(a number has more than 9 digits\)"):
        from_paths([f"train/case{'9' * 25}/case{'9' * 25}_day0/scans/slice_0001_2_2_1.5_1.5.png"])
    with pytest.raises(LayoutError, match=r"bad slice file name 'slice_9+_2_2_1.5_1.5.png' \(a number has more than 9"):
        from_paths([f"train/case1/case1_day0/scans/slice_{'9' * 25}_2_2_1.5_1.5.png"])
    with pytest.raises(LayoutError, match=r"bad slice file name .*more than 9 digits"):
        parse_filename("slice_0001_2_" + "9" * 20 + "_1.5_1.5.png")
    with pytest.raises(LayoutError, match=r"bad slice file name"):
        parse_filename("slice_\u0661_2_2_1.5_1.5.png")
    with pytest.raises(LayoutError, match=r"bad slice file name"):
        parse_filename("slice_0001_2_2_\u0661.5_1.5.png")


def test_parse_id_rejects_non_strings():
    with pytest.raises(LayoutError, match="image id must be a string, found int"):
        parse_id(123)


def test_layout_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_id("nope")
    assert issubclass(LayoutError, RlemaskError)


@settings(max_examples=50)
@given(st.integers(0, 10**6), st.integers(0, 10**4), st.integers(0, 9999))
def test_format_id_round_trips(case, day, slice_):
    text = format_id(case, day, slice_)
    assert parse_id(text) == (case, day, slice_)
    assert text.endswith(f"_slice_{slice_:04d}")


def test_parse_filename_width_comes_first():
    info = parse_filename("slice_0065_360_310_1.50_1.50.png")
    assert info == {"slice": 65, "width": 360, "height": 310, "spacing_w": 1.5, "spacing_h": 1.5}


def test_parse_filename_reads_spacing_and_paths():
    info = parse_filename("train/case3/case3_day1/scans/slice_0001_276_276_1.63_1.63.png")
    assert info["slice"] == 1 and info["height"] == 276 and info["spacing_h"] == pytest.approx(1.63)
    info = parse_filename("slice_0002_234_200_1.5_2.png")
    assert (info["width"], info["height"], info["spacing_w"], info["spacing_h"]) == (234, 200, 1.5, 2.0)


@pytest.mark.parametrize(
    "name",
    [
        "slice_0065_360_310_1.50.png",
        "slice_0065_360_310_1.50_1.50.jpg",
        "slice_65_360x310.png",
        "img_0065_360_310_1.50_1.50.png",
        "slice_0065_360_310_1.50_1.50.png.bak",
    ],
)
def test_parse_filename_rejects_bad_names(name):
    with pytest.raises(LayoutError, match=r"bad slice file name .*expected slice_\{SSSS\}_\{W\}_\{H\}"):
        parse_filename(name)


def test_parse_filename_rejects_zero_sizes():
    with pytest.raises(LayoutError, match="width=0 height=310: expected positive sizes"):
        parse_filename("slice_0001_0_310_1.50_1.50.png")


# ---------------------------------------------------------------------------
# the image tree
# ---------------------------------------------------------------------------


def _write_png(path, height, width, value=0, dtype=np.uint16):
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.full((height, width), value, dtype)
    a.flat[: min(a.size, 7)] = np.arange(min(a.size, 7), dtype=dtype)
    Image.fromarray(a).save(path)
    return a


def _make_tree(root, scans):
    """scans: {(case, day): (n_slices, width, height)}; tiny 16-bit PNGs."""
    for (case, day), (n, width, height) in scans.items():
        folder = root / "train" / f"case{case}" / f"case{case}_day{day}" / "scans"
        for s in range(1, n + 1):
            _write_png(folder / f"slice_{s:04d}_{width}_{height}_1.50_1.50.png", height, width)
    return root


@pytest.fixture
def tree(tmp_path):
    return _make_tree(tmp_path, {(7, 0): (2, 5, 4), (12, 3): (3, 6, 4), (2, 10): (2, 3, 3), (12, 1): (1, 6, 4)})


def test_scan_lists_every_slice_sorted(tree):
    table = scan(tree)
    assert list(table.columns) == [
        "id", "case", "day", "slice", "path", "height", "width", "spacing_w", "spacing_h",
    ]
    assert table["id"].tolist() == [
        "case2_day10_slice_0001", "case2_day10_slice_0002",
        "case7_day0_slice_0001", "case7_day0_slice_0002",
        "case12_day1_slice_0001",
        "case12_day3_slice_0001", "case12_day3_slice_0002", "case12_day3_slice_0003",
    ]
    row = table.iloc[2]
    assert (row["case"], row["day"], row["slice"], row["height"], row["width"]) == (7, 0, 1, 4, 5)
    assert row["path"] == str(tree / "train/case7/case7_day0/scans/slice_0001_5_4_1.50_1.50.png")
    assert table["case"].dtype == np.int64 and table["spacing_w"].dtype == np.float64
    # the listed size is the size of the array in the file
    for path, h, w in zip(table["path"], table["height"], table["width"]):
        assert np.asarray(Image.open(path)).shape == (h, w)


def test_scan_excludes_bad_scans_on_request(tree):
    assert "case7_day0" in BAD_SCANS and "case81_day30" in BAD_SCANS
    kept = scan(tree, exclude_bad=True)
    assert len(kept) == len(scan(tree)) - 2
    assert not kept["id"].str.startswith("case7_day0_").any()


def test_scan_without_train_folder(tmp_path):
    with pytest.raises(LayoutError, match="no 'train' folder in .*expected ROOT/train/caseN/caseN_dayD/scans/"):
        scan(tmp_path)


def test_scan_of_an_empty_tree(tmp_path):
    (tmp_path / "train" / "case1" / "case1_day0" / "scans").mkdir(parents=True)
    with pytest.raises(LayoutError, match="no slice images found under"):
        scan(tmp_path)


def test_scan_names_a_bad_file(tree):
    bad = tree / "train/case2/case2_day10/scans/slice_0003_3_3.png"
    _write_png(bad, 3, 3)
    with pytest.raises(LayoutError, match=r"bad slice file name 'slice_0003_3_3.png'"):
        scan(tree)


def test_scan_skips_hidden_folders(tree):
    expected = scan(tree)["id"].tolist()
    # Jupyter / Kaggle checkpoints and other hidden folders at every level
    (tree / "train" / ".ipynb_checkpoints").mkdir()
    (tree / "train" / ".cache" / "junk").mkdir(parents=True)
    (tree / "train" / "case2" / ".ipynb_checkpoints").mkdir()
    _write_png(tree / "train/.hidden/case3_day0/scans/slice_0001_3_3_1.50_1.50.png", 3, 3)
    assert scan(tree)["id"].tolist() == expected
    # other unexpected folders still raise
    (tree / "train" / "ipynb_checkpoints").mkdir()
    with pytest.raises(LayoutError, match=r"unexpected folder .*ipynb_checkpoints'.*expected case folders named caseN"):
        scan(tree)


def test_scan_names_a_bad_case_folder(tree):
    (tree / "train" / "patient9").mkdir()
    with pytest.raises(LayoutError, match=r"unexpected folder .*patient9.*expected case folders named caseN"):
        scan(tree)


def test_scan_needs_scans_subfolder(tree):
    (tree / "train" / "case2" / "case2_day11").mkdir()
    with pytest.raises(LayoutError, match=r"case2_day11' has no 'scans' sub-folder"):
        scan(tree)


def test_scan_test_split(tmp_path):
    # the Kaggle test download: ROOT/test/caseN/caseN_dayD/scans/ with the same file names
    root = tmp_path / "kaggle"
    for case, day, n in ((3, 1, 2), (1, 4, 1)):
        for s in range(1, n + 1):
            _write_png(root / f"test/case{case}/case{case}_day{day}/scans/slice_{s:04d}_5_4_1.50_1.50.png", 4, 5)
    table = scan(root, split="test")
    assert table["id"].tolist() == ["case1_day4_slice_0001", "case3_day1_slice_0001", "case3_day1_slice_0002"]
    assert (table["height"] == 4).all() and (table["width"] == 5).all()
    assert table["path"].iloc[0] == str(root / "test/case1/case1_day4/scans/slice_0001_5_4_1.50_1.50.png")
    with pytest.raises(LayoutError, match=r"no 'train' folder in .*expected ROOT/train/caseN"):
        scan(root)
    with pytest.raises(LayoutError, match=r"no 'test' folder in .*expected ROOT/test/caseN"):
        scan(tmp_path, split="test")
    with pytest.raises(LayoutError, match=r"split='valid': expected 'train' or 'test'"):
        scan(root, split="valid")
    # load_table: the test split has no train.csv labels
    with pytest.raises(LayoutError, match=r"split='test' has no labels file: pass labels="):
        load_table(root, split="test")
    labels = _long(table["id"].tolist(), [["1 1", "", ""]] * 3)
    loaded = load_table(root, labels, split="test")
    assert loaded["id"].tolist() == table["id"].tolist() and loaded["large_bowel"].tolist() == ["1 1"] * 3
    with pytest.raises(LayoutError, match=r"split='Test': expected 'train' or 'test'"):
        load_table(root, labels, split="Test")


def test_from_paths_checks_case_folder_and_duplicates():
    with pytest.raises(LayoutError, match=r"scan folder 'case3_day1' sits in case folder 'case4'; expected it in 'case3'"):
        from_paths(["train/case4/case3_day1/scans/slice_0001_2_2_1.5_1.5.png"])
    with pytest.raises(LayoutError, match="is not inside a scan folder"):
        from_paths(["train/case4/case4_day1/images/slice_0001_2_2_1.5_1.5.png"])
    with pytest.raises(LayoutError, match="2 slice files map to an id that another file also gives"):
        from_paths(
            [
                "a/case4/case4_day1/scans/slice_0001_2_2_1.5_1.5.png",
                "b/case4/case4_day1/scans/slice_0001_3_3_1.5_1.5.png",
            ]
        )
    empty = from_paths([])
    assert len(empty) == 0 and "height" in empty.columns


# ---------------------------------------------------------------------------
# labels
# ---------------------------------------------------------------------------


def _long(ids, values, column="segmentation"):
    rows = [(i, c, v) for i, vs in zip(ids, values) for c, v in zip(CLASSES, vs)]
    return pd.DataFrame(rows, columns=["id", "class", column])


def test_read_labels_long_format_to_one_row_per_image():
    ids = ["case2_day1_slice_0002", "case2_day1_slice_0001"]
    table = read_labels(_long(ids, [["1 2", np.nan, ""], [None, "3 4", " 5 6 "]]))
    assert list(table.columns) == ["id", "case", "day", "slice", *CLASSES]
    assert table["id"].tolist() == ids  # order of first appearance
    assert table["slice"].tolist() == [2, 1]
    assert table[list(CLASSES)].values.tolist() == [["1 2", "", ""], ["", "3 4", "5 6"]]


def test_read_labels_rows_in_any_class_order():
    frame = _long(["case1_day0_slice_0001"], [["1 1", "2 1", "3 1"]]).iloc[::-1]
    table = read_labels(frame)
    assert table.loc[0, "large_bowel"] == "1 1" and table.loc[0, "stomach"] == "3 1"


def test_read_labels_from_csv_file(tmp_path):
    path = tmp_path / "train.csv"
    _long(["case1_day0_slice_0001", "case1_day0_slice_0002"], [["", "1 3", ""], ["", "", "4 2"]]).to_csv(
        path, index=False
    )
    table = read_labels(path)
    assert table[list(CLASSES)].values.tolist() == [["", "1 3", ""], ["", "", "4 2"]]
    assert table["case"].tolist() == [1, 1]


def test_read_labels_accepts_submissions_and_wide_tables():
    sub = read_labels(_long(["case1_day0_slice_0001"], [["1 1", "", "9 9"]], column="predicted"))
    assert sub.loc[0, "stomach"] == "9 9"
    wide = read_labels(
        pd.DataFrame({"id": ["case1_day0_slice_0003"], "large_bowel": [np.nan], "small_bowel": ["2 2"], "stomach": [""]})
    )
    assert wide[list(CLASSES)].values.tolist() == [["", "2 2", ""]]
    assert wide["slice"].tolist() == [3]


def test_read_labels_errors():
    ok = _long(["case1_day0_slice_0001"], [["", "", ""]])
    with pytest.raises(LayoutError, match="unknown class 'liver' in row 1 .*expected one of"):
        read_labels(ok.assign(**{"class": ["large_bowel", "liver", "stomach"]}))
    with pytest.raises(LayoutError, match=r"more than one row for some \(id, class\) pairs: case1_day0_slice_0001/stomach"):
        read_labels(pd.concat([ok, ok.iloc[[2]]]))
    with pytest.raises(LayoutError, match=r"lacks rows for some \(id, class\) pairs: case1_day0_slice_0001/small_bowel.*missing='empty'"):
        read_labels(ok.iloc[[0, 2]])
    partial = read_labels(ok.iloc[[0, 2]].assign(segmentation=["1 1", "2 2"]), missing="empty")
    assert partial[list(CLASSES)].values.tolist() == [["1 1", "", "2 2"]]
    with pytest.raises(LayoutError, match=r"bad image id 'case1-day0' in row 0 of the labels table"):
        read_labels(ok.assign(id="case1-day0"))
    with pytest.raises(LayoutError, match="has no 'id' column"):
        read_labels(ok.rename(columns={"id": "image"}))
    with pytest.raises(LayoutError, match="no 'segmentation' or 'predicted' column"):
        read_labels(ok.rename(columns={"segmentation": "rle"}))
    with pytest.raises(LayoutError, match=r"neither a 'class' column nor the class columns \['stomach'\]"):
        read_labels(pd.DataFrame({"id": ["case1_day0_slice_0001"], "large_bowel": [""], "small_bowel": [""]}))
    with pytest.raises(LayoutError, match="labels file .* not found"):
        read_labels("/nonexistent/train.csv")
    with pytest.raises(LayoutError, match="missing='zero': expected 'error' or 'empty'"):
        read_labels(ok, missing="zero")


def test_merge_exact_and_inner():
    images = pd.DataFrame({"id": ["case1_day0_slice_0001", "case1_day0_slice_0002"], "height": [3, 3], "width": [4, 4]})
    labels = read_labels(_long(images["id"], [["1 1", "", ""], ["", "", "2 2"]]))
    merged = merge(images, labels)
    assert merged.columns.tolist() == ["id", "height", "width", "case", "day", "slice", *CLASSES]
    assert merged["stomach"].tolist() == ["", "2 2"]
    # labels for an image that is not there, and an image without labels
    more = pd.concat([images, pd.DataFrame({"id": ["case9_day0_slice_0001"], "height": [3], "width": [4]})])
    fewer = labels.iloc[[1]]
    with pytest.raises(LayoutError, match=r"1 image\(s\) without labels: case1_day0_slice_0001 \(1 in all\)"):
        merge(images, fewer)
    with pytest.raises(LayoutError, match=r"1 image\(s\) without labels: case9_day0_slice_0001"):
        merge(more, labels)
    inner = merge(more, fewer, how="inner")
    assert inner["id"].tolist() == ["case1_day0_slice_0002"]


def test_merge_lists_first_few_missing_ids_and_the_count():
    ids = [format_id(1, 0, s) for s in range(1, 11)]
    images = pd.DataFrame({"id": ids, "height": 2, "width": 2})
    labels = read_labels(_long(ids[:2] + [format_id(5, 5, 5)], [["", "", ""]] * 3))
    with pytest.raises(LayoutError) as info:
        merge(images, labels)
    text = str(info.value)
    assert "8 image(s) without labels: case1_day0_slice_0003" in text and "(8 in all)" in text
    assert "1 labelled id(s) without an image: case5_day5_slice_0005" in text


def test_merge_rejects_duplicates_and_missing_id():
    images = pd.DataFrame({"id": ["case1_day0_slice_0001"] * 2, "height": [1, 1], "width": [1, 1]})
    with pytest.raises(LayoutError, match="images table lists some ids twice: case1_day0_slice_0001"):
        merge(images, images.iloc[:1])
    with pytest.raises(LayoutError, match="labels table has no 'id' column"):
        merge(images.iloc[:1], pd.DataFrame({"x": [1]}))
    with pytest.raises(LayoutError, match="how='outer': expected 'exact' or 'inner'"):
        merge(images.iloc[:1], images.iloc[:1], how="outer")


def test_load_table(tree):
    ids = scan(tree)["id"].tolist()
    values = [[f"{k + 1} 1", "", ""] for k in range(len(ids))]
    _long(ids[::-1], values[::-1]).to_csv(tree / "train.csv", index=False)
    table = load_table(tree)
    assert table["id"].tolist() == ids
    assert table["large_bowel"].tolist() == [v[0] for v in values]
    assert {"path", "height", "width", *CLASSES} <= set(table.columns)
    kept = load_table(tree, exclude_bad=True)
    assert len(kept) == len(ids) - 2 and not kept["id"].str.startswith("case7_day0").any()
    with pytest.raises(LayoutError, match=r"image\(s\) without labels"):
        load_table(tree, labels=_long(ids[:-1], values[:-1]))


# ---------------------------------------------------------------------------
# pixels
# ---------------------------------------------------------------------------


def test_read_slice_keeps_the_16_bit_range(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 65536, size=(5, 7), dtype=np.uint16)
    a[0, 0], a[0, 1] = 0, 65535
    path = tmp_path / "slice_0001_7_5_1.50_1.50.png"
    Image.fromarray(a).save(path)
    assert Image.open(path).mode == "I;16"
    out = read_slice(path)
    assert out.dtype == np.float32 and out.shape == (5, 7)
    np.testing.assert_array_equal(out, a.astype(np.float64))  # bit exact, 65535 included


def test_read_slice_normalisations(tmp_path):
    a = np.arange(1000, 3000, dtype=np.uint16).reshape(40, 50)
    a[0, 0] = 60000  # one very bright pixel among 2,000
    path = tmp_path / "x.png"
    Image.fromarray(a).save(path)
    mm = read_slice(path, normalize="minmax")
    assert mm.dtype == np.float32 and mm.min() == 0.0 and mm.max() == 1.0
    np.testing.assert_allclose(mm, (a - 1001.0) / (60000.0 - 1001.0), rtol=1e-6, atol=1e-7)
    pc = read_slice(path, normalize="percentile")
    hi = np.percentile(a.astype(np.float32), 99.5)
    np.testing.assert_allclose(pc, (np.clip(a, 1001, hi) - 1001.0) / (hi - 1001.0), rtol=1e-5, atol=1e-6)
    assert pc.max() == 1.0 and (pc == 1.0).sum() >= 10  # the brightest 0.5% are clipped
    p90 = read_slice(path, normalize="percentile", percentile=90)
    assert (p90 == 1.0).sum() > (pc == 1.0).sum()


def test_read_slice_constant_image_and_8_bit(tmp_path):
    path = tmp_path / "flat.png"
    Image.fromarray(np.full((3, 3), 77, np.uint16)).save(path)
    assert (read_slice(path, normalize="minmax") == 0).all()
    assert (read_slice(path, normalize="percentile") == 0).all()
    assert (read_slice(path) == 77).all()
    path8 = tmp_path / "eight.png"
    Image.fromarray(np.array([[0, 255]], np.uint8)).save(path8)
    assert read_slice(path8).tolist() == [[0.0, 255.0]]


def test_read_slice_errors(tmp_path):
    with pytest.raises(LayoutError, match="normalize='zscore': expected one of"):
        read_slice(tmp_path / "x.png", normalize="zscore")
    with pytest.raises(LayoutError, match="slice file .*missing.png' not found"):
        read_slice(tmp_path / "missing.png")
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(rgb)
    with pytest.raises(LayoutError, match="has Pillow mode 'RGB': expected single-channel grayscale"):
        read_slice(rgb)
    liar = tmp_path / "slice_0001_3_2_1.50_1.50.png"  # says 2 rows x 3 columns
    Image.fromarray(np.zeros((3, 2), np.uint16)).save(liar)
    with pytest.raises(LayoutError, match=r"is 3 rows x 2 columns but its name says width=3 height=2"):
        read_slice(liar)
    assert read_slice(liar, check_size=False).shape == (3, 2)
    with pytest.raises(LayoutError, match="percentile=0: expected a number in"):
        read_slice(liar, normalize="percentile", percentile=0)


def test_top_level_exposes_the_module():
    import rlemask

    assert rlemask.uwmgi is uwmgi


# ---------------------------------------------------------------------------
# real UWMGI material
# ---------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_index_paths_parse_to_listed_sizes(real_data):
    index = pd.read_csv(real_data / "image_index.csv")
    table = from_paths(index["path"])
    assert len(table) == 38496
    assert table["case"].nunique() == 85
    assert table.groupby(["case", "day"]).ngroups == 274
    listed = index.set_index("id").loc[table["id"], ["height", "width"]]
    np.testing.assert_array_equal(table[["height", "width"]].to_numpy(), listed.to_numpy())
    sizes = set(map(tuple, table[["height", "width"]].drop_duplicates().to_numpy().tolist()))
    assert sizes == {(266, 266), (310, 360), (276, 276), (234, 234)}
    # a 360_310 file is 310 rows x 360 columns
    row = table.loc[table["path"].str.contains("_360_310_")].iloc[0]
    assert (row["height"], row["width"]) == (310, 360)
    depth = table.groupby(["case", "day"])["slice"].agg(["min", "max", "size"])
    assert (depth["min"] == 1).all() and (depth["max"] == depth["size"]).all()
    assert sorted(depth["size"].value_counts().to_dict().items()) == [(80, 15), (144, 259)]


@pytest.mark.realdata
def test_real_train_ids_parse(real_data):
    ids = pd.read_csv(real_data / "train_ids.csv")["id"]
    parts = np.array([parse_id(i) for i in ids])
    assert parts.shape == (38496, 3)
    assert len(np.unique(parts[:, 0])) == 85
    assert [format_id(*p) for p in parts[:5]] == ids[:5].tolist()


@pytest.mark.realdata
def test_real_predictions_read_as_labels(real_data):
    table = read_labels(real_data / "predicted_rle_first1000.csv")
    assert len(table) == 1000
    raw = pd.read_csv(real_data / "predicted_rle_first1000.csv")
    expected = raw.loc[raw["class"] == "stomach", "predicted"].fillna("").tolist()
    assert table["stomach"].tolist() == expected
    assert (table["large_bowel"] != "").sum() == raw.loc[raw["class"] == "large_bowel", "predicted"].notna().sum()


@pytest.mark.realdata
def test_real_16_bit_slices_keep_their_range(real_data):
    files = sorted((real_data / "slices16").glob("*.png"))
    assert files
    peaks = []
    for f in files:
        raw = np.asarray(Image.open(f))
        assert raw.dtype == np.uint16
        out = read_slice(f)
        assert out.dtype == np.float32 and out.shape == raw.shape == (266, 266)
        np.testing.assert_array_equal(out, raw)
        assert out.max() == raw.max()
        peaks.append(float(out.max()))
        norm = read_slice(f, normalize="percentile")
        assert norm.min() == 0.0 and norm.max() == 1.0
    assert max(peaks) > 255  # 16-bit counts, not squashed to 8 bits (test_image14 peaks at 10081)


@pytest.mark.realdata
def test_real_8_bit_slice_names(real_data):
    files = sorted((real_data / "slices8").glob("*.png"))
    assert len(files) == 40
    seen = {}
    for f in files:
        info = parse_filename(f.name)
        image = read_slice(f)  # checks the size against the name
        assert image.shape == (info["height"], info["width"])
        seen[(info["height"], info["width"])] = seen.get((info["height"], info["width"]), 0) + 1
    assert seen == {(266, 266): 10, (310, 360): 10, (276, 276): 10, (234, 234): 10}
