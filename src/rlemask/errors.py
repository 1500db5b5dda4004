"""One family of exceptions for rlemask.

Every error is a :class:`ValueError`, so ``except ValueError`` keeps working.
Messages say what failed, where, what was found and what was expected.
"""

from __future__ import annotations

__all__ = [
    "RlemaskError",
    "InvalidRleError",
    "InvalidMaskError",
    "LayoutError",
    "FoldError",
]


class RlemaskError(ValueError):
    """Base class of every error raised by rlemask."""


class InvalidRleError(RlemaskError):
    """A run-length string (or a shape given with it) is malformed.

    Attributes
    ----------
    token : int or None
        0-based index of the offending whitespace-separated token, if known.
    run : int or None
        0-based index of the offending (start, length) pair, if known.
    offset : int or None
        0-based character offset in the string, or pixel offset, if known.
    item : int or None
        0-based index of the failing string in a batch (``decode_many``,
        ``stack``, ``dice_rle`` over lists, ...), if the call had one.
    reason : str
        The message without its location prefix (``"rles[3]: "``), for
        callers that name the item their own way (a table row, an id).
    """

    def __init__(
        self,
        message: str,
        *,
        token: int | None = None,
        run: int | None = None,
        offset: int | None = None,
        item: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.token = token
        self.run = run
        self.offset = offset
        self.item = item
        self.reason = message if reason is None else reason


class InvalidMaskError(RlemaskError):
    """A mask array has the wrong number of dimensions, dtype or values.

    Attributes
    ----------
    item : int or None
        0-based index of the failing mask in a batch (``encode_many``), if any.
    """

    def __init__(self, message: str, *, item: int | None = None) -> None:
        super().__init__(message)
        self.item = item


class LayoutError(RlemaskError):
    """A data set does not follow the expected layout (ids, file names, tables)."""


class FoldError(RlemaskError):
    """A fold assignment is invalid (a group in two folds, too few groups, ...)."""
