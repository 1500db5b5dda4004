"""Tests of ``rlemask decode`` and ``rlemask encode``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rlemask.cli import main
from rlemask._io import write_atomic
from rlemask.rle import decode, encode

CLASSES = ("large_bowel", "small_bowel", "stomach")


def _write_csv(path: Path, rows, column="segmentation") -> Path:
    lines = [f"id,class,{column}"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


# ----------------------------------------------------------------------------------
# one string
# ----------------------------------------------------------------------------------


def test_decode_one_string_to_png_and_npy(tmp_path):
    assert main(["decode", "28094 3 28358 7", "--shape", "266x266", "-o", str(tmp_path / "m.png")]) == 0
    png = _png(tmp_path / "m.png")
    assert png.shape == (266, 266) and png.dtype == np.uint8
    assert sorted(np.unique(png).tolist()) == [0, 255]
    assert int((png == 255).sum()) == 10
    assert png[105, 163] == 255 and png[105, 162] == 0  # pixel 28094 -> row 105, column 163 (C order)
    assert main(["decode", "28094 3 28358 7", "--shape", "266x266", "-o", str(tmp_path / "m.npy")]) == 0
    npy = np.load(tmp_path / "m.npy")
    np.testing.assert_array_equal(npy, decode("28094 3 28358 7", (266, 266)))
    np.testing.assert_array_equal(png // 255, npy)


def test_decode_one_string_in_f_order(tmp_path):
    assert main(["decode", "2 2", "--shape", "2x3", "--order", "F", "-o", str(tmp_path / "m.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), [[0, 1, 0], [1, 0, 0]])


def test_decode_one_bad_string(tmp_path, capsys):
    out = tmp_path / "m.png"
    assert main(["decode", "5 9", "--shape", "2x3", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "run 0 (start=5, length=9) ends at pixel 13, past the 6 pixels of shape=(2, 3)" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["decode", "1 2", "-o", "X/m.png"], "--shape HEIGHTxWIDTH is needed"),
        (["decode", "1 2", "--shape", "2x2"], "-o FILE (.png, .npy, .npz, .txt) or -o - is needed"),
        (["decode", "1 2", "--shape", "2x2", "-o", "m.jpg"], "expected a .png, .npy, .npz or .txt file name, or --format"),
        (["decode", "1 2", "--shape", "2x2", "-o", "nowhere/m.png"], "folder 'nowhere' does not exist"),
        (["decode", "hello world", "--shape", "2x2", "-o", "m.png"], "is neither an existing CSV file nor a run-length string"),
        (["decode", "missing.csv", "--shape", "2x2", "--out", "d"], "input file 'missing.csv' not found"),
        (["encode", "no_such_dir", "-o", "out.csv"], "'no_such_dir' is not a folder"),
    ],
)
def test_usage_errors_exit_2(argv, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_bad_shape_argument_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["decode", "1 2", "--shape", "266by266", "-o", "m.png"])
    assert info.value.code == 2
    assert "'266by266' is not HEIGHTxWIDTH" in capsys.readouterr().err


def test_help_shows_examples_and_channel_order(capsys):
    with pytest.raises(SystemExit) as info:
        main(["decode", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert 'rlemask decode "28094 3 28358 7" --shape 266x266 -o mask.png' in text
    assert "rlemask decode train.csv --images ROOT --out masks/" in text
    assert "large_bowel, small_bowel, stomach" in text
    with pytest.raises(SystemExit):
        main(["encode", "--help"])
    assert "rlemask encode masks/ -o train_rle.csv" in capsys.readouterr().out


# ----------------------------------------------------------------------------------
# a CSV file
# ----------------------------------------------------------------------------------

ROWS = [
    ("case1_day0_slice_0001", "large_bowel", "1 4"),
    ("case1_day0_slice_0001", "small_bowel", ""),
    ("case1_day0_slice_0001", "stomach", "10 2 15 1"),
    ("case1_day0_slice_0002", "large_bowel", ""),
    ("case1_day0_slice_0002", "small_bowel", "5 3"),
    ("case1_day0_slice_0002", "stomach", ""),
]


def _expected(image_id, shape, rows=ROWS):
    stack = np.zeros((*shape, 3), np.uint8)
    for i, c, text in rows:
        if i == image_id:
            stack[:, :, CLASSES.index(c)] = decode(text, shape)
    return stack


def test_decode_csv_to_pngs_with_classes_as_channels(tmp_path):
    csv = _write_csv(tmp_path / "train.csv", ROWS)
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--shape", "4x5", "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["case1_day0_slice_0001.png", "case1_day0_slice_0002.png"]
    first = _png(out / "case1_day0_slice_0001.png")
    assert first.shape == (4, 5, 3)
    np.testing.assert_array_equal(first, _expected("case1_day0_slice_0001", (4, 5)) * 255)
    assert first[0, :4, 0].tolist() == [255] * 4  # large_bowel is the red channel
    assert first[1, 4, 2] == 255 and not first[:, :, 1].any()  # stomach blue, small_bowel green and empty


def test_decode_csv_to_npz_and_encode_back(tmp_path):
    csv = _write_csv(tmp_path / "train.csv", ROWS)
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--shape", "4x5", "--out", str(out), "--format", "npz"]) == 0
    with np.load(out / "case1_day0_slice_0002.npz") as z:
        np.testing.assert_array_equal(z["mask"], _expected("case1_day0_slice_0002", (4, 5)))
        assert z["classes"].tolist() == list(CLASSES)
    back = tmp_path / "back.csv"
    assert main(["encode", str(out), "-o", str(back)]) == 0
    assert back.read_text() == csv.read_text()


def test_submission_with_missing_rows_and_predicted_column(tmp_path):
    rows = [("case2_day1_slice_0003", "stomach", "2 2")]
    csv = _write_csv(tmp_path / "sub.csv", rows, column="predicted")
    out = tmp_path / "m"
    assert main(["decode", str(csv), "--shape", "2x2", "--out", str(out), "--format", "npz"]) == 0
    with np.load(out / "case2_day1_slice_0003.npz") as z:
        assert z["mask"][:, :, 2].tolist() == [[0, 1], [1, 0]]
        assert not z["mask"][:, :, :2].any()
    back = tmp_path / "back.csv"
    assert main(["encode", str(out), "-o", str(back), "--column", "predicted"]) == 0
    assert back.read_text().splitlines() == [
        "id,class,predicted",
        "case2_day1_slice_0003,large_bowel,",
        "case2_day1_slice_0003,small_bowel,",
        "case2_day1_slice_0003,stomach,2 2",
    ]


def test_bad_rows_are_reported_with_line_numbers_and_the_rest_written(tmp_path, capsys):
    rows = [
        *ROWS,
        ("case1_day0_slice_0003", "large_bowel", "1 2 3"),  # line 8: odd token count
        ("case1_day0_slice_0003", "stomach", "1 1"),
        ("case1_day0_slice_0004", "liver", "1 1"),  # line 10: unknown class
        ("case1_day0_slice_0005", "stomach", "19 5"),  # line 11: past the end
    ]
    csv = _write_csv(tmp_path / "train.csv", rows)
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--shape", "4x5", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{csv}:8: id='case1_day0_slice_0003': class 'large_bowel': rle: odd number of tokens (3)" in err
    assert f"{csv}:10: id='case1_day0_slice_0004': unknown class 'liver'" in err
    assert f"{csv}:11: id='case1_day0_slice_0005': class 'stomach': rle: run 0 (start=19, length=5)" in err
    assert "3 row(s) failed; 3 image(s) not written, 2 written" in err
    assert sorted(p.name for p in out.iterdir()) == ["case1_day0_slice_0001.png", "case1_day0_slice_0002.png"]


def test_duplicate_rows_fail(tmp_path, capsys):
    rows = [ROWS[0], ("case1_day0_slice_0001", "large_bowel", "2 1")]
    csv = _write_csv(tmp_path / "train.csv", rows)
    assert main(["decode", str(csv), "--shape", "4x5", "--out", str(tmp_path / "m")]) == 1
    assert f"{csv}:3: id='case1_day0_slice_0001': second row for class 'large_bowel'" in capsys.readouterr().err


def test_line_numbers_count_blank_lines_and_multi_line_fields(tmp_path, capsys):
    csv = tmp_path / "train.csv"
    csv.write_text(
        "id,class,segmentation\n"
        "\n"  # line 2: blank (pandas skipped it and numbered the rows after it one too low)
        "case1_day0_slice_0001,large_bowel,1 4\n"  # line 3
        "\n"
        'case1_day0_slice_0001,stomach,"10 2\n15 1"\n'  # lines 5-6: a quoted field with a newline
        "case1_day0_slice_0002,large_bowel,1 2 3\n"  # line 7: odd token count
        "case1_day0_slice_0003,liver,1 1\n"  # line 8: unknown class
    )
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--shape", "4x5", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{csv}:7: id='case1_day0_slice_0002': class 'large_bowel': rle: odd number of tokens (3)" in err
    assert f"{csv}:8: id='case1_day0_slice_0003': unknown class 'liver'" in err
    assert [p.name for p in out.iterdir()] == ["case1_day0_slice_0001.png"]
    np.testing.assert_array_equal(_png(out / "case1_day0_slice_0001.png") // 255, _expected("case1_day0_slice_0001", (4, 5)))


def test_rows_with_too_many_fields_are_bad_rows(tmp_path, capsys):
    csv = tmp_path / "train.csv"
    csv.write_text("id,class,segmentation\ncase1_day0_slice_0001,large_bowel,1 4\ncase1_day0_slice_0002,stomach,1 1,9\n")
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--shape", "4x5", "--out", str(out)]) == 1
    assert f"{csv}:3: id='case1_day0_slice_0002': 4 fields; expected at most 3 (id,class,segmentation)" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["case1_day0_slice_0001.png"]


@pytest.mark.parametrize(
    ("height", "width", "fragment"),
    [
        ("-5", "4", "height=-5, width=4 is a negative size; expected non-negative ints"),
        ("4", "-1", "height=4, width=-1 is a negative size"),
        ("100000", "100000", "height=100000, width=100000 with 3 class(es) as png needs 65.2 GiB of buffers, more than --max-memory"),
        ("4.5", "4", "height='4.5', width='4' are not ints"),
    ],
)
def test_bad_sizes_in_the_csv_are_bad_rows(height, width, fragment, tmp_path, capsys):
    csv = tmp_path / "train.csv"
    csv.write_text(
        "id,class,segmentation,height,width\n"
        f"case1_day0_slice_0001,large_bowel,1 2,{height},{width}\n"
        "case1_day0_slice_0002,large_bowel,1 2,3,4\n"
    )
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert f"{csv}:2: id='case1_day0_slice_0001': {fragment}" in err
    assert "1 row(s) failed; 1 image(s) not written, 1 written" in err
    assert [p.name for p in out.iterdir()] == ["case1_day0_slice_0002.png"]
    assert _png(out / "case1_day0_slice_0002.png")[:, :, 0].tolist() == [[255, 255, 0, 0], [0] * 4, [0] * 4]


def test_bad_sizes_from_images_and_shape(tmp_path, capsys):
    index = tmp_path / "index.csv"
    index.write_text("id,height,width\ncase1_day0_slice_0001,-4,5\ncase1_day0_slice_0002,4,5\n")
    csv = _write_csv(tmp_path / "train.csv", ROWS)
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--images", str(index), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{csv}:2: id='case1_day0_slice_0001': --images '{index}': height=-4, width=5 is a negative size" in err
    assert [p.name for p in out.iterdir()] == ["case1_day0_slice_0002.png"]
    assert main(["decode", str(csv), "--shape", "100000x100000", "--out", str(tmp_path / "m")]) == 2
    assert "--shape 100000x100000 needs 65.2 GiB of buffers, more than --max-memory" in capsys.readouterr().err


def test_out_of_memory_for_one_image_fails_that_image_only(tmp_path, capsys, monkeypatch):
    import rlemask.rle

    real = rlemask.rle.decode

    def decode_or_fail(text, shape, **kwargs):
        if text == "5 3":
            raise MemoryError("Unable to allocate 9.31 GiB")
        return real(text, shape, **kwargs)

    monkeypatch.setattr(rlemask.rle, "decode", decode_or_fail)
    csv = _write_csv(tmp_path / "train.csv", ROWS)
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--shape", "4x5", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{csv}:5: id='case1_day0_slice_0002': not written: out of memory: Unable to allocate 9.31 GiB" in err
    assert [p.name for p in out.iterdir()] == ["case1_day0_slice_0001.png"]


def test_os_and_memory_errors_are_one_line_exit_2(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "masks"
    folder.mkdir()
    np.save(folder / "a.npy", np.array([[0, 1]], np.uint8))
    target = tmp_path / "out.csv"
    target.mkdir()  # the output path is a folder: os.replace fails
    assert main(["encode", str(folder), "-o", str(target), "--classes", "organ"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlemask encode: error: ") and "Traceback" not in err and len(err.splitlines()) == 1
    assert str(target) in err

    import rlemask.rle

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 37.3 GiB for an array with shape (100000, 100000)")

    monkeypatch.setattr(rlemask.rle, "decode", no_memory)
    assert main(["decode", "1 1", "--shape", "100000x100000", "-o", str(tmp_path / "m.npy"), "--max-memory", "1T"]) == 2
    err = capsys.readouterr().err
    assert err == "rlemask decode: error: out of memory: Unable to allocate 37.3 GiB for an array with shape (100000, 100000)\n"


def _uwmgi_tree(root: Path, files) -> Path:
    for image_id, width, height in files:
        case_day, _, sl = image_id.partition("_slice_")
        case = case_day.split("_")[0]
        scans = root / "train" / case / case_day / "scans"
        scans.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((height, width), np.uint8)).save(
            scans / f"slice_{sl}_{width}_{height}_1.50_1.50.png"
        )
    return root


def test_decode_csv_with_sizes_from_the_image_root(tmp_path, capsys):
    root = _uwmgi_tree(tmp_path / "data", [("case1_day0_slice_0001", 5, 4), ("case1_day0_slice_0002", 3, 6)])
    csv = _write_csv(tmp_path / "train.csv", ROWS)
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--images", str(root), "--out", str(out), "--format", "npz"]) == 0, capsys.readouterr().err
    with np.load(out / "case1_day0_slice_0001.npz") as z:
        np.testing.assert_array_equal(z["mask"], _expected("case1_day0_slice_0001", (4, 5)))
    with np.load(out / "case1_day0_slice_0002.npz") as z:  # 6 rows x 3 columns: width 3, height 6
        assert z["mask"].shape == (6, 3, 3)
        np.testing.assert_array_equal(z["mask"], _expected("case1_day0_slice_0002", (6, 3)))


def test_decode_csv_with_sizes_from_an_index_csv(tmp_path, capsys):
    index = tmp_path / "index.csv"
    index.write_text("id,path,height,width\ncase1_day0_slice_0001,x.png,4,5\n")
    csv = _write_csv(tmp_path / "train.csv", ROWS)
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--images", str(index), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{csv}:5: id='case1_day0_slice_0002': no image with this id under --images" in err
    assert [p.name for p in out.iterdir()] == ["case1_day0_slice_0001.png"]


def test_csv_usage_errors(tmp_path, capsys):
    csv = _write_csv(tmp_path / "train.csv", ROWS)
    assert main(["decode", str(csv), "--out", str(tmp_path / "m")]) == 2
    assert "no image size: give --shape HxW, --images ROOT" in capsys.readouterr().err
    assert main(["decode", str(csv), "--shape", "4x5", "--images", "x", "--out", str(tmp_path / "m")]) == 2
    assert "give either --shape or --images, not both" in capsys.readouterr().err
    assert main(["decode", str(csv), "--shape", "4x5"]) == 2
    assert "--out DIR is needed to decode a CSV file" in capsys.readouterr().err
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    assert main(["decode", str(wrong), "--shape", "4x5", "--out", str(tmp_path / "m")]) == 2
    assert "has columns ['a', 'b']; expected id,class,segmentation" in capsys.readouterr().err


# ----------------------------------------------------------------------------------
# encode
# ----------------------------------------------------------------------------------


def test_encode_reports_bad_files_and_writes_the_rest(tmp_path, capsys):
    folder = tmp_path / "masks"
    folder.mkdir()
    good = np.zeros((3, 4, 3), np.uint8)
    good[0, 1:3, 1] = 255
    Image.fromarray(good).save(folder / "case3_day1_slice_0010.png")
    Image.fromarray(good).save(folder / "case3_day1_slice_0009.png")
    Image.fromarray(good[:, :, 0]).save(folder / "case3_day1_slice_0011.png")  # one channel
    (folder / "case3_day1_slice_0012.npz").write_bytes(b"not a zip")
    (folder / "notes.txt").write_text("ignored")
    out = tmp_path / "out.csv"
    assert main(["encode", str(folder), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "case3_day1_slice_0011.png: has 1 channel(s); expected 3 (large_bowel, small_bowel, stomach)" in err
    assert "case3_day1_slice_0012.npz:" in err
    assert "2 file(s) failed; 2 encoded" in err
    table = pd.read_csv(out, keep_default_na=False)
    assert table["id"].tolist() == ["case3_day1_slice_0009"] * 3 + ["case3_day1_slice_0010"] * 3
    assert table["segmentation"].tolist() == ["", "2 2", ""] * 2


def test_encode_keeps_the_old_output_when_every_file_fails(tmp_path, capsys):
    folder = tmp_path / "masks"
    folder.mkdir()
    (folder / "case3_day1_slice_0012.npz").write_bytes(b"not a zip")
    np.save(folder / "case3_day1_slice_0013.npy", np.zeros((2, 2, 2), np.uint8))  # 2 channels, not 3
    out = tmp_path / "out.csv"
    out.write_text("id,class,segmentation\na,large_bowel,1 1\n")
    assert main(["encode", str(folder), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"rlemask encode: all 2 file(s) failed; nothing encoded, {str(out)!r} not written" in err
    assert out.read_text() == "id,class,segmentation\na,large_bowel,1 1\n"
    fresh = tmp_path / "fresh.csv"
    assert main(["encode", str(folder), "-o", str(fresh)]) == 1
    assert not fresh.exists()


def test_encode_one_class_and_f_order(tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    mask = np.array([[0, 1, 1], [1, 0, 0]], np.uint8)
    np.save(folder / "a.npy", mask)
    out = tmp_path / "out.csv"
    assert main(["encode", str(folder), "-o", str(out), "--classes", "organ", "--order", "F"]) == 0
    assert out.read_text() == f"id,class,segmentation\na,organ,{encode(mask, order='F')}\n"


def test_write_atomic_leaves_the_target_intact_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")

    def broken(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]
    write_atomic(target, lambda f: f.write(b"new"))
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_console_script_and_cached_kernels(tmp_path):
    """A second process finds the compiled kernels in the cache (no compile)."""
    code = (
        "import sys\n"
        "from rlemask.cli import main\n"
        "from rlemask import _kernels\n"
        "rc = main(['decode', '2 3', '--shape', '3x3', '-o', sys.argv[1]])\n"
        "s = _kernels.decode_into.stats\n"
        "print(rc, sum(s.cache_hits.values()), sum(s.cache_misses.values()))\n"
    )
    target = str(tmp_path / "m.npy")
    subprocess.run([sys.executable, "-c", code, target], check=True, capture_output=True)
    second = subprocess.run([sys.executable, "-c", code, target], check=True, capture_output=True, text=True)
    assert second.stdout.split() == ["0", "1", "0"]
    assert np.load(target).ravel().tolist() == [0, 1, 1, 1, 0, 0, 0, 0, 0]


# ----------------------------------------------------------------------------------
# real data
# ----------------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_predictions_through_decode_and_encode(real_data, tmp_path):
    source = real_data / "predicted_rle_first1000.csv"
    head = tmp_path / "sub.csv"
    head.write_text("".join(source.read_text().splitlines(keepends=True)[:601]))  # 200 images
    out = tmp_path / "masks"
    assert main(["decode", str(head), "--images", str(real_data / "image_index.csv"), "--out", str(out), "-q"]) == 0
    files = sorted(out.iterdir())
    assert len(files) == 200
    index = pd.read_csv(real_data / "image_index.csv").set_index("id")
    for f in files[:: 20]:
        h, w = index.loc[f.stem, ["height", "width"]]
        assert _png(f).shape == (h, w, 3)
    back = tmp_path / "back.csv"
    assert main(["encode", str(out), "-o", str(back), "--column", "predicted", "-q"]) == 0
    original = pd.read_csv(head, keep_default_na=False)
    again = pd.read_csv(back, keep_default_na=False)
    key = ["id", "class"]
    pd.testing.assert_frame_equal(
        original.sort_values(key).reset_index(drop=True), again.sort_values(key).reset_index(drop=True)
    )


# ----------------------------------------------------------------------------------
# dialects: --base, --relative
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("base", "relative"), [(0, False), (1, True), (0, True)])
def test_decode_and_encode_dialects(base, relative, tmp_path):
    mask = np.array([[0, 1, 1, 0], [1, 0, 0, 1], [1, 1, 0, 0]], np.uint8)
    text = encode(mask, base=base, relative=relative)
    assert text != encode(mask)  # the options change the string
    flags = ["--base", str(base)] + (["--relative"] if relative else [])
    assert main(["decode", text, "--shape", "3x4", "-o", str(tmp_path / "m.npy"), *flags]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), mask)
    csv = _write_csv(tmp_path / "t.csv", [("a", "organ", text)])
    out = tmp_path / "masks"
    assert main(["decode", str(csv), "--shape", "3x4", "--out", str(out), "--format", "npy", "--classes", "organ", *flags]) == 0
    np.testing.assert_array_equal(np.load(out / "a.npy")[:, :, 0], mask)
    back = tmp_path / "back.csv"
    assert main(["encode", str(out), "-o", str(back), "--classes", "organ", *flags]) == 0
    assert back.read_text() == f"id,class,segmentation\na,organ,{text}\n"
