"""docs/dask.md runs on a dask.distributed LocalCluster and agrees with one process."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rlemask
from rlemask.uwmgi import CLASSES

pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    """benchmarks/dask_recipe.py (the table generator and the doc's code blocks), loaded by path."""
    spec = importlib.util.spec_from_file_location("dask_recipe", ROOT / "benchmarks" / "dask_recipe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_dask_recipe_matches_one_process():
    bench = _benchmark()
    table = bench.synthetic_table()
    namespace = {"table": table}
    blocks = bench.recipe_blocks()
    assert len(blocks) == 4
    for block in blocks:
        exec(compile(block, str(bench.DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    rows = namespace["rows"].sort_index()
    for c in CLASSES:
        np.testing.assert_array_equal(rows[f"{c}_area"].to_numpy(), table[c].map(rlemask.area).to_numpy())
        expected = [rlemask.dice_rle(t, p, (64, 64)) for t, p in zip(table[c], table[f"pred_{c}"])]
        np.testing.assert_array_equal(rows[f"{c}_dice"].to_numpy(), expected)
        cleaned = rlemask.decode_many(table[c], (64, 64))
        cleaned[:, 0, :] = 0
        assert rows[f"{c}_clean"].tolist() == rlemask.encode_many(cleaned)
    truth = table[["id", "height", "width", *CLASSES]]
    pred = table[["id", *(f"pred_{c}" for c in CLASSES)]].rename(columns=lambda k: k.removeprefix("pred_"))
    whole = rlemask.uwmgi_score(truth, pred)
    result = namespace["result"]
    assert len(namespace["reports"]) == 4
    assert math.isclose(result["score"], whole.score, rel_tol=1e-12)
    assert math.isclose(result["dice"], whole.dice, rel_tol=1e-12)
    assert math.isclose(result["hausdorff"], whole.hausdorff, rel_tol=1e-12)
    assert 0.0 < whole.score < 1.0  # a score that a wrong combination would miss
