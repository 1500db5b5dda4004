"""``rlemask decode`` and ``rlemask encode``: run-length strings <-> mask files.

Heavy imports (numpy, pandas, Pillow, tqdm) happen inside the command functions.
Every file is written with :mod:`rlemask._io` (temporary file, fsync, rename), so
a failed row, Ctrl-C or ``kill -9`` never leaves a half-written mask. One bad row
or file never stops the others: it is named on stderr and the exit code is 1.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
from pathlib import Path
from typing import IO

from rlemask.commands import (
    UsageError,
    add_quiet,
    default_max_memory,
    escape_formula,
    format_size,
    parse_size,
    read_input,
    report,
    usage,
)

__all__ = ["register", "run_decode", "run_encode"]

_CLASS_HELP = "channel order, comma-separated (default: large_bowel,small_bowel,stomach, rlemask.uwmgi.CLASSES)"

DECODE_EPILOG = """\
examples:
  rlemask decode "28094 3 28358 7" --shape 266x266 -o mask.png
  rlemask decode "28094 3 28358 7" --shape 266x266 -o mask.npy
  rlemask decode "28094 3 28358 7" --shape 266x266 -o - --format text | head
  rlemask decode train.csv --shape 266x266 --out masks/
  rlemask decode train.csv --images ROOT --out masks/
  rlemask decode submission.csv --images image_index.csv --out masks/ --format npz
  cat train.csv | rlemask decode - --images ROOT --out masks/

INPUT is one run-length string ("start length ...", 1-based starts, pixels
numbered row by row unless --order F), a CSV file in the competition's long
format: id,class,segmentation (train.csv) or id,class,predicted (submission),
or '-': standard input, holding either of them.

One string: -o FILE, a .png (0 = background, 255 = mask), a .npy (0/1 uint8),
a .npz (array 'mask') or a .txt (a text grid of 0 and 1, one line per row);
--format overrides the suffix. -o - writes to standard output (a text grid
unless --format says otherwise; binary formats are not written to a terminal).

A CSV: one file per image id in --out DIR, named ID.png, ID.npz or ID.npy.
Classes are channels, in the order large_bowel, small_bowel, stomach (the R,
G, B channels of the PNG, 0 or 255; the last axis of the (height, width, 3)
uint8 array 'mask' of the .npz or of the .npy, 0 or 1). A class without a row
is an empty channel. Image sizes come from --shape HxW (all the same), --images
ROOT (each image's own size, read from the UWMGI file names under ROOT/train),
--images CSV (a table with id,height,width such as image_index.csv), or
height,width columns in the input itself.

Rows that fail are reported on stderr with their CSV line number and the
reason (bad run-length string, unknown class, duplicate row, an id that
cannot be a file name: empty, with '/', '\\' or NUL, starting with '.', too
long; no size, a negative size, a size over --max-memory, an empty image as
PNG, a file that cannot be written); the images they belong to are not
written, every other image is, and the exit code is 1.

Memory: before each image is allocated, every buffer on its way to the file
(classes x height x width, plus Pillow's 4 bytes per pixel for a PNG) is
added up and compared with --max-memory; a bigger image is a failed row, not
a crash. Ids are used as file names as they are.

exit codes: 0 success, 1 some rows failed, 2 usage or whole-input error.
"""

ENCODE_EPILOG = """\
examples:
  rlemask encode masks/ -o train_rle.csv
  rlemask encode masks/ -o pred.csv --column predicted
  rlemask encode one_mask_dir/ -o out.csv --classes organ
  rlemask encode masks/ -o - | head

Reads every ID.png, ID.npz and ID.npy in the folder (the files 'rlemask
decode' writes; hidden files are skipped) and writes id,class,segmentation
rows, one per class, in image order (case, day, slice for UWMGI ids, else by
name). Channels are the classes in the order large_bowel, small_bowel,
stomach (or --classes); any non-zero pixel is part of the mask. An .npz holds
its mask in the array 'mask' (or its only array), shape (height, width,
channels) or (height, width) for one class. -o - writes the CSV to standard
output.

Files that fail are reported on stderr, the rest are written, and the exit
code is 1: unreadable files, wrong shapes or channels, a file name that is not
UTF-8, two files with the same id (ID.png next to ID.npy: neither is encoded,
never a silent choice), and files whose buffers would pass --max-memory (the
array header of a .npy / .npz and the size of a PNG are read before the data).
When no file can be encoded, nothing is written (an existing output file is
left as it was).

Ids are written as they are, even when they start with =, +, - or @ (a
spreadsheet would read such a cell as a formula): ids are data, and Kaggle
matches them byte for byte. --escape-formulas puts a ' in front of such
cells for a CSV meant for a spreadsheet.

exit codes: 0 success, 1 some files failed, 2 usage or whole-input error.
"""

_SHAPE_RE = re.compile(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*")
_RLE_RE = re.compile(r"[\d\s]*")
#: file errors after which no further file can be written: stop instead of failing every row
_FATAL_ERRNO = {errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)}
#: bytes per pixel of a multi-band image inside Pillow (RGB is stored as 4 bytes)
_PILLOW_BYTES = 4
_SUFFIX = {"png": ".png", "npy": ".npy", "npz": ".npz", "text": ".txt"}
_FORMAT_OF = {v: k for k, v in _SUFFIX.items()}


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


def _dialect_options(p: argparse.ArgumentParser) -> None:
    """``--base`` and ``--relative``: the run-length dialect (docs/format.md)."""
    p.add_argument("--base", type=int, choices=(0, 1), default=1, help="number of the first pixel in a start (default: 1, Kaggle)")
    p.add_argument(
        "--relative", action="store_true", help="each start counts from the end of the previous run (SIIM-ACR style)"
    )


def _memory_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-memory",
        type=parse_size,
        default=None,
        metavar="SIZE",
        help="largest total of the buffers of one image, e.g. 2G or 512M "
        f"(default: half the RAM, at most 8G; here {format_size(default_max_memory())})",
    )


def register(subparsers) -> None:
    """Add the ``decode`` and ``encode`` sub-commands."""
    from rlemask.commands import HelpFormatter

    d = subparsers.add_parser(
        "decode",
        help="decode run-length strings (one, or a train.csv) to mask images",
        description="Decode a run-length string, or a whole train.csv / submission, to mask files.",
        epilog=DECODE_EPILOG,
        formatter_class=HelpFormatter,
    )
    d.add_argument("input", metavar="INPUT", help="a run-length string, a CSV file, or - (standard input)")
    d.add_argument("--shape", type=_shape, default=None, help="HEIGHTxWIDTH of every mask, e.g. 266x266")
    d.add_argument("--images", default=None, help="UWMGI image root, or a CSV with id,height,width (per-image sizes)")
    d.add_argument(
        "-o", "--out", default=None, help="one string: output file (.png, .npy, .npz, .txt) or - ; a CSV: output folder"
    )
    d.add_argument(
        "--format",
        choices=("png", "npy", "npz", "text"),
        default=None,
        help="file type: one string, from the -o suffix (text for -o -); a CSV, png (default), npz or npy per image",
    )
    d.add_argument("--order", choices=("C", "F"), default="C", help="pixel order: C row by row (default, UWMGI), F column by column")
    d.add_argument("--loose", action="store_true", help="accept unsorted / overlapping runs (their union)")
    _dialect_options(d)
    d.add_argument("--classes", type=_classes, default=None, help=_CLASS_HELP)
    _memory_option(d)
    add_quiet(d, "no progress bar")
    d.set_defaults(func=run_decode)

    e = subparsers.add_parser(
        "encode",
        help="encode a folder of mask files to an id,class,segmentation CSV",
        description="Encode the mask files of a folder (ID.png / ID.npz / ID.npy) to a train.csv-like CSV.",
        epilog=ENCODE_EPILOG,
        formatter_class=HelpFormatter,
    )
    e.add_argument("input", metavar="DIR", help="folder of mask files")
    e.add_argument("-o", "--out", required=True, help="output CSV file, or - (standard output)")
    e.add_argument("--order", choices=("C", "F"), default="C", help="pixel order: C row by row (default, UWMGI), F column by column")
    _dialect_options(e)
    e.add_argument("--classes", type=_classes, default=None, help=_CLASS_HELP)
    e.add_argument(
        "--column",
        default="segmentation",
        help="name of the RLE column (default: segmentation; 'predicted' for a submission)",
    )
    e.add_argument(
        "--escape-formulas",
        action="store_true",
        help="put a ' before ids and classes starting with =, +, -, @ (for spreadsheets; Kaggle wants them verbatim)",
    )
    _memory_option(e)
    add_quiet(e, "no progress bar")
    e.set_defaults(func=run_encode)


# ----------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------


def _progress(iterable, total: int, quiet: bool, desc: str):
    if quiet or total < 200:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="img", file=sys.stderr, disable=None)


def _budget(args: argparse.Namespace) -> int:
    return args.max_memory if args.max_memory is not None else default_max_memory()


def _over_budget(needed: int, budget: int, what: str) -> str | None:
    """The failure message when ``needed`` bytes pass the budget, else None."""
    if needed <= budget:
        return None
    return (
        f"{what} needs {format_size(needed)} of buffers, more than --max-memory {format_size(budget)}; "
        "raise --max-memory if the machine has the memory"
    )


def _describe(exc: BaseException) -> str:
    """An exception as a short reason for one failed row or file."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename!r}" if exc.filename and not isinstance(exc.filename, int) else ""
        return f"{exc.strerror}{where}"
    if isinstance(exc, MemoryError):
        return "out of memory" + (f": {exc}" if str(exc) else "")
    if isinstance(exc, (ValueError, OSError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _fatal(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _FATAL_ERRNO


def _save_png(array, f: IO[bytes]) -> None:
    """Write a (H, W) or channels-first (C, H, W) uint8 array of 0/255 as a PNG (C = 3: RGB, 4: RGBA)."""
    from PIL import Image

    if array.ndim == 2:
        image = Image.fromarray(array)
    else:  # one L image per channel (shares the array's memory), merged by Pillow
        mode = {3: "RGB", 4: "RGBA"}[array.shape[0]]
        image = Image.merge(mode, [Image.fromarray(band) for band in array])
    image.save(f, format="PNG")


def _save_text(mask, f: IO[bytes]) -> None:
    """A (H, W) 0/1 mask as lines of '0' and '1', written row by row."""
    import numpy as np

    digits = np.uint8(ord("0"))
    for row in mask:
        f.write((row + digits).tobytes() + b"\n")


def _save_one(fmt: str, f: IO[bytes], mask) -> None:
    """Write one decoded (H, W) 0/1 uint8 mask in ``fmt``."""
    import numpy as np

    if fmt == "png":
        mask *= np.uint8(255)  # in place: no new buffer
        _save_png(mask, f)
    elif fmt == "text":
        _save_text(mask, f)
    elif fmt == "npy":
        np.save(f, mask)
    else:
        np.savez_compressed(f, mask=mask)


# ----------------------------------------------------------------------------------
# decode
# ----------------------------------------------------------------------------------


def run_decode(args: argparse.Namespace) -> int:
    """``rlemask decode``; returns the exit code."""
    source = args.input
    if source == "-":
        text = read_input("-", "INPUT", allow_nul=True)
        if _RLE_RE.fullmatch(text):
            return _decode_one(args, " ".join(text.split()))
        return _decode_csv(args, text, "<stdin>")
    is_file = source.lower().endswith(".csv") or (os.path.isfile(source) and not _RLE_RE.fullmatch(source))
    if is_file:
        if not os.path.isfile(source):
            return usage("decode", f"input file {source!r} not found")
        return _decode_csv(args, read_input(source, "INPUT", allow_nul=True), source)
    if not _RLE_RE.fullmatch(source):
        return usage(
            "decode",
            f"INPUT {source[:60]!r} is neither an existing CSV file nor a run-length string (digits and whitespace)",
        )
    return _decode_one(args, source)


def _one_format(args: argparse.Namespace) -> str:
    """The output format of one decoded string (UsageError when it cannot be chosen)."""
    out = args.out
    if out == "-":
        fmt = args.format or "text"
        if fmt != "text" and sys.stdout.isatty():
            raise UsageError(f"--format {fmt} is binary and standard output is a terminal; redirect it or use --format text")
        return fmt
    suffix = Path(out).suffix.lower()
    if args.format is not None:
        return args.format
    if suffix not in _FORMAT_OF:
        raise UsageError(f"-o {out!r}: expected a .png, .npy, .npz or .txt file name, or --format")
    return _FORMAT_OF[suffix]


def _decode_one(args: argparse.Namespace, text: str) -> int:
    from rlemask._io import open_output
    from rlemask.errors import RlemaskError
    from rlemask.rle import decode

    if args.shape is None:
        return usage("decode", "--shape HEIGHTxWIDTH is needed to decode one string")
    if args.images is not None:
        return usage("decode", "--images is for CSV input; give --shape for one string")
    if args.out is None:
        return usage("decode", "-o FILE (.png, .npy, .npz, .txt) or -o - is needed to decode one string")
    fmt = _one_format(args)
    out = args.out
    if out != "-" and not Path(out).parent.is_dir():
        return usage("decode", f"-o {out!r}: folder {str(Path(out).parent)!r} does not exist")
    h, w = args.shape
    if fmt == "png" and h * w == 0:
        return usage("decode", f"--shape {h}x{w} is an empty image, which a PNG cannot hold; use .npy, .npz or text")
    problem = _over_budget(h * w * (2 if fmt == "png" else 1), _budget(args), f"--shape {h}x{w}")
    if problem:
        return usage("decode", problem)
    try:
        mask = decode(text, args.shape, order=args.order, strict=not args.loose, base=args.base, relative=args.relative)
    except RlemaskError as exc:
        report("decode", f"INPUT: {exc}; nothing written")
        return 1
    with open_output(out, "wb") as f:
        _save_one(fmt, f, mask)
    return 0


def _size_problem(h: int, w: int) -> str | None:
    """Why ``(h, w)`` is not a usable mask size, or None."""
    if h < 0 or w < 0:
        return f"height={h}, width={w} is a negative size; expected non-negative ints"
    return None


def _read_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the ``(line number, fields)`` records of CSV text; blank lines are skipped.

    A record's line number is the line it starts on (a quoted field may span lines).
    """
    import csv
    import io

    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
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
    from rlemask.commands import read_csv_frame
    from rlemask.errors import LayoutError

    if images == "-" or os.path.isfile(images):
        table = read_csv_frame(images, "--images")
        absent = [c for c in ("id", "height", "width") if c not in table.columns]
        if absent:
            raise LayoutError(f"--images {images!r} has no column(s) {absent}; expected id,height,width")
    else:
        from rlemask.uwmgi import scan

        table = scan(images)
    sizes = {}
    for i, h, w in zip(table["id"].tolist(), table["height"].tolist(), table["width"].tolist()):
        try:
            sizes[str(i)] = (int(h), int(w))
        except ValueError:
            raise LayoutError(f"--images {images!r}: id={i!r} has height={h!r}, width={w!r}; expected ints") from None
    return sizes


def _id_problem(image_id: str, suffix: str, limit: int) -> str | None:
    """Why ``image_id`` cannot name an output file, or None."""
    if not image_id:
        return "empty id; expected a name for the output file"
    if "\0" in image_id:
        return "the id holds a NUL character, which no file name can hold"
    if "/" in image_id or "\\" in image_id:
        return "the id holds a path separator ('/' or '\\'); expected a plain file name"
    if image_id.startswith("."):
        return "the id starts with '.' (a hidden file, '.' or '..'); expected a plain file name"
    try:
        size = len(os.fsencode(image_id + suffix))
    except UnicodeEncodeError as exc:
        return f"the id cannot be encoded as a file name ({exc.reason})"
    if size > limit:
        return f"the file name {image_id[:24]!r}...{suffix} is {size} bytes, more than the {limit} the file system allows"
    return None


def _decode_csv(args: argparse.Namespace, text: str, name: str) -> int:
    import csv

    import numpy as np

    from rlemask._io import name_max, write_atomic
    from rlemask.errors import RlemaskError
    from rlemask.rle import decode
    from rlemask.uwmgi import CLASSES

    if args.out is None:
        return usage("decode", "--out DIR is needed to decode a CSV file")
    if args.out == "-":
        return usage("decode", "-o - writes one decoded string; a CSV decodes to one file per image: give --out DIR")
    if args.shape is not None and args.images is not None:
        return usage("decode", "give either --shape or --images, not both")
    fmt = args.format or "png"
    if fmt == "text":
        return usage("decode", "--format text is for one string; a CSV decodes to png, npz or npy files")
    classes = tuple(args.classes or CLASSES)
    if fmt == "png" and len(classes) not in (1, 3, 4):
        return usage("decode", f"a PNG holds 1, 3 or 4 channels, not {len(classes)}; use --format npz")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        return usage("decode", f"--out {args.out!r} exists and is not a folder")
    if args.shape is not None and _size_problem(*args.shape):
        return usage("decode", f"--shape {args.shape[0]}x{args.shape[1]}: {_size_problem(*args.shape)}")
    budget = _budget(args)
    per_pixel = len(classes) + ((_PILLOW_BYTES if len(classes) > 1 else 1) if fmt == "png" else 0)
    if args.shape is not None:
        problem = _over_budget(args.shape[0] * args.shape[1] * per_pixel, budget, f"--shape {args.shape[0]}x{args.shape[1]}")
        if problem:
            return usage("decode", f"{problem} (one image, {len(classes)} class(es), {fmt})")
    try:
        columns, records = _read_rows(text)
    except (ValueError, csv.Error) as exc:
        return usage("decode", f"cannot read {name!r} as CSV: {exc}")
    value_col = next((c for c in ("segmentation", "predicted") if c in columns), None)
    if "id" not in columns or "class" not in columns or value_col is None:
        return usage(
            "decode",
            f"{name!r} has columns {columns}; expected id,class,segmentation (train.csv) or id,class,predicted (submission)",
        )
    has_size = "height" in columns and "width" in columns
    if args.shape is None and args.images is None and not has_size:
        return usage(
            "decode",
            "no image size: give --shape HxW, --images ROOT (or a CSV with id,height,width), "
            "or height,width columns in the input",
        )
    sizes: dict[str, tuple[int, int]] = {}
    if args.images is not None:
        if args.images == "-" and args.input == "-":
            return usage("decode", "INPUT and --images cannot both be standard input")
        try:
            sizes = _image_sizes(args.images)
        except (RlemaskError, OSError, ValueError) as exc:
            return usage("decode", f"cannot read image sizes from --images {args.images!r}: {exc}")
    class_index = {c: k for k, c in enumerate(classes)}
    suffix = _SUFFIX[fmt]
    limit = name_max(out_dir)

    # group rows by image, keeping the order of first appearance; line = CSV line number
    rows: dict[str, list[tuple[int, int, str]]] = {}
    bad_images: dict[str, int] = {}
    failures = 0

    def bad(line: int, image_id: str, message: str) -> None:
        nonlocal failures
        failures += 1
        report("decode", f"{name}:{line}: id={image_id!r}: {message}")
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
        class_name = fields[at["class"]].strip()
        problem = _id_problem(image_id, suffix, limit)
        if problem:
            bad(line, image_id, f"not a usable image id: {problem}")
            continue
        if class_name not in class_index:
            bad(line, image_id, f"unknown class {class_name!r}; expected one of {list(classes)}")
            continue
        if (image_id, class_name) in seen:
            bad(line, image_id, f"second row for class {class_name!r}")
            continue
        seen.add((image_id, class_name))
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
            if row_size.setdefault(image_id, size) != size:
                bad(line, image_id, f"height={size[0]}, width={size[1]} differs from the size of its first row {row_size[image_id]}")
                continue
        rows.setdefault(image_id, []).append((line, class_index[class_name], fields[at[value_col]]))

    written = 0
    stop: str | None = None
    for image_id, items in _progress(rows.items(), len(rows), args.quiet, "decode"):
        if image_id in bad_images:
            continue
        first = items[0][0]
        if args.shape is not None:
            shape = args.shape
        elif args.images is not None:
            if image_id not in sizes:
                bad(first, image_id, f"no image with this id under --images {args.images!r}")
                continue
            shape = sizes[image_id]
            problem = _size_problem(*shape)
            if problem:
                bad(first, image_id, f"--images {args.images!r}: {problem}")
                continue
        else:
            shape = row_size[image_id]
        h, w = shape
        problem = _over_budget(h * w * per_pixel, budget, f"height={h}, width={w} with {len(classes)} class(es) as {fmt}")
        if problem:
            bad(first, image_id, problem)
            continue
        if fmt == "png" and h * w == 0:
            bad(first, image_id, f"height={h}, width={w} is an empty image, which a PNG cannot hold; use --format npz")
            continue
        try:
            stack = np.zeros((len(classes), h, w), np.uint8)
            ok = True
            for line, k, rle in items:
                try:
                    decode(
                        rle, shape, order=args.order, strict=not args.loose, out=stack[k], base=args.base, relative=args.relative
                    )
                except RlemaskError as exc:
                    bad(line, image_id, f"class {classes[k]!r}: {exc}")
                    ok = False
            if not ok:
                continue
            if fmt == "png" and len(classes) == 1:
                stack = stack[0]
            write_atomic(
                out_dir / f"{image_id}{suffix}",
                lambda f, a=stack: _save_csv_image(fmt, f, a, classes),
            )
        except Exception as exc:  # a file that cannot be written, out of memory, an image-library error
            bad(first, image_id, f"not written: {_describe(exc)}")
            if _fatal(exc):
                stop = _describe(exc)
                break
            continue
        written += 1
    if stop is not None:
        report(
            "decode",
            f"error: stopped: {stop}; {written} image(s) written to {str(out_dir)!r}, the rest not attempted",
        )
        return 2
    if failures:
        report(
            "decode",
            f"{failures} row(s) failed; {len(bad_images)} image(s) not written, {written} written to {str(out_dir)!r}",
        )
        return 1
    return 0


def _save_csv_image(fmt: str, f: IO[bytes], stack, classes: tuple[str, ...]) -> None:
    """One image of a CSV: a channels-first (C, H, W) 0/1 stack (or (H, W) for a 1-class PNG)."""
    import numpy as np

    if fmt == "png":
        stack *= np.uint8(255)  # in place
        _save_png(stack, f)
    elif fmt == "npy":
        np.save(f, np.moveaxis(stack, 0, -1))
    else:
        np.savez_compressed(f, mask=np.moveaxis(stack, 0, -1), classes=np.array(classes))


# ----------------------------------------------------------------------------------
# encode
# ----------------------------------------------------------------------------------

_UWMGI_ID = re.compile(r"case(\d+)_day(\d+)_slice_(\d+)")


def _sort_key(name: str):
    m = _UWMGI_ID.fullmatch(name)
    if m:
        return (0, int(m[1]), int(m[2]), int(m[3]), name)
    return (1, 0, 0, 0, name)


class _Probe:
    """What a mask file will cost, read from its header before the data."""

    def __init__(self, shape: tuple[int, ...], itemsize: int, extra: int = 0, member: str | None = None):
        self.shape = shape
        self.itemsize = itemsize
        self.extra = extra  # bytes the reader needs on top of the array (Pillow's image)
        self.member = member  # the array of an .npz

    @property
    def pixels(self) -> int:
        return self.shape[0] * self.shape[1] if len(self.shape) >= 2 else 0

    @property
    def bands(self) -> int:
        return self.shape[2] if len(self.shape) == 3 else 1


def _npy_header(f) -> tuple[tuple[int, ...], int]:
    import numpy as np

    fmt = np.lib.format
    version = fmt.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(f)
    else:
        raise ValueError(f"is a .npy of format version {version[0]}.{version[1]}; expected 1.0 or 2.0")
    if dtype.hasobject:
        raise ValueError(f"holds Python objects (dtype {dtype}); expected numbers or bool")
    if len(shape) not in (2, 3):
        raise ValueError(f"has shape {shape}; expected (height, width) or (height, width, channels)")
    return tuple(int(s) for s in shape), dtype.itemsize


def _probe(path: Path, budget: int) -> _Probe:
    """Shape and cost of a mask file, without reading its data."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with open(path, "rb") as f:
            shape, itemsize = _npy_header(f)
        return _Probe(shape, itemsize)
    if suffix == ".npz":
        import zipfile

        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith(".npy")]
            if "mask.npy" in names:
                member = "mask.npy"
            elif len(names) == 1:
                member = names[0]
            else:
                raise ValueError(f"holds arrays {[n[:-4] for n in names]} but none named 'mask'")
            with z.open(member) as f:
                shape, itemsize = _npy_header(f)
        return _Probe(shape, itemsize, member=member[:-4])
    size = _png_size(path)
    if size is not None:  # the cheapest the image can be: a byte a pixel for Pillow, the array and the mask
        height, width = size
        problem = _over_budget(3 * height * width, budget, f"shape=({height}, {width})")
        if problem:
            raise ValueError(problem)
    with _pillow_guard(budget):
        from PIL import Image

        with Image.open(path) as im:
            width, height = im.size
            bands = len(im.getbands())
            mode = im.mode
    itemsize = {"I": 4, "F": 4, "I;16": 2, "I;16B": 2, "I;16L": 2}.get(mode, 1)
    per_pixel = 1 if mode in ("1", "L", "P") else _PILLOW_BYTES
    extra = height * width * (per_pixel + (1 if mode == "P" else 0))
    return _Probe((height, width, bands) if bands > 1 else (height, width), itemsize, extra)


def _png_size(path: Path) -> tuple[int, int] | None:
    """(height, width) from a PNG's IHDR chunk, or None when the file does not start like a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big")


class _pillow_guard:
    """Pillow's decompression-bomb limit set to the budget (at least a byte a pixel); its warning is an error.

    The budget check that follows the lazy open is stricter, so it is the one users see;
    Pillow's guard stays as a second line.
    """

    def __init__(self, budget: int):
        self.budget = budget

    def __enter__(self):
        import warnings

        from PIL import Image

        self._old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max(1, self.budget)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return self

    def __exit__(self, *exc):
        from PIL import Image

        self._warnings.__exit__(*exc)
        Image.MAX_IMAGE_PIXELS = self._old
        return False


def _load(path: Path, probe: _Probe, budget: int):
    """The array of a mask file (its header was checked by :func:`_probe`)."""
    import numpy as np

    suffix = path.suffix.lower()
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            array = z[probe.member]
    else:
        with _pillow_guard(budget):
            from PIL import Image

            with Image.open(path) as im:
                if im.mode == "P":
                    im = im.convert("L")
                array = np.asarray(im)
    if array.shape != probe.shape:  # the data does not match its header
        raise ValueError(f"has shape {array.shape} but its header says {probe.shape}")
    return array


def _text_bytes(runs: int, pixels: int) -> int:
    """Upper bound of the memory of a run-length string of ``runs`` runs (bytes, str, list item)."""
    digits = len(str(max(pixels, 1)))
    return 3 * runs * (2 * digits + 2)


def _count_runs(mask, order: str) -> int:
    """Number of runs of a (H, W) 0/1 uint8 mask in ``order``, in chunks of about 16M pixels."""
    import numpy as np

    plane = mask if order == "C" else mask.T
    h, w = plane.shape
    rows = max(1, (1 << 24) // max(w, 1))
    runs, prev = 0, 0
    for r in range(0, h, rows):
        flat = np.ascontiguousarray(plane[r : r + rows]).reshape(-1)
        if flat.size:
            runs += int(np.count_nonzero(flat[1:] > flat[:-1])) + int(flat[0] > prev)
            prev = flat[-1]
    return runs


def _encode_file(path: Path, classes: tuple[str, ...], args: argparse.Namespace, budget: int) -> list[str]:
    """The run-length strings of one mask file, one per class (ValueError / OSError when it fails)."""
    import numpy as np

    from rlemask.rle import encode_many

    probe = _probe(path, budget)
    n = len(classes)
    raw = probe.pixels * probe.bands * probe.itemsize
    problem = _over_budget(raw + probe.extra + probe.pixels * n, budget, f"shape={probe.shape}")
    if problem:
        raise ValueError(problem)
    bands = probe.bands
    if bands != n and not (bands == 4 and n == 3 and path.suffix.lower() == ".png"):  # RGBA: alpha is no class
        raise ValueError(f"has {bands} channel(s); expected {n} ({', '.join(classes)}); see --classes")
    array = _load(path, probe, budget)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"has dtype {array.dtype}; expected numbers or bool")
    if array.ndim == 2:
        array = array[:, :, None]
    h, w = array.shape[:2]
    mask = np.empty((n, h, w), np.uint8)
    np.not_equal(np.moveaxis(array[:, :, :n], -1, 0), 0, out=mask.view(np.bool_))
    del array
    pixels = h * w
    for k in range(n):  # the strings are checked against the budget before they exist
        ones = int(np.count_nonzero(mask[k]))
        runs = min(ones, (pixels + 1) // 2)
        if _text_bytes(runs, pixels) + mask.nbytes > budget:
            runs = _count_runs(mask[k], args.order)
            problem = _over_budget(_text_bytes(runs, pixels) + mask.nbytes, budget, f"class {classes[k]!r} ({runs} runs)")
            if problem:
                raise ValueError(problem)
    return encode_many(mask, order=args.order, base=args.base, relative=args.relative)


def _collect(folder: Path) -> tuple[dict[str, Path], list[tuple[Path, str]]]:
    """Mask files by id, and the files refused with their reason (same id, non-UTF-8 name)."""
    by_id: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: os.fsencode(p.name)):
        if entry.suffix.lower() in (".png", ".npz", ".npy") and not entry.name.startswith(".") and entry.is_file():
            by_id.setdefault(entry.stem, []).append(entry)
    files: dict[str, Path] = {}
    refused: list[tuple[Path, str]] = []
    for image_id, paths in by_id.items():
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            for p in paths:
                refused.append((p, f"id {image_id!r} has {len(paths)} files ({names}); none encoded, keep one of them"))
            continue
        try:
            image_id.encode("utf-8")
        except UnicodeEncodeError:
            raw = os.fsencode(paths[0].name)
            refused.append((paths[0], f"file name {raw!r} is not valid UTF-8, so its id cannot go into a UTF-8 CSV; rename it"))
            continue
        files[image_id] = paths[0]
    return files, refused


class _NothingEncoded(Exception):
    """Every file failed: the output is not written."""


def run_encode(args: argparse.Namespace) -> int:
    """``rlemask encode``; returns the exit code."""
    import csv

    from rlemask._io import open_output
    from rlemask.uwmgi import CLASSES

    if args.input == "-":
        return usage("encode", "DIR '-': encode reads a folder of mask files, not standard input")
    folder = Path(args.input)
    if not folder.is_dir():
        return usage("encode", f"{args.input!r} is not a folder")
    out = args.out
    if out != "-":
        if Path(out).is_dir():
            return usage("encode", f"-o {out!r} is a folder; expected a CSV file name")
        if not Path(out).parent.is_dir():
            return usage("encode", f"-o {out!r}: folder {str(Path(out).parent)!r} does not exist")
    files, refused = _collect(folder)
    if not files and not refused:
        return usage("encode", f"no .png, .npz or .npy mask files in {args.input!r}")
    for path, reason in refused:
        report("encode", f"{path}: {reason}")
    classes = tuple(args.classes or CLASSES)
    budget = _budget(args)
    esc = escape_formula if args.escape_formulas else (lambda v: v)
    failures = len(refused)
    total = len(files) + len(refused)
    names = sorted(files, key=_sort_key)
    encoded = 0
    try:
        with open_output(out, "w", encoding="utf-8", newline="") as f:
            minimal = csv.writer(f, lineterminator="\n")
            # csv quotes a field with "\n" but not one with a lone "\r", which a reader splits on
            quoted = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_ALL)
            for image_id in _progress(names, len(names), args.quiet, "encode"):
                path = files[image_id]
                try:
                    texts = _encode_file(path, classes, args, budget)
                except Exception as exc:  # unreadable image, bad array, over budget: report and go on
                    failures += 1
                    report("encode", f"{path}: {_describe(exc)}")
                    continue
                if encoded == 0:
                    minimal.writerow(["id", "class", args.column])
                encoded += 1
                writer = quoted if "\r" in image_id else minimal
                writer.writerows([esc(image_id), esc(name), text] for name, text in zip(classes, texts))
            if encoded == 0:
                raise _NothingEncoded
    except _NothingEncoded:
        report("encode", f"all {failures} file(s) failed; nothing encoded, {out!r} not written")
        return 1
    if failures:
        report("encode", f"{failures} file(s) failed; {total - failures} encoded to {out!r}")
        return 1
    return 0
