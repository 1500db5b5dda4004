"""Packaging metadata: PEP 639 licence, an sdist that carries the test suite, core dependencies
that are exactly what the core imports. (Building the sdist is too slow for a unit test; these
checks read the files that decide what the build does.)"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")

#: import name -> distribution name, for the core's third-party imports
DISTRIBUTIONS = {"numpy": "numpy", "numba": "numba", "pandas": "pandas", "sklearn": "scikit-learn",
                 "PIL": "Pillow", "tqdm": "tqdm", "llvmlite": "numba"}
#: import name -> extra that declares it, for optional imports made inside functions only
OPTIONAL = {"matplotlib": "plots"}


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    for sep in "<>=!~[; ":
        requirement = requirement.split(sep)[0]
    return requirement.strip().lower()


def test_pep639_licence():
    data = _project()
    project = data["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "rlemask developers" in text
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639 forbids both
    setuptools = [r for r in data["build-system"]["requires"] if _name(r) == "setuptools"]
    assert setuptools and ">=77" in setuptools[0]  # the first setuptools that reads license expressions
    assert set(project["urls"]) >= {"Homepage", "Source", "Issues"}


def test_sdist_carries_the_test_suite():
    import fnmatch
    import subprocess

    manifest = (ROOT / "MANIFEST.in").read_text().split("\n")
    lines = [line.split() for line in manifest if line.strip() and not line.startswith("#")]
    assert ["include", "LICENSE", "README.md", "Makefile", "conftest.py"] in lines
    patterns = {words[1]: words[2:] for words in lines if words[0] == "recursive-include"}
    assert set(patterns) == {"tests", "docs", "benchmarks"}
    # every tracked file of those folders is matched (a new data file needs a pattern)
    tracked = subprocess.run(
        ["git", "ls-files", "tests", "docs", "benchmarks"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if tracked.returncode != 0:  # an unpacked sdist has no git: then the files are what it carries
        pytest.skip("not a git checkout")
    for path in tracked.stdout.split():
        top, name = path.split("/")[0], path.rsplit("/", 1)[-1]
        assert any(fnmatch.fnmatch(name, p) for p in patterns[top]), f"MANIFEST.in misses {path}"


def _core_imports() -> set[str]:
    names = set()
    for path in (ROOT / "src" / "rlemask").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "rlemask"}


def test_core_dependencies_are_what_the_core_imports():
    imports = _core_imports()
    assert "torch" not in imports and "scipy" not in imports
    extras = _project()["project"]["optional-dependencies"]
    for name, extra in OPTIONAL.items():
        assert name in {_name(r) for r in extras[extra]}
    imports -= set(OPTIONAL)
    unknown = imports - set(DISTRIBUTIONS)
    assert not unknown, f"src/rlemask imports {sorted(unknown)}: declare them and add them to DISTRIBUTIONS"
    declared = {_name(r) for r in _project()["project"]["dependencies"]}
    needed = {DISTRIBUTIONS[n].lower() for n in imports}
    assert declared == needed


def test_extras():
    extras = _project()["project"]["optional-dependencies"]
    assert "scipy" in {_name(r) for r in extras["test"]}
    assert "scipy" in {_name(r) for r in extras["models"]}  # rlemask_models.synthetic
    assert any(r.startswith("dask[dataframe,distributed]>=") for r in extras["dask"])
