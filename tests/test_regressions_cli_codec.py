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
