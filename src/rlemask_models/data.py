"""PyTorch datasets for UWMGI-layout tables: slices, masks, 2.5D context, augmentation.

The table is what :func:`rlemask.uwmgi.load_table` returns: one row per image
with ``id``, ``case``, ``day``, ``slice``, ``path``, ``height``, ``width`` and one
RLE column per class.  Each item of :class:`SliceDataset` is a dict::

    image  float32 tensor (C, H, W)   16-bit slice(s), normalised by rlemask.uwmgi.read_slice
    mask   float32 tensor (3, H, W)   0/1, one channel per class
    id     str                        "case123_day20_slice_0065"
    shape  (h, w)                     the original size, to map predictions back
    rles   list of str                the class RLEs ("" when empty), for scoring at the original size

:func:`collate` stacks ``image`` and ``mask`` and keeps the rest as lists of B
values (``shape`` stays a list of ``(h, w)`` tuples).

Geometry (``resize``):

* ``"resize"``: the image is resized bilinearly to ``size``, the mask with
  nearest-neighbour ("nearest-exact": pixel centres, no half-pixel shift).
  :func:`restore` resizes probabilities back bilinearly.
* ``"pad"``: the image and mask are zero-padded, **centred** (the extra pixel of
  an odd margin goes to the bottom / right), to ``size``, which must be a multiple
  of 32 in both dimensions and at least the image; ``size=None`` pads every image
  to the next multiple of 32 of its own shape (batches then need equal shapes).
  :func:`restore` crops the same window: the round trip is exact.

Channels: ``context=k`` stacks the slices ``s - stride*k, ..., s, ..., s + stride*k``
of the same case-day (2.5D input, the winners' approach), clamped to the first and
last slice of the scan, so ``C = 2*k + 1``.  With ``context=0`` the one slice is
repeated ``channels`` times (3 by default, to feed encoders built for RGB).

Augmentation (``augment=True``): a horizontal flip (p=0.5), a vertical flip
(p=``vflip``, 0 by default) and a small affine transform (p=0.75: rotation within
+-10 degrees, scale 0.9 to 1.1, shift within +-6.25 % of the size) applied with
the same matrix to image (bilinear) and mask (nearest).  The random draws come from
a ``torch.Generator`` seeded from ``(seed, epoch, index)``: an item looks the same
whatever the number of workers or the order of loading, and
``dataset.set_epoch`` (called by :class:`EpochSampler`) moves every item to the next draw.
``transform=`` replaces it with any callable taking and returning
``dict(image=HxWxC float32, mask=HxWxK uint8)`` on the model grid, such as an
albumentations ``Compose`` (its randomness is its own: not tied to seed and epoch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray
from torch.utils.data import DataLoader, Dataset, DistributedSampler

import rlemask
from rlemask.errors import InvalidRleError, LayoutError, RlemaskError
from rlemask.uwmgi import CLASSES

__all__ = ["EpochSampler", "SliceDataset", "collate", "make_loader", "restore", "select_slices"]
_RESIZE = ("resize", "pad")
_MULTIPLE = 32


# --------------------------------------------------------------------------- helpers


def _empty(values: pd.Series) -> NDArray[np.bool_]:
    """True where an RLE cell is empty: None, NaN, pd.NA, "" or blanks."""
    out = np.ones(len(values), dtype=bool)
    for i, value in enumerate(values.tolist()):
        if isinstance(value, str):
            out[i] = not value.strip()
        elif value is None or value is pd.NA:
            out[i] = True
        elif isinstance(value, float) and math.isnan(value):
            out[i] = True
        else:
            raise RlemaskError(
                f"RLE cell {i} is a {type(value).__name__} ({value!r}); "
                "expected a string, None or NaN"
            )
    return out


def _check_columns(table: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise LayoutError(f"{where}: table is a {type(table).__name__}; expected a DataFrame")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise LayoutError(
            f"{where}: table lacks columns {missing}; found {list(table.columns)} "
            "(use rlemask.uwmgi.load_table)"
        )


def _ceil(value: int, multiple: int = _MULTIPLE) -> int:
    return -(-int(value) // multiple) * multiple


def _pair(size: Any, name: str) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise RlemaskError(f"{name}={size!r} must be (height, width) of positive ints") from None
    if h <= 0 or w <= 0:
        raise RlemaskError(f"{name}={size!r} must be (height, width) of positive ints")
    return h, w


def _pad_window(shape: tuple[int, int], padded: tuple[int, int]) -> tuple[int, int]:
    """Top and left offsets of a centred ``shape`` inside ``padded``."""
    return (padded[0] - shape[0]) // 2, (padded[1] - shape[1]) // 2


def _padded_shape(
    shape: tuple[int, int], size: tuple[int, int] | None, image_id: str = ""
) -> tuple[int, int]:
    if size is None:
        return _ceil(shape[0]), _ceil(shape[1])
    if shape[0] > size[0] or shape[1] > size[1]:
        need = (max(_ceil(shape[0]), size[0]), max(_ceil(shape[1]), size[1]))
        where = f" of image {image_id!r}" if image_id else ""
        raise RlemaskError(
            f"shape={tuple(shape)}{where} does not fit size={tuple(size)} with resize='pad'; "
            f"use size={need} or resize='resize'"
        )
    return size


# --------------------------------------------------------------------------- selection


def select_slices(
    table: pd.DataFrame,
    policy: str | float = "keep",
    *,
    seed: int = 0,
    classes: Sequence[str] = CLASSES,
) -> pd.DataFrame:
    """Choose which slices to train on: all, only labelled ones, or a fraction of the empty ones.

    The seed project found that dropping the empty slices overfits (the model
    then paints organs on every slice), so ``"keep"`` is the default; validation
    should always run on every slice.

    Parameters
    ----------
    table : DataFrame
        One row per image with one RLE column per class.
    policy : "keep", "drop" or float in (0, 1]
        ``"keep"`` every slice; ``"drop"`` the slices with no label at all; a
        float keeps every labelled slice and that fraction of the empty ones
        (rounded to the nearest count, drawn with ``seed``).  ``1.0`` is ``"keep"``.
    seed : int
        Seed of the draw for a fractional policy.
    classes : sequence of str
        The RLE columns.

    Returns
    -------
    DataFrame
        The kept rows in their original order, index preserved.  Pass the full
        table as ``neighbours=`` to :class:`SliceDataset` so 2.5D context still
        comes from every slice.

    Raises
    ------
    RlemaskError
        Unknown policy, or a fraction outside (0, 1].
    LayoutError
        A class column is missing.

    Examples
    --------
    >>> t = pd.DataFrame({"id": list("abcd"), "large_bowel": ["1 2", "", None, ""],
    ...                   "small_bowel": ["", "", "", "3 1"], "stomach": ["", "", "", ""]})
    >>> list(select_slices(t, "drop").id)
    ['a', 'd']
    >>> len(select_slices(t, 0.5, seed=0))
    3
    """
    _check_columns(table, list(classes), "select_slices")
    if isinstance(policy, str):
        if policy == "keep":
            return table.copy()
        if policy not in ("drop",):
            raise RlemaskError(
                f"select_slices: policy={policy!r}; expected 'keep', 'drop' or a float in (0, 1]"
            )
        fraction = 0.0
    elif isinstance(policy, (float, int, np.floating, np.integer)) and not isinstance(
        policy, bool
    ):
        fraction = float(policy)
        if not 0.0 < fraction <= 1.0:
            raise RlemaskError(
                f"select_slices: policy={policy!r} is outside (0, 1]; "
                "expected 'keep', 'drop' or a fraction of empty slices to keep"
            )
    else:
        raise RlemaskError(
            f"select_slices: policy={policy!r}; expected 'keep', 'drop' or a float in (0, 1]"
        )
    empty = np.ones(len(table), dtype=bool)
    for cls in classes:
        empty &= _empty(table[cls])
    keep = ~empty
    candidates = np.flatnonzero(empty)
    count = int(round(fraction * len(candidates)))
    if count:
        rng = np.random.default_rng(seed)
        keep[rng.choice(candidates, size=count, replace=False)] = True
    return table.loc[keep].copy()


# --------------------------------------------------------------------------- geometry


def restore(
    probs: ArrayLike | torch.Tensor,
    shape: tuple[int, int],
    *,
    size: tuple[int, int] | None,
    resize: str = "resize",
) -> NDArray[np.float32]:
    """Map a prediction made on the model's grid back to the image's original ``(h, w)``.

    The exact inverse of the geometry of :class:`SliceDataset`: ``"resize"``
    resizes bilinearly (probabilities; threshold afterwards), ``"pad"`` crops the
    centred window, so padding then restoring returns the input unchanged.

    Parameters
    ----------
    probs : array or tensor (..., H, W)
        Probabilities (or logits, or masks) on the model's grid.
    shape : (h, w)
        The image's original size (the item's ``shape``).
    size : (H, W) or None
        The dataset's ``size``.  With ``"pad"`` and ``None``, the grid is the
        next multiple of 32 of ``shape``.
    resize : "resize" or "pad"
        The dataset's ``resize``.

    Returns
    -------
    float32 array (..., h, w)

    Raises
    ------
    RlemaskError
        ``probs`` is not on the grid that ``shape``, ``size`` and ``resize`` give.

    Examples
    --------
    >>> p = np.zeros((3, 288, 288), np.float32); p[:, 11:277, 11:277] = 1
    >>> restore(p, (266, 266), size=None, resize="pad").min()
    np.float32(1.0)
    """
    if resize not in _RESIZE:
        raise RlemaskError(f"restore: resize={resize!r}; expected 'resize' or 'pad'")
    h, w = _pair(shape, "shape")
    if isinstance(probs, torch.Tensor):
        array = probs.detach().to("cpu", torch.float32)
    else:
        array = torch.from_numpy(np.asarray(probs, dtype=np.float32))
    if array.ndim < 2:
        raise RlemaskError(f"restore: probs has shape {tuple(array.shape)}; expected (..., H, W)")
    grid = tuple(int(v) for v in array.shape[-2:])
    if resize == "pad":
        padded = _padded_shape((h, w), None if size is None else _pair(size, "size"))
        if grid != padded:
            raise RlemaskError(
                f"restore: probs grid {grid} does not match the padded grid {padded} "
                f"of shape={(h, w)} and size={size}"
            )
        top, left = _pad_window((h, w), padded)
        out = array[..., top : top + h, left : left + w]
        return np.ascontiguousarray(out.numpy())
    if size is not None and grid != _pair(size, "size"):
        raise RlemaskError(f"restore: probs grid {grid} does not match size={tuple(size)}")
    lead = array.shape[:-2]
    flat = array.reshape(1, -1, *grid)
    if grid != (h, w):
        flat = F.interpolate(flat, size=(h, w), mode="bilinear", align_corners=False)
    return np.ascontiguousarray(flat.reshape(*lead, h, w).numpy())


def _to_grid(
    image: torch.Tensor,
    mask: torch.Tensor,
    *,
    size: tuple[int, int] | None,
    resize: str,
    image_id: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image (C, h, w) and mask (K, h, w) onto the model's grid."""
    h, w = image.shape[-2:]
    if resize == "pad":
        padded = _padded_shape((h, w), size, image_id)
        if padded == (h, w):
            return image, mask
        top, left = _pad_window((h, w), padded)
        pad = (left, padded[1] - w - left, top, padded[0] - h - top)
        return F.pad(image, pad), F.pad(mask, pad)
    assert size is not None
    if (h, w) == size:
        return image, mask
    image = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
    mask = F.interpolate(mask[None], size=size, mode="nearest-exact")[0]
    return image, mask


def _affine(
    image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator, *, vflip: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random flip + affine transform on image (bilinear) and mask (nearest)."""
    u = torch.rand(8, generator=generator, dtype=torch.float64).tolist()
    if u[0] < 0.5:
        image, mask = image.flip(-1), mask.flip(-1)
    if u[1] < vflip:
        image, mask = image.flip(-2), mask.flip(-2)
    if u[2] >= 0.75:
        return image, mask
    angle = math.radians((u[3] * 2 - 1) * 10.0)
    scale = 0.9 + 0.2 * u[4]
    tx, ty = (u[5] * 2 - 1) * 0.125, (u[6] * 2 - 1) * 0.125  # 6.25 % of the size
    h, w = image.shape[-2:]
    # output -> input sampling matrix in normalised coordinates, aspect-correct rotation
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor(
        [[[cos, -sin * h / w, tx], [sin * w / h, cos, ty]]], dtype=torch.float32
    )
    grid = F.affine_grid(theta, [1, 1, h, w], align_corners=False)
    image = F.grid_sample(image[None], grid, mode="bilinear", align_corners=False)[0]
    mask = F.grid_sample(mask[None], grid, mode="nearest", align_corners=False)[0]
    return image, mask


# --------------------------------------------------------------------------- dataset


class SliceDataset(Dataset):
    """Slices of a UWMGI table as ``dict(image, mask, id, shape)`` items (see the module doc).

    Parameters
    ----------
    table : DataFrame
        From :func:`rlemask.uwmgi.load_table` (possibly after :func:`select_slices`):
        ``id``, ``case``, ``day``, ``slice``, ``path``, ``height``, ``width`` and
        one RLE column per class.  Items follow the row order.
    size : (H, W) or None
        Model grid.  Required for ``"resize"``; for ``"pad"`` a multiple of 32 or
        ``None`` (each image to its own next multiple of 32).
    resize : "resize" or "pad"
    context : int
        Neighbouring slices on each side (2.5D); ``C = 2*context + 1``.
    stride : int
        Slice step between neighbours.
    augment : bool
        Random flips and affine transform, identical on image and mask.
    classes : sequence of str
        The RLE columns, in mask-channel order.
    channels : int
        With ``context=0``, how many times the slice is repeated (3 for RGB
        encoders, 1 for a one-channel model); ignored when ``context > 0``.
    normalize : str
        Passed to :func:`rlemask.uwmgi.read_slice`: "percentile" (default; clips the few very
        bright voxels at the 99.5th percentile), "minmax" (the seed project) or "none".
    neighbours : DataFrame or None
        Table to take 2.5D neighbours from (default: ``table``).  Pass the full
        table when ``table`` is a subset (:func:`select_slices`, one fold).
    seed : int
        Seed of the augmentation.
    vflip : float
        Probability of a vertical flip when augmenting.
    transform : callable or None
        Replaces the built-in augmentation (see the module doc), e.g. an
        albumentations ``Compose``.
    cache : bool
        Keep every normalised slice in memory after its first read (small data
        sets; per process, so with ``workers=0`` or persistent workers).  Without
        it, only the last ``2 * (2*context + 1)`` slices are kept, which spares
        re-reading the shared neighbours when items come in slice order.
    root : str, Path or None
        Folder that relative ``path`` values are relative to.
    labels : bool or None
        Whether the table has RLE columns.  ``None``: yes when any class column
        (or of the UWMGI classes) is present; then all of ``classes`` must be.  Unlabelled datasets (prediction on
        :func:`rlemask.uwmgi.scan` tables) yield items without ``"mask"``.

    Raises
    ------
    LayoutError
        Missing columns, or a file whose size differs from the table's.
    InvalidRleError
        (When an item is read) a malformed RLE, with the class and image id.
    RlemaskError
        Bad options.

    Examples
    --------
    >>> import tempfile
    >>> from rlemask import uwmgi
    >>> from rlemask_models import synthetic
    >>> table = uwmgi.load_table(synthetic.generate(tempfile.mkdtemp(), cases=1, days=1, slices=8))
    >>> ds = SliceDataset(table, size=(128, 128), context=1)
    >>> item = ds[4]
    >>> item["image"].shape, item["mask"].shape, item["id"], item["shape"]
    (torch.Size([3, 128, 128]), torch.Size([3, 128, 128]), 'case111_day36_slice_0005', (266, 266))
    """

    def __init__(
        self,
        table: pd.DataFrame,
        *,
        size: tuple[int, int] | int | None = (256, 256),
        resize: str = "resize",
        context: int = 0,
        stride: int = 1,
        augment: bool = False,
        classes: Sequence[str] = CLASSES,
        channels: int = 3,
        normalize: str = "percentile",
        neighbours: pd.DataFrame | None = None,
        seed: int = 0,
        vflip: float = 0.0,
        transform: Any = None,
        cache: bool = False,
        root: str | Path | None = None,
        labels: bool | None = None,
    ) -> None:
        required = ["id", "case", "day", "slice", "path", "height", "width"]
        if labels is None and isinstance(table, pd.DataFrame):
            labels = any(c in table.columns for c in (*classes, *CLASSES))
        if labels:
            required += list(classes)
        _check_columns(table, required, "SliceDataset")
        if resize not in _RESIZE:
            raise RlemaskError(f"SliceDataset: resize={resize!r}; expected 'resize' or 'pad'")
        if size is None:
            if resize == "resize":
                raise RlemaskError("SliceDataset: size=None needs resize='pad'")
            self.size: tuple[int, int] | None = None
        else:
            self.size = _pair(size, "size")
            if resize == "pad" and (self.size[0] % _MULTIPLE or self.size[1] % _MULTIPLE):
                raise RlemaskError(
                    f"SliceDataset: size={self.size} with resize='pad' must be a multiple of "
                    f"{_MULTIPLE}; use size={(_ceil(self.size[0]), _ceil(self.size[1]))}"
                )
        for name, value, low in (("context", context, 0), ("stride", stride, 1), ("channels", channels, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise RlemaskError(f"SliceDataset: {name}={value!r} must be an int >= {low}")
        if not 0.0 <= float(vflip) <= 1.0:
            raise RlemaskError(f"SliceDataset: vflip={vflip!r} must be a probability in [0, 1]")
        self.resize = resize
        self.context = int(context)
        self.stride = int(stride)
        self.augment = bool(augment)
        self.classes = tuple(classes)
        self.labels = bool(labels)
        self.channels = int(channels) if self.context == 0 else 2 * self.context + 1
        self.normalize = normalize
        self.seed = int(seed)
        self.vflip = float(vflip)
        self.transform = transform
        self.epoch = 0
        self.cache = bool(cache)
        self._cache: dict[str, NDArray[np.float32]] = {}
        self.root = None if root is None else Path(root)

        rows = table.reset_index(drop=True)
        self.ids = [str(v) for v in rows["id"].tolist()]
        self.paths = [self._resolve(p) for p in rows["path"].tolist()]
        self.shapes = [
            (int(h), int(w)) for h, w in zip(rows["height"].tolist(), rows["width"].tolist())
        ]
        columns = [
            [None if e else v for v, e in zip(rows[c].tolist(), _empty(rows[c]))]
            for c in (self.classes if self.labels else ())
        ]
        # per row: one RLE (or None) per class; empty lists when unlabelled
        self.rles = [list(r) for r in zip(*columns)] if columns else [[] for _ in self.ids]
        self.neighbour_paths = self._neighbours(rows, table if neighbours is None else neighbours)

    # -- neighbours ---------------------------------------------------------
    def _resolve(self, path: Any) -> str:
        path = Path(str(path))
        if not path.is_absolute() and self.root is not None:
            path = self.root / path
        return str(path)

    def _neighbours(self, rows: pd.DataFrame, source: pd.DataFrame) -> list[list[str]]:
        """Per row, the paths of slices ``s + stride*k`` for k in -context..context."""
        if self.context == 0:
            return [[p] for p in self.paths]
        _check_columns(source, ["case", "day", "slice", "path"], "SliceDataset(neighbours=)")
        scans: dict[tuple[int, int], tuple[NDArray[np.int64], list[str]]] = {}
        frame = source[["case", "day", "slice", "path"]]
        for (case, day), group in frame.groupby(["case", "day"], sort=False):
            group = group.sort_values("slice")
            numbers = group["slice"].to_numpy(dtype=np.int64)
            scans[(int(case), int(day))] = (numbers, [self._resolve(p) for p in group["path"]])
        offsets = np.arange(-self.context, self.context + 1) * self.stride
        out = []
        for case, day, number, image_id in zip(
            rows["case"].tolist(), rows["day"].tolist(), rows["slice"].tolist(), self.ids
        ):
            key = (int(case), int(day))
            if key not in scans:
                raise LayoutError(
                    f"SliceDataset: image {image_id!r} has no case {case} day {day} in the "
                    "neighbours table; pass the full table as neighbours="
                )
            numbers, paths = scans[key]
            targets = np.clip(int(number) + offsets, numbers[0], numbers[-1])
            # nearest available slice number (exact when the scan has no gaps)
            pos = np.clip(np.searchsorted(numbers, targets), 0, len(numbers) - 1)
            left = np.clip(pos - 1, 0, len(numbers) - 1)
            pick = np.where(
                np.abs(numbers[left] - targets) < np.abs(numbers[pos] - targets), left, pos
            )
            out.append([paths[i] for i in pick])
        return out

    # -- reading ------------------------------------------------------------
    def _read(self, path: str) -> NDArray[np.float32]:
        array = self._cache.get(path)
        if array is not None:
            if not self.cache:  # least-recently-used order for the small 2.5D window
                self._cache[path] = self._cache.pop(path)
            return array
        from rlemask import uwmgi

        array = uwmgi.read_slice(path, normalize=self.normalize)
        self._cache[path] = array
        if not self.cache:
            # keep the last few slices: in slice order (validation, prediction) the
            # 2.5D windows of consecutive items share 2*context slices
            while len(self._cache) > 2 * (2 * self.context + 1):
                del self._cache[next(iter(self._cache))]
        return array

    def set_epoch(self, epoch: int) -> None:
        """Move the augmentation to the draws of ``epoch`` (call before each epoch)."""
        self.epoch = int(epoch)

    def generator(self, index: int) -> torch.Generator:
        """The augmentation's random generator for item ``index`` in the current epoch."""
        seed = np.random.SeedSequence([self.seed, self.epoch, int(index)]).generate_state(1)[0]
        return torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, index: int) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
        """Image (C, h, w) float32 and mask (K, h, w) uint8 of one row at the original size.

        Unlabelled datasets return a mask with no channels, (0, h, w).
        """
        image_id = self.ids[index]
        shape = self.shapes[index]
        slices = [self._read(p) for p in self.neighbour_paths[index]]
        for path, array in zip(self.neighbour_paths[index], slices):
            if array.shape != shape:
                raise LayoutError(
                    f"SliceDataset: {path} has shape {array.shape}; the table says "
                    f"height={shape[0]}, width={shape[1]} for {image_id!r}"
                )
        if self.context == 0 and self.channels > 1:
            slices = slices * self.channels
        image = np.stack(slices)
        # one serial decode per class: decode_many's parallel kernel would start numba's
        # thread pool inside every DataLoader worker for three small masks
        mask = np.zeros((len(self.rles[index]), *shape), np.uint8)
        for k, rle in enumerate(self.rles[index]):
            if rle is not None:
                try:
                    mask[k] = rlemask.decode(rle, shape)
                except InvalidRleError as exc:
                    raise InvalidRleError(
                        f"{self.classes[k]} of {image_id!r}: {exc}",
                        token=exc.token, run=exc.run, offset=exc.offset,
                    ) from exc
        return image, mask

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} slices")
        index %= len(self)
        image_np, mask_np = self.load(index)
        image = torch.from_numpy(np.ascontiguousarray(image_np, dtype=np.float32))
        if not self.labels:  # a stand-in channel keeps the geometry code in one path
            mask_np = np.zeros((1, *mask_np.shape[1:]), np.uint8)
        mask = torch.from_numpy(mask_np).to(torch.float32)
        image, mask = _to_grid(
            image, mask, size=self.size, resize=self.resize, image_id=self.ids[index]
        )
        if self.transform is not None:
            done = self.transform(image=image.permute(1, 2, 0).numpy(),
                                  mask=mask.permute(1, 2, 0).numpy().astype(np.uint8))
            image = torch.as_tensor(np.ascontiguousarray(done["image"]), dtype=torch.float32).permute(2, 0, 1)
            mask = torch.as_tensor(np.ascontiguousarray(done["mask"]), dtype=torch.float32).permute(2, 0, 1)
        elif self.augment:
            image, mask = _affine(image, mask, self.generator(index), vflip=self.vflip)
        item = {
            "image": image.contiguous(),
            "mask": mask.contiguous(),
            "id": self.ids[index],
            "shape": self.shapes[index],
            "rles": [r or "" for r in self.rles[index]],
        }
        if not self.labels:
            del item["mask"], item["rles"]
        return item


# --------------------------------------------------------------------------- loaders


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack ``image`` and ``mask``; every other key becomes a list of the items' values."""
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [item[key] for item in items]
        batch[key] = torch.stack(values) if key in ("image", "mask") else values
    return batch


class EpochSampler(DistributedSampler):
    """A :class:`~torch.utils.data.DistributedSampler` that also moves the dataset's augmentation
    to the epoch (Lightning calls ``set_epoch`` before each epoch), so the order and the
    augmentation depend only on ``(seed, epoch)``: a resumed run sees the same batches."""

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool = False,
    workers: int = 0,
    seed: int = 0,
    replicas: int = 1,
    rank: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
) -> DataLoader:
    """The one DataLoader of training, validation and inference.

    The sampler is an :class:`EpochSampler` over ``replicas`` processes (this
    one is ``rank``), padded to equal shares as DistributedSampler does.  Worker
    processes start with ``forkserver`` where the platform has it: a plain
    ``fork`` after any parallel numba kernel ran in this process (``rlemask``'s
    metrics, ``encode_many``) kills the worker ("fork() called from a process
    already using GNU OpenMP").  Scripts that use workers need the
    ``if __name__ == "__main__":`` guard.
    """
    import multiprocessing

    sampler = EpochSampler(dataset, num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed)
    context = None
    if workers and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["torch", "rlemask_models.data"])
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      drop_last=drop_last, pin_memory=pin_memory, collate_fn=collate,
                      multiprocessing_context=context, persistent_workers=False)
