"""Mutation testing of the rlemask core: plant one small bug at a time, run the tests.

Usage (from the repository root)::

    python tests/mutation/run.py                      # every core module
    python tests/mutation/run.py --module rle --max 30 --seed 1 --jobs 2
    python tests/mutation/run.py --list --module coco # the mutants, nothing run
    python tests/mutation/run.py --id "coco::_size::raise" --show
    python tests/mutation/run.py --custom "_kernels:d > 9=>d > 10"   # a hand-written mutant

Why not mutmut: mutmut 3 leaves every decorated function alone (its trampolines
cannot wrap them), which skips every ``@njit`` kernel, the code where an
off-by-one costs most. This driver is small and numba-aware:

* Mutants are generated from the ``ast``: comparisons flipped (``<`` / ``<=``,
  ``==`` / ``!=``, ``is`` / ``is not``, ``in`` / ``not in``), integers moved by one
  both ways, floats up by one, ``True`` / ``False`` swapped, ``and`` / ``or``
  swapped, ``not`` dropped, ``+`` / ``-``, ``&`` / ``|`` and ``<<`` / ``>>``
  swapped, ``min`` / ``max`` swapped, bounds moved by one the other way
  than a flipped comparison (``a < b`` -> ``a < b - 1``, ``a > b`` ->
  ``a > b + 1``), slice bounds (``a[lo + 1:hi]``, ``a[lo:hi - 1]``) and
  ``range`` stops (``range(n - 1)``), ``break`` / ``continue`` swapped, a
  ``raise`` replaced by ``pass`` (a dropped validation), and the first two
  values of a returned tuple swapped. Docstrings, annotations, decorators,
  f-strings (message text) and lines marked ``pragma: no mutate`` or
  ``pragma: no cover`` are left alone. Only the mutated expression's text is
  replaced (line numbers are kept), so a mutant's diff is one line.
* Each mutant runs in its own copy of ``src/``, ``tests/``, ``conftest.py``
  and ``pyproject.toml`` in a temporary folder, with ``PYTHONPATH`` pointing
  there: the working tree and numba's on-disk cache of the real tree are never
  touched. numba caches next to the copied modules (``__pycache__``; the
  cache is keyed by a hash of the source, not by its path, and
  ``NUMBA_CACHE_DIR`` is removed from the environment). A baseline run of each
  module's tests on an unmutated template compiles every kernel once; each
  mutant's copy starts from the template with that warm cache, except the
  caches of the mutated kernel module and of the kernel modules importing it,
  which are dropped. A mutant in a pure-Python wrapper therefore compiles
  nothing.
* The tests of a module (``TESTS`` below, plus every
  ``tests/test_regressions_*.py`` and the module's doctests) run with
  ``pytest -x -q -p no:cacheprovider`` and a fixed ``--hypothesis-seed`` under
  a time limit of ``--timeout-factor`` times the baseline.
* Outcome: ``killed`` (a test failed, the import failed or the process
  crashed), ``timeout`` (counted as killed: a hang is noticed), ``survived``,
  ``error`` (the harness could not run it; not scored). A survivor listed in
  ``tests/mutation/equivalent.toml`` with a reason is ``equivalent`` and left
  out of the score: score = (killed + timeout) / (mutants - equivalent - error).

Reports: ``build/mutation/report.json`` (every mutant) and ``report.md`` (score
per module, time, survivors with their diff).
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import fnmatch
import hashlib
import json
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "rlemask"
EQUIVALENT_FILE = Path(__file__).resolve().with_name("equivalent.toml")

# Modules of src/rlemask that are NOT mutated by default (layout, plumbing, CLI
# glue); every other module, including ones added later, is.
EXCLUDE = {
    "__init__",
    "__main__",
    "errors",
    "cli",
    "_io",
    "uwmgi",
    "masks",
    "eda",
    "commands/__init__",
    "commands/score",
    "commands/folds",
    "commands/describe",
}

# module (path under src/rlemask, no .py) -> test files. They run regression
# files first, then the module's own doctests, then the rest in this order. A
# module missing here gets every regression file and the test files whose text
# names it (else CORE_TESTS).
TESTS: dict[str, list[str]] = {
    # the kernel modules also run the regression files of the Python modules that call them
    # (written against those modules' mutants, they pin the kernels' edge cases too)
    "_kernels": ["tests/test_regressions_rle.py", "tests/test_regressions_coco.py", "tests/test_regressions_kernels.py",
                 "tests/test_regressions_rle_errors.py", "tests/test_regressions_shapes.py",
                 "tests/test_rle.py", "tests/test_batch.py",
                 "tests/test_coco.py", "src/rlemask/rle.py", "src/rlemask/coco.py"],
    "_kernels_coco": ["tests/test_regressions_coco.py", "tests/test_regressions_coco_batch.py",
                      "tests/test_regressions_coco_errors.py", "tests/test_regressions_overlap.py",
                      "tests/test_coco.py", "tests/test_overlap.py",
                      "src/rlemask/coco.py", "src/rlemask/overlap.py"],
    "_kernels_metrics": ["tests/test_regressions_metrics.py", "tests/test_regressions_metrics_api.py", "tests/test_metrics.py",
                         "src/rlemask/metrics/_pixel.py",
                         "src/rlemask/metrics/_distance.py", "src/rlemask/metrics/_competition.py"],
    "_kernels_overlap": ["tests/test_regressions_overlap.py", "tests/test_overlap.py", "tests/test_metrics.py",
                         "src/rlemask/overlap.py"],
    "_kernels_postprocess": ["tests/test_regressions_postprocess.py", "tests/test_postprocess.py",
                             "src/rlemask/postprocess.py"],
    "_codes": ["tests/test_regressions_rle.py", "tests/test_rle.py", "tests/test_folds.py"],
    "_convert": ["tests/test_regressions_convert.py", "tests/test_regressions_rle.py", "tests/test_regressions_metrics.py", "tests/test_convert.py",
                 "tests/test_rle.py", "tests/test_metrics.py"],
    "rle": ["tests/test_regressions_rle.py", "tests/test_regressions_rle_errors.py", "tests/test_regressions_shapes.py",
            "tests/test_regressions_dialects.py",
            "tests/test_rle.py", "tests/test_coco.py", "tests/test_dialects.py", "tests/test_batch.py"],
    "coco": ["tests/test_regressions_coco.py", "tests/test_regressions_coco_batch.py", "tests/test_regressions_coco_errors.py",
             "tests/test_coco.py"],
    "dialects": ["tests/test_regressions_dialects.py", "tests/test_dialects.py", "tests/test_rle.py"],
    "overlap": ["tests/test_regressions_overlap.py", "tests/test_overlap.py", "tests/test_metrics.py"],
    "postprocess": ["tests/test_regressions_postprocess.py", "tests/test_postprocess.py"],
    "metrics": ["tests/test_regressions_metrics.py", "tests/test_metrics.py"],
    "folds": ["tests/test_regressions_folds.py", "tests/test_folds.py"],
    "commands/codec": ["tests/test_regressions_cli.py", "tests/test_regressions_cli_order.py", "tests/test_regressions_cli_codec.py", "tests/test_cli_codec.py", "tests/test_cli_fuzz.py",
                       "tests/test_cli_unix.py", "tests/test_cli_batch.py"],  # cli_batch: issue 7 (ids, budgets, zero sizes)
    "masks": ["tests/test_masks.py"],
}
# the metrics package: every part runs the metrics tests
for _part in ("__init__", "_common", "_competition", "_distance", "_pixel", "_runs"):
    TESTS[f"metrics/{_part}"] = ["tests/test_regressions_metrics.py", "tests/test_regressions_metrics_api.py",
                                 "tests/test_metrics.py", "tests/test_convert.py"]  # test_convert: the old keywords
# the numpy twins of the kernels (rlemask._tier; switched off in-process by the root conftest)
# are checked against the kernels by tests/test_first_call.py, partly in fresh processes
TESTS["_tier"] = ["tests/test_regressions_first_call.py", "tests/test_first_call.py"]
TESTS["_kernels_cache"] = ["tests/test_cache.py"]
for _name in ("rle", "metrics/_distance", "metrics/_pixel"):
    TESTS[_name] = TESTS[_name] + ["tests/test_first_call.py"]
TESTS["rle"] = ["tests/test_regressions_first_call.py"] + TESTS["rle"]
CORE_TESTS = [
    "tests/test_rle.py",
    "tests/test_coco.py",
    "tests/test_masks.py",
    "tests/test_metrics.py",
    "tests/test_folds.py",
    "tests/test_cli_codec.py",
]
REGRESSIONS = "tests/test_regressions_*.py"

COPIED = ("src", "tests", "docs", "README.md", "conftest.py", "pyproject.toml")  # docs: doc-example tests
IGNORED = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", "*.pyc", ".hypothesis", ".pytest_cache")


# ----------------------------------------------------------------------------------
# mutants
# ----------------------------------------------------------------------------------


@dataclass
class Mutant:
    id: str  # stable: module::function::label#k (k: k-th identical label in the function)
    module: str  # path under src/rlemask without .py, e.g. "commands/codec"
    line: int  # 1-based
    op: str  # operator name
    label: str  # "<= -> <", "raise InvalidRleError -> pass", ...
    original: str  # the original source line
    mutated: str  # the mutated source line (first line of the replacement)
    # where to cut: (lineno, col, end_lineno, end_col) and the new text
    span: tuple[int, int, int, int] = (0, 0, 0, 0)
    text: str = ""


_CMP_FLIP = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
_BIN_FLIP = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
_SYMBOL = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Add: "+",
    ast.Sub: "-",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.And: "and",
    ast.Or: "or",
}
# the bound moved by "bound" mutants: opposite to the shift of the comparison flip
_BOUND_STEP = {ast.Lt: -1, ast.LtE: +1, ast.Gt: +1, ast.GtE: -1}
_PRAGMA = re.compile(r"#\s*pragma:\s*no\s+(mutate|cover)")


def _number(node: ast.AST) -> int | float | None:
    """The value of an int/float literal, ``-literal`` included (bools excluded)."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) in (int, float)
    ):
        return -node.operand.value
    return None


class _Collector(ast.NodeVisitor):
    """Walk one module and record (node, new node or text, op, label) candidates."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.scope: list[str] = []
        self.found: list[tuple[ast.AST, str, str, str, str]] = []  # node, kind, op, label, text

    # -- context ---------------------------------------------------------------
    def _skip_line(self, node: ast.AST) -> bool:
        return bool(_PRAGMA.search(self.lines[node.lineno - 1]))

    def _body(self, body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # docstring
            self.visit(stmt)

    def visit_Module(self, node: ast.Module) -> None:
        self._body(node.body)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # decorators and annotations are not behaviour under test; defaults are
        self.scope.append(node.name)
        for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
            self.visit(d)
        self._body(node.body)
        self.scope.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self._body(node.body)
        self.scope.pop()

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return
        for t in node.targets:  # indices of stored items: pairs[p0 + ntok] = v
            self.visit(t)
        self.visit(node.value)

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test)
        if test in ("TYPE_CHECKING", "__name__ == '__main__'") or "DISABLE_JIT" in test:
            return  # (DISABLE_JIT: the pure-Python stand-ins of numba intrinsics, used by --python-kernels only)
        self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # message text

    # -- operators -------------------------------------------------------------
    def _add(self, node: ast.AST, kind: str, op: str, label: str, text: str) -> None:
        if self._skip_line(node):
            return
        self.found.append((node, kind, op, label, text))

    def visit_Compare(self, node: ast.Compare) -> None:
        for i, cmp in enumerate(node.ops):
            new = _CMP_FLIP.get(type(cmp))
            if new is None:
                continue
            ops = list(node.ops)
            ops[i] = new()
            text = ast.unparse(ast.Compare(left=node.left, ops=ops, comparators=node.comparators))
            self._add(node, "expr", "compare", f"{_SYMBOL[type(cmp)]} -> {_SYMBOL[new]}", text)
            # the other off-by-one: the flip moves an integer bound one way, this the other
            step = _BOUND_STEP.get(type(cmp))
            right = node.comparators[i]
            if step is not None and _number(right) is None:
                comps = list(node.comparators)
                comps[i] = ast.BinOp(left=right, op=ast.Add() if step > 0 else ast.Sub(), right=ast.Constant(1))
                text = ast.unparse(ast.Compare(left=node.left, ops=node.ops, comparators=comps))
                shown = f"{_SYMBOL[type(cmp)]} {ast.unparse(right)}"
                self._add(node, "expr", "bound", f"{shown} -> {shown} {'+' if step > 0 else '-'} 1", text)
        self.generic_visit(node)

    def visit_Slice(self, node: ast.Slice) -> None:
        # a[lo:hi] -> a[lo + 1:hi] and a[lo:hi - 1] (bounds that are not literals)
        for name, part, op in (("lower", node.lower, ast.Add), ("upper", node.upper, ast.Sub)):
            if part is not None and _number(part) is None:
                moved = ast.BinOp(left=part, op=op(), right=ast.Constant(1))
                self._add(part, "expr", "bound", f"slice {name} {ast.unparse(part)} {'+' if op is ast.Add else '-'} 1",
                          ast.unparse(moved))
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        new = _BIN_FLIP.get(type(node.op))
        if new is not None and not (isinstance(node.op, ast.Add) and _is_text(node)):
            text = ast.unparse(ast.BinOp(left=node.left, op=new(), right=node.right))
            self._add(node, "expr", "binop", f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[new]}", text)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        new = _BIN_FLIP.get(type(node.op))
        if new is not None:
            text = ast.unparse(ast.AugAssign(target=node.target, op=new(), value=node.value))
            self._add(node, "stmt", "augassign", f"{_SYMBOL[type(node.op)]}= -> {_SYMBOL[new]}=", text)
        self.visit(node.target)
        self.visit(node.value)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        text = ast.unparse(ast.BoolOp(op=new(), values=node.values))
        self._add(node, "expr", "boolop", f"{_SYMBOL[type(node.op)]} -> {_SYMBOL[new]}", text)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        value = _number(node)
        if value is not None:
            self._constant(node, value)
            return
        if isinstance(node.op, ast.Not):
            self._add(node, "expr", "not", "not x -> x", ast.unparse(node.operand))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if type(node.value) is bool:
            self._add(node, "expr", "bool", f"{node.value} -> {not node.value}", repr(not node.value))
        elif type(node.value) in (int, float):
            self._constant(node, node.value)

    def _constant(self, node: ast.AST, value: int | float) -> None:
        shown = ast.unparse(node)
        up = value + 1
        self._add(node, "expr", "number", f"{shown} -> {up!r}", repr(up))
        if type(value) is int:
            self._add(node, "expr", "number", f"{shown} -> {value - 1!r}", repr(value - 1))

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "range" and node.args:
            stop = node.args[0] if len(node.args) == 1 else node.args[1]
            if _number(stop) is None:
                moved = ast.BinOp(left=stop, op=ast.Sub(), right=ast.Constant(1))
                self._add(stop, "expr", "bound", f"range stop {ast.unparse(stop)} - 1", ast.unparse(moved))
        if isinstance(node.func, ast.Name) and node.func.id in ("min", "max"):
            other = "max" if node.func.id == "min" else "min"
            text = ast.unparse(ast.Call(func=ast.Name(other), args=node.args, keywords=node.keywords))
            self._add(node, "expr", "minmax", f"{node.func.id} -> {other}", text)
        self.generic_visit(node)

    def visit_Break(self, node: ast.Break) -> None:
        self._add(node, "stmt", "loop", "break -> continue", "continue")

    def visit_Continue(self, node: ast.Continue) -> None:
        self._add(node, "stmt", "loop", "continue -> break", "break")

    def visit_Raise(self, node: ast.Raise) -> None:
        what = "raise"
        if node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            what = f"raise {ast.unparse(exc)}"
        self._add(node, "stmt", "raise", f"{what} -> pass", "pass")
        # the arguments of a raise are message text and error fields: left alone

    def visit_Return(self, node: ast.Return) -> None:
        v = node.value
        if isinstance(v, ast.Tuple) and len(v.elts) >= 2:
            elts = list(v.elts)
            if ast.dump(elts[0]) != ast.dump(elts[1]):
                elts[0], elts[1] = elts[1], elts[0]
                text = "return " + ast.unparse(ast.Tuple(elts=elts, ctx=ast.Load()))
                self._add(node, "stmt", "return", "return (a, b, ...) -> (b, a, ...)", text)
        if v is not None:
            self.visit(v)


def _is_text(node: ast.BinOp) -> bool:
    """``"a" + "b"``-like concatenation of message text (left alone)."""
    return any(isinstance(x, (ast.JoinedStr,)) or (isinstance(x, ast.Constant) and isinstance(x.value, str))
               for x in (node.left, node.right))


def module_name(path: Path, src_pkg: Path) -> str:
    return path.relative_to(src_pkg).with_suffix("").as_posix()


def _qualname_at(tree: ast.Module) -> dict[int, str]:
    """Line -> innermost function/class qualname."""
    out: dict[int, str] = {}

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}.{child.name}" if prefix else child.name
                for ln in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    out[ln] = name
                walk(child, name)
            else:
                walk(child, prefix)

    walk(tree, "")
    return out


def generate(source: str, module: str) -> list[Mutant]:
    """Every mutant of one module's source, in source order."""
    lines = source.splitlines()
    tree = ast.parse(source)
    col = _Collector(lines)
    col.visit(tree)
    where = _qualname_at(tree)
    seen: dict[tuple[str, str], int] = {}
    mutants: list[Mutant] = []
    found = sorted(col.found, key=lambda f: (f[0].lineno, f[0].col_offset, f[2], f[3]))
    for node, kind, op, label, text in found:
        qual = where.get(node.lineno, "<module>")
        k = seen.get((qual, label), 0)
        seen[(qual, label)] = k + 1
        span = (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
        if kind == "expr":
            text = f"({text})"
        mutated_src = apply_text(lines, span, text)
        mutants.append(
            Mutant(
                id=f"{module}::{qual}::{label}#{k}",
                module=module,
                line=node.lineno,
                op=op,
                label=label,
                original=lines[node.lineno - 1].strip(),
                mutated=mutated_src.splitlines()[node.lineno - 1].strip(),
                span=span,
                text=text,
            )
        )
    return mutants


def apply_text(lines: list[str], span: tuple[int, int, int, int], text: str) -> str:
    """The source with ``span`` replaced by ``text``; line count kept (padding newlines)."""
    l0, c0, l1, c1 = span  # columns are UTF-8 byte offsets (ast)
    head = "\n".join(lines[: l0 - 1] + [lines[l0 - 1].encode()[:c0].decode()])
    tail = lines[l1 - 1].encode()[c1:].decode()
    extra = l1 - l0
    if extra:
        if text.startswith("("):  # an expression: newlines inside the parentheses
            text = text[:-1] + "\n" * extra + ")"
        else:  # a statement: blank lines after it
            text = text + "\n" * extra
    rest = "\n".join([tail] + lines[l1:])
    return head + text + rest + "\n"


def custom_mutant(spec: str, sources: dict[str, str]) -> Mutant:
    """``MODULE[:LINE]:OLD=>NEW``: replace the text OLD (unique on that line or in the module)."""
    head, sep, new = spec.partition("=>")
    if not sep:
        raise SystemExit(f"--custom {spec!r}: expected MODULE[:LINE]:OLD=>NEW")
    parts = head.split(":", 2)
    module = parts[0]
    if module not in sources:
        raise SystemExit(f"--custom {spec!r}: no module {module!r}; expected one of {sorted(sources)}")
    line = None
    if len(parts) == 3 and parts[1].isdigit():
        line, old = int(parts[1]), parts[2]
    else:
        old = head[len(module) + 1 :]
    lines = sources[module].splitlines()
    hits = [(i + 1, m.start()) for i, ln in enumerate(lines) for m in re.finditer(re.escape(old), ln)
            if line is None or i + 1 == line]
    if len(hits) != 1:
        raise SystemExit(f"--custom {spec!r}: {old!r} found {len(hits)} times; expected once (give a LINE)")
    ln, c = hits[0]
    c = len(lines[ln - 1][:c].encode())
    span = (ln, c, ln, c + len(old.encode()))
    mutated = apply_text(lines, span, new).splitlines()[ln - 1].strip()
    return Mutant(id=f"{module}::custom::{old} -> {new}#0", module=module, line=ln, op="custom",
                  label=f"{old} -> {new}", original=lines[ln - 1].strip(), mutated=mutated, span=span, text=new)


# ----------------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------------


@dataclass
class Result:
    id: str
    module: str
    line: int
    op: str
    label: str
    original: str
    mutated: str
    status: str  # killed / timeout / survived / equivalent / error
    seconds: float
    detail: str = ""
    reason: str = ""  # for equivalent mutants
    mode: str = "whole"  # tests run: "whole" (the module's files), "selected" (by coverage), "not covered"
    check: str = ""  # --check-selection: the outcome with the selected tests (the status is the whole run's)
    python: str = ""  # --python-kernels: the plain-Python run's outcome when the status comes from a compiled re-run


@dataclass
class Plan:
    tests: dict[str, list[str]] = field(default_factory=dict)  # module -> pytest args (relative)
    baseline: dict[str, float] = field(default_factory=dict)  # module -> seconds
    coverage: dict[str, "CoverageMap"] = field(default_factory=dict)  # module -> map (selection on)
    trees: dict[str, ast.Module] = field(default_factory=dict)  # module -> parsed source
    python: dict[str, list[str]] = field(default_factory=dict)  # --python-kernels: module -> extra pytest options
    compiled: dict[str, float] = field(default_factory=dict)  # --python-kernels: module -> compiled baseline seconds

    def select(self, m: Mutant) -> tuple[list[str] | None, str]:
        """The pytest arguments for one mutant (None: no test executes it) and the mode used."""
        whole = self.tests[m.module]
        cmap = self.coverage.get(m.module)
        if cmap is None:
            return whole, "whole"
        tests = cmap.select(mutant_lines(self.trees[m.module], m.span), whole)
        if tests is None:
            return None, "not covered"
        return tests, ("whole" if tests == whole else "selected")


def _jitted(text: str) -> bool:
    return bool(re.search(r"^\s*@(njit|jit|numba\.|intrinsic|vectorize|guvectorize)", text, re.M))


def _importers(module: str, sources: dict[str, str]) -> set[str]:
    """``module`` and the kernel modules whose compiled code may inline it or its constants (transitively)."""
    out = {module}
    changed = True
    while changed:
        changed = False
        for name, text in sources.items():
            if name in out or not _jitted(text):
                continue
            for dep in list(out):
                stem = dep.replace("/", ".")
                name_ = re.escape(stem)
                pat = (rf"(from\s+{PACKAGE}\.{name_}\s+import)|(from\s+{PACKAGE}\s+import\s+[^\n]*\b{name_}\b)"
                       rf"|(from\s+\.{name_}\s+import)|(from\s+\.\s+import\s+[^\n]*\b{name_}\b)"
                       rf"|(import\s+{PACKAGE}\.{name_}\b)")
                if re.search(pat, text):
                    out.add(name)
                    changed = True
                    break
    return out


def tests_for(module: str, repo: Path, regressions: bool = True, doctests: bool = True) -> list[str]:
    """pytest arguments (relative to the repo root) for one module, fastest first."""
    mapped = TESTS.get(module)
    if mapped is None:
        stem = module.split("/")[-1].lstrip("_")
        mapped = [p.relative_to(repo).as_posix() for p in sorted((repo / "tests").glob("test_*.py"))
                  if not p.name.startswith("test_regressions_") and re.search(rf"\b{re.escape(stem)}\b", p.read_text())]
        mapped = sorted(p.relative_to(repo).as_posix() for p in repo.glob(REGRESSIONS)) + (mapped or CORE_TESTS)
    regs = [t for t in mapped if Path(t).name.startswith("test_regressions_")]
    rest = [t for t in mapped if t not in regs]
    args = (regs if regressions else []) + ([f"src/{PACKAGE}/{module}.py"] if doctests else [])
    for t in rest:
        if t not in args and (doctests or not t.startswith("src/")):
            args.append(t)
    return [t for t in args if (repo / t).exists()]


# ----------------------------------------------------------------------------------
# test selection by coverage (pure-Python modules)
# ----------------------------------------------------------------------------------
#
# Once per module, its mapped test files run under coverage with one context per
# test (the collapsed pytest node id: a parametrized test is one function). A
# mutant then runs only the tests whose context executed one of its lines, plus
# the module's doctests and its regression files. Lines executed outside any test
# (imports at collection, module-level constants) run every mapped file; lines no
# test executes are "not covered" and run nothing. Kernel modules (numba: coverage
# cannot see compiled code) always run every mapped file.

COVER_ENV = "RLEMASK_MUTATION_COVER"  # path of the JSON spec of a coverage pass (subprocesses read it)
_SITECUSTOMIZE = '''"""Written by tests/mutation/run.py for a coverage pass; inert without $RLEMASK_MUTATION_COVER."""
import os

if os.environ.get("RLEMASK_MUTATION_COVER"):  # a subprocess started by a test: measure it too
    try:
        import atexit
        import json

        import coverage

        with open(os.environ["RLEMASK_MUTATION_COVER"]) as _f:
            _spec = json.load(_f)
        with open(_spec["context_file"]) as _f:
            _ctx = _f.read()  # the node id of the test that started this process
        _cov = coverage.Coverage(data_file=_spec["data_file"], data_suffix=True, include=_spec["include"],
                                 config_file=False, context=_ctx or None)
        if _spec.get("clear_exclude"):
            _cov.clear_exclude()
        _cov.start()

        def _save():
            _cov.stop()
            _cov.save()

        atexit.register(_save)
    except Exception:  # noqa: BLE001 - never break the measured program
        pass
'''


def collapse(nodeid: str) -> str:
    """A pytest node id without its parameters: ``f.py::C::test_a[1-2]`` -> ``f.py::C::test_a``."""
    return nodeid.split("[", 1)[0]


def mutant_lines(tree: ast.Module, span: tuple[int, int, int, int]) -> list[int]:
    """The source lines whose execution runs the mutated code.

    The head of the innermost statement holding the mutated span, down to the
    span's last line (an ``if``'s test, not its body; a whole simple statement),
    plus the decorators of a mutated ``def`` line (a default value).
    """
    l0, c0, l1, c1 = span
    best: ast.stmt | None = None
    for node in ast.walk(tree):
        if (isinstance(node, ast.stmt) and (node.lineno, node.col_offset) <= (l0, c0)
                and (node.end_lineno, node.end_col_offset) >= (l1, c1)):
            if best is None or (node.lineno, node.col_offset) >= (best.lineno, best.col_offset):
                best = node
    if best is None:
        return list(range(l0, l1 + 1))
    first = best.lineno
    for d in getattr(best, "decorator_list", []):
        first = min(first, d.lineno)
    last = l1 if hasattr(best, "body") else max(l1, best.end_lineno or l1)
    return list(range(first, last + 1))


@dataclass
class CoverageMap:
    """Line -> collapsed node ids of the tests that executed it ("" = outside any test)."""

    lines: dict[int, list[str]]
    order: list[str]  # every collapsed node id, in the order the tests ran
    statements: list[int]  # the module's executable lines (coverage's view)

    def select(self, lines: list[int], whole: list[str]) -> list[str] | None:
        """pytest arguments for a mutant on ``lines``; None when no test executes them.

        ``whole`` is the module's full argument list: regression files, its
        doctests, its test files. The regression files and the module's doctests
        always run; of the other files, only the tests covering the lines.
        """
        ctxs: set[str] = set()
        for ln in lines:
            ctxs.update(self.lines.get(ln, ()))
        if not ctxs:
            # a statement coverage could see, never executed: no test can notice the mutant
            return None if any(ln in self.statements for ln in lines) else whole
        if "" in ctxs:  # executed at import or by collection-time code: anything may depend on it
            return whole
        if any(c.split("::", 1)[0] not in whole for c in ctxs):
            return whole  # a test of a file not in the list: trust nothing
        always = [t for t in whole if Path(t).name.startswith("test_regressions_") or t == whole_doctest(whole)]
        picked = [c for c in self.order if c in ctxs and c.split("::", 1)[0] not in always]
        return always + picked

    def to_json(self) -> dict:
        return {"lines": {str(k): v for k, v in sorted(self.lines.items())}, "order": self.order,
                "statements": self.statements}

    @classmethod
    def from_json(cls, data: dict) -> "CoverageMap":
        return cls({int(k): v for k, v in data["lines"].items()}, data["order"], data["statements"])


def whole_doctest(whole: list[str]) -> str | None:
    """The module's own doctest argument: the first ``src/`` entry of its list (see tests_for)."""
    return next((t for t in whole if t.startswith("src/")), None)


def tree_hash(root: Path, extra: str) -> str:
    """A hash of every file a test run can read (sources, tests, docs, configuration) and ``extra``."""
    h = hashlib.sha256(extra.encode())
    for name in COPIED:
        p = root / name
        files = sorted(f for f in p.rglob("*") if f.is_file() and "__pycache__" not in f.parts
                       and ".hypothesis" not in f.parts and not f.is_relative_to(root / "tests" / "mutation")
                       and f.name != "sitecustomize.py") if p.is_dir() else ([p] if p.exists() else [])
        for f in files:
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def coverage_maps(modules: list[str], tpl: Path, tests: dict[str, list[str]], profile: str, seed: int,
                  cache: Path, python: dict[str, list[str]] | None = None) -> dict[str, CoverageMap]:
    """The line -> tests maps of ``modules``, from ``cache`` or from coverage passes in ``tpl``.

    Modules whose test files are the same but for their own doctests (the
    metrics package) share one pass over the union of their arguments; each map
    keeps the tests of its own list only. ``python``: module -> the pytest
    options of its --python-kernels runs (its pass then runs the kernels as
    plain Python, and ``pragma: no cover`` excludes nothing).
    """
    python = python or {}
    groups: dict[tuple, list[str]] = {}
    for n in modules:
        rest = tuple(t for t in tests[n] if t != whole_doctest(tests[n]))
        opts = tuple(python[n]) if n in python else None
        groups.setdefault((rest, opts), []).append(n)
    out: dict[str, CoverageMap] = {}
    for (rest, opts), names in groups.items():
        regs = [t for t in rest if Path(t).name.startswith("test_regressions_")]
        args = regs + [whole_doctest(tests[n]) for n in names if whole_doctest(tests[n])]
        args += [t for t in rest if t not in args]
        key = tree_hash(tpl, json.dumps([names, args, profile, seed] + ([list(opts)] if opts is not None else [])))
        cached = cache / f"{'+'.join(n.replace('/', '.') for n in names)}{'-py' if opts is not None else ''}-{key}.json"
        if cached.exists():
            maps = {n: CoverageMap.from_json(d) for n, d in json.loads(cached.read_text()).items()}
        else:
            maps = _coverage_pass(names, tpl, args, profile, seed, None if opts is None else list(opts))
            cache.mkdir(parents=True, exist_ok=True)
            cached.write_text(json.dumps({n: c.to_json() for n, c in maps.items()}))
        for n in names:  # keep the contexts of the module's own list
            files = set(tests[n])
            c = maps[n]
            lines = {ln: [x for x in v if x == "" or x.split("::", 1)[0] in files] for ln, v in c.lines.items()}
            out[n] = CoverageMap({ln: v for ln, v in lines.items() if v},
                                 [x for x in c.order if x.split("::", 1)[0] in files], c.statements)
    return out


def _coverage_pass(modules: list[str], tpl: Path, args: list[str], profile: str, seed: int,
                   python: list[str] | None = None) -> dict[str, CoverageMap]:
    """Run ``args`` once under coverage in ``tpl``, measuring the files of ``modules`` (``python``: see coverage_maps)."""
    work = Path(tempfile.mkdtemp(prefix="cover-", dir=tpl.parent))
    site = tpl / "src" / "sitecustomize.py"  # subprocesses started by tests (python -m rlemask ...) measure too
    try:
        targets = {n: (tpl / "src" / PACKAGE / f"{n}.py").resolve() for n in modules}
        spec = {"data_file": str(work / "cov"), "include": [str(t) for t in targets.values()],
                "context_file": str(work / "context"), "args": _pytest_cmd(args, seed, stop=False, python=python),
                "clear_exclude": python is not None}
        (work / "context").write_text("")
        (work / "spec.json").write_text(json.dumps(spec))
        site.write_text(_SITECUSTOMIZE)
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--cover", str(work / "spec.json")],
                              cwd=tpl, env=_env(tpl, profile, python), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"coverage pass of {modules} failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}")
        import coverage  # the harness's own environment: only needed for the selection

        lines: dict[Path, dict[int, set[str]]] = {t: {} for t in targets.values()}
        for f in work.glob("cov*"):
            data = coverage.CoverageData(basename=str(f))
            data.read()
            for fn in data.measured_files():
                got = lines.get(Path(fn).resolve())
                if got is None:
                    continue
                for ln, ctxs in data.contexts_by_lineno(fn).items():
                    got.setdefault(ln, set()).update(ctxs)
        meta = json.loads((work / "meta.json").read_text())
    finally:
        site.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    return {n: CoverageMap({ln: sorted(c) for ln, c in lines[t].items()}, meta["order"], meta["statements"][str(t)])
            for n, t in targets.items()}


def cover_main(spec_path: str) -> int:
    """``--cover SPEC``: run pytest under coverage, one context per test (its collapsed node id)."""
    import coverage
    import pytest

    spec = json.loads(Path(spec_path).read_text())
    ctx_file = Path(spec["context_file"])
    cov = coverage.Coverage(data_file=spec["data_file"], data_suffix=True, include=spec["include"], config_file=False)
    if spec.get("clear_exclude"):  # --python-kernels: kernels marked "pragma: no cover - compiled" run as Python
        cov.clear_exclude()
    order: list[str] = []

    class Contexts:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):
            ctx = collapse(item.nodeid)
            if ctx not in order:
                order.append(ctx)
            ctx_file.write_text(ctx)
            cov.switch_context(ctx)
            yield
            cov.switch_context("")
            ctx_file.write_text("")

    os.environ[COVER_ENV] = spec_path  # for the subprocesses the tests start (sitecustomize.py)
    cov.start()
    try:
        rc = int(pytest.main(spec["args"], plugins=[Contexts()]))
    finally:
        cov.stop()
        cov.save()
    statements = {f: sorted(cov.analysis2(f)[1]) for f in spec["include"]} if rc == 0 else {}
    Path(spec["data_file"]).with_name("meta.json").write_text(json.dumps({"order": order, "statements": statements}))
    return rc


def _env(root: Path, profile: str, python: list[str] | None = None) -> dict[str, str]:
    """The environment of a test run in ``root``; ``python`` not None: kernels as plain Python (NUMBA_DISABLE_JIT)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE_DIR") and k != "NUMBA_DISABLE_JIT"}
    if python is not None:
        env["NUMBA_DISABLE_JIT"] = "1"
    env["PYTHONPATH"] = str(root / "src")
    env["HYPOTHESIS_PROFILE"] = profile
    env["PYTHONDONTWRITEBYTECODE"] = "0"
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(k, "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("OMP_WAIT_POLICY", "passive")
    real = REPO.parent / "shared" / "data" / "uwmgi-real"
    if "RLEMASK_REAL_DATA" not in env and real.is_dir():
        env["RLEMASK_REAL_DATA"] = str(real.resolve())
    return env


def _pytest_cmd(args: list[str], seed: int, stop: bool = True, python: list[str] | None = None) -> list[str]:
    """pytest's arguments; ``python``: the extra options of a --python-kernels run (deselected tests...)."""
    return (["-x"] if stop else []) + ["-q", "-p", "no:cacheprovider", "--tb=line", f"--hypothesis-seed={seed}",
                                       "-W", "ignore::pytest.PytestAssertRewriteWarning", *(python or []), *args]


def _pytest(root: Path, args: list[str], profile: str, seed: int, timeout: float | None,
            python: list[str] | None = None, stop: bool = True, tail: int = 3000) -> tuple[int | None, str, float]:
    """Run pytest in a new process in ``root``; (returncode or None on timeout, output tail, seconds)."""
    cmd = [sys.executable, "-m", "pytest", *_pytest_cmd(args, seed, stop, python)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=root, env=_env(root, profile, python), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        rc = None
    return rc, out[-tail:], time.monotonic() - t0


# Preloaded by a runner: the imports every test run pays for (3-8 s of a mutant's run).
_PRELOAD = ("numpy", "numba", "numba.core.typing", "numba.np.ufunc.parallel", "pandas", "scipy.ndimage",
            "sklearn.model_selection", "PIL.Image", "hypothesis", "hypothesis.strategies", "pytest",
            # tests/conftest.py imports torch (when installed) in a session fixture: ~10 s per run
            "torch")


def runner_loop() -> int:
    """``--runner``: import the heavy libraries once, then fork one pytest per request.

    Requests and replies are JSON lines on stdin / stdout. The runner is
    single-threaded, so forking it is safe; ``rlemask`` itself is never imported
    here, each child imports the mutated copy.
    """
    import importlib

    for name in _PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # pragma: no cover - an optional library
            pass
    proto = os.fdopen(os.dup(1), "w")
    here = sys.path[0]
    for line in sys.stdin:
        req = json.loads(line)
        t0 = time.monotonic()
        pid = os.fork()
        if pid == 0:  # the child: one pytest run in the mutant's tree
            try:
                os.setsid()
                fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.chdir(req["root"])
                os.environ.clear()
                os.environ.update(req["env"])
                if "numba" in sys.modules:  # imported by the parent: NUMBA_DISABLE_JIT may differ per request
                    from numba.core import config as numba_config

                    numba_config.reload_config()
                    if numba_config.DISABLE_JIT != int(req["env"].get("NUMBA_DISABLE_JIT", "0")):
                        raise RuntimeError("numba.config.DISABLE_JIT did not follow the request's environment")
                sys.path[:] = [req["root"] + "/src"] + [p for p in sys.path if p != here]
                import pytest

                rc = int(pytest.main(req["args"]))
            except BaseException:  # noqa: BLE001 - report anything as an error
                import traceback

                traceback.print_exc()
                rc = 3
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(rc)
        deadline = None if req["timeout"] is None else t0 + req["timeout"]
        status = None
        while True:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
                break
            if deadline is not None and time.monotonic() > deadline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                break
            time.sleep(0.05)
        proto.write(json.dumps({"rc": status, "seconds": time.monotonic() - t0}) + "\n")
        proto.flush()
    return 0


class Runner:
    """One ``--runner`` process per job slot (see :func:`runner_loop`)."""

    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE_DIR")}
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env.setdefault(k, "1")  # no BLAS thread pool in the process that forks
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--runner"], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, root: Path, args: list[str], profile: str, seed: int, timeout: float | None,
            python: list[str] | None = None):
        log = root / "pytest.log"
        req = {"root": str(root), "args": _pytest_cmd(args, seed, python=python), "env": _env(root, profile, python),
               "timeout": timeout, "log": str(log)}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        out = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        return reply["rc"], out, reply["seconds"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _first_failure(out: str) -> str:
    for line in out.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line[:300]
    for line in reversed(out.splitlines()):
        if "Error" in line or "error" in line:
            return line.strip()[:300]
    return out.strip().splitlines()[-1][:300] if out.strip() else ""


def make_template(repo: Path, work: Path) -> Path:
    tpl = work / "template"
    tpl.mkdir(parents=True)
    for name in COPIED:
        src = repo / name
        if src.is_dir():
            shutil.copytree(src, tpl / name, ignore=IGNORED, symlinks=True)
        elif src.exists():
            shutil.copy2(src, tpl / name)
    return tpl


def _copy_tree(tpl: Path, dest: Path) -> None:
    for child in tpl.iterdir():
        if child.is_dir():
            shutil.copytree(child, dest / child.name, symlinks=True, ignore=shutil.ignore_patterns(".hypothesis"))
        else:
            shutil.copy2(child, dest / child.name)


def run_mutant(m: Mutant, tpl: Path, work: Path, plan: Plan, sources: dict[str, str], args: argparse.Namespace,
               drop: set[str], runners: queue.Queue | None) -> Result:
    tests, mode = plan.select(m)
    if m.module in plan.python:
        return _run_python(m, tests, mode, tpl, work, plan, sources, args, drop, runners)
    if args.check_selection:  # the outcome of the whole files is the status; the selection's goes to `check`
        whole = _run_tests(m, plan.tests[m.module], "whole", tpl, work, plan, sources, args, drop, runners)
        if tests is None:
            whole.check = "survived (not covered)"
        elif tests == plan.tests[m.module]:
            whole.check = whole.status + " (same tests)"
        else:
            whole.check = _run_tests(m, tests, mode, tpl, work, plan, sources, args, drop, runners).status
        return whole
    if tests is None:  # no test executes the mutated line: nothing to run
        return _result(m, "survived", 0.0, "not covered", mode)
    return _run_tests(m, tests, mode, tpl, work, plan, sources, args, drop, runners)


# --python-kernels: a kernel mutant runs as plain Python (NUMBA_DISABLE_JIT=1: no compile, and coverage
# selects its tests). Python is not the compiled kernel: an index out of bounds raises instead of reading
# or writing past an array, integers of Python do not wrap, a stand-in of an intrinsic raises where the
# compiled one is undefined. So only a kill by a failed assertion (no such error in the output) is kept;
# every survivor, timeout, error and kill showing one of these errors is re-run compiled on every mapped
# file, and that outcome counts, with the Python one noted (``python`` in the report).
# numpy scalars wrap as the kernels do, but warn; the real-data tests (whole UWMGI scans) take many
# minutes as plain Python: their kills come from the compiled re-run of the survivors
PY_OPTIONS = ["-W", "ignore:overflow encountered:RuntimeWarning", "-m", "not realdata"]
PY_ARTEFACTS = ("IndexError", "OverflowError", "negative shift count", "ZeroDivisionError", "stand-in ",
                "RecursionError", "MemoryError")
_COMPILED_LOCK = __import__("threading").Lock()


def _compiled_baseline(n: str, tpl: Path, plan: Plan, args: argparse.Namespace) -> float | None:
    """The compiled baseline of module ``n`` (run once, on first need; it fills the template's numba cache)."""
    with _COMPILED_LOCK:
        if n not in plan.compiled:
            same = [k for k in plan.compiled if plan.tests[k] == plan.tests[n]]
            if same:
                plan.compiled[n] = plan.compiled[same[0]]
            else:
                rc, out, dt = _pytest(tpl, plan.tests[n], args.profile, args.hypothesis_seed, None)
                print(f"compiled baseline {n}: {dt:.1f} s (exit {rc})", file=sys.stderr, flush=True)
                plan.compiled[n] = dt if rc == 0 else -1.0
                if rc != 0:
                    print(out, file=sys.stderr)
        return None if plan.compiled[n] < 0 else plan.compiled[n]


def _run_compiled(m: Mutant, tpl: Path, work: Path, plan: Plan, sources: dict[str, str], args: argparse.Namespace,
                  drop: set[str], runners: queue.Queue | None) -> Result:
    base = _compiled_baseline(m.module, tpl, plan, args)
    if base is None:
        return _result(m, "error", 0.0, "the compiled baseline fails", "compiled")
    return _run_tests(m, plan.tests[m.module], "compiled", tpl, work, plan, sources, args, drop, runners, base=base)


def _run_python(m: Mutant, tests: list[str] | None, mode: str, tpl: Path, work: Path, plan: Plan,
                sources: dict[str, str], args: argparse.Namespace, drop: set[str],
                runners: queue.Queue | None) -> Result:
    opts = plan.python[m.module]
    if tests is None:
        py = _result(m, "survived", 0.0, "not covered", "py-not covered")
    else:
        py = _run_tests(m, tests, "py-" + mode, tpl, work, plan, sources, args, drop, runners, python=opts)
    shown = f"{py.status} ({py.mode}{', artefact?' if py.python == 'artefact' else ''}, {py.seconds:.1f} s)"
    if args.check_python:  # the status is the compiled run's; the Python run's goes to `check`
        comp = _run_compiled(m, tpl, work, plan, sources, args, drop, runners)
        comp.check, comp.python = shown, f"{shown}: {py.detail}"
        comp.seconds = round(comp.seconds + py.seconds, 2)
        return comp
    if py.status == "killed" and py.python != "artefact":
        py.python = ""
        return py
    if args.defer_compiled:  # not confirmed: scored as not killed until re-run compiled (--ids-from)
        py.status, py.python = "pending", f"{shown}: {py.detail}"
        return py
    comp = _run_compiled(m, tpl, work, plan, sources, args, drop, runners)
    comp.python = f"{shown}: {py.detail}"
    comp.seconds = round(comp.seconds + py.seconds, 2)
    return comp


def _run_tests(m: Mutant, tests: list[str], mode: str, tpl: Path, work: Path, plan: Plan, sources: dict[str, str],
               args: argparse.Namespace, drop: set[str], runners: queue.Queue | None,
               python: list[str] | None = None, base: float | None = None) -> Result:
    root = Path(tempfile.mkdtemp(prefix="m-", dir=work))
    t0 = time.monotonic()
    try:
        _copy_tree(tpl, root)
        pkg = root / "src" / PACKAGE
        target = pkg / f"{m.module}.py"
        target.write_text(apply_text(sources[m.module].splitlines(), m.span, m.text))
        stem = Path(m.module).name
        cache = target.parent / "__pycache__"
        for pyc in cache.glob(f"{stem}.*.pyc"):
            pyc.unlink()
        for name in drop:  # numba caches the mutant could make stale
            d = (pkg / name).parent / "__pycache__"
            for f in list(d.glob(f"{Path(name).name}.*.nbi")) + list(d.glob(f"{Path(name).name}.*.nbc")):
                f.unlink()
        try:
            compile(target.read_text(), str(target), "exec")
        except SyntaxError as exc:
            return _result(m, "error", time.monotonic() - t0, f"mutant does not compile: {exc}", mode)
        limit = max(args.min_timeout, args.timeout_factor * (plan.baseline[m.module] if base is None else base))
        if runners is None:
            rc, out, _ = _pytest(root, tests, args.profile, args.hypothesis_seed, limit, python=python)
        else:
            runner = runners.get()
            try:
                rc, out, _ = runner.run(root, tests, args.profile, args.hypothesis_seed, limit, python=python)
            finally:
                runners.put(runner)
        dt = time.monotonic() - t0
        if rc is None:
            res = _result(m, "timeout", dt, f"no result after {limit:.0f} s", mode)
        elif rc == 0:
            res = _result(m, "survived", dt, "", mode)
        elif rc == 1:
            res = _result(m, "killed", dt, _first_failure(out), mode)
        elif rc == 2:  # interrupted: a collection (import) error under -x
            res = _result(m, "killed", dt, "collection error: " + _first_failure(out), mode)
        elif rc < 0:
            res = _result(m, "killed", dt, f"crashed with signal {-rc}", mode)
        else:
            res = _result(m, "error", dt, f"pytest exit code {rc}: {_first_failure(out)}", mode)
        if python is not None and res.status == "killed":
            res.python = "artefact" if rc < 0 or any(a in out for a in PY_ARTEFACTS) else "clean"
        return res
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def _agree(status: str, check: str) -> bool:
    """Whether the whole-file status and the selected run's outcome tell the same (killed or not)."""
    kind = {"killed": "k", "timeout": "k", "survived": "s", "equivalent": "s", "error": "e"}
    return kind.get(status) == kind.get(check.split(" ")[0])


def _result(m: Mutant, status: str, seconds: float, detail: str, mode: str = "whole") -> Result:
    return Result(m.id, m.module, m.line, m.op, m.label, m.original, m.mutated, status, round(seconds, 2), detail,
                  mode=mode)


def load_equivalent(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    return {e["id"]: e["reason"] for e in data.get("mutant", [])}


# ----------------------------------------------------------------------------------
# reports
# ----------------------------------------------------------------------------------


def summarize(results: list[Result], seconds: dict[str, float]) -> list[dict]:
    rows = []
    for module in sorted({r.module for r in results}):
        rs = [r for r in results if r.module == module]
        rows.append(_row(module, rs, seconds.get(module, sum(r.seconds for r in rs))))
    rows.append(_row("total", results, sum(seconds.values()) if seconds else sum(r.seconds for r in results)))
    return rows


def _row(name: str, rs: list[Result], seconds: float) -> dict:
    count = {s: sum(r.status == s for r in rs)
             for s in ("killed", "timeout", "survived", "pending", "equivalent", "error")}
    # pending (--defer-compiled): not killed as plain Python, not yet re-run compiled; scored as not killed
    scored = count["killed"] + count["timeout"] + count["survived"] + count["pending"]
    score = (count["killed"] + count["timeout"]) / scored if scored else float("nan")
    not_covered = sum(r.status == "survived" and r.mode == "not covered" for r in rs)
    return {"module": name, "mutants": len(rs), **count, "not_covered": not_covered, "score": score,
            "seconds": round(seconds, 1),
            "per_mutant": round(sum(r.seconds for r in rs) / len(rs), 1) if rs else 0.0}


def write_reports(out: Path, results: list[Result], rows: list[dict], meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({"meta": meta, "summary": rows,
                                                  "mutants": [asdict(r) for r in results]}, indent=1))
    md = [f"# Mutation report\n\n{meta['command']}\n\nprofile={meta['profile']} hypothesis_seed={meta['seed']} "
          f"jobs={meta['jobs']} wall={meta['wall_s']:.0f} s coverage maps={meta.get('coverage_s', 0)} s "
          f"selection: {meta.get('selection')}" + (" NUMBA_BOUNDSCHECK=1" if meta.get("boundscheck") else "") + (f" PARTIAL: {meta['partial']} run" if meta.get("partial") else "") + "\n",
          "| module | mutants | killed | timeout | survived (not covered) | pending | equivalent | error | score | time (s) | s/mutant |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['module']} | {r['mutants']} | {r['killed']} | {r['timeout']} | {r['survived']} ({r['not_covered']}) | {r['pending']} | "
                  f"{r['equivalent']} | {r['error']} | {r['score']:.1%} | {r['seconds']} | {r['per_mutant']} |")
    rerun = [r for r in results if r.python and r.status not in ("pending", "equivalent")]
    if rerun:
        md.append(f"\n## re-run compiled after the plain-Python run (--python-kernels; {len(rerun)})\n")
        md.append("The status counted is the compiled run's; the Python run's outcome is noted.\n")
        for r in rerun:
            md.append(f"- `{r.id}` line {r.line}: compiled **{r.status}**"
                      + (f" ({r.detail[:160]})" if r.detail else "") + f"; python: {r.python[:240]}")
    for status in ("survived", "pending", "error", "equivalent"):
        rs = [r for r in results if r.status == status]
        if not rs:
            continue
        md.append(f"\n## {status} ({len(rs)})\n")
        for r in rs:
            md.append(f"- `{r.id}` line {r.line}\n  - `{r.original}`\n  - `{r.mutated}`")
            if r.reason or r.detail:
                md.append(f"  - {r.reason or r.detail}")
            if status == "pending":
                md.append(f"  - plain Python: {r.python[:240]}")
    (out / "report.md").write_text("\n".join(md) + "\n")


# ----------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------


def rescore(report: Path, out: Path) -> int:
    """Apply the current equivalent.toml to a finished run (survivors <-> equivalent) and rewrite its reports."""
    data = json.loads(report.read_text())
    equivalent = load_equivalent(EQUIVALENT_FILE)
    results = [Result(**r) for r in data["mutants"]]
    for r in results:
        if r.status in ("survived", "equivalent") or (r.status == "pending" and r.id in equivalent):
            r.status, r.reason = ("equivalent", equivalent[r.id]) if r.id in equivalent else ("survived", "")
    seconds = {row["module"]: row["seconds"] for row in data["summary"] if row["module"] != "total"}
    rows = summarize(results, seconds)
    write_reports(out, results, rows, data["meta"])
    for r in rows:
        print(f"{r['module']:24s} {r['mutants']:4d} killed {r['killed']:4d} timeout {r['timeout']:3d} "
              f"survived {r['survived']:3d} ({r['not_covered']} not covered) equivalent {r['equivalent']:3d} "
              f"score {r['score']:.1%}")
    return 0


def _meta(args: argparse.Namespace, argv: list[str] | None, t_start: float, total: int, results: list[Result],
          plan: Plan, cover_s: float) -> dict:
    return {"command": "python tests/mutation/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "profile": args.profile, "seed": args.hypothesis_seed, "jobs": args.jobs,
            "wall_s": time.monotonic() - t_start, "generated": total, "run": len(results),
            "tests": plan.tests, "coverage_s": cover_s,
            "python_kernels": {n: o for n, o in plan.python.items()}, "compiled_baseline_s": plan.compiled,
            "selection": "off" if args.no_select or args.tests else "coverage (pure-Python modules)",
            "boundscheck": bool(args.boundscheck)}


def select_modules(src_pkg: Path, patterns: list[str]) -> list[str]:
    names = sorted(module_name(p, src_pkg) for p in src_pkg.rglob("*.py") if "__pycache__" not in p.parts)
    if not patterns:
        return [n for n in names if n not in EXCLUDE]
    chosen = []
    for pat in patterns:
        hits = [n for n in names if fnmatch.fnmatch(n, pat) or fnmatch.fnmatch(n, pat.removesuffix(".py"))]
        if not hits:
            raise SystemExit(f"--module {pat!r} matches no module; expected one of {names}")
        chosen += [h for h in hits if h not in chosen]
    return chosen


def _sample(rng: random.Random, mutants: list[Mutant], n: int) -> list[Mutant]:
    if len(mutants) <= n:
        return mutants
    return sorted(rng.sample(mutants, n), key=lambda m: (m.module, m.line, m.id))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--module", action="append", default=[],
                   help="module under src/rlemask (name or glob, e.g. rle, '_kernels*', commands/codec); repeatable, "
                   "comma-separated; default: every core module")
    p.add_argument("--id", action="append", default=[], help="only mutants whose id contains this text; repeatable")
    p.add_argument("--ids-from", type=Path, default=None, metavar="FILE",
                   help="only the mutants whose exact ids are listed in FILE, one a line (lines starting with '#' are comments)")
    p.add_argument("--op", action="append", default=[],
                   help="only these operators (compare, bound, number, bool, binop, augassign, boolop, not, minmax, "
                   "loop, raise, return); repeatable")
    p.add_argument("--custom", action="append", default=[], metavar="MODULE[:LINE]:OLD=>NEW",
                   help="a hand-written mutant (replaces the generated ones); repeatable")
    p.add_argument("--max", type=int, default=None, help="run a random sample of at most N mutants")
    p.add_argument("--per-module", type=int, default=None, metavar="N",
                   help="run a random sample of at most N mutants of each module")
    p.add_argument("--seed", type=int, default=0, help="seed of the --max / --per-module samples (default 0)")
    p.add_argument("--shuffle", action="store_true",
                   help="run the mutants in a random order (--seed), so a run stopped early is a random sample")
    p.add_argument("--jobs", "-j", type=int, default=1, help="mutants run in parallel (default 1)")
    p.add_argument("--profile", default="dev", help="HYPOTHESIS_PROFILE for the test runs (default dev: 30 examples)")
    p.add_argument("--hypothesis-seed", type=int, default=0, help="--hypothesis-seed of the test runs (default 0)")
    p.add_argument("--timeout-factor", type=float, default=3.0,
                   help="a mutant's time limit: this many times its module's baseline run (default 3)")
    p.add_argument("--min-timeout", type=float, default=60.0, help="lowest time limit in seconds (default 60)")
    p.add_argument("--tests", action="append", default=[],
                   help="pytest arguments to run instead of the mapped test files (relative to the repo root)")
    p.add_argument("--no-regressions", action="store_true",
                   help="leave out tests/test_regressions_*.py (to see what they add)")
    p.add_argument("--no-doctests", action="store_true",
                   help="leave out the doctests (to see which mutants only a doctest catches)")
    p.add_argument("--list", action="store_true", help="list the selected mutants and exit")
    p.add_argument("--show", action="store_true", help="print the diff line of each selected mutant and exit")
    p.add_argument("--out", type=Path, default=REPO / "build" / "mutation", help="report folder (default build/mutation)")
    p.add_argument("--workdir", type=Path, default=None, help="temporary folder (default: a new one in $TMPDIR)")
    p.add_argument("--keep", action="store_true", help="keep each mutant's copy of the tree (debugging)")
    p.add_argument("--fail-under", type=float, default=0.0, help="exit 1 when the total score is below this (0-100)")
    p.add_argument("--no-fork", action="store_true",
                   help="start a new Python per mutant instead of forking a runner that has the libraries imported")
    p.add_argument("--quiet", "-q", action="store_true", help="no line per mutant")
    p.add_argument("--no-select", action="store_true",
                   help="run every mapped test file for every mutant (no selection by coverage)")
    p.add_argument("--check-selection", action="store_true",
                   help="run each mutant on the whole files and on its selected tests; report where they disagree")
    p.add_argument("--python-kernels", action="store_true",
                   help="run the mutants of numba kernel modules with NUMBA_DISABLE_JIT=1 (plain Python: no compile, "
                   "tests selected by coverage); a survivor, timeout or kill by an IndexError-like error is re-run "
                   "compiled, and that outcome counts")
    p.add_argument("--boundscheck", action="store_true",
                   help="compiled runs (baselines included) with NUMBA_BOUNDSCHECK=1: a kernel mutant that reads or "
                   "writes outside an array raises IndexError, a failed test, instead of touching memory it does not "
                   "own (often harmless by luck, so it survives without this); plain-Python runs check bounds anyway")
    p.add_argument("--check-python", action="store_true",
                   help="with --python-kernels: run each kernel mutant both compiled (every mapped file) and as plain "
                   "Python; report where the outcomes differ")
    p.add_argument("--python-slow", type=float, default=15.0, metavar="S",
                   help="with --python-kernels: leave out the tests that take S seconds or more as plain Python "
                   "(default 15; their kills come from the compiled re-run of the survivors)")
    p.add_argument("--defer-compiled", action="store_true",
                   help="with --python-kernels: no compiled re-run; a mutant that would need one is 'pending' (scored "
                   "as not killed; re-run them compiled with --ids-from)")
    p.add_argument("--cache", type=Path, default=REPO / "build" / "mutation-coverage",
                   help="folder of the cached line -> tests maps (default build/mutation-coverage)")
    p.add_argument("--rescore", type=Path, default=None, metavar="REPORT_JSON",
                   help="re-read tests/mutation/equivalent.toml into a finished report.json and rewrite its reports "
                   "in --out; nothing run")
    p.add_argument("--runner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--cover", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.python_kernels = args.python_kernels or args.check_python or args.defer_compiled
    if args.runner:
        return runner_loop()
    if args.cover:
        return cover_main(args.cover)
    if args.rescore:
        return rescore(args.rescore, args.out)
    # the driver only: runner and coverage processes keep the environment they were started with,
    # and _env() hands this setting to every test run (the runners re-read numba's configuration per run)
    if args.boundscheck:
        os.environ["NUMBA_BOUNDSCHECK"] = "1"
    else:
        os.environ.pop("NUMBA_BOUNDSCHECK", None)

    src_pkg = REPO / "src" / PACKAGE
    patterns = [x.strip() for m in args.module for x in m.split(",") if x.strip()]
    all_names = select_modules(src_pkg, ["*"])
    sources = {n: (src_pkg / f"{n}.py").read_text() for n in all_names}
    if args.custom:
        mutants = [custom_mutant(c, sources) for c in args.custom]
        modules = sorted({m.module for m in mutants})
    else:
        modules = select_modules(src_pkg, patterns)
        mutants = [m for n in modules for m in generate(sources[n], n)]
    if args.id:
        mutants = [m for m in mutants if any(s in m.id for s in args.id)]
    if args.ids_from is not None:
        wanted = {ln.strip() for ln in args.ids_from.read_text().splitlines()}
        wanted = {w for w in wanted if w and not w.startswith("#")}  # ids hold '#k': whole-line comments only
        unknown = wanted - {m.id for m in mutants}
        if unknown:
            raise SystemExit(f"--ids-from {args.ids_from}: no such mutant(s): {sorted(unknown)}")
        mutants = [m for m in mutants if m.id in wanted]
    if args.op:
        mutants = [m for m in mutants if m.op in args.op]
    total = len(mutants)
    rng = random.Random(args.seed)
    if args.per_module is not None:
        mutants = [m for n in sorted({m.module for m in mutants})
                   for m in _sample(rng, [m for m in mutants if m.module == n], args.per_module)]
    if args.max is not None and len(mutants) > args.max:
        mutants = _sample(rng, mutants, args.max)
    if args.shuffle:  # a run cut off by time is then a random sample of the selection, not its first lines
        rng.shuffle(mutants)
    modules = sorted({m.module for m in mutants})
    if args.list or args.show:
        for m in mutants:
            print(m.id if args.list and not args.show else f"{m.id}\n  line {m.line}\n  - {m.original}\n  + {m.mutated}")
        counts = {n: sum(m.module == n for m in mutants) for n in modules}
        print(f"{len(mutants)} of {total} mutants: {counts}", file=sys.stderr)
        return 0
    if not mutants:
        print("no mutant selected", file=sys.stderr)
        return 2

    equivalent = load_equivalent(EQUIVALENT_FILE)
    work = Path(tempfile.mkdtemp(prefix="rlemask-mutation-", dir=args.workdir))
    t_start = time.monotonic()
    results: list[Result] = []
    runners = None
    plan = Plan()
    try:
        tpl = make_template(REPO, work)
        for n in modules:
            plan.tests[n] = list(args.tests) or tests_for(n, REPO, not args.no_regressions, not args.no_doctests)
        # baseline: the unmutated tree passes, and every kernel is compiled into the template's cache
        print(f"{len(mutants)} mutants of {total} in {modules}; baseline runs in {work}", file=sys.stderr)
        done_args: dict[tuple[str, ...], float] = {}
        done_py: dict[tuple[str, ...], tuple[float, list[str]]] = {}
        for n in modules:
            if args.python_kernels and _jitted(sources[n]):
                # the kernels as plain Python: the tests that cannot pass there (numba dispatcher
                # introspection) are found by a first run and deselected for this module's mutants
                key = tuple(plan.tests[n])
                if key not in done_py:
                    rc, out, dt = _pytest(tpl, plan.tests[n], args.profile, args.hypothesis_seed, None,
                                          python=PY_OPTIONS + ["--durations=0", f"--durations-min={args.python_slow}"],
                                          stop=False, tail=1 << 20)
                    failed = [ln.split(" ", 1)[1].split(" - ", 1)[0] for ln in out.splitlines()
                              if ln.startswith("FAILED ")]
                    # tests slower than --python-slow as plain Python (real-data round trips): left out of
                    # this mode too; a mutant only they kill survives as Python and is re-run compiled
                    slow = [m.group(2) for m in re.finditer(r"^([0-9.]+)s call\s+(\S.*?)\s*$", out, re.M)
                            if float(m.group(1)) >= args.python_slow]
                    failed += [f for f in slow if f not in failed]
                    if rc not in (0, 1) or (rc == 1 and not failed) or any(ln.startswith("ERROR ") for ln in out.splitlines()):
                        print(f"python baseline of {n} fails (exit {rc}):\n{out[-5000:]}", file=sys.stderr)
                        return 2
                    done_py[key] = (dt, failed)
                    print(f"python baseline {n}: {dt:.1f} s, deselected (fail as plain Python, or slower than "
                          f"{args.python_slow:g} s there): {failed or 'none'}", file=sys.stderr)
                dt, failed = done_py[key]
                plan.python[n] = PY_OPTIONS + [f"--deselect={f}" for f in failed]
                plan.baseline[n] = dt
                continue
            key = tuple(plan.tests[n])
            if key not in done_args:
                rc, out, dt = _pytest(tpl, plan.tests[n], args.profile, args.hypothesis_seed, None)
                if rc != 0:
                    print(f"baseline of {n} fails (exit {rc}); fix the tests first:\n{out}", file=sys.stderr)
                    return 2
                done_args[key] = dt
                print(f"baseline {n}: {dt:.1f} s  ({' '.join(plan.tests[n])})", file=sys.stderr)
            plan.baseline[n] = done_args[key]
        selectable = [n for n in modules
                      if not (args.no_select or args.tests or (_jitted(sources[n]) and n not in plan.python))]
        t0 = time.monotonic()  # the line -> tests maps of the pure-Python modules (cached)
        plan.coverage = coverage_maps(selectable, tpl, plan.tests, args.profile, args.hypothesis_seed, args.cache,
                                      plan.python)
        plan.trees = {n: ast.parse(sources[n]) for n in selectable}
        cover_s = round(time.monotonic() - t0, 1)
        if selectable:
            print(f"coverage maps of {selectable}: {cover_s:.1f} s", file=sys.stderr)
        module_time = {n: 0.0 for n in modules}
        # numba freezes globals (error codes in _codes.py...) into the cached code of its importers too
        drops = {n: _importers(n, sources) for n in modules}
        runners: queue.Queue | None = None
        if not args.no_fork:
            runners = queue.Queue()
            for _ in range(max(1, args.jobs)):
                runners.put(Runner())
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(run_mutant, m, tpl, work, plan, sources, args, drops[m.module], runners): m
                       for m in mutants}
            for i, fut in enumerate(concurrent.futures.as_completed(futures), 1):
                r = fut.result()
                if r.status in ("survived", "pending") and r.id in equivalent:
                    r.status, r.reason = "equivalent", equivalent[r.id]
                results.append(r)
                module_time[r.module] += r.seconds
                if i % 10 == 0 and i < len(mutants):  # a cut-off run still leaves a report
                    done = sorted(results, key=lambda r: (r.module, r.line, r.id))
                    write_reports(args.out, done, summarize(done, module_time),
                                  {**_meta(args, argv, t_start, total, done, plan, cover_s), "partial": f"{i} of {len(mutants)}"})
                if not args.quiet:
                    print(f"[{i}/{len(mutants)}] {r.status:10s} {r.seconds:6.1f}s {r.mode[:3]} {r.id}  ({r.detail[:90]})",
                          file=sys.stderr, flush=True)
    finally:
        while runners is not None and not runners.empty():
            runners.get().close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results.sort(key=lambda r: (r.module, r.line, r.id))
    rows = summarize(results, module_time)
    meta = _meta(args, argv, t_start, total, results, plan, cover_s)
    write_reports(args.out, results, rows, meta)
    if args.check_python:
        differ = [r for r in results if r.module in plan.python and not _agree(r.status, r.check)]
        for r in results:
            print(f"compiled {r.status:10s} python {r.check:40s} {r.id}")
        print(f"python-kernels check: {sum(r.module in plan.python for r in results) - len(differ)} of "
              f"{sum(r.module in plan.python for r in results)} agree"
              + "".join(f"\n  DIFFER {r.id}: compiled {r.status}, python {r.python[:200]}" for r in differ))
    if args.check_selection:
        differ = [r for r in results if not _agree(r.status, r.check)]
        for r in results:
            print(f"{r.status:10s} {r.check:28s} {r.id}")
        print(f"selection check: {len(results) - len(differ)} of {len(results)} agree"
              + "".join(f"\n  DIFFER {r.id}: whole {r.status}, selected {r.check}" for r in differ))
    for r in rows:
        print(f"{r['module']:24s} {r['mutants']:4d} mutants  killed {r['killed']:4d}  timeout {r['timeout']:3d}  "
              f"survived {r['survived']:3d}  pending {r['pending']:3d}  equivalent {r['equivalent']:3d}  error {r['error']:3d}  "
              f"score {r['score']:.1%}  {r['seconds']:.0f} s")
    print(f"reports: {args.out / 'report.md'}, {args.out / 'report.json'}")
    return 1 if rows[-1]["score"] * 100 < args.fail_under else 0


if __name__ == "__main__":
    sys.exit(main())
