"""Test configuration shared by the whole suite.

Hypothesis profiles: ``ci`` (selected when the ``CI`` environment variable is set, as ``.ci/run`` does)
is derandomized so CI is reproducible, and keeps example counts small enough for a 2-core machine;
``dev`` is the default for local runs; ``thorough`` (``HYPOTHESIS_PROFILE=thorough``) is the nightly-strength
soak: 2000 examples per property, 20x CI, so point it at the files you changed (README, "Development").
``deadline=None`` everywhere because the first call of a Numba kernel includes its compilation.
"""

import importlib.util
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPOSITORY = Path(__file__).resolve().parents[1]

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

settings.register_profile("ci", max_examples=100, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("dev", max_examples=60, **_COMMON)
settings.register_profile("thorough", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def load_script():
    """``load_script("bench/epoch.py")``: a script of the repository (``docs/*.py``, ``bench/*.py``, which are
    not importable packages) imported from its path relative to the repository root, as a fresh module."""

    def load(relative: str):
        path = REPOSITORY / relative
        spec = importlib.util.spec_from_file_location(f"{path.parent.name}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
