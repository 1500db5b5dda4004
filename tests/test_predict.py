"""rlemask_models.inference and the demo: checkpoints, ensembles, flip TTA, workers, CLI errors."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.models

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")

TINY = "tu-test_efficientnet"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from rlemask_models import synthetic

    return synthetic.generate(tmp_path_factory.mktemp("predict") / "data", cases=3, days=1, slices=8, seed=1)


@pytest.fixture(scope="module")
def trained(root, tmp_path_factory):
    from rlemask_models.config import TrainConfig
    from rlemask_models.training import fit_fold

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run") / "run"
    return fit_fold(TrainConfig(data=str(root), out=str(out), folds=3, encoder=TINY, size=(64, 64), epochs=2,
                                batch_size=4, lr=3e-3, quiet=True, seed=3))


def test_evaluate_agrees_with_validation_and_the_submission(trained, root, tmp_path):
    """The inference path scores the best checkpoint exactly as the training run's validation did."""
    from rlemask.metrics import uwmgi_score
    from rlemask_models.inference import evaluate, predict

    table = evaluate([trained.best], root, out=tmp_path / "e.json")
    values = json.loads((tmp_path / "e.json").read_text())
    assert values["fold"] == 0
    assert values["score"] == pytest.approx(trained.metrics["score"], abs=1e-6)
    assert values["dice_present"] == pytest.approx(trained.metrics["dice_present"], abs=1e-6)
    assert list(table["class"]) == ["large_bowel", "small_bowel", "stomach", "all"]
    rows = predict([trained.best], root, tmp_path / "sub.csv", fold=0)
    sub = pd.read_csv(tmp_path / "sub.csv", keep_default_na=False)
    assert list(sub.columns) == ["id", "class", "predicted"] and len(sub) == len(rows)
    truth = pd.read_csv(root / "train.csv", keep_default_na=False)
    truth = truth[truth["id"].isin(sub["id"])]
    from rlemask import uwmgi

    report = uwmgi_score(truth, sub, images=uwmgi.scan(root))
    assert report.score == pytest.approx(values["score"], abs=1e-6)


def test_ensemble_of_two_identical_checkpoints_equals_one(trained, root, tmp_path):
    from rlemask_models.inference import predict

    shutil.copyfile(trained.best, tmp_path / "copy.ckpt")
    one = predict([trained.best], root, tmp_path / "one.csv", tta=("hflip",))
    two = predict([trained.best, tmp_path / "copy.ckpt"], root, tmp_path / "two.csv", tta=("hflip",))
    pd.testing.assert_frame_equal(one, two)
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()
    # and a different model does change the rows (the test can fail)
    three = predict([trained.best, trained.last], root, tmp_path / "three.csv")
    plain = predict([trained.best], root, tmp_path / "plain.csv")
    assert not three.equals(plain) or not one.equals(plain)


class _Images(torch.utils.data.Dataset):
    """Items like SliceDataset's, from given images on the model grid (size 64x64, no resize)."""

    size, resize = (64, 64), "resize"

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "id": f"case1_day0_slice_{i + 1:04d}", "shape": (64, 64)}


def test_flip_tta_on_a_flip_symmetric_input_equals_no_tta(trained):
    from rlemask_models.inference import infer, load_checkpoint

    module = load_checkpoint(trained.best)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g)
    symmetric = x + x.flip(-1) + x.flip(-2) + x.flip(-1, -2)
    module.network = torch.nn.Conv2d(3, 3, 1)  # a flip-equivariant (pointwise) network
    torch.nn.init.normal_(module.network.weight, generator=g)
    data = _Images(list(symmetric))
    plain = [m for _, m in infer([module], data, threshold=0.5)]
    flipped = [m for _, m in infer([module], data, tta="hflip,vflip", threshold=0.5)]
    assert all(np.array_equal(a, b) for a, b in zip(plain, flipped))
    assert 0 < sum(int(m.sum()) for m in plain) < sum(m.size for m in plain)
    # an input that is not symmetric, through a network that is not equivariant: TTA differs
    module = load_checkpoint(trained.best)
    data = _Images(list(x * 4))
    plain = [m for _, m in infer([module], data, threshold=0.5)]
    flipped = [m for _, m in infer([module], data, tta=["hflip", "vflip"], threshold=0.5)]
    assert any(not np.array_equal(a, b) for a, b in zip(plain, flipped))
    assert module.training is False


def test_predict_with_workers_after_numba_kernels_ran(trained, root, tmp_path):
    import rlemask
    from rlemask_models.inference import predict

    rlemask.encode_many(np.ones((64, 40, 40), np.uint8))  # the parallel kernel: OpenMP is up in this process
    serial = predict([trained.best], root, tmp_path / "a.csv")
    workers = predict([trained.best], root, tmp_path / "b.csv", workers=2, batch_size=3)
    pd.testing.assert_frame_equal(serial, workers)


def _cli(argv, capsys):
    from rlemask.cli import main

    code = main(argv)
    return code, capsys.readouterr().err


def test_bad_input_is_one_line_and_exit_2(trained, root, tmp_path, capsys):
    base = ["--data", str(root), "-o", str(tmp_path / "s.csv"), "-q"]
    old = tmp_path / "old.pt"
    torch.save({"format": "rlemask-checkpoint-1", "model": {}, "config": {}}, old)
    ckpt = torch.load(trained.best, weights_only=True)
    other = tmp_path / "fpn.ckpt"
    torch.save({**ckpt, "hyper_parameters": {**ckpt["hyper_parameters"], "arch": "FPN"}}, other)
    classes = tmp_path / "classes.ckpt"
    torch.save({**ckpt, "hyper_parameters": {**ckpt["hyper_parameters"], "classes": ["liver"]}}, classes)
    cases = [
        (["predict", "--checkpoint", str(old), *base], "old rlemask-checkpoint-1 format"),
        (["predict", "--checkpoint", str(other), *base], "does not fit FPN with encoder 'tu-test_efficientnet'"),
        (["predict", "--checkpoint", str(classes), *base], "has classes=['liver']; expected"),
        (["predict", "--checkpoint", str(trained.best), "--tta", "hflip,rot90", *base],
         "tta='rot90' is not a view; expected a comma-separated list of hflip, vflip"),
        (["predict", "--checkpoint", str(tmp_path / "none.ckpt"), *base], "not found"),
        (["evaluate", "--checkpoint", str(trained.best), "--data", str(tmp_path), "-q"], str(tmp_path)),
        (["train", "--data", str(tmp_path / "nowhere"), "-o", str(tmp_path / "t"), "-q"], "nowhere"),
    ]
    for argv, fragment in cases:
        code, err = _cli(argv, capsys)
        assert code == 2, (argv, err)
        assert fragment in err, (argv, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err

    # a malformed train.csv row and an image whose size contradicts its file name (read in a worker)
    bad = tmp_path / "bad"
    shutil.copytree(root, bad)
    text = (bad / "train.csv").read_text().splitlines()
    text[1] = "caseX" + text[1].split("_", 1)[1]
    (bad / "train.csv").write_text("\n".join(text) + "\n")
    code, err = _cli(["evaluate", "--checkpoint", str(trained.best), "--data", str(bad), "-q"], capsys)
    assert code == 2 and "bad image id 'caseXday" in err and len(err.strip().splitlines()) == 1, err
    shutil.copyfile(root / "train.csv", bad / "train.csv")
    png = sorted(bad.glob("train/*/*/scans/*.png"))[0]
    width = int(png.name.split("_")[2]) + 4
    png.rename(png.with_name(re.sub(r"^(slice_\d+)_\d+_", rf"\g<1>_{width}_", png.name)))
    code, err = _cli(["predict", "--checkpoint", str(trained.best), "--data", str(bad), "--workers", "1",
                      "-o", str(tmp_path / "x.csv"), "-q"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(width) in err, err


def test_cli_demo_writes_everything(root, tmp_path, capsys):
    from rlemask.cli import main

    out = tmp_path / "demo"
    code = main(["demo", "--data", str(root), "--folds", "3", "--encoder", TINY, "--size", "64", "--epochs", "2",
                 "--batch-size", "4", "-o", str(out), "-q"])
    assert code == 0
    for name in ("folds.csv", "metrics.json", "metrics.csv", "learning_curve.png", "submission.csv",
                 "checkpoints/best.ckpt"):
        assert (out / name).is_file(), name
    payload = json.loads((out / "metrics.json").read_text())
    for key in ("fold", "dice", "dice_present", "baseline_empty_dice", "iou", "hausdorff", "score",
                "dice_present_stomach", "seconds"):
        assert key in payload, key
    assert payload["fold"] == 0
    assert 0 < payload["baseline_empty_dice"] < 1
    curve = payload["learning_curve"]
    assert [row["epoch"] for row in curve] == [0, 1]
    assert all(row["val_loss"] is not None and row["train_loss"] is not None for row in curve)
    overlays = sorted((out / "overlays").glob("*.png"))
    folds = pd.read_csv(out / "folds.csv")
    assert overlays and {p.stem for p in overlays} <= set(folds.loc[folds["fold"] == 0, "id"])
    assert "demo: fold 0 dice" in capsys.readouterr().err


def test_binarize_thresholds_and_empties_small_masks_per_class():
    from rlemask_models.module import binarize

    p = np.zeros((3, 6, 6), np.float32)
    p[0, :3, :3] = 0.45  # 9 px, only under a threshold below 0.45
    p[1, :2, :2] = 0.9   # 4 px
    p[2, :4, :4] = 0.7   # 16 px
    areas = binarize(p, [0.4, 0.5, 0.5], [0, 5, 16]).reshape(3, -1).sum(1).tolist()
    assert areas == [9, 0, 16]  # class 1 (4 px < 5) emptied, class 2 (16 px = 16) kept
    assert binarize(p, 0.5).reshape(3, -1).sum(1).tolist() == [0, 4, 16]
    assert binarize(p, 0.5).dtype == np.uint8


@pytest.fixture(scope="module")
def tuned(root, tmp_path_factory):
    from rlemask_models.config import TrainConfig
    from rlemask_models.training import fit_fold

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("tuned") / "run"
    return fit_fold(TrainConfig(data=str(root), out=str(out), folds=3, encoder=TINY, size=(64, 64), epochs=2,
                                batch_size=4, lr=3e-3, quiet=True, seed=3, context=1, tune=True))


def test_tune_stores_the_best_training_fold_pair_in_both_checkpoints(tuned, root):
    """Brute force over the grids with binarize + rlemask.dice on the training folds' slices only."""
    import rlemask
    from rlemask_models.datamodule import split_folds
    from rlemask_models.inference import _dataset, load_checkpoint
    from rlemask_models.module import TUNE_AREAS, TUNE_THRESHOLDS, binarize

    module = load_checkpoint(tuned.best)
    hp = module.hparams
    assert load_checkpoint(tuned.last).hparams.min_area == hp.min_area == tuned.module.hparams.min_area
    assert len(hp.threshold) == len(hp.min_area) == 3
    from rlemask import uwmgi

    table = split_folds(uwmgi.load_table(root), 3, seed=42)
    rows = table[table["fold"] != 0].reset_index(drop=True)
    data = _dataset(module, rows, table)
    probs, truths = [], []
    with torch.inference_mode():
        for i in range(len(data)):
            item = data[i]
            from rlemask_models.data import restore

            p = torch.sigmoid(module(item["image"][None]))[0]
            probs.append(restore(p, item["shape"], size=data.size, resize=data.resize))
            truths.append(rlemask.decode_many(item["rles"], item["shape"]))
    for c in range(3):
        scores = {(k, t): np.mean([rlemask.dice(truth=tr[c:c + 1], pred=binarize(p, t, k)[c:c + 1])[0]
                                   for p, tr in zip(probs, truths)])
                  for k in TUNE_AREAS for t in TUNE_THRESHOLDS}
        best = max(scores.values())
        assert scores[(hp.min_area[c], hp.threshold[c])] == pytest.approx(best, abs=1e-9), c
        assert best >= scores[(0, 0.5)]
        first = next(key for key, v in scores.items() if v >= best - 1e-9)  # ties: smaller area, lower threshold
        assert (hp.min_area[c], hp.threshold[c]) == first


def test_inference_applies_the_checkpoints_min_area(tuned, root):
    from rlemask_models.inference import evaluate, load_checkpoint

    module = load_checkpoint(tuned.best)
    module.hparams.min_area = [10**9] * 3  # no mask is that large: every prediction is emptied
    values = evaluate([module], root, 0).attrs["metrics"]
    assert values["fp_empty_rate"] == 0 and values["dice_present"] == 0
    assert values["dice"] == pytest.approx(values["baseline_empty_dice"])
    module.hparams.min_area, module.hparams.threshold = [0] * 3, [1e-6] * 3  # every pixel predicted
    values = evaluate([module], root, 0).attrs["metrics"]
    assert values["fp_empty_rate"] == 1
