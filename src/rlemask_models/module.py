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
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import rlemask
from rlemask.errors import RlemaskError
from rlemask.uwmgi import CLASSES
from rlemask_models.data import SliceDataset, make_loader, restore
from rlemask_models.metrics import SegmentationScores

__all__ = ["SegmentationModule", "binarize", "build_loss", "build_network", "gate", "load_weights", "read_torch_file",
           "strict_load", "tune_postprocess"]

_LOSSES = ("bce", "dice", "tversky", "focal", "lovasz")
#: classification-head keys that an encoder file may carry and a segmentation encoder lacks
_HEADS = ("_fc.", "fc.", "classifier.", "head.", "last_linear.", "conv_head.", "bn2.", "_conv_head.", "_bn1.",
          "global_pool.")


def build_network(arch: str = "Unet", encoder: str = "efficientnet-b7", *, in_channels: int = 3,
                  classes: int = 3, weights: str | None = None, presence: bool = False,
                  decoder_width: int | None = None) -> nn.Module:
    """An smp network with random (or local) weights; never downloads.  ``presence=True`` adds smp's
    classification head (``aux_params``): the network then returns ``(mask logits, class logits)``.
    ``decoder_width=w`` sets smp's ``decoder_channels`` to ``(16w, 8w, 4w, 2w, w)``."""
    import segmentation_models_pytorch as smp

    aux = {"aux_params": {"classes": classes, "dropout": 0.0}} if presence else {}
    if decoder_width is not None:
        aux["decoder_channels"] = tuple(decoder_width * 2**k for k in range(4, -1, -1))
    try:
        network = smp.create_model(arch, encoder_name=encoder, encoder_weights=None,
                                   in_channels=in_channels, classes=classes, **aux)
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


def gate(masks: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Logits of ``sigmoid(masks) * sigmoid(present)`` (``present``: one logit per image and class).

    >>> m, c = torch.tensor([[[[0.0, 3.0]]]]), torch.tensor([[1.0]])
    >>> torch.allclose(torch.sigmoid(gate(m, c)), torch.sigmoid(m) * torch.sigmoid(c))
    True
    """
    log_p = (F.logsigmoid(masks.float()) + F.logsigmoid(present.float())[..., None, None]).clamp(max=-1e-6)
    return log_p - torch.log(-torch.expm1(log_p))


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
    decoder_width : int, optional
        Channels of the decoder's last stage (see :func:`build_network`).
    presence : float
        > 0 adds a presence head (smp ``aux_params``): each class's pixel probabilities are multiplied
        by the head's probability that the class is in the image (:func:`gate`), and its BCE against
        "the mask is not empty", times ``presence``, joins the loss.
    lr, min_lr, weight_decay, warmup : float
        AdamW, then per step: linear warm-up over ``warmup`` epochs, cosine to ``min_lr``.
    threshold : float or sequence of float
        Probability of a predicted pixel (one per class, or one for all).
    min_area : int or sequence of int
        A class mask with fewer pixels (at the original size) is emptied (see :func:`binarize`).
    bn_momentum : float, optional
        Momentum of every batch norm (0.1 helps EfficientNets trained from scratch).
    channels_last : bool
        Keep the network's weights and its input images in ``torch.channels_last`` memory format
        (NHWC): oneDNN's convolutions on CPUs and cuDNN's under mixed precision run faster so.
    size, resize, context, stride, normalize
        The data geometry the network was trained on (inference reads them back).
    """

    def __init__(self, *, arch: str = "Unet", encoder: str = "efficientnet-b7", in_channels: int = 3,
                 classes: Sequence[str] = CLASSES, weights: str | None = None, loss: str = "bce+dice",
                 presence: float = 0.0, decoder_width: int | None = None, lr: float = 1e-3, min_lr: float = 1e-6, weight_decay: float = 1e-2, warmup: float = 0.0,
                 threshold: float | Sequence[float] = 0.5, min_area: int | Sequence[int] = 0,
                 bn_momentum: float | None = None, channels_last: bool = False, size: Sequence[int] = (256, 256),
                 resize: str = "resize", context: int = 0, stride: int = 1,
                 normalize: str = "percentile") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.hparams.classes = list(classes)
        self.hparams.size = list(size)
        self.network = build_network(arch, encoder, in_channels=in_channels, classes=len(classes), weights=weights,
                                     presence=presence > 0, decoder_width=decoder_width)
        if bn_momentum is not None:
            for m in self.network.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = float(bn_momentum)
        if channels_last:
            self.network = self.network.to(memory_format=torch.channels_last)
        self.loss = build_loss(loss)
        self.val_scores = SegmentationScores(classes)

    def _run(self, image: torch.Tensor) -> Any:
        """The network's raw output (a tuple with a presence head)."""
        if self.hparams.get("channels_last"):
            image = image.contiguous(memory_format=torch.channels_last)
        return self.network(image)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self._run(image)
        return gate(*out) if isinstance(out, tuple) else out

    def on_fit_start(self) -> None:
        self._threads = torch.get_num_threads()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # with the OpenMP threading layer, rlemask's numba kernels (validation, decoding) set the
        # OpenMP threads that torch's CPU kernels share: keep the count the fit started with, or a
        # run's arithmetic (and a resumed run's equality) would depend on when validation ran
        if torch.get_num_threads() != self._threads:
            torch.set_num_threads(self._threads)

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        out = self._run(batch["image"])
        if isinstance(out, tuple):  # presence head: the gated pixels' loss plus the head's own BCE
            present = batch["mask"].flatten(2).amax(2)
            loss = self.loss(gate(*out), batch["mask"]) + self.hparams.presence * F.binary_cross_entropy_with_logits(
                out[1].float(), present)
        else:
            loss = self.loss(out, batch["mask"])
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=len(batch["image"]))
        return loss

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        logits = self(batch["image"])
        self.log("val_loss", self.loss(logits, batch["mask"]), on_epoch=True, prog_bar=True, sync_dist=True,
                 batch_size=len(batch["image"]))
        probs = torch.sigmoid(logits.float()).cpu()
        hp = self.hparams
        preds = [binarize(restore(p, shape, size=hp.size, resize=hp.resize), hp.threshold, hp.min_area)
                 for p, shape in zip(probs, batch["shape"])]
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


# --------------------------------------------------------------------------- post-processing

#: grids searched by :func:`tune_postprocess`
TUNE_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
TUNE_AREAS = (0, 16, 32, 64, 128, 256, 512, 1024, 2048)


def binarize(probs: Any, threshold: float | Sequence[float] = 0.5,
             min_area: int | Sequence[int] = 0) -> np.ndarray:
    """uint8 ``(classes, h, w)`` masks: ``probs > threshold``, then every class mask with fewer than
    ``min_area`` pixels emptied (``threshold`` and ``min_area``: one value, or one per class).

    >>> p = np.zeros((2, 4, 4), np.float32); p[:, :2, :2] = 0.9; p[1, 3, 3] = 0.6
    >>> binarize(p, [0.5, 0.8], min_area=[5, 0]).reshape(2, -1).sum(1).tolist()
    [0, 4]
    """
    probs = np.asarray(probs)
    classes = probs.shape[0]
    mask = probs > np.broadcast_to(np.asarray(threshold, np.float32), (classes,))[:, None, None]
    small = mask.reshape(classes, -1).sum(1) < np.broadcast_to(np.asarray(min_area), (classes,))
    mask[small] = False
    return mask.astype(np.uint8)


def tune_postprocess(module: SegmentationModule, dataset: SliceDataset, *, batch_size: int = 8, workers: int = 0,
                     thresholds: Sequence[float] = TUNE_THRESHOLDS,
                     areas: Sequence[int] = TUNE_AREAS) -> tuple[list[float], list[int]]:
    """Per class, the ``(threshold, min_area)`` of the grids with the best mean dice on ``dataset``.

    ``dataset`` must hold labels and the module's geometry; the model is run once (in eval
    mode, put back in its mode afterwards) and every pair of the grids is scored from the
    per-image areas, so the search costs one inference pass.  Ties go to the smaller area,
    then the lower threshold.  Use slices the model is not validated on (``fit_fold(tune=True)``
    uses the training folds).

    Returns
    -------
    (thresholds, min_areas) : one value per class each
    """
    grid = torch.tensor(thresholds, dtype=torch.float32)
    stats = []  # per image: (classes, thresholds, [predicted area, intersection, truth area])
    mode, device = module.training, next(module.parameters()).device
    module.eval()
    try:
        with torch.inference_mode():
            for batch in make_loader(dataset, batch_size=batch_size, workers=workers):
                probs = torch.sigmoid(module(batch["image"].to(device)).float()).cpu()
                for p, shape, rles in zip(probs, batch["shape"], batch["rles"]):
                    p = torch.from_numpy(restore(p, shape, size=dataset.size, resize=dataset.resize))
                    truth = torch.from_numpy(rlemask.decode_many(rles, shape)).bool()[:, None]
                    pred = p[:, None] > grid[None, :, None, None]
                    area, inter = pred.flatten(2).sum(2), (pred & truth).flatten(2).sum(2)
                    stats.append(torch.stack([area, inter, truth.flatten(1).sum(1, keepdim=True).expand_as(area)], -1))
    finally:
        module.train(mode)
    area, inter, true = torch.stack(stats).double().unbind(-1)  # (images, classes, thresholds)
    kept = area[None] >= torch.tensor(areas, dtype=torch.float64)[:, None, None, None]
    total = torch.where(kept, area, 0) + true
    dice = torch.where(total > 0, 2 * torch.where(kept, inter, 0) / total.clamp(min=1), 1.0).mean(1)
    best = dice.permute(1, 0, 2).flatten(1).argmax(1).tolist()  # per class, over (area, threshold)
    return [float(thresholds[b % len(thresholds)]) for b in best], [int(areas[b // len(thresholds)]) for b in best]


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
