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
    slices = sum(plan[3] for plan in synthetic.scan_plan(4, slices=12, seed=0))
    assert len(first) == slices + 2  # PNGs + train.csv + synthetic.json
    assert first == second
    other = _digest(synthetic.generate(tmp_path / "other", seed=1, **SMALL))
    assert other["train.csv"] != first["train.csv"]
    shared = set(other) & set(first)
    pngs = [k for k in shared if k.endswith(".png")]
    assert all(other[k] != first[k] for k in pngs)


def test_layout_names_and_sizes(root: Path, labels: pd.DataFrame) -> None:
    files = _files(root)
    assert len(files) == sum(plan[3] for plan in synthetic.scan_plan(4, slices=12, seed=0))
    scans = {p.parent.parent.name for p in files}
    assert len(scans) == 4
    sizes = set()
    for p in files:
        parts = p.name[: -len(".png")].split("_")
        number, width, height = int(parts[1]), int(parts[2]), int(parts[3])
        assert 1 <= number <= 12
        assert (width, height) in {(w, h) for w, h, _ in synthetic.SIZES}
        with Image.open(p) as im:
            assert im.mode == "I;16"
            assert im.size == (width, height)  # Pillow: (width, height)
            assert np.asarray(im).shape == (height, width)
        case_dir, scan_dir = p.parents[2].name, p.parents[1].name
        assert scan_dir.startswith(case_dir + "_day")
        sizes.add((width, height))
    assert sizes == {(w, h) for w, h, _ in synthetic.SIZES}  # one scan of each size first
    # 3 rows per image, class order, ids match the files
    assert list(labels.columns) == ["id", "class", "segmentation"]
    assert len(labels) == 3 * len(files)
    assert labels["class"].tolist() == list(CLASSES) * len(files)
    ids = {f"{p.parents[1].name}_slice_{p.name.split('_')[1]}" for p in files}
    assert set(labels["id"]) == ids


def test_loads_through_uwmgi(root: Path) -> None:
    from rlemask import uwmgi

    table = uwmgi.load_table(root)
    assert len(table) == len(_files(root))
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


def test_classes_never_overlap_but_bowels_touch(root: Path) -> None:
    from rlemask import uwmgi

    table = uwmgi.load_table(root)
    touch = both = 0
    for row in table.itertuples():
        shape = (row.height, row.width)
        masks = np.stack([rlemask.decode(getattr(row, c), shape) for c in CLASSES]).astype(bool)
        assert (masks.sum(axis=0) <= 1).all(), row.id  # the real labels never overlap
        if masks[0].any() and masks[1].any():
            both += 1
            touch += bool((ndimage.binary_dilation(masks[0], np.ones((3, 3))) & masks[1]).any())
    assert both > 0 and 0 < touch < both


def test_scan_plan_follows_the_real_mix() -> None:
    plan = synthetic.scan_plan(1000, slices=144, seed=0)
    sizes = pd.Series([(w, h) for w, h, *_ in plan]).value_counts(normalize=True)
    for (w, h, _), share in zip(synthetic.SIZES, synthetic.REAL_SIZE_SHARE):
        assert abs(sizes.get((w, h), 0.0) - share) < 0.01, (w, h)
    lengths = pd.Series([n for *_, n, _ in plan]).value_counts(normalize=True)
    assert set(lengths.index) == {144, 80}
    assert abs(lengths[80] - synthetic.REAL_SHORT_SCAN_SHARE) < 0.01
    assert synthetic.scan_plan(3, slices=24)[:2] == [(266, 266, 1.5, 24, 0.0), (360, 310, 1.5, 24, 0.0)]


@pytest.fixture(scope="module")
def larger(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    from rlemask import uwmgi

    root = synthetic.generate(tmp_path_factory.mktemp("larger") / "d", cases=4, days=2, slices=36, seed=5)
    return uwmgi.load_table(root)


def test_statistics_of_a_larger_set(larger: pd.DataFrame) -> None:
    """Per-class presence, pieces and on/off runs near the REAL_* targets (wide bounds: 8 scans)."""
    table = larger
    scan = table["case"].astype(str) + "_" + table["day"].astype(str)
    for cls in CLASSES:
        on = table[cls].str.len() > 0
        assert abs(on.mean() - synthetic.REAL_NONEMPTY[cls]) < 0.12, (cls, on.mean())
        pieces = [
            ndimage.label(rlemask.decode(r, (h, w)), np.ones((3, 3)))[1]
            for r, h, w in zip(table.loc[on, cls], table.loc[on, "height"], table.loc[on, "width"])
        ]
        if cls == "stomach":
            assert np.mean(np.equal(pieces, 1)) > 0.7
        else:
            assert max(pieces) >= 3 and np.mean(np.equal(pieces, 1)) < 0.5, (cls, np.bincount(pieces))
        areas = [rlemask.area(r) for r in table.loc[on, cls]]
        low, high = synthetic.REAL_AREA_QUANTILES[cls][0], synthetic.REAL_AREA_QUANTILES[cls][-1]
        assert np.percentile(areas, 5) < 3 * low and high / 2 < np.percentile(areas, 95) < 2 * high, cls
    runs = table.assign(on=table["large_bowel"].str.len() > 0).groupby(scan)["on"].apply(
        lambda f: int((np.diff(np.r_[0, f.to_numpy().astype(int)]) == 1).sum())
    )
    assert runs.min() >= 1 and runs.max() >= 2  # organs switch on and off, not one block per scan


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


def distances(real: Path, table: pd.DataFrame) -> dict[str, float]:
    """Distances between the real material and a synthetic table (also used for docs/synthetic.md)."""
    from rlemask import uwmgi

    real_stats = [synthetic.body_statistics(np.asarray(Image.open(p))) for p in sorted(real.glob("slices8/*.png"))]
    ours = [synthetic.body_statistics(uwmgi.read_slice(p)) for p in table["path"].iloc[::2]]
    out: dict[str, float] = {}
    real_hist = np.mean([d["histogram"] for d in real_stats], axis=0)
    our_hist = np.mean([d["histogram"] for d in ours], axis=0)
    out["histogram_l1"] = float(np.abs(real_hist - our_hist).sum())
    for key in ("median", "dark", "edges", "body"):
        out[key] = float(np.mean([d[key] for d in ours]) - np.mean([d[key] for d in real_stats]))
    predicted = uwmgi.read_labels(pd.read_csv(real / "predicted_rle_first1000.csv", keep_default_na=False))
    for cls in CLASSES:
        real_areas = [rlemask.area(r) for r in predicted[cls] if r]
        our_areas = [rlemask.area(r) for r in table[cls] if r]
        q = [5, 25, 50, 75, 95]
        ratio = np.percentile(our_areas, q) / np.percentile(real_areas, q)
        out[f"area_log_ratio_{cls}"] = float(np.abs(np.log(ratio)).max())
    return out


@pytest.mark.realdata
def test_close_to_the_real_material(real_data: Path, larger: pd.DataFrame) -> None:
    d = distances(real_data, larger)
    assert d["histogram_l1"] < 0.45, d  # v1 data: 0.85
    assert abs(d["edges"]) < 0.08, d  # v1: -0.24 (a third of the real edge density)
    assert abs(d["median"]) < 0.08 and abs(d["dark"]) < 0.15, d  # v1: +0.11 and -0.24
    assert abs(d["body"]) < 0.08, d
    for cls in CLASSES:  # area quantiles 5..95 % within a factor 2.5 (v1: 15x for large bowel)
        assert d[f"area_log_ratio_{cls}"] < np.log(2.5), (cls, d)
