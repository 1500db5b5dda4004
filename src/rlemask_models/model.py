"""The segmentation model: a U-Net from segmentation-models-pytorch, built offline.

:func:`build_model` always passes ``encoder_weights=None`` to smp, so building a
model never touches the network (smp's default ``"imagenet"`` downloads in the
constructor).  Pretrained weights come from a local file instead:

* an **encoder** state dict (the file smp or timm would have downloaded, e.g.
  ``efficientnet-b7-dcc49843.pth``): loaded into ``model.encoder``; keys of a
  classification head (``_fc.*``, ``fc.*``, ``classifier.*``, ...) are ignored,
  every other key must match;
* a **full** state dict of the U-Net (keys ``encoder.*``, ``decoder.*``,
  ``segmentation_head.*``), possibly saved from a DistributedDataParallel
  wrapper (``module.`` prefix);
* one of our checkpoints (:mod:`rlemask_models.train`): a dict whose ``"model"``
  entry is the full state dict.

Any key that does not fit raises :class:`~rlemask.errors.RlemaskError` naming
the missing, unexpected and mis-shaped keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rlemask.errors import RlemaskError

__all__ = ["build_model", "load_weights", "model_from_checkpoint", "read_checkpoint", "read_state_dict"]

#: prefixes of the top-level modules of an smp U-Net
_FULL_PREFIXES = ("encoder.", "decoder.", "segmentation_head.")
#: classification-head keys that an encoder file may carry and a U-Net encoder lacks
_HEAD_PREFIXES = (
    "_fc.",
    "fc.",
    "classifier.",
    "head.",
    "last_linear.",
    "conv_head.",
    "bn2.",
    "_conv_head.",
    "_bn1.",
    "global_pool.",
)


def build_model(
    encoder: str = "efficientnet-b7",
    in_channels: int = 3,
    classes: int = 3,
    weights: str | os.PathLike[str] | None = None,
) -> nn.Module:
    """A ``segmentation_models_pytorch.Unet`` with random (or local) weights; never downloads.

    Parameters
    ----------
    encoder : str
        Any smp encoder name: ``"efficientnet-b7"`` (the seed project's model,
        67 M parameters), ``"resnet18"``, ``"efficientnet-b0"``, or a timm encoder
        as ``"tu-<timm name>"`` (``"tu-test_efficientnet"`` is a tiny one for tests).
    in_channels : int
        Input channels (3 for a repeated slice, ``2*context + 1`` for 2.5D input).
    classes : int
        Output channels, one logit map per class.
    weights : path, optional
        Local file of encoder weights, a full U-Net state dict or one of our
        checkpoints (see the module doc).  ``None`` keeps the random initialisation.

    Returns
    -------
    torch.nn.Module
        The U-Net in training mode, on the CPU.  Input height and width must be
        multiples of 32.

    Raises
    ------
    RlemaskError
        Unknown encoder, bad channel counts, or a weights file that does not fit.

    Examples
    --------
    >>> import torch
    >>> model = build_model("tu-test_efficientnet", in_channels=1, classes=3)
    >>> model.eval()(torch.zeros(1, 1, 64, 64)).shape
    torch.Size([1, 3, 64, 64])
    """
    import segmentation_models_pytorch as smp

    for name, value in (("in_channels", in_channels), ("classes", classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RlemaskError(f"build_model: {name}={value!r} must be an int >= 1")
    try:
        model = smp.Unet(
            encoder_name=encoder,
            encoder_weights=None,
            in_channels=in_channels,
            classes=classes,
        )
    except (KeyError, RuntimeError, ValueError) as exc:
        raise RlemaskError(
            f"build_model: cannot build a U-Net with encoder={encoder!r}: {exc} "
            "(use an smp encoder name such as 'efficientnet-b7', 'resnet18', or 'tu-<timm model>')"
        ) from exc
    # smp's EfficientNet encoders keep the classifier's last conv and batch norm,
    # which the U-Net never calls: freeze them so DistributedDataParallel does not
    # wait for their gradients (their weights still load and save as usual)
    for name in ("_conv_head", "_bn1"):
        unused = getattr(model.encoder, name, None)
        if isinstance(unused, nn.Module):
            unused.requires_grad_(False)
    if weights is not None:
        load_weights(model, weights)
    return model


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The state dict stored in ``path``: a plain one, or the ``"model"`` / ``"state_dict"`` entry.

    Loaded with ``weights_only=True`` (no code from the file runs) onto the CPU;
    a ``module.`` prefix common to every key (DistributedDataParallel) is removed.

    Raises
    ------
    RlemaskError
        The file is missing, unreadable, or holds no state dict.
    """
    file = Path(path)
    if not file.is_file():
        raise RlemaskError(f"weights file {str(file)!r} not found")
    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise RlemaskError(f"weights file {str(file)!r} cannot be read by torch.load: {exc}") from exc
    state: Any = obj
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(obj.get(key), Mapping):
                state = obj[key]
                break
    if not isinstance(state, Mapping) or not state or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        found = type(obj).__name__
        if isinstance(obj, Mapping):
            found += f" with keys {_some(list(obj))}"
        raise RlemaskError(
            f"weights file {str(file)!r} holds a {found}; expected a state dict "
            "(parameter name -> tensor) or a checkpoint with a 'model' state dict"
        )
    state = dict(state)
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> str:
    """Load a local weights file into an smp U-Net; return ``"model"`` or ``"encoder"``.

    A state dict with any ``encoder.``, ``decoder.`` or ``segmentation_head.``
    key is a full model and must match every key; otherwise it is an encoder
    state dict and must cover every key of ``model.encoder`` (classification-head
    keys of the file are ignored).  For timm (``tu-``) encoders, keys without
    smp's ``model.`` prefix are accepted too.

    Raises
    ------
    RlemaskError
        Missing, unexpected or mis-shaped keys, each listed (first few of each).
    """
    state = read_state_dict(path)
    if any(k.startswith(_FULL_PREFIXES) for k in state):
        _strict_load(model, state, path, what="the U-Net")
        return "model"
    encoder = model.encoder
    own = encoder.state_dict()
    if not set(state) & set(own) and any(k.startswith("model.") for k in own):
        state = {f"model.{k}": v for k, v in state.items()}
    head = [k for k in state if k not in own and _is_head(k)]
    state = {k: v for k, v in state.items() if k not in head}
    _strict_load(encoder, state, path, what="the encoder")
    return "encoder"


def _is_head(key: str) -> bool:
    key = key[len("model.") :] if key.startswith("model.") else key
    return key.startswith(_HEAD_PREFIXES)


def _strict_load(module: nn.Module, state: dict[str, torch.Tensor], path: Any, *, what: str) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) {_some(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) {_some(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} mis-shaped key(s) [{'; '.join(shapes[:3])}]")
        raise RlemaskError(
            f"weights file {str(path)!r} does not fit {what} ({type(module).__name__}, "
            f"{len(own)} keys; file has {len(state)}): " + ", ".join(parts)
            + "; check the encoder name, in_channels and classes"
        )
    # torch's own loader (not smp's overrides, which drop keys silently)
    nn.Module.load_state_dict(module, state, strict=True)


def _some(keys: list[Any], limit: int = 5) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    more = f", ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return f"[{shown}{more}]"


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A checkpoint written by :func:`rlemask_models.train.fit` (``weights_only=True``, on the CPU).

    Raises
    ------
    RlemaskError
        The file is missing, unreadable, or not one of our checkpoints.
    """
    file = Path(path)
    if not file.is_file():
        raise RlemaskError(f"checkpoint {str(file)!r} not found")
    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RlemaskError(f"checkpoint {str(file)!r} cannot be read by torch.load: {exc}") from exc
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("model"), Mapping) or not isinstance(
        ckpt.get("config"), Mapping
    ):
        keys = _some(list(ckpt)) if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise RlemaskError(
            f"checkpoint {str(file)!r} has {keys}; expected a training checkpoint with "
            "'model' and 'config' entries (written by 'rlemask train')"
        )
    return dict(ckpt)


def model_from_checkpoint(
    path: str | os.PathLike[str],
) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """Rebuild the model of a training checkpoint: ``(model, config, checkpoint)``.

    The model is built from the checkpoint's ``encoder``, ``in_channels`` and
    ``classes`` (no download), loaded strictly, and left in eval mode on the CPU.
    """
    ckpt = read_checkpoint(path)
    config = dict(ckpt["config"])
    model = build_model(
        str(config.get("encoder", "efficientnet-b7")),
        in_channels=int(ckpt.get("in_channels", 3)),
        classes=len(ckpt.get("classes", (0, 0, 0))),
    )
    state = dict(ckpt["model"])
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    _strict_load(model, state, path, what="the U-Net")
    model.eval()
    return model, config, ckpt
