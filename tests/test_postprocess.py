"""Tests of rlemask.postprocess against scipy.ndimage and OpenCV."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tests.reference import postprocess_reference, postprocess_reference_resize

from rlemask.errors import InvalidMaskError, InvalidRleError, RlemaskError
from rlemask.postprocess import (
    fill_holes,
    fill_holes_rle,
    largest_component,
    largest_component_rle,
    remove_small,
    remove_small_rle,
    resize,
)
from rlemask.rle import decode, encode

pytest.importorskip("scipy.ndimage", reason="scipy is in the 'test' extra")
CONN = st.sampled_from([4, 8])


@st.composite
def masks(draw, max_side=14, batch=False):
    h = draw(st.integers(0 if not batch else 1, max_side))
    w = draw(st.integers(0 if not batch else 1, max_side))
    n = draw(st.integers(0, 3)) if batch else None
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (h, w) if n is None else (n, h, w)
    m = (rng.random(shape) < draw(st.sampled_from([0.1, 0.4, 0.6, 0.9]))).astype(np.uint8)
    return draw(st.sampled_from([m, m.astype(bool), np.asfortranarray(m), m.astype(np.float32)]))


@given(m=masks(), conn=CONN, size=st.integers(0, 8))
def test_remove_small_equals_scipy_label(m, conn, size):
    out = remove_small(m, size, connectivity=conn)
    assert out.dtype == np.uint8 and out.shape == m.shape
    np.testing.assert_array_equal(out, postprocess_reference(m, "remove_small", conn, size))


@given(m=masks(), conn=CONN)
def test_largest_component_equals_scipy_label(m, conn):
    np.testing.assert_array_equal(largest_component(m, connectivity=conn), postprocess_reference(m, "largest", conn))


@given(m=masks(), conn=CONN, size=st.sampled_from([None, 0, 1, 3, 10]))
def test_fill_holes_equals_scipy(m, conn, size):
    expected = postprocess_reference(m, "fill_holes", conn, size) if m.size else np.asarray(m, np.uint8)
    np.testing.assert_array_equal(fill_holes(m, connectivity=conn, max_size=size), expected)


@given(m=masks(batch=True), conn=CONN)
def test_batches_equal_one_call_per_mask(m, conn):
    for fn in (lambda x: remove_small(x, 3, connectivity=conn), lambda x: largest_component(x, connectivity=conn),
               lambda x: fill_holes(x, connectivity=conn), lambda x: resize(x, (5, 7))):
        out = fn(m)
        assert out.shape[0] == m.shape[0]
        for i in range(m.shape[0]):
            np.testing.assert_array_equal(out[i], fn(m[i]))


@given(
    h=st.integers(1, 40), w=st.integers(1, 40), dh=st.integers(1, 70), dw=st.integers(1, 70),
    seed=st.integers(0, 2**32 - 1),
)
def test_resize_equals_opencv_inter_nearest(h, w, dh, dw, seed):
    cv2 = pytest.importorskip("cv2")
    m = (np.random.default_rng(seed).random((h, w)) < 0.5).astype(np.uint8)
    np.testing.assert_array_equal(resize(m, (dh, dw)), cv2.resize(m, (dw, dh), interpolation=cv2.INTER_NEAREST))


@given(
    n=st.integers(1, 3), h=st.integers(1, 30), w=st.integers(1, 30), dh=st.integers(1, 50), dw=st.integers(1, 50),
    seed=st.integers(0, 2**32 - 1), density=st.sampled_from([0.0, 0.05, 0.5, 0.95, 1.0]),
)
@example(n=1, h=3, w=17, dh=7, dw=40, seed=0, density=1.0)  # full rows, runs ending at the row end
@example(n=2, h=9, w=9, dh=2, dw=3, seed=1, density=0.5)  # shrinking
def test_resize_equals_the_reference(n, h, w, dh, dw, seed, density):
    rng = np.random.default_rng(seed)
    # blobs along rows (long runs, rows repeated) as well as noise
    m = (rng.random((n, h, w)) < density).astype(np.uint8)
    m[:, :, : w // 3] = m[:, :1, : w // 3]
    got = resize(m, (dh, dw))
    for i in range(n):
        np.testing.assert_array_equal(got[i], postprocess_reference_resize(m[i], (dh, dw)))


@pytest.mark.parametrize(("src", "dst"), [((266, 266), (384, 384)), ((384, 384), (266, 266)), ((310, 360), (320, 384)),
                                          ((320, 384), (310, 360)), ((276, 276), (224, 224)), ((234, 234), (512, 512))])
def test_resize_equals_opencv_on_uwmgi_sizes(src, dst):
    cv2 = pytest.importorskip("cv2")
    m = (np.random.default_rng(0).random(src) < 0.5).astype(np.uint8)
    there = cv2.resize(m, dst[::-1], interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(resize(m, dst), there)
    np.testing.assert_array_equal(resize(there, src), cv2.resize(there, src[::-1], interpolation=cv2.INTER_NEAREST))


def test_resize_is_not_pillow_nearest():
    """The documented difference: Pillow samples pixel centres."""
    pil = pytest.importorskip("PIL.Image")
    m = np.arange(5, dtype=np.uint8)[None] % 2
    ours = resize(m, (1, 2)).ravel().tolist()  # columns 0 and 2
    pillow = (np.asarray(pil.fromarray(m * 255).resize((2, 1), pil.NEAREST)) // 255).ravel().tolist()  # centres: 1, 3
    assert ours == [0, 0] and pillow == [1, 1]


def test_input_is_never_modified():
    m = np.array([[1, 0, 0], [0, 0, 1], [1, 1, 1]], np.uint8)
    before = m.copy()
    remove_small(m, 10)
    fill_holes(m)
    largest_component(m)
    np.testing.assert_array_equal(m, before)


def test_bad_input_raises_with_what_is_expected():
    with pytest.raises(InvalidMaskError, match=r"mask\[0, 1\] = 2; expected only 0 and 1"):
        remove_small(np.array([[0, 2]], np.uint8), 1)
    with pytest.raises(InvalidMaskError, match=r"mask\[0, 1\] = .*0\.5.*; expected only 0 and 1"):
        fill_holes(np.array([[0, 0.5]]))
    with pytest.raises(InvalidMaskError, match=r"mask has shape=\(4,\) \(1-D\); expected a 2-D mask"):
        largest_component(np.zeros(4))
    with pytest.raises(RlemaskError, match=r"connectivity=6; expected 4 \(edges\) or 8"):
        remove_small(np.zeros((2, 2)), 1, connectivity=6)
    with pytest.raises(RlemaskError, match=r"min_size=-1; expected a non-negative int"):
        remove_small(np.zeros((2, 2)), -1)
    with pytest.raises(RlemaskError, match=r"max_size=1.5; expected None"):
        fill_holes(np.zeros((2, 2)), max_size=1.5)
    with pytest.raises(RlemaskError, match=r"shape=\(0, 3\) has a zero side"):
        resize(np.zeros((2, 2)), (0, 3))
    with pytest.raises(InvalidRleError, match=r"shape=\(2,\) is not a shape"):
        resize(np.zeros((2, 2)), (2,))
    with pytest.raises(InvalidMaskError, match=r"no pixels to resize from"):
        resize(np.zeros((0, 2)), (2, 2))


# ----------------------------------------------------------------------------------
# Kaggle strings in and out
# ----------------------------------------------------------------------------------


@example(m=np.ones((3, 5), np.uint8), conn=4, size=2)  # one run across every row end
@example(m=np.eye(4, dtype=np.uint8), conn=8, size=2)  # joined through corners only
@given(m=masks(), conn=CONN, size=st.sampled_from([None, 0, 1, 2, 3, 10]))
def test_run_length_versions_equal_decode_dense_encode(m, conn, size):
    a = np.asarray(m, np.uint8)
    text = encode(a)
    want = encode(remove_small(a, size or 0, connectivity=conn))
    assert remove_small_rle(text, a.shape, size or 0, connectivity=conn) == want
    assert largest_component_rle(text, a.shape, connectivity=conn) == encode(largest_component(a, connectivity=conn))
    filled = fill_holes_rle(text, a.shape, connectivity=conn, max_size=size)
    assert filled == encode(fill_holes(a, connectivity=conn, max_size=size))
    np.testing.assert_array_equal(decode(filled, a.shape), fill_holes(a, connectivity=conn, max_size=size))


@pytest.mark.parametrize(
    "text, want",
    [
        ("1 2 5 2", "1 2 5 2"),  # one 2 x 2 block, nothing to change: the input itself
        ("1 1 2 1 5 2", "1 2 5 2"),  # touching runs join
        ("1 2 3 0 5 2", "1 2 5 2"),  # an empty run vanishes
        ("01 2 5 2", "1 2 5 2"),  # a leading zero
        ("1 2 5 02", "1 2 5 2"),
        ("1 2  5 2", "1 2 5 2"),  # two spaces
        (" 1 2 5 2", "1 2 5 2"),  # whitespace at either end
        ("1 2 5 2\n", "1 2 5 2"),
        ("1\t2 5 2", "1 2 5 2"),  # a tab, of the same length as a space
        (b"1 2 5 2", "1 2 5 2"),  # bytes in, str out
        ("0 0 1 1", None),  # a zero start is an error, not text to pass through
    ],
)
def test_run_length_versions_return_the_encoders_text_when_nothing_changes(text, want):
    """Every operation returns exactly encode(op(decode(text))), also when it removes nothing."""
    shape = (4, 4)
    if want is None:
        with pytest.raises(InvalidRleError, match="start < 1"):
            remove_small_rle(text, shape, 1)
        return
    mask = decode(text if isinstance(text, str) else text.decode(), shape)
    assert encode(mask) == want
    for op in (
        lambda t: remove_small_rle(t, shape, 1),
        lambda t: largest_component_rle(t, shape, connectivity=4),
        lambda t: fill_holes_rle(t, shape),
    ):
        got = op(text)
        assert type(got) is str and got == want
    assert remove_small_rle("5 2 1 2", shape, 1, strict=False) == "1 2 5 2"  # sorted, not passed through


@given(
    m=masks(),
    seps=st.lists(st.sampled_from([" ", " ", " ", "  ", "\t", "\n"]), min_size=1),
    zeros=st.lists(st.sampled_from(["", "", "", "0", "00"]), min_size=1),
    ends=st.sampled_from(["", " ", "\n"]),
)
def test_run_length_versions_of_any_spelling_give_the_encoders_text(m, seps, zeros, ends):
    """Removing nothing from a string spelled with other whitespace or leading zeros
    still gives the encoder's text (the input is passed through only when it is that text)."""
    a = np.asarray(m, np.uint8)
    tokens = encode(a).split()
    text = ends + "".join(
        zeros[i % len(zeros)] + t + (seps[i % len(seps)] if i + 1 < len(tokens) else "") for i, t in enumerate(tokens)
    ) + ends
    want = encode(a)
    assert remove_small_rle(text, a.shape, 0) == want
    assert fill_holes_rle(text, a.shape, max_size=0) == want


def test_run_length_versions_grow_their_scratch_for_long_strings(monkeypatch):
    """A string longer than the per-thread scratch holds (runs and text) grows it and
    gives the same answer as the dense route; a fresh thread-local starts small."""
    import threading

    from rlemask import postprocess

    monkeypatch.setattr(postprocess, "_scratch", threading.local())
    rng = np.random.default_rng(7)
    m = (rng.random((300, 300)) < 0.5).astype(np.uint8)  # ~45,000 runs: far past 16,384 values
    text = encode(m)
    assert remove_small_rle(text, m.shape, 3) == encode(remove_small(m, 3))
    assert postprocess._scratch.work.size > postprocess._WORK
    assert postprocess._scratch.out.size > postprocess._OUT
    monkeypatch.setattr(postprocess, "_scratch", threading.local())
    monkeypatch.setattr(postprocess, "_WORK", 1 << 22)  # room for the runs, not for the text
    assert largest_component_rle(text, m.shape, connectivity=4) == encode(largest_component(m, connectivity=4))
    assert postprocess._scratch.work.size == 1 << 22 and postprocess._scratch.out.size > postprocess._OUT
    assert fill_holes_rle(text, m.shape) == encode(fill_holes(m))


def test_run_length_versions_reject_what_decode_rejects():
    with pytest.raises(InvalidRleError, match=r"run 1 \(start=2, length=1\) starts before run 0"):
        remove_small_rle("1 3 2 1", (3, 3), 1)
    assert remove_small_rle("5 1 1 3 2 1", (3, 3), 1, strict=False) == "1 3 5 1"  # the union
    with pytest.raises(InvalidRleError, match=r"past the 9 pixels of shape=\(3, 3\)"):
        largest_component_rle("8 5", (3, 3))
    with pytest.raises(InvalidRleError, match="not a shape"):
        fill_holes_rle("1 1", (3,))
    with pytest.raises(RlemaskError, match=r"min_size=-2; expected a non-negative int"):
        remove_small_rle("1 1", (3, 3), -2)
    assert remove_small_rle(None, (3, 3), 1) == "" and fill_holes_rle("", (3, 3)) == ""
