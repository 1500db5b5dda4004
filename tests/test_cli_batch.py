"""Issue 7, failures 1-4, 6, 7, 9: a batch never aborts and never loses a mask.

Each test names the failure of the issue it covers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rlemask._io import TEMP_PREFIX, atomic_path, clean_stale_temps, write_atomic
from rlemask.cli import main
from rlemask.errors import InvalidRleError
from rlemask.rle import decode

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _csv(path: Path, rows, header="id,class,segmentation") -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header.split(","))
        w.writerows(rows)
    return path


def _one_line(err: str) -> None:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


# ----------------------------------------------------------------------------------
# 1. one bad id stops the rest
# ----------------------------------------------------------------------------------


def test_bad_ids_fail_their_row_and_the_rest_is_written(tmp_path, capsys):
    out = tmp_path / "masks"
    out.mkdir()
    (out / "taken.png").mkdir()  # a folder already has the target's name
    long_ok = "a" * 250  # 254 bytes with .png: legal, and written (the old temp name added 14)
    too_long = "b" * 252  # 256 bytes with .png: no file system takes it
    rows = [
        ("nul\0id", "stomach", "1 2"),  # line 2
        (long_ok, "stomach", "1 2"),  # line 3
        (too_long, "stomach", "1 2"),  # line 4
        ("taken", "stomach", "1 2"),  # line 5
        ("../escape", "stomach", "1 2"),  # line 6
        (".hidden", "stomach", "1 2"),  # line 7
        ("good", "stomach", "3 2"),  # line 8
    ]
    csv = _csv(tmp_path / "t.csv", rows)
    assert main(["decode", str(csv), "--shape", "2x3", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{csv}:2: id='nul\\x00id': not a usable image id: the id holds a NUL character" in err
    assert f"{csv}:4: id='{too_long}': not a usable image id: the file name 'bbbbbbbbbbbbbbbbbbbbbbbb'....png is 256 bytes, more than the 255" in err
    assert f"{csv}:5: id='taken': not written: Is a directory" in err
    assert f"{csv}:6: id='../escape': not a usable image id: the id holds a path separator" in err
    assert f"{csv}:7: id='.hidden': not a usable image id: the id starts with '.'" in err
    assert "5 row(s) failed; 5 image(s) not written, 2 written" in err
    assert sorted(p.name for p in out.iterdir()) == sorted(["taken.png", f"{long_ok}.png", "good.png"])
    np.testing.assert_array_equal(_png(out / "good.png")[:, :, 2] // 255, decode("3 2", (2, 3)))
    np.testing.assert_array_equal(_png(out / f"{long_ok}.png")[:, :, 2] // 255, decode("1 2", (2, 3)))


def test_a_full_disk_stops_the_run_with_exit_2(tmp_path, capsys, monkeypatch):
    import errno

    import rlemask._io

    calls = []

    def full(src, dst):
        calls.append(dst)
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(rlemask._io.os, "replace", full)
    csv = _csv(tmp_path / "t.csv", [(f"i{k}", "stomach", "1 1") for k in range(5)])
    assert main(["decode", str(csv), "--shape", "2x2", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "stopped" in err and "0 image(s) written" in err
    assert len(calls) == 1  # not one error per remaining row


# ----------------------------------------------------------------------------------
# 2. zero-size masks
# ----------------------------------------------------------------------------------


def test_zero_size_mask_one_string(tmp_path, capsys):
    assert main(["decode", "", "--shape", "0x5", "-o", str(tmp_path / "z.png")]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert "--shape 0x5 is an empty image, which a PNG cannot hold" in err
    assert not (tmp_path / "z.png").exists()
    assert main(["decode", "", "--shape", "0x5", "-o", str(tmp_path / "z.npy")]) == 0
    z = np.load(tmp_path / "z.npy")
    assert z.shape == (0, 5) and z.dtype == np.uint8


def test_zero_size_row_in_a_csv(tmp_path, capsys):
    csv = _csv(
        tmp_path / "t.csv",
        [("empty", "stomach", "", "0", "5"), ("fine", "stomach", "2 1", "2", "2")],
        header="id,class,segmentation,height,width",
    )
    out = tmp_path / "m"
    assert main(["decode", str(csv), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"{csv}:2: id='empty': height=0, width=5 is an empty image, which a PNG cannot hold; use --format npz" in err
    assert [p.name for p in out.iterdir()] == ["fine.png"]
    assert main(["decode", str(csv), "--out", str(out), "--format", "npz"]) == 0
    with np.load(out / "empty.npz") as z:
        assert z["mask"].shape == (0, 5, 3)


# ----------------------------------------------------------------------------------
# 3, 4. encode: names that are not UTF-8, two files with one id
# ----------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS file names are always UTF-8")
def test_encode_file_name_not_utf8_is_one_failed_file(tmp_path, capsys):
    folder = tmp_path / "masks"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"case\xff.npy"), "wb") as f:
        np.save(f, np.ones((2, 2), np.uint8))
    np.save(folder / "good.npy", np.array([[0, 1], [1, 0]], np.uint8))
    out = tmp_path / "o.csv"
    assert main(["encode", str(folder), "-o", str(out), "--classes", "organ"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "file name b'case\\xff.npy' is not valid UTF-8" in err
    assert out.read_text() == "id,class,segmentation\ngood,organ,2 2\n"


def test_encode_two_files_with_one_id_are_both_failures(tmp_path, capsys):
    folder = tmp_path / "masks"
    folder.mkdir()
    np.save(folder / "case1_day0_slice_0001.npy", np.ones((2, 2), np.uint8))
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(folder / "case1_day0_slice_0001.png")
    np.save(folder / "case1_day0_slice_0002.npy", np.ones((2, 2), np.uint8))
    out = tmp_path / "o.csv"
    assert main(["encode", str(folder), "-o", str(out), "--classes", "organ"]) == 1
    err = capsys.readouterr().err
    for name in ("case1_day0_slice_0001.npy", "case1_day0_slice_0001.png"):
        assert f"{folder / name}: id 'case1_day0_slice_0001' has 2 files" in err
    assert "2 file(s) failed; 1 encoded" in err
    assert out.read_text() == "id,class,segmentation\ncase1_day0_slice_0002,organ,1 4\n"


# ----------------------------------------------------------------------------------
# 6. memory budget
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "per_pixel"), [("png", 3 + 4), ("npz", 3), ("npy", 3)])
def test_decode_budget_counts_every_buffer(fmt, per_pixel, tmp_path, capsys):
    csv = _csv(tmp_path / "t.csv", [("a", "stomach", "1 5")])
    need = 100 * 100 * per_pixel
    out = tmp_path / "m"
    args = ["decode", str(csv), "--shape", "100x100", "--out", str(out), "--format", fmt]
    assert main([*args, "--max-memory", str(need - 1)]) == 2
    assert "--shape 100x100 needs" in capsys.readouterr().err
    assert main([*args, "--max-memory", str(need)]) == 0
    assert [p.name for p in out.iterdir()] == [f"a.{fmt}"]


def test_decode_budget_per_row_size(tmp_path, capsys):
    # a 120-byte row asking for 46,340 x 46,340: refused before anything is allocated
    csv = _csv(
        tmp_path / "t.csv",
        [("huge", "stomach", "1 1", "46340", "46340"), ("small", "stomach", "1 1", "2", "2")],
        header="id,class,segmentation,height,width",
    )
    out = tmp_path / "m"
    assert main(["decode", str(csv), "--out", str(out), "--max-memory", "1G"]) == 1
    err = capsys.readouterr().err
    assert f"{csv}:2: id='huge': height=46340, width=46340 with 3 class(es) as png needs 14.0 GiB of buffers" in err
    assert [p.name for p in out.iterdir()] == ["small.png"]


def test_decode_one_string_budget(tmp_path, capsys):
    assert main(["decode", "1 1", "--shape", "1000x1000", "-o", str(tmp_path / "m.png"), "--max-memory", "1M"]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert "--shape 1000x1000 needs 1.9 MiB of buffers, more than --max-memory 1.0 MiB" in err


def _npy_bytes_claiming(shape) -> bytes:
    """A .npy header that claims ``shape`` (uint8), followed by only 16 bytes of data."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buf.getvalue() + bytes(16)


def test_encode_budget_reads_headers_first(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "masks"
    folder.mkdir()
    (folder / "bomb.npy").write_bytes(_npy_bytes_claiming((100000, 100000, 3)))
    with zipfile.ZipFile(folder / "zipbomb.npz", "w") as z:
        z.writestr("mask.npy", _npy_bytes_claiming((100000, 100000, 3)))
    Image.fromarray(np.zeros((2000, 1000), np.uint8)).save(folder / "big.png")
    np.save(folder / "ok.npy", np.ones((2, 2, 3), np.uint8))
    loaded = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: loaded.append(a[0]) or real_load(*a, **k))
    out = tmp_path / "o.csv"
    assert main(["encode", str(folder), "-o", str(out), "--max-memory", "1M"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{folder / 'bomb.npy'}: shape=(100000, 100000, 3) needs 55.9 GiB of buffers, more than --max-memory 1.0 MiB" in err
    assert f"{folder / 'zipbomb.npz'}: shape=(100000, 100000, 3) needs" in err
    assert f"{folder / 'big.png'}: shape=(2000, 1000) needs 5.7 MiB of buffers" in err
    assert [Path(p).name for p in loaded] == ["ok.npy"]  # nothing else was read
    assert pd.read_csv(out)["id"].tolist() == ["ok"] * 3


def test_encode_png_over_budget_meets_our_check_not_pillows_warning(tmp_path, capsys):
    folder = tmp_path / "masks"
    folder.mkdir()
    Image.fromarray(np.zeros((600, 600), np.uint8)).save(folder / "a.png")
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(folder / "b.png")
    limit = Image.MAX_IMAGE_PIXELS
    args = ["encode", str(folder), "-o", str(tmp_path / "o.csv"), "--classes", "organ", "--max-memory", "1M"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{folder / 'a.png'}: shape=(600, 600) needs 1.0 MiB of buffers, more than --max-memory 1.0 MiB" in err
    assert "Warning" not in err and "Traceback" not in err
    assert Image.MAX_IMAGE_PIXELS == limit  # Pillow's global guard is restored


def test_encode_budget_counts_the_run_length_text(tmp_path, capsys):
    folder = tmp_path / "masks"
    folder.mkdir()
    checker = (np.indices((200, 200)).sum(axis=0) % 2).astype(np.uint8)  # 19,900 runs (rows join at their ends)
    np.save(folder / "noise.npy", checker)
    args = ["encode", str(folder), "-o", str(tmp_path / "o.csv"), "--classes", "organ"]
    assert main([*args, "--max-memory", "400K"]) == 1
    assert "class 'organ' (19900 runs) needs" in capsys.readouterr().err
    assert main([*args, "--max-memory", "1M"]) == 0


# ----------------------------------------------------------------------------------
# 7. temporary files
# ----------------------------------------------------------------------------------


def test_temp_files_of_a_killed_run_are_removed_by_the_next_run(tmp_path, capsys):
    out = tmp_path / "masks"
    code = (
        "import sys, time\n"
        "from rlemask._io import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half a mask')\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen([sys.executable, "-c", code, str(out / "x.png")], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline() == b"ready\n"
        left = [p.name for p in out.iterdir()]
        assert len(left) == 1 and left[0].startswith(TEMP_PREFIX)
        # a run still writing holds its lock: its temporary file is kept
        assert clean_stale_temps(out) == 0 and len(list(out.iterdir())) == 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    csv = _csv(tmp_path / "t.csv", [("a", "stomach", "1 1")])
    assert main(["decode", str(csv), "--shape", "2x2", "--out", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["a.png"]


def test_fsync_before_rename(tmp_path, monkeypatch):
    import rlemask._io

    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(rlemask._io.os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(rlemask._io.os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    write_atomic(tmp_path / "f.bin", lambda f: f.write(b"data"))
    assert events == ["fsync", "replace"]
    assert (tmp_path / "f.bin").read_bytes() == b"data"


def test_temp_names_do_not_grow_with_the_target_name(tmp_path):
    name = "c" * 255  # the longest name: the temporary file must still fit
    with atomic_path(tmp_path / name) as tmp:
        assert len(tmp.name) < 40
        tmp.write_text("x")
    assert (tmp_path / name).read_text() == "x"


# ----------------------------------------------------------------------------------
# 9. shapes past int64
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2**63, 1), (1, 2**63), (2**62, 4), (2**40, 2**40), (0, 2**64)])
def test_shape_past_int64_is_invalid_rle_error(shape):
    with pytest.raises(InvalidRleError, match=r"more than an int64 pixel offset holds"):
        decode("", shape)
    with pytest.raises(InvalidRleError, match=r"2\*\*63 - 1"):
        decode("1 1", shape)


def test_shape_at_the_int64_limit_is_accepted():
    assert decode("", (0, 2**63 - 1)).shape == (0, 2**63 - 1)


def _junk_files() -> dict[str, bytes]:
    import io

    png = io.BytesIO()
    Image.fromarray(np.ones((4, 4, 3), np.uint8)).save(png, format="PNG")
    npy = io.BytesIO()
    np.save(npy, np.ones((4, 4, 3), np.uint8))
    obj = io.BytesIO()
    np.save(obj, np.array([[None]], dtype=object), allow_pickle=True)
    nozip = io.BytesIO()
    with zipfile.ZipFile(nozip, "w") as z:
        z.writestr("a.npy", npy.getvalue())
        z.writestr("b.npy", npy.getvalue())
    return {
        "short.png": png.getvalue()[:40],
        "random.png": bytes(range(256)),
        "empty.npy": b"",
        "truncated.npy": npy.getvalue()[:100],
        "objects.npy": obj.getvalue(),
        "text.npz": b"not a zip",
        "two_arrays.npz": nozip.getvalue(),
        "png_as.npy": png.getvalue(),
    }


def test_encode_junk_files_fail_alone(tmp_path, capsys):
    folder = tmp_path / "masks"
    folder.mkdir()
    junk = _junk_files()
    for name, data in junk.items():
        (folder / name).write_bytes(data)
    np.save(folder / "zz_ok.npy", np.ones((2, 2, 3), np.uint8))
    out = tmp_path / "o.csv"
    assert main(["encode", str(folder), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for name in junk:
        assert f"rlemask encode: {folder / name}: " in err, name
    assert f"{len(junk)} file(s) failed; 1 encoded" in err
    assert pd.read_csv(out)["id"].tolist() == ["zz_ok"] * 3
