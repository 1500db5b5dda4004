"""Built-in data: a small, deterministic, UWMGI-shaped data set.

:func:`generate` writes the competition's layout under ``root``::

    root/train.csv                        # id,class,segmentation (3 rows per image)
    root/train/case12/case12_day3/scans/slice_0001_266_266_1.50_1.50.png
    root/synthetic.json                   # the parameters, marks the folder as ours

Each case-day is a short MRI-like scan: an elliptical abdomen with a bright
fat rim, spine and kidneys (unlabelled distractors), and three labelled organs
that appear in a middle band of slices and move, grow and shrink smoothly from
slice to slice:

* ``large_bowel``: a thick, wavy arc (the colon frame), dark with speckle;
* ``small_bowel``: a cluster of round loops, bright content inside a dark wall;
* ``stomach``: one large ellipse, very bright fluid with a darker wall.

The organs overlap a little (the masks are multi-label, as in the real data).
Every scan has its own intensity gain and a smooth multiplicative bias field;
the magnitude image carries Rician noise.  Slices are 16-bit PNGs (Pillow mode
``I;16``); sizes cycle through the real ones (266x266, 360x310, 276x276,
234x234; width first in the file name, as in the competition).  Outside the
organ band the slices have no label at all: about half of the slices are empty,
as in the real data.

The same ``seed`` gives byte-identical files: every case-day draws from its own
``numpy.random.default_rng([seed, case_index, day_index])``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

import rlemask
from rlemask.errors import RlemaskError

__all__ = ["SIZES", "generate", "render_scan"]

CLASSES = ("large_bowel", "small_bowel", "stomach")

#: (width, height, pixel spacing) of the real scans, cycled over case-days
SIZES: tuple[tuple[int, int, float], ...] = (
    (266, 266, 1.50),
    (360, 310, 1.50),
    (276, 276, 1.63),
    (234, 234, 1.50),
)

_MARKER = "synthetic.json"
_BAD = {(7, 0), (81, 30)}  # rlemask.uwmgi.BAD_SCANS: never generate those ids


def generate(
    root: str | Path,
    *,
    cases: int = 6,
    days: int = 2,
    slices: int = 24,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Write a small UWMGI-shaped data set (16-bit slices and ``train.csv``) to ``root``.

    Parameters
    ----------
    root : str or Path
        Output folder; created when missing.  A folder that already holds a
        ``train`` folder or ``train.csv`` is only overwritten when it was
        written by this function (it holds ``synthetic.json``).
    cases, days : int
        Number of cases, and of days (scans) per case.
    slices : int
        Slices per scan (at least 8; the real scans have 80 or 144).
    seed : int
        Seed; the same seed writes byte-identical files.
    progress : bool
        Show a progress bar (tqdm) over the scans.

    Returns
    -------
    Path
        ``root``.

    Raises
    ------
    RlemaskError
        Bad counts, or ``root`` holds UWMGI files that this function did not write.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> root = generate(tempfile.mkdtemp(), cases=1, days=1, slices=8)
    >>> labels = pd.read_csv(root / "train.csv")
    >>> len(labels), list(labels.columns)
    (24, ['id', 'class', 'segmentation'])
    >>> sorted(p.name for p in root.glob("train/*/*/scans/*.png"))[0]
    'slice_0001_266_266_1.50_1.50.png'
    """
    for name, value, low in (("cases", cases, 1), ("days", days, 1), ("slices", slices, 8)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise RlemaskError(f"generate: {name}={value!r} must be an int >= {low}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RlemaskError(f"generate: seed={seed!r} must be a non-negative int")
    root = Path(root)
    _prepare(root)

    case_ids, day_ids = _numbering(int(cases), int(days), int(seed))
    jobs = [(ci, di) for ci in range(cases) for di in range(days)]
    iterator: Any = jobs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(jobs, desc="synthetic scans", unit="scan")

    lines = ["id,class,segmentation"]
    for ci, di in iterator:
        case, day = case_ids[ci], day_ids[ci][di]
        width, height, spacing = SIZES[(ci * days + di) % len(SIZES)]
        rng = np.random.default_rng([int(seed), ci, di])
        images, masks = render_scan(rng, height=height, width=width, slices=int(slices))
        folder = root / "train" / f"case{case}" / f"case{case}_day{day}" / "scans"
        folder.mkdir(parents=True, exist_ok=True)
        rles = rlemask.encode_many(masks.reshape(-1, height, width))  # one batch per scan
        for k in range(slices):
            number = k + 1
            name = f"slice_{number:04d}_{width}_{height}_{spacing:.2f}_{spacing:.2f}.png"
            # zlib level 1: noisy 16-bit slices barely compress further, and level 6 is 5x slower
            Image.fromarray(images[k]).save(folder / name, compress_level=1)
            image_id = f"case{case}_day{day}_slice_{number:04d}"
            for cls, rle in zip(CLASSES, rles[3 * k : 3 * k + 3]):
                lines.append(f"{image_id},{cls},{rle}")
    (root / "train.csv").write_text("\n".join(lines) + "\n", encoding="ascii")
    params = {"cases": int(cases), "days": int(days), "slices": int(slices), "seed": int(seed)}
    (root / _MARKER).write_text(json.dumps({"generator": "rlemask_models.synthetic", **params}))
    return root


def _prepare(root: Path) -> None:
    """Create ``root`` or clear a previous synthetic data set in it."""
    if root.exists() and not root.is_dir():
        raise RlemaskError(f"generate: root={str(root)!r} exists and is not a folder")
    ours = (root / _MARKER).is_file()
    present = [p for p in (root / "train", root / "train.csv") if p.exists()]
    if present and not ours:
        raise RlemaskError(
            f"generate: {str(present[0])!r} exists and was not written by "
            f"rlemask_models.synthetic (no {_MARKER}); choose an empty folder"
        )
    if ours:
        shutil.rmtree(root / "train", ignore_errors=True)
        (root / "train.csv").unlink(missing_ok=True)
        (root / _MARKER).unlink()
    root.mkdir(parents=True, exist_ok=True)


def _numbering(cases: int, days: int, seed: int) -> tuple[list[int], list[list[int]]]:
    """Case numbers and, per case, day numbers: sorted, distinct, realistic gaps."""
    rng = np.random.default_rng([seed, 2**31 - 1])
    pool = max(160, 2 * cases)
    case_ids = sorted(int(c) for c in rng.choice(np.arange(1, pool), size=cases, replace=False))
    day_ids = []
    for case in case_ids:
        choices = [d for d in range(max(40, 2 * days)) if (case, d) not in _BAD]
        day_ids.append(sorted(int(d) for d in rng.choice(choices, size=days, replace=False)))
    return case_ids, day_ids


def _profile(t: NDArray[np.float64]) -> NDArray[np.float64]:
    """Size over an organ's slice range: 0 outside (0, 1), else 0.35 to 1, peak at 0.5.

    Organs enter a scan at a third of their full size rather than as a speck: a
    few-pixel label is noise to both the annotators and the dice score.
    """
    inside = (t > 0) & (t < 1)
    return np.where(inside, 0.35 + 0.65 * np.sqrt(np.sin(np.pi * np.clip(t, 0, 1))), 0.0)


def _smooth_noise(
    rng: np.random.Generator, shape: tuple[int, int, int], sigma: float, step: int = 1
) -> NDArray[np.float32]:
    """Gaussian-filtered white noise with unit standard deviation, smooth across slices too.

    ``step > 1`` filters on a grid ``step`` times coarser and interpolates up
    (linear): the same look for large ``sigma`` at a fraction of the cost.
    """
    n, h, w = shape
    small = (n, h, w) if step == 1 else (n, -(-h // step) + 1, -(-w // step) + 1)
    noise = rng.standard_normal(small, dtype=np.float32)
    field = ndimage.gaussian_filter(noise, (0.7, sigma / step, sigma / step), mode="reflect")
    if step > 1:
        field = ndimage.zoom(field, (1, step, step), order=1, grid_mode=False)[:, :h, :w]
    field -= field.mean()
    field /= field.std() + 1e-12
    return np.ascontiguousarray(field, dtype=np.float32)


def render_scan(
    rng: np.random.Generator, *, height: int, width: int, slices: int
) -> tuple[NDArray[np.uint16], NDArray[np.uint8]]:
    """Render one scan.

    Returns
    -------
    images : uint16 array (slices, height, width)
    masks : uint8 array (slices, 3, height, width), classes in
        ``("large_bowel", "small_bowel", "stomach")`` order.
    """
    h, w, n = height, width, slices
    s = float(min(h, w))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy += 0.5
    xx += 0.5

    # --- per-scan anatomy -------------------------------------------------
    cx = w / 2 + rng.uniform(-0.03, 0.03) * s
    cy = h / 2 + rng.uniform(0.0, 0.05) * s
    ax = 0.45 * w * rng.uniform(0.88, 0.98)
    ay = 0.37 * h * rng.uniform(0.88, 0.98)
    band_lo = rng.uniform(0.24, 0.32)  # organs live in [band_lo, band_hi] of the scan
    band_hi = rng.uniform(0.68, 0.76)

    def organ_t(lo: float, hi: float, z: float) -> float:
        """Position of slice z inside an organ's sub-range [lo, hi] of the band."""
        a = band_lo + lo * (band_hi - band_lo)
        b = band_lo + hi * (band_hi - band_lo)
        return (z - a) / (b - a)

    stomach = dict(
        range=(0.0, rng.uniform(0.55, 0.7)),
        dx=rng.uniform(0.12, 0.16) * s,
        dy=-rng.uniform(0.10, 0.14) * s,
        rx=rng.uniform(0.12, 0.15) * s,
        ry=rng.uniform(0.08, 0.10) * s,
        angle=rng.uniform(-0.5, 0.5),
        phase=rng.uniform(0, 2 * np.pi),
    )
    colon = dict(
        range=(rng.uniform(0.0, 0.08), 1.0),
        dy=rng.uniform(0.02, 0.06) * s,
        radius=rng.uniform(0.2, 0.24) * s,
        half=rng.uniform(0.028, 0.036) * s,
        wobble=rng.uniform(0.05, 0.1),
        lobes=int(rng.integers(2, 5)),
        phase=rng.uniform(0, 2 * np.pi),
        mid=1.5 * np.pi + rng.uniform(-0.3, 0.3),
    )
    n_blobs = int(rng.integers(5, 9))
    blobs = []
    for _ in range(n_blobs):
        start = rng.uniform(0.2, 0.45)
        blobs.append(
            dict(
                range=(start, start + rng.uniform(0.45, 0.75)),
                r=rng.uniform(0.0, 0.12) * s,
                a=rng.uniform(0, 2 * np.pi),
                radius=rng.uniform(0.04, 0.055) * s,
                drift=rng.uniform(0.01, 0.03) * s,
                phase=rng.uniform(0, 2 * np.pi),
            )
        )
    sb_cx = cx + rng.uniform(-0.04, 0.0) * s
    sb_cy = cy + rng.uniform(0.04, 0.08) * s

    gain = math.exp(rng.uniform(math.log(0.5), math.log(3.0)))
    sigma = 35.0 * gain
    u = (xx - w / 2) / (w / 2)
    v = (yy - h / 2) / (h / 2)
    c = rng.normal(0.0, 0.18, size=6)
    bias = np.exp(c[0] * u + c[1] * v + c[2] * u * v + c[3] * u * u + c[4] * v * v).astype(
        np.float32
    )
    fine = _smooth_noise(rng, (n, h, w), 1.0)
    coarse = _smooth_noise(rng, (n, h, w), 6.0, step=3)

    # --- fixed structures ---------------------------------------------------
    rho = np.sqrt(((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2)
    body = rho < 1.0
    inner = rho < 0.9  # organs stay off the fat rim
    spine_d = np.hypot(xx - cx, yy - (cy + 0.27 * s)) / (0.06 * s)
    ccx, ccy = cx, cy + colon["dy"]  # the colon arc's centre, fixed per scan
    colon_ang = np.arctan2(yy - ccy, xx - ccx)
    colon_r = np.hypot(xx - ccx, yy - ccy)

    images = np.empty((n, h, w), np.uint16)
    masks = np.zeros((n, 3, h, w), np.uint8)
    for k in range(n):
        z = (k + 0.5) / n
        img = np.where(body, 950.0 + 150.0 * coarse[k], 0.0).astype(np.float32)
        img = np.where(body & (rho > 0.9), 1900.0 + 150.0 * coarse[k], img)  # fat rim
        img = np.where(spine_d < 1.0, 1500.0, img)
        img = np.where(spine_d < 0.7, 300.0, img)
        kidney_t = float(_profile(np.array((z - 0.3) / 0.45)))
        if kidney_t > 0:
            for side in (-1.0, 1.0):
                kd = np.hypot(
                    (xx - (cx + side * 0.2 * s)) / (0.055 * s * kidney_t),
                    (yy - (cy + 0.17 * s)) / (0.085 * s * kidney_t),
                )
                img = np.where(kd < 1.0, 1500.0 + 60.0 * fine[k], img)

        # small bowel: blobs with a bright core and a radial fall-off
        sb = np.zeros((h, w), bool)
        sb_img = np.zeros((h, w), np.float32)
        for b in blobs:
            size = float(_profile(np.array(organ_t(*b["range"], z))))
            if size <= 0:
                continue
            bx = sb_cx + b["r"] * math.cos(b["a"]) + b["drift"] * math.sin(6 * z + b["phase"])
            by = sb_cy + b["r"] * math.sin(b["a"]) + b["drift"] * math.cos(5 * z + b["phase"])
            rb = b["radius"] * size
            win = (
                slice(max(0, int(by - rb) - 1), min(h, int(by + rb) + 2)),
                slice(max(0, int(bx - rb) - 1), min(w, int(bx + rb) + 2)),
            )
            d = np.hypot(xx[win] - bx, yy[win] - by) / rb
            hit = d < 1.0
            sb[win] |= hit
            loop = 2400.0 * (1.0 - 0.3 * d * d) + 120.0 * fine[k][win]  # bright content
            sb_img[win] = np.where(hit, np.where(d > 0.75, 900.0, loop), sb_img[win])  # dark wall
        sb &= inner

        # large bowel: thick wavy arc around the body centre, round ends
        lb = np.zeros((h, w), bool)
        size = float(_profile(np.array(organ_t(*colon["range"], z))))
        if size > 0:
            ang = colon_ang
            wave = 1.0 + colon["wobble"] * np.sin(colon["lobes"] * ang + colon["phase"] + 3 * z)
            radius = colon["radius"] * wave
            half = colon["half"] * (0.6 + 0.4 * size)
            span = np.deg2rad(55 + 75 * size)
            dang = np.mod(ang - colon["mid"] + np.pi, 2 * np.pi) - np.pi  # in [-pi, pi)
            lb = (np.abs(colon_r - radius) < half) & (np.abs(dang) < span)
            for end in (colon["mid"] - span, colon["mid"] + span):
                er = colon["radius"] * (
                    1.0 + colon["wobble"] * math.sin(colon["lobes"] * end + colon["phase"] + 3 * z)
                )
                ex, ey = ccx + er * math.cos(end), ccy + er * math.sin(end)
                lb |= np.hypot(xx - ex, yy - ey) < half
            lb &= inner

        # stomach: one large ellipse, bright fluid, darker wall
        st = np.zeros((h, w), bool)
        size = float(_profile(np.array(organ_t(*stomach["range"], z))))
        if size > 0:
            scx = cx + stomach["dx"] + 0.02 * s * math.sin(4 * z + stomach["phase"])
            scy = cy + stomach["dy"] + 0.02 * s * math.cos(3 * z + stomach["phase"])
            theta = stomach["angle"] + 0.6 * z
            ct, sn = math.cos(theta), math.sin(theta)
            px, py = xx - scx, yy - scy
            e = np.hypot(
                (ct * px + sn * py) / (stomach["rx"] * size),
                (-sn * px + ct * py) / (stomach["ry"] * size),
            )
            st = (e < 1.0) & inner

        # paint: small bowel, then large bowel, then stomach on top
        img = np.where(sb, sb_img, img)
        img = np.where(lb, 400.0 + 220.0 * fine[k], img)
        if st.any():
            img = np.where(st, np.where(e > 0.85, 1250.0, 2900.0 + 90.0 * coarse[k]), img)

        img = ndimage.gaussian_filter(img, 0.6)  # partial volume at edges
        signal = gain * bias * np.maximum(img, 0.0)
        noise = rng.standard_normal((2, h, w), dtype=np.float32) * np.float32(sigma)
        magnitude = np.sqrt((signal + noise[0]) ** 2 + noise[1] ** 2)  # Rician
        images[k] = np.clip(np.rint(magnitude), 0, 65535).astype(np.uint16)
        masks[k, 0] = lb
        masks[k, 1] = sb
        masks[k, 2] = st
    return images, masks
