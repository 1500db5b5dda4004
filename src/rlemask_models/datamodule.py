"""``UWMGIDataModule``: a UWMGI folder split into folds by case, as Lightning data loaders.

``setup`` loads the table (:func:`rlemask.uwmgi.load_table`), assigns
stratified folds grouped by case (:func:`rlemask.folds.assign_folds`, seed
``fold_seed``) and keeps fold ``fold`` for validation.  The training slices go
through the empty-slice policy (:func:`rlemask_models.data.select_slices`);
validation always uses **every** slice of the fold.  2.5D neighbours come from
the whole table.  Loaders come from :func:`rlemask_models.data.make_loader`:
workers start with ``forkserver``, each rank reads its share (the sampler is
built for the Trainer's world size), and shuffle and augmentation depend only on
``seed`` and the epoch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd

from rlemask.errors import RlemaskError
from rlemask_models.data import SliceDataset, make_loader, select_slices

__all__ = ["UWMGIDataModule", "split_folds"]


def split_folds(table: pd.DataFrame, folds: int, *, seed: int = 42) -> pd.DataFrame:
    """``table`` with a ``fold`` column (stratified, grouped by case); kept when already there."""
    from rlemask.folds import assign_folds

    if "fold" in table.columns:
        return table
    cases = table["case"].nunique()
    if cases < folds:
        raise RlemaskError(f"folds={folds} is larger than the {cases} case(s) of the data; use folds <= {cases}")
    return assign_folds(table, folds, group="case", random_state=seed)


class UWMGIDataModule(L.LightningDataModule):
    """Training and validation loaders of one fold (see the module doc).

    Parameters
    ----------
    data : path
        UWMGI folder (``train.csv`` and ``train/``).
    fold, folds, fold_seed : int
        Validation fold, number of folds (grouped by case) and the split's seed.
    size, resize, context, stride, normalize, cache
        :class:`~rlemask_models.data.SliceDataset` options.
    empty : "keep", "drop" or float
        Empty-slice policy of the training slices.
    augment : bool
        The built-in seeded flips and affine transform.
    transform : callable, optional
        Replaces the built-in augmentation, e.g. an albumentations ``Compose``.
    batch_size, workers, seed : int
    exclude_bad : bool
        Drop :data:`rlemask.uwmgi.BAD_SCANS`.
    """

    def __init__(self, data: str | Path, *, fold: int = 0, folds: int = 5, fold_seed: int = 42,
                 size: tuple[int, int] = (256, 256), resize: str = "resize", context: int = 0, stride: int = 1,
                 empty: str | float = "keep", augment: bool = True, transform: Any = None,
                 normalize: str = "percentile", batch_size: int = 8, workers: int = 0, cache: bool = False,
                 seed: int = 42, exclude_bad: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["transform"])
        self.hparams.data = str(data)
        self.hparams.size = list(size)
        self.transform = transform
        self.table: pd.DataFrame | None = None

    @property
    def in_channels(self) -> int:
        return 2 * self.hparams.context + 1 if self.hparams.context else 3

    def setup(self, stage: str | None = None) -> None:
        from rlemask import uwmgi

        hp = self.hparams
        if self.table is None:
            self.table = split_folds(uwmgi.load_table(hp.data, exclude_bad=hp.exclude_bad), hp.folds, seed=hp.fold_seed)
        is_val = self.table["fold"].to_numpy() == hp.fold
        self.val_rows = self.table.loc[is_val].reset_index(drop=True)
        self.train_rows = select_slices(self.table.loc[~is_val], hp.empty, seed=hp.seed).reset_index(drop=True)
        if not len(self.train_rows) or not len(self.val_rows):
            raise RlemaskError(f"fold={hp.fold} leaves {len(self.train_rows)} training and "
                               f"{len(self.val_rows)} validation slices")

    def dataset(self, rows: pd.DataFrame, *, augment: bool = False) -> SliceDataset:
        """A :class:`SliceDataset` of ``rows`` with this module's geometry (neighbours from the whole table)."""
        hp = self.hparams
        return SliceDataset(rows, size=tuple(hp.size), resize=hp.resize, context=hp.context, stride=hp.stride,
                            normalize=hp.normalize, neighbours=self.table, cache=hp.cache, seed=hp.seed,
                            augment=augment and hp.augment, transform=self.transform if augment else None)

    def _loader(self, rows: pd.DataFrame, *, train: bool) -> Any:
        hp = self.hparams
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        dataset = self.dataset(rows, augment=train)
        drop = train and len(dataset) >= 2 * hp.batch_size * replicas  # batch norm dislikes a batch of 1
        return make_loader(dataset, batch_size=hp.batch_size, shuffle=train, workers=hp.workers, seed=hp.seed,
                           replicas=replicas, rank=rank, drop_last=drop,
                           pin_memory=trainer is not None and trainer.strategy.root_device.type == "cuda")

    def train_dataloader(self) -> Any:
        return self._loader(self.train_rows, train=True)

    def val_dataloader(self) -> Any:
        return self._loader(self.val_rows, train=False)
