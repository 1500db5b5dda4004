

# =============================================================================
# metrics (owner: metrics engineer): pairs of binary masks of equal shape
# =============================================================================

from hypothesis import strategies as _metric_st  # noqa: E402
from hypothesis.extra import numpy as _metric_hnp  # noqa: E402


@_metric_st.composite
def metric_mask_pairs(draw, min_dims=2, max_dims=3, max_side=9, dtype=bool):
    """Two binary masks of one shape (each side 0..max_side), sparse or dense."""
    shape = draw(
        _metric_hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side)
    )
    elements = _metric_st.booleans()
    a = draw(_metric_hnp.arrays(bool, shape, elements=elements))
    b = draw(_metric_hnp.arrays(bool, shape, elements=elements))
    return a.astype(dtype), b.astype(dtype)


# =============================================================================
# masks (owner: layout/masks/folds engineer): multi-channel 0/1 masks
# =============================================================================

import hypothesis.extra.numpy as _masks_hnp  # noqa: E402
import hypothesis.strategies as _masks_st  # noqa: E402


@_masks_st.composite
def masks_multichannel(draw, max_side=12, channels=3, min_side=0):
    """An ``(H, W, C)`` uint8 0/1 mask, sparse, dense or blocky."""
    import numpy as np

    h = draw(_masks_st.integers(min_side, max_side))
    w = draw(_masks_st.integers(min_side, max_side))
    kind = draw(_masks_st.sampled_from(["random", "zeros", "ones", "bands"]))
    if kind == "zeros":
        return np.zeros((h, w, channels), np.uint8)
    if kind == "ones":
        return np.ones((h, w, channels), np.uint8)
    a = draw(_masks_hnp.arrays(np.uint8, (h, w, channels), elements=_masks_st.integers(0, 1)))
    if kind == "bands" and h:
        a[: h // 2] = 1
    return a


# =============================================================================
# RLE codec (owner: codec engineer): masks of every layout, and run-length
# strings the encoder would never write
# =============================================================================

import numpy as _rle_np  # noqa: E402
from hypothesis import strategies as _rle_st  # noqa: E402

#: separators between tokens: valid ASCII whitespace, repeated, and a few
#: characters that look like whitespace but are not accepted (\x1c, NBSP)
RLE_SEPARATORS = (" ", "  ", "\t", "\n", " \r\n", "\x0b", "\x0c", "\x1c", "\u00a0", ",")

#: tokens that are not ASCII decimal integers
RLE_JUNK_TOKENS = ("-1", "+3", "1.5", "1e3", "a", "0x10", "\u0661", "\uff11", "nan", "-0", "٣")


@_rle_st.composite
def rle_masks(draw, max_side=12, dtypes=("uint8", "bool", "int64", "float32")):
    """A 2-D 0/1 mask in a random layout and dtype.

    Shapes include 0-sized, 1xN and Nx1; contents include all-zeros, all-ones,
    sparse, dense and one rectangular blob; layouts are C-contiguous,
    F-contiguous, strided views ([::2, ::3] of a bigger array), reversed views
    and views at an odd byte offset (so 64-bit reads are unaligned).
    """
    h = draw(_rle_st.integers(0, max_side))
    w = draw(_rle_st.integers(0, max_side))
    if draw(_rle_st.booleans()):
        h, w = draw(_rle_st.sampled_from([(1, w), (h, 1), (h, w)]))
    seed = draw(_rle_st.integers(0, 2**32 - 1))
    rng = _rle_np.random.default_rng(seed)
    content = draw(_rle_st.sampled_from(["zeros", "ones", "sparse", "dense", "half", "blob"]))
    if content == "zeros":
        m = _rle_np.zeros((h, w), _rle_np.uint8)
    elif content == "ones":
        m = _rle_np.ones((h, w), _rle_np.uint8)
    elif content == "blob":
        m = _rle_np.zeros((h, w), _rle_np.uint8)
        if h and w:
            r0, c0 = rng.integers(0, h), rng.integers(0, w)
            m[r0 : r0 + rng.integers(1, h + 1), c0 : c0 + rng.integers(1, w + 1)] = 1
    else:
        p = {"sparse": 0.05, "dense": 0.95, "half": 0.5}[content]
        m = (rng.random((h, w)) < p).astype(_rle_np.uint8)
    dtype = draw(_rle_st.sampled_from(dtypes))
    m = m.astype(dtype)
    layout = draw(_rle_st.sampled_from(["C", "F", "strided", "reversed", "unaligned"]))
    if layout == "F":
        return _rle_np.asfortranarray(m)
    if layout == "strided":
        big = _rle_np.zeros((2 * h, 3 * w), dtype)
        big[::2, ::3] = m
        big[1::2, :] = 1  # junk between the selected pixels must not leak in
        return big[::2, ::3]
    if layout == "reversed":
        return _rle_np.ascontiguousarray(m[::-1, ::-1])[::-1, ::-1]
    if layout == "unaligned":
        raw = _rle_np.zeros(m.size * m.itemsize + 9, _rle_np.uint8)
        off = draw(_rle_st.integers(1, 7))
        view = raw[off : off + m.size * m.itemsize].view(dtype).reshape(m.shape)
        view[...] = m
        return view
    return _rle_np.ascontiguousarray(m)


@_rle_st.composite
def rle_mask_batches(draw, max_n=6, max_side=10):
    """A (n, h, w) batch of 0/1 masks (n may be 0), C, F-per-mask or strided layout."""
    n = draw(_rle_st.integers(0, max_n))
    h = draw(_rle_st.integers(0, max_side))
    w = draw(_rle_st.integers(0, max_side))
    seed = draw(_rle_st.integers(0, 2**32 - 1))
    rng = _rle_np.random.default_rng(seed)
    p = rng.random(n)[:, None, None] if n else _rle_np.zeros((0, 1, 1))
    masks = (rng.random((n, h, w)) < p).astype(draw(_rle_st.sampled_from(["uint8", "bool"])))
    if n and draw(_rle_st.booleans()):
        masks[0] = 1
    layout = draw(_rle_st.sampled_from(["C", "F", "strided"]))
    if layout == "F":
        return _rle_np.asfortranarray(masks)
    if layout == "strided":
        big = _rle_np.ones((n, 2 * h, w), masks.dtype)
        big[:, ::2] = masks
        return big[:, ::2]
    return masks


@_rle_st.composite
def rle_strings(draw, n_pixels=None, max_runs=6):
    """Run-length-ish strings the encoder never makes.

    Runs drawn near a pixel count ``n_pixels`` (when given): unsorted,
    overlapping, adjacent, zero-length, start 0, past the end, huge numbers,
    plus junk tokens, odd token counts, leading zeros and odd separators.
    """
    top = (n_pixels or 50) + 3
    number = _rle_st.one_of(
        _rle_st.integers(0, top),
        _rle_st.integers(0, 3),
        _rle_st.sampled_from([10**16, 10**17, 10**18 - 1, 2**63 - 1, 2**64 + 5, 10**30]),
    )
    k = draw(_rle_st.integers(0, max_runs))
    tokens = []
    for _ in range(2 * k):
        if draw(_rle_st.integers(0, 19)) == 0:
            tokens.append(draw(_rle_st.sampled_from(RLE_JUNK_TOKENS)))
        else:
            v = draw(number)
            tokens.append(("0" * draw(_rle_st.integers(0, 2))) + str(v))
    if tokens and draw(_rle_st.integers(0, 9)) == 0:
        tokens.pop(draw(_rle_st.integers(0, len(tokens) - 1)))  # odd count
    if draw(_rle_st.integers(0, 4)) == 0:  # mostly valid separators
        seps = [draw(_rle_st.sampled_from(RLE_SEPARATORS)) for _ in tokens]
    else:
        seps = [draw(_rle_st.sampled_from(RLE_SEPARATORS[:7])) for _ in tokens]
    text = "".join(s + t for s, t in zip(seps, tokens))
    if draw(_rle_st.booleans()):
        text = text.lstrip()
    return text + draw(_rle_st.sampled_from(["", " ", "\n", "  \t"]))


@_rle_st.composite
def rle_sorted_runs(draw, n_pixels, max_runs=8):
    """A valid, sorted, non-overlapping run-length string over ``n_pixels`` pixels
    that may contain adjacent runs and zero-length runs (valid, never encoded)."""
    pos = 0  # 0-based first free pixel
    tokens = []
    for _ in range(draw(_rle_st.integers(0, max_runs))):
        if pos >= n_pixels:
            break
        start = draw(_rle_st.integers(pos, n_pixels - 1))
        length = draw(_rle_st.integers(0, n_pixels - start))
        tokens += [str(start + 1), str(length)]
        pos = start + length
    return " ".join(tokens)
