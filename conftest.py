"""Root conftest: keeps doctest collection of ``src/`` working without the 'models' extra."""

from __future__ import annotations

import importlib.util


def _missing(module: str) -> bool:
    return importlib.util.find_spec(module) is None


# Without torch / segmentation-models-pytorch the doctests of the adapters cannot
# be imported; their tests in tests/ skip through pytest.importorskip instead.
collect_ignore_glob: list[str] = []
if _missing("torch") or _missing("segmentation_models_pytorch"):
    collect_ignore_glob.append("src/rlemask_models/*.py")

# The suite tests the numba kernels: no call is served by their numpy twins
# (rlemask._tier), which tests/test_first_call.py checks against the kernels
# explicitly and in fresh processes.
from rlemask import _tier  # noqa: E402

_tier.CALLS = 0
