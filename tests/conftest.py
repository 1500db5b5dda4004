"""Shared fixtures: the real-data folder, thread limits, hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

try:  # hypothesis profiles: "ci" is the default, "dev" for quick local runs
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci",
        max_examples=200,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile("dev", max_examples=30, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover - hypothesis is in the 'test' extra
    pass

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REAL_DATA = REPO.parent / "shared" / "data" / "uwmgi-real"


def real_data_dir() -> Path:
    """The folder of real UWMGI material: $RLEMASK_REAL_DATA or ../shared/data/uwmgi-real."""
    return Path(os.environ.get("RLEMASK_REAL_DATA", str(DEFAULT_REAL_DATA)))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """Path to the real UWMGI material; skips the test when it is absent."""
    path = real_data_dir()
    if not (path / "image_index.csv").is_file():
        pytest.skip(
            f"real UWMGI material not found at {path} "
            "(set RLEMASK_REAL_DATA to the folder holding image_index.csv)"
        )
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Torch on two shared cores: one thread, or steps collapse under load."""
    try:
        import torch
    except ImportError:
        yield
        return
    torch.set_num_threads(1)
    yield

