"""The built-in UWMGI-shaped data set: layout, determinism, labels, realism checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage

pytestmark = pytest.mark.models

import rlemask  # noqa: E402
from rlemask.errors import RlemaskError  # noqa: E402
from rlemask_models import synthetic  # noqa: E402

CLASSES = ("large_bowel", "small_bowel", "stomach")
SMALL = dict(cases=2, days=2, slices=12)


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("synthetic") / "data", seed=0, **SMALL)


@pytest.fixture(scope="module")
def labels(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "train.csv", keep_default_na=False, dtype=str)


def _files(root: Path) -> list[Path]:
    return sorted(root.glob("train/case*/case*_day*/scans/slice_*.png"))


def _masks(labels: pd.DataFrame, image_id: str, shape: tuple[int, int]) -> np.ndarray:
    rows = labels[labels["id"] == image_id]
    assert list(rows["class"]) == list(CLASSES)
    return np.stack([rlemask.decode(r, shape) for r in rows["segmentation"]])


def test_same_seed_same_bytes_other_seed_other_bytes(root: Path, tmp_path: Path) -> None:
    again = synthetic.generate(tmp_path / "again", seed=0, **SMALL)
    assert again == tmp_path / "again"
    first, second = _digest(root), _digest(again)
    assert len(first) == 2 * 2 * 12 + 2  # PNGs + train.csv + synthetic.json
    assert first == second
    other = _digest(synthetic.generate(tmp_path / "other", seed=1, **SMALL))
    assert other["train.csv"] != first["train.csv"]
    shared = set(other) & set(first)
    pngs = [k for k in shared if k.endswith(".png")]
    assert all(other[k] != first[k] for k in pngs)


def test_layout_names_and_sizes(root: Path, labels: pd.DataFrame) -> None:
    files = _files(root)
    assert len(files) == 2 * 2 * 12
    scans = {p.parent.parent.name for p in files}
    assert len(scans) == 4
    sizes = set()
    for p in files:
        parts = p.name[: -len(".png")].split("_")
        number, width, height = int(parts[1]), int(parts[2]), int(parts[3])
        assert 1 <= number <= 12
        with Image.open(p) as im:
            assert im.mode == "I;16"
            assert im.size == (width, height)  # Pillow: (width, height)
            assert np.asarray(im).shape == (height, width)
        case_dir, scan_dir = p.parents[2].name, p.parents[1].name
        assert scan_dir.startswith(case_dir + "_day")
        sizes.add((width, height))
    assert {(266, 266), (360, 310)} <= sizes
    assert len(sizes) == 4
    # 3 rows per image, class order, ids match the files
    assert list(labels.columns) == ["id", "class", "segmentation"]
    assert len(labels) == 3 * len(files)
    assert labels["class"].tolist() == list(CLASSES) * len(files)
    ids = {f"{p.parents[1].name}_slice_{p.name.split('_')[1]}" for p in files}
    assert set(labels["id"]) == ids


def test_loads_through_uwmgi(root: Path) -> None:
    from rlemask import uwmgi

    table = uwmgi.load_table(root)
    assert len(table) == 48
    assert {"id", "path", "height", "width", *CLASSES} <= set(table.columns)
    image = uwmgi.read_slice(table["path"].iloc[5])
    assert image.shape == (table["height"].iloc[5], table["width"].iloc[5])
    assert image.max() > 100  # 16-bit counts, not 8-bit


def test_masks_inside_body_and_smooth(root: Path, labels: pd.DataFrame) -> None:
    nonempty = 0
    for scan in sorted({p.parent for p in _files(root)}):
        previous = None
        for p in sorted(scan.glob("*.png")):
            image = np.asarray(Image.open(p)).astype(np.float64)
            image_id = f"{scan.parent.name}_slice_{p.name.split('_')[1]}"
            masks = _masks(labels, image_id, image.shape)
            background = image[:8, :8].mean()  # outside the body: Rician noise floor
            union = masks.any(axis=0)
            if union.any():
                nonempty += 1
                # the body: everything inside the bright outline, holes filled
                body = ndimage.binary_fill_holes(ndimage.uniform_filter(image, 9) > 4 * background)
                assert body.mean() < 0.9  # the background is not part of it
                assert not (union & ~body).any()
                # and organs sit well inside it, away from the fat rim
                assert not (union & ~ndimage.binary_erosion(body, iterations=3)).any()
                assert not union[:5].any() and not union[-5:].any()
                assert not union[:, :5].any() and not union[:, -5:].any()
            # organs move smoothly: a label in two consecutive slices overlaps itself
            if previous is not None:
                for k in range(3):
                    a, b = previous[k].astype(bool), masks[k].astype(bool)
                    if a.sum() > 200 and b.sum() > 200:
                        assert (a & b).sum() / min(a.sum(), b.sum()) > 0.3, (image_id, k)
            previous = masks
    assert nonempty > 0


def test_fraction_of_empty_slices_and_ends_empty(labels: pd.DataFrame) -> None:
    has = labels.assign(any=labels["segmentation"].str.len() > 0).groupby("id", sort=False)["any"].any()
    empty = 1.0 - has.mean()
    assert 0.3 <= empty <= 0.75, empty
    scans = has.index.str.replace(r"_slice_\d+$", "", regex=True)
    for _, flags in has.groupby(scans):
        assert not flags.iloc[0] and not flags.iloc[-1]  # first and last slice empty
        assert flags.any()  # the middle band is labelled
    per_class = labels.assign(any=labels["segmentation"].str.len() > 0).groupby("class")["any"].sum()
    assert (per_class > 0).all()


def test_classes_overlap_somewhere(root: Path, labels: pd.DataFrame) -> None:
    from rlemask import uwmgi

    table = uwmgi.load_table(root)
    overlap = 0
    for row in table.itertuples():
        shape = (row.height, row.width)
        masks = np.stack([rlemask.decode(getattr(row, c), shape) for c in CLASSES]).astype(bool)
        overlap += int((masks.sum(axis=0) > 1).sum())
    assert overlap > 0


def test_regenerating_replaces_old_files(tmp_path: Path) -> None:
    synthetic.generate(tmp_path / "d", cases=2, days=2, slices=8, seed=3)
    synthetic.generate(tmp_path / "d", cases=1, days=1, slices=8, seed=3)
    assert len(_files(tmp_path / "d")) == 8
    assert len(pd.read_csv(tmp_path / "d" / "train.csv")) == 24


def test_refuses_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(RlemaskError, match="was not written by"):
        synthetic.generate(tmp_path, cases=1, days=1, slices=8)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(cases=0), "cases=0"),
        (dict(days=1.5), "days=1.5"),
        (dict(slices=4), "slices=4 must be an int >= 8"),
        (dict(seed=-1), "seed=-1"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, fragment: str) -> None:
    with pytest.raises(RlemaskError, match=fragment.replace(".", r"\.")):
        synthetic.generate(tmp_path / "x", **kwargs)
