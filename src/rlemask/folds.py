"""Leak-free, multilabel-stratified group folds.

In UWMGI every image carries up to three overlapping labels (which organs are
visible) and images of one case (all its days and slices) must stay in one
fold. scikit-learn's :class:`~sklearn.model_selection.StratifiedGroupKFold`
stratifies a *single* label, so the usual recipes feed it the number of
non-empty classes or the class combination; neither balances each organ.
:class:`MultilabelStratifiedGroupKFold` balances every class directly.

Cost
----
Each group ``g`` becomes one vector ``x_g``: per informative class ``c`` (not
all 0, not all 1) its positives minus its expected positives,
``(p_gc - s_g r_c) / sqrt(r_c (1 - r_c))``, and its size ``s_g`` last
(``r_c`` is the overall positive rate of the class). A fold's vector ``D_k``
is the sum over its groups, minus the ideal fold size ``N/K`` in the size
entry. The partition minimises::

    sum_k |D_k|^2 / (N/K)
      = sum_k sum_c (p_kc - n_k r_c)^2 / ((N/K) r_c (1 - r_c))  +  sum_k (n_k - N/K)^2 / (N/K)

with ``p_kc`` the positives of class ``c`` in fold ``k`` and ``n_k`` its
size: the chi-square of the fold x class table with the ideal fold size
``N/K`` in place of ``n_k`` in the denominators, plus that of the fold sizes.
It is zero when every fold has the same size and the same positive fraction
of every class, and being a sum of squares of sums it makes every move and
swap below a few dot products. Hard constraint: fold sizes differ by at most
the size of the largest group (at most 1 with one sample per group), and no
fold is empty.

Algorithm
---------
1. Order the groups largest first (ties: larger ``|x_g|`` first, i.e. groups
   of rare classes early; with ``shuffle=True`` the ties and the second key
   are randomised).
2. Greedy, in rounds of ``K`` groups: each round puts one group into each
   fold, choosing among all ``K!`` assignments (up to 6 folds; one group at
   a time beyond) the one of lowest cost that keeps the size constraint.
3. Local search: moves of one group and swaps of two groups between two
   folds, as long as they lower the cost. Each pass scores every move, and
   the swaps between the 32 most promising groups of each fold, for all
   pairs of folds and all runs in a few batched matrix products, then
   applies the improving steps best first (each checked exactly against the
   current folds). The work per pass grows linearly with the number of
   groups: no cliff.
4. Steps 1-3 run ``n_init`` times from different visiting orders (all runs
   vectorised together); the partition of lowest cost wins.

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

import itertools
import numbers
import sys
import warnings
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

#: up to this many folds a greedy round tries every assignment of its groups to the folds
_ROUND_MAX_SPLITS = 6
#: the local search scores swaps between at most this many groups of each of two folds
_SWAP_CANDIDATES = 32
#: at most this many of the best swaps of one product are tried in turn
_SWAPS_PER_SEARCH = 4


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
        partition of lowest cost is kept. 0 is one run, like 1.
    max_passes : int, default 50
        Upper bound on the passes of the local improvement step (0: greedy
        placement only).

    Notes
    -----
    ``split(X, y, groups)``: ``y`` is an ``(n_samples, n_classes)`` 0/1 (or
    bool) matrix, one column per label; a 1-D or ``(n_samples, 1)`` ``y`` is
    taken as one binary label when its values are 0/1, else as class labels
    (one-hot encoded, as scikit-learn's ``StratifiedGroupKFold`` reads them;
    it warns, like scikit-learn, when a class has fewer members than
    ``n_splits``). Each group appears in exactly one test fold. Fold sizes
    differ by at most the size of the largest group (at most 1 with one
    sample per group). See the module docstring for the algorithm.

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
            raise FoldError(
                f"n_splits={n_splits}: k-fold cross-validation requires at least one train/test split, "
                "so at least 2 folds"
            )
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False, found shuffle={shuffle!r}")
        if not shuffle and random_state is not None:
            raise FoldError(
                f"random_state={random_state!r} has no effect since shuffle is False: "
                "leave random_state=None or set shuffle=True"
            )
        for name, value in (("n_init", n_init), ("max_passes", max_passes)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
                raise FoldError(f"{name} must be a non-negative integer, found {name}={value!r}")
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
        y : array-like of shape (n_samples, n_classes) or (n_samples,)
            0/1 label matrix, or class labels.
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
        n_groups = int(group_codes.max()) + 1
        rng = check_random_state(self.random_state) if self.shuffle else None
        counts = np.empty((n_groups, labels.shape[1]), np.float64)
        for j in range(labels.shape[1]):
            counts[:, j] = np.bincount(group_codes, weights=labels[:, j], minlength=n_groups)
        # canonical class order: the result must not depend on column order
        if labels.shape[1] > 1:
            counts = counts[:, np.lexsort(counts[::-1])]
        sizes = np.bincount(group_codes, minlength=n_groups).astype(np.float64)
        group_fold = _partition(counts, sizes, self.n_splits, rng, self.max_passes, self.n_init)
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
    if labels.ndim == 0 or labels.shape[0] != n:
        found = labels.shape[0] if labels.ndim else "no"
        raise FoldError(f"y has {found} samples but groups has {n}: expected the same length")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]  # a column of class labels, as scikit-learn reads it
    if labels.ndim == 1:
        labels = _class_labels(labels, n_splits)
    elif labels.ndim != 2:
        raise FoldError(f"y must be (n_samples, n_classes), found shape={labels.shape}")
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
        codes, uniques = pd.factorize(groups_arr if groups_arr.dtype.kind in "biufcUS" else
                                      pd.Series(groups_arr, dtype=object), sort=False)
    except TypeError as exc:  # pragma: no cover - unhashable groups
        raise FoldError(f"groups must be hashable labels: {exc}") from exc
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise FoldError(f"groups has a missing value at sample {i}: every sample needs a group")
    if len(uniques) < n_splits:
        raise FoldError(
            f"Cannot have number of splits n_splits={n_splits} greater than the number of groups: "
            f"{len(uniques)} (each fold needs at least one group; lower n_splits)"
        )
    return labels, codes.astype(np.int64)


def _caller_level() -> int:
    """The ``stacklevel`` that makes a warning issued by this function's caller name the first
    frame outside this module (the user's line, whether through ``split`` or ``fold_labels``)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
        level += 1
    return level


def _class_labels(y: NDArray[Any], n_splits: int) -> NDArray[np.float64]:
    """1-D ``y``: one binary label (values 0/1) or class labels, one-hot encoded."""
    if y.dtype.kind == "f":
        finite = np.isfinite(y)
        plain = np.where(finite, y, 0.0)
        bad = ~finite | (plain != np.round(plain))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise FoldError(
                f"y must hold class labels or 0/1 values: found {y[i].item()!r} at sample {i} "
                "(continuous targets cannot be stratified)"
            )
    try:
        values, inverse, members = np.unique(y, return_inverse=True, return_counts=True)
    except TypeError as exc:
        raise FoldError(f"y must hold sortable class labels, found dtype={y.dtype}: {exc}") from exc
    if np.all(members < n_splits):
        raise FoldError(
            f"n_splits={n_splits} cannot be greater than the number of members in each class "
            f"(largest class: {int(members.max())} samples)"
        )
    if members.min() < n_splits:
        warnings.warn(
            f"The least populated class in y has only {int(members.min())} members, "
            f"which is less than n_splits={n_splits}.",
            UserWarning,
            stacklevel=_caller_level(),
        )
    if y.dtype.kind in "biuf" and set(values.tolist()) <= {0, 1}:
        return y.astype(np.float64).reshape(-1, 1)
    return np.eye(len(values))[inverse.reshape(-1)]


# --------------------------------------------------------------------------
# the partition
# --------------------------------------------------------------------------


def _partition(
    counts: NDArray[np.float64],
    sizes: NDArray[np.float64],
    n_splits: int,
    rng: np.random.RandomState | None,
    max_passes: int,
    n_init: int,
) -> NDArray[np.int64]:
    """Assign each group (positives per class ``counts``, ``sizes``) to a fold.

    Runs the greedy rounds ``n_init`` times (vectorised over the runs), improves
    each run by local search and keeps the partition of lowest cost.
    """
    X, target = _embed(counts, sizes, n_splits)
    s_max = float(sizes.max())
    orders = _orders(X, sizes, n_init, rng)
    folds, D, n = _greedy(X, sizes, orders, n_splits, target, s_max)
    sq = np.einsum("gd,gd->g", X, X)
    tol = 1e-9 * (1.0 + float(sq.max()))
    _improve(X, sq, sizes, folds, D, n, s_max, max_passes, tol)
    cost = np.einsum("rkd,rkd->r", D, D)
    return folds[int(np.argmin(cost))]  # the first of equal costs


def _embed(counts: NDArray[np.float64], sizes: NDArray[np.float64], n_splits: int):
    """The group vectors ``x_g`` (rows) and the ideal fold size (see the module docstring)."""
    n_total = sizes.sum()
    rate = counts.sum(axis=0) / n_total
    informative = (rate > 0) & (rate < 1)
    r = rate[informative]
    X = np.empty((counts.shape[0], int(informative.sum()) + 1))
    X[:, :-1] = (counts[:, informative] - sizes[:, None] * r) / np.sqrt(r * (1.0 - r))
    X[:, -1] = sizes
    return X, n_total / n_splits


def _orders(X: NDArray[np.float64], sizes: NDArray[np.float64], n_init: int, rng) -> NDArray[np.int64]:
    """``(n_init, n_groups)`` visiting orders: largest first, then larger ``|x|``, with noise after the first."""
    n_groups = sizes.size
    spread = np.einsum("gd,gd->g", X[:, :-1], X[:, :-1])
    # restarts draw from the user's generator, or from a fixed one without shuffling
    noise_rng = rng if rng is not None else np.random.RandomState(0)
    orders = np.empty((max(1, n_init), n_groups), np.int64)
    for r in range(orders.shape[0]):
        if r == 0 and rng is None:
            orders[r] = np.lexsort((-spread, -sizes))
            continue
        first = noise_rng.permutation(n_groups)  # random order among exact ties
        key_size = sizes[first] if r == 0 else sizes[first] * noise_rng.uniform(0.5, 1.5, n_groups)
        key_spread = spread[first] * noise_rng.uniform(0.5, 1.5, n_groups)
        orders[r] = first[np.lexsort((-key_spread, -key_size))]
    return orders


def _greedy(X, sizes, orders, n_splits, target, s_max):
    """Place the groups of every run in its order; return folds (R, G), D (R, K, d), n (R, K)."""
    n_runs, n_groups = orders.shape
    D = np.zeros((n_runs, n_splits, X.shape[1]))
    D[:, :, -1] = -target
    n = np.zeros((n_runs, n_splits))
    folds = np.empty((n_runs, n_groups), np.int64)
    runs = np.arange(n_runs)[:, None]
    uniform = bool(sizes.min() == sizes.max())
    if n_splits > _ROUND_MAX_SPLITS:
        used = np.zeros((n_runs, n_splits), np.int64)
        for i in range(n_groups):
            g = orders[:, i]
            x = X[g]
            score = np.einsum("rkd,rd->rk", D, x)
            # sizes: a fold may grow only up to the smallest one plus the largest group
            score[n + sizes[g][:, None] > n.min(axis=1, keepdims=True) + s_max] = np.inf
            score[(used == 0).any(axis=1)[:, None] & (used > 0)] = np.inf  # empty folds first
            k = score.argmin(axis=1)
            D[runs[:, 0], k] += x
            n[runs[:, 0], k] += sizes[g]
            used[runs[:, 0], k] += 1
            folds[runs[:, 0], g] = k
        return folds, D, n
    perms = np.array(list(itertools.permutations(range(n_splits))))  # perms[p, i]: fold of the i-th group
    inverse = np.argsort(perms, axis=1)  # inverse[p, k]: which group fold k receives
    # cost of assignment p = sum_i score[i, perms[p, i]] = score.ravel() @ pick[:, p]
    pick = np.zeros((n_splits * n_splits, len(perms)))
    pick[(np.arange(n_splits) * n_splits + perms).ravel(), np.repeat(np.arange(len(perms)), n_splits)] = 1.0
    Dt = D.transpose(0, 2, 1)
    D_rows = D.reshape(n_runs * n_splits, -1)  # views: row r * K + k is fold k of run r
    n_rows = n.reshape(-1)
    base = (np.arange(n_runs) * n_splits)[:, None]
    placed = np.empty((n_runs, n_groups), np.int64)  # placed[r, i]: fold of the i-th group visited
    block = n_splits * 512
    for first in range(0, n_groups, block):
        Xo = X[orders[:, first:first + block]]  # (R, block, d), one gather per block
        So = None if uniform else sizes[orders[:, first:first + block]]
        for start in range(0, Xo.shape[1], n_splits):
            x = Xo[:, start:start + n_splits]
            m = x.shape[1]
            if m == n_splits:
                score = np.matmul(x, Dt)  # score[r, i, k] = <x_i, D_k>
            else:  # the last round: missing groups cost nothing
                score = np.zeros((n_runs, n_splits, n_splits))
                score[:, :m] = np.matmul(x, Dt)
            total = score.reshape(n_runs, -1) @ pick  # (R, n_perms)
            if So is not None:
                s = np.zeros((n_runs, n_splits))
                s[:, :m] = So[:, start:start + m]
                # every assignment keeps the sizes within s_max unless the round's sizes differ enough
                if ((n.max(axis=1) - n.min(axis=1)) + (s.max(axis=1) - s.min(axis=1)) > s_max).any():
                    grown = n[:, None, :] + s[:, inverse]
                    total[grown.max(axis=2) - grown.min(axis=2) > s_max] = np.inf
            k = np.take(perms, total.argmin(axis=1), axis=0)[:, :m]
            rows = (base + k).ravel()
            D_rows[rows] += x.reshape(-1, x.shape[2])
            if So is not None:
                n_rows[rows] += s[:, :m].ravel()
            placed[:, first + start:first + start + m] = k
    folds[runs, orders] = placed
    if uniform:
        n[:] = [np.bincount(f, minlength=n_splits) * sizes[0] for f in folds]
    return folds, D, n


def _improve(X, sq, sizes, folds, D, n, s_max, max_passes, tol) -> None:
    """Moves and swaps of groups between folds while they lower the cost (in place, all runs).

    Each pass scores, for all runs and all pairs of folds (a, b) at once,
    every move and the swaps between the most promising groups. In units of
    (N/K)/2 times the cost, moving g from a to b changes it by ``m_a(g) =
    |x_g|^2 - <E, x_g>`` with ``E = D_a - D_b``, moving h from b to a by
    ``m_b(h) = |x_h|^2 + <E, x_h>``, and swapping them by ``m_a(g) + m_b(h) -
    2 <x_g, x_h>``: one batched product ``[-2 x_g, m_a(g), 1] . [x_h, 1,
    m_b(h)]`` scores the swaps between the ``_SWAP_CANDIDATES`` members of
    lowest ``m`` of each fold. The improving steps are then applied best
    first, each only if it still lowers the cost exactly (``d . (D_a - D_b)
    + |d|^2 < 0`` when fold a's vector changes by ``d``), keeps every fold
    non-empty and the sizes within ``s_max``. A run stops after a pass that
    applies nothing to it.
    """
    n_runs, n_groups = folds.shape
    n_splits, width = D.shape[1:]
    A, B = np.triu_indices(n_splits, 1)
    n_pairs = A.size
    uniform = bool(sizes.min() == sizes.max())
    members = np.stack([np.bincount(f, minlength=n_splits) for f in folds])
    active = np.arange(n_runs)
    for _ in range(max_passes):
        n_act = active.size
        # members of each (run, fold) as rows of an (R, K, M) block; padding scores +inf
        count = members[active].ravel()
        width_m = int(count.max())
        key = (np.arange(n_act)[:, None] * n_splits + folds[active]).ravel()
        order = np.argsort(key, kind="stable")
        slot = key[order] * width_m + (np.arange(key.size) - np.repeat(np.cumsum(count) - count, count))
        idx = np.zeros(n_act * n_splits * width_m, np.int64)
        idx[slot] = order % n_groups
        pad = np.ones(idx.size, bool)
        pad[slot] = False
        Xf = X[idx]
        Xf[pad] = 0.0
        sqf = np.where(pad, np.inf, sq[idx]).reshape(n_act, n_splits, width_m)
        Dact = D[active]
        # Q[r, j, k, i] = <D_j, x of member i of fold k>
        Q = np.matmul(Dact, Xf.reshape(n_act, -1, width).transpose(0, 2, 1))
        Q = Q.reshape(n_act, n_splits, n_splits, width_m)
        own = sqf - Q[:, np.arange(n_splits), np.arange(n_splits)]  # |x|^2 - <x, D of its fold>
        ma = own[:, A] + Q[:, B, A]  # (R, P, M)
        mb = own[:, B] + Q[:, A, B]
        idx = idx.reshape(n_act, n_splits, width_m)
        sf = sizes[idx]
        lo, hi = _size_windows(n[active], A, B, s_max)
        lo, hi = lo[..., None], hi[..., None]  # (R, P, 1)
        steps = []
        # single moves: the best of each run, pair and direction
        for m, src, change in ((ma, A, -sf[:, A]), (mb, B, sf[:, B])):
            ok = (members[active][:, src] > 1)[..., None] & (change >= lo) & (change <= hi)
            if ok.any():
                m = np.where(ok, m, np.inf)
                best = m.argmin(axis=2)
                value = np.take_along_axis(m, best[..., None], axis=2)[..., 0]
                for r, p in zip(*np.nonzero(value < -tol)):
                    g = int(idx[r, src[p], best[r, p]])
                    move = (g, -1) if src is A else (-1, g)
                    steps.append((float(value[r, p]), int(active[r]), int(A[p]), int(B[p])) + move)
        # swaps between the candidates of each run and pair
        cand = min(_SWAP_CANDIDATES, width_m)
        if cand < width_m:
            ca = np.argpartition(ma, cand - 1, axis=2)[..., :cand]
            cb = np.argpartition(mb, cand - 1, axis=2)[..., :cand]
        else:
            ca = cb = np.broadcast_to(np.arange(cand), (n_act, n_pairs, cand))
        runs = np.arange(n_act)[:, None, None]
        ra = ((runs * n_splits + A[:, None]) * width_m + ca).ravel()  # flat rows of the candidates
        rb = ((runs * n_splits + B[:, None]) * width_m + cb).ravel()
        left = np.empty((ra.size, width + 2))
        np.multiply(Xf[ra], -2.0, out=left[:, :-2])
        left[:, -2] = np.take_along_axis(ma, ca, axis=2).ravel()
        left[:, -1] = 1.0
        right = np.empty((rb.size, width + 2))
        right[:, :-2] = Xf[rb]
        right[:, -2] = 1.0
        right[:, -1] = np.take_along_axis(mb, cb, axis=2).ravel()
        shape = (n_act * n_pairs, cand, width + 2)
        gain = np.matmul(left.reshape(shape), right.reshape(shape).transpose(0, 2, 1))
        if not uniform:
            change = sizes[idx.ravel()[rb]].reshape(-1, 1, cand) - sizes[idx.ravel()[ra]].reshape(-1, cand, 1)
            low, high = lo.reshape(-1, 1, 1), hi.reshape(-1, 1, 1)
            gain[(change < low) | (change > high)] = np.inf
        gain = gain.reshape(n_act * n_pairs, -1)
        q, t = np.nonzero(gain < -tol)
        if q.size > _SWAPS_PER_SEARCH * gain.shape[0]:  # many: the best few of each run and pair
            best = np.argpartition(gain, _SWAPS_PER_SEARCH - 1, axis=1)[:, :_SWAPS_PER_SEARCH]
            q, t = np.nonzero(np.take_along_axis(gain, best, axis=1) < -tol)
            t = best[q, t]
        i, j = np.divmod(t, cand)
        r, p = np.divmod(q, n_pairs)
        g = idx[r, A[p], ca[r, p, i]]
        h = idx[r, B[p], cb[r, p, j]]
        steps += zip(gain[q, t].tolist(), active[r].tolist(), A[p].tolist(), B[p].tolist(), g.tolist(), h.tolist())
        changed = set()
        for _, r, a, b, g, h in sorted(steps):
            fold, Dr, nr, mr = folds[r], D[r], n[r], members[r]
            # g leaves a for b, h leaves b for a (-1: nobody); still valid and still improving?
            if (g >= 0 and fold[g] != a) or (h >= 0 and fold[h] != b):
                continue
            if mr[a] + (h >= 0) - (g >= 0) < 1 or mr[b] + (g >= 0) - (h >= 0) < 1:
                continue
            d = (X[h] if h >= 0 else 0.0) - (X[g] if g >= 0 else 0.0)
            if not float(d @ (Dr[a] - Dr[b]) + d @ d) < -tol:
                continue
            if not uniform or g < 0 or h < 0:
                low, high = _size_window(nr, a, b, s_max)
                if not low <= d[-1] <= high:
                    continue
            if g >= 0:
                fold[g] = b
            if h >= 0:
                fold[h] = a
            mr[a] += (h >= 0) - (g >= 0)
            mr[b] += (g >= 0) - (h >= 0)
            Dr[a] += d
            Dr[b] -= d
            nr[a] += d[-1]
            nr[b] -= d[-1]
            changed.add(r)
        if not changed:
            return
        active = np.array(sorted(changed))


def _size_windows(n, A, B, s_max: float):
    """:func:`_size_window` of every run (rows of ``n``) and pair ``(A[p], B[p])``: two (R, P) arrays."""
    others = np.ones((A.size, n.shape[1]), bool)
    others[np.arange(A.size), A] = False
    others[np.arange(A.size), B] = False
    o_min = np.where(others, n[:, None, :], np.inf).min(axis=2)
    o_max = np.where(others, n[:, None, :], -np.inf).max(axis=2)
    na, nb = n[:, A], n[:, B]
    with np.errstate(invalid="ignore"):
        lo = np.maximum.reduce([(nb - na - s_max) / 2, o_max - s_max - na, nb - s_max - o_min])
        hi = np.minimum.reduce([(s_max - na + nb) / 2, s_max + o_min - na, nb - o_max + s_max])
    return lo - 1e-9, hi + 1e-9


def _size_window(n, a: int, b: int, s_max: float) -> tuple[float, float]:
    """The changes ``t`` of fold a's size (fold b: ``-t``) that keep all sizes within ``s_max``."""
    n = n.tolist()
    lo = (n[b] - n[a] - s_max) / 2
    hi = (s_max - n[a] + n[b]) / 2
    others = [v for k, v in enumerate(n) if k != a and k != b]
    if others:
        o_min, o_max = min(others), max(others)
        lo = max(lo, o_max - s_max - n[a], n[b] - s_max - o_min)
        hi = min(hi, s_max + o_min - n[a], n[b] - o_max + s_max)
    return lo - 1e-9, hi + 1e-9


# --------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------


def positive_matrix(table: pd.DataFrame, classes: Sequence[str] = CLASSES) -> NDArray[np.uint8]:
    """Which class RLEs are non-empty: an ``(n_images, n_classes)`` 0/1 matrix.

    Cells follow the codec's one empty-cell rule (``None``, ``""``, NaN,
    ``pd.NA`` and ``pd.NaT`` are empty; anything but a string is an error);
    blank strings count as empty.

    Raises
    ------
    FoldError
        A class column is missing.
    InvalidRleError
        A cell is neither a string nor an empty value (``item`` is its row).

    Examples
    --------
    >>> t = pd.DataFrame({"a": ["1 2", "", None], "b": [float("nan"), " ", "3 1"]})
    >>> positive_matrix(t, ["a", "b"]).tolist()
    [[1, 0], [0, 0], [0, 1]]
    """
    from rlemask._convert import rle_texts

    missing = [c for c in classes if c not in table.columns]
    if missing:
        raise FoldError(
            f"table has no column(s) {missing} (columns: {list(table.columns)}): "
            "expected one RLE column per class"
        )
    out = np.zeros((len(table), len(classes)), np.uint8)
    for j, c in enumerate(classes):
        text = pd.Series(rle_texts(table[c], name=str(c), item_name="column {name!r} row {i}"), dtype=object)
        out[:, j] = (text.str.strip().str.len() > 0).to_numpy()
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
