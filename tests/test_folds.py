"""rlemask.folds: multilabel-stratified group folds, checked like scikit-learn checks its splitters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
import sklearn
from sklearn.model_selection import StratifiedGroupKFold, cross_val_score, cross_validate

from rlemask.errors import FoldError
from rlemask.folds import (
    MultilabelStratifiedGroupKFold,
    assign_folds,
    check_folds,
    positive_matrix,
    summarize_folds,
)
from rlemask.uwmgi import CLASSES, from_paths
from tests.reference import folds_class_std, folds_synthetic_index, folds_synthetic_labels


def _fold_array(cv, X, y, groups):
    fold = np.full(len(groups), -1)
    for k, (_, test) in enumerate(cv.split(X, y, groups)):
        fold[test] = k
    return fold


def _partition(fold, groups):
    """The partition of groups as a set of frozensets (fold numbering ignored)."""
    return frozenset(frozenset(set(np.asarray(groups)[fold == k].tolist())) for k in np.unique(fold))


@pytest.fixture(scope="module")
def uwmgi_like():
    """85 cases, ~38k images in 1-5 scans per case, labels with per-case structure."""
    index = folds_synthetic_index(85, seed=0)
    labels = folds_synthetic_labels(index, seed=0)
    return index, labels, index["case"].to_numpy()


@pytest.fixture(scope="module")
def real_structure(real_data):
    index = from_paths(pd.read_csv(real_data / "image_index.csv")["path"])
    return index, folds_synthetic_labels(index, seed=0), index["case"].to_numpy()


# ---------------------------------------------------------------------------
# scikit-learn's splitter checks
# ---------------------------------------------------------------------------


def _check_valid_split(cv, X, y, groups, n_splits):
    n = len(groups)
    seen = np.zeros(n, int)
    splits = list(cv.split(X, y, groups))
    assert len(splits) == n_splits == cv.get_n_splits(X, y, groups)
    for train, test in splits:
        assert len(test) > 0 and len(train) > 0
        assert np.intersect1d(train, test).size == 0  # disjoint
        np.testing.assert_array_equal(np.union1d(train, test), np.arange(n))  # covering
        assert set(groups[train].tolist()).isdisjoint(groups[test].tolist())  # no group on both sides
        assert (np.diff(train) > 0).all() and (np.diff(test) > 0).all()
        seen[test] += 1
    assert (seen == 1).all()  # every sample in exactly one test fold
    return splits


@pytest.mark.parametrize("shuffle, seed", [(False, None), (True, 0), (True, 7)])
@pytest.mark.parametrize("n_splits", [2, 3, 5])
def test_valid_splits(uwmgi_like, n_splits, shuffle, seed):
    _, y, groups = uwmgi_like
    cv = MultilabelStratifiedGroupKFold(n_splits, shuffle=shuffle, random_state=seed)
    _check_valid_split(cv, None, y, groups, n_splits)


def test_valid_splits_small_and_odd_inputs():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 12, size=60).astype(str)  # string group labels
    y = (rng.random((60, 4)) < 0.2).astype(bool)
    y[:, 3] = 0  # a class with no positive at all
    cv = MultilabelStratifiedGroupKFold(4, shuffle=True, random_state=3)
    _check_valid_split(cv, np.zeros((60, 2)), y, groups, 4)
    # as many folds as groups: one group per fold
    cv = MultilabelStratifiedGroupKFold(len(set(groups)))
    splits = _check_valid_split(cv, None, y, groups, len(set(groups)))
    assert all(len(set(groups[test])) == 1 for _, test in splits)


def test_label_permutation_invariance(uwmgi_like):
    """Reordering the classes or renaming the groups gives the same split (sklearn checks the same)."""
    _, y, groups = uwmgi_like
    for shuffle, seed in ((False, None), (True, 5)):
        cv = MultilabelStratifiedGroupKFold(5, shuffle=shuffle, random_state=seed)
        base = _fold_array(cv, None, y, groups)
        for perm in ([2, 0, 1], [1, 2, 0], [2, 1, 0]):
            np.testing.assert_array_equal(_fold_array(cv, None, y[:, perm], groups), base)
        renamed = np.array([f"patient-{g * 7 + 3}" for g in groups])
        np.testing.assert_array_equal(_fold_array(cv, None, y, renamed), base)
        np.testing.assert_array_equal(_fold_array(cv, None, y.astype(bool), groups), base)


def test_deterministic_without_shuffle_and_for_a_fixed_seed(uwmgi_like):
    _, y, groups = uwmgi_like
    a = _fold_array(MultilabelStratifiedGroupKFold(5), None, y, groups)
    b = _fold_array(MultilabelStratifiedGroupKFold(5), None, y, groups)
    np.testing.assert_array_equal(a, b)
    c = _fold_array(MultilabelStratifiedGroupKFold(5, shuffle=True, random_state=11), None, y, groups)
    d = _fold_array(MultilabelStratifiedGroupKFold(5, shuffle=True, random_state=11), None, y, groups)
    np.testing.assert_array_equal(c, d)


def test_fold_labels_match_split(uwmgi_like):
    _, y, groups = uwmgi_like
    cv = MultilabelStratifiedGroupKFold(4, shuffle=True, random_state=2)
    np.testing.assert_array_equal(cv.fold_labels(None, y, groups), _fold_array(cv, None, y, groups))


def test_works_inside_scikit_learn(uwmgi_like):
    _, y, groups = uwmgi_like
    cv = MultilabelStratifiedGroupKFold(3, shuffle=True, random_state=0)
    assert " ".join(repr(cv).split()) == (
        "MultilabelStratifiedGroupKFold(max_passes=50, n_init=4, n_splits=3, random_state=0, shuffle=True)"
    )
    X = np.zeros((len(groups), 1))
    scores = cross_val_score(DummyClassifier(strategy="most_frequent"), X, y, groups=groups, cv=cv)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert cv.get_metadata_routing().consumes("split", ["groups"]) == {"groups"}
    with sklearn.config_context(enable_metadata_routing=True):  # groups routed as metadata
        routed = cross_validate(DummyClassifier(strategy="most_frequent"), X, y, cv=cv, params={"groups": groups})
    np.testing.assert_allclose(routed["test_score"], scores)


def test_one_dimensional_targets():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(20), 5)
    binary = (rng.random(100) < 0.3).astype(int)
    cv = MultilabelStratifiedGroupKFold(4)
    np.testing.assert_array_equal(
        _fold_array(cv, None, binary, groups), _fold_array(cv, None, binary[:, None], groups)
    )
    multiclass = rng.integers(0, 3, 100)
    onehot = np.eye(3, dtype=int)[multiclass]
    expected = _fold_array(cv, None, onehot, groups)
    np.testing.assert_array_equal(_fold_array(cv, None, multiclass, groups), expected)
    # an (n, 1) column of class labels is read like the 1-D labels (scikit-learn does the same)
    np.testing.assert_array_equal(_fold_array(cv, None, multiclass[:, None], groups), expected)
    names = np.array(["liver", "kidney", "spleen"])[multiclass]
    np.testing.assert_array_equal(_fold_array(cv, None, names[:, None], groups), expected)  # class names too


def test_errors():
    y = np.zeros((6, 2))
    groups = np.array([0, 0, 1, 1, 2, 2])
    cv = MultilabelStratifiedGroupKFold(3)
    with pytest.raises(FoldError, match="y is required"):
        list(cv.split(y, None, groups))
    with pytest.raises(FoldError, match="groups is required"):
        list(cv.split(y, y))
    with pytest.raises(FoldError, match="y has 5 samples but groups has 6"):
        list(cv.split(None, y[:5], groups))
    with pytest.raises(FoldError, match="X has 4 samples but groups has 6"):
        list(cv.split(np.zeros(4), y, groups))
    bad = y.copy()
    bad[4, 1] = 2
    with pytest.raises(FoldError, match=r"y must hold 0/1 values: found 2.0 at sample 4, label 1"):
        list(cv.split(None, bad, groups))
    with pytest.raises(FoldError, match=r"Cannot have number of splits n_splits=4 greater than the number of groups: 3"):
        list(MultilabelStratifiedGroupKFold(4).split(None, y, groups))
    with pytest.raises(FoldError, match="groups has a missing value at sample 2"):
        list(cv.split(None, y, np.array([0, 0, None, 1, 2, 2], dtype=object)))
    with pytest.raises(FoldError, match="at least 2 folds"):
        MultilabelStratifiedGroupKFold(1)
    with pytest.raises(FoldError, match="n_splits must be an integer, found float"):
        MultilabelStratifiedGroupKFold(2.5)
    with pytest.raises(FoldError, match="random_state=3 has no effect since shuffle is False"):
        MultilabelStratifiedGroupKFold(3, random_state=3)
    for shuffle in (None, 1, "yes", 0.0):  # as scikit-learn: a TypeError, not a ValueError
        with pytest.raises(TypeError, match=r"shuffle must be True or False, found shuffle="):
            MultilabelStratifiedGroupKFold(3, shuffle=shuffle)
    with pytest.raises(FoldError, match="n_init must be a non-negative integer, found n_init=-1"):
        MultilabelStratifiedGroupKFold(3, n_init=-1)
    with pytest.raises(FoldError, match="max_passes must be a non-negative integer, found max_passes=1.5"):
        MultilabelStratifiedGroupKFold(3, max_passes=1.5)
    with pytest.raises(FoldError, match=r"y must hold class labels or 0/1 values: found 0.5 at sample 1"):
        list(cv.split(None, np.array([0, 0.5, 1, 1, 0, 0]), groups))
    with pytest.raises(FoldError, match=r"y has 5 samples but groups has 6"):
        list(cv.split(None, np.zeros((5, 1)), groups))
    with pytest.raises(ValueError):  # the whole family is ValueError
        MultilabelStratifiedGroupKFold(0)


# ---------------------------------------------------------------------------
# stratification quality against StratifiedGroupKFold
# ---------------------------------------------------------------------------


def _sklearn_folds(y, groups, shuffle, seed):
    """scikit-learn's StratifiedGroupKFold fed the two usual single-label targets."""
    out = {}
    targets = {"n_classes": y.sum(axis=1), "combination": y @ (1 << np.arange(y.shape[1]))}
    for name, target in targets.items():
        cv = StratifiedGroupKFold(5, shuffle=shuffle, random_state=seed)
        out[name] = _fold_array(cv, np.zeros(len(groups)), target, groups)
    return out


def _assert_beats_sklearn(y, groups):
    results = []
    for shuffle, seeds in ((False, [None]), (True, [0, 1, 2])):
        for seed in seeds:
            ours = _fold_array(MultilabelStratifiedGroupKFold(5, shuffle=shuffle, random_state=seed), None, y, groups)
            ours_std = folds_class_std(y, ours)
            theirs = {k: folds_class_std(y, f) for k, f in _sklearn_folds(y, groups, shuffle, seed).items()}
            # at least 3x more even than either single-label recipe (measured: 10-20x)
            assert ours_std < min(theirs.values()) / 3, (shuffle, seed, ours_std, theirs)
            sizes = np.bincount(ours)
            assert sizes.max() / sizes.min() < 1.05, sizes  # folds of near-equal size too
            results.append((seed, ours, ours_std))
    # shuffle=True: every seed its own partition, all equally balanced
    partitions = {_partition(f, groups) for seed, f, _ in results if seed is not None}
    assert len(partitions) == 3
    shuffled = [s for seed, _, s in results if seed is not None]
    assert max(shuffled) < 3 * min(shuffled)
    return results


def test_beats_stratified_group_kfold(uwmgi_like):
    _, y, groups = uwmgi_like
    _assert_beats_sklearn(y, groups)


@pytest.mark.realdata
def test_beats_stratified_group_kfold_on_the_real_case_structure(real_structure):
    _, y, groups = real_structure
    assert len(groups) == 38496 and len(set(groups)) == 85
    _assert_beats_sklearn(y, groups)


def test_every_class_balanced_not_just_the_mean(uwmgi_like):
    _, y, groups = uwmgi_like
    fold = _fold_array(MultilabelStratifiedGroupKFold(5, shuffle=True, random_state=0), None, y, groups)
    overall = y.mean(axis=0)
    for k in range(5):
        frac = y[fold == k].mean(axis=0)
        np.testing.assert_allclose(frac, overall, atol=0.01)  # each class within 1 point of its rate


def test_many_seeds_many_partitions(uwmgi_like):
    _, y, groups = uwmgi_like
    parts = {
        _partition(_fold_array(MultilabelStratifiedGroupKFold(5, shuffle=True, random_state=s), None, y, groups), groups)
        for s in range(8)
    }
    assert len(parts) == 8


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------


def _label_table(index, y):
    table = index.copy()
    for j, c in enumerate(CLASSES):
        table[c] = np.where(y[:, j] == 1, "1 3", "")
    return table


def test_positive_matrix():
    t = pd.DataFrame({"large_bowel": ["1 1", "", None, "  "], "small_bowel": [np.nan, "2 2", "3 3", pd.NA],
                      "stomach": pd.Series(["", "", "", "9 9"], dtype="string")})
    assert positive_matrix(t).tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]]
    with pytest.raises(FoldError, match=r"no column\(s\) \['stomach'\]"):
        positive_matrix(t.drop(columns="stomach"))


def test_assign_folds(uwmgi_like):
    index, y, groups = uwmgi_like
    table = _label_table(index, y)
    before = table.copy()
    out = assign_folds(table, 5)
    pd.testing.assert_frame_equal(table, before)  # the input is untouched
    assert out.columns.tolist() == [*table.columns, "fold"]
    assert out["fold"].dtype == np.int64 and sorted(out["fold"].unique().tolist()) == [0, 1, 2, 3, 4]
    check_folds(out)
    cv = MultilabelStratifiedGroupKFold(5, shuffle=True, random_state=42)
    np.testing.assert_array_equal(out["fold"].to_numpy(), cv.fold_labels(None, y, groups))
    # same result from the ids alone (no case column)
    np.testing.assert_array_equal(assign_folds(table.drop(columns="case"))["fold"], out["fold"])
    # no shuffle: random_state is ignored
    np.testing.assert_array_equal(
        assign_folds(table, 5, shuffle=False, random_state=9)["fold"],
        MultilabelStratifiedGroupKFold(5).fold_labels(None, y, groups),
    )
    assert not assign_folds(table, 5, random_state=1)["fold"].equals(out["fold"])
    with pytest.raises(FoldError, match="no group column 'patient'"):
        assign_folds(table, group="patient")


def test_check_folds():
    good = pd.DataFrame({"case": [1, 1, 2, 3], "fold": [0, 0, 1, 0]})
    check_folds(good)
    bad = pd.DataFrame({"case": [1, 1, 2, 2, 2, 3], "fold": [0, 1, 1, 1, 3, 2]})
    with pytest.raises(FoldError, match=r"2 group\(s\) of 'case' sit in more than one 'fold': case=1 in folds \[0, 1\]; case=2 in folds \[1, 3\]"):
        check_folds(bad)
    many = pd.DataFrame({"case": np.repeat(np.arange(8), 2), "fold": np.tile([0, 1], 8)})
    with pytest.raises(FoldError, match=r"8 group\(s\).*case=4 in folds \[0, 1\] \.\.\. \(8 in all\)"):
        check_folds(many)
    with pytest.raises(FoldError, match="no fold column 'split'"):
        check_folds(good, fold="split")
    with pytest.raises(FoldError, match=r"1 row\(s\) have no 'fold'"):
        check_folds(good.assign(fold=[0, 0, np.nan, 1]))
    ids = pd.DataFrame({"id": ["case1_day0_slice_0001", "case1_day2_slice_0001"], "fold": [0, 2]})
    with pytest.raises(FoldError, match=r"case=1 in folds \[0, 2\]"):
        check_folds(ids)  # the case comes from the id
    check_folds(pd.DataFrame({"patient": ["a", "b"], "k": [0, 0]}), group="patient", fold="k")


def test_summarize_folds(uwmgi_like):
    index, y, _ = uwmgi_like
    out = assign_folds(_label_table(index, y), 3)
    summary = summarize_folds(out)
    assert summary.columns.tolist() == ["images", "groups", *CLASSES]
    for k in range(3):
        rows = out["fold"].to_numpy() == k
        assert summary.loc[k, "images"] == rows.sum()
        assert summary.loc[k, "groups"] == out.loc[rows, "case"].nunique()
        np.testing.assert_allclose(summary.loc[k, list(CLASSES)].to_numpy(float), y[rows].mean(axis=0))


# ---------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------


def _write_train_csv(path, index, y):
    rows = [(i, c, "1 3" if y[r, j] else "") for r, i in enumerate(index["id"]) for j, c in enumerate(CLASSES)]
    pd.DataFrame(rows, columns=["id", "class", "segmentation"]).to_csv(path, index=False)


@pytest.fixture
def small_train_csv(tmp_path):
    index = folds_synthetic_index(12, seed=3)
    y = folds_synthetic_labels(index, seed=3)
    path = tmp_path / "train.csv"
    _write_train_csv(path, index, y)
    return path, index, y


def test_cli_folds(small_train_csv, tmp_path, capsys):
    from rlemask.cli import main

    path, index, y = small_train_csv
    out = tmp_path / "sub" / "folds.csv"
    assert main(["folds", str(path), "-k", "3", "-o", str(out), "--seed", "4"]) == 0
    printed = capsys.readouterr().out
    assert "fold  images  cases  large_bowel  small_bowel  stomach" in printed
    assert "mean std of the positive fraction across folds" in printed
    written = pd.read_csv(out, keep_default_na=False)
    assert len(written) == len(index) and "fold" in written.columns
    assert sorted(written["fold"].unique().tolist()) == [0, 1, 2]
    check_folds(written)
    expected = MultilabelStratifiedGroupKFold(3, shuffle=True, random_state=4).fold_labels(
        None, y, index["case"].to_numpy()
    )
    order = pd.Series(np.arange(len(index)), index=index["id"]).loc[written["id"]].to_numpy()
    np.testing.assert_array_equal(written["fold"].to_numpy(), expected[order])
    assert [p.name for p in out.parent.iterdir()] == ["folds.csv"]  # no temp file left
    summary = summarize_folds(written)
    for k in range(3):
        line = next(l for l in printed.splitlines() if l.split()[0] == str(k))
        assert line.split()[1] == str(int(summary.loc[k, "images"]))


def test_cli_folds_errors(small_train_csv, tmp_path, capsys):
    from rlemask.cli import main

    path, _, _ = small_train_csv
    assert main(["folds", str(tmp_path / "nope.csv")]) == 2
    assert "labels file" in capsys.readouterr().err
    assert main(["folds", str(path), "--no-shuffle", "--seed", "1"]) == 2
    assert "--seed has no effect with --no-shuffle" in capsys.readouterr().err
    assert main(["folds", str(path), "-k", "40"]) == 2
    assert "n_splits=40 greater than the number of groups: 12" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["folds", str(path), "-k", "1"])
    assert main(["folds", str(path), "-k", "2", "--no-shuffle"]) == 0


def test_cli_folds_exclude_bad(tmp_path, capsys):
    from rlemask.cli import main

    index = pd.DataFrame(
        [(c, d, s) for c, d in [(7, 0), (7, 1), (81, 30), (2, 0), (3, 0), (4, 4)] for s in range(1, 4)],
        columns=["case", "day", "slice"],
    )
    index.insert(0, "id", [f"case{c}_day{d}_slice_{s:04d}" for c, d, s in index.itertuples(index=False)])
    y = np.zeros((len(index), 3), np.uint8)
    y[::2, 0] = 1
    path, out = tmp_path / "train.csv", tmp_path / "folds.csv"
    _write_train_csv(path, index, y)
    assert main(["folds", str(path), "-k", "2", "-o", str(out), "--exclude-bad"]) == 0
    written = pd.read_csv(out)
    assert len(written) == len(index) - 6
    assert not written["id"].str.match(r"case7_day0_|case81_day30_").any()
    assert written["id"].str.startswith("case7_day1_").sum() == 3
    total = next(line.split() for line in capsys.readouterr().out.splitlines() if line.split()[:1] == ["all"])
    assert total[:3] == ["all", "12", "4"]


def test_close_to_the_brute_force_optimum_on_small_problems():
    """7 groups into 2 or 3 folds: compare with every partition (the cost in tests/reference.py)."""
    import itertools

    from tests.reference import folds_cost_plain

    ratios = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n_groups, k = 7, 2 + seed % 2
        groups = np.repeat(np.arange(n_groups), rng.integers(3, 25, n_groups))
        y = (rng.random((len(groups), 3)) < rng.uniform(0.05, 0.6, 3)).astype(int)
        largest = np.bincount(groups).max()
        feasible = []  # every fold non-empty, sizes at most the largest group apart
        for a in itertools.product(range(k), repeat=n_groups - 1):
            fold = np.array((0, *a))[groups]
            sizes = np.bincount(fold, minlength=k)
            if sizes.min() > 0 and sizes.max() - sizes.min() <= largest:
                feasible.append(folds_cost_plain(y, fold, k))
        ours_fold = MultilabelStratifiedGroupKFold(k).fold_labels(None, y, groups)
        sizes = np.bincount(ours_fold, minlength=k)
        assert sizes.max() - sizes.min() <= largest
        ratios.append(folds_cost_plain(y, ours_fold, k) / min(feasible))
    ratios = np.array(ratios)
    assert (ratios >= 1 - 1e-9).all()  # the brute force really is the minimum of the same cost
    assert np.mean(ratios < 1 + 1e-9) >= 0.75, ratios  # mostly the optimum itself
    assert ratios.max() < 1.5, ratios


# ---------------------------------------------------------------------------
# restarts, fold sizes, scale
# ---------------------------------------------------------------------------


def _cost(y, fold, k):
    from tests.reference import folds_cost_plain

    return folds_cost_plain(y, fold, k)


def test_restarts_keep_the_best_partition(monkeypatch):
    """n_init runs: the partition returned is the one of lowest cost among all runs."""
    import rlemask.folds as folds_module

    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(30), rng.integers(2, 30, 30))
    y = (rng.random((len(groups), 3)) < [0.1, 0.3, 0.5]).astype(int)
    seen = []
    real = folds_module._improve

    def spy(X, sq, sizes, folds, D, n, *args):
        real(X, sq, sizes, folds, D, n, *args)
        for f in folds:  # every run's final partition
            seen.append(_cost(y, f[pd.factorize(groups)[0]], 4))

    monkeypatch.setattr(folds_module, "_improve", spy)
    for seed in range(6):
        seen.clear()
        cv = MultilabelStratifiedGroupKFold(4, shuffle=True, random_state=seed, n_init=5)
        chosen = _cost(y, cv.fold_labels(None, y, groups), 4)
        assert len(seen) == 5
        assert chosen == pytest.approx(min(seen), rel=1e-12), (chosen, seen)
    assert len({round(c, 9) for c in seen}) > 1  # the runs differ, so choosing matters


@pytest.mark.parametrize("seed", range(4))
def test_more_restarts_never_cost_more(seed):
    """The first run does not depend on n_init, so more restarts can only lower the cost."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 40, 400)
    y = (rng.random((400, 4)) < rng.uniform(0.05, 0.5, 4)).astype(int)
    for shuffle, state in ((False, None), (True, seed)):
        costs = [
            _cost(y, MultilabelStratifiedGroupKFold(5, shuffle=shuffle, random_state=state, n_init=r)
                  .fold_labels(None, y, groups), 5)
            for r in (1, 2, 4, 8)
        ]
        assert all(b <= a + 1e-9 for a, b in zip(costs, costs[1:])), costs


def _fold_sizes_ok(fold, groups, k):
    sizes = np.bincount(fold, minlength=k)
    return sizes.min() > 0 and sizes.max() - sizes.min() <= np.bincount(pd.factorize(groups)[0]).max()


def test_fold_sizes_within_the_largest_group():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(deadline=None)
    @given(
        st.integers(0, 2**32 - 1),
        st.integers(2, 9),
        st.integers(1, 5),
        st.booleans(),
    )
    def check(seed, k, max_size, shuffle):
        rng = np.random.default_rng(seed)
        n_groups = int(rng.integers(k, 40))
        groups = np.repeat(rng.permutation(n_groups), rng.integers(1, max_size + 1, n_groups))
        y = (rng.random((groups.size, 3)) < rng.uniform(0, 1, 3)).astype(int)
        cv = MultilabelStratifiedGroupKFold(k, shuffle=shuffle, random_state=seed if shuffle else None)
        fold = cv.fold_labels(None, y, groups)
        assert _fold_sizes_ok(fold, groups, k), np.bincount(fold)
        if max_size == 1:  # one sample per group: sizes at most 1 apart
            assert np.ptp(np.bincount(fold, minlength=k)) <= 1

    check()


@pytest.mark.parametrize("n_splits", [2, 5, 7, 10])
def test_singleton_groups_sizes_at_most_one_apart(n_splits):
    """With one sample per group the folds are as equal as KFold's (the old code was up to 5 apart)."""
    rng = np.random.default_rng(n_splits)
    for n in (n_splits, 97, 1990, 2010):
        y = (rng.random((n, 6)) < [0.01, 0.05, 0.1, 0.3, 0.5, 0.9]).astype(int)
        fold = MultilabelStratifiedGroupKFold(n_splits).fold_labels(None, y, np.arange(n))
        assert np.ptp(np.bincount(fold, minlength=n_splits)) <= 1


def test_balance_at_least_iterative_stratification():
    """One sample per group: every label balanced at least as well as MultilabelStratifiedKFold."""
    iterstrat = pytest.importorskip("iterstrat.ml_stratifiers")
    for seed in range(3):
        rng = np.random.default_rng(seed)
        n, labels = 1000, 20
        rates = np.exp(rng.uniform(np.log(0.01), np.log(0.5), labels))
        y = (rng.random((n, labels)) < rates).astype(int)
        ours = MultilabelStratifiedGroupKFold(5, shuffle=True, random_state=seed).fold_labels(None, y, np.arange(n))
        theirs = np.zeros(n, int)
        for k, (_, test) in enumerate(iterstrat.MultilabelStratifiedKFold(5, shuffle=True, random_state=seed).split(y, y)):
            theirs[test] = k
        assert folds_class_std(y, ours) <= folds_class_std(y, theirs), seed
        assert np.ptp(np.bincount(ours)) <= 1


def test_many_small_groups_and_many_labels():
    """Past the old 2,000-group local-search limit: still balanced, groups intact, sizes tight."""
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3000, 12000)
    y = (rng.random((12000, 12)) < np.linspace(0.02, 0.5, 12)).astype(int)
    cv = MultilabelStratifiedGroupKFold(5)
    _check_valid_split(cv, None, y, groups, 5)
    fold = cv.fold_labels(None, y, groups)
    assert _fold_sizes_ok(fold, groups, 5)
    fractions = np.array([y[fold == k].mean(axis=0) for k in range(5)])
    np.testing.assert_allclose(fractions, np.broadcast_to(y.mean(axis=0), fractions.shape), atol=0.003)


# ---------------------------------------------------------------------------
# scikit-learn's StratifiedGroupKFold tests, ported
# (sklearn/model_selection/tests/test_split.py, scikit-learn 1.9)
#
# Ported: test_cross_validator_with_default_params, test_2d_y,
# test_kfold_valueerrors, test_stratified_kfold_ratios,
# test_stratified_kfold_label_invariance, test_stratifiedkfold_balance,
# test_shuffle_kfold_stratifiedkfold_reproducibility,
# test_shuffle_stratifiedkfold (written for StratifiedKFold; its check holds here),
# test_stratified_group_kfold_trivial, test_stratified_group_kfold_approximate
# (stricter: scikit-learn asserts its own imperfect folds, we assert the
# perfect ones that exist), test_stratified_group_kfold_homogeneous_groups,
# test_stratified_group_kfold_shuffle_preserves_stratification,
# test_stratified_group_kfold_against_group_kfold, test_group_kfold,
# test_nested_cv, test_random_state_shuffle_false, test_yields_constant_splits,
# test_splitter_get_metadata_routing, test_splitter_set_split_request.
#
# Not applicable: the repr string (ours has n_init and max_passes); test_2d_y's
# "multilabel y raises" (multilabel y is what this splitter is for);
# test_stratified_kfold_no_shuffle and test_kfold_can_detect_dependent_samples_on_digits
# (StratifiedKFold's order-preserving index layout, not a group splitter);
# test_no_group_splitters_warns_with_groups and test_stratified_splitter_without_y
# (other splitter families); test_build_repr (scikit-learn internals).
# ---------------------------------------------------------------------------


def _sk_split(cv, X, y, groups):
    return list(cv.split(X, y, groups))


def test_sklearn_cross_validator_with_default_params():
    X = np.array([[1, 2], [3, 4], [5, 6], [7, 8]])
    X_1d = np.array([1, 2, 3, 4])
    y = np.array([1, 1, 2, 2])
    groups = np.array([1, 2, 3, 4])
    cv = MultilabelStratifiedGroupKFold(2)
    assert cv.get_n_splits(X, y, groups) == 2
    np.testing.assert_equal(_sk_split(cv, X, y, groups), _sk_split(cv, X_1d, y, groups))
    for train, test in cv.split(X, y, groups):
        assert np.asarray(train).dtype.kind == "i" and np.asarray(test).dtype.kind == "i"
    assert " ".join(repr(cv).split()) == (
        "MultilabelStratifiedGroupKFold(max_passes=50, n_init=4, n_splits=2, random_state=None, shuffle=False)"
    )


def test_sklearn_2d_y():
    n_samples = 30
    rng = np.random.RandomState(1)
    X = rng.randint(0, 3, size=(n_samples, 2))
    y = rng.randint(0, 3, size=(n_samples,))
    y_2d = y.reshape(-1, 1)
    y_multilabel = rng.randint(0, 2, size=(n_samples, 3))
    groups = rng.randint(0, 3, size=(n_samples,))
    cv = MultilabelStratifiedGroupKFold(n_splits=3)
    assert _sk_split(cv, X, y, groups) and _sk_split(cv, X, y_multilabel, groups)
    np.testing.assert_equal(_sk_split(cv, X, y, groups), _sk_split(cv, X, y_2d, groups))


def test_sklearn_kfold_valueerrors():
    import warnings

    X2 = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]])
    y = np.array([3, 3, -1, -1, 3])
    cv = MultilabelStratifiedGroupKFold(3)
    naive_groups = np.arange(len(y))
    with pytest.warns(UserWarning, match="The least populated class"):
        next(cv.split(X2, y, naive_groups))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seen = np.concatenate([test for _, test in cv.split(X2, y, naive_groups)])
    assert sorted(seen.tolist()) == list(range(5))
    with pytest.raises(ValueError, match="n_splits=3 cannot be greater than the number of members in each class"):
        next(cv.split(X2, np.array([3, 3, -1, -1, 2]), naive_groups))
    for bad in (0, 1):
        with pytest.raises(ValueError, match="k-fold cross-validation requires at least one train/test split"):
            MultilabelStratifiedGroupKFold(bad)
    for bad in (1.5, 2.0):
        with pytest.raises(ValueError):
            MultilabelStratifiedGroupKFold(bad)
    with pytest.raises(TypeError):
        MultilabelStratifiedGroupKFold(n_splits=4, shuffle=None)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("k", [4, 5, 6, 7, 8, 9, 10])
def test_sklearn_stratified_kfold_ratios(k, shuffle):
    n_samples = 1000
    X = np.ones(n_samples)
    y = np.array([4] * int(0.10 * n_samples) + [0] * int(0.89 * n_samples) + [1] * int(0.01 * n_samples))
    groups = np.arange(len(y))
    distr = np.bincount(y) / len(y)
    test_sizes = []
    cv = MultilabelStratifiedGroupKFold(k, random_state=0 if shuffle else None, shuffle=shuffle)
    for train, test in cv.split(X, y, groups):
        np.testing.assert_allclose(np.bincount(y[train]) / len(train), distr, atol=0.02)
        np.testing.assert_allclose(np.bincount(y[test]) / len(test), distr, atol=0.02)
        test_sizes.append(len(test))
    assert np.ptp(test_sizes) <= 1


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("k", [4, 6, 7])
@pytest.mark.filterwarnings("ignore:The least populated class")
def test_sklearn_stratified_kfold_label_invariance(k, shuffle):
    import itertools

    n_samples = 100
    y = np.array([2] * int(0.10 * n_samples) + [0] * int(0.89 * n_samples) + [1] * int(0.01 * n_samples))
    X = np.ones(len(y))
    groups = np.arange(len(y))

    def get_splits(y):
        cv = MultilabelStratifiedGroupKFold(k, random_state=0 if shuffle else None, shuffle=shuffle)
        return [(list(train), list(test)) for train, test in cv.split(X, y, groups)]

    base = get_splits(y)
    for perm in itertools.permutations([0, 1, 2]):
        assert get_splits(np.take(perm, y)) == base


def test_sklearn_stratifiedkfold_balance():
    X = np.ones(17)
    y = [0] * 3 + [1] * 14
    groups = np.arange(len(y))
    for shuffle in (True, False):
        cv = MultilabelStratifiedGroupKFold(3, shuffle=shuffle)
        for i in range(11, 17):
            sizes = [len(test) for _, test in cv.split(X[:i], y[:i], groups[:i])]
            assert np.max(sizes) - np.min(sizes) <= 1
            assert np.sum(sizes) == i


def test_sklearn_shuffle_reproducibility():
    X, y, groups_1 = np.ones(15), [0] * 7 + [1] * 8, np.arange(15)
    X2, y2, groups_2 = np.ones(16), [0] * 8 + [1] * 8, np.arange(16)
    cv = MultilabelStratifiedGroupKFold(3, shuffle=True, random_state=0)
    np.testing.assert_equal(_sk_split(cv, X, y, groups_1), _sk_split(cv, X, y, groups_1))
    cv = MultilabelStratifiedGroupKFold(3, shuffle=True, random_state=np.random.RandomState(0))
    for data in ((X, y, groups_1), (X2, y2, groups_2)):
        for (_, test_a), (_, test_b) in zip(cv.split(*data), cv.split(*data)):
            with pytest.raises(AssertionError):
                np.testing.assert_array_equal(test_a, test_b)


def test_sklearn_shuffle_stratifiedkfold():
    X_40 = np.ones(40)
    y = [0] * 20 + [1] * 20
    groups = np.arange(40)
    kf0 = MultilabelStratifiedGroupKFold(5, shuffle=True, random_state=0)
    kf1 = MultilabelStratifiedGroupKFold(5, shuffle=True, random_state=1)
    for (_, test0), (_, test1) in zip(kf0.split(X_40, y, groups), kf1.split(X_40, y, groups)):
        assert set(test0) != set(test1)
    _check_valid_split(kf0, X_40, y, groups, 5)


def test_sklearn_stratified_group_kfold_trivial():
    cv = MultilabelStratifiedGroupKFold(n_splits=3)
    y = np.array([1] * 6 + [0] * 12)
    X = np.ones_like(y).reshape(-1, 1)
    groups = np.asarray((1, 2, 3, 4, 5, 6, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6))
    distr = np.bincount(y) / len(y)
    test_sizes = []
    for train, test in cv.split(X, y, groups):
        assert np.intersect1d(groups[train], groups[test]).size == 0
        np.testing.assert_allclose(np.bincount(y[train]) / len(train), distr, atol=0.02)
        np.testing.assert_allclose(np.bincount(y[test]) / len(test), distr, atol=0.02)
        test_sizes.append(len(test))
    assert np.ptp(test_sizes) <= 1


def test_sklearn_stratified_group_kfold_approximate_is_exact_here():
    # scikit-learn: "Not perfect stratification (even though it is possible)"; here it is perfect
    cv = MultilabelStratifiedGroupKFold(n_splits=3)
    y = np.array([1] * 6 + [0] * 12)
    X = np.ones_like(y).reshape(-1, 1)
    groups = np.array([1, 2, 3, 3, 4, 4, 1, 1, 2, 2, 3, 4, 5, 5, 5, 6, 6, 6])
    test_sizes = []
    for train, test in cv.split(X, y, groups):
        assert np.intersect1d(groups[train], groups[test]).size == 0
        np.testing.assert_allclose(np.bincount(y[test]) / len(test), [2 / 3, 1 / 3], atol=0.001)
        test_sizes.append(len(test))
    assert np.ptp(test_sizes) <= 1


@pytest.mark.parametrize(
    "y, groups, expected",
    [
        (np.array([0] * 6 + [1] * 6), np.array([1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]), [0.5, 0.5]),
        (np.array([0] * 9 + [1] * 3), np.array([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 5, 6]), [0.75, 0.25]),
    ],
)
def test_sklearn_stratified_group_kfold_homogeneous_groups(y, groups, expected):
    cv = MultilabelStratifiedGroupKFold(n_splits=3)
    X = np.ones_like(y).reshape(-1, 1)
    for train, test in cv.split(X, y, groups):
        assert np.intersect1d(groups[train], groups[test]).size == 0
        np.testing.assert_allclose(np.bincount(y[test]) / len(test), expected, atol=0.001)


def test_sklearn_stratified_group_kfold_shuffle_preserves_stratification():
    y = np.array([0] * 12 + [1] * 6)
    X = np.ones((len(y), 1))
    groups = np.array([1, 1, 3, 3, 3, 4, 5, 5, 5, 5, 7, 7, 2, 2, 6, 6, 8, 8])
    expected = np.asarray([2.0 / 3, 1.0 / 3])
    for seed in range(100):
        cv = MultilabelStratifiedGroupKFold(n_splits=3, shuffle=True, random_state=seed)
        test_sizes = []
        for train, test in cv.split(X, y, groups):
            assert np.intersect1d(groups[train], groups[test]).size == 0
            np.testing.assert_allclose(np.bincount(y[train]) / len(train), expected, atol=1e-8)
            np.testing.assert_allclose(np.bincount(y[test]) / len(test), expected, atol=1e-8)
            test_sizes.append(len(test))
        assert np.ptp(test_sizes) <= 1


@pytest.mark.parametrize("cls_distr", [(0.4, 0.6), (0.3, 0.7), (0.2, 0.8), (0.8, 0.2)])
@pytest.mark.parametrize("n_groups", [5, 30, 70])
def test_sklearn_stratified_group_kfold_against_group_kfold(cls_distr, n_groups):
    from scipy import stats
    from sklearn.model_selection import GroupKFold

    n_splits = 5
    rng = np.random.RandomState(0)
    y = rng.choice(2, size=1000, p=cls_distr)
    X = np.ones_like(y).reshape(-1, 1)
    g = rng.choice(n_groups, 1000)
    ours = MultilabelStratifiedGroupKFold(n_splits=n_splits).split(X, y, groups=g)
    theirs = GroupKFold(n_splits=n_splits).split(X, y, groups=g)
    ours_entr = theirs_entr = 0.0
    for (train, test), (_, gkf_test) in zip(ours, theirs):
        assert np.intersect1d(g[train], g[test]).size == 0
        ours_entr += stats.entropy(np.bincount(y[test]) / len(test), qk=cls_distr)
        theirs_entr += stats.entropy(np.bincount(y[gkf_test]) / len(gkf_test), qk=cls_distr)
    # 1e-12: with one group per fold both give the same folds, summed in another order
    assert ours_entr / n_splits <= theirs_entr / n_splits + 1e-12


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 42])
def test_sklearn_group_kfold(shuffle, seed):
    rng = np.random.RandomState(seed)
    n_samples, n_splits = 1000, 5
    X = y = np.ones(n_samples)
    tolerance = 0.05 * n_samples
    groups = rng.randint(0, 15, n_samples)
    ideal = n_samples // n_splits
    random_state = seed if shuffle else None
    cv = MultilabelStratifiedGroupKFold(n_splits=n_splits, shuffle=shuffle, random_state=random_state)
    folds = np.zeros(n_samples)
    for i, (_, test) in enumerate(cv.split(X, y, groups)):
        folds[test] = i
    for i in np.unique(folds):
        assert tolerance >= abs(sum(folds == i) - ideal)
    for group in np.unique(groups):
        assert len(np.unique(folds[groups == group])) == 1
    groups = np.asarray(groups, dtype=object)
    for train, test in cv.split(X, y, groups):
        assert len(np.intersect1d(groups[train], groups[test])) == 0

    groups = np.array(
        ["Albert", "Jean", "Bertrand", "Michel", "Jean", "Francis", "Robert", "Michel", "Rachel", "Lois",
         "Michelle", "Bernard", "Marion", "Laura", "Jean", "Rachel", "Franck", "John", "Gael", "Anna", "Alix",
         "Robert", "Marion", "David", "Tony", "Abel", "Becky", "Madmood", "Cary", "Mary", "Alexandre", "David",
         "Francis", "Barack", "Abdoul", "Rasha", "Xi", "Silvia"]
    )
    n_samples = len(groups)
    tolerance = 0.05 * n_samples
    ideal = n_samples // n_splits
    X = y = np.ones(n_samples)
    folds = np.zeros(n_samples)
    for i, (_, test) in enumerate(cv.split(X, y, groups)):
        folds[test] = i
    if not shuffle:
        for i in np.unique(folds):
            assert tolerance >= abs(sum(folds == i) - ideal)
    for group in np.unique(groups):
        assert len(np.unique(folds[groups == group])) == 1
    groups = np.asarray(groups, dtype=object)
    for train, test in cv.split(X, y, groups):
        assert len(np.intersect1d(groups[train], groups[test])) == 0
    copy = MultilabelStratifiedGroupKFold(n_splits=n_splits, shuffle=shuffle, random_state=random_state)
    for (train1, test1), (train2, test2) in zip(copy.split(X, y, groups), cv.split(X, y, groups.tolist())):
        np.testing.assert_array_equal(train1, train2)
        np.testing.assert_array_equal(test1, test2)
    groups = np.array([1, 1, 1, 2, 2])
    X = y = np.ones(len(groups))
    with pytest.raises(ValueError, match="Cannot have number of splits.*greater"):
        next(MultilabelStratifiedGroupKFold(n_splits=3).split(X, y, groups))


def test_sklearn_nested_cv():
    import warnings

    from sklearn.datasets import make_classification
    from sklearn.model_selection import GridSearchCV, GroupKFold, LeaveOneGroupOut, StratifiedKFold

    rng = np.random.RandomState(0)
    X, y = make_classification(n_samples=15, n_classes=2, random_state=0)
    groups = rng.randint(0, 5, 15)
    ours = MultilabelStratifiedGroupKFold(n_splits=3)
    for other in (LeaveOneGroupOut(), StratifiedKFold(n_splits=2), GroupKFold(n_splits=3), ours):
        for inner, outer in ((ours, other), (other, ours)):
            gs = GridSearchCV(
                DummyClassifier(), param_grid={"strategy": ["stratified", "most_frequent"]},
                cv=inner, error_score="raise",
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cross_val_score(gs, X=X, y=y, groups=groups, cv=outer, params={"groups": groups})


def test_sklearn_random_state_shuffle_false():
    with pytest.raises(ValueError, match="has no effect since shuffle is False"):
        MultilabelStratifiedGroupKFold(3, shuffle=False, random_state=0)


@pytest.mark.parametrize(
    "cv, expected",
    [
        (MultilabelStratifiedGroupKFold(shuffle=True, random_state=123), True),
        (MultilabelStratifiedGroupKFold(), True),
        (MultilabelStratifiedGroupKFold(shuffle=True, random_state=None), False),
        (MultilabelStratifiedGroupKFold(shuffle=True, random_state=np.random.RandomState(0)), False),
    ],
)
def test_sklearn_yields_constant_splits(cv, expected):
    from sklearn.model_selection._split import _yields_constant_splits

    assert _yields_constant_splits(cv) == expected


def test_sklearn_splitter_metadata_routing():
    from sklearn.tests.metadata_routing_common import assert_request_is_empty

    cv = MultilabelStratifiedGroupKFold()
    metadata = cv.get_metadata_routing()
    assert metadata.split.requests["groups"] is True
    assert_request_is_empty(metadata, exclude=["split"])
    assert hasattr(cv, "set_split_request")


def test_positive_matrix_follows_the_empty_cell_rule():
    from rlemask.errors import InvalidRleError

    t = pd.DataFrame({"large_bowel": ["1 1", pd.NaT, b"2 2"], "small_bowel": ["", "", ""], "stomach": [None] * 3})
    assert positive_matrix(t).tolist() == [[1, 0, 0], [0, 0, 0], [1, 0, 0]]
    bad = t.assign(small_bowel=["", 7, ""])
    with pytest.raises(InvalidRleError, match=r"column 'small_bowel' row 1: 7 of type int is not a run-length string") as err:
        positive_matrix(bad)
    assert err.value.item == 1


def test_size_window_matches_brute_force():
    """The allowed size changes of a move/swap between two folds, against trying every change."""
    from rlemask.folds import _size_window, _size_windows

    rng = np.random.default_rng(0)
    for k in (2, 3, 5, 7):
        A, B = np.triu_indices(k, 1)
        for _ in range(60):
            s_max = float(rng.integers(1, 10))
            n = rng.integers(0, 20, (3, k)).astype(float)
            lo, hi = _size_windows(n, A, B, s_max)
            for r in range(3):
                if np.ptp(n[r]) > s_max:
                    continue  # the search only ever starts from sizes within s_max
                for p, (a, b) in enumerate(zip(A.tolist(), B.tolist())):
                    assert _size_window(n[r], a, b, s_max) == pytest.approx((lo[r, p], hi[r, p]))
                    for t in range(-25, 26):
                        m = n[r].copy()
                        m[a] += t
                        m[b] -= t
                        assert (np.ptp(m) <= s_max) == (lo[r, p] <= t <= hi[r, p]), (n[r], a, b, t)


def test_singletons_two_folds_regression():
    """Found by hypothesis: a move from the smaller of two folds once left them 3 apart."""
    rng = np.random.default_rng(6241964)
    n_groups = int(rng.integers(2, 40))
    groups = np.repeat(rng.permutation(n_groups), rng.integers(1, 2, n_groups))
    y = (rng.random((groups.size, 3)) < rng.uniform(0, 1, 3)).astype(int)
    fold = MultilabelStratifiedGroupKFold(2).fold_labels(None, y, groups)
    assert np.ptp(np.bincount(fold)) <= 1
