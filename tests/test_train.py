"""rlemask_models.training / crossval: a Lightning fit of one fold, kill -9 and resume, k-fold CV."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

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

    return synthetic.generate(tmp_path_factory.mktemp("train") / "data", cases=3, days=1, slices=8, seed=0)


def _config(root, out, **kw):
    from rlemask_models.config import TrainConfig

    base = dict(data=str(root), out=str(out), folds=3, fold=0, encoder=TINY, size=(64, 64), epochs=3,
                batch_size=4, lr=3e-3, quiet=True, seed=7)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def full(root, tmp_path_factory):
    """Three uninterrupted epochs: 16 training slices, 4 steps per epoch."""
    from rlemask_models.training import fit_fold

    torch.set_num_threads(1)
    return fit_fold(_config(root, tmp_path_factory.mktemp("full") / "run"))


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_fit_fold_writes_checkpoints_history_and_curve(full):
    from rlemask_models.inference import load_checkpoint

    names = {p.name for p in full.out.iterdir()}
    assert {"best.ckpt", "last.ckpt", "metrics.csv", "learning_curve.png", "logs"} <= names
    assert (full.out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = pd.read_csv(full.out / "metrics.csv")
    assert history["epoch"].tolist() == [0, 1, 2]
    for column in ("train_loss", "val_loss", "val_dice", "val_dice_present", "val_baseline_empty_dice",
                   "val_score", "val_hausdorff_stomach", "lr-AdamW"):
        assert history[column].notna().all(), column
    assert np.allclose(history["val_score"], 0.4 * history["val_dice"] + 0.6 * (1 - history["val_hausdorff"]),
                       atol=1e-6)
    best = int(history["val_score"].idxmax())
    assert full.metrics["epoch"] == best + 1
    assert full.metrics["score"] == pytest.approx(history["val_score"].max())
    # the checkpoint rebuilds the network with everything inference needs, weights_only=True
    module = load_checkpoint(full.last)
    assert (module.hparams.encoder, module.hparams.size, module.hparams.threshold) == (TINY, [64, 64], 0.5)
    assert module.datamodule_hparams["fold"] == 0 and module.datamodule_hparams["folds"] == 3
    trained = _state(full.module)
    assert all(torch.equal(v, trained[k]) for k, v in module.state_dict().items())


def test_bf16_channels_last_fit_is_reproducible_and_differs_from_fp32(root, full, tmp_path):
    """The CPU demo's speed settings (bf16-mixed autocast, channels-last) keep the CPU guarantee:
    two fits give identical weights; and they do change the arithmetic (weights differ from the
    32-bit fit of the same config)."""
    from rlemask_models.training import fit_fold

    torch.set_num_threads(1)
    runs = [fit_fold(_config(root, tmp_path / f"run{i}", precision="bf16-mixed", channels_last=True))
            for i in range(2)]
    a, b = (_state(r.module) for r in runs)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    fp32 = _state(full.module)
    assert any(not torch.equal(a[k], fp32[k]) for k in a if a[k].is_floating_point())
    assert runs[0].module.hparams.channels_last is True
    assert runs[0].history["val_score"].notna().all()


def test_a_fresh_fit_into_a_used_folder_drops_the_old_logs(root, full, tmp_path):
    """Not resuming: the earlier run's three epochs of logs are not merged into the new history."""
    import shutil

    from rlemask_models.training import fit_fold

    shutil.copytree(full.out, tmp_path / "run")
    again = fit_fold(_config(root, tmp_path / "run", epochs=1))
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert history["epoch"].tolist() == [0]
    assert again.metrics["epoch"] == 1
    assert [p.name for p in (tmp_path / "run" / "logs").iterdir()] == ["version_0"]


def test_ema_validates_and_saves_the_moving_average_of_the_weights(root, tmp_path):
    """ema=d: the checkpoint and the returned module hold d * average + (1 - d) * weights, updated
    after every step from a first copy, not the raw weights."""
    from lightning.pytorch.callbacks import Callback

    from rlemask_models.training import fit_fold

    seen = []

    class Record(Callback):
        def on_train_batch_end(self, trainer, module, *args):
            seen.append(_state(module))

    torch.set_num_threads(1)
    result = fit_fold(_config(root, tmp_path / "run", epochs=1, ema=0.6), callbacks=(Record(),))
    assert len(seen) == 4
    expected = dict(seen[0])
    for state in seen[1:]:
        expected = {k: 0.6 * expected[k] + 0.4 * v if v.is_floating_point() else v for k, v in state.items()}
    saved = torch.load(result.last, weights_only=True)
    final = _state(result.module)
    for key, value in saved["state_dict"].items():
        if value.is_floating_point():
            assert torch.allclose(value, expected[key], atol=1e-6), key
            assert torch.equal(final[key], value), key
    weight = next(k for k in expected if k.endswith("weight") and expected[k].dim() == 4)
    assert not torch.allclose(saved["state_dict"][weight], seen[-1][weight])  # not the raw weights


KILLER = textwrap.dedent(
    """
    import json, os, signal, sys
    import torch
    from lightning.pytorch.callbacks import Callback
    from rlemask_models.config import TrainConfig
    from rlemask_models.training import fit_fold

    class Kill(Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == int(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGKILL)  # no clean-up, no last words

    if __name__ == "__main__":
        torch.set_num_threads(1)
        fit_fold(TrainConfig(**json.loads(sys.argv[1])), callbacks=(Kill(),))
    """
)


def test_kill_9_mid_epoch_then_resume_finishes_like_an_uninterrupted_run(root, full, tmp_path):
    """Killed at step 6 (epoch 2 of 3, after last.ckpt of epoch 1), resumed: ends where the
    uninterrupted run ends.  On the CPU with this network (no dropout / drop-path) the weights are
    bitwise identical: the interrupted epoch restarts from its first batch with the same order and
    augmentation (functions of seed and epoch) and the restored model, optimiser and schedule."""
    from rlemask_models.training import fit_fold

    cfg = _config(root, tmp_path / "run")
    (tmp_path / "killer.py").write_text(KILLER)
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, str(tmp_path / "killer.py"), json.dumps(values), "6"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == -9, proc.stderr[-2000:]
    saved = torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)
    assert (saved["epoch"], saved["global_step"]) == (0, 4)  # the killed epoch is lost, no more

    resumed = fit_fold(dataclasses.replace(cfg, resume=True))
    a, b = _state(resumed.module), _state(full.module)
    gap = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert gap == 0.0, f"max weight difference {gap}"
    history = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert history["epoch"].tolist() == [0, 1, 2]  # epoch 0 from the killed run's log, 1 and 2 resumed
    assert np.allclose(history["val_score"], full.history["val_score"])
    assert torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)["global_step"] == 12


def test_cv_oof_covers_every_image_once_and_resumes(root, tmp_path):
    from rlemask import uwmgi
    from rlemask_models.crossval import cross_validate

    cfg = _config(root, tmp_path / "cv", folds=2, epochs=1)
    scores = cross_validate(cfg)
    oof = pd.read_csv(tmp_path / "cv" / "oof.csv", keep_default_na=False)
    table = uwmgi.load_table(root)
    assert len(oof) == 3 * len(table)
    assert oof.groupby(["id", "class"]).size().eq(1).all()
    assert set(oof["id"]) == set(table["id"])
    folds = pd.read_csv(tmp_path / "cv" / "folds.csv")
    for fold in (0, 1):
        assert (tmp_path / "cv" / f"fold{fold}" / "best.ckpt").is_file()
        part = pd.read_csv(tmp_path / "cv" / f"fold{fold}" / "oof.csv", keep_default_na=False)
        assert set(part["id"]) == set(folds.loc[folds["fold"] == fold, "id"])  # each by the model that did not see it
    assert list(scores["fold"].unique()) == ["0", "1", "mean", "std"]
    assert {"dice", "dice_present", "iou", "hausdorff", "score"} <= set(scores.columns)
    mean = scores[(scores["fold"] == "mean") & (scores["class"] == "all")]["score"].item()
    per_fold = scores[scores["fold"].isin(["0", "1"]) & (scores["class"] == "all")]["score"]
    assert mean == pytest.approx(per_fold.mean())

    # an interrupted CV: fold 1's results are gone; --resume keeps fold 0 and redoes only fold 1
    (tmp_path / "cv" / "fold1" / "oof.csv").unlink()
    before = (tmp_path / "cv" / "fold0" / "best.ckpt").stat().st_mtime_ns
    again = cross_validate(dataclasses.replace(cfg, resume=True))
    assert (tmp_path / "cv" / "fold0" / "best.ckpt").stat().st_mtime_ns == before
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cv" / "oof.csv", keep_default_na=False), oof)
    pd.testing.assert_frame_equal(again.reset_index(drop=True), scores.reset_index(drop=True),
                                  check_dtype=False, atol=1e-6)


def test_cv_with_more_folds_than_cases_is_an_error(root, tmp_path, capsys):
    from rlemask.cli import main

    code = main(["cv", "--data", str(root), "--folds", "4", "-o", str(tmp_path / "cv"), "--quiet"])
    assert code == 2
    assert "folds=4 is larger than the 3 case(s) of the data; use folds <= 3" in capsys.readouterr().err
