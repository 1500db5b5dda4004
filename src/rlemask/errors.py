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
    """

    def __init__(
        self,
        message: str,
        *,
        token: int | None = None,
        run: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.token = token
        self.run = run
        self.offset = offset


class InvalidMaskError(RlemaskError):
    """A mask array has the wrong number of dimensions, dtype or values."""


class LayoutError(RlemaskError):
    """A data set does not follow the expected layout (ids, file names, tables)."""


class FoldError(RlemaskError):
    """A fold assignment is invalid (a group in two folds, too few groups, ...)."""
