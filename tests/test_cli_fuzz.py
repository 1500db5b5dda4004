"""Issue 7: a hostile CSV never aborts ``rlemask decode`` nor loses a mask.

Random CSV files (ids with NUL, path separators, leading dots, Unicode, formula
characters, names past the file-system limit; random sizes, classes and
run-length strings) go through ``rlemask decode``. A slow model of the rules
(``_expect``), with the reference decoder of ``tests/reference.py``, says which
rows fail and what every written file holds. Checked: each failed row is named
on stderr by its line, no good row is, every good image's file equals the
reference mask, nothing else is written, and the exit code is 1 exactly when a
row failed. The written folder then encodes back to the same masks.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from tests.reference import RleReferenceError, rle_reference_decode, rle_reference_encode
from tests.strategies import rle_strings

from rlemask.cli import main

CLASSES = ("large_bowel", "small_bowel", "stomach")
NAME_MAX = 255  # ext4, tmpfs, overlayfs, btrfs, xfs

ids = st.one_of(
    st.sampled_from(["case1_day0_slice_0001", "case2_day3_slice_0044", "a", "=SUM(A1)", "+1", "-x", "@y", "é", "日本"]),
    st.text(min_size=0, max_size=6),  # NUL, '/', '\\', '.', control characters, any plane
    st.sampled_from(["../up", "a/b", "a\\b", ".", "..", ".hidden", "x\0y", "\r", " sp "]),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "日"]), st.integers(60, 256)),  # near NAME_MAX bytes
)
sizes = st.one_of(st.integers(0, 6).map(str), st.sampled_from(["-1", "x", "2.5", "", " 3", "07"]))
classes = st.sampled_from([*CLASSES, "liver", " stomach", ""])


@st.composite
def tables(draw):
    pool = draw(st.lists(ids, min_size=1, max_size=4))
    rows = []
    for _ in range(draw(st.integers(0, 9))):
        h, w = draw(sizes), draw(sizes)
        if draw(st.booleans()):
            try:
                n = max(int(h), 0) * max(int(w), 0)
            except ValueError:
                n = 6
            text = rle_reference_encode(np.asarray(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.uint8).reshape(1, -1)) if n else ""
        else:
            text = draw(rle_strings(n_pixels=8))
        rows.append((draw(st.sampled_from(pool)), draw(classes), text, h, w))
    return rows


def _id_ok(image_id: str, suffix: str) -> bool:
    if not image_id or "\0" in image_id or "/" in image_id or "\\" in image_id or image_id.startswith("."):
        return False
    return len((image_id + suffix).encode("utf-8")) <= NAME_MAX


def _serialize(rows) -> tuple[str, list[int]]:
    """The CSV text (all fields quoted) and the line each row starts on (\n, \r and \r\n end a line)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["id", "class", "segmentation", "height", "width"])
    starts, line = [], 2
    for row in rows:
        before = buf.tell()
        writer.writerow(row)
        starts.append(line)
        line += len(io.StringIO(buf.getvalue()[before:], newline="").readlines())
    return buf.getvalue(), starts


def _expect(rows, starts, suffix: str):
    """(failed CSV lines, {id: (H, W, 3) reference mask}) by the rules of docs/cli.md."""
    bad: set[int] = set()
    bad_ids: set[str] = set()
    seen: set[tuple[str, str]] = set()
    size_of: dict[str, tuple[int, int]] = {}
    images: dict[str, list[tuple[int, int, str]]] = {}
    for line, (image_id, name, text, h, w) in zip(starts, rows):
        name = name.strip()

        def fail():
            bad.add(line)
            bad_ids.add(image_id)

        if not _id_ok(image_id, suffix) or name not in CLASSES or (image_id, name) in seen:
            fail()
            continue
        seen.add((image_id, name))
        try:
            size = (int(h), int(w))
        except ValueError:
            fail()
            continue
        if min(size) < 0 or size_of.setdefault(image_id, size) != size:
            fail()
            continue
        images.setdefault(image_id, []).append((line, CLASSES.index(name), text))
    good = {}
    for image_id, items in images.items():
        if image_id in bad_ids:
            continue
        h, w = size_of[image_id]
        if suffix == ".png" and h * w == 0:
            bad.add(items[0][0])
            continue
        stack = np.zeros((h, w, 3), np.uint8)
        ok = True
        for line, k, text in items:
            try:
                stack[:, :, k] = rle_reference_decode(text, (h, w))
            except RleReferenceError:
                bad.add(line)
                ok = False
        if ok:
            good[image_id] = stack
    return bad, good


def _read(path: Path) -> np.ndarray:
    if path.suffix == ".png":
        with Image.open(path) as im:
            return np.asarray(im) // 255
    with np.load(path) as z:
        return z["mask"]


@given(rows=tables(), fmt=st.sampled_from(["png", "npz"]))
def test_random_csv_rows_fail_alone_and_good_rows_are_exact(rows, fmt):
    suffix = "." + fmt
    data, starts = _serialize(rows)
    expected_bad, good = _expect(rows, starts, suffix)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.csv"
        src.write_bytes(data.encode("utf-8"))
        out = Path(tmp) / "out"
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["decode", str(src), "--out", str(out), "--format", fmt, "-q"])
        text = err.getvalue()
        assert "Traceback" not in text
        named = {int(m) for m in re.findall(rf"^rlemask decode: {re.escape(str(src))}:(\d+): ", text, re.M)}
        assert named == expected_bad, text
        assert code == (1 if expected_bad else 0), text
        written = sorted(os.listdir(out)) if out.exists() else []
        assert written == sorted(image_id + suffix for image_id in good)
        for image_id, mask in good.items():
            np.testing.assert_array_equal(_read(out / (image_id + suffix)), mask)

        if good:  # and back: the folder encodes to the reference strings
            back = Path(tmp) / "back.csv"
            with contextlib.redirect_stderr(io.StringIO()):
                assert main(["encode", str(out), "-o", str(back), "-q"]) == 0
            with open(back, newline="", encoding="utf-8") as f:
                got = {(r[0], r[1], r[2]) for r in list(csv.reader(f))[1:]}
            want = {
                (image_id, c, rle_reference_encode(mask[:, :, k])) for image_id, mask in good.items() for k, c in enumerate(CLASSES)
            }
            assert got == want
