"""Leak-free, multilabel-stratified group folds.

In UWMGI every image carries up to three overlapping labels (which organs are
visible) and images of one case (all its days and slices) must stay in one
fold. scikit-learn's :class:`~sklearn.model_selection.StratifiedGroupKFold`
stratifies a *single* label, so the usual recipes feed it the number of
non-empty classes or the class combination; neither balances each organ.
:class:`MultilabelStratifiedGroupKFold` balances every class directly.

Algorithm
---------
1. Count, per group, its size and its positives per class.
2. Greedy: visit groups largest first (ties in order of first appearance, or
   in a random order with ``shuffle=True``) and put each into the fold where
   it lowers the cost the most; empty folds are filled first.
3. Local improvement: move one group to another fold, or swap two groups of
   different folds, whenever that lowers the cost; repeat until no move helps
   (at most ``max_passes`` passes; skipped beyond 2,000 groups, where groups
   are small next to folds and the greedy pass is already close).
4. Steps 2-3 run ``n_init`` times from different visiting orders (the later
   ones largest-first with noise); the partition of lowest cost wins.

The cost is the chi-square of the fold x class table plus that of the fold
sizes::

    sum_k sum_c (p_kc - n_k r_c)^2 / (n_k r_c (1 - r_c))  +  sum_k (n_k - N/K)^2 / (N/K)

with ``p_kc`` the positives of class ``c`` in fold ``k``, ``n_k`` its size,
``r_c`` the overall positive rate and ``N/K`` the ideal fold size. It is zero
when every fold has the same size and the same positive fraction of every
class. Classes that are all 0 or all 1 carry no weight.

The result does not depend on the order of the classes (columns of ``y``) nor
on the names of the groups; with ``shuffle=True`` each ``random_state`` gives
its own, equally balanced, partition.

Examples
--------
>>> import numpy as np
>>> y = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 0]])
>>> groups = np.array([0, 0, 1, 1, 2, 3])
>>> cv = MultilabelStratifiedGroupKFold(n_splits=2)
>>> for train, test in cv.split(np.zeros(6), y, groups):
...     print(sorted(set(groups[test].tolist())), "in the test fold")
[2, 3] in the test fold
[0, 1] in the test fold
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state

from rlemask.errors import FoldError
from rlemask.uwmgi import CLASSES

__all__ = [
    "MultilabelStratifiedGroupKFold",
    "assign_folds",
    "check_folds",
    "summarize_folds",
    "positive_matrix",
]


_LOCAL_SEARCH_MAX_GROUPS = 2000


class MultilabelStratifiedGroupKFold(BaseCrossValidator):
    """K-fold iterator with non-overlapping groups that balances every label.

    Parameters
    ----------
    n_splits : int, default 5
        Number of folds, at least 2 and at most the number of groups.
    shuffle : bool, default False
        Randomise the order in which groups are placed and improved; each
        ``random_state`` then gives a different, equally balanced partition.
        Without shuffling the partition is deterministic.
    random_state : int, RandomState or None, default None
        Seed used when ``shuffle=True``; must be None otherwise (as in
        scikit-learn's ``KFold``).
    n_init : int, default 4
        Runs of greedy placement + local improvement from different visiting
        orders (the first largest-first, the others with noise); the
        partition of lowest cost is kept. Up to 2,000 groups; beyond, one run.
    max_passes : int, default 50
        Upper bound on the passes of the local improvement step.

    Notes
    -----
    ``split(X, y, groups)``: ``y`` is an ``(n_samples, n_classes)`` 0/1 (or
    bool) matrix, one column per label; a 1-D ``y`` is taken as one binary
    label, or one-hot encoded when it has more than two values. Each group
    appears in exactly one test fold. See the module docstring for the
    algorithm.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> groups = np.repeat(np.arange(20), 10)
    >>> y = rng.random((200, 3)) < 0.3
    >>> cv = MultilabelStratifiedGroupKFold(n_splits=4, shuffle=True, random_state=1)
    >>> cv.get_n_splits()
    4
    >>> [len(set(groups[test])) for _, test in cv.split(y, y, groups)]
    [5, 5, 5, 5]
    """

    __metadata_request__split = {"groups": True}

    def __init__(
        self,
        n_splits: int = 5,
        *,
        shuffle: bool = False,
        random_state: Any = None,
        n_init: int = 4,
        max_passes: int = 50,
    ) -> None:
        if not isinstance(n_splits, numbers.Integral) or isinstance(n_splits, bool):
            raise FoldError(f"n_splits must be an integer, found {type(n_splits).__name__} {n_splits!r}")
        if n_splits < 2:
            raise FoldError(f"n_splits={n_splits}: cross-validation needs at least 2 folds")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise FoldError(f"shuffle must be True or False, found {shuffle!r}")
        if not shuffle and random_state is not None:
            raise FoldError(
                f"random_state={random_state!r} has no effect since shuffle=False: "
                "leave random_state=None or set shuffle=True"
            )
        self.n_splits = int(n_splits)
        self.shuffle = bool(shuffle)
        self.random_state = random_state
        self.n_init = int(n_init)
        self.max_passes = int(max_passes)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Return the number of splits, ``n_splits``."""
        return self.n_splits

    def split(
        self, X: ArrayLike, y: ArrayLike | None = None, groups: ArrayLike | None = None
    ) -> Iterator[tuple[NDArray[np.intp], NDArray[np.intp]]]:
        """Yield ``(train, test)`` index arrays, one pair per fold.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Only its length is used.
        y : array-like of shape (n_samples, n_classes)
            0/1 label matrix.
        groups : array-like of shape (n_samples,)
            Group of each sample (the case in UWMGI).

        Yields
        ------
        train, test : ndarray of int
            Sorted sample indices.

        Raises
        ------
        FoldError
            Missing ``y`` or ``groups``, mismatched lengths, labels other
            than 0/1, fewer groups than folds.
        """
        folds = self.fold_labels(X, y, groups)
        indices = np.arange(folds.size)
        for k in range(self.n_splits):
            test = folds == k
            yield indices[~test], indices[test]

    def _iter_test_masks(self, X: Any = None, y: Any = None, groups: Any = None):
        folds = self.fold_labels(X, y, groups)
        for k in range(self.n_splits):
            yield folds == k

    def fold_labels(self, X: ArrayLike | None, y: ArrayLike | None, groups: ArrayLike | None) -> NDArray[np.int64]:
        """The test fold of every sample, an int64 array in ``[0, n_splits)``.

        Same inputs as :meth:`split`; ``X`` may be None.
        """
        labels, group_codes = _validate(X, y, groups, self.n_splits)
        n_groups = int(group_codes.max()) + 1 if group_codes.size else 0
        rng = check_random_state(self.random_state) if self.shuffle else None
        # per-group counts: positives per class, then size
        counts = np.zeros((n_groups, labels.shape[1] + 1), np.float64)
        np.add.at(counts[:, :-1], group_codes, labels)
        counts[:, -1] = np.bincount(group_codes, minlength=n_groups)
        # canonical class order: the result must not depend on column order
        if labels.shape[1] > 1:
            order = np.lexsort(counts[:, :-1][::-1])
            counts = np.concatenate([counts[:, :-1][:, order], counts[:, -1:]], axis=1)
        group_fold = _partition(counts, self.n_splits, rng, self.max_passes, self.n_init)
        return group_fold[group_codes]


def _validate(X: Any, y: Any, groups: Any, n_splits: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    if y is None:
        raise FoldError("y is required: an (n_samples, n_classes) 0/1 matrix of which labels each sample has")
    if groups is None:
        raise FoldError("groups is required: the group (case) of each sample, so no group lands in two folds")
    labels = np.asarray(y)
    groups_arr = np.asarray(groups)
    if groups_arr.ndim != 1:
        raise FoldError(f"groups must be 1-D, found shape={groups_arr.shape}")
    n = groups_arr.shape[0]
    if X is not None and hasattr(X, "__len__") and len(X) != n:
        raise FoldError(f"X has {len(X)} samples but groups has {n}: expected the same length")
    if labels.shape[0] != n:
        raise FoldError(f"y has {labels.shape[0]} samples but groups has {n}: expected the same length")
    if labels.ndim == 1:
        values, inverse = np.unique(labels, return_inverse=True)
        if set(values.tolist()) <= {0, 1}:
            labels = labels.reshape(-1, 1)
        else:  # multiclass: one column per class
            labels = np.eye(len(values))[inverse]
    elif labels.ndim != 2:
        raise FoldError(f"y must be (n_samples, n_classes), found shape={labels.shape}")
    if labels.dtype == bool:
        labels = labels.astype(np.float64)
    else:
        try:
            labels = labels.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise FoldError(f"y must hold 0/1 values, found dtype={labels.dtype}") from exc
        bad = ~((labels == 0) | (labels == 1))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise FoldError(
                f"y must hold 0/1 values: found {labels[i, j].item()!r} at sample {i}, label {j} "
                f"({int(bad.sum())} bad value(s) in all)"
            )
    try:
        codes, uniques = pd.factorize(pd.Series(groups_arr, dtype=object), sort=False)
    except TypeError as exc:  # pragma: no cover - unhashable groups
        raise FoldError(f"groups must be hashable labels: {exc}") from exc
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise FoldError(f"groups has a missing value at sample {i}: every sample needs a group")
    if len(uniques) < n_splits:
        raise FoldError(
            f"n_splits={n_splits} is more than the {len(uniques)} group(s): "
            "each fold needs at least one group; lower n_splits"
        )
    return labels, codes.astype(np.int64)


def _fold_cost(A: NDArray[np.float64], rate: NDArray[np.float64], weight: NDArray[np.float64], target: float) -> NDArray[np.float64]:
    """Cost of folds with counts ``A (..., C + 1)`` (positives then size); inf when empty."""
    n = A[..., -1]
    dev = A[..., :-1] - n[..., None] * rate
    with np.errstate(divide="ignore", invalid="ignore"):
        chi = (dev * dev * weight).sum(axis=-1) / n
    cost = chi + (n - target) ** 2 / target
    return np.where(n > 0, cost, np.inf)


def _partition(
    counts: NDArray[np.float64],
    n_splits: int,
    rng: np.random.RandomState | None,
    max_passes: int,
    n_init: int,
) -> NDArray[np.int64]:
    """Assign each group (row of ``counts``) to a fold; return the group -> fold array.

    Runs the greedy pass and the local improvement ``n_init`` times from
    different visiting orders and keeps the partition of lowest cost.
    """
    n_groups = counts.shape[0]
    total = counts.sum(axis=0)
    n_total = total[-1]
    rate = total[:-1] / n_total
    informative = (rate > 0) & (rate < 1)
    weight = np.zeros_like(rate)
    weight[informative] = 1.0 / (rate[informative] * (1.0 - rate[informative]))
    target = n_total / n_splits
    cost = (rate, weight, target)
    sizes = counts[:, -1]

    search = n_groups <= _LOCAL_SEARCH_MAX_GROUPS
    # restarts draw from the user's generator, or from a fixed one without shuffling
    restart_rng = rng if rng is not None else np.random.RandomState(0)
    best_fold: NDArray[np.int64] | None = None
    best_cost = np.inf
    for start in range(max(1, n_init) if search else 1):
        if start == 0:  # largest groups first
            visit = np.arange(n_groups) if rng is None else rng.permutation(n_groups)
            visit = visit[np.argsort(-sizes[visit], kind="stable")]
        else:  # roughly largest first, with noise
            visit = np.argsort(-sizes * restart_rng.uniform(0.5, 1.5, n_groups), kind="stable")
        fold, A, cur = _greedy(counts, visit, n_splits, rng, cost)
        if search:
            _improve(counts, fold, A, cur, rng, max_passes, cost)
        total = cur.sum()
        if best_fold is None or total < best_cost - 1e-12 * max(1.0, best_cost):
            best_fold, best_cost = fold, total
    return best_fold


def _greedy(counts, visit, n_splits, rng, cost):
    """Place the groups in ``visit`` order, each where it lowers the cost most."""
    A = np.zeros((n_splits, counts.shape[1]))
    fold = np.full(counts.shape[0], -1, np.int64)
    cur = np.full(n_splits, np.inf)
    for g in visit:
        v = counts[g]
        empty = np.flatnonzero(A[:, -1] == 0)
        if empty.size:
            k = int(empty[0] if rng is None else rng.choice(empty))
        else:
            delta = _fold_cost(A + v, *cost) - cur
            best = delta.min()
            ties = np.flatnonzero(delta <= best + 1e-12 * max(1.0, abs(best)))
            k = int(ties[0] if rng is None or ties.size == 1 else rng.choice(ties))
        A[k] += v
        cur[k] = _fold_cost(A[k], *cost)
        fold[g] = k
    return fold, A, cur


def _improve(counts, fold, A, cur, rng, max_passes, cost):
    """Single moves and pairwise swaps while they lower the cost (in place)."""
    n_groups = counts.shape[0]
    for _ in range(max_passes):
        improved = False
        order = np.arange(n_groups) if rng is None else rng.permutation(n_groups)
        for g in order:
            a = fold[g]
            v = counts[g]
            tol = 1e-9 * max(1.0, cur.sum())
            # move g from a to k
            move = _fold_cost(A[a] - v, *cost) + _fold_cost(A + v, *cost) - cur[a] - cur
            move[a] = np.inf
            k_move = int(np.argmin(move))
            best_move = move[k_move]
            # swap g with h of another fold
            others = np.flatnonzero(fold != a)
            d = counts[others] - v  # what fold a gains
            b = fold[others]
            swap = _fold_cost(A[a] + d, *cost) + _fold_cost(A[b] - d, *cost) - cur[a] - cur[b]
            i_swap = int(np.argmin(swap)) if swap.size else -1
            best_swap = swap[i_swap] if swap.size else np.inf
            if min(best_move, best_swap) >= -tol:
                continue
            improved = True
            if best_move <= best_swap:
                A[a] -= v
                A[k_move] += v
                fold[g] = k_move
                cur[a] = _fold_cost(A[a], *cost)
                cur[k_move] = _fold_cost(A[k_move], *cost)
            else:
                h = others[i_swap]
                bh = fold[h]
                A[a] += counts[h] - v
                A[bh] -= counts[h] - v
                fold[g], fold[h] = bh, a
                cur[a] = _fold_cost(A[a], *cost)
                cur[bh] = _fold_cost(A[bh], *cost)
        if not improved:
            return


# --------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------


def positive_matrix(table: pd.DataFrame, classes: Sequence[str] = CLASSES) -> NDArray[np.uint8]:
    """Which class RLEs are non-empty: an ``(n_images, n_classes)`` 0/1 matrix.

    NaN, None and blank strings count as empty.

    Examples
    --------
    >>> t = pd.DataFrame({"a": ["1 2", "", None], "b": [float("nan"), " ", "3 1"]})
    >>> positive_matrix(t, ["a", "b"]).tolist()
    [[1, 0], [0, 0], [0, 1]]
    """
    missing = [c for c in classes if c not in table.columns]
    if missing:
        raise FoldError(
            f"table has no column(s) {missing} (columns: {list(table.columns)}): "
            "expected one RLE column per class"
        )
    out = np.zeros((len(table), len(classes)), np.uint8)
    for j, c in enumerate(classes):
        col = table[c]
        text = col.astype(object).where(col.notna(), "").astype(str).str.strip()
        out[:, j] = (text.str.len() > 0).to_numpy()
    return out


def _groups_of(table: pd.DataFrame, group: str) -> pd.Series:
    if group in table.columns:
        return table[group]
    if group == "case" and "id" in table.columns:
        from rlemask.uwmgi import parse_id

        return pd.Series([parse_id(i)[0] for i in table["id"]], index=table.index, name="case")
    raise FoldError(f"table has no group column {group!r} (columns: {list(table.columns)})")


def assign_folds(
    table: pd.DataFrame,
    n_splits: int = 5,
    *,
    classes: Sequence[str] = CLASSES,
    group: str = "case",
    shuffle: bool = True,
    random_state: Any = 42,
) -> pd.DataFrame:
    """Add an int ``fold`` column with :class:`MultilabelStratifiedGroupKFold`.

    Parameters
    ----------
    table : DataFrame
        One row per image with one RLE column per class and a group column
        (``case``; derived from ``id`` when absent).
    n_splits : int, default 5
    classes : sequence of str, default ``CLASSES``
        The RLE columns; an image is positive for a class when its RLE is
        non-empty.
    group : str, default "case"
    shuffle : bool, default True
    random_state : int, RandomState or None, default 42
        Ignored (treated as None) when ``shuffle=False``.

    Returns
    -------
    DataFrame
        A copy of ``table`` with ``fold`` (int64, ``0 .. n_splits - 1``).

    Raises
    ------
    FoldError
        Missing columns, fewer groups than folds.

    Examples
    --------
    >>> t = pd.DataFrame({"case": [1, 1, 2, 3, 3, 4],
    ...                   "large_bowel": ["1 1", "", "1 1", "", "2 2", ""],
    ...                   "small_bowel": [""] * 6, "stomach": ["", "4 1", "", "", "", "1 9"]})
    >>> out = assign_folds(t, 2, shuffle=False)
    >>> out.groupby("case")["fold"].nunique().max()
    np.int64(1)
    """
    labels = positive_matrix(table, classes)
    groups = _groups_of(table, group).to_numpy()
    cv = MultilabelStratifiedGroupKFold(
        n_splits, shuffle=shuffle, random_state=random_state if shuffle else None
    )
    out = table.copy()
    out["fold"] = cv.fold_labels(None, labels, groups).astype(np.int64)
    return out


def check_folds(table: pd.DataFrame, *, group: str = "case", fold: str = "fold") -> None:
    """Raise :class:`FoldError` if a group sits in more than one fold.

    Parameters
    ----------
    table : DataFrame
        With the ``group`` column (``case``; derived from ``id`` when absent)
        and the ``fold`` column.
    group, fold : str

    Raises
    ------
    FoldError
        Naming the leaking groups (first few and the count) and their folds;
        also when a column is missing or a fold is missing (NaN).

    Examples
    --------
    >>> check_folds(pd.DataFrame({"case": [1, 1, 2], "fold": [0, 0, 1]}))
    >>> check_folds(pd.DataFrame({"case": [1, 1, 2], "fold": [0, 1, 1]}))
    Traceback (most recent call last):
    ...
    rlemask.errors.FoldError: 1 group(s) of 'case' sit in more than one 'fold': case=1 in folds [0, 1]
    """
    if fold not in table.columns:
        raise FoldError(f"table has no fold column {fold!r} (columns: {list(table.columns)})")
    groups = _groups_of(table, group)
    folds = table[fold]
    if folds.isna().any():
        rows = list(table.index[folds.isna()][:5])
        raise FoldError(f"{int(folds.isna().sum())} row(s) have no {fold!r} (index {rows}...): every row needs a fold")
    frame = pd.DataFrame({"g": groups.to_numpy(), "f": folds.to_numpy()})
    per_group = frame.groupby("g", sort=True)["f"].unique()
    leaks = per_group[per_group.map(len) > 1]
    if len(leaks):
        shown = "; ".join(
            f"{group}={g} in folds {sorted(v.tolist() if hasattr(v, 'tolist') else list(v))}"
            for g, v in list(leaks.items())[:5]
        )
        more = f" ... ({len(leaks)} in all)" if len(leaks) > 5 else ""
        raise FoldError(f"{len(leaks)} group(s) of {group!r} sit in more than one {fold!r}: {shown}{more}")


def summarize_folds(
    table: pd.DataFrame,
    *,
    classes: Sequence[str] = CLASSES,
    group: str = "case",
    fold: str = "fold",
) -> pd.DataFrame:
    """Per fold: images, groups and the positive fraction of each class.

    Returns
    -------
    DataFrame
        Indexed by fold: ``images``, ``groups`` and one column per class
        (fraction of the fold's images whose RLE is non-empty).

    Examples
    --------
    >>> t = pd.DataFrame({"case": [1, 1, 2, 2], "fold": [0, 0, 1, 1],
    ...                   "large_bowel": ["1 1", "", "", ""], "small_bowel": [""] * 4,
    ...                   "stomach": ["1 1"] * 4})
    >>> summarize_folds(t)["large_bowel"].tolist()
    [0.5, 0.0]
    """
    labels = positive_matrix(table, classes)
    frame = pd.DataFrame(labels.astype(np.float64), columns=list(classes))
    frame["fold"] = table[fold].to_numpy()
    frame["group"] = _groups_of(table, group).to_numpy()
    grouped = frame.groupby("fold", sort=True)
    out = pd.DataFrame({"images": grouped.size(), "groups": grouped["group"].nunique()})
    for c in classes:
        out[c] = grouped[c].mean()
    out.index.name = fold
    return out
