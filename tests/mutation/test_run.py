"""Tests of the mutation harness's mutant generator (no test run, no subprocess)."""

from __future__ import annotations

import ast
import json
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


# -- test selection by coverage ------------------------------------------------------

SELECT_SOURCE = '''import os

LIMIT = 3


@decorate
def f(a, n=2):
    if a > n and (
            a < LIMIT):
        return 1
    x = max(a,
            n)
    return x
'''


def _span_of(source, label, qual="f"):
    (m,) = [m for m in run.generate(source, "demo") if m.label == label and m.id.split("::")[1] == qual]
    return m.span


def test_collapse_drops_parameters_only():
    assert run.collapse("tests/test_a.py::test_b[1-x]") == "tests/test_a.py::test_b"
    assert run.collapse("tests/test_a.py::C::test_b[a[0]]") == "tests/test_a.py::C::test_b"
    assert run.collapse("src/rlemask/rle.py::rlemask.rle.encode") == "src/rlemask/rle.py::rlemask.rle.encode"


def test_mutant_lines_are_the_statement_that_runs_it():
    tree = ast.parse(SELECT_SOURCE)
    # the test of an `if`, on its second line: the `if` line and that line, not the body
    assert run.mutant_lines(tree, _span_of(SELECT_SOURCE, "< LIMIT -> < LIMIT - 1")) == [8, 9]
    assert run.mutant_lines(tree, _span_of(SELECT_SOURCE, "> -> >=")) == [8]
    # inside a multi-line simple statement: the whole statement
    assert run.mutant_lines(tree, _span_of(SELECT_SOURCE, "max -> min")) == [11, 12]
    # a default value: the def line and its decorator (run at import)
    assert run.mutant_lines(tree, _span_of(SELECT_SOURCE, "2 -> 3")) == [6, 7]
    assert run.mutant_lines(tree, _span_of(SELECT_SOURCE, "3 -> 4", "<module>")) == [3]


WHOLE = ["tests/test_regressions_a.py", "src/rlemask/demo.py", "tests/test_a.py", "tests/test_b.py",
         "src/rlemask/other.py"]
CMAP = run.CoverageMap(
    lines={
        1: [""],  # import time
        5: ["tests/test_b.py::test_y", "tests/test_a.py::T::test_x"],
        6: ["tests/test_regressions_a.py::test_r", "src/rlemask/demo.py::rlemask.demo.f"],
        7: ["src/rlemask/other.py::rlemask.other.g", "tests/test_a.py::test_z"],
        8: ["tests/test_c.py::test_w"],  # a file the module does not map
    },
    order=["tests/test_regressions_a.py::test_r", "src/rlemask/demo.py::rlemask.demo.f", "tests/test_a.py::T::test_x",
           "tests/test_a.py::test_z", "tests/test_b.py::test_y", "src/rlemask/other.py::rlemask.other.g",
           "tests/test_c.py::test_w"],
    statements=[1, 5, 6, 7, 8, 9, 11],
)


def test_selection_runs_regressions_doctests_and_the_covering_tests_in_order():
    always = ["tests/test_regressions_a.py", "src/rlemask/demo.py"]
    assert CMAP.select([5], WHOLE) == always + ["tests/test_a.py::T::test_x", "tests/test_b.py::test_y"]
    # covered by the always-run files only: nothing else
    assert CMAP.select([6], WHOLE) == always
    # another module's doctests are picked per item like any test file
    assert CMAP.select([7], WHOLE) == always + ["tests/test_a.py::test_z", "src/rlemask/other.py::rlemask.other.g"]
    assert CMAP.select([5, 7], WHOLE)[2:] == ["tests/test_a.py::T::test_x", "tests/test_a.py::test_z",
                                              "tests/test_b.py::test_y", "src/rlemask/other.py::rlemask.other.g"]


def test_selection_falls_back_to_every_file_when_unsure():
    assert CMAP.select([1], WHOLE) == WHOLE  # executed outside any test: collection, imports
    assert CMAP.select([1, 5], WHOLE) == WHOLE
    assert CMAP.select([8], WHOLE) == WHOLE  # a test of an unmapped file
    assert CMAP.select([10], WHOLE) == WHOLE  # no data and not a statement coverage knows (a continuation line)


def test_a_statement_no_test_executes_is_not_covered():
    assert CMAP.select([9], WHOLE) is None
    assert CMAP.select([9, 10], WHOLE) is None
    assert run.CoverageMap.from_json(json.loads(json.dumps(CMAP.to_json()))) == CMAP


def test_plan_selects_only_for_modules_with_a_map():
    source = "import os\nx = 1\n\n\n\ny = 2\n\n\nw = 4\nz = 3\n"
    plan = run.Plan(tests={"demo": WHOLE, "_kernels": ["tests/test_k.py"]}, coverage={"demo": CMAP},
                    trees={"demo": ast.parse(source)})
    by_line = {m.line: m for m in run.generate(source, "demo")}
    assert plan.select(by_line[6]) == (["tests/test_regressions_a.py", "src/rlemask/demo.py"], "selected")
    assert plan.select(by_line[2]) == (WHOLE, "whole")  # no data, not a statement of the map: unsure
    assert plan.select(by_line[9]) == (None, "not covered")
    k = run.generate("x = 1\n", "_kernels")[0]
    assert plan.select(k) == (["tests/test_k.py"], "whole")  # no map: every mapped file


FAKE_MODULE = '''import os


def f(a):
    if a > 1:
        return a - 1
    return a


def g():
    return 5


def never():
    return 7


CONST = g()
'''

FAKE_TESTS = '''import os
import subprocess
import sys

import pytest

from rlemask import demo


@pytest.mark.parametrize("a", [0, 1])
def test_small(a):
    assert demo.f(a) == a


def test_big():
    assert demo.f(5) == 4


class TestSub:
    def test_in_a_subprocess(self):
        code = "from rlemask import demo; print(demo.f(3))"
        env = {**os.environ, "PYTHONPATH": os.path.join(os.getcwd(), "src")}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        assert out.stdout.strip() == "2"
'''


def test_coverage_map_end_to_end(tmp_path):
    """One coverage pass on a tiny tree: per-test contexts, parameters collapsed, subprocesses seen."""
    tpl = tmp_path / "template"
    (tpl / "src" / "rlemask").mkdir(parents=True)
    (tpl / "tests").mkdir()
    (tpl / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")  # the rootdir of the node ids
    (tpl / "src" / "rlemask" / "__init__.py").write_text("")
    (tpl / "src" / "rlemask" / "demo.py").write_text(FAKE_MODULE)
    (tpl / "tests" / "test_demo.py").write_text(FAKE_TESTS)
    cache = tmp_path / "cache"
    tests = {"demo": ["tests/test_demo.py"]}
    cmap = run.coverage_maps(["demo"], tpl, tests, "dev", 0, cache)["demo"]
    small, big, sub = ("tests/test_demo.py::test_small", "tests/test_demo.py::test_big",
                       "tests/test_demo.py::TestSub::test_in_a_subprocess")
    assert cmap.order == [small, big, sub]
    assert set(cmap.lines[5]) >= {small, big, sub}  # `if a > 1`: the subprocess's run counts too
    assert small not in cmap.lines[6] and set(cmap.lines[6]) >= {big, sub}
    assert "" in cmap.lines[11] and "" in cmap.lines[18]  # run at import
    assert 15 in cmap.statements and 15 not in cmap.lines  # never(): not covered
    assert not (tpl / "src" / "sitecustomize.py").exists()
    (cached,) = cache.iterdir()
    assert run.coverage_maps(["demo"], tpl, tests, "dev", 0, cache) == {"demo": cmap}  # from the cache
    (tpl / "src" / "rlemask" / "demo.py").write_text(FAKE_MODULE + "\n")  # a changed source: a new pass
    run.coverage_maps(["demo"], tpl, tests, "dev", 0, cache)
    assert len(list(cache.iterdir())) == 2


def test_modules_with_the_same_test_files_share_one_pass(tmp_path):
    tpl = tmp_path / "template"
    (tpl / "src" / "rlemask").mkdir(parents=True)
    (tpl / "tests").mkdir()
    (tpl / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = '--doctest-modules'\n")
    (tpl / "src" / "rlemask" / "__init__.py").write_text("")
    (tpl / "src" / "rlemask" / "demo.py").write_text(FAKE_MODULE)
    (tpl / "src" / "rlemask" / "two.py").write_text('def h():\n    """\n    >>> h()\n    1\n    """\n    return 1\n')
    (tpl / "tests" / "test_demo.py").write_text(FAKE_TESTS)
    tests = {"demo": ["src/rlemask/demo.py", "tests/test_demo.py"], "two": ["src/rlemask/two.py", "tests/test_demo.py"]}
    maps = run.coverage_maps(["demo", "two"], tpl, tests, "dev", 0, tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1
    # two.h runs only in its doctest; demo's map keeps the tests of demo's list only
    assert maps["two"].lines[6] == ["src/rlemask/two.py::rlemask.two.h"]
    assert "src/rlemask/two.py::rlemask.two.h" not in maps["demo"].order
    assert maps["demo"].order == ["tests/test_demo.py::test_small", "tests/test_demo.py::test_big",
                                  "tests/test_demo.py::TestSub::test_in_a_subprocess"]


# --------------------------------------------------------------------------
# --python-kernels
# --------------------------------------------------------------------------

STAND_IN = '''from numba.core import config as _numba_config


def _ctz(typingctx, value):
    return 1


if _numba_config.DISABLE_JIT:

    def _ctz(value):
        if value == 0:
            raise IndexError("stand-in")
        return 2


def f(x):
    return _ctz(x) + 3
'''


def test_stand_ins_of_intrinsics_are_not_mutated():
    touched = {m.line for m in run.generate(STAND_IN, "_kernels")}
    lines = STAND_IN.splitlines()
    block = range(lines.index("if _numba_config.DISABLE_JIT:") + 1, lines.index("def f(x):"))
    assert not touched & set(block)
    assert any(lines[ln - 1].strip() == "return 1" for ln in touched)  # the rest is mutated as usual
    assert any("+ 3" in lines[ln - 1] for ln in touched)


def test_python_runs_disable_jit_and_compiled_runs_never_inherit_it(monkeypatch):
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    assert "NUMBA_DISABLE_JIT" not in run._env(Path("/x"), "dev")
    assert run._env(Path("/x"), "dev", python=[])["NUMBA_DISABLE_JIT"] == "1"
    cmd = run._pytest_cmd(["tests/test_a.py"], 0, python=["--deselect=tests/test_a.py::t"])
    assert cmd[-2:] == ["--deselect=tests/test_a.py::t", "tests/test_a.py"]
    assert "--deselect=tests/test_a.py::t" not in run._pytest_cmd(["tests/test_a.py"], 0)


@pytest.mark.parametrize(
    ("python_status", "python_flag", "tests", "compiled_rerun"),
    [
        ("killed", "clean", ["t.py"], False),  # an assertion failed: kept
        ("killed", "artefact", ["t.py"], True),  # an IndexError-like error: Python only, maybe
        ("survived", "", ["t.py"], True),
        ("timeout", "", ["t.py"], True),
        ("error", "", ["t.py"], True),
        (None, "", None, True),  # no test executes the line as Python
    ],
)
def test_python_mode_keeps_clean_kills_only_and_reruns_the_rest_compiled(monkeypatch, python_status, python_flag,
                                                                          tests, compiled_rerun):
    m = run.generate("x = 1\n", "_kernels")[0]
    calls = []

    def fake_tests(m_, tests_, mode, *a, python=None, base=None):
        calls.append(("python" if python is not None else "compiled", tests_))
        r = run._result(m_, python_status, 1.0, "FAILED t.py::x - AssertionError", mode)
        r.python = python_flag
        return r

    def fake_compiled(m_, *a):
        calls.append(("compiled", "whole"))
        return run._result(m_, "killed", 5.0, "FAILED t.py::y", "compiled")

    monkeypatch.setattr(run, "_run_tests", fake_tests)
    monkeypatch.setattr(run, "_run_compiled", fake_compiled)
    plan = run.Plan(tests={"_kernels": ["t.py"]}, python={"_kernels": []})
    args = type("A", (), {"check_python": False, "defer_compiled": False})()
    r = run._run_python(m, tests, "selected", Path("/t"), Path("/w"), plan, {}, args, set(), None)
    assert [c[0] for c in calls] == (["python"] if tests else []) + (["compiled"] if compiled_rerun else [])
    if compiled_rerun:
        assert (r.status, r.mode) == ("killed", "compiled")
        assert r.python.startswith(python_status or "survived")  # the Python outcome is noted
    else:
        assert (r.status, r.python) == ("killed", "")


def test_check_python_runs_both_and_records_the_python_outcome(monkeypatch):
    m = run.generate("x = 1\n", "_kernels")[0]
    monkeypatch.setattr(run, "_run_tests", lambda m_, t, mode, *a, **k: run._result(m_, "killed", 1.0, "boom", mode))
    monkeypatch.setattr(run, "_run_compiled", lambda m_, *a: run._result(m_, "survived", 5.0, "", "compiled"))
    plan = run.Plan(tests={"_kernels": ["t.py"]}, python={"_kernels": []})
    args = type("A", (), {"check_python": True})()
    r = run._run_python(m, ["t.py"], "selected", Path("/t"), Path("/w"), plan, {}, args, set(), None)
    assert r.status == "survived" and r.check.startswith("killed")
    assert not run._agree(r.status, r.check)


def test_defer_compiled_leaves_unconfirmed_mutants_pending_and_scores_them_as_not_killed(monkeypatch):
    m = run.generate("x = 1\n", "_kernels")[0]
    monkeypatch.setattr(run, "_run_tests", lambda m_, t, mode, *a, **k: run._result(m_, "survived", 1.0, "", mode))
    monkeypatch.setattr(run, "_run_compiled", lambda *a: pytest.fail("no compiled run with --defer-compiled"))
    plan = run.Plan(tests={"_kernels": ["t.py"]}, python={"_kernels": []})
    args = type("A", (), {"check_python": False, "defer_compiled": True})()
    r = run._run_python(m, ["t.py"], "selected", Path("/t"), Path("/w"), plan, {}, args, set(), None)
    assert r.status == "pending" and r.python.startswith("survived")
    killed = run._result(m, "killed", 1.0, "", "py-selected")
    row = run._row("_kernels", [r, killed], 2.0)
    assert (row["pending"], row["score"]) == (1, 0.5)
