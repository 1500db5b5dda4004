"""DistributedDataParallel on the CPU: two gloo processes under torchrun end with identical weights."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.models

torch = pytest.importorskip("torch")
pytest.importorskip("segmentation_models_pytorch")
dist = pytest.importorskip("torch.distributed")

TINY = "tu-test_efficientnet"

WORKER = textwrap.dedent(
    """
    import os, sys
    import torch
    torch.set_num_threads(1)
    from rlemask_models.train import fit

    root, out = sys.argv[1], sys.argv[2]
    result = fit(data=root, out=out + "/run", folds=3, fold=0, encoder="tu-test_efficientnet",
                 size=(64, 64), epochs=2, batch_size=2, lr=3e-3, progress=False, seed=5)
    assert result.world_size == 2, result.world_size
    assert result.rank == int(os.environ["RANK"])
    # the test's own dump of each rank's weights (fit itself writes on rank 0 only)
    torch.save({"state": result.model.state_dict(), "score": result.last["score"],
                "history": result.history}, f"{out}/rank{result.rank}.pt")
    """
)


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    from rlemask_models import synthetic
    from rlemask_models.model import read_checkpoint

    root = synthetic.generate(tmp_path / "data", cases=3, days=1, slices=8, seed=2)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(script), str(root), str(tmp_path)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["state"].keys() == r1["state"].keys()
    for key, value in r0["state"].items():
        assert torch.equal(value, r1["state"][key]), key  # parameters and batch-norm buffers
    # both ranks saw the same gathered validation and the same all-reduced loss
    assert r0["score"] == r1["score"]
    assert [h["train_loss"] for h in r0["history"]] == [h["train_loss"] for h in r1["history"]]

    # rank 0 wrote the files, and its checkpoint holds those weights
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "last.pt", "learning_curve.png", "metrics.csv"]
    last = read_checkpoint(run / "last.pt")
    assert last["world_size"] == 2
    assert len(last["rng"]) == 2  # one random state per rank
    for key, value in last["model"].items():
        assert torch.equal(value, r0["state"][key]), key
    # training moved the weights away from the (seeded) initial ones
    from rlemask_models.model import build_model

    torch.manual_seed(5)
    init = build_model(TINY).state_dict()
    assert any(not torch.equal(init[k], r0["state"][k]) for k in init)
