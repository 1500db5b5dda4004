"""One conversion of user input, with one error wording, for every public function.

* :func:`as_array`: anything array-like -> a base-class ``numpy.ndarray``.
  Tensors are duck-typed (``.detach().cpu()``, then ``numpy``; a dtype numpy
  lacks, such as ``torch.bfloat16``, goes through ``.float()``, exact for 0/1
  values); torch is never imported. ndarray subclasses (``np.matrix``, masked
  arrays) are read as their plain data. (``out=`` arrays are another matter:
  :mod:`rlemask.rle` refuses subclasses there, since it writes through them.)
* :func:`as_binary`: a 0/1 mask as ``uint8`` (``bool`` viewed, not copied).
  Values other than 0 and 1 raise :class:`~rlemask.errors.InvalidMaskError`
  worded by :func:`bad_value`: ``"mask[1, 0] = 2; expected only 0 and 1 ..."``.
* :func:`rle_text` / :func:`rle_texts`: the one empty-cell rule. A run-length
  cell is a ``str`` (``bytes`` are read as ASCII); ``None``, ``""``, NaN,
  ``pd.NA`` and ``pd.NaT`` are an empty mask; anything else (an int, a list)
  is an error, never silently empty.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rlemask.errors import InvalidMaskError, InvalidRleError

__all__ = [
    "as_array",
    "as_binary",
    "bad_value",
    "first_bad",
    "is_empty_cell",
    "rle_text",
    "rle_texts",
]

#: the values a mask may hold, as every message says it
_EXPECTED = "expected only 0 and 1 (bool, integers or floats 0.0/1.0)"


# ----------------------------------------------------------------------------------
# arrays
# ----------------------------------------------------------------------------------


def _is_tensor(x: Any) -> bool:
    return not isinstance(x, np.ndarray) and callable(getattr(x, "detach", None)) and callable(getattr(x, "cpu", None))


def as_array(x: Any, name: str = "mask") -> np.ndarray:
    """``x`` as a base-class ndarray (tensors, lists, subclasses' data).

    Raises
    ------
    InvalidMaskError
        ``x`` cannot be read as an array (a tensor dtype numpy lacks and no
        ``.float()``, a ragged list).
    """
    if type(x) is np.ndarray:
        return x
    if _is_tensor(x):
        t = x.detach().cpu()  # off the autograd graph and the GPU
        try:
            return np.asarray(t.numpy() if callable(getattr(t, "numpy", None)) else t)
        except (TypeError, RuntimeError) as exc:  # bfloat16: 0/1 are exact as float32
            if not callable(getattr(t, "float", None)):
                raise InvalidMaskError(
                    f"{name} cannot be read as an array: {exc}; expected a tensor or array of 0/1 values"
                ) from None
            try:
                f = t.float()
                return np.asarray(f.numpy() if callable(getattr(f, "numpy", None)) else f)
            except (TypeError, RuntimeError, ValueError) as exc2:
                raise InvalidMaskError(
                    f"{name} cannot be read as an array: {exc2}; expected a tensor or array of 0/1 values"
                ) from None
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InvalidMaskError(f"{name} cannot be read as an array: {exc}; expected an array of 0/1 values") from None
    return a if type(a) is np.ndarray else a.view(np.ndarray)


def bad_value(name: str, index: tuple[int, ...], value: Any, hint: str = "") -> InvalidMaskError:
    """The one wording of a mask value that is not 0 or 1: ``name[i, j] = v; expected ...``."""
    if isinstance(value, np.generic):
        value = value.item()
    where = ", ".join(str(int(i)) for i in index)
    return InvalidMaskError(f"{name}[{where}] = {value!r}; {_EXPECTED}{hint}")


def first_bad(arr: np.ndarray, bad: np.ndarray, name: str, hint: str = "") -> InvalidMaskError:
    """:func:`bad_value` for the first True of the boolean array ``bad`` (same shape as ``arr``)."""
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), arr.shape))
    return bad_value(name, index, arr[index], hint)


def _dtype_error(name: str, dtype: Any) -> InvalidMaskError:
    return InvalidMaskError(f"{name} has dtype={dtype}; expected 0/1 integers, floats or bool")


def as_binary(
    x: Any,
    name: str = "mask",
    *,
    ndim: int | tuple[int, ...] | None = None,
    dims: str = "",
    nonzero: bool = False,
    check_uint8: bool = True,
    hint: str = "",
) -> np.ndarray:
    """``x`` as a uint8 array of 0/1 values (any layout; ``bool`` is viewed, not copied).

    Parameters
    ----------
    ndim : int or tuple of int, optional
        Accepted numbers of dimensions; ``dims`` names them in the message,
        e.g. ``"(height, width)"``.
    nonzero : bool
        Any non-zero value is foreground (0/255 masks), and a trailing axis of
        size 1 (``(H, W, 1)``, as PNG masks come) is dropped when that gives
        ``ndim`` dimensions.
    check_uint8 : bool
        Check the values of a uint8 array here; False when a kernel checks them.
    hint : str
        Appended to a bad-value message (e.g. how to threshold).
    """
    a = as_array(x, name)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if nonzero and a.ndim == max(allowed) + 1 and a.ndim >= 1 and a.shape[-1] == 1:
            a = a[..., 0]
        if a.ndim not in allowed:
            want = " or ".join(f"{n}-D" for n in allowed)
            raise InvalidMaskError(f"{name} has shape={a.shape} ({a.ndim}-D); expected a {want} array {dims}".rstrip())
    dt = a.dtype
    if dt == np.bool_:
        return a.view(np.uint8)
    if dt.kind not in "iuf" and not (nonzero and dt.kind == "b"):
        raise _dtype_error(name, dt)
    if nonzero:
        if dt.kind == "f" and a.size and np.isnan(a).any():
            raise first_bad(a, np.isnan(a), name, "; NaN is neither background nor foreground")
        return (a != 0).view(np.uint8)
    if dt == np.uint8:
        if check_uint8 and a.size and a.max() > 1:
            raise first_bad(a, a > 1, name, hint)
        return a
    ok = (a == 0) | (a == 1)
    if not ok.all():
        raise first_bad(a, ~ok, name, hint)
    return a.astype(np.uint8)


# ----------------------------------------------------------------------------------
# run-length cells
# ----------------------------------------------------------------------------------


def is_empty_cell(x: Any) -> bool:
    """True for the values that stand for an empty mask besides ``""``: None, NaN, pd.NA, pd.NaT."""
    if x is None:
        return True
    if isinstance(x, float):
        return math.isnan(x)
    if isinstance(x, np.floating):
        return bool(np.isnan(x))
    return type(x).__name__ in ("NAType", "NaTType")  # pandas' missing values, without importing pandas


def rle_text(x: Any, name: str = "rle", item: int | None = None) -> str:
    """A run-length cell as ``str``: ``""`` for an empty cell, ASCII-decoded bytes.

    Raises
    ------
    InvalidRleError
        Any other type (``item`` is set on the error).
    """
    if type(x) is str:
        return x
    if isinstance(x, str):
        return str(x)
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x).decode("latin-1")
    if is_empty_cell(x):
        return ""
    reason = (
        f"{x!r} of type {type(x).__name__} is not a run-length string; "
        "expected str (or None, NaN, pd.NA, pd.NaT for an empty mask)"
    )
    raise InvalidRleError(f"{name}: {reason}", item=item, reason=reason)


def rle_texts(values: Any, name: str = "rles", item_name: str = "{name}[{i}]") -> list[str]:
    """A sequence of run-length cells (list, pandas Series, object array) as a list of ``str``.

    The failing cell of a bad value is named by ``item_name`` (``rles[3]``)
    and ``item=i`` is set on the error.
    """
    if isinstance(values, (str, bytes)):
        raise InvalidRleError(
            f"{name} is a single {type(values).__name__}; expected a sequence of run-length strings "
            "(use decode() for one string)"
        )
    if type(values) is not list:
        to_list = getattr(values, "tolist", None)  # Series, ndarray: one C-level conversion
        values = to_list() if callable(to_list) else list(values)
    for x in values:
        if type(x) is not str:
            break
    else:
        return values
    return [rle_text(x, item_name.format(name=name, i=i), i) for i, x in enumerate(values)]
