"""Issue 7, failures 5 and 8, and the safety net of ``main``: the CLI behaves like a Unix tool."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rlemask.cli import build_parser, main
from rlemask.rle import decode

SRC = str(Path(__file__).resolve().parents[1] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
TRUTH = (
    "id,class,segmentation\n"
    "case1_day0_slice_0001,large_bowel,1 2\n"
    "case1_day0_slice_0001,small_bowel,\n"
    "case1_day0_slice_0001,stomach,5 3\n"
)


def _run(args, stdin: bytes = b"", **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rlemask", *args], input=stdin, capture_output=True, env=ENV, timeout=120, **kw
    )


def _one_line(err: str) -> None:
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


# ----------------------------------------------------------------------------------
# 5. score / folds on empty, binary, latin-1 CSV files
# ----------------------------------------------------------------------------------

BAD_FILES = {
    "empty": (b"", "is empty; expected a CSV file with a header line"),
    "blank": (b"\n\n", "is empty"),
    "binary": (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "is a binary file (it holds NUL bytes)"),
    "latin1": ("id,class,segmentation\ncase1_day0_slice_0001,stomach,1 2 \u00e9\n".encode("latin-1"), "is not UTF-8 text: byte 0xe9 on line 2"),
    "header only junk": (b'"unclosed\n', "cannot read"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_score_and_folds_on_bad_files_one_line_exit_2(kind, tmp_path, capsys):
    data, fragment = BAD_FILES[kind]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(data)
    good = tmp_path / "truth.csv"
    good.write_text(TRUTH)
    for argv in (
        ["folds", str(bad)],
        ["score", "--truth", str(good), "--pred", str(bad), "--images", str(tmp_path)],
        ["score", "--truth", str(bad), "--pred", str(good), "--images", str(tmp_path)],
    ):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        _one_line(err)
        assert err.startswith(f"rlemask {argv[0]}: error: ") and fragment in err, err


# ----------------------------------------------------------------------------------
# 8. '-' is stdin / stdout
# ----------------------------------------------------------------------------------


def test_decode_one_string_to_stdout_as_text_npy_png():
    text = _run(["decode", "2 3", "--shape", "2x3", "-o", "-"])
    assert text.returncode == 0 and text.stdout == b"011\n100\n" and text.stderr == b""
    npy = _run(["decode", "2 3", "--shape", "2x3", "-o", "-", "--format", "npy"])
    np.testing.assert_array_equal(np.load(io.BytesIO(npy.stdout)), decode("2 3", (2, 3)))
    png = _run(["decode", "2 3", "--shape", "2x3", "-o", "-", "--format", "png"])
    with Image.open(io.BytesIO(png.stdout)) as im:
        assert np.asarray(im).tolist() == [[0, 255, 255], [255, 0, 0]]


def test_decode_one_string_from_stdin_and_text_file(tmp_path):
    res = _run(["decode", "-", "--shape", "2x3", "-o", "-"], stdin=b"2 3\n")
    assert res.stdout == b"011\n100\n"
    assert main(["decode", "1 1", "--shape", "1x2", "-o", str(tmp_path / "m.txt")]) == 0
    assert (tmp_path / "m.txt").read_text() == "10\n"


def test_binary_formats_are_not_written_to_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["decode", "1 1", "--shape", "1x2", "-o", "-", "--format", "png"]) == 2
    assert "standard output is a terminal" in capsys.readouterr().err


def test_decode_csv_from_stdin(tmp_path):
    out = tmp_path / "m"
    res = _run(["decode", "-", "--shape", "2x4", "--out", str(out), "--format", "npz"], stdin=TRUTH.encode())
    assert res.returncode == 0, res.stderr
    with np.load(out / "case1_day0_slice_0001.npz") as z:
        assert z["mask"][:, :, 2].tolist() == decode("5 3", (2, 4)).tolist()
    assert main(["decode", str(tmp_path / "none.csv"), "--shape", "2x3", "-o", "-"]) == 2


def test_encode_to_stdout_makes_no_file_named_dash(tmp_path, monkeypatch):
    folder = tmp_path / "masks"
    folder.mkdir()
    np.save(folder / "a.npy", np.array([[0, 1], [1, 0]], np.uint8))
    monkeypatch.chdir(tmp_path)
    res = _run(["encode", str(folder), "-o", "-", "--classes", "organ"], cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == b"id,class,segmentation\na,organ,2 2\n"
    assert not (tmp_path / "-").exists()


def test_folds_and_score_read_stdin_and_write_stdout(tmp_path):
    rows = ["id,class,segmentation"]
    for case in range(1, 7):
        for k, c in enumerate(("large_bowel", "small_bowel", "stomach")):
            rows.append(f"case{case}_day0_slice_0001,{c},{'1 2' if (case + k) % 2 else ''}")
    text = "\n".join(rows) + "\n"
    res = _run(["folds", "-", "-k", "2", "-o", "-"], stdin=text.encode())
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(io.BytesIO(res.stdout))
    assert len(table) == 6 and sorted(table["fold"].unique()) == [0, 1]
    assert b"mean std" in res.stderr  # the fold table is not mixed into the CSV

    truth = tmp_path / "truth.csv"
    truth.write_text(TRUTH)
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("id,height,width\ncase1_day0_slice_0001,2,4\n")
    res = _run(
        ["score", "--truth", str(truth), "--pred", "-", "--images", str(sizes), "-o", "-", "--format", "json"],
        stdin=TRUTH.replace("segmentation", "predicted").encode(),
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["score"] == pytest.approx(1.0)


def test_head_closes_the_pipe_quietly():
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlemask", "decode", "1 5", "--shape", "1000x1000", "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert proc.stdout.readline() == b"1" * 5 + b"0" * 995 + b"\n"
    proc.stdout.close()  # like `| head -1`
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141  # 128 + SIGPIPE, what a shell shows for `yes | head -1`
    assert err == b""


# ----------------------------------------------------------------------------------
# 8. -q, --version, help on every command
# ----------------------------------------------------------------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_has_quiet_and_version(capsys):
    from rlemask import __version__

    commands = _subcommands()
    assert {"decode", "encode", "score", "folds"} <= set(commands)
    for name, sub in commands.items():
        strings = {s for a in sub._actions for s in a.option_strings}
        assert {"-q", "--quiet", "--version"} <= strings, name
        if strings & {"-o", "--out", "--output"}:  # one spelling of the output option everywhere
            assert {"-o", "--out"} <= strings, name
        with pytest.raises(SystemExit) as info:
            main([name, "--version"])
        assert info.value.code == 0
        assert capsys.readouterr().out.strip() == f"rlemask {__version__}"


def test_help_shows_each_default_once_and_never_none(capsys):
    for name in _subcommands():
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = re.sub(r"\s+", " ", capsys.readouterr().out)
        assert "(default: None)" not in text, name
        assert not re.search(r"\(default:? [^)]*\) \(default", text), name
        assert not re.search(r"default[^()]{0,60}\(default: ", text), name


def test_quiet_folds_prints_nothing(tmp_path, capsys):
    path = tmp_path / "t.csv"
    rows = ["id,class,segmentation"] + [
        f"case{c}_day0_slice_0001,{name},1 1" for c in range(1, 5) for name in ("large_bowel", "small_bowel", "stomach")
    ]
    path.write_text("\n".join(rows) + "\n")
    assert main(["folds", str(path), "-k", "2", "-q", "-o", str(tmp_path / "f.csv")]) == 0
    assert capsys.readouterr() == ("", "")


# ----------------------------------------------------------------------------------
# 8. formula-like ids
# ----------------------------------------------------------------------------------


def test_formula_like_ids_verbatim_unless_escaped(tmp_path):
    folder = tmp_path / "masks"
    folder.mkdir()
    for name in ("=1+1", "+x", "-y", "@z", "plain"):
        np.save(folder / f"{name}.npy", np.array([[1]], np.uint8))
    out = tmp_path / "o.csv"
    assert main(["encode", str(folder), "-o", str(out), "--classes", "organ"]) == 0
    assert sorted(pd.read_csv(out)["id"]) == sorted(["=1+1", "+x", "-y", "@z", "plain"])
    assert main(["encode", str(folder), "-o", str(out), "--classes", "organ", "--escape-formulas"]) == 0
    assert sorted(pd.read_csv(out)["id"]) == sorted(["'=1+1", "'+x", "'-y", "'@z", "plain"])


# ----------------------------------------------------------------------------------
# the safety net of main
# ----------------------------------------------------------------------------------


def _boom(args):
    raise RuntimeError("kaboom\nsecond line")


def test_unexpected_errors_are_one_line_exit_2(monkeypatch, capsys):
    import rlemask.commands.folds

    monkeypatch.setattr(rlemask.commands.folds, "run", _boom)
    monkeypatch.delenv("RLEMASK_DEBUG", raising=False)
    assert main(["folds", "x.csv"]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert err.startswith("rlemask folds: error: unexpected RuntimeError: kaboom | second line")
    assert "RLEMASK_DEBUG=1" in err
    monkeypatch.setenv("RLEMASK_DEBUG", "1")
    with pytest.raises(RuntimeError, match="kaboom"):
        main(["folds", "x.csv"])


def test_model_commands_are_under_the_safety_net(monkeypatch, capsys):
    models = pytest.importorskip("rlemask_models.commands")
    monkeypatch.setattr(models, "_evaluate", _boom)
    monkeypatch.delenv("RLEMASK_DEBUG", raising=False)
    assert main(["evaluate", "--checkpoint", "c.pt", "--data", "d"]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert err.startswith("rlemask evaluate: error: unexpected RuntimeError: kaboom")


def test_interrupt_exits_130(monkeypatch, capsys):
    import rlemask.commands.folds

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(rlemask.commands.folds, "run", interrupted)
    assert main(["folds", "x.csv"]) == 130
    assert capsys.readouterr().err == "rlemask folds: error: interrupted\n"


def test_a_broken_command_module_is_one_line_too(monkeypatch, capsys):
    import types

    import rlemask.cli

    broken = types.ModuleType("broken_commands")
    broken.register = _boom
    monkeypatch.setitem(sys.modules, "broken_commands", broken)
    monkeypatch.setattr(rlemask.cli, "_COMMAND_MODULES", ("rlemask.commands.codec", "broken_commands"))
    monkeypatch.delenv("RLEMASK_DEBUG", raising=False)
    assert main(["decode", "--help"]) == 2
    err = capsys.readouterr().err
    _one_line(err)
    assert err.startswith("rlemask: error: unexpected RuntimeError: kaboom")


def test_warnings_are_one_line(monkeypatch, capsys):
    import warnings

    import rlemask.commands.folds

    def warns(args):
        warnings.warn("old keyword\nuse the new one", FutureWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(rlemask.commands.folds, "run", warns)
    monkeypatch.delenv("RLEMASK_DEBUG", raising=False)
    assert main(["folds", "x.csv"]) == 0
    err = capsys.readouterr().err
    _one_line(err)
    assert err == "rlemask folds: warning: FutureWarning: old keyword | use the new one\n"


def test_decode_sizes_from_stdin(tmp_path, monkeypatch, capsys):
    truth = tmp_path / "truth.csv"
    truth.write_text(TRUTH)
    out = tmp_path / "m"
    res = _run(
        ["decode", str(truth), "--images", "-", "--out", str(out), "--format", "npy"],
        stdin=b"id,height,width\ncase1_day0_slice_0001,2,4\n",
    )
    assert res.returncode == 0, res.stderr
    assert np.load(out / "case1_day0_slice_0001.npy")[:, :, 2].tolist() == decode("5 3", (2, 4)).tolist()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(TRUTH.encode())))
    assert main(["decode", "-", "--images", "-", "--out", str(out)]) == 2
    assert "INPUT and --images cannot both be standard input" in capsys.readouterr().err
