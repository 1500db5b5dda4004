"""Tests of the mutation harness's mutant generator (no test run, no subprocess)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("mutation_run", Path(__file__).with_name("run.py"))
run = importlib.util.module_from_spec(_spec)
sys.modules["mutation_run"] = run
_spec.loader.exec_module(run)

SOURCE = '''"""Module docstring with 1 and True."""
from numba import njit

__all__ = ["f", "g"]
LIMIT = 16


@njit(cache=True)
def f(a, n: int = 3) -> int:
    """Doc 2 < 3."""
    total = 0
    for i in range(n):
        if a[i] > 1 and i != 0:
            break
        total += a[i]
    return total, n


def g(x, *, flag=True):
    if not x:
        raise ValueError(f"x={x + 1} is bad")
    y = x - 1  # pragma: no mutate
    if y < LIMIT:
        x = x[y:LIMIT]
    return min(x, LIMIT)
'''


def _labels(mutants):
    return {(m.id.split("::")[1], m.label) for m in mutants}


def test_every_operator_is_generated():
    labels = _labels(run.generate(SOURCE, "demo"))
    expected = {
        ("<module>", "16 -> 17"),
        ("<module>", "16 -> 15"),
        ("f", "3 -> 4"),  # a default value
        ("f", "0 -> 1"),
        ("f", "> -> >="),
        ("f", "!= -> =="),
        ("f", "and -> or"),
        ("f", "break -> continue"),
        ("f", "+= -> -="),
        ("f", "return (a, b, ...) -> (b, a, ...)"),
        ("g", "True -> False"),
        ("g", "not x -> x"),
        ("g", "raise ValueError -> pass"),
        ("g", "min -> max"),
        ("g", "< LIMIT -> < LIMIT - 1"),  # the other off-by-one than `<` -> `<=`
        ("g", "slice lower y + 1"),
        ("g", "slice upper LIMIT - 1"),
        ("f", "range stop n - 1"),
        ("f", "0 -> -1"),
    }
    assert expected <= labels


def test_docstrings_annotations_decorators_fstrings_and_pragmas_are_left_alone():
    mutants = run.generate(SOURCE, "demo")
    lines = SOURCE.splitlines()
    touched = {lines[m.line - 1].strip() for m in mutants}
    assert not any('"""' in t for t in touched)  # docstrings
    assert "@njit(cache=True)" not in touched  # decorator argument True
    assert not any(t.startswith("__all__") for t in touched)
    assert "y = x - 1  # pragma: no mutate" not in touched
    # inside the f-string of the raise: only the raise itself is mutated
    raise_line = [m for m in mutants if m.original.startswith("raise")]
    assert [m.label for m in raise_line] == ["raise ValueError -> pass"]
    # `n: int` and `-> int` are annotations: the only constant on the def line is the default 3
    assert {m.label for m in mutants if m.original.startswith("def f")} == {"3 -> 4", "3 -> 2"}


def test_each_mutant_changes_one_thing_and_keeps_line_numbers():
    for m in run.generate(SOURCE, "demo"):
        new = run.apply_text(SOURCE.splitlines(), m.span, m.text)
        assert new.count("\n") == SOURCE.count("\n"), m.id
        assert ast.dump(ast.parse(new)) != ast.dump(ast.parse(SOURCE)), m.id
        changed = [i for i, (a, b) in enumerate(zip(SOURCE.splitlines(), new.splitlines())) if a != b]
        assert changed == [m.line - 1], m.id


def test_multiline_expressions_keep_the_line_count():
    source = "x = (a <\n     b)\ndef h():\n    raise ValueError(\n        'two lines'\n    )\n    return 1\n"
    for m in run.generate(source, "demo"):
        new = run.apply_text(source.splitlines(), m.span, m.text)
        assert new.count("\n") == source.count("\n")
        compile(new, "demo", "exec")


def test_ids_are_stable_and_unique():
    first = [m.id for m in run.generate(SOURCE, "demo")]
    assert len(set(first)) == len(first)
    # an edit elsewhere (a new function above) does not rename the mutants of f and g
    shifted = [m.id for m in run.generate(SOURCE.replace("LIMIT = 16", "LIMIT = 16\n\n\ndef z():\n    return 5"), "demo")]
    assert set(first) <= set(shifted)


def test_non_ascii_text_before_a_mutated_node():
    source = 's = "é"; t = s == "a"\n'
    (m,) = [m for m in run.generate(source, "demo") if m.op == "compare"]
    assert run.apply_text(source.splitlines(), m.span, m.text) == 's = "é"; t = (s != \'a\')\n'


def test_custom_mutant():
    m = run.custom_mutant("demo:a[i] > 1=>a[i] > 2", {"demo": SOURCE})
    assert m.line == 13 and m.mutated == "if a[i] > 2 and i != 0:"
    with pytest.raises(SystemExit, match="found 0 times"):
        run.custom_mutant("demo:nothing=>x", {"demo": SOURCE})
    with pytest.raises(SystemExit, match="no module"):
        run.custom_mutant("other:x=>y", {"demo": SOURCE})


def test_kernel_caches_dropped_for_a_mutant_follow_imports():
    sources = {
        "_kernels": "from numba import njit\n@njit\ndef a():\n    return 1\n",
        "_kernels_x": "from numba import njit\nfrom rlemask._kernels import a\n@njit\ndef b():\n    return a()\n",
        "_kernels_y": "from numba import njit\n@njit\ndef c():\n    return 2\n",
        "_kernels_z": "from numba import njit\nfrom . import _kernels_x\n@njit\ndef d():\n    return 3\n",
        "rle": "from rlemask import _kernels\n",
    }
    assert run._importers("_kernels", sources) == {"_kernels", "_kernels_x", "_kernels_z"}
    assert run._importers("_kernels_y", sources) == {"_kernels_y"}
    # constants of a plain module are frozen into the kernels that import them
    sources["_codes"] = "OK = 0\n"
    sources["_kernels_y"] = "from numba import njit\nfrom rlemask._codes import OK as _OK\n@njit\ndef c():\n    return _OK\n"
    assert run._importers("_codes", sources) == {"_codes", "_kernels_y"}
    assert run._importers("rle", sources) == {"rle"}


def test_default_modules_and_test_mapping():
    src = run.REPO / "src" / "rlemask"
    names = run.select_modules(src, [])
    assert {"_kernels", "rle", "coco", "folds", "commands/codec"} <= set(names)
    assert "cli" not in names and "__init__" not in names
    with pytest.raises(SystemExit, match="matches no module"):
        run.select_modules(src, ["nonexistent"])
    args = run.tests_for("rle", run.REPO)
    assert "src/rlemask/rle.py" in args and "tests/test_rle.py" in args
    assert args.index("src/rlemask/rle.py") < args.index("tests/test_rle.py")
