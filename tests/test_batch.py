"""Batch calls equal loops of single calls: ``encode_many`` / ``decode_many`` (issue 10 item 4).

The batch kernels take other paths than the single calls (text slots per mask that
grow with the mask, a second pass for texts that overflow their slot, parallel
spans above ``_PARALLEL_PIXELS``), so these properties compare them item by item,
bad items included: the batch raises the error of the first bad item, with
``item`` set to its index and the single call's message behind ``rles[i]: ``.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlemask import rle
from rlemask.errors import InvalidMaskError, InvalidRleError
from tests.strategies import rle_mask_batches, rle_strings


def _loop_decode(texts, shape, strict):
    """``[decode(t) for t in texts]`` with the error of the first bad item, or the masks."""
    out = []
    for i, t in enumerate(texts):
        try:
            out.append(rle.decode(t, shape, strict=strict))
        except InvalidRleError as exc:
            return i, exc
    return None, out


@settings(deadline=None)
@given(
    texts=st.lists(st.one_of(st.none(), rle_strings(24)), max_size=6),
    strict=st.booleans(),
    order=st.sampled_from(["C", "F"]),
)
def test_decode_many_equals_the_loop_including_bad_items(texts, strict, order):
    shape = (4, 6)
    bad, loop = _loop_decode(texts, shape, strict)
    if bad is not None:
        with pytest.raises(InvalidRleError) as info:
            rle.decode_many(texts, shape, strict=strict, order=order)
        assert info.value.item == bad
        assert str(info.value) == f"rles[{bad}]: " + str(loop).removeprefix("rle: ")
        return
    batch = rle.decode_many(texts, shape, strict=strict, order=order)
    assert batch.shape == (len(texts), *shape)
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(batch[i], rle.decode(t, shape, strict=strict, order=order))


@settings(deadline=None)
@given(masks=rle_mask_batches(), order=st.sampled_from(["C", "F"]), bad=st.integers(-1, 5))
def test_encode_many_equals_the_loop_including_bad_items(masks, order, bad):
    masks = np.array(masks, np.uint8)
    if 0 <= bad < masks.shape[0] and masks[bad].size:
        masks[bad].flat[masks[bad].size // 2] = 2
        first = next(i for i, m in enumerate(masks) if (m > 1).any())
        with pytest.raises(InvalidMaskError) as info:
            rle.encode_many(masks, order=order)
        assert info.value.item == first
        return
    assert rle.encode_many(masks, order=order) == [rle.encode(m, order=order) for m in masks]


@pytest.mark.parametrize("threads", [1, 2])
def test_large_batches_equal_the_loop_on_every_path(threads):
    """Texts longer than their slot, and batches above the parallel threshold, on 1 and 2 threads."""
    if threads > numba.config.NUMBA_NUM_THREADS:
        pytest.skip("one numba thread available")
    rng = np.random.default_rng(0)
    masks = (rng.random((24, 230, 230)) < rng.random((24, 1, 1))).astype(np.uint8)
    masks[3] = np.indices((230, 230)).sum(0) % 2  # 26,450 runs: far past its text slot
    masks[5] = 0
    masks[6] = 1
    assert masks.size >= rle._PARALLEL_PIXELS
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        texts = rle.encode_many(masks)
        assert texts == [rle.encode(m) for m in masks]
        decoded = rle.decode_many(texts, (230, 230))
        np.testing.assert_array_equal(decoded, masks)
        out = np.full_like(masks, 7)
        rle.decode_many(texts, (230, 230), out=out)
        np.testing.assert_array_equal(out, masks)
        bad = list(texts)
        bad[17] = "1 52901"  # one pixel past the end
        with pytest.raises(InvalidRleError, match=r"^rles\[17\]: ") as info:
            rle.decode_many(bad, (230, 230), out=out)
        assert info.value.item == 17
        np.testing.assert_array_equal(out, masks)  # nothing written
        masks[20, 229, 229] = 3
        with pytest.raises(InvalidMaskError, match=r"masks\[20\]") as info:
            rle.encode_many(masks)
        assert info.value.item == 20
    finally:
        numba.set_num_threads(before)
