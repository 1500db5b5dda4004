"""Fixed regression cases for ``rlemask decode`` / ``rlemask encode`` (``commands/codec``),
from the full mutation run of session 6 (issue 11).

Each test names the mutants it kills in its docstring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rlemask.cli import main


def _write_csv(path: Path, rows, header="id,class,segmentation") -> Path:
    path.write_text(header + "\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("command", ["decode", "encode"])
@pytest.mark.parametrize("text", ["a,a", " , ", "stomach, stomach", ""])
def test_classes_must_be_distinct_and_not_empty(tmp_path, capsys, command, text):
    """Kills ``_classes``: ``or -> and`` (an empty list or a repeated name accepted) and
    ``raise ArgumentTypeError -> pass``."""
    argv = (["decode", "1 1", "--shape", "2x2", "-o", str(tmp_path / "m.npy")] if command == "decode"
            else ["encode", str(tmp_path), "-o", str(tmp_path / "out.csv")])
    with pytest.raises(SystemExit) as info:
        main(argv + ["--classes", text])
    assert info.value.code == 2
    assert f"{text!r} is not a comma-separated list of distinct class names" in capsys.readouterr().err
    assert _files(tmp_path) == []


def test_encode_needs_an_output(tmp_path, capsys):
    """Kills ``register``: ``required=True -> False`` for ``encode -o``."""
    np.save(tmp_path / "a.npy", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(SystemExit) as info:
        main(["encode", str(tmp_path)])
    assert info.value.code == 2
    assert "the following arguments are required: -o/--out" in capsys.readouterr().err


@pytest.mark.parametrize(("n_images", "quiet", "bar"), [(3, False, False), (199, False, False), (200, False, True),
                                                         (200, True, False), (3, True, False)])
def test_progress_bar_only_for_200_images_or_more_without_quiet(tmp_path, monkeypatch, n_images, quiet, bar):
    """Kills ``_progress``: ``quiet or total < 200 -> and``, ``< 200 -> <= 200`` / ``< 199``
    (tqdm is asked for a bar only from 200 images on, and never under ``-q``)."""
    import tqdm

    calls = []

    def fake_tqdm(iterable, **kwargs):
        calls.append((kwargs["total"], kwargs["desc"]))
        return iterable

    monkeypatch.setattr(tqdm, "tqdm", fake_tqdm)
    csv = _write_csv(tmp_path / "t.csv", [(f"i{k:03d}", "stomach", "1 1") for k in range(n_images)])
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--shape", "1x2", "--out", str(out), "--format", "npy"] + (["-q"] if quiet else [])) == 0
    assert calls == ([(n_images, "decode")] if bar else [])
    assert len(_files(out)) == n_images
    calls.clear()
    assert main(["encode", str(out), "-o", str(tmp_path / "back.csv")] + (["-q"] if quiet else [])) == 0
    assert calls == ([(n_images, "encode")] if bar else [])


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (OSError(28, "No space left on device"), "No space left on device"),
        (OSError(13, "Permission denied", "/data/out/a.png"), "Permission denied: '/data/out/a.png'"),
        (OSError(9, "Bad file descriptor", 3), "Bad file descriptor"),  # a file descriptor is no name
        (OSError("no strerror"), "no strerror"),
        (MemoryError(), "out of memory"),
        (MemoryError("12 GiB"), "out of memory: 12 GiB"),
        (KeyError(4), "KeyError: 4"),
    ],
)
def test_describe_names_the_file_only_when_there_is_one(exc, text):
    """Kills ``_describe``: ``exc.filename and not isinstance(...) -> or`` (": None" after a
    reason without a file) and ``not isinstance -> isinstance`` (the file name dropped)."""
    from rlemask.commands.codec import _describe

    assert _describe(exc) == text


def test_four_classes_make_an_rgba_png(tmp_path):
    """Kills ``_save_png``: ``{3: "RGB", 4: "RGBA"} -> {3: "RGB", 5: "RGBA"}`` (a 4-class PNG
    failed with ``KeyError: 4``)."""
    from PIL import Image

    csv = _write_csv(tmp_path / "t.csv", [("a", "w", "1 1"), ("a", "x", "2 1"), ("a", "z", "4 1")])
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--shape", "2x2", "--out", str(out), "--classes", "w,x,y,z", "-q"]) == 0
    with Image.open(out / "a.png") as im:
        assert im.mode == "RGBA"
        rgba = np.asarray(im)
    assert rgba.shape == (2, 2, 4)
    np.testing.assert_array_equal(rgba[..., 0], [[255, 0], [0, 0]])
    np.testing.assert_array_equal(rgba[..., 1], [[0, 255], [0, 0]])
    np.testing.assert_array_equal(rgba[..., 2], [[0, 0], [0, 0]])
    np.testing.assert_array_equal(rgba[..., 3], [[0, 0], [0, 255]])


def test_a_nul_in_a_csv_on_stdin_fails_its_row_only(tmp_path, capsys, monkeypatch):
    """Kills ``run_decode``: ``read_input("-", ..., allow_nul=True) -> False`` (the whole
    standard input refused as binary instead of one bad row)."""
    import io
    import types

    data = b"id,class,segmentation\na\x00b,stomach,1 1\nc,stomach,2 1\n"
    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=io.BytesIO(data)))
    out = tmp_path / "out"
    assert main(["decode", "-", "--shape", "1x2", "--out", str(out), "--format", "npy"]) == 1
    err = capsys.readouterr().err
    assert "<stdin>:2: id='a\\x00b': not a usable image id: the id holds a NUL character" in err
    assert _files(out) == ["c.npy"]
    np.testing.assert_array_equal(np.load(out / "c.npy")[..., 2], [[0, 1]])


def test_a_csv_file_without_the_csv_suffix_and_a_string_named_like_a_file(tmp_path, monkeypatch):
    """Kills ``run_decode``: ``isfile(source) and not _RLE_RE.fullmatch(source)`` ->
    ``and _RLE_RE.fullmatch``: an existing file whose name is not digits is read as a CSV
    (any suffix); a run-length string stays a string even when a file has that name."""
    monkeypatch.chdir(tmp_path)
    _write_csv(tmp_path / "table.txt", [("a", "stomach", "2 1")])
    assert main(["decode", "table.txt", "--shape", "1x2", "--out", "out", "--format", "npy", "-q"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "a.npy")[..., 2], [[0, 1]])
    _write_csv(tmp_path / "1 1", [("b", "stomach", "2 1")])  # a file named like the string
    assert main(["decode", "1 1", "--shape", "1x2", "-o", "m.npy"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), [[1, 0]])


@pytest.mark.parametrize(("fmt", "per_pixel"), [("npy", 1), ("npz", 1), ("text", 1), ("png", 2)])
def test_one_string_budget_is_exact(tmp_path, capsys, fmt, per_pixel):
    """Kills ``_decode_one``: the bytes a pixel of a non-PNG output (``1 -> 0``: never over
    budget; ``1 -> 2``: twice too many), at the budget and one byte under it."""
    need = 10 * 10 * per_pixel
    out = tmp_path / f"m.{ {'text': 'txt'}.get(fmt, fmt) }"
    assert main(["decode", "1 1", "--shape", "10x10", "-o", str(out), "--max-memory", str(need)]) == 0
    assert out.exists()
    out.unlink()
    assert main(["decode", "1 1", "--shape", "10x10", "-o", str(out), "--max-memory", str(need - 1)]) == 2
    assert f"--shape 10x10 needs {need} B of buffers, more than --max-memory {need - 1} B" in capsys.readouterr().err
    assert not out.exists()


def test_one_string_is_strict_unless_loose(tmp_path, capsys):
    """Kills ``_decode_one``: ``strict=not args.loose -> strict=args.loose``."""
    out = tmp_path / "m.npy"
    assert main(["decode", "3 1 1 1", "--shape", "2x2", "-o", str(out)]) == 1
    assert "starts before run 0" in capsys.readouterr().err
    assert not out.exists()
    assert main(["decode", "3 1 1 1", "--shape", "2x2", "-o", str(out), "--loose"]) == 0
    np.testing.assert_array_equal(np.load(out), [[1, 0], [1, 0]])


@pytest.mark.parametrize(("height", "width"), [("-1", "2"), ("2", "-1"), ("-1", "-1")])
def test_a_negative_size_column_fails_its_row(tmp_path, capsys, height, width):
    """Kills ``_size_problem``: ``h < 0 -> h < -1`` (and ``w``): a height of -1 passed as a size."""
    csv = _write_csv(tmp_path / "t.csv", [("a", "stomach", "", height, width), ("b", "stomach", "1 1", "1", "2")],
                     header="id,class,segmentation,height,width")
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--out", str(out), "--format", "npy", "-q"]) == 1
    err = capsys.readouterr().err
    assert f"t.csv:2: id='a': height={height}, width={width} is a negative size; expected non-negative ints" in err
    assert _files(out) == ["b.npy"]


def test_blank_and_whitespace_lines_of_a_csv_are_skipped(tmp_path, capsys):
    """Kills ``_read_rows``: ``not fields or (len(fields) == 1 and not fields[0].strip())``
    -> ``and`` / ``len(fields) == 0`` / ``== 2`` / ``fields[0].strip()`` / ``fields[1]``
    (a line of spaces read as a row with an empty id, or an ``IndexError``)."""
    text = "\n   \nid,class,segmentation\n\na,stomach,1 1\n  \t \nb,stomach,2 1\n\n"
    csv = tmp_path / "t.csv"
    csv.write_text(text)
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--shape", "1x2", "--out", str(out), "--format", "npy", "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert _files(out) == ["a.npy", "b.npy"]
    np.testing.assert_array_equal(np.load(out / "b.npy")[..., 2], [[0, 1]])
    # the line numbers of bad rows still count the skipped lines
    csv.write_text(text.replace("2 1", "9 1"))
    assert main(["decode", str(csv), "--shape", "1x2", "--out", str(out), "--format", "npy", "-q"]) == 1
    err = capsys.readouterr().err
    assert "t.csv:7: id='b': class 'stomach': " in err and "(start=9, length=1)" in err


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf", b'""\n', b'\xef\xbb\xbf""\r\n""\n'])
def test_a_csv_without_a_header_line_is_a_usage_error(tmp_path, capsys, data):
    """Kills ``_read_rows``: ``raise ValueError("the file is empty ...") -> pass`` (a file
    that is not blank as bytes but holds no field: a byte order mark, an empty quoted field)."""
    csv = tmp_path / "t.csv"
    csv.write_bytes(data)
    assert main(["decode", str(csv), "--shape", "1x2", "--out", str(tmp_path / "out")]) == 2
    assert f"cannot read {str(csv)!r} as CSV: the file is empty; expected a header line" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ("id,height\na,1\n", "has no column(s) ['width']; expected id,height,width"),
        ("id,width,x\na,1,2\n", "has no column(s) ['height']; expected id,height,width"),
        ("id,height,width\na,abc,2\n", "id='a' has height='abc', width='2'; expected ints"),
        ("id,height,width\na,1,2.5\n", "id='a' has height='1', width='2.5'; expected ints"),
    ],
)
def test_a_bad_images_table_is_a_usage_error(tmp_path, capsys, table, fragment):
    """Kills ``_image_sizes``: both ``raise LayoutError -> pass`` (a table without a size
    column, a size that is not an int)."""
    sizes = tmp_path / "sizes.csv"
    sizes.write_text(table)
    csv = _write_csv(tmp_path / "t.csv", [("a", "stomach", "1 1")])
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--images", str(sizes), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"cannot read image sizes from --images {str(sizes)!r}: --images {str(sizes)!r}" in err
    assert fragment in err
    assert not out.exists()


@pytest.mark.parametrize(("fmt", "classes", "code"), [("png", "organ", 0), ("png", "a,b", 2), ("png", "a,b,c,d,e", 2),
                                                       ("npz", "a,b", 0), ("npy", "a,b", 0), ("npz", "a,b,c,d,e", 0)])
def test_png_channels_are_1_3_or_4_and_other_formats_any(tmp_path, capsys, fmt, classes, code):
    """Kills ``_decode_csv``: ``fmt == "png" -> !=`` (two classes refused as npz) and
    ``(1, 3, 4) -> (0, 3, 4)`` / ``(2, 3, 4)`` (a one-class PNG refused, two accepted)."""
    names = classes.split(",")
    csv = _write_csv(tmp_path / "t.csv", [("a", names[-1], "2 1")])
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--shape", "1x2", "--out", str(out), "--format", fmt, "--classes", classes, "-q"]) == code
    if code:
        assert f"a PNG holds 1, 3 or 4 channels, not {len(names)}; use --format npz" in capsys.readouterr().err
        assert not out.exists()
        return
    assert _files(out) == [f"a.{fmt}"]
    if fmt == "png":
        from PIL import Image

        with Image.open(out / "a.png") as im:
            np.testing.assert_array_equal(np.asarray(im), [[0, 255]])
    else:
        data = np.load(out / f"a.{fmt}")
        mask = data["mask"] if fmt == "npz" else data
        assert mask.shape == (1, 2, len(names))
        np.testing.assert_array_equal(mask[..., -1], [[0, 1]])


def test_an_id_whose_file_name_is_exactly_the_limit_is_written(tmp_path, capsys):
    """Kills ``_id_problem``: ``size > limit -> >=`` (a file name of exactly NAME_MAX bytes refused)."""
    from rlemask._io import name_max

    out = tmp_path / "out"
    limit = name_max(tmp_path)
    fits, too_long = "a" * (limit - len(".npy")), "b" * (limit - len(".npy") + 1)
    csv = _write_csv(tmp_path / "t.csv", [(fits, "stomach", "1 1"), (too_long, "stomach", "1 1")])
    assert main(["decode", str(csv), "--shape", "1x2", "--out", str(out), "--format", "npy", "-q"]) == 1
    assert f"is {limit + 1} bytes, more than the {limit} the file system allows" in capsys.readouterr().err
    assert _files(out) == [fits + ".npy"]


@pytest.mark.parametrize(("fmt", "classes", "per_pixel"), [("png", "organ", 1 + 1), ("png", "a,b,c", 3 + 4), ("png", "a,b,c,d", 4 + 4),
                                                            ("npz", "a,b", 2), ("npy", "organ", 1)])
def test_csv_budget_with_shape_is_exact_on_a_non_square_image(tmp_path, capsys, fmt, classes, per_pixel):
    """Kills ``_decode_csv``'s ``--shape`` budget: the PNG bytes of one class (``> 1 -> >= 1``,
    ``> 0``, ``else 1 -> 0`` / ``2``) and the pixels ``shape[0] * shape[1]`` (``shape[-1]``,
    ``shape[1]``, ``shape[0]`` twice), at the budget and one byte under it, with --shape 3x5."""
    names = classes.split(",")
    need = 3 * 5 * per_pixel
    csv = _write_csv(tmp_path / "t.csv", [("a", names[0], "1 1")])
    argv = ["decode", str(csv), "--shape", "3x5", "--format", fmt, "--classes", classes, "-q"]
    assert main(argv + ["--out", str(tmp_path / "ok"), "--max-memory", str(need)]) == 0
    assert _files(tmp_path / "ok") == [f"a.{fmt}"]
    assert main(argv + ["--out", str(tmp_path / "no"), "--max-memory", str(need - 1)]) == 2
    err = capsys.readouterr().err
    assert (f"--shape 3x5 needs {need} B of buffers, more than --max-memory {need - 1} B; raise --max-memory if the "
            f"machine has the memory (one image, {len(names)} class(es), {fmt})") in err
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("header", ["image,class,segmentation", "id,klass,segmentation", "id,class,rle", "id,segmentation"])
def test_a_csv_needs_id_class_and_a_mask_column(tmp_path, capsys, header):
    """Kills ``_decode_csv``: ``"id" not in columns or "class" not in columns or value_col is None``
    -> ``and`` (a table missing one of the three read on)."""
    csv = _write_csv(tmp_path / "t.csv", [("a", "stomach", "1 1")[: len(header.split(","))]], header=header)
    assert main(["decode", str(csv), "--shape", "1x2", "--out", str(tmp_path / "out")]) == 2
    columns = header.split(",")
    assert (f"{str(csv)!r} has columns {columns}; expected id,class,segmentation (train.csv) or "
            "id,class,predicted (submission)") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra", ["height", "width"])
def test_one_size_column_is_no_size(tmp_path, capsys, extra):
    """Kills ``_decode_csv``: ``has_size = "height" in columns and "width" in columns -> or``."""
    csv = _write_csv(tmp_path / "t.csv", [("a", "stomach", "1 1", "2")], header=f"id,class,segmentation,{extra}")
    assert main(["decode", str(csv), "--out", str(tmp_path / "out")]) == 2
    assert "no image size: give --shape HxW, --images ROOT (or a CSV with id,height,width), or height,width columns" in (
        capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_the_failure_count_and_the_rows_after_a_too_long_row(tmp_path, capsys):
    """Kills ``_decode_csv``: ``failures += 1 -> -= 1`` (the summary's count) and the
    ``continue -> break`` after a row with too many fields (the rows after it dropped)."""
    csv = _write_csv(tmp_path / "t.csv", [("a", "stomach", "1 1", "extra"), ("b", "stomach", "2 1"),
                                          ("c", "nowhere", "1 1"), ("d", "stomach", "1 1")])
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--shape", "1x2", "--out", str(out), "--format", "npy", "-q"]) == 1
    err = capsys.readouterr().err
    assert "t.csv:2: id='a': 4 fields; expected at most 3 (id,class,segmentation)" in err
    assert "t.csv:4: id='c': unknown class 'nowhere'" in err
    assert f"rlemask decode: 2 row(s) failed; 2 image(s) not written, 2 written to {str(out)!r}" in err
    assert _files(out) == ["b.npy", "d.npy"]


def test_the_id_column_last_and_rows_too_short_to_reach_it(tmp_path, capsys):
    """Kills ``_decode_csv``: ``at["id"] < len(fields)`` -> ``< len(fields) - 1`` (an id in the
    last field read as empty) and ``<= len(fields)`` (``IndexError`` on a row that ends
    before the id column)."""
    csv = _write_csv(tmp_path / "t.csv", [("stomach", "1 1", "a"), ("stomach", "2 1")], header="class,segmentation,id")
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--shape", "1x2", "--out", str(out), "--format", "npy", "-q"]) == 1
    err = capsys.readouterr().err
    assert "t.csv:3: id='': not a usable image id: empty id; expected a name for the output file" in err
    assert f"rlemask decode: 1 row(s) failed; 1 image(s) not written, 1 written to {str(out)!r}" in err
    assert _files(out) == ["a.npy"]
    np.testing.assert_array_equal(np.load(out / "a.npy")[..., 2], [[1, 0]])


def test_images_after_a_rejected_one_are_still_written(tmp_path, capsys):
    """Kills two ``_decode_csv`` ``continue -> break``: after a row whose size differs from
    its image's first row (never tested before), and in the write loop after an image with
    a row rejected while reading (an unknown class)."""
    header = "id,class,segmentation,height,width"
    csv = _write_csv(tmp_path / "t.csv", [("a", "stomach", "1 1", "1", "2"), ("a", "small_bowel", "1 1", "2", "2"),
                                          ("b", "stomach", "2 1", "1", "2")], header=header)
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--out", str(out), "--format", "npy", "-q"]) == 1
    err = capsys.readouterr().err
    assert "t.csv:3: id='a': height=2, width=2 differs from the size of its first row (1, 2)" in err
    assert _files(out) == ["b.npy"]
    csv = _write_csv(tmp_path / "u.csv", [("a", "stomach", "1 1"), ("a", "nowhere", "1 1"), ("b", "stomach", "2 1")])
    out = tmp_path / "out2"
    assert main(["decode", str(csv), "--shape", "1x2", "--out", str(out), "--format", "npy", "-q"]) == 1
    assert "u.csv:3: id='a': unknown class 'nowhere'" in capsys.readouterr().err
    assert _files(out) == ["b.npy"]
    np.testing.assert_array_equal(np.load(out / "b.npy")[..., 2], [[0, 1]])


def test_encode_orders_uwmgi_ids_by_case_day_and_slice_numbers(tmp_path):
    """Kills ``_sort_key``: the day and slice numbers of the key (``m[2] -> m[1]`` / ``m[3]``,
    ``m[3] -> m[2]``): days and slices compare as numbers, not as text, within one case."""
    folder = tmp_path / "masks"
    folder.mkdir()
    names = ["case1_day10_slice_0002", "case1_day2_slice_10", "case1_day2_slice_9", "case1_day2_slice_0003",
             "case1_day2_slice_0001", "case0_day99_slice_0099", "z", "case1_day2"]
    for name in names:
        np.save(folder / f"{name}.npy", np.zeros((1, 1), np.uint8))
    out = tmp_path / "out.csv"
    assert main(["encode", str(folder), "-o", str(out), "--classes", "organ", "-q"]) == 0
    ids = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
    assert ids == ["case0_day99_slice_0099", "case1_day2_slice_0001", "case1_day2_slice_0003", "case1_day2_slice_9",
                   "case1_day2_slice_10", "case1_day10_slice_0002", "case1_day2", "z"]


@pytest.mark.parametrize("suffix", ["npy", "npz"])
def test_encode_budget_of_an_array_file_is_exact(tmp_path, capsys, suffix):
    """Kills ``_Probe.__init__``: the default ``extra=0`` (bytes on top of the array, only
    Pillow's image has any) moved to -1 or 1: the budget of a (4, 5, 3) uint8 file is its
    60 bytes plus the 60 of the mask, at the byte."""
    folder = tmp_path / "masks"
    folder.mkdir()
    mask = np.zeros((4, 5, 3), np.uint8)
    if suffix == "npy":
        np.save(folder / "a.npy", mask)
    else:
        np.savez(folder / "a.npz", mask=mask)
    out = tmp_path / "out.csv"
    assert main(["encode", str(folder), "-o", str(out), "--max-memory", "120"]) == 0
    assert out.read_text().splitlines()[1:] == ["a,large_bowel,", "a,small_bowel,", "a,stomach,"]
    out.unlink()
    assert main(["encode", str(folder), "-o", str(out), "--max-memory", "119"]) == 1
    assert f"a.{suffix}: shape=(4, 5, 3) needs 120 B of buffers, more than --max-memory 119 B" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("suffix", ["npy", "npz"])
def test_encode_budget_of_a_2d_array_file_is_exact(tmp_path, capsys, suffix):
    """Kills ``_Probe.pixels``: ``len(shape) >= 2 -> > 2`` / ``>= 3`` (a (height, width)
    file counted as 0 pixels) and ``shape[0] * shape[1] -> shape[0] * shape[0]``: a (4, 5)
    uint8 file for one class is 20 bytes plus the 20 of the mask, at the byte."""
    folder = tmp_path / "masks"
    folder.mkdir()
    mask = np.zeros((4, 5), np.uint8)
    mask[3, 4] = 1
    if suffix == "npy":
        np.save(folder / "a.npy", mask)
    else:
        np.savez(folder / "a.npz", mask=mask)
    out = tmp_path / "out.csv"
    assert main(["encode", str(folder), "-o", str(out), "--classes", "organ", "--max-memory", "40"]) == 0
    assert out.read_text().splitlines() == ["id,class,segmentation", "a,organ,20 1"]
    out.unlink()
    assert main(["encode", str(folder), "-o", str(out), "--classes", "organ", "--max-memory", "39"]) == 1
    assert f"a.{suffix}: shape=(4, 5) needs 40 B of buffers, more than --max-memory 39 B" in capsys.readouterr().err
    assert not out.exists()


def _encode_one(tmp_path, name, write, argv=()):
    folder = tmp_path / "masks"
    folder.mkdir(parents=True)
    write(folder / name)
    out = tmp_path / "out.csv"
    code = main(["encode", str(folder), "-o", str(out), "--classes", "organ", *argv])
    return code, (out.read_text().splitlines() if out.exists() else None)


def test_npy_files_of_format_2_0_are_read_and_3_0_refused(tmp_path, capsys):
    """Kills ``_npy_header``: ``version == (2, 0)`` -> ``!=``, ``(1, 0)``, ``(3, 0)``, ``(2, -1)``,
    ``(2, 1)`` (a valid 2.0 file refused) and ``raise ValueError -> pass`` for other versions."""
    mask = np.zeros((2, 3), np.uint8)
    mask[1, 2] = 1

    def writer(version):
        def write(path):
            with open(path, "wb") as f:
                np.lib.format.write_array(f, mask, version=version)
        return write

    assert _encode_one(tmp_path, "a.npy", writer((2, 0))) == (0, ["id,class,segmentation", "a,organ,6 1"])
    code, _ = _encode_one(tmp_path / "v3", "a.npy", writer((3, 0)))
    assert code == 1
    assert "a.npy: is a .npy of format version 3.0; expected 1.0 or 2.0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.array([[1, None]], dtype=object), "a.npy: holds Python objects (dtype object); expected numbers or bool"),
        (np.zeros(6, np.uint8), "a.npy: has shape (6,); expected (height, width) or (height, width, channels)"),
        (np.zeros((1, 2, 3, 1), np.uint8), "a.npy: has shape (1, 2, 3, 1); expected (height, width) or (height, width, channels)"),
    ],
)
def test_npy_headers_refused_with_their_reason(tmp_path, capsys, array, message):
    """Kills ``_npy_header``'s ``raise ValueError -> pass`` for object arrays and for shapes
    that are not 2-D or 3-D (later checks refuse them too, with another reason)."""
    code, lines = _encode_one(tmp_path, "a.npy", lambda p: np.save(p, array, allow_pickle=True))
    assert (code, lines) == (1, None)
    assert message in capsys.readouterr().err


def test_npz_member_choice(tmp_path, capsys):
    """Kills ``_probe``: ``len(names) == 1 -> == 0`` / ``names[0] -> names[1]`` (the only
    array of an .npz not taken) and ``raise ValueError -> pass`` (two arrays, none 'mask')."""
    mask = np.zeros((2, 3), np.uint8)
    mask[0, 1] = 1
    assert _encode_one(tmp_path, "a.npz", lambda p: np.savez(p, other=mask)) == (0, ["id,class,segmentation", "a,organ,2 1"])
    code, lines = _encode_one(tmp_path / "two", "b.npz", lambda p: np.savez(p, x=mask, y=mask))
    assert (code, lines) == (1, None)
    assert "b.npz: holds arrays ['x', 'y'] but none named 'mask'" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore:IM image format is deprecated:DeprecationWarning")  # Pillow 12+; removed in 15
@pytest.mark.parametrize(("dtype", "mode", "fmt", "itemsize"), [(np.uint16, "I;16", "PNG", 2), (np.int32, "I", "TIFF", 4),
                                                               (np.float32, "F", "TIFF", 4), (">u2", "I;16B", "TIFF", 2),
                                                               ("<u2", "I;16L", "IM", 2)])
def test_encode_budget_of_wide_image_modes_is_exact(tmp_path, capsys, dtype, mode, fmt, itemsize):
    """Kills ``_probe``'s bytes per pixel of Pillow modes ``I``, ``F``, ``I;16``, ``I;16B``, ``I;16L``
    (each moved by one): a (2, 3) image of one class needs 6 x itemsize for the array, 6 x 4 for
    Pillow's image and 6 for the mask, at the byte. Only ``I;16`` can be a PNG: the others are a
    TIFF or an IM file named ``.png`` (files are opened by content)."""
    from PIL import Image

    array = np.zeros((2, 3), dtype)
    array[1, 2] = 1
    need = 6 * itemsize + 6 * 4 + 6

    def write(path):
        image = Image.new(mode, (3, 2)) if mode in ("I;16B", "I;16L") else Image.fromarray(array)
        if mode in ("I;16B", "I;16L"):
            image.frombytes(array.tobytes())
        assert image.mode == mode
        image.save(path, format=fmt)

    assert _encode_one(tmp_path, "a.png", write, ["--max-memory", str(need)]) == (0, ["id,class,segmentation", "a,organ,6 1"])
    code, lines = _encode_one(tmp_path / "under", "a.png", write, ["--max-memory", str(need - 1)])
    assert (code, lines) == (1, None)
    assert f"a.png: shape=(2, 3) needs {need} B of buffers, more than --max-memory {need - 1} B" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("mode", "classes", "need"),
    [
        ("1", "organ", 6 + 6 + 6),  # array, Pillow's image (a byte a pixel), mask
        ("L", "organ", 6 + 6 + 6),
        ("P", "organ", 6 + 6 * 2 + 6),  # + the L copy of the palette image
        ("LA", "a,b", 12 + 6 * 4 + 12),
        ("RGB", "a,b,c", 18 + 6 * 4 + 18),
        ("RGBA", "a,b,c", 24 + 6 * 4 + 18),  # alpha is no class
    ],
)
def test_encode_budget_of_png_modes_is_exact(tmp_path, capsys, mode, classes, need):
    """Kills ``_probe``'s other byte counts: the default itemsize 1 (``get(mode, 0 / 2)``), a
    byte a pixel for modes 1, L, P (``1 -> 0 / 2``, ``in -> not in``), the extra byte of P
    (``+ -> -``, ``1 -> 0 / 2``, ``== -> !=``, ``else 0 -> -1 / 1``) and the band axis only
    for more than one band (``bands > 1 -> >= 1`` / ``> 0`` / ``> 2``): a (2, 3) PNG with one
    set pixel per class, at the byte."""
    from PIL import Image

    n = len(classes.split(","))
    array = np.zeros((2, 3, n), np.uint8)
    for k in range(n):
        array[k % 2, k, k] = 255

    def write(path):
        if mode in ("1", "L", "P"):
            image = Image.fromarray(array[:, :, 0]).convert(mode)
        elif mode == "RGBA":
            image = Image.fromarray(np.dstack([array, np.full((2, 3), 255, np.uint8)]), "RGBA")
        else:
            image = Image.fromarray(array, mode)
        assert image.mode == mode
        image.save(path, format="PNG")

    argv = ["encode", None, "-o", None, "--classes", classes]
    for budget, code in ((need, 0), (need - 1, 1)):
        folder = tmp_path / str(budget)
        folder.mkdir()
        write(folder / "a.png")
        argv[1], argv[3] = str(folder), str(folder / "out.csv")
        assert main(argv + ["--max-memory", str(budget)]) == code
    lines = (tmp_path / str(need) / "out.csv").read_text().splitlines()
    assert lines[0] == "id,class,segmentation" and len(lines) == 1 + n
    assert lines[1].endswith(",1 1")
    shape = "(2, 3)" if n == 1 else f"(2, 3, {4 if mode == 'RGBA' else n})"
    assert f"a.png: shape={shape} needs {need} B of buffers, more than --max-memory {need - 1} B" in capsys.readouterr().err


def test_a_png_shorter_than_its_header_is_left_to_pillow(tmp_path, capsys):
    """Kills ``_png_size``: ``len(head) < 24 -> < 23`` (a 23-byte file whose 3 height bytes
    were read as a size: a budget error instead of Pillow's)."""
    import struct

    folder = tmp_path / "masks"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">I", 2**31) + b"\0\0\x10")
    assert main(["encode", str(folder), "-o", str(tmp_path / "out.csv"), "--max-memory", "1G"]) == 1
    err = capsys.readouterr().err
    assert f"{folder / 'a.png'}: " in err and "needs" not in err  # Pillow's own reason


@pytest.mark.parametrize(("width", "height"), [(2**24 + 1, 1), (1, 2**24 + 1)])
def test_a_png_wider_or_taller_than_2_to_the_24_is_refused_by_its_header(tmp_path, capsys, width, height):
    """Kills ``_png_size``: ``head[16:20] -> head[17:20]`` and ``head[20:24] -> head[21:24]``
    (the high byte of the width or height dropped: 2**24 + 1 read as 1, so Pillow's guard
    refused the file instead of our budget)."""
    import struct

    folder = tmp_path / "masks"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR"
                                   + struct.pack(">II", width, height) + bytes(20))
    assert main(["encode", str(folder), "-o", str(tmp_path / "out.csv"), "--max-memory", "1M"]) == 1
    assert (f"a.png: shape=({height}, {width}) needs 48.0 MiB of buffers, more than --max-memory 1.0 MiB"
            in capsys.readouterr().err)


def test_pillow_errors_inside_the_guard_are_not_swallowed(tmp_path, capsys):
    """Kills ``_pillow_guard.__exit__``: ``return False -> True`` (an error of ``Image.open``
    swallowed, then an ``UnboundLocalError`` about the size instead of Pillow's reason)."""
    folder = tmp_path / "masks"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not an image at all, but long enough to be read")
    assert main(["encode", str(folder), "-o", str(tmp_path / "out.csv")]) == 1
    err = capsys.readouterr().err
    assert "cannot identify image file" in err and "UnboundLocalError" not in err


def test_pillow_guard_is_the_budget_for_images_without_a_png_header(tmp_path, capsys):
    """Kills ``_pillow_guard.__enter__``: ``max(1, budget) -> max(2, budget)``: with
    --max-memory 1, a 1 x 2 TIFF named ``.png`` (no PNG header to read first) passes
    Pillow's limit of 1 pixel: its decompression-bomb warning, made an error, names it."""
    from PIL import Image

    folder = tmp_path / "masks"
    folder.mkdir()
    Image.fromarray(np.zeros((1, 2), np.uint8)).save(folder / "a.png", format="TIFF")
    assert main(["encode", str(folder), "-o", str(tmp_path / "out.csv"), "--classes", "organ", "--max-memory", "1"]) == 1
    err = capsys.readouterr().err
    assert "a.png: DecompressionBombWarning: Image size (2 pixels) exceeds limit of 1 pixels" in err and "needs" not in err


def test_load_refuses_data_that_does_not_match_its_header(tmp_path):
    """Kills ``_load``: ``raise ValueError -> pass`` (the data of a file that changed after
    its header was read; no file that stays the same reaches it, so ``_load`` is called
    with the header of another file)."""
    from rlemask.commands.codec import _load, _Probe

    np.save(tmp_path / "a.npy", np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"^has shape \(2, 2\) but its header says \(3, 3\)$"):
        _load(tmp_path / "a.npy", _Probe((3, 3), 1), 1 << 20)


@pytest.mark.parametrize(("shape", "order", "runs", "text"), [
    ((10, 10), "C", 10, " ".join(f"{s} 1" for s in range(1, 20, 2))),
    ((1, 100), "C", 10, " ".join(f"{s} 1" for s in range(1, 20, 2))),
    ((10, 10), "F", 5, "1 2 21 2 41 2 61 2 81 2"),
])
def test_encode_budget_of_the_run_length_text_is_exact(tmp_path, capsys, shape, order, runs, text):
    """Kills ``_text_bytes``: ``3 * runs * (2 * digits + 2)`` with any constant or sign moved,
    and ``_count_runs``: the runs counted in the other order (``order == "C" -> !=``), the
    first run (``prev = 0 -> 1``), the last chunk of one row (``range(0, h - 1, rows)``).
    Ten single pixels (3 digits a number, 100 pixels) are 10 runs in C order, 5 in F order
    (two rows), so 3 * runs * 8 bytes of text on top of the 100 of the mask, at the byte."""
    folder = tmp_path / "masks"
    folder.mkdir()
    mask = np.zeros(shape, np.uint8)
    mask.reshape(-1)[0:20:2] = 1
    np.save(folder / "a.npy", mask)
    out = tmp_path / "out.csv"
    need = 3 * runs * 8 + 100
    argv = ["encode", str(folder), "-o", str(out), "--classes", "organ", "--order", order, "--max-memory"]
    assert main(argv + [str(need)]) == 0
    assert out.read_text().splitlines()[1] == "a,organ," + text
    out.unlink()
    assert main(argv + [str(need - 1)]) == 1
    assert f"a.npy: class 'organ' ({runs} runs) needs {need} B of buffers, more than --max-memory {need - 1} B" in (
        capsys.readouterr().err)
    assert not out.exists()


def test_count_runs_joins_runs_across_its_chunks():
    """Kills ``_count_runs``' chunking of masks over 2**24 pixels: rows of 2**24 + 1 pixels make
    one row a chunk (``max(1, 2**24 // w)``; ``max(0, ...)`` is a step of 0), a run crossing
    from one row to the next is one run (``prev = flat[-1]``, not ``flat[-2]`` / ``flat[0]``)
    and no row of a chunk is dropped (``plane[r : r + rows - 1]``)."""
    from rlemask.commands.codec import _count_runs

    w = (1 << 24) + 1
    mask = np.zeros((3, w), np.uint8)
    mask[0, -1] = 1  # one run: the end of row 0 and the start of row 1
    mask[1, 0] = 1
    mask[2, 5] = 1
    mask[2, -1] = 1
    assert _count_runs(mask, "C") == 3
    mask[1, 0] = 0
    assert _count_runs(mask, "C") == 3


def test_encode_budget_when_every_other_pixel_is_a_run(tmp_path, capsys):
    """Kills ``_encode_file``'s estimate of the runs before counting them, ``min(ones,
    (pixels + 1) // 2)``: an estimate below the true count (``pixels - 1``, ``+ 0``, ``// 3``)
    lets a mask of 5 pixels with 3 runs (1 0 1 0 1) pass a budget its text does not fit:
    3 * 3 * 4 bytes of text and 5 of mask, at the byte."""
    folder = tmp_path / "masks"
    folder.mkdir()
    np.save(folder / "a.npy", np.array([[1, 0, 1, 0, 1]], np.uint8))
    out = tmp_path / "out.csv"
    argv = ["encode", str(folder), "-o", str(out), "--classes", "organ", "--max-memory"]
    assert main(argv + ["41"]) == 0
    assert out.read_text().splitlines()[1] == "a,organ,1 1 3 1 5 1"
    out.unlink()
    assert main(argv + ["40"]) == 1
    assert "a.npy: class 'organ' (3 runs) needs 41 B of buffers, more than --max-memory 40 B" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", [np.complex64, "<U1", "datetime64[s]"])
def test_encode_refuses_arrays_that_are_not_numbers(tmp_path, capsys, dtype):
    """Kills ``_encode_file``: ``raise ValueError("has dtype ...") -> pass`` (a complex array
    was encoded by its non-zero pixels)."""
    folder = tmp_path / "masks"
    folder.mkdir()
    np.save(folder / "a.npy", np.zeros((2, 2), dtype))
    assert main(["encode", str(folder), "-o", str(tmp_path / "out.csv"), "--classes", "organ"]) == 1
    assert f"a.npy: has dtype {np.dtype(dtype)}; expected numbers or bool" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_encode_output_and_empty_folder_usage_errors(tmp_path, capsys, monkeypatch):
    """Kills ``run_encode``: ``if out != "-"`` -> ``==`` (an output that is a folder, or in a
    missing folder, no longer a usage error) and ``not files and not refused`` ->
    ``not files and refused`` (an empty folder, and a folder whose only files are refused)."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "masks"
    folder.mkdir()
    assert main(["encode", "masks", "-o", "out.csv"]) == 2
    assert "no .png, .npz or .npy mask files in 'masks'" in capsys.readouterr().err
    np.save(folder / "a.npy", np.zeros((1, 2), np.uint8))
    (tmp_path / "here").mkdir()
    assert main(["encode", "masks", "-o", "here", "--classes", "organ"]) == 2
    assert "-o 'here' is a folder; expected a CSV file name" in capsys.readouterr().err
    assert main(["encode", "masks", "-o", "nowhere/out.csv", "--classes", "organ"]) == 2
    assert "-o 'nowhere/out.csv': folder 'nowhere' does not exist" in capsys.readouterr().err
    np.savez(folder / "a.npz", mask=np.zeros((1, 2), np.uint8))  # two files of one id: both refused
    assert main(["encode", "masks", "-o", "out.csv", "--classes", "organ"]) == 1
    err = capsys.readouterr().err
    assert "id 'a' has 2 files (a.npy, a.npz); none encoded, keep one of them" in err
    assert "all 2 file(s) failed; nothing encoded, 'out.csv' not written" in err
    assert not (tmp_path / "out.csv").exists()


def test_images_after_one_missing_from_the_images_table_are_written(tmp_path, capsys):
    """Kills ``_decode_csv``: ``continue -> break`` after an id that the --images table lacks."""
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("id,height,width\nb,1,2\n")
    csv = _write_csv(tmp_path / "t.csv", [("a", "stomach", "1 1"), ("b", "stomach", "2 1")])
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--images", str(sizes), "--out", str(out), "--format", "npy", "-q"]) == 1
    assert f"t.csv:2: id='a': no image with this id under --images {str(sizes)!r}" in capsys.readouterr().err
    assert _files(out) == ["b.npy"]
