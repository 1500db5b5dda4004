"""rlemask_models.predict and .evaluate: submissions at the original size, overlays, per-class tables."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import rlemask
from rlemask.errors import RlemaskError

pytestmark = pytest.mark.models

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")

TINY = "tu-test_efficientnet"
CLASSES = ("large_bowel", "small_bowel", "stomach")


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for two epochs on generated data: (root, checkpoint)."""
    from rlemask_models import synthetic
    from rlemask_models.train import fit

    base = tmp_path_factory.mktemp("predict")
    root = synthetic.generate(base / "data", cases=3, days=1, slices=8, seed=1)
    fit(data=str(root), out=str(base / "run"), folds=3, fold=0, encoder=TINY, size=(64, 64),
        epochs=10, batch_size=4, lr=1e-2, empty="drop", augment=False, progress=False, seed=0)
    return root, base / "run" / "last.pt"


def _submission_masks(frame: pd.DataFrame, shapes: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    out = {}
    for image_id, group in frame.groupby("id", sort=False):
        assert list(group["class"]) == list(CLASSES)
        rles = group["predicted"].fillna("").tolist()
        out[image_id] = rlemask.decode_many(rles, shapes[image_id])
    return out


def test_predict_round_trips_through_rle_at_the_original_size(trained, tmp_path):
    from rlemask import uwmgi
    from rlemask_models.data import SliceDataset, restore
    from rlemask_models.model import model_from_checkpoint
    from rlemask_models.predict import predict

    root, ckpt = trained
    out = tmp_path / "sub" / "submission.csv"
    rows = predict(ckpt, root, out, device="cpu")
    images = uwmgi.scan(root)
    assert len(set(zip(images["height"], images["width"]))) >= 2  # mixed sizes
    written = pd.read_csv(out, keep_default_na=False)
    assert list(written.columns) == ["id", "class", "predicted"]
    assert len(written) == 3 * len(images)
    assert list(written["id"][::3]) == list(images["id"])  # sorted by case, day, slice
    assert written.equals(rows.astype(written.dtypes.to_dict()))
    assert not list(out.parent.glob(".*tmp"))

    # the same masks, computed by hand: logits on the grid -> restore -> threshold
    model, cfg, _ = model_from_checkpoint(ckpt)
    ds = SliceDataset(images.assign(**{c: "" for c in CLASSES}), size=tuple(cfg["size"]))
    shapes = dict(zip(images["id"], zip(images["height"], images["width"])))
    decoded = _submission_masks(written, shapes)
    nonempty = 0
    with torch.no_grad():
        for i in range(len(ds)):
            item = ds[i]
            probs = torch.sigmoid(model(item["image"][None]))[0]
            expected = (restore(probs, item["shape"], size=ds.size, resize="resize") > 0.5).astype(np.uint8)
            got = decoded[item["id"]]
            assert got.shape == (3, *shapes[item["id"]])
            np.testing.assert_array_equal(got, expected)
            assert rlemask.encode_many(got) == rlemask.encode_many(expected)
            nonempty += int(got.any())
    assert nonempty > 0  # the comparison covered real predictions


def test_predict_with_a_model_keeps_its_mode_and_device(trained, tmp_path):
    from rlemask_models.model import model_from_checkpoint
    from rlemask_models.predict import predict

    root, ckpt = trained
    model, cfg, _ = model_from_checkpoint(ckpt)
    model.train()
    a = predict(model, root, tmp_path / "a.csv", config=cfg)
    assert model.training
    model.eval()
    b = predict(model, root, tmp_path / "b.csv", config=cfg)
    assert not model.training
    c = predict(ckpt, root, tmp_path / "c.csv", device="cpu")
    assert a.equals(b) and a.equals(c)


def test_overlays_show_slice_truth_and_prediction(trained, tmp_path):
    from PIL import Image

    from rlemask import uwmgi
    from rlemask_models.predict import predict

    root, ckpt = trained
    rows = predict(ckpt, root, tmp_path / "s.csv", overlays=tmp_path / "ov", max_overlays=3, device="cpu")
    files = sorted((tmp_path / "ov").glob("*.png"))
    assert 1 <= len(files) <= 3
    images = uwmgi.load_table(root).set_index("id")
    for path in files:
        image_id = path.stem
        h, w = int(images.loc[image_id, "height"]), int(images.loc[image_id, "width"])
        picture = np.asarray(Image.open(path).convert("RGB"))
        assert picture.shape == (h + 14, 3 * w + 8, 3)
        truth_panel = picture[14:, w + 4 : 2 * w + 4].astype(int)
        original = picture[14:, :w].astype(int)
        truth = rlemask.decode_many([images.loc[image_id, c] for c in CLASSES], (h, w))
        # ground-truth pixels are tinted, the rest are the plain slice
        changed = np.abs(truth_panel - original).sum(axis=2) > 0
        np.testing.assert_array_equal(changed & ~truth.any(axis=0), np.zeros_like(changed))
        if truth.any():
            assert changed[truth.any(axis=0)].mean() > 0.9
        # the prediction panel is tinted exactly where the submission says
        sub = rows[rows["id"] == image_id]
        pred = rlemask.decode_many(sub["predicted"].tolist(), (h, w))
        pred_panel = picture[14:, 2 * w + 8 :].astype(int)
        painted = np.abs(pred_panel - original).sum(axis=2) > 0
        np.testing.assert_array_equal(painted & ~pred.any(axis=0), np.zeros_like(painted))
        assert truth.any() or pred.any()
    assert rows["id"].nunique() == len(images)


def test_predict_fold_and_missing_labels(trained, tmp_path):
    import shutil

    from rlemask_models.predict import predict

    root, ckpt = trained
    rows = predict(ckpt, root, tmp_path / "f.csv", fold=0, device="cpu")
    assert rows["id"].nunique() == 8  # one case of eight slices
    bare = tmp_path / "bare"
    shutil.copytree(root / "train", bare / "train")
    rows = predict(ckpt, bare, tmp_path / "bare.csv", device="cpu")  # no train.csv: still predicts
    assert rows["id"].nunique() == 24
    with pytest.raises(RlemaskError, match="fold=0 needs labels"):
        predict(ckpt, bare, tmp_path / "x.csv", fold=0)
    with pytest.raises(RlemaskError, match="checkpoint .*nothing.pt' not found"):
        predict(tmp_path / "nothing.pt", root, tmp_path / "x.csv")


def test_predict_on_the_test_split(trained, tmp_path, capsys):
    """The Kaggle test download: ROOT/test/caseN/... (no labels), beside train.csv and train/."""
    import shutil

    from PIL import Image

    from rlemask import uwmgi
    from rlemask.cli import main
    from rlemask_models.predict import predict, prediction_table

    root, ckpt = trained
    kaggle = tmp_path / "kaggle"
    shutil.copytree(root / "train", kaggle / "test")
    first_case = min(p.name for p in (root / "train").iterdir())
    shutil.copytree(root / "train" / first_case, kaggle / "train" / first_case)
    labels = pd.read_csv(root / "train.csv", keep_default_na=False)  # labels of the train split only
    labels[labels["id"].str.startswith(first_case + "_")].to_csv(kaggle / "train.csv", index=False)

    table, labelled = prediction_table(kaggle, split="test")
    assert not labelled and len(table) == 24
    assert (table[list(CLASSES)] == "").all().all()
    assert table["path"].str.contains("/test/").all()

    rows = predict(ckpt, kaggle, tmp_path / "test.csv", split="test", device="cpu",
                   overlays=tmp_path / "ov", max_overlays=2)
    # the same slices under train/ give the same submission
    reference = predict(ckpt, root, tmp_path / "reference.csv", device="cpu")
    assert rows["id"].tolist() == reference["id"].tolist()
    assert rows.equals(reference)
    # overlays without labels: slice and prediction only (no ground-truth panel)
    images = uwmgi.scan(kaggle, split="test").set_index("id")
    files = sorted((tmp_path / "ov").glob("*.png"))
    assert 1 <= len(files) <= 2
    for path in files:
        h, w = int(images.loc[path.stem, "height"]), int(images.loc[path.stem, "width"])
        assert np.asarray(Image.open(path).convert("RGB")).shape == (h + 14, 2 * w + 4, 3)
    with pytest.raises(RlemaskError, match="fold=0 needs labels, but split='test' has no labels"):
        predict(ckpt, kaggle, tmp_path / "x.csv", split="test", fold=0, device="cpu")

    out = tmp_path / "cli.csv"
    assert main(["predict", "--checkpoint", str(ckpt), "--data", str(kaggle), "--split", "test",
                 "-o", str(out), "--device", "cpu", "--quiet"]) == 0
    assert "24 images, 72 rows" in capsys.readouterr().err
    assert out.read_text() == (tmp_path / "reference.csv").read_text()
    # the default split is still train: here a single case of eight slices
    assert main(["predict", "--checkpoint", str(ckpt), "--data", str(kaggle), "-o", str(tmp_path / "tr.csv"),
                 "--device", "cpu", "--quiet"]) == 0
    assert "8 images, 24 rows" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["predict", "--checkpoint", str(ckpt), "--data", str(kaggle), "--split", "valid", "-o", str(out)])


# --------------------------------------------------------------------------- evaluate


def _scan_table(masks_truth):
    """Two complete one-scan tables for hand-made masks (N, 3, h, w)."""
    n, _, h, w = masks_truth.shape
    ids = [f"case1_day0_slice_{i + 1:04d}" for i in range(n)]
    table = pd.DataFrame({"id": ids, "height": h, "width": w})
    for k, c in enumerate(CLASSES):
        table[c] = [rlemask.encode(m[k]) for m in masks_truth]
    return table


def test_scores_by_hand():
    from rlemask_models.evaluate import Scores

    truth = np.zeros((3, 3, 8, 8), np.uint8)
    truth[0, 0, 2:6, 2:6] = 1  # slice 1: large bowel, 16 px
    truth[1, 2, 0:2, 0:4] = 1  # slice 2: stomach, 8 px
    # slice 3: empty
    pred = truth.copy()
    pred[0, 0, 2:6, 2:4] = 0  # half the large bowel: dice 2*8/(8+16) = 2/3, iou 1/2
    pred[2, 1, 0, 0] = 1  # a false positive on the empty slice
    scores = Scores(_scan_table(truth))
    for i in range(3):
        scores.add(i, pred[i])
    table = scores.table().set_index("class")
    assert table.loc["large_bowel", "dice"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    assert table.loc["large_bowel", "iou"] == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert table.loc["small_bowel", "dice"] == pytest.approx((1 + 1 + 0) / 3)
    assert table.loc["stomach", "dice"] == 1.0 and table.loc["stomach", "hausdorff"] == 0.0
    assert table.loc["small_bowel", "hausdorff"] == 1.0  # organ predicted, absent in truth
    assert (table.loc["small_bowel", "empty_truth"], table.loc["small_bowel", "fp_empty"]) == (3, 1)
    assert table.loc["small_bowel", "fp_empty_rate"] == pytest.approx(1 / 3)
    assert table.loc["large_bowel", "fp_empty"] == 0
    assert (table.loc["all", "empty_truth"], table.loc["all", "fp_empty"]) == (1, 1)
    assert table.loc["all", "dice"] == pytest.approx(np.mean([2 / 3, 1, 1, 1, 1, 1, 1, 1, 0]))
    all_row = table.loc["all"]
    assert all_row["score"] == pytest.approx(0.4 * all_row["dice"] + 0.6 * (1 - all_row["hausdorff"]))
    summary = scores.summary()
    assert summary["per_class"]["stomach"]["fp_empty_rate"] == 0.0
    assert summary["small_bowel"] == summary["per_class"]["small_bowel"]
    assert summary["dice"] == pytest.approx(all_row["dice"])


def test_scores_need_every_row_and_the_right_shape():
    from rlemask_models.evaluate import Scores

    truth = np.zeros((2, 3, 4, 4), np.uint8)
    scores = Scores(_scan_table(truth))
    with pytest.raises(RlemaskError, match=r"has shape \(3, 4, 5\); expected \(3, 4, 4\)"):
        scores.add(0, np.zeros((3, 4, 5), np.uint8))
    scores.add(0, truth[0])
    with pytest.raises(RlemaskError, match=r"1 of 2 rows have no prediction yet"):
        scores.summary()
    # no empty slices at all: the rate is undefined (NaN in the table, null in JSON)
    full = np.ones((1, 3, 4, 4), np.uint8)
    scores = Scores(_scan_table(full))
    scores.add(0, full[0])
    table = scores.table()
    assert math.isnan(table.loc[0, "fp_empty_rate"])
    assert scores.summary()["large_bowel"]["fp_empty_rate"] is None


def test_evaluate_matches_the_submission(trained, tmp_path):
    from rlemask import uwmgi
    from rlemask_models.evaluate import COLUMNS, evaluate
    from rlemask_models.predict import predict

    root, ckpt = trained
    table = evaluate(ckpt, root, 0, out=tmp_path / "t.json", device="cpu")
    assert list(table.columns) == list(COLUMNS)
    assert list(table["class"]) == [*CLASSES, "all"]
    payload = json.loads((tmp_path / "t.json").read_text())
    assert payload["fold"] == 0 and payload["encoder"] == TINY
    assert payload["dice"] == pytest.approx(table.loc[3, "dice"])
    assert set(payload["per_class"]) == set(CLASSES)

    # recompute from the fold's submission with the core metrics
    sub = predict(ckpt, root, tmp_path / "fold.csv", fold=0, device="cpu")
    labels = uwmgi.load_table(root).set_index("id")
    shapes = {i: (int(labels.loc[i, "height"]), int(labels.loc[i, "width"])) for i in sub["id"].unique()}
    preds = _submission_masks(sub.fillna(""), shapes)
    assert len(preds) == int(table.loc[0, "images"])
    dice = np.array([rlemask.dice(p, rlemask.decode_many([labels.loc[i, c] for c in CLASSES], shapes[i]))
                     for i, p in preds.items()])
    truth_pos = np.array([[labels.loc[i, c] != "" for c in CLASSES] for i in preds])
    pred_pos = np.array([p.reshape(3, -1).any(axis=1) for p in preds.values()])
    for k, c in enumerate(CLASSES):
        row = table.loc[k]
        assert row["dice"] == pytest.approx(dice[:, k].mean())
        assert row["empty_truth"] == (~truth_pos[:, k]).sum()
        assert row["fp_empty"] == (~truth_pos[:, k] & pred_pos[:, k]).sum()
    table.to_csv(tmp_path / "unused.csv")
    evaluate(ckpt, root, out=tmp_path / "t.csv", device="cpu")
    again = pd.read_csv(tmp_path / "t.csv")
    assert again["dice"].to_numpy() == pytest.approx(table["dice"].to_numpy(), abs=1e-6)


def test_cli_evaluate_and_predict(trained, tmp_path, capsys):
    from rlemask.cli import main

    root, ckpt = trained
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(root), "-o", str(tmp_path / "e.json"),
                 "--device", "cpu", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "fp_empty_rate" in out and "stomach" in out
    assert main(["predict", "--checkpoint", str(ckpt), "--data", str(root), "-o", str(tmp_path / "p.csv"),
                 "--overlays", str(tmp_path / "ov"), "--max-overlays", "2", "--device", "cpu", "--quiet"]) == 0
    assert "24 images, 72 rows" in capsys.readouterr().err
    assert len(list((tmp_path / "ov").glob("*.png"))) <= 2
    assert main(["evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--data", str(root)]) == 2
    assert "checkpoint" in capsys.readouterr().err


def test_cli_demo_writes_everything(tmp_path, capsys):
    """The demo's pipeline end to end, with the tiny encoder for one epoch (the real demo trains longer)."""
    from PIL import Image

    from rlemask.cli import main

    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--encoder", TINY, "--size", "64", "--epochs", "1",
                 "--batch-size", "16", "--device", "cpu", "--quiet"])
    assert code == 0
    assert "demo: validation dice" in capsys.readouterr().err
    for name in ("submission.csv", "metrics.json", "learning_curve.png", "metrics.csv", "folds.csv",
                 "checkpoints/best.pt", "checkpoints/last.pt", "data/train.csv"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("dice", "iou", "hausdorff", "score"):
        assert 0.0 <= metrics[key] <= 1.0, key
        for c in CLASSES:
            assert metrics["per_class"][c][key] is None or 0.0 <= metrics["per_class"][c][key] <= 1.0
    assert metrics["encoder"] == TINY and metrics["size"] == [64, 64]
    sub = pd.read_csv(out / "submission.csv", keep_default_na=False)
    assert len(sub) == 3 * 288 and list(sub.columns) == ["id", "class", "predicted"]
    folds = pd.read_csv(out / "folds.csv")
    assert folds.groupby("case")["fold"].nunique().max() == 1
    overlays = sorted((out / "overlays").glob("*.png"))
    val_ids = set(folds.loc[folds["fold"] == 0, "id"])
    assert all(p.stem in val_ids for p in overlays)  # overlays show validation slices
    for p in overlays[:2]:
        assert Image.open(p).mode == "RGB"


@pytest.mark.realdata
def test_predict_on_real_slices_at_their_original_sizes(trained, real_data, tmp_path):
    """Real UWMGI files (8-bit copies, four sizes) laid out as a test folder with no train.csv."""
    import shutil

    from PIL import Image

    from rlemask import uwmgi
    from rlemask_models.predict import predict

    root, ckpt = trained
    files = sorted((real_data / "slices8").glob("slice_*.png"))
    if not files:
        pytest.skip(f"no slices8/*.png in {real_data}")
    for k, f in enumerate(files):  # one single-slice scan per file: slice numbers may repeat across files
        scans = tmp_path / "real" / "train" / f"case{k + 1}" / f"case{k + 1}_day0" / "scans"
        scans.mkdir(parents=True)
        shutil.copy(f, scans / f.name)
    rows = predict(ckpt, tmp_path / "real", tmp_path / "real.csv", overlays=tmp_path / "ov", device="cpu")
    images = uwmgi.scan(tmp_path / "real")
    assert len(set(zip(images["height"], images["width"]))) == 4
    assert len(rows) == 3 * len(files)
    shapes = dict(zip(images["id"], zip(images["height"], images["width"])))
    masks = _submission_masks(pd.read_csv(tmp_path / "real.csv", keep_default_na=False), shapes)
    for image_id, mask in masks.items():
        assert mask.shape == (3, *shapes[image_id])
    for path in (tmp_path / "ov").glob("*.png"):  # no labels: slice and prediction only
        h, w = shapes[path.stem]
        assert Image.open(path).size == (2 * w + 4, h + 14)
