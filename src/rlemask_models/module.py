"""``SegmentationModule``: any smp network, smp losses, AdamW with warm-up + cosine, rlemask metrics.

Drop it into your own Lightning ``Trainer``::

    module = SegmentationModule(arch="Unet", encoder="resnet18", in_channels=3, size=(256, 256))
    trainer = lightning.Trainer(max_epochs=10)
    trainer.fit(module, datamodule=UWMGIDataModule("ROOT", size=(256, 256)))

Batches are the dicts of :class:`rlemask_models.data.SliceDataset` after
:func:`rlemask_models.data.collate`.  Validation restores the probabilities to
each image's original size (the hyper-parameters ``size`` and ``resize`` say
how) and scores them with :class:`~rlemask_models.metrics.SegmentationScores`;
the epoch's metrics are logged as ``val_<name>`` (``val_score`` is the one to
monitor), with ``val_loss`` and ``train_loss``.

Networks never download: smp is always called with ``encoder_weights=None``;
``weights=`` loads a local file (an encoder state dict, a full network state
dict, or a Lightning checkpoint of this module).  The hyper-parameters hold
everything inference needs, so a ``.ckpt`` rebuilds the whole model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

import rlemask
from rlemask.errors import RlemaskError
from rlemask.uwmgi import CLASSES
from rlemask_models.data import restore
from rlemask_models.metrics import SegmentationScores

__all__ = ["SegmentationModule", "build_loss", "build_network", "load_weights", "read_torch_file", "strict_load"]

_LOSSES = ("bce", "dice", "tversky", "focal", "lovasz")
#: classification-head keys that an encoder file may carry and a segmentation encoder lacks
_HEADS = ("_fc.", "fc.", "classifier.", "head.", "last_linear.", "conv_head.", "bn2.", "_conv_head.", "_bn1.",
          "global_pool.")


def build_network(arch: str = "Unet", encoder: str = "efficientnet-b7", *, in_channels: int = 3,
                  classes: int = 3, weights: str | None = None) -> nn.Module:
    """An smp network with random (or local) weights; never downloads."""
    import segmentation_models_pytorch as smp

    try:
        network = smp.create_model(arch, encoder_name=encoder, encoder_weights=None,
                                   in_channels=in_channels, classes=classes)
    except (KeyError, RuntimeError, ValueError, TypeError) as exc:
        raise RlemaskError(f"cannot build arch={arch!r} with encoder={encoder!r}: {str(exc).splitlines()[0]}") from None
    # smp's EfficientNets keep a classifier conv the decoder never calls: DDP must not wait for it
    for name in ("_conv_head", "_bn1"):
        unused = getattr(network.encoder, name, None)
        if isinstance(unused, nn.Module):
            unused.requires_grad_(False)
    if weights is not None:
        load_weights(network, weights)
    return network


def build_loss(spec: str) -> Any:
    """``"bce+dice"``, ``"0.7*bce+0.3*tversky"``, ...: a weighted sum of ``smp.losses`` (multilabel)."""
    from segmentation_models_pytorch import losses

    makers = {
        "bce": lambda: losses.SoftBCEWithLogitsLoss(),
        "dice": lambda: losses.DiceLoss("multilabel", from_logits=True),
        "tversky": lambda: losses.TverskyLoss("multilabel", from_logits=True),
        "focal": lambda: losses.FocalLoss("multilabel"),
        "lovasz": lambda: losses.LovaszLoss("multilabel", from_logits=True),
    }
    terms = []
    for part in str(spec).replace(" ", "").split("+"):
        weight, _, name = part.rpartition("*")
        if name not in makers:
            raise RlemaskError(f"loss={spec!r}: unknown term {name!r}; expected a sum of {', '.join(_LOSSES)}")
        try:
            terms.append((float(weight or 1.0), makers[name]()))
        except ValueError:
            raise RlemaskError(f"loss={spec!r}: weight {weight!r} of {name!r} is not a number") from None

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * fn(logits.float(), target) for w, fn in terms)

    return loss


class SegmentationModule(L.LightningModule):
    """A segmentation network with its loss, optimiser, schedule and metrics (see the module doc).

    Parameters
    ----------
    arch, encoder : str
        Any ``smp.create_model`` architecture and encoder (``tu-<timm>`` too).
    in_channels : int
        ``2*context + 1`` for 2.5D input, else the repeated slice's channels (3).
    classes : sequence of str
        Output classes, one logit map each.
    weights : str, optional
        Local weights file (see the module doc).
    loss : str
        :func:`build_loss` spec.
    lr, min_lr, weight_decay, warmup : float
        AdamW, then per step: linear warm-up over ``warmup`` epochs, cosine to ``min_lr``.
    threshold : float
        Probability of a predicted pixel.
    bn_momentum : float, optional
        Momentum of every batch norm (0.1 helps EfficientNets trained from scratch).
    size, resize, context, stride, normalize
        The data geometry the network was trained on (inference reads them back).
    """

    def __init__(self, *, arch: str = "Unet", encoder: str = "efficientnet-b7", in_channels: int = 3,
                 classes: Sequence[str] = CLASSES, weights: str | None = None, loss: str = "bce+dice",
                 lr: float = 1e-3, min_lr: float = 1e-6, weight_decay: float = 1e-2, warmup: float = 0.0,
                 threshold: float = 0.5, bn_momentum: float | None = None, size: Sequence[int] = (256, 256),
                 resize: str = "resize", context: int = 0, stride: int = 1,
                 normalize: str = "percentile") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.hparams.classes = list(classes)
        self.hparams.size = list(size)
        self.network = build_network(arch, encoder, in_channels=in_channels, classes=len(classes), weights=weights)
        if bn_momentum is not None:
            for m in self.network.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = float(bn_momentum)
        self.loss = build_loss(loss)
        self.val_scores = SegmentationScores(classes)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network(image)

    def on_fit_start(self) -> None:
        self._threads = torch.get_num_threads()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # with the OpenMP threading layer, rlemask's numba kernels (validation, decoding) set the
        # OpenMP threads that torch's CPU kernels share: keep the count the fit started with, or a
        # run's arithmetic (and a resumed run's equality) would depend on when validation ran
        if torch.get_num_threads() != self._threads:
            torch.set_num_threads(self._threads)

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch["image"]), batch["mask"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=len(batch["image"]))
        return loss

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        logits = self(batch["image"])
        self.log("val_loss", self.loss(logits, batch["mask"]), on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=len(batch["image"]))
        probs = torch.sigmoid(logits.float()).cpu()
        size, resize, thr = self.hparams.size, self.hparams.resize, self.hparams.threshold
        preds = [restore(p, shape, size=size, resize=resize) > thr for p, shape in zip(probs, batch["shape"])]
        truth = [rlemask.decode_many(rles, shape) for rles, shape in zip(batch["rles"], batch["shape"])]
        self.val_scores.update(preds, truth, batch["id"])

    def on_validation_epoch_end(self) -> None:
        values = self.val_scores.compute()  # gathered from every rank by torchmetrics
        self.val_scores.reset()
        self.log_dict({f"val_{k}": v for k, v in values.items()}, sync_dist=True)

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        optimizer = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warm = int(round(hp.warmup * total / max(1, self.trainer.max_epochs or 1)))
        floor = hp.min_lr / hp.lr

        def factor(step: int) -> float:
            if warm and step < warm:
                return (step + 1) / warm
            progress = min(1.0, (step - warm) / max(1, total - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


# --------------------------------------------------------------------------- local weights


def load_weights(network: nn.Module, path: str | Path) -> str:
    """Load a local file into an smp network; return ``"model"`` or ``"encoder"``.

    A file with ``encoder.`` / ``decoder.`` keys (or ``network.`` ones, from a
    checkpoint of this module) must fit the whole network; any other state dict
    the encoder (classification-head keys ignored).  Loaded with ``weights_only=True``.
    """
    file = Path(path)
    obj = read_torch_file(file, "weights file")
    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else obj
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RlemaskError(f"weights file {str(file)!r} holds no state dict (parameter name -> tensor)")
    state = {k.removeprefix("module.").removeprefix("network."): v for k, v in state.items()}
    if any(k.startswith(("encoder.", "decoder.", "segmentation_head.")) for k in state):
        strict_load(network, state, file, what="the network")
        return "model"
    own = network.encoder.state_dict()
    if not set(state) & set(own) and any(k.startswith("model.") for k in own):
        state = {f"model.{k}": v for k, v in state.items()}  # timm files for tu- encoders
    state = {k: v for k, v in state.items() if k in own or not k.removeprefix("model.").startswith(_HEADS)}
    strict_load(network.encoder, state, file, what="the encoder")
    return "encoder"


def read_torch_file(path: Path, what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; a missing or unreadable file is one RlemaskError."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RlemaskError(f"{what} {str(path)!r} not found") from None
    except Exception as exc:  # torch raises several types for a bad file
        raise RlemaskError(f"{what} {str(path)!r} cannot be read by torch.load: {str(exc).splitlines()[0]}") from None


def strict_load(module: nn.Module, state: Mapping[str, torch.Tensor], path: Any, *, what: str) -> None:
    """``load_state_dict(strict=True)`` with one error listing missing, unexpected and mis-shaped keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = [f"{len(v)} {n} key(s) {v[:3]}" for n, v in
                 (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)) if v]
        raise RlemaskError(f"{str(path)!r} does not fit {what}: {', '.join(parts)}; "
                           "check arch, encoder, in_channels and classes")
    nn.Module.load_state_dict(module, dict(state), strict=True)
