"""Fixed regression cases for ``rlemask decode`` on a CSV, from mutation testing (issue 11).

Which files are written, not only the exit code: an image with one good and
one rejected row is not written (the others are), and ids that are paths
(``/``, ``\\``, a leading ``.``) are rejected rows that write nothing anywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rlemask.cli import main


def _write_csv(path: Path, rows) -> Path:
    path.write_text("id,class,segmentation\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("fmt", ["png", "npz"])
@pytest.mark.parametrize("bad_text, fragment", [("5 99", "ends at pixel"), ("1 x", "not an ASCII decimal integer"),
                                                ("3 1 1 1", "starts before run 0")])
def test_an_image_with_one_good_and_one_bad_row_is_not_written(tmp_path, capsys, fmt, bad_text, fragment):
    """Kills ``_decode_csv``: ``ok = False`` dropped / ``if not ok: continue`` inverted,
    and ``if image_id in bad_images: continue`` flipped or dropped (the good rows of an
    image with a row rejected while reading the CSV written)."""
    csv = _write_csv(
        tmp_path / "t.csv",
        [
            ("a_good", "large_bowel", "1 2"),
            ("b_mixed", "large_bowel", "3 2"),  # good row first
            ("b_mixed", "stomach", bad_text),  # then a bad one: b_mixed must not be written
            ("c_good", "stomach", "4 1"),
            ("d_mixed", "small_bowel", bad_text),  # a bad row first
            ("d_mixed", "stomach", "1 1"),
            ("e_mixed", "stomach", "1 1"),
            ("e_mixed", "liver", "1 1"),  # rejected while reading (unknown class), not while decoding
            ("f_mixed", "stomach", "2 1"),
            ("f_mixed", "stomach", "2 1"),  # a second row for a class
        ],
    )
    out = tmp_path / "out"
    code = main(["decode", str(csv), "--shape", "3x3", "--out", str(out), "--format", fmt, "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert _files(out) == [f"a_good.{fmt}", f"c_good.{fmt}"]
    assert fragment in err
    assert "b_mixed" in err and "d_mixed" in err
    assert "t.csv:4" in err and "t.csv:6" in err  # the bad rows' line numbers
    assert "t.csv:9" in err and "t.csv:11" in err and "unknown class 'liver'" in err
    if fmt == "npz":
        with np.load(out / "c_good.npz") as z:
            assert z["mask"][:, :, 2].sum() == 1


@pytest.mark.parametrize(
    "bad_id",
    ["sub/img", "../escape", "/abs", ".hidden", "..", ".", "a\\b", ""],
)
def test_ids_that_are_paths_are_bad_rows(tmp_path, capsys, bad_id):
    """Kills ``_decode_csv``: each clause of the id check (``"/" in``, ``"\\\\" in``,
    ``startswith(".")``, empty) and the ``or`` chain; nothing is written outside --out."""
    csv = _write_csv(tmp_path / "t.csv", [(bad_id, "stomach", "1 1"), ("ok", "stomach", "2 1")])
    out = tmp_path / "work" / "out"
    out.parent.mkdir()
    before = _files(tmp_path)
    code = main(["decode", str(csv), "--shape", "2x2", "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 1
    assert "not a usable image id" in err
    assert _files(out) == ["ok.png"]
    assert _files(tmp_path) == sorted(before + ["work/out/ok.png"])


def test_ids_with_dots_inside_are_fine(tmp_path):
    csv = _write_csv(tmp_path / "t.csv", [("case1.v2", "stomach", "1 1"), ("a..b", "stomach", "")])
    out = tmp_path / "out"
    assert main(["decode", str(csv), "--shape", "2x2", "--out", str(out), "-q"]) == 0
    assert _files(out) == ["a..b.png", "case1.v2.png"]
