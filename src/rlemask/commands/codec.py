"""``rlemask decode`` and ``rlemask encode``: run-length strings <-> mask files.

Heavy imports (pandas, Pillow, tqdm) happen inside the command functions.
Every file is written atomically: to a temporary file in the destination
folder, then renamed over the target with :func:`os.replace`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import IO

from rlemask._io import write_atomic

__all__ = ["register", "run_decode", "run_encode"]

#: class order of the channels of the mask files (rlemask.uwmgi.CLASSES)
DEFAULT_CLASSES = ("large_bowel", "small_bowel", "stomach")

DECODE_EPILOG = """\
examples:
  rlemask decode "28094 3 28358 7" --shape 266x266 -o mask.png
  rlemask decode "28094 3 28358 7" --shape 266x266 -o mask.npy
  rlemask decode train.csv --shape 266x266 --out masks/
  rlemask decode train.csv --images ROOT --out masks/
  rlemask decode submission.csv --images image_index.csv --out masks/ --format npz

INPUT is one run-length string ("start length ...", 1-based starts, pixels
numbered row by row unless --order F) or a CSV file in the competition's long
format: id,class,segmentation (train.csv) or id,class,predicted (submission).

One string: -o FILE, a .png (0 = background, 255 = mask) or a .npy (0/1 uint8).

A CSV: one file per image id in --out DIR, named ID.png or ID.npz. Classes are
channels, in the order large_bowel, small_bowel, stomach (the R, G, B channels
of the PNG, 0 or 255; the last axis of the (height, width, 3) uint8 array
'mask' of the .npz, 0 or 1). A class without a row is an empty channel.
Image sizes come from --shape HxW (all the same), --images ROOT (each image's
own size, read from the UWMGI file names under ROOT/train), --images CSV (a
table with id,height,width such as image_index.csv), or height,width columns
in the input itself. Rows that fail (bad run-length string, unknown class or
id, no size, a negative size or one over 2**31 pixels) are reported on stderr
with their CSV line number; the images they belong to are not written, every
other image is, and the exit code is 1.

exit codes: 0 success, 1 some rows failed, 2 usage error.
"""

ENCODE_EPILOG = """\
examples:
  rlemask encode masks/ -o train_rle.csv
  rlemask encode masks/ -o pred.csv --column predicted
  rlemask encode one_mask_dir/ -o out.csv --classes organ

Reads every ID.png, ID.npz and ID.npy in the folder (the files 'rlemask
decode' writes) and writes id,class,segmentation rows, three per image, in
image order (case, day, slice for UWMGI ids, else by name). Channels are the
classes in the order large_bowel, small_bowel, stomach (or --classes); any
non-zero pixel is part of the mask. An .npz holds its mask in the array 'mask'
(or its only array), shape (height, width, channels) or (height, width) for
one class. Files that cannot be read are reported on stderr, the rest are
written, and the exit code is 1; when no file can be read, nothing is written
(an existing output file is left as it was).

exit codes: 0 success, 1 some files failed, 2 usage error.
"""

#: largest mask (height * width pixels) decoded from a CSV; a bigger size is a bad row
MAX_PIXELS = 2**31

_SHAPE_RE = re.compile(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*")
_RLE_RE = re.compile(r"[\d\s]*")


def _shape(text: str) -> tuple[int, int]:
    m = _SHAPE_RE.fullmatch(text)
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not HEIGHTxWIDTH (e.g. 266x266)")
    return int(m[1]), int(m[2])


def _classes(text: str) -> tuple[str, ...]:
    names = tuple(c.strip() for c in text.split(",") if c.strip())
    if not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of distinct class names")
    return names


def register(subparsers) -> None:
    """Add the ``decode`` and ``encode`` sub-commands."""
    d = subparsers.add_parser(
        "decode",
        help="decode run-length strings (one, or a train.csv) to mask images",
        description="Decode a run-length string, or a whole train.csv / submission, to mask files.",
        epilog=DECODE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("input", metavar="INPUT", help="a run-length string, or a CSV file")
    d.add_argument("--shape", type=_shape, default=None, help="HEIGHTxWIDTH of every mask, e.g. 266x266")
    d.add_argument("--images", default=None, help="UWMGI image root, or a CSV with id,height,width (per-image sizes)")
    d.add_argument("-o", "--out", default=None, help="output file (.png or .npy) for one string; output folder for a CSV")
    d.add_argument("--format", choices=("png", "npz"), default="png", help="file type per image for a CSV (default png)")
    d.add_argument("--order", choices=("C", "F"), default="C", help="pixel order: C row by row (default, UWMGI), F column by column")
    d.add_argument("--loose", action="store_true", help="accept unsorted / overlapping runs (their union)")
    d.add_argument(
        "--classes",
        type=_classes,
        default=DEFAULT_CLASSES,
        help="channel order, comma-separated (default large_bowel,small_bowel,stomach)",
    )
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=run_decode)

    e = subparsers.add_parser(
        "encode",
        help="encode a folder of mask files to an id,class,segmentation CSV",
        description="Encode the mask files of a folder (ID.png / ID.npz / ID.npy) to a train.csv-like CSV.",
        epilog=ENCODE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("input", metavar="DIR", help="folder of mask files")
    e.add_argument("-o", "--out", required=True, help="output CSV file")
    e.add_argument("--order", choices=("C", "F"), default="C", help="pixel order: C row by row (default, UWMGI), F column by column")
    e.add_argument(
        "--classes",
        type=_classes,
        default=DEFAULT_CLASSES,
        help="channel order, comma-separated (default large_bowel,small_bowel,stomach)",
    )
    e.add_argument("--column", default="segmentation", help="name of the RLE column (default segmentation; 'predicted' for a submission)")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=run_encode)


# ----------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------


def _usage(command: str, message: str) -> int:
    print(f"rlemask {command}: error: {message}", file=sys.stderr)
    return 2


def _fail(command: str, message: str) -> None:
    print(f"rlemask {command}: {message}", file=sys.stderr)


def _png(array, f: IO[bytes]) -> None:
    from PIL import Image

    Image.fromarray(array).save(f, format="PNG")


def _progress(iterable, total: int, quiet: bool, desc: str):
    if quiet or total < 200:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="img", file=sys.stderr, disable=None)


# ----------------------------------------------------------------------------------
# decode
# ----------------------------------------------------------------------------------


def run_decode(args: argparse.Namespace) -> int:
    """``rlemask decode``; returns the exit code."""
    source = args.input
    is_file = source.lower().endswith(".csv") or (os.path.isfile(source) and not _RLE_RE.fullmatch(source))
    if is_file:
        if not os.path.isfile(source):
            return _usage("decode", f"input file {source!r} not found")
        return _decode_csv(args)
    if not _RLE_RE.fullmatch(source):
        return _usage(
            "decode",
            f"INPUT {source[:60]!r} is neither an existing CSV file nor a run-length string "
            "(digits and whitespace)",
        )
    return _decode_one(args)


def _decode_one(args: argparse.Namespace) -> int:
    import numpy as np

    from rlemask.errors import RlemaskError
    from rlemask.rle import decode

    if args.shape is None:
        return _usage("decode", "--shape HEIGHTxWIDTH is needed to decode one string")
    if args.images is not None:
        return _usage("decode", "--images is for CSV input; give --shape for one string")
    if args.out is None:
        return _usage("decode", "-o FILE (.png or .npy) is needed to decode one string")
    out = Path(args.out)
    suffix = out.suffix.lower()
    if suffix not in (".png", ".npy"):
        return _usage("decode", f"-o {args.out!r}: expected a .png or .npy file name")
    if not out.parent.is_dir():
        return _usage("decode", f"-o {args.out!r}: folder {str(out.parent)!r} does not exist")
    try:
        mask = decode(args.input, args.shape, order=args.order, strict=not args.loose)
    except RlemaskError as exc:
        _fail("decode", f"INPUT: {exc}; nothing written")
        return 1
    if suffix == ".png":
        write_atomic(out, lambda f: _png(mask * np.uint8(255), f))
    else:
        write_atomic(out, lambda f: np.save(f, np.ascontiguousarray(mask)))
    return 0


def _size_problem(h: int, w: int) -> str | None:
    """Why ``(h, w)`` is not a usable mask size, or None."""
    if h < 0 or w < 0:
        return f"height={h}, width={w} is a negative size; expected non-negative ints"
    if h * w > MAX_PIXELS:
        return f"height={h}, width={w} is {h * w} pixels, more than the {MAX_PIXELS} allowed; check the size"
    return None


def _read_rows(path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the ``(line number, fields)`` records of a CSV file; blank lines are skipped.

    A record's line number is the line it starts on (a quoted field may span lines).
    """
    import csv

    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        line = 1
        for fields in reader:
            start, line = line, reader.line_num + 1
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if header is None:
                header = fields
            else:
                records.append((start, fields))
    if header is None:
        raise ValueError("the file is empty; expected a header line")
    return header, records


def _image_sizes(images: str) -> dict[str, tuple[int, int]]:
    """id -> (height, width) from an image root (scanned) or a CSV with id,height,width."""
    import pandas as pd

    from rlemask.errors import LayoutError

    if os.path.isfile(images):
        table = pd.read_csv(images, dtype={"id": str})
        absent = [c for c in ("id", "height", "width") if c not in table.columns]
        if absent:
            raise LayoutError(f"--images {images!r} has no column(s) {absent}; expected id,height,width")
    else:
        from rlemask.uwmgi import scan

        table = scan(images)
    return {
        i: (int(h), int(w))
        for i, h, w in zip(table["id"].tolist(), table["height"].tolist(), table["width"].tolist())
    }


def _decode_csv(args: argparse.Namespace) -> int:
    import csv

    import numpy as np

    from rlemask.errors import RlemaskError
    from rlemask.rle import decode

    if args.out is None:
        return _usage("decode", "--out DIR is needed to decode a CSV file")
    if args.shape is not None and args.images is not None:
        return _usage("decode", "give either --shape or --images, not both")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        return _usage("decode", f"--out {args.out!r} exists and is not a folder")
    if args.shape is not None and _size_problem(*args.shape):
        return _usage("decode", f"--shape {args.shape[0]}x{args.shape[1]}: {_size_problem(*args.shape)}")
    try:
        columns, records = _read_rows(args.input)
    except (OSError, ValueError, csv.Error) as exc:
        return _usage("decode", f"cannot read {args.input!r} as CSV: {exc}")
    value_col = next((c for c in ("segmentation", "predicted") if c in columns), None)
    if "id" not in columns or "class" not in columns or value_col is None:
        return _usage(
            "decode",
            f"{args.input!r} has columns {columns}; expected id,class,segmentation "
            "(train.csv) or id,class,predicted (submission)",
        )
    has_size = "height" in columns and "width" in columns
    if args.shape is None and args.images is None and not has_size:
        return _usage(
            "decode",
            "no image size: give --shape HxW, --images ROOT (or a CSV with id,height,width), "
            "or height,width columns in the input",
        )
    sizes: dict[str, tuple[int, int]] = {}
    if args.images is not None:
        try:
            sizes = _image_sizes(args.images)
        except (RlemaskError, OSError, ValueError) as exc:
            return _usage("decode", f"cannot read image sizes from --images {args.images!r}: {exc}")
    classes = tuple(args.classes)
    class_index = {c: k for k, c in enumerate(classes)}

    # group rows by image, keeping the order of first appearance; line = CSV line number
    rows: dict[str, list[tuple[int, int, str]]] = {}
    bad_images: dict[str, int] = {}
    failures = 0

    def bad(line: int, image_id: str, message: str) -> None:
        nonlocal failures
        failures += 1
        _fail("decode", f"{args.input}:{line}: id={image_id!r}: {message}")
        bad_images.setdefault(image_id, line)

    at = {c: columns.index(c) for c in ("id", "class", value_col, "height", "width") if c in columns}
    row_size: dict[str, tuple[int, int]] = {}
    seen: set[tuple[str, str]] = set()
    for line, fields in records:
        image_id = fields[at["id"]] if at["id"] < len(fields) else ""
        if len(fields) > len(columns):
            bad(line, image_id, f"{len(fields)} fields; expected at most {len(columns)} ({','.join(columns)})")
            continue
        fields = fields + [""] * (len(columns) - len(fields))  # missing trailing fields are empty
        name = fields[at["class"]].strip()
        text = fields[at[value_col]]
        if not image_id or "/" in image_id or "\\" in image_id or image_id.startswith("."):
            bad(line, image_id, "not a usable image id (empty, or a path)")
            continue
        if name not in class_index:
            bad(line, image_id, f"unknown class {name!r}; expected one of {list(classes)}")
            continue
        if (image_id, name) in seen:
            bad(line, image_id, f"second row for class {name!r}")
            continue
        seen.add((image_id, name))
        if has_size and args.shape is None and args.images is None:
            height, width = fields[at["height"]], fields[at["width"]]
            try:
                size = (int(height), int(width))
            except ValueError:
                bad(line, image_id, f"height={height!r}, width={width!r} are not ints")
                continue
            problem = _size_problem(*size)
            if problem:
                bad(line, image_id, problem)
                continue
            row_size.setdefault(image_id, size)
        rows.setdefault(image_id, []).append((line, class_index[name], text))

    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for image_id, items in _progress(rows.items(), len(rows), args.quiet, "decode"):
        if image_id in bad_images:
            continue
        if args.shape is not None:
            shape = args.shape
        elif args.images is not None:
            if image_id not in sizes:
                bad(items[0][0], image_id, f"no image with this id under --images {args.images!r}")
                continue
            shape = sizes[image_id]
            problem = _size_problem(*shape)
            if problem:
                bad(items[0][0], image_id, f"--images {args.images!r}: {problem}")
                continue
        else:
            shape = row_size[image_id]
        if args.format == "png" and len(classes) not in (1, 3, 4):
            return _usage("decode", f"a PNG holds 1, 3 or 4 channels, not {len(classes)}; use --format npz")
        try:
            stack = np.zeros((len(classes), *shape), np.uint8)
            ok = True
            for line, k, text in items:
                try:
                    decode(text, shape, order=args.order, strict=not args.loose, out=stack[k])
                except RlemaskError as exc:
                    bad(line, image_id, f"class {classes[k]!r}: {exc}")
                    ok = False
            if not ok:
                continue
            mask = np.ascontiguousarray(np.moveaxis(stack, 0, -1))
            if args.format == "png":
                image = mask[:, :, 0] if len(classes) == 1 else mask
                write_atomic(out_dir / f"{image_id}.png", lambda f, a=image: _png(a * np.uint8(255), f))
            else:
                write_atomic(
                    out_dir / f"{image_id}.npz",
                    lambda f, a=mask: np.savez_compressed(f, mask=a, classes=np.array(classes)),
                )
        except MemoryError:
            bad(items[0][0], image_id, f"not enough memory for a mask of shape={shape} with {len(classes)} class(es)")
            continue
        written += 1
    if failures:
        _fail(
            "decode",
            f"{failures} row(s) failed; {len(bad_images)} image(s) not written, {written} written to {str(out_dir)!r}",
        )
        return 1
    return 0


# ----------------------------------------------------------------------------------
# encode
# ----------------------------------------------------------------------------------

_UWMGI_ID = re.compile(r"case(\d+)_day(\d+)_slice_(\d+)")


def _sort_key(name: str):
    m = _UWMGI_ID.fullmatch(name)
    if m:
        return (0, int(m[1]), int(m[2]), int(m[3]), name)
    return (1, 0, 0, 0, name)


def _read_mask(path: Path):
    """A (height, width, channels) 0/1 uint8 array from a mask file."""
    import numpy as np

    suffix = path.suffix.lower()
    if suffix == ".png":
        from PIL import Image

        with Image.open(path) as im:
            if im.mode == "P":
                im = im.convert("L")
            array = np.asarray(im)
    elif suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    else:
        with np.load(path, allow_pickle=False) as z:
            if "mask" in z.files:
                array = z["mask"]
            elif len(z.files) == 1:
                array = z[z.files[0]]
            else:
                raise ValueError(f"holds arrays {z.files} but none named 'mask'")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"has shape {array.shape}; expected (height, width) or (height, width, channels)")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"has dtype {array.dtype}; expected numbers or bool")
    return (array != 0).view(np.uint8)


def run_encode(args: argparse.Namespace) -> int:
    """``rlemask encode``; returns the exit code."""
    import numpy as np

    from rlemask.rle import encode_many

    folder = Path(args.input)
    if not folder.is_dir():
        return _usage("encode", f"{args.input!r} is not a folder")
    out = Path(args.out)
    if not out.parent.is_dir():
        return _usage("encode", f"-o {args.out!r}: folder {str(out.parent)!r} does not exist")
    files: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.suffix.lower() in (".png", ".npz", ".npy") and entry.is_file() and not entry.name.startswith("."):
            if entry.stem in files:
                _fail("encode", f"{entry}: skipped, {files[entry.stem].name} has the same id")
                continue
            files[entry.stem] = entry
    if not files:
        return _usage("encode", f"no .png, .npz or .npy mask files in {args.input!r}")
    classes = tuple(args.classes)
    lines = [f"id,class,{args.column}\n"]
    failures = 0
    names = sorted(files, key=_sort_key)
    for image_id in _progress(names, len(names), args.quiet, "encode"):
        path = files[image_id]
        try:
            mask = _read_mask(path)
            if mask.shape[2] != len(classes):
                if mask.shape[2] == 4 and len(classes) == 3 and path.suffix.lower() == ".png":
                    mask = mask[:, :, :3]  # RGBA PNG: the alpha channel is not a class
                else:
                    raise ValueError(
                        f"has {mask.shape[2]} channel(s); expected {len(classes)} ({', '.join(classes)}); "
                        "see --classes"
                    )
            texts = encode_many(np.moveaxis(mask, -1, 0), order=args.order)
        except Exception as exc:  # unreadable image, bad array: report and go on
            failures += 1
            _fail("encode", f"{path}: {exc}")
            continue
        quoted = image_id if re.fullmatch(r"[\w.\-]+", image_id) else '"' + image_id.replace('"', '""') + '"'
        for name, text in zip(classes, texts):
            lines.append(f"{quoted},{name},{text}\n")
    if failures == len(names):
        _fail("encode", f"all {failures} file(s) failed; nothing encoded, {str(out)!r} not written")
        return 1
    data = "".join(lines).encode("utf-8")
    write_atomic(out, lambda f: f.write(data))
    if failures:
        _fail("encode", f"{failures} file(s) failed; {len(names) - failures} encoded to {str(out)!r}")
        return 1
    return 0
