"""Fixed regression case for the row order of ``rlemask encode``, from mutation testing (issue 11).

UWMGI ids (``caseN_dayM_slice_K``) come first, in case/day/slice number order;
every other name comes after them, alphabetically.
"""

from __future__ import annotations

import numpy as np

from rlemask.cli import main


def test_encode_puts_uwmgi_ids_before_other_names(tmp_path):
    """Kills ``commands/codec::_sort_key::return (a, b, ...) -> (b, a, ...)#1``."""
    folder = tmp_path / "masks"
    folder.mkdir()
    mask = np.zeros((2, 2), np.uint8)
    for name in ("a", "case10_day2_slice_0003", "case2_day20_slice_0001", "b"):
        np.save(folder / f"{name}.npy", mask)
    out = tmp_path / "out.csv"
    assert main(["encode", str(folder), "-o", str(out), "--classes", "organ", "-q"]) == 0
    ids = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
    assert ids == ["case2_day20_slice_0001", "case10_day2_slice_0003", "a", "b"]
