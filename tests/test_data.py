"""SliceDataset, select_slices, restore and make_loader on generated data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.models

torch = pytest.importorskip("torch", reason="the 'models' extra (torch) is not installed")

import rlemask  # noqa: E402
from rlemask import uwmgi  # noqa: E402
from rlemask.errors import LayoutError, RlemaskError  # noqa: E402
from rlemask.uwmgi import CLASSES  # noqa: E402
from rlemask_models import synthetic  # noqa: E402
from rlemask_models.data import SliceDataset, make_loader, restore, select_slices  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic.generate(tmp_path_factory.mktemp("data") / "d", cases=2, days=2, slices=10, seed=5)


@pytest.fixture(scope="module")
def table(root: Path) -> pd.DataFrame:
    return uwmgi.load_table(root)


def _labelled(table: pd.DataFrame) -> list[int]:
    """Positions of rows with at least one label."""
    full = np.zeros(len(table), bool)
    for c in CLASSES:
        full |= table[c].fillna("").astype(str).str.len().to_numpy() > 0
    return list(np.flatnonzero(full))


# ----------------------------------------------------------------------------- items


@pytest.mark.parametrize(
    "kwargs, grid",
    [
        (dict(size=(128, 160)), (128, 160)),
        (dict(size=(320, 384), resize="pad"), (320, 384)),
    ],
)
def test_item_shapes_and_dtypes(table: pd.DataFrame, kwargs: dict, grid: tuple) -> None:
    ds = SliceDataset(table, **kwargs)
    assert len(ds) == len(table)
    i = _labelled(table)[0]
    item = ds[i]
    assert set(item) == {"image", "mask", "id", "shape", "rles"}
    assert item["image"].dtype == torch.float32 and item["mask"].dtype == torch.float32
    assert tuple(item["image"].shape) == (3, *grid)
    assert tuple(item["mask"].shape) == (3, *grid)
    assert item["id"] == table["id"].iloc[i]
    assert item["shape"] == (table["height"].iloc[i], table["width"].iloc[i])
    assert set(torch.unique(item["mask"]).tolist()) == {0.0, 1.0}
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    # context=0 repeats the one slice
    assert torch.equal(item["image"][0], item["image"][1])
    assert torch.equal(item["image"][0], item["image"][2])


def test_one_channel(table: pd.DataFrame) -> None:
    assert SliceDataset(table, size=64, channels=1)[0]["image"].shape == (1, 64, 64)


def test_image_and_mask_values_at_original_size(table: pd.DataFrame) -> None:
    i = _labelled(table)[0]
    row = table.iloc[i]
    ds = SliceDataset(table, size=None, resize="pad", normalize="minmax")
    image, mask = ds.load(i)
    assert np.array_equal(image[0], uwmgi.read_slice(row["path"], normalize="minmax"))
    shape = (int(row["height"]), int(row["width"]))
    for k, c in enumerate(CLASSES):
        assert np.array_equal(mask[k], rlemask.decode(row[c], shape))
    assert mask.sum() > 0


# ----------------------------------------------------------------------------- 2.5D


def _scan_rows(table: pd.DataFrame) -> pd.DataFrame:
    case, day = table["case"].iloc[0], table["day"].iloc[0]
    return table[(table["case"] == case) & (table["day"] == day)].sort_values("slice")


@pytest.mark.parametrize("stride", [1, 2])
def test_context_channels_are_the_neighbouring_slices(table: pd.DataFrame, stride: int) -> None:
    single = SliceDataset(table, size=(64, 64), channels=1)
    stacked = SliceDataset(table, size=(64, 64), context=2, stride=stride)
    scan = _scan_rows(table)
    positions = list(scan.index)  # load_table has a RangeIndex: index == position
    n = len(positions)
    for j in (0, 1, n // 2, n - 1):
        image = stacked[positions[j]]["image"]
        assert image.shape == (5, 64, 64)
        for c, k in enumerate(range(-2, 3)):
            neighbour = positions[min(max(j + k * stride, 0), n - 1)]  # clamped at the ends
            assert torch.equal(image[c], single[neighbour]["image"][0]), (j, k)
    # different scans never mix: the last slice of a scan is its own right neighbour
    last = stacked[positions[-1]]["image"]
    assert torch.equal(last[3], last[2]) and torch.equal(last[4], last[2])


def test_context_from_full_table_when_training_on_a_subset(table: pd.DataFrame) -> None:
    subset = select_slices(table, "drop")
    single = SliceDataset(table, size=(64, 64), channels=1)
    alone = SliceDataset(subset, size=(64, 64), context=1)
    full = SliceDataset(subset, size=(64, 64), context=1, neighbours=table)
    scan = _scan_rows(table)
    first_labelled = next(i for i in scan.index if i in set(subset.index))
    j = list(subset.index).index(first_labelled)
    # the previous slice is empty: only the full neighbour table knows it
    expected = single[first_labelled - 1]["image"][0]
    assert torch.equal(full[j]["image"][0], expected)
    assert not torch.equal(alone[j]["image"][0], expected)
    assert torch.equal(alone[j]["image"][0], alone[j]["image"][1])  # clamped


def test_missing_scan_in_neighbours(table: pd.DataFrame) -> None:
    other = table[table["case"] != table["case"].iloc[0]]
    with pytest.raises(LayoutError, match="neighbours table"):
        SliceDataset(table, context=1, neighbours=other)


# ----------------------------------------------------------------------------- geometry


def test_pad_restore_round_trip_is_exact(table: pd.DataFrame) -> None:
    ds = SliceDataset(table, size=(320, 384), resize="pad")
    plain = SliceDataset(table, size=None, resize="pad")
    seen = set()
    shapes = list(zip(table["height"], table["width"]))
    firsts = sorted({shapes.index(s) for s in shapes})  # every size of the data, and more rows
    for i in sorted(set(firsts) | set(range(0, len(table), 5))):
        item = ds[i]
        image, mask = plain.load(i)
        back_image = restore(item["image"], item["shape"], size=(320, 384), resize="pad")
        back_mask = restore(item["mask"].numpy(), item["shape"], size=(320, 384), resize="pad")
        assert back_image.shape == image.shape and np.array_equal(back_image, image)
        assert np.array_equal(back_mask, mask.astype(np.float32))
        # the padding is zero and the image sits in the centre
        h, w = item["shape"]
        top, left = (320 - h) // 2, (384 - w) // 2
        assert float(item["image"][:, :top].abs().sum()) == 0.0
        assert float(item["image"][:, :, :left].abs().sum()) == 0.0
        assert float(item["image"][:, top + h :].abs().sum()) == 0.0
        seen.add(item["shape"])
    assert seen == set(shapes) and len(seen) >= 2


def test_pad_to_own_multiple_of_32(table: pd.DataFrame) -> None:
    ds = SliceDataset(table, size=None, resize="pad")
    for i in range(0, len(table), 7):
        item = ds[i]
        h, w = item["shape"]
        H, W = item["image"].shape[-2:]
        assert H % 32 == 0 and W % 32 == 0 and 0 <= H - h < 32 and 0 <= W - w < 32
        back = restore(item["image"], (h, w), size=None, resize="pad")
        assert np.array_equal(back, ds.load(i)[0])


def test_resize_restore_round_trip_keeps_masks(table: pd.DataFrame) -> None:
    ds = SliceDataset(table, size=(256, 256))
    plain = SliceDataset(table, size=None, resize="pad")
    def area(i: int) -> int:
        return sum(rlemask.area(table[c].iloc[i] or "") for c in CLASSES)

    for i in sorted(_labelled(table), key=area)[-4:]:  # the largest masks: tiny ones lose their edges
        item = ds[i]
        back = restore(item["mask"], item["shape"], size=(256, 256), resize="resize")
        assert back.shape == (3, *item["shape"])
        truth = plain.load(i)[1].astype(bool)
        pred = back > 0.5
        inter = (pred & truth).sum()
        assert 2 * inter / (pred.sum() + truth.sum()) > 0.95
    # batched probabilities (N, C, H, W) restore too
    batch = torch.rand(2, 3, 256, 256)
    assert restore(batch, (310, 360), size=(256, 256), resize="resize").shape == (2, 3, 310, 360)


def test_pad_too_small_suggests_size(table: pd.DataFrame) -> None:
    ds = SliceDataset(table, size=(256, 256), resize="pad")
    big = int(np.flatnonzero(table["width"].to_numpy() == 360)[0])
    with pytest.raises(RlemaskError, match=r"does not fit size=\(256, 256\).*use size=\(320, 384\)"):
        ds[big]


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        (dict(resize="crop"), RlemaskError, "resize='crop'"),
        (dict(size=(250, 256), resize="pad"), RlemaskError, "multiple of 32"),
        (dict(size=None), RlemaskError, "size=None needs resize='pad'"),
        (dict(context=-1), RlemaskError, "context=-1"),
        (dict(stride=0), RlemaskError, "stride=0"),
        (dict(classes=("liver",)), LayoutError, "lacks columns ['liver']"),
    ],
)
def test_bad_options(table: pd.DataFrame, kwargs: dict, error: type, fragment: str) -> None:
    with pytest.raises(error) as info:
        SliceDataset(table, **kwargs)
    assert fragment in str(info.value)


def test_restore_rejects_wrong_grid() -> None:
    with pytest.raises(RlemaskError, match="does not match the padded grid"):
        restore(np.zeros((3, 256, 256)), (266, 266), size=None, resize="pad")
    with pytest.raises(RlemaskError, match="does not match size"):
        restore(np.zeros((3, 128, 128)), (266, 266), size=(256, 256), resize="resize")
    with pytest.raises(RlemaskError, match="resize='nope'"):
        restore(np.zeros((3, 128, 128)), (266, 266), size=(128, 128), resize="nope")


def test_file_size_contradicting_table(table: pd.DataFrame) -> None:
    bad = table.copy()
    bad.loc[0, "height"] = 100
    with pytest.raises(LayoutError, match="height=100"):
        SliceDataset(bad, size=64).load(0)


def test_unlabelled_table_gives_images_only(root: Path, table: pd.DataFrame) -> None:
    images = uwmgi.scan(root)  # no RLE columns: prediction on new data
    ds = SliceDataset(images, size=(64, 64))
    assert not ds.labels
    item = ds[3]
    assert set(item) == {"image", "id", "shape"}
    labelled = SliceDataset(table, size=(64, 64))
    assert torch.equal(item["image"], labelled[3]["image"])
    partial = table.drop(columns=["stomach"])
    with pytest.raises(LayoutError, match=r"lacks columns \['stomach'\]"):
        SliceDataset(partial)


def test_bad_rle_names_image_and_class(table: pd.DataFrame) -> None:
    from rlemask.errors import InvalidRleError

    bad = table.iloc[:2].copy()
    bad["small_bowel"] = ["1 2", "5 x"]
    ds = SliceDataset(bad, size=64)
    assert ds.load(0)[1][1].sum() == 2
    with pytest.raises(InvalidRleError) as info:
        ds[1]
    assert f"small_bowel of {bad['id'].iloc[1]!r}" in str(info.value)


# ----------------------------------------------------------------------------- augmentation


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """A one-slice table whose image *is* its mask: any transform must keep them equal."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("mirror") / "train" / "case1" / "case1_day0" / "scans"
    folder.mkdir(parents=True)
    h, w = 96, 128
    masks = np.zeros((3, h, w), np.uint8)
    masks[0, 10:40, 5:70] = 1  # asymmetric rectangles: flips and rotations show
    masks[1, 50:90, 80:100] = 1
    masks[2, 20:30, 90:125] = 1
    m16 = masks.astype(np.uint16)
    image = m16[0] * 1000 + m16[1] * 2000 + m16[2] * 4000
    image[0, 0] = 8000  # a fixed maximum for minmax
    path = folder / f"slice_0001_{w}_{h}_1.50_1.50.png"
    Image.fromarray(image).save(path)
    rles = rlemask.encode_many(masks)
    return pd.DataFrame(
        {"id": ["case1_day0_slice_0001"], "case": [1], "day": [0], "slice": [1],
         "path": [str(path)], "height": [h], "width": [w],
         **{c: [r] for c, r in zip(CLASSES, rles)}}
    )


def _levels(image: torch.Tensor) -> torch.Tensor:
    """Class channels recovered from the mirror image (minmax: 1000 -> 0.125 ...)."""
    x = image[0] * 8
    return torch.stack([((x - t).abs() < 0.25) for t in (1.0, 2.0, 4.0)]).float()


def test_augmentation_transforms_image_and_mask_alike(mirror: pd.DataFrame) -> None:
    plain = SliceDataset(mirror, size=(96, 128), normalize="minmax")
    aug = SliceDataset(mirror, size=(96, 128), normalize="minmax", augment=True, vflip=0.5)
    base = plain[0]
    assert torch.equal(_levels(base["image"]), base["mask"])
    changed = 0
    for epoch in range(12):
        aug.set_epoch(epoch)
        item = aug[0]
        mask = item["mask"]
        assert set(torch.unique(mask).tolist()) <= {0.0, 1.0}
        levels = _levels(item["image"])
        # bilinear image vs nearest mask: agree except on a thin boundary
        area = mask.sum()
        assert area > 0
        assert (levels != mask).sum() <= 0.12 * area, epoch
        changed += int(not torch.equal(mask, base["mask"]))
    assert changed >= 8


def test_augmentation_is_seeded_per_item_and_epoch(mirror: pd.DataFrame) -> None:
    a = SliceDataset(mirror, size=(96, 128), augment=True, seed=1)
    b = SliceDataset(mirror, size=(96, 128), augment=True, seed=1)
    draws = []
    for epoch in range(4):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        x, y = a[0], b[0]
        assert torch.equal(x["image"], y["image"]) and torch.equal(x["mask"], y["mask"])
        draws.append(x["image"])
    assert any(not torch.equal(draws[0], d) for d in draws[1:])
    c = SliceDataset(mirror, size=(96, 128), augment=True, seed=2)
    c.set_epoch(0)
    a.set_epoch(0)
    outs = [not torch.equal(a[0]["image"], c[0]["image"])]
    for epoch in range(1, 4):
        a.set_epoch(epoch)
        c.set_epoch(epoch)
        outs.append(not torch.equal(a[0]["image"], c[0]["image"]))
    assert any(outs)


# ----------------------------------------------------------------------------- selection


def test_select_slices_policies(table: pd.DataFrame) -> None:
    labelled = set(table.index[_labelled(table)])
    empty = [i for i in table.index if i not in labelled]
    assert 0 < len(labelled) < len(table)
    keep = select_slices(table, "keep")
    assert keep.equals(table)
    drop = select_slices(table, "drop")
    assert set(drop.index) == labelled
    assert select_slices(table, 1.0).equals(table)
    half = select_slices(table, 0.5, seed=0)
    assert list(half.index) == sorted(half.index)  # original order
    assert labelled <= set(half.index)
    assert len(half) == len(labelled) + round(0.5 * len(empty))
    assert select_slices(table, 0.5, seed=0).equals(half)
    others = [set(select_slices(table, 0.5, seed=s).index) for s in range(1, 6)]
    assert any(o != set(half.index) for o in others)


def test_select_slices_treats_nan_and_blank_as_empty() -> None:
    t = pd.DataFrame({"id": list("abcde"),
                      "large_bowel": ["1 2", np.nan, None, " ", pd.NA],
                      "small_bowel": ["", "", "", "", ""],
                      "stomach": ["", "", "", "", "5 5"]})
    assert list(select_slices(t, "drop")["id"]) == ["a", "e"]


@pytest.mark.parametrize(
    "policy, fragment",
    [("none", "policy='none'"), (0.0, "outside (0, 1]"), (1.5, "outside (0, 1]"), (True, "policy=True")],
)
def test_select_slices_bad_policy(table: pd.DataFrame, policy: object, fragment: str) -> None:
    with pytest.raises(RlemaskError) as info:
        select_slices(table, policy)
    assert fragment in str(info.value)


# ----------------------------------------------------------------------------- loaders


def _batches(loader) -> list:
    return [(b["id"], b["image"], b["mask"]) for b in loader]


def test_loader_is_reproducible_and_independent_of_workers(table: pd.DataFrame) -> None:
    """The epoch set on the sampler (as Lightning does) fixes order and augmentation, whatever the workers;
    the worker starts after a parallel numba kernel ran here (forkserver, not fork)."""
    rlemask.encode_many(np.zeros((64, 32, 32), np.uint8))
    ds = SliceDataset(table.iloc[:12], size=(64, 64), augment=True, seed=3)
    first = make_loader(ds, batch_size=4, shuffle=True, workers=0, seed=7)
    first.sampler.set_epoch(1)
    a = _batches(first)
    again = make_loader(ds, batch_size=4, shuffle=True, workers=0, seed=7)
    again.sampler.set_epoch(1)
    b = _batches(again)
    worker = make_loader(ds, batch_size=4, shuffle=True, workers=1, seed=7)
    worker.sampler.set_epoch(1)
    c = _batches(worker)
    for x, y, z in zip(a, b, c):
        assert x[0] == y[0] == z[0]
        assert torch.equal(x[1], y[1]) and torch.equal(x[1], z[1])
        assert torch.equal(x[2], z[2])
    ids = [i for batch in a for i in batch[0]]
    assert sorted(ids) == sorted(table["id"].iloc[:12])
    assert ids != list(table["id"].iloc[:12])  # shuffled
    first.sampler.set_epoch(2)
    assert ds.epoch == 2
    assert [i for batch in _batches(first) for i in batch[0]] != ids


def test_loader_without_shuffle_keeps_order(table: pd.DataFrame) -> None:
    ds = SliceDataset(table.iloc[:6], size=(32, 32))
    loader = make_loader(ds, batch_size=4, shuffle=False, seed=0)
    batches = list(loader)
    assert [i for b in batches for i in b["id"]] == list(table["id"].iloc[:6])
    assert batches[0]["image"].shape == (4, 3, 32, 32)
    # collate keeps sizes as (h, w) tuples and the RLEs as strings, for scoring at the original size
    assert batches[0]["shape"][0] == tuple(table[["height", "width"]].iloc[0])
    assert batches[0]["rles"][1] == [table[c].iloc[1] or "" for c in CLASSES]


def test_loader_shards_over_replicas(table: pd.DataFrame) -> None:
    ds = SliceDataset(table.iloc[:7], size=(32, 32))
    shares = [[i for b in make_loader(ds, batch_size=2, replicas=2, rank=r) for i in b["id"]] for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 4  # padded to equal shares
    assert set(shares[0]) | set(shares[1]) == set(table["id"].iloc[:7])


def test_transform_hook_replaces_the_builtin_augmentation(table: pd.DataFrame) -> None:
    """An albumentations Compose (or any callable on image/mask dicts) transforms image and mask alike."""
    A = pytest.importorskip("albumentations")
    rows = table.iloc[_labelled(table)[:1]]
    plain = SliceDataset(rows, size=(64, 64))[0]
    flipped = SliceDataset(rows, size=(64, 64), augment=True, transform=A.Compose([A.HorizontalFlip(p=1.0)]))[0]
    assert torch.equal(flipped["image"], plain["image"].flip(-1))
    assert torch.equal(flipped["mask"], plain["mask"].flip(-1))
    assert flipped["mask"].dtype == torch.float32


# ----------------------------------------------------------------------------- real files


@pytest.mark.realdata
def test_real_slices_pad_and_restore(real_data: Path, tmp_path: Path) -> None:
    """The four real sizes fit size=(320, 384) and come back exactly (8-bit and 16-bit files)."""
    files = sorted((real_data / "slices8").glob("slice_*.png"))
    assert files, f"no slices8/*.png in {real_data}"
    sixteen = sorted((real_data / "slices16").glob("*.png"))  # 266x266, 16-bit, other names
    rows = []
    for k, src in enumerate(files + sixteen):
        folder = tmp_path / "train" / f"case{k + 1}" / f"case{k + 1}_day0" / "scans"
        folder.mkdir(parents=True)
        name = src.name if src in files else f"slice_{k + 1:04d}_266_266_1.50_1.50.png"
        (folder / name).symlink_to(src)
        rows.append(str(folder / name))
    table = uwmgi.from_paths(rows)
    for c in CLASSES:
        table[c] = ""
    ds = SliceDataset(table, size=(320, 384), resize="pad", normalize="none")
    sizes = set()
    for i in range(len(ds)):
        item = ds[i]
        back = restore(item["image"], item["shape"], size=(320, 384), resize="pad")
        assert np.array_equal(back[0], uwmgi.read_slice(table["path"].iloc[i]))
        sizes.add(item["shape"])
    assert {(266, 266), (310, 360), (276, 276), (234, 234)} <= sizes
    if sixteen:  # 16-bit counts survive: values above 255
        assert max(float(ds[i]["image"].max()) for i in range(len(files), len(ds))) > 255
