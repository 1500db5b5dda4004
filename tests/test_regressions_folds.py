"""Fixed regression cases for the fold splitter, from mutation testing (issue 11).

``n_init`` restarts must keep the partition of lowest cost: with the same
inputs, the restarts of ``n_init=k`` are the first ``k`` of ``n_init=k+1``, so
the cost (tests/reference.py's plain twin) can only go down as ``n_init`` grows.
"""

from __future__ import annotations

import numpy as np
import pytest
from tests.reference import folds_cost_plain

from rlemask import MultilabelStratifiedGroupKFold


def _problem(seed):
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(8, 16))
    groups = np.repeat(np.arange(n_groups), rng.integers(1, 30, n_groups))
    y = (rng.random((groups.size, 3)) < rng.uniform(0.05, 0.6, 3)).astype(np.uint8)
    return y, groups


def _cost(y, groups, k, **options):
    folds = MultilabelStratifiedGroupKFold(k, **options).fold_labels(None, y, groups)
    return folds_cost_plain(y, folds, k)


@pytest.mark.parametrize("shuffle", [False, True])
def test_more_restarts_never_cost_more(shuffle):
    """Kills ``_partition``: ``total < best_cost - tol -> total > ...`` (the worst run kept),
    ``or -> and``, and a ``range`` of restarts that drops the last one."""
    improved = 0
    for seed in range(10):
        y, groups = _problem(seed)
        k = 3 + seed % 2
        for max_passes in (0, 1):  # greedy only, or one improvement pass: restarts differ
            options = {"max_passes": max_passes, "shuffle": shuffle}
            if shuffle:
                options["random_state"] = seed
            costs = [_cost(y, groups, k, n_init=n, **options) for n in range(1, 7)]
            assert all(b <= a + 1e-9 for a, b in zip(costs, costs[1:])), (seed, max_passes, costs)
            improved += costs[-1] < costs[0] - 1e-9
    assert improved >= 3  # the restarts matter on these problems: the test can fail


def test_a_restart_that_finds_a_better_partition_is_kept():
    """One fixed problem where only a restart beats the first, largest-first run."""
    for seed in range(40):
        y, groups = _problem(seed)
        one = _cost(y, groups, 3, n_init=1, max_passes=0)
        many = _cost(y, groups, 3, n_init=8, max_passes=0)
        if many < one - 1e-9:
            break
    else:  # pragma: no cover - the search above finds one at seed 0 or 1
        pytest.fail("no problem where restarts help")
    # and it is the best of the runs: not worse than any shorter prefix
    assert many <= min(_cost(y, groups, 3, n_init=n, max_passes=0) for n in range(1, 8)) + 1e-9


@pytest.mark.parametrize("n_init", [0, 1])
def test_n_init_below_two_is_one_run(n_init):
    y, groups = _problem(3)
    a = MultilabelStratifiedGroupKFold(3, n_init=n_init).fold_labels(None, y, groups)
    b = MultilabelStratifiedGroupKFold(3, n_init=1).fold_labels(None, y, groups)
    np.testing.assert_array_equal(a, b)
