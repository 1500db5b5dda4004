"""Benchmark of first calls: cold (empty numba cache) and warm (cache on disk), in fresh processes.

Every figure is the wall time of a fresh Python process (``python -c ...``), so
interpreter start, imports, numba's own start-up, cache loading and, when
cold, compilation are all in it; one child process per row and state. Next to
rlemask: the numpy snippet of the UWMGI notebooks and pycocotools (nothing to
compile), and the warm CLI call of issue 12
(``python -m rlemask decode "1 3" --shape 2x2 -o m.npy``).

"cold" uses a new empty ``NUMBA_CACHE_DIR``; "warm" reuses the folder the cold
run filled. The four first calls of issue 12 (encode, decode, dice,
hausdorff) are timed one after another inside one process (the first also
pays numba's start-up) and each separately in its own cold process; then once
more with the numpy twins of ``rlemask._tier`` switched off, which is what the
numba kernels themselves cost (a large input or the 17th call of a process).
The Hausdorff call is on two different masks, so the distance transform runs.

Run: ``python benchmarks/startup.py [--quick]`` (``--quick``: no per-call
cold processes, one repeat).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")

SETUP = ("import numpy as np; m = np.zeros((266, 266), np.uint8); m[60:120, 70:150] = 1; "
         "m2 = np.roll(m, (9, 5), axis=(0, 1))\n")
CALLS = {
    "encode": "import rlemask; rlemask.encode(m)",
    "decode": "import rlemask; rlemask.decode('1 3 300 20', (266, 266))",
    "dice": "import rlemask; rlemask.dice(m, m)",
    "hausdorff": "import rlemask; rlemask.hausdorff(m, m2)",
}
# the same calls with the numpy twins of rlemask._tier switched off: what the kernels cost
KERNELS_ONLY = "from rlemask import _tier; _tier.CALLS = 0\n"
NUMPY_SNIPPET = """
pixels = np.concatenate([[0], m.flatten(), [0]])
runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
runs[1::2] -= runs[::2]
s = ' '.join(str(x) for x in runs).split()
starts, lengths = [np.asarray(x, dtype=int) for x in (s[0::2], s[1::2])]
img = np.zeros(266 * 266, np.uint8)
for lo, n in zip(starts - 1, lengths):
    img[lo:lo + n] = 1
"""
PYCOCO = "import pycocotools.mask as pm; pm.decode(pm.encode(np.asfortranarray(m)))"
TIMED = """
import time
t0 = time.perf_counter()
{body}
print(time.perf_counter() - t0)
"""


def _child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


CPU: dict[str, float] = {}  # CPU seconds of the last run() of each code


def run(code: str, cache: str | None, timeout: float = 900) -> float:
    """Wall time of a fresh process running ``code`` (its CPU time goes to ``CPU[code]``)."""
    env = dict(os.environ, PYTHONPATH=SRC)
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = cache
    c0, t0 = _child_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    CPU[code] = _child_cpu() - c0
    return time.perf_counter() - t0


def calls_in_one_process(cache: str, prefix: str = "") -> tuple[float, list[float], float, list[float]]:
    """Process wall time, wall time of each of the four first calls (in order), and the same in CPU time."""
    body = SETUP + prefix + "import time\nts = []\ncs = []\n"
    for call in CALLS.values():
        body += (f"t = time.perf_counter(); c = time.process_time(); {call}; "
                 "ts.append(time.perf_counter() - t); cs.append(time.process_time() - c)\n")
    body += "print(' '.join(map(str, ts + cs)))\n"
    env = dict(os.environ, PYTHONPATH=SRC, NUMBA_CACHE_DIR=cache)
    c0, t0 = _child_cpu(), time.perf_counter()
    done = subprocess.run([sys.executable, "-c", body], env=env, capture_output=True, text=True, timeout=1800)
    total, cpu = time.perf_counter() - t0, _child_cpu() - c0
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    values = [float(x) for x in done.stdout.split()]
    return total, values[: len(CALLS)], cpu, values[len(CALLS) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the per-call cold processes")
    args = parser.parse_args(argv)
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "numba")
        cold_total, cold, cold_cpu_total, cold_cpu = calls_in_one_process(cache)
        warm_total, warm, warm_cpu_total, warm_cpu = calls_in_one_process(cache)
        for (name, _), c, w, cc, wc in zip(CALLS.items(), cold, warm, cold_cpu, warm_cpu):
            rows.append((f"rlemask.{name}, first call (in one process, in this order)", f"{c:.2f}", f"{w:.2f}",
                         f"{cc:.2f}", f"{wc:.2f}"))
        rows.append(("the four first calls together", f"{sum(cold):.2f}", f"{sum(warm):.2f}",
                     f"{sum(cold_cpu):.2f}", f"{sum(warm_cpu):.2f}"))
        rows.append(("  process (python + imports + four calls)", f"{cold_total:.2f}", f"{warm_total:.2f}",
                     f"{cold_cpu_total:.2f}", f"{warm_cpu_total:.2f}"))
        kcache = os.path.join(tmp, "kernels")
        _, cold, _, cold_cpu = calls_in_one_process(kcache, KERNELS_ONLY)
        _, warm, _, warm_cpu = calls_in_one_process(kcache, KERNELS_ONLY)
        for (name, _), c, w, cc, wc in zip(CALLS.items(), cold, warm, cold_cpu, warm_cpu):
            rows.append((f"kernels only (twins off): rlemask.{name}, first call", f"{c:.2f}", f"{w:.2f}",
                         f"{cc:.2f}", f"{wc:.2f}"))
        rows.append(("kernels only: the four together", f"{sum(cold):.2f}", f"{sum(warm):.2f}",
                     f"{sum(cold_cpu):.2f}", f"{sum(warm_cpu):.2f}"))
        if not args.quick:
            for name, call in CALLS.items():
                alone = os.path.join(tmp, f"alone-{name}")
                c = run(SETUP + call, alone)
                cc = CPU[SETUP + call]
                w = run(SETUP + call, alone)
                rows.append((f"python -c '{name}' alone (process)", f"{c:.2f}", f"{w:.2f}", f"{cc:.2f}",
                             f"{CPU[SETUP + call]:.2f}"))
        out = os.path.join(tmp, "m.npy")
        cli = f"import runpy, sys; sys.argv = ['rlemask', 'decode', '1 3', '--shape', '2x2', '-o', {out!r}]; runpy.run_module('rlemask', run_name='__main__')"
        cli_cache = os.path.join(tmp, "cli")
        try:
            c = run(cli, cli_cache)
            cc = CPU[cli]
            ws = []
            for _ in range(1 if args.quick else 3):
                ws.append((run(cli, cli_cache), CPU[cli]))
            w, wc = min(ws)
            rows.append(('CLI: rlemask decode "1 3" --shape 2x2 -o m.npy (process)', f"{c:.2f}", f"{w:.2f}",
                         f"{cc:.2f}", f"{wc:.2f}"))
        except (RuntimeError, SystemExit) as exc:  # pragma: no cover - CLI missing
            rows.append(("CLI decode", "failed", str(exc).splitlines()[-1][:60], "-", "-"))
        def simple(what: str, code: str, cache_dir: str | None) -> None:
            wall = run(code, cache_dir)
            rows.append((what, "-", f"{wall:.2f}", "-", f"{CPU[code]:.2f}"))

        simple("import numpy only (process)", "import numpy", None)
        simple("numpy snippet encode + decode (process)", SETUP + NUMPY_SNIPPET, None)
        try:
            simple("pycocotools encode + decode (process)", SETUP + PYCOCO, None)
        except RuntimeError:  # pragma: no cover - not installed
            rows.append(("pycocotools encode + decode (process)", "-", "not installed", "-", "-"))
        simple("import rlemask (process)", "import rlemask", cache)
        simple("import numba (process)", "import numba", None)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} logical cores; wall and CPU seconds "
          f"(CPU: time.process_time of the call, or getrusage of the child process)")
    print()
    print("| what | cold wall (s) | warm wall (s) | cold CPU (s) | warm CPU (s) |")
    print("|---|---:|---:|---:|---:|")
    for what, c, w, cc, wc in rows:
        print(f"| {what} | {c} | {w} | {cc} | {wc} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
