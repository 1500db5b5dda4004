"""Exploratory summary of a UWMGI-shaped data set: the tables and figures behind ``rlemask describe``.

:func:`survey` reads ``train.csv`` (and the image folder when there is one) into a
:class:`Survey`; :func:`tables` turns it into named DataFrames; :func:`write_report`
writes ``report.md``, ``stats.json`` and, with matplotlib, PNG figures.  Everything
works from the CSV alone (image sizes and spacings then come from ``images=``, a
CSV with ``id, height, width``, or are reported as unknown).

Examples
--------
>>> import pandas as pd
>>> labels = pd.DataFrame({"id": ["case1_day0_slice_0001"] * 3 + ["case1_day0_slice_0002"] * 3,
...                        "class": ["large_bowel", "small_bowel", "stomach"] * 2,
...                        "segmentation": ["1 4", "", "", "", "", "9 2"]})
>>> t = tables(survey(labels))
>>> t["classes"][["non_empty", "share_of_segmented"]].to_numpy().tolist()
[[0.5, 0.5], [0.0, 0.0], [0.5, 0.5]]
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rlemask import uwmgi
from rlemask.errors import InvalidRleError, LayoutError, RlemaskError
from rlemask.rle import area
from rlemask.uwmgi import BAD_SCANS, CLASSES

__all__ = ["Survey", "survey", "tables", "write_report"]

_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass
class Survey:
    """Labels (one row per image, areas per class), images (or ``None``) and the bad rows found.

    ``labels`` has ``id, case, day, slice, scan``, one RLE column per class and one
    ``area_<class>`` column per class; ``images`` is the :func:`rlemask.uwmgi.scan`
    table (or the ``images=`` CSV) restricted to labelled ids; ``bad`` lists
    ``(where, reason)`` for rows left out (a malformed RLE, an id without an image).
    """

    labels: pd.DataFrame
    images: pd.DataFrame | None
    source: str
    classes: tuple[str, ...] = CLASSES
    bad: list[tuple[str, str]] = field(default_factory=list)


def _read_csv(path: Any, **kwargs: Any) -> pd.DataFrame:
    """``pd.read_csv`` with parser and encoding errors as one :class:`LayoutError` line."""
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise LayoutError(f"cannot read {str(path)!r} as CSV: {detail}") from exc


def _read_images(images: Any) -> pd.DataFrame:
    """An image table from a folder (scanned) or a CSV / DataFrame with id, height, width."""
    if isinstance(images, pd.DataFrame):
        table = images
    elif Path(images).is_dir():
        return uwmgi.scan(images)
    else:
        if not Path(images).is_file():
            raise LayoutError(f"images={str(images)!r} is neither a folder nor a CSV file")
        table = _read_csv(images)
    missing = [c for c in ("id", "height", "width") if c not in table.columns]
    if missing:
        raise LayoutError(f"image table {images if not isinstance(images, pd.DataFrame) else ''!s} "
                          f"lacks columns {missing}: expected id, height, width (and optionally path)")
    return table


def survey(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    images: str | os.PathLike[str] | pd.DataFrame | None = None,
    classes: tuple[str, ...] = CLASSES,
) -> Survey:
    """Read labels and images for :func:`tables`.

    Parameters
    ----------
    source : folder, CSV path or DataFrame
        A UWMGI folder holding ``train.csv`` (and usually ``train/``), a labels CSV
        (``id, class, segmentation``, a submission's ``predicted`` or a wide table) or
        such a DataFrame.
    images : folder, CSV or DataFrame, optional
        Where sizes, spacings and pixels come from: by default the folder's ``train/``
        when it exists; a CSV needs ``id, height, width`` (``path`` gives pixels too).

    Returns
    -------
    Survey
        Malformed RLE strings and ids without an image are left out and listed in
        ``Survey.bad`` (the caller reports them).

    Raises
    ------
    LayoutError
        No ``train.csv`` in the folder, missing columns, bad ids, unknown classes.
    """
    where: str
    if isinstance(source, pd.DataFrame):
        frame, where, root = source, "the labels table", None
    else:
        path = Path(source)
        if path.is_dir():
            root = path
            path = path / "train.csv"
            if not path.is_file():
                raise LayoutError(f"no train.csv in {str(root)!r}: expected ROOT/train.csv (id,class,segmentation)")
        elif not path.is_file():
            raise LayoutError(f"{str(path)!r} does not exist: expected a UWMGI folder or a labels CSV")
        else:
            root = None
        where = str(path)
        frame = _read_csv(path, dtype=str, keep_default_na=False)
    labels = uwmgi.read_labels(frame, classes=classes)
    bad: list[tuple[str, str]] = []
    keep = np.ones(len(labels), bool)
    for cls in classes:
        values = labels[cls].tolist()
        areas = np.zeros(len(values), np.int64)
        for i, rle in enumerate(values):
            if rle:
                try:
                    areas[i] = area(rle)
                except InvalidRleError as exc:
                    bad.append((f"{labels['id'].iat[i]}/{cls}", str(exc)))
                    keep[i] = False
        labels[f"area_{cls}"] = areas
    labels = labels.loc[keep]
    labels.insert(4, "scan", "case" + labels["case"].astype(str) + "_day" + labels["day"].astype(str))

    table = None
    if images is not None:
        table = _read_images(images)
    elif root is not None and (root / "train").is_dir():
        table = uwmgi.scan(root)
    if table is not None:
        known = set(table["id"].astype(str))
        absent = ~labels["id"].isin(known)
        for image_id in labels.loc[absent, "id"]:
            bad.append((image_id, "no image for this id"))
        labels = labels.loc[~absent]
        table = table.loc[table["id"].isin(set(labels["id"]))].reset_index(drop=True)
    labels = labels.sort_values(["case", "day", "slice"], kind="stable").reset_index(drop=True)
    return Survey(labels=labels, images=table, source=where, classes=tuple(classes), bad=bad)


def _runs(flags: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    """Runs of non-empty slices per scan and class (labels sorted by scan and slice)."""
    first = flags["scan"].ne(flags["scan"].shift())
    out = {"scan": flags["scan"].drop_duplicates().tolist()}
    for cls in classes:
        on = flags[cls].to_numpy()
        prev = np.r_[False, on[:-1]] & ~first.to_numpy()
        starts = pd.Series(on & ~prev).groupby(flags["scan"].to_numpy(), sort=False).sum()
        out[f"runs_{cls}"] = starts.to_numpy().astype(int)
        out[f"slices_{cls}"] = pd.Series(on).groupby(flags["scan"].to_numpy(), sort=False).sum().to_numpy().astype(int)
    return pd.DataFrame(out)


def tables(s: Survey) -> dict[str, pd.DataFrame]:
    """The report's tables as DataFrames.

    Keys: ``overview`` (images, rows, cases, scans, segmented rows), ``scans`` (slices and
    organ runs per scan), ``slices_per_scan`` (how many scans have N slices), ``sizes``
    (image sizes and spacings; empty without images), ``classes`` (non-empty fraction,
    share of the segmented rows, area quantiles in pixels), ``runs`` (distribution of
    organ on/off runs per scan), ``bad_scans`` (known bad scans present).
    """
    lab, classes = s.labels, s.classes
    flags = lab[["scan", *classes]].copy()
    for cls in classes:
        flags[cls] = lab[f"area_{cls}"].to_numpy() > 0
    segmented = int(sum(flags[c].sum() for c in classes))
    n = len(lab)
    overview = pd.DataFrame(
        [
            ("images", n),
            ("rows (image x class)", n * len(classes)),
            ("segmented rows", segmented),
            ("images with any organ", int(flags[list(classes)].any(axis=1).sum())),
            ("cases", int(lab["case"].nunique())),
            ("scans (case-days)", int(lab["scan"].nunique())),
            ("bad rows left out", len(s.bad)),
        ],
        columns=["what", "count"],
    )
    rows = []
    for cls in classes:
        a = lab.loc[flags[cls].to_numpy(), f"area_{cls}"]
        q = a.quantile(list(_QUANTILES)).to_numpy() if len(a) else [math.nan] * len(_QUANTILES)
        rows.append({
            "class": cls,
            "non_empty_rows": int(len(a)),
            "non_empty": float(len(a) / n) if n else math.nan,
            "share_of_segmented": float(len(a) / segmented) if segmented else math.nan,
            **{f"area_q{int(p * 100)}": float(v) for p, v in zip(_QUANTILES, q)},
            "area_mean": float(a.mean()) if len(a) else math.nan,
        })
    class_table = pd.DataFrame(rows)
    per_scan = _runs(flags, classes)
    per_scan.insert(1, "slices", lab.groupby("scan", sort=False).size().to_numpy())
    slices_per_scan = per_scan["slices"].value_counts().rename_axis("slices").reset_index(name="scans")
    slices_per_scan = slices_per_scan.sort_values("slices").reset_index(drop=True)
    run_rows = []
    for cls in classes:
        r = per_scan[f"runs_{cls}"]
        run_rows.append({"class": cls, "scans_with_organ": int((r > 0).sum()), "mean_runs": float(r[r > 0].mean()) if (r > 0).any() else math.nan,
                         "max_runs": int(r.max()) if len(r) else 0,
                         "scans_with_gaps": int((r > 1).sum())})
    if s.images is not None and len(s.images):
        img = s.images
        cols = [c for c in ("height", "width", "spacing_h", "spacing_w") if c in img.columns]
        sizes = img.groupby(cols).size().rename("images").reset_index()
        sizes["share"] = sizes["images"] / sizes["images"].sum()
        sizes = sizes.sort_values("images", ascending=False).reset_index(drop=True)
    else:
        sizes = pd.DataFrame(columns=["height", "width", "images", "share"])
    present = sorted(set(BAD_SCANS) & set(lab["scan"]))
    bad_scans = pd.DataFrame({"scan": present, "images": [int((lab["scan"] == b).sum()) for b in present],
                              "why": ["listed in rlemask.uwmgi.BAD_SCANS (labels known to be wrong)"] * len(present)})
    return {"overview": overview, "classes": class_table, "scans": per_scan, "slices_per_scan": slices_per_scan,
            "sizes": sizes, "runs": pd.DataFrame(run_rows), "bad_scans": bad_scans}


def _markdown(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    if frame.empty:
        return "(none)\n"
    cols = list(frame.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        cells = [format(v, floatfmt) if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    from rlemask._io import atomic_open

    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def _figures(s: Survey, t: dict[str, pd.DataFrame], out: Path, samples: int) -> list[str]:
    """Write the PNG figures; returns their file names (matplotlib must be importable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rlemask._io import atomic_path

    names: list[str] = []

    def save(fig: Any, name: str) -> None:
        with atomic_path(out / name) as tmp:
            fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        names.append(name)

    classes, colours = s.classes, ("tab:orange", "tab:green", "tab:blue")
    ct = t["classes"]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(ct["class"], ct["non_empty"], color=colours[: len(classes)])
    ax.set_ylabel("non-empty fraction of images")
    save(fig, "classes.png")

    fig, axes = plt.subplots(1, len(classes), figsize=(4 * len(classes), 3), squeeze=False)
    for ax, cls, colour in zip(axes[0], classes, colours):
        a = s.labels.loc[s.labels[f"area_{cls}"] > 0, f"area_{cls}"]
        ax.hist(a, bins=40, color=colour)
        ax.set_title(cls)
        ax.set_xlabel("area (pixels)")
    save(fig, "areas.png")

    scans = s.labels["scan"].drop_duplicates().tolist()[:4]
    fig, axes = plt.subplots(len(scans), 1, figsize=(8, 0.9 * len(scans) + 0.6), squeeze=False)
    for ax, sc in zip(axes[:, 0], scans):
        part = s.labels[s.labels["scan"] == sc]
        grid = np.stack([part[f"area_{c}"].to_numpy() > 0 for c in classes])
        ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="Greys")
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_title(sc, fontsize=8)
    axes[-1, 0].set_xlabel("slice")
    save(fig, "strip.png")

    if s.images is not None and "path" in s.images.columns and samples > 0:
        from rlemask.rle import decode

        merged = s.labels.merge(s.images[["id", "path", "height", "width"]], on="id")
        total = merged[[f"area_{c}" for c in classes]].sum(axis=1)
        chosen = merged.loc[total.sort_values(ascending=False).index[: max(samples * 10, samples)]]
        chosen = chosen.iloc[:: max(1, len(chosen) // samples)].head(samples)
        if len(chosen):
            fig, axes = plt.subplots(len(chosen), 3, figsize=(9, 3 * len(chosen)), squeeze=False)
            for row, ax in zip(chosen.itertuples(), axes):
                image = uwmgi.read_slice(row.path, normalize="percentile")
                mask = np.stack([decode(getattr(row, c), (row.height, row.width)) for c in classes], axis=-1)
                rgb = np.zeros((*mask.shape[:2], 3), np.float32)
                for k in range(min(3, len(classes))):
                    rgb[..., k] = mask[..., k]
                ax[0].imshow(image, cmap="gray")
                ax[1].imshow(rgb)
                ax[2].imshow(image, cmap="gray")
                ax[2].imshow(rgb, alpha=0.4 * (mask.any(axis=-1)).astype(float))
                for a, title in zip(ax, ("original", "mask (R large, G small bowel, B stomach)", "overlay")):
                    a.set_title(f"{row.id}: {title}" if title == "original" else title, fontsize=7)
                    a.axis("off")
            save(fig, "samples.png")
    return names


def write_report(
    s: Survey, out: str | os.PathLike[str], *, figures: bool = True, samples: int = 3
) -> dict[str, Any]:
    """Write ``report.md``, ``stats.json`` and (with matplotlib) PNG figures to ``out``.

    Returns the statistics written to ``stats.json``; its ``figures`` entry lists the PNGs,
    or says how to get them when matplotlib is missing.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RlemaskError(f"out={str(out)!r} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    t = tables(s)
    note = ""
    names: list[str] = []
    if figures:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            note = "figures skipped: matplotlib is not installed (pip install matplotlib, then run again)"
        else:
            names = _figures(s, t, out, samples)
    else:
        note = "figures not requested"
    stats = {
        "source": s.source,
        "overview": dict(zip(t["overview"]["what"], t["overview"]["count"].astype(int).tolist())),
        "classes": json.loads(t["classes"].to_json(orient="records")),
        "slices_per_scan": dict(zip(t["slices_per_scan"]["slices"].astype(str), t["slices_per_scan"]["scans"].astype(int).tolist())),
        "sizes": json.loads(t["sizes"].to_json(orient="records")),
        "runs": json.loads(t["runs"].to_json(orient="records")),
        "bad_scans": t["bad_scans"]["scan"].tolist(),
        "bad_rows": [{"where": w, "reason": r} for w, r in s.bad],
        "figures": names if names else note,
    }
    md = [f"# Data report: {s.source}\n",
          "Masks are run-length strings (`start length` pairs, 1-based starts, pixels numbered row by row); "
          "an empty string is an empty mask. Areas are in pixels.\n",
          "## Overview\n", _markdown(t["overview"]),
          "## Classes\n", "`non_empty`: share of images where the class is labelled; `share_of_segmented`: "
          "share of the non-empty rows.\n", _markdown(t["classes"]),
          "## Slices per scan\n", _markdown(t["slices_per_scan"]),
          "## Image sizes and spacings\n",
          _markdown(t["sizes"]) if len(t["sizes"]) else "(unknown: no image folder; pass --images)\n",
          "## Organ on/off runs per scan\n", "A run is a block of consecutive slices with the organ labelled.\n",
          _markdown(t["runs"]),
          "## Known bad scans\n", _markdown(t["bad_scans"])]
    if s.bad:
        md += ["## Rows left out\n", _markdown(pd.DataFrame(s.bad, columns=["where", "reason"]).head(50))]
    md.append("## Figures\n")
    md += [f"![{n}]({n})\n" for n in names] if names else [note + "\n"]
    _write_text(out / "stats.json", json.dumps(stats, indent=2, allow_nan=True) + "\n")
    _write_text(out / "report.md", "\n".join(md))
    return stats
