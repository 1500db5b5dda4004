"""Built-in data: a small, deterministic, UWMGI-shaped data set fitted to real statistics.

:func:`generate` writes the competition's layout under ``root``::

    root/train.csv                        # id,class,segmentation (3 rows per image)
    root/train/case12/case12_day3/scans/slice_0001_266_266_1.50_1.50.png
    root/synthetic.json                   # the parameters, marks the folder as ours

Each case-day is an axial MRI-like scan from the lower chest (slice 1) to the
pelvis.  Along the scan a slice shows, in anatomical order, lungs and heart,
liver, spleen, kidneys, psoas and paraspinal muscle, the spine, the aorta and
vena cava, subcutaneous fat and the three labelled organs:

* ``large_bowel``: 1 to 5 colon segments around the abdominal frame
  (ascending, transverse, descending, sigmoid), each a haustrated tube whose
  content is gas (dark), stool (mottled) or fluid (bright);
* ``small_bowel``: a cluster of small loops, each with its own content;
* ``stomach``: one body in the left upper abdomen (image right), fluid, chyme
  or a gas-fluid level, sometimes with a separate antrum.

The contents overlap the intensities of their neighbours (gas like lung and
the aorta's flow void, fluid like fat and the kidneys, chyme like liver and
muscle), so a threshold cannot solve the task.  Organs switch on and off along
the scan (small masks where they start and end, gaps where a loop leaves the
plane); the labels never overlap.  Every scan has its own gain, a smooth
multiplicative bias field, motion ghosting along the phase-encoding axis and
Rician noise.  Slices are 16-bit PNGs (Pillow mode ``I;16``).

The statistics this generator is fitted to are the ``REAL_*`` constants below,
measured on the public material in ``../shared/data/uwmgi-real`` (never copied
into the package); ``docs/synthetic.md`` lists the measured distances.

The same ``seed`` gives byte-identical files: every case-day draws from its own
``numpy.random.default_rng([seed, case_index, day_index])``.  No torch import.
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

__all__ = ["SIZES", "body_statistics", "generate", "render_scan", "scan_plan"]

CLASSES = ("large_bowel", "small_bowel", "stomach")

# ---------------------------------------------------------------------------
# Targets measured on the real material (/work/shared/data/uwmgi-real).
# ---------------------------------------------------------------------------
#: (width, height, pixel spacing) of the real scans and their share of the 38,496 images
#: (image_index.csv: 67.3% 266x266, 29.2% 360x310, 3.1% 276x276, 0.4% 234x234).
SIZES: tuple[tuple[int, int, float], ...] = (
    (266, 266, 1.50),
    (360, 310, 1.50),
    (276, 276, 1.63),
    (234, 234, 1.50),
)
REAL_SIZE_SHARE = (0.6733, 0.2918, 0.0312, 0.0037)
#: 259 of the 274 real case-days have 144 slices, 15 have 80 (image_index.csv); a short
#: scan here has ``round(slices * 80 / 144)`` slices and covers the abdominal part only.
REAL_SHORT_SCAN_SHARE = 15 / 274
#: Non-empty fraction per class over all 38,496 training images (public analyses of train.csv;
#: the first 1,000 predicted ids give 0.346, 0.302, 0.162).
REAL_NONEMPTY = {"large_bowel": 0.366, "small_bowel": 0.291, "stomach": 0.224}
#: Area quantiles (pixels; 5, 25, 50, 75, 95 %) of non-empty masks in predicted_rle_first1000.csv.
REAL_AREA_QUANTILES = {
    "large_bowel": (166, 593, 998, 1443, 2335),
    "small_bowel": (117, 683, 1204, 1872, 2550),
    "stomach": (89, 534, 1014, 1354, 2139),
}
#: Share of non-empty masks with 1, 2, 3, 4, 5, 6+ connected pieces (same file).
REAL_PIECES = {
    "large_bowel": (0.234, 0.251, 0.309, 0.150, 0.035, 0.020),
    "small_bowel": (0.152, 0.209, 0.195, 0.162, 0.136, 0.146),
    "stomach": (0.944, 0.056, 0.0, 0.0, 0.0, 0.0),
}
#: Mask centre as a fraction of (height, width): mean and standard deviation (same file).
REAL_CENTRE = {
    "large_bowel": ((0.359, 0.043), (0.596, 0.116)),
    "small_bowel": ((0.381, 0.033), (0.594, 0.073)),
    "stomach": ((0.346, 0.073), (0.591, 0.074)),
}
#: Relative slice position of the first and last labelled slice per scan (range over the
#: 7 scans of the same file) and runs of labelled slices per scan (mean): organs switch
#: on and off 2.6-3.4 times per scan.
REAL_EXTENT = {
    "large_bowel": ((0.35, 0.64), (0.82, 0.88), 1.71),
    "small_bowel": ((0.40, 0.62), (0.82, 0.88), 1.29),
    "stomach": ((0.32, 0.57), (0.50, 0.69), 1.71),
}
#: Large and small bowel touch (8-neighbour) in 93 of the 288 slices that hold both,
#: and never overlap (same file).
REAL_TOUCH = 93 / 288
#: After percentile normalisation (99.5th percentile -> 1), inside the body: median
#: intensity, share below 0.2, share of pixels with a Sobel gradient above 0.05, and
#: the 20-bin histogram over [0, 1] (mean over the 40 slices8/*.png; the two 16-bit
#: slices16 give 0.31, 0.29, 0.37).  See ``body_statistics``.
REAL_BODY_MEDIAN = 0.30
REAL_BODY_DARK = 0.34
REAL_EDGE_DENSITY = 0.39
REAL_HISTOGRAM = (
    0.126, 0.080, 0.059, 0.074, 0.085, 0.074, 0.065, 0.052, 0.050, 0.040,
    0.048, 0.040, 0.033, 0.033, 0.032, 0.027, 0.025, 0.021, 0.014, 0.021,
)  # fmt: skip

_MARKER = "synthetic.json"
_BAD = {(7, 0), (81, 30)}  # rlemask.uwmgi.BAD_SCANS: never generate those ids
_GOLDEN = 0.6180339887498949


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
        Slices of a full scan (at least 8; the real scans have 144).  About one
        scan in 18 is a short one of ``round(slices * 80 / 144)`` slices, like
        the real 80-slice scans.
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
    plan = scan_plan(int(cases) * int(days), slices=int(slices), seed=int(seed))
    jobs = [(ci, di) for ci in range(cases) for di in range(days)]
    iterator: Any = jobs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(jobs, desc="synthetic scans", unit="scan")

    lines = ["id,class,segmentation"]
    for ci, di in iterator:
        case, day = case_ids[ci], day_ids[ci][di]
        width, height, spacing, n, z0 = plan[ci * days + di]
        rng = np.random.default_rng([int(seed), ci, di])
        images, masks = render_scan(rng, height=height, width=width, slices=n, spacing=spacing, start=z0)
        folder = root / "train" / f"case{case}" / f"case{case}_day{day}" / "scans"
        folder.mkdir(parents=True, exist_ok=True)
        rles = rlemask.encode_many(masks.reshape(-1, height, width))  # one batch per scan
        for k in range(n):
            number = k + 1
            name = f"slice_{number:04d}_{width}_{height}_{spacing:.2f}_{spacing:.2f}.png"
            # zlib level 1: noisy 16-bit slices barely compress further, and level 6 is 5x slower
            Image.fromarray(images[k]).save(folder / name, compress_level=1)
            image_id = f"case{case}_day{day}_slice_{number:04d}"
            for cls, rle in zip(CLASSES, rles[3 * k : 3 * k + 3]):
                lines.append(f"{image_id},{cls},{rle}")
    (root / "train.csv").write_text("\n".join(lines) + "\n", encoding="ascii")
    params = {"cases": int(cases), "days": int(days), "slices": int(slices), "seed": int(seed), "version": 2}
    (root / _MARKER).write_text(json.dumps({"generator": "rlemask_models.synthetic", **params}))
    return root


def scan_plan(scans: int, *, slices: int, seed: int = 0) -> list[tuple[int, int, float, int, float]]:
    """Size, spacing, slice count and first anatomical position of each scan.

    Sizes follow :data:`REAL_SIZE_SHARE` and short scans :data:`REAL_SHORT_SCAN_SHARE`
    through a golden-ratio sequence: any run of scans holds the real mix as closely as
    its length allows, after one scan of each size (266x266, 360x310, 276x276, 234x234).

    Returns
    -------
    list of (width, height, spacing, slices, start)
        ``start`` is where the scan begins on the chest-to-pelvis axis (0 for a full scan).
    """
    cdf = np.cumsum(REAL_SIZE_SHARE)
    offset = (seed * _GOLDEN) % 1.0
    out = []
    for i in range(scans):
        if i < len(SIZES):  # a small set shows every size once
            choice = i
        else:
            u = (offset + i * _GOLDEN) % 1.0
            choice = int(np.searchsorted(cdf, u * cdf[-1], side="right"))
        width, height, spacing = SIZES[min(choice, len(SIZES) - 1)]
        short = i >= len(SIZES) and ((offset + i * 0.7548776662466927) % 1.0) < REAL_SHORT_SCAN_SHARE
        n = max(8, round(slices * 80 / 144)) if short else slices
        out.append((width, height, spacing, n, 0.3 if short else 0.0))
    return out


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


# ---------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------
def _ramp(t: float, rise: float, fall: float, floor: float = 0.12) -> float:
    """Size over an organ's extent ``t`` in [0, 1]: small at both ends, 1 in the middle."""
    if t <= 0.0 or t >= 1.0:
        return 0.0
    up = min(1.0, t / rise) if rise > 0 else 1.0
    down = min(1.0, (1.0 - t) / fall) if fall > 0 else 1.0
    return floor + (1.0 - floor) * math.sqrt(up * down)


class _Blob:
    """A deformed ellipse moving with the slice position: cross-section of a tube or an organ."""

    __slots__ = ("x", "y", "rx", "ry", "angle", "harm", "drift", "z0", "z1", "rise", "fall", "content", "wall")

    def __init__(self, rng: np.random.Generator, x: float, y: float, rx: float, ry: float,
                 z0: float, z1: float, *, content: int, lobes: float = 0.12, rise: float = 0.25,
                 fall: float = 0.25, drift: float = 0.0) -> None:
        self.x, self.y, self.rx, self.ry = x, y, rx, ry
        self.angle = rng.uniform(0, np.pi)
        k = np.arange(2, 6)
        self.harm = (k, rng.normal(0, lobes, size=4) / np.sqrt(k - 1), rng.uniform(0, 2 * np.pi, size=4))
        self.drift = rng.normal(0, drift, size=4) if drift else np.zeros(4)
        self.z0, self.z1, self.rise, self.fall = z0, z1, rise, fall
        self.content = content
        self.wall = rng.uniform(0.12, 0.25)

    def size(self, z: float) -> float:
        return _ramp((z - self.z0) / max(self.z1 - self.z0, 1e-6), self.rise, self.fall)

    def field(self, xx: NDArray[np.float32], yy: NDArray[np.float32], z: float, scale: float) -> tuple[tuple[slice, slice], NDArray[np.float32]] | None:
        """Window and normalised radius (``< 1`` inside) at slice position ``z``."""
        size = self.size(z)
        if size <= 0:
            return None
        dz = z - 0.5 * (self.z0 + self.z1)
        cx = self.x + self.drift[0] * dz + self.drift[1] * dz * dz
        cy = self.y + self.drift[2] * dz + self.drift[3] * dz * dz
        rx, ry = self.rx * size * scale, self.ry * size * scale
        reach = 1.5 * max(rx, ry) + 2
        h, w = xx.shape
        y0, y1 = max(0, int(cy - reach)), min(h, int(cy + reach) + 2)
        x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 2)
        if y0 >= y1 or x0 >= x1:
            return None
        win = (slice(y0, y1), slice(x0, x1))
        px, py = xx[win] - cx, yy[win] - cy
        ct, st = math.cos(self.angle + 0.8 * dz), math.sin(self.angle + 0.8 * dz)
        u, v = (ct * px + st * py) / rx, (-st * px + ct * py) / ry
        phi = np.arctan2(v, u)
        k, amp, phase = self.harm
        edge = 1.0 + (amp[:, None, None] * np.cos(k[:, None, None] * phi + phase[:, None, None] + 3 * dz)).sum(0)
        return win, (np.hypot(u, v) / np.maximum(edge, 0.4)).astype(np.float32)


# content codes and their intensity (fat = 1): gas, stool/chyme, fluid
_GAS, _CHYME, _FLUID = 0, 1, 2


def _contents(code: int, d: NDArray[np.float32], tex: NDArray[np.float32]) -> NDArray[np.float32]:
    """Intensity inside a lumen: overlaps lung/vessels (gas), liver/muscle (chyme), fat/kidney (fluid)."""
    if code == _GAS:
        return (0.05 + 0.05 * tex).astype(np.float32)
    if code == _FLUID:
        return (0.78 + 0.12 * tex - 0.1 * d).astype(np.float32)
    return (0.42 + 0.22 * tex).astype(np.float32)


def _organ_range(rng: np.random.Generator, cls: str, start: float) -> tuple[float, float]:
    (a_lo, a_hi), (b_lo, b_hi), _ = REAL_EXTENT[cls]
    # the central half of the measured ranges: 7 scans of a model's predictions spread wider
    # than the labels, and the demo validates on one case, whose share of empty rows should
    # stay near the real 0.71
    a = rng.uniform(0.75 * a_lo + 0.25 * a_hi, 0.25 * a_lo + 0.75 * a_hi)
    b = rng.uniform(0.75 * b_lo + 0.25 * b_hi, 0.25 * b_lo + 0.75 * b_hi)
    if cls == "stomach":  # the full data's stomach share (0.224) is above the 7 scans' 0.162
        b = a + rng.uniform(0.17, 0.3)
    elif cls == "large_bowel":  # and the full data's 0.366 above their 0.346
        a -= 0.09
    # a short scan covers [start, 1]; the real positions are relative to the full scan
    return a, b


def _gaps(rng: np.random.Generator, a: float, b: float, runs: float) -> list[tuple[float, float]]:
    """Slice ranges where the organ leaves the plane: about ``runs - 1`` of them, near the ends."""
    n = int(rng.poisson(max(runs - 1.0, 0.0) * 1.3))
    gaps = []
    for _ in range(min(n, 4)):
        t = rng.choice((rng.uniform(0.06, 0.3), rng.uniform(0.7, 0.94)))
        mid = a + t * (b - a)
        half = 0.5 * rng.uniform(0.03, 0.08)
        gaps.append((mid - half, mid + half))
    return gaps


def render_scan(
    rng: np.random.Generator,
    *,
    height: int,
    width: int,
    slices: int,
    spacing: float = 1.5,
    start: float = 0.0,
) -> tuple[NDArray[np.uint16], NDArray[np.uint8]]:
    """Render one scan from the lower chest (``start=0``) to the pelvis.

    Returns
    -------
    images : uint16 array (slices, height, width)
    masks : uint8 array (slices, 3, height, width), classes in
        ``("large_bowel", "small_bowel", "stomach")`` order; the classes never overlap.
    """
    h, w, n = height, width, slices
    px = 1.5 / spacing  # organ sizes are fitted in pixels of 1.5 mm
    s = 266.0 * px  # length unit: a 266-pixel field of view at 1.5 mm
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    # --- per-scan anatomy -------------------------------------------------
    cx = w / 2 + rng.normal(0, 0.02) * w
    cy = h / 2 + rng.normal(0.02, 0.02) * h
    ax = min(0.46 * w, 0.43 * s * rng.uniform(0.92, 1.08))  # body half-width
    ay = min(0.44 * h, 0.34 * s * rng.uniform(0.92, 1.08))
    body_h = (np.arange(2, 7), rng.normal(0, 0.025, 5), rng.uniform(0, 2 * np.pi, 5))
    fat = rng.uniform(0.06, 0.14)  # subcutaneous fat thickness, share of the half-axes
    lung_end = rng.uniform(0.26, 0.36)
    # organs are placed relative to the real mask centres (fraction of height/width)
    oy = lambda f: (f - 0.5) * s + cy  # noqa: E731
    ox = lambda f: (f - 0.5) * s + cx  # noqa: E731

    ranges = {c: _organ_range(rng, c, start) for c in CLASSES}
    gaps = {c: _gaps(rng, *ranges[c], REAL_EXTENT[c][2]) for c in CLASSES}

    def present(cls: str, z: float) -> bool:
        a, b = ranges[cls]
        return a < z < b and not any(g0 < z < g1 for g0, g1 in gaps[cls])

    # large bowel: segments around the colon frame, each with its own extent and content
    la, lb_ = ranges["large_bowel"]
    frame = [  # (x, y) as fractions of the field of view, and where in the extent it lives
        ((0.42, 0.38), (0.0, 1.0)),  # ascending colon (patient right = image left)
        ((0.60, 0.24), (0.0, 0.55)),  # transverse colon, upper abdomen
        ((0.79, 0.33), (0.0, 1.0)),  # descending colon
        ((0.62, 0.36), (0.55, 1.0)),  # sigmoid
    ]
    colon: list[_Blob] = []
    for j, ((fx, fy), (t0, t1)) in enumerate(frame):
        if rng.random() < 0.08 and j > 0:  # the ascending colon spans the whole extent
            continue
        z0 = la + (lb_ - la) * (t0 + (rng.uniform(0, 0.25) if j > 0 else 0.0) * (t1 - t0))
        z1 = la + (lb_ - la) * (t1 - rng.uniform(0, 0.15) * (t1 - t0)) + (0.05 if t1 == 1.0 else 0.0)
        long = 1.9 if fy < 0.3 else 1.0
        r = rng.uniform(0.045, 0.065) * s
        colon.append(_Blob(rng, ox(fx + rng.normal(0, 0.04)), oy(fy + rng.normal(0, 0.035)),
                           r * long, r * rng.uniform(0.75, 1.0), z0, z1,
                           content=int(rng.choice(3, p=(0.35, 0.45, 0.2))), lobes=0.14,
                           rise=0.3, fall=0.05, drift=0.08 * s))
    if rng.random() < 0.35 and colon:  # a redundant loop next to one segment: an extra piece
        ref = colon[int(rng.integers(len(colon)))]
        colon.append(_Blob(rng, ref.x + rng.normal(0, 0.07) * s, ref.y + rng.normal(0, 0.05) * s,
                           0.025 * s, 0.022 * s, ref.z0 + 0.3 * (ref.z1 - ref.z0), ref.z1,
                           content=int(rng.choice(3)), drift=0.05 * s))

    # small bowel: a cluster of loops below the stomach, centre jittered per scan
    sa, sb_ = ranges["small_bowel"]
    scx, scy = ox(0.58 + rng.normal(0, 0.04)), oy(0.34 + rng.normal(0, 0.03))
    loops: list[_Blob] = []
    for _ in range(int(rng.integers(8, 14))):
        t0 = rng.uniform(0.0, 0.55) ** 1.5
        z0 = sa + (sb_ - sa) * t0
        z1 = z0 + (sb_ - sa) * rng.uniform(0.3, 0.75)
        r = rng.uniform(0.026, 0.04) * s
        loops.append(_Blob(rng, scx + rng.normal(0, 0.085) * s, scy + rng.normal(0, 0.06) * s,
                           r * rng.uniform(1.0, 1.6), r, z0, min(z1, sb_ + 0.03),
                           content=int(rng.choice(3, p=(0.15, 0.45, 0.4))), lobes=0.08,
                           rise=0.2, fall=0.2, drift=0.12 * s))

    # stomach: one body (fluid, chyme or a gas-fluid level), sometimes an antrum
    ta, tb = ranges["stomach"]
    stomach = [_Blob(rng, ox(0.64 + rng.normal(0, 0.05)), oy(0.31 + rng.normal(0, 0.05)),
                     rng.uniform(0.075, 0.11) * s, rng.uniform(0.06, 0.09) * s, ta, tb,
                     content=int(rng.choice(3, p=(0.2, 0.4, 0.4))), lobes=0.1, rise=0.3, fall=0.55,
                     drift=0.15 * s)]
    if rng.random() < 0.3:
        stomach.append(_Blob(rng, stomach[0].x - 0.09 * s, stomach[0].y + 0.05 * s, 0.03 * s,
                             0.022 * s, ta + 0.45 * (tb - ta), tb, content=_CHYME, drift=0.05 * s))
    gas_level = stomach[0].content == _GAS

    # distractors: (x, y, rx, ry) in field-of-view fractions and an extent along the scan
    liver = _Blob(rng, ox(0.30), oy(0.42), 0.17 * s, 0.15 * s, rng.uniform(0.15, 0.25),
                  rng.uniform(0.55, 0.65), content=_CHYME, lobes=0.1, rise=0.3, fall=0.5)
    spleen = _Blob(rng, ox(0.76), oy(0.52), 0.05 * s, 0.08 * s, rng.uniform(0.25, 0.32),
                   rng.uniform(0.5, 0.58), content=_CHYME, lobes=0.1)
    kidneys = [_Blob(rng, ox(0.5 + side * 0.17), oy(0.62), 0.045 * s, 0.07 * s, rng.uniform(0.4, 0.47),
                     rng.uniform(0.68, 0.75), content=_FLUID, lobes=0.05) for side in (-1, 1)]
    heart = _Blob(rng, ox(0.52), oy(0.40), 0.16 * s, 0.13 * s, -0.3, lung_end - 0.05, content=_CHYME,
                  lobes=0.06, rise=0.1, fall=0.5)
    lungs = [_Blob(rng, ox(0.5 + side * 0.2), oy(0.5), 0.15 * s, 0.2 * s, -0.4, lung_end,
                   content=_GAS, lobes=0.06, rise=0.1, fall=0.45) for side in (-1, 1)]
    psoas = [_Blob(rng, ox(0.5 + side * 0.08), oy(0.64), 0.035 * s, 0.04 * s, 0.55, 1.4,
                   content=_CHYME, lobes=0.05, rise=0.4) for side in (-1, 1)]
    spine_x, spine_y = ox(0.5), oy(0.66)
    # mesenteric vessels and fat lobules: small dots that drift along the scan
    dots = [_Blob(rng, ox(rng.uniform(0.25, 0.8)), oy(rng.uniform(0.2, 0.6)), r, r, z0, z0 + rng.uniform(0.1, 0.4),
                  content=int(rng.choice(3)), lobes=0.0, rise=0.1, fall=0.1, drift=0.1 * s)
            for r, z0 in zip(rng.uniform(0.006, 0.014, 40) * s, rng.uniform(0.1, 0.9, 40))]
    # intensity of each tissue (fat = 1 before noise): drawn per scan, overlapping the contents
    tone = {
        "soft": rng.uniform(0.22, 0.34), "muscle": rng.uniform(0.12, 0.22), "liver": rng.uniform(0.18, 0.3),
        "spleen": rng.uniform(0.4, 0.55), "kidney": rng.uniform(0.5, 0.7), "bone": rng.uniform(0.35, 0.5),
        "heart": rng.uniform(0.3, 0.45),
    }

    gain = math.exp(rng.uniform(math.log(800.0), math.log(3500.0)))  # 16-bit counts of fat
    sigma = gain * rng.uniform(0.018, 0.035)
    ghost = rng.uniform(0.02, 0.08)  # motion ghost strength
    ghost_shift = int(h // rng.choice((3, 4, 5))) * (1 if rng.random() < 0.5 else -1)
    u = (xx - w / 2) / (w / 2)
    v = (yy - h / 2) / (h / 2)
    c = rng.normal(0.0, 0.2, size=6)
    bias = np.exp(c[0] * u + c[1] * v + c[2] * u * v + c[3] * u * u + c[4] * v * v).astype(np.float32)

    phi = np.arctan2((yy - cy) / ay, (xx - cx) / ax)
    k, amp, ph = body_h
    edge = 1.0 + (amp[:, None, None] * np.cos(k[:, None, None] * phi + ph[:, None, None])).sum(0)
    rho = np.hypot((xx - cx) / ax, (yy - cy) / ay) / edge  # < 1 inside the body
    spine_d = np.hypot(xx - spine_x, yy - spine_y) / (0.045 * s)
    paraspinal = np.hypot((np.abs(xx - spine_x) - 0.07 * s) / (0.05 * s), (yy - spine_y - 0.09 * s) / (0.04 * s))
    vessels = [(ox(0.5 + 0.035), oy(0.58), 0.014 * s), (ox(0.5 - 0.05), oy(0.57), 0.017 * s)]

    images = np.empty((n, h, w), np.uint16)
    masks = np.zeros((n, 3, h, w), np.uint8)
    for i in range(n):
        z = start + (1.0 - start) * (i + 0.5) / n
        tex = ndimage.gaussian_filter(rng.standard_normal((h, w), dtype=np.float32), 1.2) * 3.0
        tex2 = ndimage.zoom(rng.standard_normal((h // 8 + 2, w // 8 + 2), dtype=np.float32), 8, order=1)[:h, :w]
        img = np.zeros((h, w), np.float32)
        scale = 1.0 + 0.08 * math.sin(2 * math.pi * z)  # the body narrows towards the pelvis
        r = rho / scale
        body = r < 1.0
        img[body] = 0.88 + 0.1 * tex2[body] + 0.05 * tex[body]  # subcutaneous fat
        inner = r < 1.0 - fat
        img[inner] = tone["muscle"]  # abdominal wall
        cavity = r < 1.0 - fat - 0.05
        img[cavity] = tone["soft"] + 0.24 * np.abs(tex2[cavity]) + 0.12 * tex[cavity]  # mesenteric fat / soft tissue

        def paint(blob: _Blob, value: Any, *, label: NDArray[np.bool_] | None = None, wall: float | None = None) -> None:
            got = blob.field(xx, yy, z, 1.0)
            if got is None:
                return
            win, d = got
            hit = (d < 1.0) & cavity[win]
            if not hit.any():
                return
            if callable(value):
                vals = value(d, tex[win])
            else:
                vals = np.full(d.shape, value, np.float32) + 0.05 * tex[win]
            if wall is not None:
                vals = np.where(d > 1.0 - blob.wall * 0.5, wall + 0.05 * tex[win], vals)
            img[win] = np.where(hit, vals, img[win])
            if label is not None:
                label[win] |= hit

        for dot in dots:
            paint(dot, lambda d, t, c=dot.content: _contents(c, d, t))
        for lung in lungs:
            paint(lung, lambda d, t: 0.03 + 0.03 * t)
        paint(heart, tone["heart"])
        paint(liver, lambda d, t: tone["liver"] + 0.04 * t)
        paint(spleen, tone["spleen"])
        for kid in kidneys:
            paint(kid, lambda d, t: np.where(d < 0.45, 0.9 * tone["kidney"], tone["kidney"]) + 0.04 * t)
        for muscle in psoas:
            paint(muscle, tone["muscle"])
        img[paraspinal < 1.0] = tone["muscle"] + 0.04 * tex[paraspinal < 1.0]
        img[spine_d < 1.0] = tone["bone"] + 0.06 * tex[spine_d < 1.0]
        img[(spine_d < 1.0) & (spine_d > 0.8)] = 0.1
        for j, (vx, vy, vr) in enumerate(vessels):
            disc = np.hypot(xx - vx, yy - vy) < vr
            img[disc] = 0.08 if j == 0 else 0.7  # aorta flow void, bright slow-flow vena cava

        labels = np.zeros((3, h, w), bool)
        for cls, blobs, wall_tone in (("small_bowel", loops, 0.3), ("large_bowel", colon, 0.22),
                                      ("stomach", stomach, 0.28)):
            j = CLASSES.index(cls)
            on = present(cls, z)
            for blob in blobs:
                def fill(d, t, blob=blob):
                    out = _contents(blob.content, d, t)
                    if blob is stomach[0] and gas_level:  # air above, fluid below
                        out = np.where(d < 0.3, 0.8 + 0.1 * t, out)
                    return out
                if on:  # in a gap the organ has left the plane
                    paint(blob, fill, label=labels[j], wall=wall_tone)
        # no overlap: later classes win where they are painted on top
        labels[0] &= ~labels[2]
        labels[1] &= ~(labels[0] | labels[2])
        for j in range(3):  # the labels stay off the fat rim and the image border
            labels[j] &= cavity
            masks[i, j] = labels[j]

        img = ndimage.gaussian_filter(img, 0.7)  # partial volume
        signal = gain * bias * img
        signal = signal + ghost * np.roll(signal, ghost_shift, axis=0)  # motion ghost (phase axis)
        noise = rng.standard_normal((2, h, w), dtype=np.float32) * np.float32(sigma)
        magnitude = np.sqrt((signal + noise[0]) ** 2 + noise[1] ** 2)  # Rician
        images[i] = np.clip(np.rint(magnitude), 0, 65535).astype(np.uint16)
    return images, masks


def body_statistics(image: NDArray[Any]) -> dict[str, Any]:
    """Intensity and edge statistics of one slice's body, the measure behind ``REAL_*``.

    The slice is divided by its 99.5th percentile and clipped to [0, 1]; the body is the
    filled region where a Gaussian-smoothed (sigma 2) slice exceeds 0.08, opened twice.
    Returns the body's share of the slice, its median, the share below 0.2, the share of
    body pixels whose Sobel gradient (divided by 8) exceeds 0.05, and the 20-bin histogram.
    """
    a = np.asarray(image, dtype=np.float32)
    a = np.clip(a / max(float(np.percentile(a, 99.5)), 1e-6), 0.0, 1.0)
    body = ndimage.binary_fill_holes(ndimage.gaussian_filter(a, 2) > 0.08)
    body = ndimage.binary_opening(body, iterations=2)
    values = a[body]
    if values.size == 0:
        raise RlemaskError("body_statistics: no body found in the slice (all pixels below 0.08 of the 99.5th percentile)")
    grad = np.hypot(ndimage.sobel(a, 0), ndimage.sobel(a, 1)) / 8.0
    hist = np.histogram(values, bins=20, range=(0.0, 1.0))[0] / values.size
    return {
        "body": float(body.mean()),
        "median": float(np.median(values)),
        "dark": float((values < 0.2).mean()),
        "edges": float((grad[body] > 0.05).mean()),
        "histogram": hist,
    }
