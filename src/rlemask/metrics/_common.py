"""What every metric shares: the ``empty`` convention, mask conversion, threads, ratios."""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal, TypeVar, Union

import numpy as np

from rlemask import _convert as _cv
from rlemask import _tier
from rlemask.errors import InvalidMaskError, RlemaskError

Empty = Union[float, Literal["skip"]]

F = TypeVar("F", bound=Callable[..., Any])


def _renamed(**old_to_new: str) -> Callable[[F], F]:
    """Accept the keyword names of a (prediction, truth) pair from before 0.2.

    The pair is ``truth, pred`` now (scikit-learn's ``y_true, y_pred``). A
    caller that still passes the old keyword names gets the right pairing and
    a ``FutureWarning``; positional callers of symmetric metrics get the same
    value either way.
    """

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            old = [k for k in old_to_new if k in kwargs]
            if old:
                for k in old:
                    new = old_to_new[k]
                    if new in kwargs:
                        raise TypeError(f"{func.__name__}() got both {k}= (the old name) and {new}=")
                    kwargs[new] = kwargs.pop(k)
                warnings.warn(
                    f"{func.__name__}(): the keyword(s) {', '.join(old)} are renamed to "
                    f"{', '.join(old_to_new[k] for k in old)} (truth first, prediction second); "
                    "the old names will stop working in a later release",
                    FutureWarning,
                    stacklevel=2,
                )
            return func(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def _binary(x: Any, name: str, *, check_uint8: bool = True) -> np.ndarray:
    """C-contiguous uint8 0/1 array with the shape of ``x`` (:func:`rlemask._convert.as_binary`).

    uint8 arrays are only checked when ``check_uint8`` (the counting kernel
    checks them otherwise).
    """
    a = _cv.as_binary(x, name, check_uint8=check_uint8, hint=f"; threshold probabilities first, e.g. {name} > 0.5")
    return np.ascontiguousarray(a)


def _first_bad(arr: np.ndarray, bad: np.ndarray, name: str) -> InvalidMaskError:
    return _cv.first_bad(arr, bad, name, f"; threshold probabilities first, e.g. {name} > 0.5")


def _pair(truth: Any, pred: Any, *, names: tuple[str, str] = ("truth", "pred")) -> tuple[np.ndarray, np.ndarray]:
    """Both masks as C-contiguous uint8 of one shape with at least 2 dimensions."""
    t = _binary(truth, names[0], check_uint8=False)
    p = _binary(pred, names[1], check_uint8=False)
    if t.shape != p.shape:
        raise InvalidMaskError(
            f"{names[0]} has shape={t.shape} but {names[1]} has shape={p.shape}; "
            "expected equal shapes (..., H, W)"
        )
    if t.ndim < 2:
        raise InvalidMaskError(
            f"{names[0]} and {names[1]} have shape={t.shape}; expected at least 2 dimensions (..., H, W)"
        )
    return t, p


def _empty_value(empty: Any) -> float:
    """1.0, 0.0 or NaN for the ``empty`` keyword; anything else raises."""
    if isinstance(empty, str):
        if empty == "skip":
            return math.nan
    elif not isinstance(empty, bool) and isinstance(empty, (int, float, np.integer, np.floating)):
        if empty == 1:
            return 1.0
        if empty == 0:
            return 0.0
    raise RlemaskError(
        f"empty={empty!r} is not a valid empty-mask convention; "
        "expected 1.0 (two empty masks score 1), 0.0 (they score 0) or 'skip' (NaN, left out of means)"
    )


# Below this many bytes of input a kernel runs on the calling thread only: waking
# the thread pool costs more than it saves, and on a busy machine a parallel
# region can wait milliseconds for a descheduled worker.
_SERIAL_BYTES = 1 << 21


def _threads_for(nbytes: int) -> AbstractContextManager[None]:
    """Run the numba kernels inside on one thread (their serial builds) when the input is small."""
    return _tier.serial(nbytes < _SERIAL_BYTES)


def _words(flat: np.ndarray) -> np.ndarray:
    """uint64 view of the whole 8-byte words of a contiguous uint8 array (empty if unaligned)."""
    n = flat.size // 8
    if n == 0 or flat.ctypes.data % 8:
        return np.zeros(0, np.uint64)
    return flat[: 8 * n].view(np.uint64)


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    out = np.empty(np.shape(num), np.float64)
    nz = den != 0
    np.divide(num, den, out=out, where=nz)
    out[~nz] = empty
    return out


def _name_some(ids: Sequence[str], limit: int = 5) -> str:
    ids = list(ids)
    shown = ", ".join(repr(str(i)) for i in ids[:limit])
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return shown + more


def _nanmean(x: Any) -> float:
    """Mean of the non-NaN values; NaN when there are none (no warning)."""
    x = np.asarray(x, np.float64).reshape(-1)
    finite = ~np.isnan(x)
    return float(x[finite].mean()) if finite.any() else math.nan


