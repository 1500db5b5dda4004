"""The one validation layer: conversion, the empty-cell rule, structured errors, one CLASSES."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import rlemask
from rlemask import _convert as cv
from rlemask import uwmgi
from rlemask.errors import InvalidMaskError, InvalidRleError
from rlemask.masks import stack, stack_table, unstack, unstack_many
from rlemask.metrics import dice, dice_rle, hausdorff, iou, uwmgi_score
from rlemask.rle import area, decode, decode_many, encode, encode_many

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.parametrize("empty", [None, "", float("nan"), np.float32("nan"), pd.NA, pd.NaT])
def test_empty_cells_are_empty_everywhere(empty):
    assert cv.rle_text(empty) == ""
    assert not decode(empty, (2, 2)).any()
    assert area(empty) == 0
    assert not decode_many(["1 1", empty], (2, 2))[1].any()
    assert dice_rle(empty, "", (2, 2)) == 1.0
    t = pd.DataFrame({"id": ["case1_day0_slice_0001"], "class": ["stomach"], "segmentation": [empty]})
    assert uwmgi.read_labels(t, missing="empty")["stomach"].tolist() == [""]


@pytest.mark.parametrize("bad", [5, 1.5, [1, 2], ("1", "2"), np.int64(3), True, object()])
def test_other_non_strings_are_errors_everywhere(bad):
    for call in (
        lambda: decode(bad, (2, 2)),
        lambda: area(bad),
        lambda: dice_rle(bad, "", (2, 2)),
    ):
        with pytest.raises(InvalidRleError, match="is not a run-length string; expected str"):
            call()
    with pytest.raises(InvalidRleError, match=r"rles\[1\]: .* is not a run-length string") as info:
        decode_many(["1 1", bad], (2, 2))
    assert info.value.item == 1
    table = pd.DataFrame({"id": ["case1_day0_slice_0001", "case1_day0_slice_0002"], "class": ["stomach"] * 2,
                          "segmentation": ["1 1", bad]})
    with pytest.raises(InvalidRleError, match=r"column 'segmentation', row 1: .* is not a run-length string"):
        uwmgi.read_labels(table, missing="empty")


def test_item_is_set_by_batch_paths():
    with pytest.raises(InvalidRleError) as info:
        decode_many(["1 1", "", "9 9"], (2, 2))
    assert info.value.item == 2 and info.value.run == 0
    assert info.value.reason.startswith("run 0 (start=9, length=9) ends at pixel 17")
    assert str(info.value) == "rles[2]: " + info.value.reason
    with pytest.raises(InvalidRleError) as info:
        decode_many(["1 1", "1 x"], (2, 2))
    assert (info.value.item, info.value.token) == (1, 1)
    with pytest.raises(InvalidRleError) as info:
        stack(["", "", "1 9"], (2, 2))
    assert info.value.item == 2
    with pytest.raises(InvalidMaskError) as info:
        encode_many(np.array([[[0, 1]], [[1, 7]]], np.uint8))
    assert info.value.item == 1
    table = pd.DataFrame({"id": ["a", "b"], "height": 2, "width": 2, "large_bowel": ["", ""],
                          "small_bowel": ["", "1 99"], "stomach": ["", ""]})
    with pytest.raises(InvalidRleError, match=r"table row 1 \(id=b, class=small_bowel, shape=\(2, 2\)\): run 0") as info:
        stack_table(table)
    assert info.value.item == 1 and info.value.run == 0
    truth = pd.DataFrame({"id": ["case1_day0_slice_0001"], "height": 2, "width": 2, "stomach": ["1 1"]})
    with pytest.raises(InvalidRleError, match="pred id case1_day0_slice_0001 class stomach: run 0") as info:
        uwmgi_score(truth, truth.assign(stomach="4 2"), classes=["stomach"])
    assert info.value.item == 0


class Tensor:
    """Duck-typed tensor whose .numpy() fails (bfloat16) until .float()."""

    def __init__(self, array, bf16=True):
        self.array, self.bf16 = np.asarray(array), bf16

    def detach(self):
        return self

    def cpu(self):
        return self

    def float(self):
        return Tensor(self.array.astype(np.float32), bf16=False)

    def numpy(self):
        if self.bf16:
            raise TypeError("Got unsupported ScalarType BFloat16")
        return self.array


def test_tensors_are_accepted_everywhere():
    m = np.zeros((2, 2, 3), np.uint8)
    m[1, 1, 2] = 1
    assert encode(Tensor(m[..., 2])) == "4 1"
    assert encode_many(Tensor(m.transpose(2, 0, 1))) == ["", "", "4 1"]
    assert unstack(Tensor(m), id="x")["segmentation"].tolist() == ["", "", "4 1"]
    assert unstack_many(Tensor(m[None]), ["x"])["segmentation"].tolist() == ["", "", "4 1"]
    assert unstack_many([Tensor(m)], ["x"])["segmentation"].tolist() == ["", "", "4 1"]
    assert dice(Tensor(m), m).tolist() == [1.0, 1.0]
    assert float(iou(m[..., 2], Tensor(m[..., 2]))) == 1.0
    assert hausdorff(Tensor(m[..., 2]), m[..., 2]) == 0.0


def test_one_wording_for_bad_values():
    pattern = r"\[0, 1\] = 7(\.0)?; expected only 0 and 1 \(bool, integers or floats 0.0/1.0\)"
    bad = np.array([[0, 7]], np.uint8)
    for call, name in (
        (lambda: encode(bad), "mask"),
        (lambda: dice(bad, bad * 0), "truth"),
        (lambda: iou(bad * 0, bad), "pred"),
        (lambda: hausdorff(bad, bad * 0), "truth"),
        (lambda: encode(bad.astype(float)), "mask"),
    ):
        with pytest.raises(InvalidMaskError, match=re.escape(name) + pattern):
            call()
    with pytest.raises(InvalidMaskError, match=r"mask \(class=stomach\)\[0, 1\] = 7; expected only 0 and 1"):
        unstack(np.stack([bad * 0, bad * 0, bad], -1))
    for call in (lambda: encode(np.array([["a"]])), lambda: dice(np.array([["a"]]), np.zeros((1, 1)))):
        with pytest.raises(InvalidMaskError, match=r"has dtype=<U1; expected 0/1 integers, floats or bool"):
            call()


def test_old_keyword_names_keep_their_meaning():
    t = np.zeros((5, 5), bool)
    p = np.zeros((5, 5), bool)
    t[0, 0] = True
    p[3, 4] = p[0, 1] = True
    with pytest.warns(FutureWarning, match=r"hausdorff\(\): the keyword\(s\) a, b are renamed to truth, pred"):
        assert hausdorff(a=t, b=p, directed=True) == hausdorff(t, p, directed=True) == 1.0
    assert hausdorff(p, t, directed=True) == 5.0
    with pytest.warns(FutureWarning, match="truth_rle, pred_rle are renamed to truth, pred"):
        assert dice_rle(pred_rle="1 4", truth_rle="3 4", shape=(4, 4)) == 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(dice(pred=p, truth=t)) == float(dice(t, p))  # same names as before: no warning
        assert float(iou(pred=p, truth=t)) == float(iou(t, p))
    with pytest.raises(TypeError, match="got both a= .* and truth="):
        hausdorff(t, a=t, truth=p)


def test_one_classes_and_one_id_regex():
    from rlemask.metrics import _competition

    assert _competition.CLASSES is uwmgi.CLASSES
    assert uwmgi.ID_REGEX.fullmatch("case12_day3_slice_0004").groups() == ("12", "3", "0004")
    assert uwmgi.ID_REGEX.fullmatch("case\u0661_day3_slice_0004") is None  # Arabic-Indic digit one
    assert uwmgi.SCAN_REGEX.fullmatch("case1_day2") is not None
    # nothing under src/rlemask re-declares the class names or an id pattern with \d
    for path in (SRC / "rlemask").rglob("*.py"):
        text = path.read_text()
        if path.name != "uwmgi.py" and path.parent.name != "commands":  # commands: the CLI helper's
            assert not re.search(r"=\s*\(\s*\"large_bowel\",\s*\"small_bowel\"", text), path
        if path.parent.name != "commands":  # the CLI's own patterns are checked in tests/test_cli*.py
            assert r"case(\d" not in text, path


def test_nonbinary_uint8_tensor_like_and_ndarray_subclass():
    assert cv.as_array(np.ma.array([[1, 0]], mask=[[True, False]])).tolist() == [[1, 0]]
    assert type(cv.as_array(np.ma.array([[1]]))) is np.ndarray
    with pytest.raises(InvalidMaskError, match="cannot be read as an array"):
        cv.as_array([[1, 2], [3]])
    assert math.isnan(float("nan"))
    assert rlemask.uwmgi.CLASSES == ("large_bowel", "small_bowel", "stomach")
