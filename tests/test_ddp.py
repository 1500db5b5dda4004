"""DDP through Lightning on the CPU: two gloo processes under torchrun validate exactly like one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.models

torch = pytest.importorskip("torch")
pytest.importorskip("lightning")
dist = pytest.importorskip("torch.distributed")

WORKER = textwrap.dedent(
    """
    import json, sys
    import torch
    from rlemask_models.config import TrainConfig
    from rlemask_models.training import fit_fold

    if __name__ == "__main__":
        torch.set_num_threads(1)
        root, out = sys.argv[1], sys.argv[2]
        result = fit_fold(TrainConfig(data=root, out=out, folds=3, encoder="tu-test_efficientnet", size=(64, 64),
                                      epochs=1, batch_size=2, lr=3e-3, quiet=True, seed=5, accelerator="cpu",
                                      devices="2", strategy="ddp"))
        if result.rank == 0:
            print("METRICS", json.dumps(result.metrics))
    """
)


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch without gloo")
def test_two_gloo_ranks_validate_exactly_like_one_process(tmp_path):
    """Fold 0 has 8 validation slices, split 4 + 4 over the ranks (odd splits are padded by
    DistributedSampler; the metric drops the copies).  The torchmetrics states gathered from both
    ranks give the same numbers as one process validating the same checkpoint."""
    from rlemask_models import synthetic
    from rlemask_models.inference import evaluate

    root = synthetic.generate(tmp_path / "data", cases=3, days=1, slices=8, seed=2)
    (tmp_path / "worker.py").write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(tmp_path / "worker.py"), str(root), str(tmp_path / "run")]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ddp = json.loads(proc.stdout.split("METRICS", 1)[1].strip().splitlines()[0])
    saved = torch.load(tmp_path / "run" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 4  # 16 training slices, 2 ranks x batch 2

    table = evaluate([tmp_path / "run" / "last.ckpt"], root)  # one process, the same checkpoint
    one = table.attrs["metrics"]
    for key in ("score", "dice", "dice_present", "iou", "hausdorff", "baseline_empty_dice", "images",
                "dice_stomach", "hausdorff_large_bowel"):
        assert ddp[key] == pytest.approx(one[key], abs=1e-6), key  # logged as float32 by Lightning
    assert one["images"] == 8
