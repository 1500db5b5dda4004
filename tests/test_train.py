"""rlemask_models.train: folds, a short fit that overfits, checkpoints, metrics files, resume."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

import rlemask

from rlemask.errors import RlemaskError

pytestmark = pytest.mark.models

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")

TINY = "tu-test_efficientnet"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    from rlemask_models import synthetic

    return synthetic.generate(tmp_path_factory.mktemp("train") / "data", cases=3, days=1, slices=8, seed=0)


def _config(root, out, **kw):
    from rlemask_models.train import TrainConfig

    base = dict(data=str(root), out=str(out), folds=3, fold=0, encoder=TINY, size=(64, 64),
                epochs=2, batch_size=4, lr=3e-3, progress=False, seed=7)
    base.update(kw)
    return TrainConfig(**base)


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- pieces


def test_split_folds_groups_by_case_and_covers_everything(root):
    from rlemask import uwmgi
    from rlemask_models.train import split_folds

    table = uwmgi.load_table(root)
    cfg = _config(root, "unused")
    seen = set()
    for fold in range(3):
        full, train, val = split_folds(table, cfg, fold=fold)
        assert set(train["case"]).isdisjoint(set(val["case"]))
        assert len(train) + len(val) == len(table)
        seen |= set(val["id"])
        assert (full["fold"] == fold).sum() == len(val)
    assert seen == set(table["id"])
    with pytest.raises(RlemaskError, match=r"3 case\(s\) cannot fill folds=5 grouped by case; use folds <= 3"):
        split_folds(table, _config(root, "unused", folds=5, fold=0))


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [
        ({"fold": 3}, "fold=3 must be < folds=3"),
        ({"size": (60, 64)}, r"size=\(60, 64\); the U-Net needs multiples of 32, use size=\(64, 64\)"),
        ({"epochs": 0}, "epochs=0 must be an int >= 1"),
        ({"lr": 0.0}, "lr=0.0 must be > 0"),
        ({"amp": "fp8"}, "amp='fp8'; expected"),
        ({"data": ""}, "data is empty"),
        ({"bn_momentum": 0.0}, r"bn_momentum=0.0 must be in \(0, 1\]"),
    ],
)
def test_config_errors(root, tmp_path, kw, fragment):
    from rlemask_models.train import fit

    with pytest.raises(RlemaskError, match=fragment):
        fit(_config(root, tmp_path, **kw))


def test_cosine_schedule_with_warmup():
    from rlemask_models.train import _cosine

    f = _cosine(total=10, warmup=2, floor=0.01)
    assert f(0) == pytest.approx(0.5)
    assert f(1) == pytest.approx(1.0)
    assert f(2) == pytest.approx(1.0)
    assert f(6) == pytest.approx(0.01 + 0.99 * 0.5)
    assert f(10) == pytest.approx(0.01)
    values = [f(s) for s in range(2, 11)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_a_few_slices_are_overfitted(root):
    """Sixty steps on four labelled slices: the model reproduces their masks."""
    from rlemask import uwmgi
    from rlemask_models.data import SliceDataset
    from rlemask_models.model import build_model
    from rlemask_models.predict import infer
    from rlemask_models.train import train_step

    table = uwmgi.load_table(root)
    labelled = table[(table[["large_bowel", "small_bowel", "stomach"]] != "").any(axis=1)]
    rows = labelled.iloc[:4].reset_index(drop=True)
    ds = SliceDataset(rows, size=(64, 64), cache=True)
    batch = {k: torch.stack([ds[i][k] for i in range(len(ds))]) for k in ("image", "mask")}
    torch.manual_seed(0)
    model = build_model(TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = [train_step(model, batch, opt) for _ in range(60)]
    assert losses[-1] < 0.3 * losses[0]
    # on the model's grid, in eval mode
    model.eval()
    with torch.no_grad():
        pred = (model(batch["image"]) > 0).numpy().astype(np.uint8)
    grid = rlemask.dice(pred, batch["mask"].numpy().astype(np.uint8))
    assert grid.mean() > 0.75, grid
    # at the original size (bilinear restore of 64x64 probabilities: coarser)
    model.train()
    dices = []
    for index, mask in infer(model, ds, batch_size=4):
        truth = rlemask.decode_many(ds.rles[index], ds.shapes[index])
        assert mask.shape == truth.shape == (3, *ds.shapes[index])
        dices.append(rlemask.dice(mask, truth))
    assert np.mean(dices) > 0.6, dices
    assert model.training  # infer put it back


# --------------------------------------------------------------------------- fit


def test_fit_writes_checkpoints_metrics_and_curve(root, tmp_path):
    from rlemask_models.model import read_checkpoint
    from rlemask_models.train import fit

    result = fit(_config(root, tmp_path / "run", epochs=2))
    run = tmp_path / "run"
    for name in ("last.pt", "best.pt", "metrics.csv", "learning_curve.png"):
        assert (run / name).is_file(), name
    assert not list(run.glob(".*tmp*"))  # atomic writes leave no temp files
    assert (run / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for key in ("train_loss", "dice", "iou", "hausdorff", "score", "dice_stomach", "hausdorff_large_bowel"):
        assert key in rows[0]
    for r in rows:
        for key in ("dice", "iou", "hausdorff", "score"):
            assert 0.0 <= float(r[key]) <= 1.0
        assert float(r["score"]) == pytest.approx(0.4 * float(r["dice"]) + 0.6 * (1 - float(r["hausdorff"])))

    last = read_checkpoint(run / "last.pt")  # weights_only=True
    for key in ("model", "optimizer", "scheduler", "scaler", "epoch", "rng", "config", "metrics", "history"):
        assert key in last, key
    assert last["epoch"] == 1
    assert last["config"]["encoder"] == TINY
    assert last["metrics"]["score"] == pytest.approx(float(rows[-1]["score"]))
    scores = [float(r["score"]) for r in rows]
    best = read_checkpoint(run / "best.pt")
    assert best["epoch"] == int(np.argmax(scores))
    assert best["metrics"]["score"] == pytest.approx(max(scores))
    assert result.best_epoch == best["epoch"] + 1
    assert _same(result.model.state_dict(), last["model"])
    assert set(result.last["per_class"]) == {"large_bowel", "small_bowel", "stomach"}


def test_resume_after_a_kill_equals_an_uninterrupted_run(root, tmp_path, monkeypatch):
    import rlemask_models.train as train_mod

    full = train_mod.fit(_config(root, tmp_path / "full", epochs=3))

    # kill the second run in the middle of its third epoch (4 steps per epoch: 4 + 4 + 2)
    real_step = train_mod.train_step
    calls = {"n": 0}

    def dying_step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 10:
            raise KeyboardInterrupt("killed")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train_mod, "train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train_mod.fit(_config(root, tmp_path / "killed", epochs=3))
    monkeypatch.setattr(train_mod, "train_step", real_step)
    from rlemask_models.model import read_checkpoint

    saved = read_checkpoint(tmp_path / "killed" / "last.pt")
    assert saved["epoch"] < 2  # the third epoch was lost, at most

    resumed = train_mod.fit(_config(root, tmp_path / "killed", epochs=3, resume=True))
    assert _same(resumed.model.state_dict(), full.model.state_dict())
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in full.history]
    assert resumed.last["score"] == full.last["score"]
    with open(tmp_path / "killed" / "metrics.csv", newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3]

    # resuming a finished run trains nothing more
    again = train_mod.fit(_config(root, tmp_path / "killed", epochs=3, resume=True))
    assert _same(again.model.state_dict(), full.model.state_dict())
    assert len(again.history) == 3


def test_resume_without_checkpoint_starts_fresh_and_seeded_runs_repeat(root, tmp_path):
    from rlemask_models.train import fit

    a = fit(_config(root, tmp_path / "a", epochs=1, resume=True))
    b = fit(_config(root, tmp_path / "b", epochs=1))
    c = fit(_config(root, tmp_path / "c", epochs=1, seed=8))
    assert _same(a.model.state_dict(), b.model.state_dict())
    assert not _same(a.model.state_dict(), c.model.state_dict())
    assert math.isfinite(a.history[0]["train_loss"])


def test_cli_train(root, tmp_path, capsys):
    from rlemask.cli import main

    out = tmp_path / "cli"
    code = main(["train", "--data", str(root), "--folds", "3", "--fold", "1", "--epochs", "1",
                 "--encoder", TINY, "--size", "64", "--batch-size", "4", "--out", str(out),
                 "--empty", "0.5", "--quiet"])
    assert code == 0
    assert "best epoch 1: score" in capsys.readouterr().out
    from rlemask_models.model import read_checkpoint

    cfg = read_checkpoint(out / "best.pt")["config"]
    assert (cfg["fold"], cfg["folds"], cfg["empty"], cfg["size"]) == (1, 3, 0.5, [64, 64])
