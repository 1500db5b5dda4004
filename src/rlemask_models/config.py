"""Typed configuration: the single source of defaults, YAML files and command-line options.

:class:`TrainConfig` (``train``, ``cv``, ``demo``) and :class:`InferConfig`
(``predict``, ``evaluate``) are dataclasses; every field is a command-line
option (``batch_size`` -> ``--batch-size``, booleans also as ``--no-...``) whose
help text is the field's ``help`` metadata.  Values come, later winning, from
the dataclass defaults, a preset (the demo's), ``--config file.yaml`` and the
flags given.  ``--print-config`` prints the resulting YAML, which ``--config``
reads back to the same config.  An unknown key or flag is an error naming the
closest valid one.

This module imports neither torch nor Lightning (the CLI builds its parser
from it without the 'models' extra).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlemask.errors import RlemaskError

__all__ = ["InferConfig", "TrainConfig", "add_arguments", "from_args", "load_yaml", "to_yaml"]


def _opt(default: Any, help: str, **extra: Any) -> Any:
    factory = {"default_factory": lambda: list(default)} if isinstance(default, list) else {"default": default}
    return field(metadata={"help": help, **extra}, **factory)


@dataclass
class TrainConfig:
    """Everything that defines a training run (its data fields are saved in every checkpoint)."""

    data: str = _opt("", "UWMGI folder with train.csv and train/")
    out: str = _opt("runs", "output folder (checkpoints, metrics.csv, learning_curve.png)", short="-o")
    fold: int = _opt(0, "validation fold")
    folds: int = _opt(5, "number of folds, grouped by case")
    fold_seed: int = _opt(42, "seed of the stratified group k-fold split")
    arch: str = _opt("Unet", "smp architecture: Unet, UnetPlusPlus, FPN, DeepLabV3Plus, ...")
    encoder: str = _opt("efficientnet-b7", "smp encoder: efficientnet-b7, resnet18, tu-<timm name>, ...")
    decoder_width: int | None = _opt(None, "UNet-family decoder: channels of its last stage, doubling upwards "
                                     "(8: 128, 64, 32, 16, 8); default smp's (256, 128, 64, 32, 16)")
    weights: str | None = _opt(None, "local encoder or model weights file (never downloaded)")
    size: tuple[int, int] = _opt((256, 256), "model input: N or HxW, multiples of 32")
    resize: str = _opt("resize", "geometry: resize or pad")
    context: int = _opt(0, "2.5D: neighbouring slices on each side")
    stride: int = _opt(1, "slice step of the 2.5D context")
    empty: str | float = _opt("keep", "empty training slices: keep, drop or a fraction in (0, 1]")
    augment: bool = _opt(True, "built-in deterministic flips / affine on training slices")
    normalize: str = _opt("percentile", "slice normalisation: percentile, minmax or none")
    epochs: int = _opt(10, "training epochs")
    batch_size: int = _opt(8, "images per batch and process")
    lr: float = _opt(1e-3, "AdamW learning rate")
    min_lr: float = _opt(1e-6, "floor of the cosine schedule")
    weight_decay: float = _opt(1e-2, "AdamW weight decay")
    warmup: float = _opt(0.0, "epochs of linear warm-up before the cosine decay")
    loss: str = _opt("bce+dice", "smp losses joined by +, optionally weighted: 0.7*bce+0.3*tversky "
                     "(bce, dice, tversky, focal, lovasz)")
    presence: float = _opt(0.0, "weight of the BCE loss of a per-class presence head on the encoder (0: no head); "
                           "its probability that a class is in the slice multiplies that class's pixel probabilities")
    threshold: float = _opt(0.5, "probability threshold of a predicted pixel")
    min_area: int = _opt(0, "a predicted class mask with fewer pixels (at the original size) is emptied")
    tune: bool = _opt(False, "after fitting, choose each class's threshold and minimum area on the training "
                      "folds' slices (never the validation fold) and store them in the checkpoints")
    ema: float | None = _opt(None, "decay of an exponential moving average of the weights (Lightning's "
                             "EMAWeightAveraging, every step): validated, checkpointed and returned in place of the raw weights")
    clip_grad: float | None = _opt(None, "maximum gradient norm")
    accumulate: int = _opt(1, "gradient accumulation batches")
    precision: str = _opt("auto", "Lightning precision: auto (bf16-mixed on CUDA, else 32-true), 16-mixed, ...")
    bn_momentum: float | None = _opt(None, "batch-norm momentum (default: the encoder's)")
    channels_last: bool = _opt(False, "channels-last (NHWC) weights and inputs: faster convolutions on CPUs "
                               "(oneDNN) and under mixed precision on GPUs")
    sync_bn: bool = _opt(False, "SyncBatchNorm under DDP")
    accelerator: str = _opt("auto", "Lightning accelerator: auto, cpu, gpu")
    devices: str = _opt("auto", "Lightning devices: auto, a count or a list such as 0,1")
    num_nodes: int = _opt(1, "nodes (SLURM / torchrun multi-node)")
    strategy: str = _opt("auto", "Lightning strategy: auto, ddp, ...")
    workers: int = _opt(0, "DataLoader workers (started with forkserver)")
    cache: bool = _opt(False, "keep slices in memory")
    seed: int = _opt(42, "seed of initialisation, shuffle, augmentation and the empty-slice draw")
    deterministic: bool | None = _opt(None, "deterministic algorithms (default: on for CPU)")
    patience: int | None = _opt(None, "early stopping after this many epochs without a better score")
    exclude_bad: bool = _opt(False, "drop the scans with known bad labels")
    resume: bool = _opt(False, "continue from OUT/last.ckpt (cv: from the fold where it stopped)")
    quiet: bool = _opt(False, "no progress bar or epoch lines", short="-q")

    def check(self) -> TrainConfig:
        """Raise :class:`RlemaskError` naming the first invalid field; return self."""
        self.size = _size(self.size)
        self.empty = _empty(self.empty)
        for name, low in {"fold": 0, "folds": 2, "epochs": 1, "batch_size": 1, "context": 0, "stride": 1,
                          "workers": 0, "accumulate": 1, "num_nodes": 1, "min_area": 0}.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise RlemaskError(f"{name}={value!r} must be an int >= {low}")
        if self.decoder_width is not None and (isinstance(self.decoder_width, bool) or self.decoder_width < 1):
            raise RlemaskError(f"decoder_width={self.decoder_width!r} must be an int >= 1")
        if self.fold >= self.folds:
            raise RlemaskError(f"fold={self.fold} must be < folds={self.folds}")
        if self.size[0] % 32 or self.size[1] % 32:
            up = tuple(-(-s // 32) * 32 for s in self.size)
            raise RlemaskError(f"size={self.size}: the networks need multiples of 32; use size={up}")
        for name in ("lr", "min_lr", "weight_decay", "warmup", "presence"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise RlemaskError(f"{name}={value!r} must be a finite number >= 0")
        if self.lr <= 0:
            raise RlemaskError(f"lr={self.lr!r} must be > 0")
        if not 0.0 < self.threshold < 1.0:
            raise RlemaskError(f"threshold={self.threshold!r} must be in (0, 1)")
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise RlemaskError(f"ema={self.ema!r} must be in (0, 1)")
        if self.bn_momentum is not None and not 0.0 < self.bn_momentum <= 1.0:
            raise RlemaskError(f"bn_momentum={self.bn_momentum!r} must be in (0, 1]")
        _choice("resize", self.resize, ("resize", "pad"))
        _choice("normalize", self.normalize, ("percentile", "minmax", "none"))
        return self


@dataclass
class InferConfig:
    """Options of ``predict`` and ``evaluate``."""

    checkpoint: list = _opt([], "one or more .ckpt files; their probabilities are averaged", nargs="+")
    data: str = _opt("", "UWMGI folder (train/ or test/ images)")
    out: str | None = _opt(None, "submission CSV (predict) or table .csv/.json (evaluate)", short="-o")
    tta: str = _opt("", "test-time augmentation views besides the image: hflip, vflip, hflip,vflip")
    split: str = _opt("train", "image folder under --data: train or test (no labels)")
    fold: int | None = _opt(None, "only this fold's slices (evaluate: default the checkpoint's fold)")
    threshold: float | None = _opt(None, "probability threshold (default: the first checkpoint's)")
    batch_size: int = _opt(8, "images per batch")
    workers: int = _opt(0, "DataLoader workers (started with forkserver)")
    device: str = _opt("auto", "auto (CUDA when available), cpu, cuda, cuda:1")
    overlays: str | None = _opt(None, "predict: folder for slice / truth / prediction PNGs")
    max_overlays: int = _opt(24, "predict: at most this many overlays")
    quiet: bool = _opt(False, "no progress bar", short="-q")

    def check(self) -> InferConfig:
        """Raise :class:`RlemaskError` naming the first invalid field; return self."""
        if not self.checkpoint:
            raise RlemaskError("checkpoint is empty; expected one or more .ckpt files")
        _choice("split", self.split, ("train", "test"))
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise RlemaskError(f"threshold={self.threshold!r} must be in (0, 1)")
        for name in ("batch_size", "workers", "max_overlays"):
            if getattr(self, name) < (1 if name == "batch_size" else 0):
                raise RlemaskError(f"{name}={getattr(self, name)!r} is too small")
        return self


# --------------------------------------------------------------------------- value parsers


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise RlemaskError(f"{name}={value!r}; expected one of {', '.join(allowed)}")


def _size(value: Any) -> tuple[int, int]:
    """``256``, ``"320x384"``, ``[320, 384]`` -> (height, width)."""
    parts: Any = value
    if isinstance(value, str):
        parts = value.lower().replace(",", "x").split("x")
    elif isinstance(value, int):
        parts = [value]
    try:
        out = [int(p) for p in parts]
    except (TypeError, ValueError):
        raise RlemaskError(f"size={value!r}; expected N or HxW, e.g. 256 or 320x384") from None
    out = out * 2 if len(out) == 1 else out
    if len(out) != 2 or min(out) <= 0:
        raise RlemaskError(f"size={value!r}; expected N or HxW of positive ints")
    return out[0], out[1]


def _empty(value: Any) -> str | float:
    if value in ("keep", "drop"):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RlemaskError(f"empty={value!r}; expected keep, drop or a fraction in (0, 1]") from None
    if not 0.0 < number <= 1.0:
        raise RlemaskError(f"empty={value!r}; a fraction must be in (0, 1]")
    return number


def _optional(kind: Any) -> Any:
    def parse(text: str) -> Any:
        return None if text.lower() in ("none", "null", "") else kind(text)

    return parse


def _parser_of(cls: type, name: str) -> tuple[Any, dict[str, Any]]:
    """(value parser, extra add_argument keywords) of a field, from its type annotation."""
    hint = typing.get_type_hints(cls)[name]
    args = set(typing.get_args(hint))
    if hint is bool or args == {bool, type(None)}:
        return None, {"action": argparse.BooleanOptionalAction}
    if name == "size":
        return _size, {"metavar": "N|HxW"}
    if name == "empty":
        return _empty, {}
    for kind in (int, float, str):
        if hint is kind:
            return kind, {}
        if args == {kind, type(None)}:
            return _optional(kind), {}
    return str, {}


def _checked(parse: Any) -> Any:
    def run(text: str) -> Any:
        try:
            return parse(text)
        except (RlemaskError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return run


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = ()) -> None:
    """One option per field of ``cls`` (defaults suppressed: :func:`from_args` fills them)."""
    defaults = {f.name: _default(f) for f in dataclasses.fields(cls)}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        parse, extra = _parser_of(cls, f.name)
        flags = [f"--{f.name.replace('_', '-')}"] + ([f.metadata["short"]] if "short" in f.metadata else [])
        if "nargs" in f.metadata:
            extra["nargs"] = f.metadata["nargs"]
        if parse is not None:
            extra["type"] = _checked(parse)
        shown = defaults[f.name]
        parser.add_argument(*flags, dest=f.name, default=argparse.SUPPRESS,
                            help=f"{f.metadata['help']} (default: {shown})", **extra)
    parser.add_argument("--config", default=None, metavar="FILE.yaml",
                        help="read options from a YAML file (flags given here win)")
    parser.add_argument("--print-config", action="store_true", help="print the resulting config as YAML and exit")


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def from_args(cls: type, args: argparse.Namespace, *, preset: dict[str, Any] | None = None) -> Any:
    """The config of ``cls`` from defaults < ``preset`` < ``args.config`` YAML < flags given."""
    values = dict(preset or {})
    if getattr(args, "config", None):
        values.update(load_yaml(cls, args.config))
    values.update({f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)})
    return make(cls, values)


def make(cls: type, values: dict[str, Any]) -> Any:
    """``cls(**values)`` after checking every key (closest valid key named) and parsing strings."""
    return cls(**_clean(cls, values)).check()


def _clean(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    names = [f.name for f in dataclasses.fields(cls)]
    clean: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid keys: {', '.join(names)}"
            raise RlemaskError(f"unknown config key {key!r}{hint}")
        parse, _ = _parser_of(cls, name)
        if isinstance(value, str) and parse is not None and parse is not str:
            try:
                value = parse(value)
            except ValueError:
                raise RlemaskError(f"{name}={value!r} is not a valid value") from None
        if name == "size" and value is not None:
            value = _size(value)
        clean[name] = value
    return clean


def load_yaml(cls: type, path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML file, keys checked against ``cls``."""
    import yaml

    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RlemaskError(f"config file {str(file)!r} cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise RlemaskError(f"config file {str(file)!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RlemaskError(f"config file {str(file)!r} holds a {type(data).__name__}; expected a mapping")
    return _clean(cls, data)  # names the closest key on a typo


def to_yaml(config: Any) -> str:
    """The config as YAML (tuples as lists), readable by ``--config``."""
    import yaml

    values = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
    return yaml.safe_dump(values, sort_keys=False)
