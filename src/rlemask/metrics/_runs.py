"""Dice straight from run-length strings, no masks built: the public wrapper (old keyword names) of :func:`rlemask.overlap.dice_rle`."""

from __future__ import annotations

from rlemask.metrics._common import Empty, _renamed

__all__ = ["dice_rle"]


@_renamed(truth_rle="truth", pred_rle="pred")
def dice_rle(
    truth: str | None,
    pred: str | None,
    shape: tuple[int, int],
    *,
    empty: Empty = 1.0,
    strict: bool = True,
) -> float:
    """Dice of two masks given as Kaggle run-length strings, without building the masks.

    Both strings are parsed and intersected in one compiled call
    (:func:`rlemask.overlap.dice_rle`), so the cost is proportional to the
    number of runs, not pixels.
    ``dice_rle(t, p, shape) == float(dice(decode(t, shape), decode(p, shape)))``.

    Parameters
    ----------
    truth, pred : str, bytes or None
        Ground truth and prediction: "start length" pairs, starts 1-based, as
        :func:`rlemask.decode` reads them; ``None``, ``""``, NaN, ``pd.NA``
        and ``pd.NaT`` are empty masks. (Before 0.2 the parameters were
        ``pred_rle, truth_rle``; those keywords still work, with a
        ``FutureWarning``, and the value is symmetric.)
    shape : (int, int)
        ``(height, width)`` of both masks (the pixel count bounds the runs).
    empty : {1.0, 0.0, "skip"}, keyword-only
        Score of two empty masks, as in :func:`dice`.
    strict : bool, keyword-only
        ``True`` (default) rejects runs that are unsorted or overlap; ``False``
        scores the union of the runs.

    Returns
    -------
    float

    Raises
    ------
    InvalidRleError
        Exactly where :func:`rlemask.decode` raises, with its messages (the
        string is parsed by the codec): odd token count, a token that is not
        an ASCII decimal integer, start 0, a run past ``height * width``,
        unsorted/overlapping runs when strict, or a bad ``shape``.

    Examples
    --------
    >>> dice_rle("1 4", "3 4", (4, 4))
    0.5
    >>> dice_rle("", None, (4, 4)), dice_rle("", None, (4, 4), empty="skip")
    (1.0, nan)
    """
    from rlemask.overlap import dice_rle as one_kernel_call

    return one_kernel_call(truth, pred, shape, empty=empty, strict=strict)
