"""Run-length dialects: base 0/1, relative offsets, empty tokens, 0/255 masks, conversion."""

from __future__ import annotations

import doctest
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rlemask
from rlemask.dialects import DIALECTS, Dialect, convert
from rlemask.errors import InvalidMaskError, InvalidRleError, RlemaskError
from rlemask.rle import area, decode, decode_many, encode, encode_many
from tests.reference import (
    dialect_reference_decode,
    dialect_reference_encode,
    siim_mask2rle,
    siim_rle2mask,
)
from tests.strategies import rle_masks

DOCS = Path(__file__).resolve().parents[1] / "docs"

#: every combination of the dialect options
ALL = [
    Dialect(order=o, base=b, relative=r, empty_token=e)
    for o, b, r, e in itertools.product("CF", (0, 1), (False, True), (None, "-1"))
]


@settings(max_examples=120, deadline=None)
@given(mask=rle_masks(), dialect=st.sampled_from(ALL))
def test_every_dialect_round_trips_and_matches_the_reference(mask, dialect):
    opts = dialect.options()
    text = encode(mask, **opts)
    assert text == dialect_reference_encode(mask, **opts)
    back = decode(text, mask.shape, **opts)
    np.testing.assert_array_equal(back, np.asarray(mask) != 0)
    np.testing.assert_array_equal(dialect_reference_decode(text, mask.shape, **opts), back)
    assert area(text, **{k: v for k, v in opts.items() if k != "order"}) == int(np.count_nonzero(mask))
    many = encode_many(np.stack([mask, np.zeros_like(mask)]), **opts)
    assert many == [text, dialect_reference_encode(np.zeros(mask.shape), **opts)]
    np.testing.assert_array_equal(decode_many(many, mask.shape, **opts), np.stack([back, 0 * back]))


@settings(max_examples=80, deadline=None)
@given(mask=rle_masks(max_side=9, dtypes=("uint8",)), pair=st.tuples(st.sampled_from(sorted(DIALECTS)),
                                                                     st.sampled_from(sorted(DIALECTS))))
def test_convert_between_presets(mask, pair):
    source, target = (DIALECTS[name] for name in pair)
    text = encode(mask, **source.options())
    got = convert(text, mask.shape, source=pair[0], target=pair[1])
    assert got == encode(mask, **target.options())
    if source.order == target.order:  # no shape needed
        assert convert(text, source=source, target=target.options()) == got


@settings(max_examples=60, deadline=None)
@given(mask=rle_masks(max_side=9, dtypes=("uint8",)))
def test_siim_notebook_functions(mask):
    # mask2rle of the competition misses a run that touches the last pixel: keep it 0
    m = np.array(mask, np.uint8)
    if m.size:
        m[-1, -1] = 0
    h, w = m.shape
    siim = DIALECTS["siim"].options()
    expected = siim_mask2rle((m * 255).T, w, h)  # the kernels pass mask.T: column by column
    assert encode(m, **siim) == (expected or "-1")
    if expected:
        np.testing.assert_array_equal(decode(expected, (h, w), **siim), siim_rle2mask(expected, w, h).T / 255)


def test_one_run_is_never_guessed():
    # "3 2" is valid absolute and relative: the caller's choice, and only theirs, decides
    assert decode("3 2", (1, 6)).tolist() == [[0, 0, 1, 1, 0, 0]]
    assert decode("3 2", (1, 6), base=0).tolist() == [[0, 0, 0, 1, 1, 0]]
    assert decode("3 2 1 1", (1, 8), relative=True).tolist() == [[0, 0, 1, 1, 0, 1, 0, 0]]


def test_empty_token_is_explicit():
    with pytest.raises(InvalidRleError, match=r"token 0 \('-1'.*pass empty_token='-1'"):
        decode("-1", (2, 2))
    assert not decode(" -1 ", (2, 2), empty_token="-1").any()
    assert area("-1", empty_token="-1") == 0
    assert encode(np.zeros((2, 2)), empty_token="-1") == "-1"
    assert encode_many(np.zeros((2, 2, 2)), base=0, empty_token="-1") == ["-1", "-1"]
    with pytest.raises(InvalidRleError, match=r"rles\[1\]: token 0 \('-1'"):
        decode_many(["1 1", "-1"], (2, 2), empty_token="0")


def test_nonzero_masks():
    png = np.array([[0, 255, 255], [255, 0, 0]], np.uint8)
    with pytest.raises(InvalidMaskError, match=r"mask\[0, 1\] = 255; expected only 0 and 1.*pass nonzero=True"):
        encode(png)
    assert encode(png, nonzero=True) == "2 3"
    assert encode(png[..., None], nonzero=True) == "2 3"
    assert encode(png.astype(np.float32) / 7, nonzero=True, order="F") == "2 2 5 1"
    assert encode(png == 255, nonzero=True) == "2 3"
    assert encode_many(np.stack([png, 0 * png])[..., None], nonzero=True) == ["2 3", ""]
    with pytest.raises(InvalidMaskError, match=r"shape=\(2, 3, 1\) \(3-D\); expected a 2-D array"):
        encode(png[..., None])  # the default stays strict
    with pytest.raises(InvalidMaskError, match=r"shape=\(2, 3, 2\)"):
        encode(np.stack([png, png], -1), nonzero=True)
    with pytest.raises(InvalidMaskError, match=r"mask\[1, 1\] = nan.*NaN is neither"):
        encode(np.array([[0, 1], [1, np.nan]]), nonzero=True)


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        ({"base": 2}, "base=2 is not an index base"),
        ({"base": True}, "base=True is not an index base"),
        ({"base": 1.0}, "base=1.0 is not an index base"),
        ({"relative": 1}, "relative=1 is not a bool"),
        ({"relative": "yes"}, "relative='yes' is not a bool"),
        ({"empty_token": ""}, "empty_token='': expected None or a non-blank string"),
        ({"empty_token": -1}, "empty_token=-1"),
    ],
)
def test_bad_dialect_options(kwargs, fragment):
    for call in (
        lambda: encode(np.zeros((2, 2)), **kwargs),
        lambda: decode("1 1", (2, 2), **kwargs),
        lambda: decode_many(["1 1"], (2, 2), **kwargs),
        lambda: encode_many(np.zeros((1, 2, 2)), **kwargs),
        lambda: area("1 1", **kwargs),
    ):
        with pytest.raises(RlemaskError, match=fragment):
            call()


@pytest.mark.parametrize(
    "text,kwargs,fragment,fields",
    [
        ("0 2", {"relative": True}, r"run 0 \(offset=0, length=2\) has offset < 1", {"run": 0, "token": 0}),
        ("0 2 1 3", {"base": 0, "relative": True}, r"run 1 \(offset=1, length=3\) covers pixels 3..5 \(0-based\), past the 4",
         {"run": 1, "offset": 3}),
        ("2 1 0 1", {"base": 0}, r"run 1 \(start=0, length=1\) starts at pixel 0 \(0-based\), before run 0", {"run": 1}),
        ("1 99999999999999999", {"base": 0, "relative": True}, r"holds a number above 5", {"run": 0}),
        ("1 2 3", {"base": 0}, r"odd number of tokens \(3\)", {"token": 2}),
    ],
)
def test_dialect_errors_name_the_run(text, kwargs, fragment, fields):
    with pytest.raises(InvalidRleError, match=fragment) as info:
        decode(text, (2, 2), **kwargs)
    for key, value in fields.items():
        assert getattr(info.value, key) == value
    out = np.full((2, 2, 2), 7, np.uint8)
    with pytest.raises(InvalidRleError) as info:
        decode_many(["", text], (2, 2), out=out, **kwargs)
    assert info.value.item == 1 and str(info.value).startswith("rles[1]: ")
    assert (out == 7).all()  # nothing written


def test_strict_false_unions_runs_in_any_dialect():
    assert decode("3 1 0 1", (2, 2), base=0, strict=False).tolist() == [[1, 0], [0, 1]]
    assert convert("3 1 0 1", (2, 2), source={"base": 0}, target="uwmgi", strict=False) == "1 1 4 1"


def test_decode_out_in_a_dialect():
    out = np.full((3, 2), 9, np.uint8, order="F")
    assert decode("0 2", (3, 2), base=0, out=out) is out
    assert out.tolist() == [[1, 1], [0, 0], [0, 0]]
    batch = np.full((2, 3, 2), 9, np.uint8)
    assert decode_many(["0 2", "-1"], (3, 2), base=0, empty_token="-1", order="F", out=batch) is batch
    assert batch[0].tolist() == [[1, 0], [1, 0], [0, 0]] and not batch[1].any()


def test_convert_errors_and_presets():
    with pytest.raises(RlemaskError, match="needs shape="):
        convert("1 2", source="uwmgi", target="airbus")
    with pytest.raises(RlemaskError, match="'kaggle' is not a known dialect"):
        convert("1 2", source="kaggle", target="uwmgi")
    with pytest.raises(RlemaskError, match=r"unknown key\(s\) \['start'\]"):
        convert("1 2", source={"start": 0}, target="uwmgi")
    assert rlemask.convert is convert and rlemask.DIALECTS is DIALECTS
    assert decode("1 1", (2, 2), **DIALECTS["airbus"].options()).tolist() == [[1, 0], [0, 0]]


def test_format_doc_examples_run():
    result = doctest.testfile(str(DOCS / "format.md"), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted >= 12
