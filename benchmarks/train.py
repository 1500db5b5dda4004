"""Per-step cost of the Lightning training path against a bare smp + torch loop.

Usage::

    python benchmarks/train.py                 # CPU, tiny encoder, 64x64, batch 4
    python benchmarks/train.py --steps 40 --rounds 5
    python benchmarks/train.py --quick         # a smoke run

Both paths train the same network (``smp.create_model("Unet", "tu-test_efficientnet")``,
random init, ``encoder_weights=None``) with the same loss (``bce+dice`` from
``smp.losses``), AdamW and a per-step LambdaLR schedule, on the same in-memory
batches through the same DataLoader (``rlemask_models.data.collate``, no workers):

* ``bare loop``: forward, loss, ``zero_grad``, ``backward``, ``step``, ``scheduler.step``;
* ``Lightning``: ``SegmentationModule`` in a ``Trainer`` with no validation,
  logger, checkpoint or progress bar (what ``fit_fold`` adds per epoch, not per step).

Each round times ``--steps`` steps after one untimed warm-up epoch; the table
shows the median seconds per step and the ratio (goal: Lightning <= 1.15x the
bare loop).  With a CUDA device the same comparison runs for UNet-EfficientNetB7
at 320x384 in bf16 (Lightning ``precision="bf16-mixed"`` against ``torch.autocast``),
as images per second (goal: Lightning >= 0.9 of the bare loop).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

TINY = "tu-test_efficientnet"


class _Batches(torch.utils.data.Dataset):
    def __init__(self, n: int, size: tuple[int, int], seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, 3, *size, generator=g)
        self.masks = (torch.rand(n, 3, *size, generator=g) > 0.8).float()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.images[i], "mask": self.masks[i]}


def _loader(args: argparse.Namespace, size: tuple[int, int], batch: int, steps: int) -> Any:
    from rlemask_models.data import collate

    return torch.utils.data.DataLoader(_Batches(steps * batch, size), batch_size=batch, shuffle=False,
                                       collate_fn=collate)


def bare_loop(args: argparse.Namespace, encoder: str, size: tuple[int, int], batch: int, steps: int,
              device: str, bf16: bool) -> float:
    """Seconds of ``steps`` steps of a plain loop (after a warm-up epoch)."""
    import segmentation_models_pytorch as smp

    from rlemask_models.module import build_loss

    torch.manual_seed(0)
    net = smp.create_model("Unet", encoder_name=encoder, encoder_weights=None, classes=3).to(device)
    loss_fn = build_loss("bce+dice")
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    loader = _loader(args, size, batch, steps)

    def epoch() -> float:
        net.train()
        start = time.perf_counter()
        for b in loader:
            image, mask = b["image"].to(device, non_blocking=True), b["mask"].to(device, non_blocking=True)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
                logits = net(image)
            loss = loss_fn(logits, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    epoch()
    return epoch()


def lightning_path(args: argparse.Namespace, encoder: str, size: tuple[int, int], batch: int, steps: int,
                   device: str, bf16: bool) -> float:
    """Seconds of ``steps`` steps of ``SegmentationModule`` in a Trainer (second of two epochs)."""
    import lightning as L
    from lightning.pytorch.callbacks import Callback

    from rlemask_models.module import SegmentationModule

    times: list[float] = []

    class Clock(Callback):
        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.start)

    torch.manual_seed(0)
    module = SegmentationModule(arch="Unet", encoder=encoder, size=size)
    trainer = L.Trainer(max_epochs=2, accelerator="gpu" if device == "cuda" else "cpu", devices=1,
                        precision="bf16-mixed" if bf16 else "32-true", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        num_sanity_val_steps=0, callbacks=[Clock()], log_every_n_steps=10**6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(module, train_dataloaders=_loader(args, size, batch, steps))
    return times[-1]


def compare(args: argparse.Namespace, encoder: str, size: tuple[int, int], batch: int, device: str,
            bf16: bool) -> list[dict[str, Any]]:
    bare, light = [], []
    for _ in range(args.rounds):  # interleaved, so a load change hits both
        bare.append(bare_loop(args, encoder, size, batch, args.steps, device, bf16) / args.steps)
        light.append(lightning_path(args, encoder, size, batch, args.steps, device, bf16) / args.steps)
    b, lt = statistics.median(bare), statistics.median(light)
    setting = f"{encoder}, {device}{' bf16' if bf16 else ' fp32'}, {size[0]}x{size[1]}, batch {batch}"
    return [{"setting": setting, "bare s/step": b, "Lightning s/step": lt, "Lightning / bare": lt / b,
             "bare img/s": batch / b, "Lightning img/s": batch / lt}]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=20, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3, help="rounds per path (median taken)")
    p.add_argument("--size", type=int, nargs=2, default=(64, 64), metavar=("H", "W"))
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--gpu-batch", type=int, default=16)
    p.add_argument("--quick", action="store_true", help="5 steps, 1 round")
    args = p.parse_args(argv)
    import logging

    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if args.quick:
        args.steps, args.rounds = 5, 1
    torch.set_num_threads(args.threads)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, {gpu}; torch "
          f"{torch.__version__}, {torch.get_num_threads()} thread(s); {args.steps} steps x {args.rounds} rounds\n")
    rows = compare(args, TINY, tuple(args.size), args.batch_size, "cpu", False)
    if torch.cuda.is_available():
        rows += compare(args, "efficientnet-b7", (320, 384), args.gpu_batch, "cuda", True)
    else:
        print("GPU part skipped: no CUDA device in this session (B7 320x384 bf16 runs when one is present)\n")
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
