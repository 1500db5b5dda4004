"""Run-length dialects of Kaggle data sets, and conversion between them.

A dialect is four explicit choices; nothing here guesses them from a string
(a one-run relative string reads exactly like an absolute one):

=============  ==========================================================
``order``      ``"C"`` row by row or ``"F"`` column by column
``base``       index of the first pixel in a start: 1 (Kaggle's usual) or 0
``relative``   False: absolute starts; True: each start counted from the end
               of the previous run (SIIM-ACR pneumothorax)
``empty``      what an empty mask is written as besides ``""`` (``"-1"``)
=============  ==========================================================

Every codec function takes the same keywords: ``encode``, ``decode``,
``encode_many``, ``decode_many`` and ``area`` accept ``order=``, ``base=``,
``relative=`` and ``empty_token=``; ``**DIALECTS[name].options()`` passes a
preset.

>>> from rlemask.dialects import DIALECTS, convert
>>> convert("2 3 6 1", (2, 3), source="uwmgi", target="siim")  # [[0, 1, 1], [1, 0, 1]]
'1 2 1 2'
>>> convert("1 2 1 2", (2, 3), source="siim", target="uwmgi")
'2 3 6 1'
>>> convert("2 3", source="uwmgi", target=Dialect(base=0))  # same order: no shape needed
'1 3'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from rlemask import _convert as _cv
from rlemask import rle as _rle
from rlemask.errors import RlemaskError

__all__ = ["Dialect", "DIALECTS", "convert"]


@dataclass(frozen=True)
class Dialect:
    """One run-length dialect: pixel order, index base, relative starts, the empty token.

    Examples
    --------
    >>> Dialect(order="F", base=0).options()
    {'order': 'F', 'base': 0, 'relative': False, 'empty_token': None}
    """

    order: str = "C"
    base: int = 1
    relative: bool = False
    empty_token: str | None = None

    def __post_init__(self) -> None:
        _rle._check_order(self.order)
        _rle._check_dialect(self.base, self.relative, self.empty_token)

    def options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`rlemask.encode` / :func:`rlemask.decode` for this dialect."""
        return asdict(self)


#: Dialects of well-known Kaggle competitions (and the library's default, "rlemask").
DIALECTS: dict[str, Dialect] = {
    "rlemask": Dialect(),
    "uwmgi": Dialect(order="C"),  # UW-Madison GI Tract: row by row
    "sartorius": Dialect(order="C"),  # Sartorius cell instance segmentation
    "airbus": Dialect(order="F"),  # Airbus ship detection: column by column
    "severstal": Dialect(order="F"),  # Severstal steel defect detection
    "hubmap": Dialect(order="F"),  # HuBMAP hacking the kidney
    "siim": Dialect(order="F", base=0, relative=True, empty_token="-1"),  # SIIM-ACR pneumothorax
}


def _dialect(value: Any, name: str) -> Dialect:
    if isinstance(value, Dialect):
        return value
    if isinstance(value, str):
        if value in DIALECTS:
            return DIALECTS[value]
        raise RlemaskError(f"{name}={value!r} is not a known dialect; expected one of {sorted(DIALECTS)} or a Dialect")
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"order", "base", "relative", "empty_token"})
        if unknown:
            raise RlemaskError(f"{name} has unknown key(s) {unknown}; expected order, base, relative, empty_token")
        return Dialect(**value)
    raise RlemaskError(
        f"{name}={value!r} is not a dialect; expected a name ({', '.join(sorted(DIALECTS))}), a Dialect or a dict"
    )


def convert(
    rle: str | None,
    shape: tuple[int, int] | None = None,
    *,
    source: str | Dialect | Mapping[str, Any],
    target: str | Dialect | Mapping[str, Any],
    strict: bool = True,
) -> str:
    """Rewrite a run-length string from one dialect into another.

    Parameters
    ----------
    rle : str or None
        A string of the ``source`` dialect; empty cells (None, NaN, ``""``, the
        source's ``empty_token``) give an empty mask in the target.
    shape : (height, width), optional
        Needed when the pixel orders differ or ``strict=False``; when given,
        runs are also checked against it.
    source, target : str, Dialect or dict
        A name of :data:`DIALECTS` (``"uwmgi"``, ``"siim"``, ...), a
        :class:`Dialect`, or a dict of its fields.
    strict : bool, keyword-only
        True (default): runs must be sorted and non-overlapping. False: their
        union is taken (needs ``shape``).

    Returns
    -------
    str

    Raises
    ------
    InvalidRleError
        The string is malformed in the source dialect.
    RlemaskError
        An unknown dialect, or no ``shape`` where one is needed.

    Examples
    --------
    >>> convert("-1", source="siim", target="uwmgi")
    ''
    >>> convert("", source="uwmgi", target="siim")
    '-1'
    >>> convert("1 2", (2, 2), source="airbus", target="uwmgi")
    '1 1 3 1'
    """
    src = _dialect(source, "source")
    dst = _dialect(target, "target")
    text = _cv.rle_text(rle)
    if not text or _rle._is_empty_token(text, src.empty_token):  # empty in any order: no shape needed
        return "" if dst.empty_token is None else dst.empty_token
    if shape is None and (src.order != dst.order or not strict):
        raise RlemaskError(
            f"convert from order={src.order!r} to order={dst.order!r}"
            + ("" if strict else " with strict=False")
            + " needs shape=(height, width)"
        )
    if shape is not None and (src.order != dst.order or not strict):
        mask = _rle.decode(text, shape, strict=strict, **src.options())
        return _rle.encode(mask, **dst.options())
    h_w = None if shape is None else _rle._check_shape(shape)
    n = None if h_w is None else h_w[0] * h_w[1]
    pairs = _rle._dialect_pairs(text, n, h_w, src.base, src.relative, True, "rle")
    return _rle._dialect_text(pairs[0::2], pairs[1::2], dst.base, dst.relative, dst.empty_token)
