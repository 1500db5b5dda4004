"""``rlemask describe`` and ``rlemask.eda``: tables, report files, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rlemask import eda
from rlemask.cli import main
from rlemask.errors import LayoutError

CLASSES = ("large_bowel", "small_bowel", "stomach")

# two scans: case1_day0 (5 slices, 266x266), case2_day3 (3 slices, 360x310)
# large bowel on in slices 2, 4, 5 of scan 1 (two runs); stomach on in slice 1 of scan 2
LABELS = {
    ("case1_day0", 1): ("", "", ""),
    ("case1_day0", 2): ("100 10", "", ""),
    ("case1_day0", 3): ("", "500 4", ""),
    ("case1_day0", 4): ("100 20", "", ""),
    ("case1_day0", 5): ("100 30 200 5", "", ""),
    ("case2_day3", 1): ("", "", "1000 50"),
    ("case2_day3", 2): ("", "", ""),
    ("case2_day3", 3): ("", "", ""),
}
SIZE = {"case1_day0": (266, 266), "case2_day3": (310, 360)}


def _write(root: Path, *, images: bool = True, rows: dict | None = None) -> Path:
    lines = ["id,class,segmentation"]
    for (scan, k), rles in (rows or LABELS).items():
        for cls, rle in zip(CLASSES, rles):
            lines.append(f"{scan}_slice_{k:04d},{cls},{rle}")
        if images:
            h, w = SIZE[scan]
            folder = root / "train" / scan.split("_")[0] / scan / "scans"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (np.arange(h * w, dtype=np.uint16).reshape(h, w) % 1000) + 10
            Image.fromarray(pixels).save(folder / f"slice_{k:04d}_{w}_{h}_1.50_1.50.png")
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    return root


def test_tables_count_what_the_labels_hold(tmp_path: Path) -> None:
    t = eda.tables(eda.survey(_write(tmp_path / "d")))
    overview = dict(zip(t["overview"]["what"], t["overview"]["count"]))
    assert overview["images"] == 8 and overview["segmented rows"] == 5 and overview["cases"] == 2
    assert overview["scans (case-days)"] == 2 and overview["images with any organ"] == 5
    classes = t["classes"].set_index("class")
    assert classes.loc["large_bowel", "non_empty"] == pytest.approx(3 / 8)
    assert classes.loc["large_bowel", "share_of_segmented"] == pytest.approx(3 / 5)
    assert classes.loc["large_bowel", "area_q50"] == 20.0
    assert classes.loc["stomach", "area_q50"] == 50.0
    runs = t["runs"].set_index("class")
    assert runs.loc["large_bowel", "mean_runs"] == 2.0 and runs.loc["large_bowel", "scans_with_gaps"] == 1
    assert runs.loc["stomach", "scans_with_organ"] == 1 and runs.loc["stomach", "mean_runs"] == 1.0
    scans = t["scans"].set_index("scan")
    assert scans.loc["case1_day0", "slices"] == 5 and scans.loc["case1_day0", "runs_large_bowel"] == 2
    assert scans.loc["case2_day3", "runs_large_bowel"] == 0  # a run does not leak across scans
    assert t["slices_per_scan"].to_dict("list") == {"slices": [3, 5], "scans": [1, 1]}
    sizes = t["sizes"].set_index(["height", "width"])
    assert sizes.loc[(266, 266), "images"] == 5 and sizes.loc[(310, 360), "images"] == 3
    assert t["bad_scans"].empty


def test_a_run_at_the_end_of_one_scan_and_the_start_of_the_next_counts_twice(tmp_path: Path) -> None:
    rows = {("case1_day0", 1): ("", "", ""), ("case1_day0", 2): ("1 1", "", ""),
            ("case1_day1", 1): ("1 1", "", ""), ("case1_day1", 2): ("", "", "")}
    t = eda.tables(eda.survey(_write(tmp_path / "d", images=False, rows=rows)))
    assert t["scans"]["runs_large_bowel"].tolist() == [1, 1]


def test_known_bad_scans_are_listed(tmp_path: Path) -> None:
    rows = {("case7_day0", 1): ("1 1", "", ""), ("case1_day0", 1): ("", "", "")}
    t = eda.tables(eda.survey(_write(tmp_path / "d", images=False, rows=rows)))
    assert t["bad_scans"]["scan"].tolist() == ["case7_day0"]


def test_command_writes_report_stats_and_figures(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _write(tmp_path / "d")
    assert main(["describe", str(root), "-o", str(tmp_path / "r"), "--samples", "2"]) == 0
    out = tmp_path / "r"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["overview"]["images"] == 8
    assert stats["slices_per_scan"] == {"3": 1, "5": 1}
    assert set(stats["figures"]) == {"classes.png", "areas.png", "strip.png", "samples.png"}
    for name in stats["figures"]:
        with Image.open(out / name) as im:
            assert im.size[0] > 100
    report = (out / "report.md").read_text()
    assert "| large_bowel | 3 | 0.375 |" in report and "![strip.png](strip.png)" in report
    assert "8 images, 5 segmented rows" in capsys.readouterr().out
    assert not list(out.glob("*.tmp"))


def test_csv_alone_gives_tables_without_sizes(tmp_path: Path) -> None:
    root = _write(tmp_path / "d", images=False)
    assert main(["describe", str(root / "train.csv"), "-o", str(tmp_path / "r"), "--no-figures", "-q"]) == 0
    report = (tmp_path / "r" / "report.md").read_text()
    assert "(unknown: no image folder; pass --images)" in report
    assert json.loads((tmp_path / "r" / "stats.json").read_text())["figures"] == "figures not requested"


def test_without_matplotlib_tables_and_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["describe", str(_write(tmp_path / "d")), "-o", str(tmp_path / "r")]) == 0
    assert "pip install matplotlib" in capsys.readouterr().out
    assert not list((tmp_path / "r").glob("*.png"))
    assert "pip install matplotlib" in (tmp_path / "r" / "report.md").read_text()


def test_folder_without_train_csv_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["describe", str(tmp_path / "empty"), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no train.csv" in err and "Traceback" not in err
    assert main(["describe", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_malformed_rle_row_is_named_and_the_rest_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = dict(LABELS)
    rows[("case1_day0", 3)] = ("", "500 x", "")
    root = _write(tmp_path / "d", rows=rows)
    assert main(["describe", str(root), "-o", str(tmp_path / "r"), "--no-figures"]) == 1
    err = capsys.readouterr().err
    assert "bad row case1_day0_slice_0003/small_bowel" in err and "Traceback" not in err
    stats = json.loads((tmp_path / "r" / "stats.json").read_text())
    assert stats["overview"]["images"] == 7 and stats["bad_rows"][0]["where"] == "case1_day0_slice_0003/small_bowel"


def test_missing_image_is_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = _write(tmp_path / "d")
    next((root / "train" / "case2" / "case2_day3" / "scans").glob("slice_0002_*")).unlink()
    assert main(["describe", str(root), "-o", str(tmp_path / "r"), "--no-figures"]) == 1
    assert "bad row case2_day3_slice_0002: no image for this id" in capsys.readouterr().err


def test_bad_id_is_a_whole_input_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "t.csv").write_text("id,class,segmentation\ncase1_dayX_slice_0001,large_bowel,\n")
    assert main(["describe", str(tmp_path / "t.csv"), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rlemask describe: error:") and "case1_dayX_slice_0001" in err
    with pytest.raises(LayoutError, match="no train.csv"):
        eda.survey(tmp_path)


def test_115k_rows_from_the_csv_alone(tmp_path: Path) -> None:
    """The real train.csv's size: 38,496 images x 3 classes (tables only)."""
    rng = np.random.default_rng(0)
    ids = [f"case{c}_day{d}_slice_{k:04d}" for c in range(1, 91) for d in range(3) for k in range(1, 145)][:38496]
    rles = np.where(rng.random(len(ids) * 3) < 0.3, "100 20 400 30", "")
    frame = pd.DataFrame({"id": np.repeat(ids, 3), "class": list(CLASSES) * len(ids), "segmentation": rles})
    frame.to_csv(tmp_path / "train.csv", index=False)
    t = eda.tables(eda.survey(tmp_path / "train.csv"))
    assert int(t["overview"].set_index("what").loc["rows (image x class)", "count"]) == 115488
    assert t["classes"]["non_empty_rows"].sum() == int((rles != "").sum())
    assert t["classes"]["area_q50"].tolist() == [50.0] * 3


@pytest.mark.realdata
def test_real_index_and_predictions(real_data: Path, tmp_path: Path) -> None:
    s = eda.survey(real_data / "predicted_rle_first1000.csv", images=real_data / "image_index.csv")
    t = eda.tables(s)
    assert len(s.labels) == 1000 and not s.bad
    classes = t["classes"].set_index("class")
    assert classes.loc["large_bowel", "non_empty"] == pytest.approx(0.346)
    assert classes.loc["stomach", "non_empty"] == pytest.approx(0.162)
    assert classes.loc["large_bowel", "area_q50"] == pytest.approx(998, abs=1)
    assert sorted(t["scans"]["slices"]) == [136] + [144] * 6  # the first 1,000 ids end inside a scan
    assert set(map(tuple, t["sizes"][["height", "width"]].to_numpy().tolist())) == {(266, 266), (310, 360)}
    stats = eda.write_report(s, tmp_path / "r", figures=False)
    assert stats["overview"]["segmented rows"] == 346 + 302 + 162


@pytest.mark.parametrize("content, fragment", [
    (b"id,class,segmentation\ncase1_day0_slice_0001,large_bowel,\ncase1_day0_slice_0001,stomach,1 2,x,y\n",
     "Expected 3 fields in line 3, saw 5"),
    (b"id,class,segmentation\ncase1_day0_slice_0001,large_bowel,1 2,extra,more\n", "unknown class 'extra'"),
    (b"", "cannot read"),
    (b"\xff\xfe\x00binary", "cannot read"),
])
def test_unreadable_csv_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, content: bytes, fragment: str) -> None:
    (tmp_path / "t.csv").write_bytes(content)
    assert main(["describe", str(tmp_path / "t.csv"), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err
