"""Fixed regression case for :func:`rlemask.coco.decode` batches, from mutation testing (issue 11).

A batch that mixes compressed (bytes) and uncompressed (list) counts decodes each
kind into a scratch array before copying it into the output; the kernels write
only the runs of ones, so the scratch arrays must start zeroed even where freed,
garbage-filled blocks of their size are there for the allocator to reuse.
"""

from __future__ import annotations

import numpy as np

from rlemask import coco


def test_mixed_counts_batch_over_dirty_memory():
    """Found as ``coco::_decode_into::not x -> x#0`` when a scratch array came from np.empty."""
    h, w = 256, 256
    mask = np.zeros((h, w), np.uint8)
    mask[10:20, 30:40] = 1
    packed = coco.encode(np.asfortranarray(mask))
    listed = {"size": [h, w], "counts": [h * 30 + 10, 10] + [h - 10, 10] * 9 + [h * w - (h * 39 + 20)]}
    assert np.array_equal(coco.decode(listed), mask)
    for _ in range(20):  # leave freed, garbage-filled blocks of the scratch array's size for np.empty to reuse
        junk = np.full((1, h * w), 0xFF, np.uint8)
        del junk
        out = coco.decode([packed, listed])
        assert np.array_equal(out[0], mask)
        assert np.array_equal(out[1], mask)
