

# =============================================================================
# metrics (owner: metrics engineer) -- slow, obviously correct twins of
# rlemask.metrics; plain loops, scipy's directed_hausdorff, no rlemask imports
# =============================================================================


def metric_empty_value(empty):
    """1.0, 0.0 or NaN for the ``empty`` convention."""
    return float("nan") if empty == "skip" else float(empty)


def metric_dice(pred, truth, empty=1.0):
    """Dice of every (H, W) mask of two (..., H, W) arrays, one pixel at a time."""
    import numpy as np

    pred = np.asarray(pred)
    truth = np.asarray(truth)
    lead = pred.shape[:-2]
    out = np.empty(lead, dtype=float)
    for index in np.ndindex(*lead):
        inter = n_pred = n_truth = 0
        for x, y in zip(pred[index].ravel().tolist(), truth[index].ravel().tolist()):
            inter += int(bool(x) and bool(y))
            n_pred += int(bool(x))
            n_truth += int(bool(y))
        total = n_pred + n_truth
        out[index] = 2.0 * inter / total if total else metric_empty_value(empty)
    return out


def metric_iou(pred, truth, empty=1.0):
    """IoU of every (H, W) mask of two (..., H, W) arrays, one pixel at a time."""
    import numpy as np

    pred = np.asarray(pred)
    truth = np.asarray(truth)
    lead = pred.shape[:-2]
    out = np.empty(lead, dtype=float)
    for index in np.ndindex(*lead):
        inter = union = 0
        for x, y in zip(pred[index].ravel().tolist(), truth[index].ravel().tolist()):
            inter += int(bool(x) and bool(y))
            union += int(bool(x) or bool(y))
        out[index] = inter / union if union else metric_empty_value(empty)
    return out


def metric_encode(mask):
    """Kaggle RLE of a 2-D 0/1 mask: 1-based starts, row-major (C order)."""
    flat = [int(bool(v)) for v in __import__("numpy").asarray(mask).ravel().tolist()]
    tokens = []
    i = 0
    while i < len(flat):
        if flat[i]:
            j = i
            while j < len(flat) and flat[j]:
                j += 1
            tokens += [str(i + 1), str(j - i)]
            i = j
        else:
            i += 1
    return " ".join(tokens)


def metric_decode(rle, shape):
    """Plain decoder: every run sets its pixels to 1 (overlaps and order do not matter)."""
    import numpy as np

    h, w = shape
    flat = np.zeros(h * w, dtype=np.uint8)
    if rle is None or (isinstance(rle, float) and rle != rle) or rle == "":
        return flat.reshape(h, w)
    tokens = [int(t) for t in rle.split()]
    for start, length in zip(tokens[0::2], tokens[1::2]):
        for k in range(start - 1, start - 1 + length):
            flat[k] = 1
    return flat.reshape(h, w)


def metric_hausdorff(a, b, spacing=None, directed=False):
    """Hausdorff distance the competition's way: scipy directed_hausdorff on all voxels."""
    import numpy as np
    from scipy.spatial.distance import directed_hausdorff

    a = np.asarray(a)
    b = np.asarray(b)
    scale = np.ones(a.ndim) if spacing is None else np.asarray(spacing, dtype=float)
    pa = np.argwhere(a) * scale
    pb = np.argwhere(b) * scale
    if len(pa) == 0 and len(pb) == 0:
        return 0.0
    if directed:
        if len(pa) == 0:
            return 0.0
        if len(pb) == 0:
            return float("inf")
        return float(directed_hausdorff(pa, pb)[0])
    if len(pa) == 0 or len(pb) == 0:
        return float("inf")
    return float(max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0]))


def metric_uwmgi_score(truth_rows, pred_rows, classes, empty=1.0):
    """The competition score from plain rows, in the host's order of operations.

    ``truth_rows``: list of dicts with id, height, width and one RLE per class;
    ``pred_rows``: dict id -> dict class -> RLE (missing ids/classes are empty).
    Volumes stack every slice of a case-day in slice order (complete scans).
    Returns (score, mean_dice, mean_hausdorff).
    """
    import math

    import numpy as np

    e = metric_empty_value(empty)
    dices = []
    scans = {}
    for row in truth_rows:
        shape = (int(row["height"]), int(row["width"]))
        case_day, _, slice_part = row["id"].partition("_slice_")
        for c in classes:
            t = metric_decode(row[c], shape)
            p = metric_decode(pred_rows.get(row["id"], {}).get(c, ""), shape)
            dices.append(metric_dice(p[None], t[None], empty)[0])
            scans.setdefault((case_day, c), []).append((int(slice_part), t, p))
    hds = []
    for (case_day, c), items in sorted(scans.items()):
        items.sort(key=lambda x: x[0])
        t = np.stack([x[1] for x in items])
        p = np.stack([x[2] for x in items])
        max_dist = math.sqrt(sum(s * s for s in t.shape))
        if not t.any() and not p.any():
            hd = 0.0 if e == 1.0 else (1.0 if e == 0.0 else float("nan"))
        elif not t.any() or not p.any():
            hd = 1.0
        else:
            hd = min(metric_hausdorff(p, t) / max_dist, 1.0)
        hds.append(hd)
    mean_dice = float(np.nanmean(dices)) if not np.all(np.isnan(dices)) else float("nan")
    mean_hd = float(np.nanmean(hds)) if not np.all(np.isnan(hds)) else float("nan")
    return 0.4 * mean_dice + 0.6 * (1.0 - mean_hd), mean_dice, mean_hd


# =============================================================================
# folds and UWMGI layout (owner: layout/masks/folds engineer) -- plain twins of
# rlemask.folds / rlemask.masks and the seeded UWMGI-like label generator
# used by tests/test_folds.py and benchmarks/folds.py
# =============================================================================

#: Share of the 38,496 training images with a non-empty mask of each class in
#: the real data (large_bowel 14,085, small_bowel 11,201, stomach 8,627).
UWMGI_POSITIVE_RATE = {"large_bowel": 14085 / 38496, "small_bowel": 11201 / 38496, "stomach": 8627 / 38496}


def folds_synthetic_labels(index, seed=0):
    """A realistic (n_images, 3) 0/1 label matrix for the rows of ``index``.

    ``index`` has ``case``, ``day`` and ``slice`` columns (e.g. the real
    ``image_index.csv`` run through ``rlemask.uwmgi.from_paths``). The real
    labels are not available, so each organ is drawn as one contiguous band of
    slices per scan, with per-case structure:

    * per case and class: the band centre (relative depth; large bowel 0.45,
      small bowel 0.40, stomach 0.60, +- 0.06) and its extent (relative depth,
      mean chosen so the overall positive rate matches the real data, +- 25%
      between cases); 4% of the cases lack the class altogether;
    * per day: the centre jitters by +- 0.02 and the extent by +- 8% (the
      same patient on different days looks alike).

    Fully determined by ``seed`` (``np.random.default_rng``).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    classes = ("large_bowel", "small_bowel", "stomach")
    centre = {"large_bowel": 0.45, "small_bowel": 0.40, "stomach": 0.60}
    case = np.asarray(index["case"], dtype=np.int64)
    day = np.asarray(index["day"], dtype=np.int64)
    sl = np.asarray(index["slice"], dtype=np.int64)
    out = np.zeros((len(case), 3), np.uint8)
    scans = {}
    for i, key in enumerate(zip(case.tolist(), day.tolist())):
        scans.setdefault(key, []).append(i)
    case_params = {}
    for c in sorted(set(case.tolist())):
        params = []
        for name in classes:
            present = rng.random() >= 0.04
            extent = UWMGI_POSITIVE_RATE[name] / 0.96 * float(np.clip(rng.normal(1.0, 0.25), 0.3, 1.8))
            params.append((present, centre[name] + rng.normal(0.0, 0.06), extent))
        case_params[c] = params
    for (c, d), rows in sorted(scans.items()):
        rows = np.asarray(rows)
        depth = int(sl[rows].max())
        rel = (sl[rows] - 0.5) / depth
        for j, (present, mid, extent) in enumerate(case_params[c]):
            if not present:
                continue
            mid_d = mid + rng.normal(0.0, 0.02)
            ext_d = extent * float(np.clip(rng.normal(1.0, 0.08), 0.7, 1.3))
            out[rows, j] = (np.abs(rel - mid_d) <= ext_d / 2).astype(np.uint8)
    return out


def folds_class_std(labels, fold):
    """Mean over classes of the std (ddof=0) across folds of the positive fraction."""
    import numpy as np

    labels = np.asarray(labels)
    fold = np.asarray(fold).tolist()
    names = sorted(set(fold))
    stds = []
    for j in range(labels.shape[1]):
        fractions = []
        for k in names:
            rows = [i for i, f in enumerate(fold) if f == k]
            fractions.append(sum(int(labels[i, j]) for i in rows) / len(rows))
        mean = sum(fractions) / len(fractions)
        stds.append((sum((x - mean) ** 2 for x in fractions) / len(fractions)) ** 0.5)
    return sum(stds) / len(stds)


# =============================================================================
# RLE codec (owner: codec engineer) -- plain-Python twins of rlemask.rle and
# rlemask.coco: one pixel at a time, no numba, no rlemask imports
# =============================================================================

#: the whitespace the codec accepts between tokens (ASCII, as bytes.split())
RLE_WHITESPACE = " \t\n\r\x0b\x0c"


class RleReferenceError(ValueError):
    """The reference's verdict on a malformed string; ``kind`` says why.

    kind is one of "token" (not an ASCII decimal integer), "big" (too many
    digits), "odd" (odd token count), "start" (start < 1), "end" (run past the
    last pixel), "order" (unsorted or overlapping with strict=True).
    """

    def __init__(self, kind, index):
        super().__init__(f"{kind} at {index}")
        self.kind = kind
        self.index = index


def rle_tokens(text):
    """Split on ASCII whitespace only (str.split() would also split on \\x1c-\\x1f)."""
    tokens, cur = [], ""
    for ch in text:
        if ch in RLE_WHITESPACE:
            if cur:
                tokens.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        tokens.append(cur)
    return tokens


def rle_reference_parse(rle):
    """Integers of a run-length string, checked left to right like the codec."""
    import math

    if rle is None or (isinstance(rle, float) and math.isnan(rle)) or type(rle).__name__ == "NAType":
        return []
    values = []
    for i, tok in enumerate(rle_tokens(rle)):
        if not all("0" <= ch <= "9" for ch in tok):
            raise RleReferenceError("token", i)
        if len(tok) > 1 and int(tok[:-1]) >= 10**16:
            raise RleReferenceError("big", i)
        values.append(int(tok))
    if len(values) % 2:
        raise RleReferenceError("odd", len(values))
    return values


def rle_reference_check(values, n, strict=True):
    """Validate (start, length) pairs over ``n`` pixels; raise RleReferenceError."""
    prev_end = 0
    for r in range(len(values) // 2):
        s, length = values[2 * r], values[2 * r + 1]
        if s < 1:
            raise RleReferenceError("start", r)
        if length < 0:
            raise RleReferenceError("negative", r)
        if s - 1 + length > n:
            raise RleReferenceError("end", r)
        if strict:
            if s <= prev_end:
                raise RleReferenceError("order", r)
            prev_end = s - 1 + length


def rle_reference_decode(rle, shape, order="C", strict=True):
    """Decode one pixel at a time: the union of the runs, after the codec's checks."""
    import numpy as np

    h, w = shape
    values = rle_reference_parse(rle)
    rle_reference_check(values, h * w, strict)
    flat = [0] * (h * w)
    for s, length in zip(values[0::2], values[1::2]):
        for k in range(s - 1, s - 1 + length):
            flat[k] = 1
    return np.array(flat, dtype=np.uint8).reshape((h, w), order=order)


def rle_reference_runs(mask, order="C"):
    """1-based starts and lengths of the runs of a 2-D 0/1 mask, scanned in ``order``."""
    import numpy as np

    flat = [int(v) for v in np.asarray(mask).ravel(order=order).tolist()]
    starts, lengths = [], []
    i = 0
    while i < len(flat):
        if flat[i]:
            j = i
            while j < len(flat) and flat[j]:
                j += 1
            starts.append(i + 1)
            lengths.append(j - i)
            i = j
        else:
            i += 1
    return starts, lengths


def rle_reference_encode(mask, order="C"):
    """Kaggle RLE of a 2-D 0/1 mask in ``order`` ("C" row by row, "F" column by column)."""
    starts, lengths = rle_reference_runs(mask, order)
    return " ".join(f"{s} {n}" for s, n in zip(starts, lengths))


def rle_reference_coco_counts(mask):
    """COCO counts: alternating run lengths of 0s and 1s in column order, 0s first."""
    import numpy as np

    flat = [int(v) for v in np.asarray(mask).ravel(order="F").tolist()]
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return counts


def rle_reference_coco_string(counts):
    """pycocotools' rleToString, transcribed from maskApi.c."""
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out).encode("ascii")


# =============================================================================
# folds and UWMGI layout, continued (owner: layout/masks/folds engineer)
# =============================================================================


def folds_synthetic_index(n_cases=85, seed=0):
    """A UWMGI-like image index without the real file: ``case, day, slice`` columns.

    Each case has 1 to 5 days (real data: 274 scans over 85 cases, about 3.2
    per case); a scan has 144 slices, or 80 with probability 0.06 (15 of 274
    in the real data). Case numbers are drawn without replacement from 1..160.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cases = np.sort(rng.choice(np.arange(1, 161), size=n_cases, replace=False))
    rows = []
    for c in cases.tolist():
        n_days = int(rng.integers(1, 6))
        for d in np.sort(rng.choice(np.arange(0, 40), size=n_days, replace=False)).tolist():
            depth = 80 if rng.random() < 0.06 else 144
            rows += [(c, d, s) for s in range(1, depth + 1)]
    frame = pd.DataFrame(rows, columns=["case", "day", "slice"])
    frame.insert(0, "id", [f"case{c}_day{d}_slice_{s:04d}" for c, d, s in rows])
    return frame


def masks_stack_plain(rles, shape):
    """``(H, W, C)`` uint8 from one C-order RLE string per channel, one pixel at a time."""
    import numpy as np

    h, w = shape
    out = np.zeros((h, w, len(rles)), np.uint8)
    for k, text in enumerate(rles):
        if text is None or (isinstance(text, float) and text != text):
            continue
        tokens = [int(t) for t in str(text).split()]
        for start, length in zip(tokens[0::2], tokens[1::2]):
            for p in range(start - 1, start - 1 + length):
                out[p // w, p % w, k] = 1
    return out


def masks_unstack_plain(mask):
    """One C-order RLE string per channel of an ``(H, W, C)`` mask, one pixel at a time."""
    strings = []
    h, w, c = mask.shape
    for k in range(c):
        flat = [int(mask[i, j, k]) for i in range(h) for j in range(w)]
        tokens, p = [], 0
        while p < len(flat):
            if flat[p]:
                q = p
                while q < len(flat) and flat[q]:
                    q += 1
                tokens += [str(p + 1), str(q - p)]
                p = q
            else:
                p += 1
        strings.append(" ".join(tokens))
    return strings


def folds_cost_plain(labels, fold, n_splits):
    """The cost MultilabelStratifiedGroupKFold minimises, one fold and class at a time.

    sum_k sum_c (p_kc - n_k r_c)^2 / ((N/K) r_c (1 - r_c)) + sum_k (n_k - N/K)^2 / (N/K);
    classes with r_c in {0, 1} are left out; inf when a fold is empty.
    """
    labels = [list(map(int, row)) for row in labels]
    fold = list(fold)
    n_total = len(labels)
    n_classes = len(labels[0]) if labels else 0
    rates = [sum(row[c] for row in labels) / n_total for c in range(n_classes)]
    target = n_total / n_splits
    total = 0.0
    for k in range(n_splits):
        rows = [row for row, f in zip(labels, fold) if f == k]
        n = len(rows)
        if n == 0:
            return float("inf")
        for c in range(n_classes):
            r = rates[c]
            if 0 < r < 1:
                p = sum(row[c] for row in rows)
                total += (p - n * r) ** 2 / (target * r * (1 - r))
        total += (n - target) ** 2 / target
    return total


# =============================================================================
# run-length dialects (owner: core helper) -- pixel loops, and the notebook
# snippets of the competitions verbatim (SIIM-ACR's mask2rle / rle2mask)
# =============================================================================


def dialect_reference_encode(mask, order="C", base=1, relative=False, empty_token=None):
    """Runs of a 2-D mask (any non-zero is set) in a dialect, one pixel at a time."""
    import numpy as np

    flat = [int(v != 0) for v in np.asarray(mask).ravel(order=order).tolist()]
    tokens = []
    prev_end = 0
    i = 0
    while i < len(flat):
        if flat[i]:
            j = i
            while j < len(flat) and flat[j]:
                j += 1
            if relative:
                start = i - prev_end + (base if not tokens else 0)
            else:
                start = i + base
            tokens += [start, j - i]
            prev_end = j
            i = j
        else:
            i += 1
    if not tokens:
        return "" if empty_token is None else empty_token
    return " ".join(map(str, tokens))


def dialect_reference_decode(rle, shape, order="C", base=1, relative=False, empty_token=None):
    """A dialect's string decoded one run at a time (union of the runs)."""
    import numpy as np

    h, w = shape
    flat = [0] * (h * w)
    if rle is None or rle == "" or (empty_token is not None and rle.strip() == empty_token):
        return np.zeros(shape, np.uint8)
    values = [int(t) for t in rle.split()]
    position = 0
    for k in range(0, len(values), 2):
        start, length = values[k], values[k + 1]
        if relative:
            first = position + start - (base if k == 0 else 0)
        else:
            first = start - base
        for p in range(first, first + length):
            flat[p] = 1
        position = first + length
    return np.array(flat, np.uint8).reshape(shape, order=order)


def siim_mask2rle(img, width, height):
    """SIIM-ACR's mask2rle (the competition's mask_functions.py), verbatim apart from style."""
    rle = []
    last_color = 0
    current_pixel = 0
    run_start = -1
    run_length = 0
    for x in range(width):
        for y in range(height):
            current_color = img[x][y]
            if current_color != last_color:
                if current_color == 255:
                    run_start = current_pixel
                    run_length = 1
                else:
                    rle.append(str(run_start))
                    rle.append(str(run_length))
                    run_start = -1
                    run_length = 0
                    current_pixel = 0
            elif run_start > -1:
                run_length += 1
            last_color = current_color
            current_pixel += 1
    return " ".join(rle)


def siim_rle2mask(rle, width, height):
    """SIIM-ACR's rle2mask (mask_functions.py), verbatim apart from style."""
    import numpy as np

    mask = np.zeros(width * height)
    array = np.asarray([int(x) for x in rle.split()])
    starts = array[0::2]
    lengths = array[1::2]
    current_position = 0
    for index, start in enumerate(starts):
        current_position += start
        mask[current_position : current_position + lengths[index]] = 255
        current_position += lengths[index]
    return mask.reshape(width, height)


# =============================================================================
# overlap and post-processing (owner: h-perf) -- plain Python / scipy twins of
# rlemask.overlap and rlemask.postprocess
# =============================================================================


def overlap_reference_pixels(rle, shape, order="C", strict=True):
    """Set of 0-based pixel indices of a Kaggle string, or of a COCO object (column order)."""
    if isinstance(rle, dict):
        pixels, pos = set(), 0
        for k, c in enumerate(rle["counts"]):
            if k % 2:
                pixels.update(range(pos, pos + c))
            pos += c
        return pixels
    values = rle_reference_parse(rle or "")
    rle_reference_check(values, shape[0] * shape[1], strict)
    pixels = set()
    for s, n in zip(values[0::2], values[1::2]):
        pixels.update(range(s - 1, s - 1 + n))
    return pixels


def overlap_reference_matrix(a, b, shape, kind="iou", empty=1.0, strict=True):
    """IoU or Dice of every pair of two lists, from pixel sets."""
    import numpy as np

    out = np.empty((len(a), len(b)))
    for i, x in enumerate(a):
        px = overlap_reference_pixels(x, shape, strict=strict)
        for j, y in enumerate(b):
            py = overlap_reference_pixels(y, shape, strict=strict)
            inter = len(px & py)
            den = len(px | py) if kind == "iou" else len(px) + len(py)
            num = inter if kind == "iou" else 2 * inter
            out[i, j] = num / den if den else metric_empty_value(empty)
    return out


def postprocess_reference(mask, op, connectivity, size=None):
    """scipy.ndimage twins of rlemask.postprocess on one 2-D mask (uint8 result)."""
    import numpy as np
    from scipy import ndimage

    m = np.asarray(mask).astype(bool)
    if op == "fill_holes":
        structure = np.ones((3, 3), bool) if connectivity == 8 else None
        if size is None:
            return ndimage.binary_fill_holes(m, structure=structure).astype(np.uint8)
        labels, n = ndimage.label(~m, structure=structure)
        out = m.copy()
        border = set(labels[0].tolist()) | set(labels[-1].tolist()) | set(labels[:, 0].tolist()) | set(labels[:, -1].tolist())
        for k in range(1, n + 1):
            if k not in border and (labels == k).sum() <= size:
                out[labels == k] = True
        return out.astype(np.uint8)
    structure = np.ones((3, 3), bool) if connectivity == 8 else None
    labels, n = ndimage.label(m, structure=structure)
    sizes = [(labels == k).sum() for k in range(1, n + 1)]
    if op == "remove_small":
        keep = [k + 1 for k, s in enumerate(sizes) if s >= size]
    else:  # largest: label numbers follow the row-major order of first pixels
        keep = [int(np.argmax(sizes)) + 1] if sizes else []
    return np.isin(labels, keep).astype(np.uint8)


def postprocess_reference_resize(mask, shape):
    """OpenCV's INTER_NEAREST in plain Python: destination pixel (i, j) takes source pixel
    (min(floor(i * (1 / (dh / h))), h - 1), min(floor(j * (1 / (dw / w))), w - 1))."""
    import math

    import numpy as np

    mask = np.asarray(mask)
    h, w = mask.shape
    dh, dw = shape
    ys = [min(math.floor(i * (1.0 / (dh / h))), h - 1) for i in range(dh)]
    xs = [min(math.floor(j * (1.0 / (dw / w))), w - 1) for j in range(dw)]
    return np.array([[mask[y, x] for x in xs] for y in ys], dtype=np.uint8).reshape(dh, dw)
