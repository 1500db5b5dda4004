"""rlemask.metrics against plain references, scipy and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, jaccard_score

from rlemask.errors import InvalidMaskError, InvalidRleError, LayoutError, RlemaskError
from rlemask.metrics import ScoreReport, dice, dice_rle, hausdorff, iou, uwmgi_score
from tests.reference import (
    metric_decode,
    metric_dice,
    metric_encode,
    metric_hausdorff,
    metric_iou,
    metric_uwmgi_score,
)
from tests.strategies import metric_mask_pairs

EMPTIES = [1.0, 0.0, "skip"]


def same(a, b):
    """Equal arrays, NaN equal to NaN."""
    np.testing.assert_array_equal(np.asarray(a, float), np.asarray(b, float))


def random_batch(rng, shape, density=None):
    """Masks with a per-mask density, so some are empty and some are full."""
    lead = shape[:-2]
    dens = rng.choice([0.0, 0.02, 0.3, 0.9, 1.0], size=lead) if density is None else density
    return rng.random(shape) < np.asarray(dens)[..., None, None]


# --------------------------------------------------------------------------
# Dice / IoU
# --------------------------------------------------------------------------


@pytest.mark.parametrize("metric,reference", [(dice, metric_dice), (iou, metric_iou)])
@pytest.mark.parametrize("empty", EMPTIES)
def test_batch_matches_reference(metric, reference, empty):
    rng = np.random.default_rng(0)
    p = random_batch(rng, (3, 4, 13, 17))
    t = random_batch(rng, (3, 4, 13, 17))
    got = metric(p, t, empty=empty)
    assert got.shape == (3, 4)
    assert got.dtype == np.float64
    same(got, reference(p, t, empty))


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int64, np.float32, np.float64, np.int8])
def test_dtypes_agree(dtype):
    rng = np.random.default_rng(0)
    p = random_batch(rng, (6, 20, 30))
    t = random_batch(rng, (6, 20, 30))
    expected = metric_dice(p, t)
    same(dice(p.astype(dtype), t.astype(dtype)), expected)
    same(iou(p.astype(dtype), t.astype(dtype)), metric_iou(p, t))


def test_layouts_agree():
    rng = np.random.default_rng(0)
    p = random_batch(rng, (5, 24, 30))
    t = random_batch(rng, (5, 24, 30))
    expected = metric_dice(p, t)
    same(dice(np.asfortranarray(p), np.asfortranarray(t)), expected)
    big_p = np.zeros((5, 48, 60), bool)
    big_t = np.zeros((5, 48, 60), bool)
    big_p[:, ::2, ::2] = p
    big_t[:, ::2, ::2] = t
    same(dice(big_p[:, ::2, ::2], big_t[:, ::2, ::2]), expected)
    # the last two axes are the mask, whatever the memory order of the batch
    same(dice(np.moveaxis(np.moveaxis(p, 0, -1), -1, 0), t), expected)


def test_matches_sklearn():
    rng = np.random.default_rng(0)
    p = random_batch(rng, (40, 16, 16))
    t = random_batch(rng, (40, 16, 16))
    for empty in (1.0, 0.0):
        d = dice(p, t, empty=empty)
        j = iou(p, t, empty=empty)
        for k in range(40):
            y_true, y_pred = t[k].ravel(), p[k].ravel()
            assert d[k] == pytest.approx(f1_score(y_true, y_pred, zero_division=empty), abs=1e-12)
            assert j[k] == pytest.approx(jaccard_score(y_true, y_pred, zero_division=empty), abs=1e-12)


def test_shapes_of_results():
    a = np.array([[1, 1, 0, 0]], np.uint8)
    b = np.array([[0, 1, 1, 0]], np.uint8)
    assert dice(a, b).shape == ()
    assert float(dice(a, b)) == 0.5
    assert float(iou(a, b)) == pytest.approx(1 / 3)
    assert dice(np.zeros((0, 3, 3)), np.zeros((0, 3, 3))).shape == (0,)
    # zero-sized masks are empty masks
    same(dice(np.zeros((2, 0, 3)), np.zeros((2, 0, 3)), empty="skip"), [np.nan, np.nan])
    same(dice(np.zeros((2, 0, 3)), np.zeros((2, 0, 3))), [1.0, 1.0])
    # large masks: counts past 2**16 per row (the kernel's chunking)
    big_p = np.ones((2, 300, 400), bool)
    big_t = np.ones((2, 300, 400), bool)
    big_t[1, :150] = False
    same(dice(big_p, big_t), [1.0, 2 * 60000 / 180000])


def test_unaligned_buffers_and_odd_row_lengths():
    # the counting kernel reads whole 8-byte words where it can: rows that start
    # mid-word, buffers that are not 8-byte aligned and every length modulo 8
    rng = np.random.default_rng(0)
    for trial in range(150):
        shape = (int(rng.integers(0, 5)), int(rng.integers(1, 19)), int(rng.integers(1, 23)))
        p = rng.random(shape) < rng.random()
        t = rng.random(shape) < rng.random()
        offset = int(rng.integers(0, 8))
        buffer = np.zeros(p.size + 16, np.uint8)
        unaligned = buffer[offset : offset + p.size].reshape(shape)
        unaligned[...] = p
        expected = metric_dice(p, t)
        same(dice(unaligned, t), expected)
        same(dice(p.view(np.uint8), unaligned if trial % 2 else t), metric_dice(p, unaligned if trial % 2 else t))
        if p.size:
            bad = p.astype(np.uint8)
            index = tuple(int(rng.integers(0, n)) for n in shape)
            bad[index] = 7
            with pytest.raises(InvalidMaskError, match=rf"truth\[{', '.join(map(str, index))}\] = 7; expected only 0 and 1"):
                dice(bad, t)


class FakeTensor:
    """Duck-typed torch tensor: .detach().cpu().numpy()."""

    def __init__(self, array):
        self.array = array
        self.calls = []

    def detach(self):
        self.calls.append("detach")
        return self

    def cpu(self):
        self.calls.append("cpu")
        return self

    def numpy(self):
        self.calls.append("numpy")
        return self.array


def test_tensor_like_inputs():
    rng = np.random.default_rng(0)
    p = random_batch(rng, (4, 10, 10)).astype(np.float32)
    t = random_batch(rng, (4, 10, 10)).astype(np.float32)
    fp, ft = FakeTensor(p), FakeTensor(t)
    same(dice(fp, ft), metric_dice(p, t))
    assert fp.calls == ["detach", "cpu", "numpy"]
    assert hausdorff(FakeTensor(p[0]), FakeTensor(t[0])) == hausdorff(p[0], t[0])


def test_torch_bfloat16_and_half_tensors():
    torch = pytest.importorskip("torch")
    ones = torch.ones(2, 2, dtype=torch.bfloat16)
    assert float(dice(ones, torch.ones(2, 2))) == 1.0
    assert float(iou(ones, torch.zeros(2, 2, dtype=torch.bfloat16))) == 0.0
    p = torch.tensor([[1, 1, 0, 0]], dtype=torch.bfloat16, requires_grad=True)
    t = torch.tensor([[0, 1, 1, 0]], dtype=torch.float16)
    assert float(dice(p, t)) == 0.5
    assert hausdorff(p, t.to(torch.bfloat16)) == 1.0
    with pytest.raises(InvalidMaskError, match=r"truth\[0, 1\] = 0.5; expected only 0 and 1.*threshold probabilities first, e.g. truth > 0.5"):
        dice(torch.tensor([[1.0, 0.5]], dtype=torch.bfloat16), torch.ones(1, 2))


class NoNumpyTensor(FakeTensor):
    """A tensor-like object whose dtype numpy cannot hold and that has no .float()."""

    def numpy(self):
        raise TypeError("Got unsupported ScalarType BFloat16")


def test_tensor_like_without_numpy_dtype_or_float():
    with pytest.raises(InvalidMaskError, match="truth cannot be read as an array: Got unsupported ScalarType"):
        dice(NoNumpyTensor(np.ones((2, 2))), np.ones((2, 2)))


@settings(max_examples=60, deadline=None)
@given(metric_mask_pairs(max_dims=4, max_side=7), st.sampled_from(EMPTIES))
# pinned (issue 11): rows of 35 and 9 bytes, so rows start and end inside 8-byte words
@example((np.random.default_rng(0).random((3, 5, 7)) < 0.5, np.random.default_rng(1).random((3, 5, 7)) < 0.5), "skip")
@example((np.ones((2, 1, 9), bool), np.eye(9, dtype=bool)[None, :2].reshape(2, 1, 9)), 1.0)
def test_dice_iou_property(pair, empty):
    a, b = pair
    same(dice(a, b, empty=empty), metric_dice(a, b, empty))
    same(iou(a, b, empty=empty), metric_iou(a, b, empty))
    # symmetric, and Dice = 2 IoU / (1 + IoU)
    same(dice(a, b, empty=empty), dice(b, a, empty=empty))
    j = iou(a, b, empty=empty)
    d = dice(a, b, empty=empty)
    np.testing.assert_allclose(d, 2 * j / (1 + j), rtol=1e-12, equal_nan=True)


# --------------------------------------------------------------------------
# empty-mask conventions: the hand-checked table of docs/metrics.md
# --------------------------------------------------------------------------

NAN = math.nan
# empty setting -> (both empty, pred empty truth not, truth empty pred not)
EMPTY_TABLE = {
    1.0: (1.0, 0.0, 0.0),
    0.0: (0.0, 0.0, 0.0),
    "skip": (NAN, 0.0, 0.0),
}


def _cases(h=3, w=4):
    full = np.zeros((h, w), np.uint8)
    full[1, 1:3] = 1
    zero = np.zeros((h, w), np.uint8)
    return [(zero, zero), (zero, full), (full, zero)]


@pytest.mark.parametrize("empty", EMPTIES)
@pytest.mark.parametrize("metric", ["dice", "iou", "dice_rle"])
def test_empty_table(metric, empty):
    for (p, t), expected in zip(_cases(), EMPTY_TABLE[empty]):
        if metric == "dice":
            got = float(dice(p, t, empty=empty))
        elif metric == "iou":
            got = float(iou(p, t, empty=empty))
        else:
            got = dice_rle(metric_encode(p), metric_encode(t), p.shape, empty=empty)
        if math.isnan(expected):
            assert math.isnan(got)
        else:
            assert got == expected


@pytest.mark.parametrize("empty_rle", [None, "", float("nan"), pd.NA, "   "])
def test_dice_rle_missing_values_are_empty(empty_rle):
    assert dice_rle(empty_rle, "", (4, 4)) == 1.0
    assert dice_rle(empty_rle, "1 3", (4, 4)) == 0.0
    assert math.isnan(dice_rle(empty_rle, None, (4, 4), empty="skip"))


def test_hausdorff_empty_conventions():
    zero = np.zeros((3, 4, 5), bool)
    one = zero.copy()
    one[1, 2, 3] = True
    assert hausdorff(zero, zero) == 0.0
    assert hausdorff(zero, one) == math.inf
    assert hausdorff(one, zero) == math.inf
    assert hausdorff(one, one) == 0.0
    # directed: h(a, b); an empty a is 0 away from anything
    assert hausdorff(zero, one, directed=True) == 0.0
    assert hausdorff(one, zero, directed=True) == math.inf
    assert hausdorff(zero, zero, directed=True) == 0.0
    assert hausdorff(np.zeros((0, 4)), np.zeros((0, 4))) == 0.0


# --------------------------------------------------------------------------
# dice_rle
# --------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(metric_mask_pairs(min_dims=2, max_dims=2, max_side=12), st.sampled_from(EMPTIES))
def test_dice_rle_equals_dice_of_decoded(pair, empty):
    a, b = pair
    got = dice_rle(metric_encode(a), metric_encode(b), a.shape, empty=empty)
    expected = float(dice(a, b, empty=empty))
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-15)


def test_dice_rle_equals_dice_of_codec_decode():
    rle = pytest.importorskip("rlemask.rle")
    rng = np.random.default_rng(0)
    for _ in range(50):
        shape = tuple(int(x) for x in rng.integers(1, 40, size=2))
        a = rng.random(shape) < rng.random()
        b = rng.random(shape) < rng.random()
        ra, rb = rle.encode(a), rle.encode(b)
        assert dice_rle(ra, rb, shape) == float(dice(rle.decode(ra, shape), rle.decode(rb, shape)))
    # the same strings are rejected by both, or accepted by both with the same masks
    for s in ["1 2 3 2 5 0", "1 2 9 0", "3 0 1 1", "1 3 2 2", "5 0", "0 1", "1 2 3", "1 x"]:
        for strict in (True, False):
            try:
                expected = float(dice(rle.decode(s, (2, 2), strict=strict), np.ones((2, 2))))
            except InvalidRleError:
                with pytest.raises(InvalidRleError):
                    dice_rle(s, "1 4", (2, 2), strict=strict)
            else:
                assert dice_rle(s, "1 4", (2, 2), strict=strict) == expected


def test_dice_rle_unsorted_and_overlapping_runs():
    # 1-based pixels {1..4} and {3..6} written out of order and overlapping
    messy = "5 2 1 3 3 2"
    clean = "1 6"
    with pytest.raises(InvalidRleError, match="starts before run 0") as info:
        dice_rle(messy, clean, (3, 3))
    assert info.value.run == 1
    assert dice_rle(messy, clean, (3, 3), strict=False) == 1.0
    # the union is what a plain decoder paints
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(1, 8))
        starts = rng.integers(1, 30, size=n)
        lengths = rng.integers(0, 6, size=n)
        lengths = np.minimum(lengths, 36 - starts + 1)
        s = " ".join(f"{a} {b}" for a, b in zip(starts, lengths))
        truth = rng.random((6, 6)) < 0.4
        expected = float(dice(metric_decode(s, (6, 6)), truth))
        assert dice_rle(s, metric_encode(truth), (6, 6), strict=False) == pytest.approx(expected)
    # adjacent runs and zero lengths are fine in strict mode
    assert dice_rle("1 2 3 2 5 0", "1 4", (2, 2)) == 1.0


@pytest.mark.parametrize(
    "bad,fragment,attrs",
    [
        ("1 2 3", "odd number of tokens (3)", {"token": 2}),
        ("1 2 x 4", "token 2 ('x'", {"token": 2}),
        ("1 -2", "token 1 ('-2'", {"token": 1}),
        ("1.5 2", "token 0 ('1.5'", {"token": 0}),
        ("0 2", "(start=0, length=2) has start < 1", {"run": 0}),
        ("1 2 15 3", "past the 16 pixels", {"run": 1, "offset": 14}),
        ("1 99999999999999999999999", "token 1", {"token": 1}),
        ("1\xa02", "is not ASCII", {"token": 0}),
        ("1\x1c2", "token 0", {"token": 0}),
        ("1 2\u20033 4", "is not ASCII", {}),
    ],
)
def test_dice_rle_bad_strings(bad, fragment, attrs):
    with pytest.raises(InvalidRleError) as info:
        dice_rle(bad, "", (4, 4))
    assert fragment in str(info.value)
    assert str(info.value).startswith("truth: ")
    assert info.value.reason == str(info.value)[len("truth: "):]
    for key, value in attrs.items():
        assert getattr(info.value, key) == value
    with pytest.raises(InvalidRleError) as info:
        dice_rle("", bad, (4, 4))
    assert str(info.value).startswith("pred: ")


def test_dice_rle_raises_exactly_where_decode_raises():
    from rlemask import decode

    # Unicode whitespace (str.split() would accept it), control characters,
    # overlaps, zero lengths, huge numbers, runs past the end ...
    cases = [
        "1 2", "1\t2\n", " 1 2 ", "1\x0b2", "1\x0c2", "1\r2", "1\xa02", "1\x1c2", "1\x1f2",
        "1\u30002", "1\x852", "\u0661 2", "1 2 3", "1 2 2 1", "1 2 3 0 3 1", "3 1 1 1", "0 1",
        "1 17", "16 1", "17 0", "1 0", "99999999999999999 1", "1 18446744073709551617", "+1 2",
    ]
    for s in cases:
        for strict in (True, False):
            try:
                mask = decode(s, (4, 4), strict=strict)
            except InvalidRleError as exc:
                with pytest.raises(InvalidRleError) as info:
                    dice_rle(s, "", (4, 4), strict=strict)
                # same message, same location (only the argument name differs)
                assert str(info.value).replace("truth: ", "rle: ", 1) == str(exc), s
                assert (info.value.token, info.value.run, info.value.offset) == (exc.token, exc.run, exc.offset)
            else:
                assert dice_rle(s, "1 16", (4, 4), strict=strict) == float(dice(mask, np.ones((4, 4)))), s


def test_dice_rle_accepts_what_decode_accepts():
    assert dice_rle(b"1 2", "1 2", (2, 2)) == 1.0
    assert dice_rle(bytearray(b"1 2"), b"1 1", (2, 2)) == pytest.approx(2 / 3)
    assert dice_rle(np.float64("nan"), "", (2, 2)) == 1.0
    assert dice_rle(float("nan"), "1 1", (2, 2)) == 0.0
    assert dice_rle("1 2", "1 2", (np.int64(2), np.int32(2))) == 1.0
    assert dice_rle("1 2", "1 2", [2, 2]) == 1.0


@pytest.mark.parametrize("shape", [(4,), (4, -1), (4.5, 2), (2.0, 2), (2, np.float64(2)), "4x4", None, (True, 2)])
def test_dice_rle_bad_shape(shape):
    with pytest.raises(InvalidRleError, match="shape="):
        dice_rle("1 2", "1 2", shape)


def test_dice_rle_bad_type():
    with pytest.raises(InvalidRleError, match="truth: 12 of type int is not a run-length string"):
        dice_rle(12, "1 2", (4, 4))



# --------------------------------------------------------------------------
# bad inputs
# --------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [dice, iou])
def test_bad_masks(metric):
    ok = np.zeros((2, 4, 4), np.uint8)
    with pytest.raises(InvalidMaskError, match=r"truth has shape=\(2, 4, 4\) but pred has shape=\(2, 4, 5\)"):
        metric(ok, np.zeros((2, 4, 5)))
    with pytest.raises(InvalidMaskError, match="expected at least 2 dimensions"):
        metric(np.zeros(4), np.zeros(4))
    bad = ok.copy()
    bad[1, 2, 3] = 2
    with pytest.raises(InvalidMaskError, match=r"pred\[1, 2, 3\] = 2; expected only 0 and 1"):
        metric(ok, bad)
    with pytest.raises(InvalidMaskError, match=r"truth\[0, 0, 1\] = 0.5"):
        metric(np.array([[[0, 0.5]]]), np.zeros((1, 1, 2)))
    with pytest.raises(InvalidMaskError, match="= nan; expected only 0 and 1"):
        metric(np.array([[np.nan, 1.0]]), np.zeros((1, 2)))
    with pytest.raises(InvalidMaskError, match="= 255; expected only 0 and 1"):
        metric(np.full((3, 3), 255, np.uint8), np.zeros((3, 3)))
    with pytest.raises(InvalidMaskError, match="= -1; expected only 0 and 1"):
        metric(np.full((3, 3), -1), np.zeros((3, 3)))
    with pytest.raises(InvalidMaskError, match="dtype=<U1"):
        metric(np.array([["a", "b"]]), np.zeros((1, 2)))


@pytest.mark.parametrize("empty", [0.5, 2, True, "nan", None, float("nan")])
def test_bad_empty(empty):
    for call in (
        lambda: dice(np.zeros((2, 2)), np.zeros((2, 2)), empty=empty),
        lambda: iou(np.zeros((2, 2)), np.zeros((2, 2)), empty=empty),
        lambda: dice_rle("", "", (2, 2), empty=empty),
    ):
        with pytest.raises(RlemaskError, match="is not a valid empty-mask convention"):
            call()


def test_bad_hausdorff_inputs():
    a = np.zeros((3, 3), bool)
    with pytest.raises(InvalidMaskError, match=r"truth has shape=\(3, 3\) but pred has shape=\(3, 4\)"):
        hausdorff(a, np.zeros((3, 4)))
    with pytest.raises(InvalidMaskError, match="expected 2-D"):
        hausdorff(np.zeros((2, 2, 2, 2)), np.zeros((2, 2, 2, 2)))
    with pytest.raises(InvalidMaskError, match="expected 2-D"):
        hausdorff(np.zeros(3), np.zeros(3))
    with pytest.raises(InvalidMaskError, match=r"pred\[0, 0\] = 3"):
        hausdorff(a, np.full((3, 3), 3))
    with pytest.raises(RlemaskError, match=r"spacing=\(1.0, 2.0, 3.0\) is not valid for 2-D"):
        hausdorff(a, a, spacing=(1.0, 2.0, 3.0))
    with pytest.raises(RlemaskError, match="spacing="):
        hausdorff(a, a, spacing=(1.0, 0.0))
    with pytest.raises(RlemaskError, match="spacing="):
        hausdorff(a, a, spacing=(1.0, float("inf")))


# --------------------------------------------------------------------------
# Hausdorff against scipy's directed_hausdorff on all foreground voxels
# --------------------------------------------------------------------------


def test_hausdorff_matches_scipy_seeded():
    rng = np.random.default_rng(0)
    for trial in range(120):
        ndim = 2 + trial % 2
        shape = tuple(int(x) for x in rng.integers(1, 14, size=ndim))
        a = rng.random(shape) < rng.uniform(0.01, 0.4)
        b = rng.random(shape) < rng.uniform(0.01, 0.4)
        expected = metric_hausdorff(a, b)
        # pixel units: exact, bit for bit
        assert hausdorff(a, b) == expected
        assert hausdorff(a, b, directed=True) == metric_hausdorff(a, b, directed=True)
        assert hausdorff(b, a, directed=True) == metric_hausdorff(b, a, directed=True)
        spacing = tuple(rng.uniform(0.3, 4.0, size=ndim))
        assert hausdorff(a, b, spacing=spacing) == pytest.approx(
            metric_hausdorff(a, b, spacing), rel=1e-12
        )


@settings(max_examples=80, deadline=None)
@given(metric_mask_pairs(min_dims=2, max_dims=3, max_side=8))
def test_hausdorff_property(pair):
    a, b = pair
    assert hausdorff(a, b) == metric_hausdorff(a, b)
    assert hausdorff(a, b, directed=True) == metric_hausdorff(a, b, directed=True)
    assert hausdorff(a, b) == hausdorff(b, a)


def test_hausdorff_interior_point_matters():
    # a filled disc inside the hole of a ring: the farthest point of the disc
    # from the ring is its centre, not a boundary voxel of the disc
    yy, xx = np.mgrid[:41, :41]
    r = np.hypot(yy - 20, xx - 20)
    ring = (r >= 15) & (r < 17)
    disc = r < 12
    expected = metric_hausdorff(disc, ring)
    assert hausdorff(disc, ring) == expected
    assert hausdorff(disc, ring, directed=True) == metric_hausdorff(disc, ring, directed=True)
    assert hausdorff(disc, ring, directed=True) == 15.0  # the centre, 15 from the ring


def test_hausdorff_known_values():
    a = np.zeros((6, 10, 12), bool)
    b = np.zeros((6, 10, 12), bool)
    a[1:3, 2:5, 2:6] = True
    b[1:3, 2:5, 2:6] = True
    b[5, 9, 11] = True
    # the far voxel of b is at (5, 9, 11); nearest voxel of a is (2, 4, 5)
    assert hausdorff(a, b) == math.sqrt(3**2 + 5**2 + 6**2)
    assert hausdorff(a, b, directed=True) == 0.0
    assert hausdorff(a, b, spacing=(3.0, 0.5, 0.5)) == pytest.approx(math.sqrt(9**2 + 2.5**2 + 3**2))
    assert hausdorff(a, b, spacing=2.0) == 2 * math.sqrt(3**2 + 5**2 + 6**2)
    # translation by k along one axis: distance k
    c = np.roll(a, 4, axis=2)
    assert hausdorff(a, c) == 4.0
    assert hausdorff(a[3], a[3]) == 0.0


def test_hausdorff_blobs_against_scipy():
    rng = np.random.default_rng(0)
    zz, yy, xx = np.mgrid[:30, :60, :60]
    for _ in range(4):
        c1 = rng.uniform(10, 50, size=3) * [0.5, 1, 1]
        c2 = c1 + rng.normal(0, 4, size=3)
        a = ((zz - c1[0]) / 6) ** 2 + ((yy - c1[1]) / 12) ** 2 + ((xx - c1[2]) / 9) ** 2 < 1
        b = ((zz - c2[0]) / 5) ** 2 + ((yy - c2[1]) / 10) ** 2 + ((xx - c2[2]) / 11) ** 2 < 1
        b |= rng.random(b.shape) < 0.0005  # stray voxels far away
        assert hausdorff(a, b) == metric_hausdorff(a, b)
        sp = (3.0, 1.5, 1.5)
        assert hausdorff(a, b, spacing=sp) == pytest.approx(metric_hausdorff(a, b, sp), rel=1e-12)


# --------------------------------------------------------------------------
# uwmgi_score
# --------------------------------------------------------------------------

CLASSES = ("large_bowel", "small_bowel", "stomach")


def tiny_tables():
    """One scan, 2 slices of 4x4 (hand computed in test_uwmgi_score_hand_computed)."""
    truth = pd.DataFrame(
        {
            "id": ["case1_day0_slice_0001", "case1_day0_slice_0002"],
            "height": [4, 4],
            "width": [4, 4],
            "large_bowel": ["", ""],
            "small_bowel": ["", "16 1"],
            "stomach": ["1 2", ""],
        }
    )
    # slice 2 missing from the prediction: an empty prediction
    pred = pd.DataFrame(
        {
            "id": ["case1_day0_slice_0001"],
            "large_bowel": [""],
            "small_bowel": [""],
            "stomach": ["2 2"],
        }
    )
    return truth, pred


@pytest.mark.parametrize(
    "options,dice_,hd",
    [
        # Dice rows: slice 1: lb 1 (both empty), sb 1 (both empty), st 2*1/(2+2) = 0.5
        #            slice 2: lb 1, sb 0 (pred empty), st 1 (both empty)   -> 4.5 / 6
        # Hausdorff over the 2x4x4 volume, diagonal sqrt(4 + 16 + 16) = 6:
        #   lb both empty 0, sb pred empty 1, st {(0,0,0),(0,0,1)} vs {(0,0,1),(0,0,2)}: 1 / 6
        ({}, 4.5 / 6, (0 + 1 + 1 / 6) / 3),
        # skip: Dice rows 0.5 and 0 only; Hausdorff lb left out
        ({"empty": "skip"}, 0.25, (1 + 1 / 6) / 2),
        # 0.0: both-empty Dice rows 0, both-empty Hausdorff 1
        ({"empty": 0.0}, 0.5 / 6, (1 + 1 + 1 / 6) / 3),
        # merged classes: truth {(0,0,0),(0,0,1),(1,3,3)} vs pred {(0,0,1),(0,0,2)}:
        #   (1,3,3) -> (0,0,2) is sqrt(1 + 9 + 1)
        ({"hausdorff_classes": "merged"}, 4.5 / 6, math.sqrt(11) / 6),
        # unit cube: axes scaled by (1/2, 1/4, 1/4), divided by sqrt(3): st 1/4 / sqrt(3)
        ({"normalize": "unit"}, 4.5 / 6, (0 + 1 + 0.25 / math.sqrt(3)) / 3),
        # one-sided: pred -> truth for st is 1 (from (0,0,2)); sb one empty is still 1
        ({"direction": "pred_to_truth"}, 4.5 / 6, (0 + 1 + 1 / 6) / 3),
        ({"direction": "truth_to_pred"}, 4.5 / 6, (0 + 1 + 1 / 6) / 3),
    ],
)
def test_uwmgi_score_hand_computed(options, dice_, hd):
    truth, pred = tiny_tables()
    report = uwmgi_score(truth, pred, **options)
    assert isinstance(report, ScoreReport)
    assert report.dice == pytest.approx(dice_, abs=1e-12)
    assert report.hausdorff == pytest.approx(hd, abs=1e-12)
    assert report.score == pytest.approx(0.4 * dice_ + 0.6 * (1 - hd), abs=1e-12)
    assert report.summary.loc[0, "score"] == pytest.approx(report.score)
    assert report.summary.loc[0, "images"] == 2
    assert report.summary.loc[0, "scans"] == 1


def test_uwmgi_score_default_is_two_thirds():
    truth, pred = tiny_tables()
    report = uwmgi_score(truth, pred)
    assert report.score == pytest.approx(2 / 3, abs=1e-12)
    per_class = report.per_class.set_index("class")
    assert list(per_class.index) == [*CLASSES, "all"]
    assert per_class.loc["stomach", "dice"] == pytest.approx(0.75)  # (0.5 + 1) / 2
    assert per_class.loc["small_bowel", "dice"] == pytest.approx(0.5)
    assert per_class.loc["stomach", "hausdorff"] == pytest.approx(1 / 6)
    assert per_class.loc["small_bowel", "hausdorff"] == 1.0
    assert per_class.loc["stomach", "truth_positive"] == 1
    assert per_class.loc["small_bowel", "pred_positive"] == 0
    scan = report.per_scan.set_index("class")
    assert scan.loc["stomach", "hausdorff_raw"] == 1.0
    assert scan.loc["small_bowel", "hausdorff_raw"] == math.inf
    assert (scan["depth"] == 2).all() and (scan["height"] == 4).all()
    same(report.per_image["stomach"], [0.5, 1.0])
    # the same from the long formats (train.csv and a submission)
    long_truth = pd.DataFrame(
        {
            "id": np.repeat(truth["id"], 3).to_numpy(),
            "class": list(CLASSES) * 2,
            "segmentation": [np.nan, np.nan, "1 2", np.nan, "16 1", np.nan],
        }
    )
    submission = pd.DataFrame(
        {"id": ["case1_day0_slice_0001"] * 3, "class": list(CLASSES), "predicted": ["", "", "2 2"]}
    )
    sizes = truth[["id", "height", "width"]]
    again = uwmgi_score(long_truth, submission, images=sizes)
    assert again.score == pytest.approx(2 / 3, abs=1e-12)


def test_uwmgi_score_against_reference():
    rng = np.random.default_rng(0)
    truth_rows = []
    pred_rows = {}
    for case, day, depth, (h, w) in [(3, 0, 6, (12, 10)), (3, 5, 4, (9, 9)), (17, 1, 5, (8, 14))]:
        zz, yy, xx = np.mgrid[:depth, :h, :w]
        for c in CLASSES:
            centre = rng.uniform(0, 1, size=3) * [depth, h, w]
            radius = rng.uniform(0.5, 3.5)
            blob = ((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2) < radius**2
            if rng.random() < 0.2:
                blob[:] = False
            noisy = blob ^ (rng.random(blob.shape) < 0.03)
            if rng.random() < 0.2:
                noisy[:] = False
            for z in range(depth):
                image_id = f"case{case}_day{day}_slice_{z + 1:04d}"
                if c == CLASSES[0]:
                    truth_rows.append({"id": image_id, "height": h, "width": w})
                row = next(r for r in truth_rows if r["id"] == image_id)
                row[c] = metric_encode(blob[z])
                pred_rows.setdefault(image_id, {})[c] = metric_encode(noisy[z])
    # drop a few prediction rows: they count as empty predictions
    dropped = {r["id"] for r in truth_rows[::7]}
    pred_rows = {k: v for k, v in pred_rows.items() if k not in dropped}
    truth = pd.DataFrame(truth_rows)
    pred = pd.DataFrame([{"id": k, **v} for k, v in pred_rows.items()])
    for empty in EMPTIES:
        score, mean_dice, mean_hd = metric_uwmgi_score(truth_rows, pred_rows, CLASSES, empty)
        report = uwmgi_score(truth, pred.sample(frac=1.0, random_state=0), empty=empty)
        assert report.dice == pytest.approx(mean_dice, abs=1e-12)
        assert report.hausdorff == pytest.approx(mean_hd, abs=1e-12)
        assert report.score == pytest.approx(score, abs=1e-12)
        assert len(report.per_scan) == 3 * 3


def test_uwmgi_score_errors():
    truth, pred = tiny_tables()
    stray = pd.concat([pred, pred.assign(id="case9_day9_slice_0001")], ignore_index=True)
    with pytest.raises(LayoutError, match=r"pred has 1 id\(s\) that are not in truth: 'case9_day9_slice_0001'"):
        uwmgi_score(truth, stray)
    with pytest.raises(LayoutError, match="duplicated id"):
        uwmgi_score(truth, pd.concat([pred, pred], ignore_index=True))
    with pytest.raises(LayoutError, match="pass images="):
        uwmgi_score(truth.drop(columns=["height", "width"]), pred)
    with pytest.raises(LayoutError, match=r"1 truth id\(s\) have no size in images: 'case1_day0_slice_0002'"):
        uwmgi_score(truth, pred, images=truth[["id", "height", "width"]].iloc[:1])
    with pytest.raises(RlemaskError, match="normalize='box' is not one of"):
        uwmgi_score(truth, pred, normalize="box")
    with pytest.raises(RlemaskError, match="is not a valid empty-mask convention"):
        uwmgi_score(truth, pred, empty=0.5)
    with pytest.raises(InvalidRleError, match="pred id case1_day0_slice_0001 class stomach: .*past the 16 pixels"):
        uwmgi_score(truth, pred.assign(stomach="16 2"))
    with pytest.raises(LayoutError, match=r"scan case1_day0 misses 1 of its slices 1..2: slice\(s\) 1 "):
        uwmgi_score(truth.iloc[1:], pred.iloc[:0])
    with pytest.raises(LayoutError, match="truth has no rows"):
        uwmgi_score(truth.iloc[:0], pred.iloc[:0])
    with pytest.raises(LayoutError, match="mixes slice sizes"):
        uwmgi_score(truth.assign(height=[4, 5]), pred)


def test_uwmgi_score_sparse_submission(tmp_path):
    # a submission that lists only its non-empty rows: absent rows are empty predictions
    truth, _ = tiny_tables()
    sparse = pd.DataFrame({"id": ["case1_day0_slice_0001"], "class": ["stomach"], "predicted": ["2 2"]})
    report = uwmgi_score(truth, sparse)
    assert report.score == pytest.approx(2 / 3, abs=1e-12)
    path = tmp_path / "sparse.csv"
    sparse.to_csv(path, index=False)
    assert uwmgi_score(truth, path).score == pytest.approx(2 / 3, abs=1e-12)
    # the truth must still be complete
    long_truth = pd.DataFrame(
        {"id": ["case1_day0_slice_0001", "case1_day0_slice_0002"], "class": ["stomach", "stomach"],
         "segmentation": ["1 2", ""]}
    )
    with pytest.raises(LayoutError, match=r"lacks rows for some \(id, class\) pairs: case1_day0_slice_0001/large_bowel"):
        uwmgi_score(long_truth, sparse, images=truth[["id", "height", "width"]])


@pytest.mark.parametrize("bad", [2.7, math.nan, -4, 1e30, "four"])
@pytest.mark.parametrize("column", ["height", "width"])
def test_uwmgi_score_rejects_bad_sizes(bad, column):
    truth, pred = tiny_tables()
    truth[column] = truth[column].astype(object)
    truth.loc[1, column] = bad
    with pytest.raises(LayoutError, match=rf"id=case1_day0_slice_0002\) has {column}=.*expected a non-negative integer"):
        uwmgi_score(truth, pred)
    sizes = truth[["id", "height", "width"]]
    with pytest.raises(LayoutError, match="case1_day0_slice_0002"):  # NaN: "have no size in images"
        uwmgi_score(truth.drop(columns=["height", "width"]), pred, images=sizes)


# --------------------------------------------------------------------------
# rlemask score (command line)
# --------------------------------------------------------------------------


def _write_tiny(tmp_path):
    truth, pred = tiny_tables()
    long_truth = truth.melt(
        id_vars=["id"], value_vars=list(CLASSES), var_name="class", value_name="segmentation"
    )
    long_pred = pred.melt(id_vars=["id"], value_vars=list(CLASSES), var_name="class", value_name="predicted")
    truth_csv = tmp_path / "train.csv"
    pred_csv = tmp_path / "submission.csv"
    sizes_csv = tmp_path / "sizes.csv"
    long_truth.to_csv(truth_csv, index=False)
    long_pred.to_csv(pred_csv, index=False)
    truth[["id", "height", "width"]].to_csv(sizes_csv, index=False)
    return truth_csv, pred_csv, sizes_csv


def test_cli_score(tmp_path, capsys):
    import json

    from rlemask.cli import main

    truth_csv, pred_csv, sizes_csv = _write_tiny(tmp_path)
    out_csv = tmp_path / "out" / "score.csv"
    code = main(["score", "--truth", str(truth_csv), "--pred", str(pred_csv), "--images", str(sizes_csv), "-o", str(out_csv)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "score=0.666667" in printed and "stomach" in printed
    table = pd.read_csv(out_csv)
    assert list(table["class"]) == [*CLASSES, "all"]
    assert table.set_index("class").loc["all", "score"] == pytest.approx(2 / 3, abs=1e-9)
    assert not list((tmp_path / "out").glob(".score-*"))  # no temporary file left

    out_json = tmp_path / "score.json"
    code = main(
        ["score", "--truth", str(truth_csv), "--pred", str(pred_csv), "--images", str(sizes_csv),
         "-o", str(out_json), "--empty", "skip", "--per-scan"]
    )
    assert code == 0
    data = json.loads(out_json.read_text())
    assert data["score"] == pytest.approx(0.35, abs=1e-12)
    assert data["options"]["empty"] == "skip"
    scans = {row["class"]: row for row in data["per_scan"]}
    assert scans["large_bowel"]["hausdorff"] is None  # skipped -> null
    assert scans["small_bowel"]["hausdorff_raw"] is None  # inf -> null


def test_cli_score_errors(tmp_path, capsys):
    from rlemask.cli import main

    truth_csv, pred_csv, sizes_csv = _write_tiny(tmp_path)
    assert main(["score", "--truth", str(tmp_path / "nope.csv"), "--pred", str(pred_csv)]) == 2
    assert "is not a file" in capsys.readouterr().err
    # no sizes anywhere: a LayoutError, reported as a usage error
    assert main(["score", "--truth", str(truth_csv), "--pred", str(pred_csv)]) == 2
    assert "pass images=" in capsys.readouterr().err
    assert main(["score", "--truth", str(truth_csv), "--pred", str(pred_csv), "--images", str(sizes_csv), "-o", str(tmp_path / "x.txt")]) == 2
    assert "must end in .csv or .json" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score", "--truth", str(truth_csv), "--pred", str(pred_csv), "--empty", "0.5"])


def test_cli_score_sparse_submission(tmp_path, capsys):
    from rlemask.cli import main

    truth_csv, _, sizes_csv = _write_tiny(tmp_path)
    sparse_csv = tmp_path / "sparse.csv"
    sparse_csv.write_text("id,class,predicted\ncase1_day0_slice_0001,stomach,2 2\n")
    code = main(["score", "--truth", str(truth_csv), "--pred", str(sparse_csv), "--images", str(sizes_csv)])
    assert code == 0
    assert "score=0.666667" in capsys.readouterr().out


# --------------------------------------------------------------------------
# real RLE strings (../shared/data/uwmgi-real)
# --------------------------------------------------------------------------


@pytest.mark.realdata
def test_real_rle_strings(real_data):
    from rlemask import uwmgi

    pred = uwmgi.read_labels(real_data / "predicted_rle_first1000.csv")
    sizes = pd.read_csv(real_data / "image_index.csv")
    shape_of = dict(zip(sizes["id"], zip(sizes["height"], sizes["width"])))
    strings = [(i, s) for i, s in zip(pred["id"], pred["stomach"]) if s]
    assert len(strings) > 50
    rng = np.random.default_rng(0)
    for k in rng.choice(len(strings), size=40, replace=False):
        image_id, s = strings[k]
        shape = shape_of[image_id]
        other = strings[(k + 1) % len(strings)][1]
        mask = metric_decode(s, shape)
        try:
            other_mask = metric_decode(other, shape)
        except IndexError:  # the neighbour's runs do not fit this size
            continue
        assert dice_rle(s, s, shape) == 1.0
        assert dice_rle(s, other, shape) == pytest.approx(float(dice(mask, other_mask)), abs=1e-15)


@pytest.mark.realdata
def test_real_predictions_score_themselves_perfectly(real_data):
    pred_csv = real_data / "predicted_rle_first1000.csv"
    report = uwmgi_score(pred_csv, pred_csv, images=real_data / "image_index.csv")
    assert report.score == 1.0 and report.dice == 1.0 and report.hausdorff == 0.0
    assert report.summary.loc[0, "images"] == 1000
    assert report.summary.loc[0, "scans"] == 7
    # shifting one scan's stomach by 3 columns costs exactly 3 pixels of Hausdorff
    from rlemask import uwmgi
    from rlemask.rle import encode

    table = uwmgi.read_labels(pred_csv)
    sizes = pd.read_csv(real_data / "image_index.csv")
    table = table.merge(sizes[["id", "height", "width"]], on="id")
    shifted = table.copy()
    rows = (shifted["case"] == 123) & (shifted["day"] == 20)
    for i in np.flatnonzero(rows.to_numpy()):
        h, w = int(shifted.at[i, "height"]), int(shifted.at[i, "width"])
        m = metric_decode(shifted.at[i, "stomach"], (h, w))
        if m[:, -3:].any():
            pytest.skip("stomach touches the right edge")
        shifted.at[i, "stomach"] = encode(np.roll(m, 3, axis=1))
    report = uwmgi_score(table, shifted)
    scan = report.per_scan.set_index(["case_day", "class"])
    if table.loc[rows, "stomach"].astype(bool).any():
        assert scan.loc[("case123_day20", "stomach"), "hausdorff_raw"] == 3.0
        depth, h, w = scan.loc[("case123_day20", "stomach"), ["depth", "height", "width"]]
        assert scan.loc[("case123_day20", "stomach"), "hausdorff"] == pytest.approx(3 / math.sqrt(depth**2 + h**2 + w**2))


def test_docstring_examples():
    """The examples in rlemask.metrics run (testpaths only collects tests/)."""
    import doctest

    import importlib

    attempted = 0
    for name in ("", "._pixel", "._runs", "._distance", "._competition"):
        module = importlib.import_module(f"rlemask.metrics{name}")
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted >= 15


def test_small_inputs_run_serial_builds_without_touching_the_thread_count(monkeypatch):
    """Small metric calls pick the kernels' serial builds per thread; they never call
    numba.set_num_threads (with numba's OpenMP layer that would change the thread count
    torch uses in the same process)."""
    import numba

    from rlemask import _tier

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 numba threads")
    before = numba.get_num_threads()
    numba.set_num_threads(2)
    calls = []
    monkeypatch.setattr(numba, "set_num_threads", lambda n: calls.append(n))
    try:
        a = np.zeros((2, 64, 64), np.uint8)
        a[:, 10:20, 10:30] = 1
        assert float(dice(a[0], a[1])) == 1.0
        assert float(hausdorff(a[0], a[1])) == 0.0
        big = np.zeros((4, 512, 512), np.uint8)  # 2 MiB of input and more: the parallel builds
        big[:, 100:200, 100:300] = 1
        assert np.allclose(dice(big, big), 1.0)
        assert calls == []
        assert numba.get_num_threads() == 2
    finally:
        monkeypatch.undo()
        numba.set_num_threads(before)
    with _tier.serial():
        assert _tier.is_serial()
        with _tier.serial(False):  # an inner large call keeps the outer choice
            assert _tier.is_serial()
    assert not _tier.is_serial()
    with pytest.raises(KeyError):
        with _tier.serial():
            raise KeyError
    assert not _tier.is_serial()
