"""Live differential tests against PyPI rigl-torch 0.5.2 (the ``diff`` extra: torch + rigl-torch).

rigl-torch imports torchvision only for two ``isinstance`` checks; ``rigl_ref.interop.rigl_torch_import``
stubs that module tree (when no real torchvision is installed) before importing rigl-torch. The tests skip
when torch or rigl-torch is not installed.
"""

import pytest

from rigl_ref.interop.rigl_torch_import import import_rigl_torch, rigl_torch_available


@pytest.fixture(scope="session")
def rigl_torch():
    if not rigl_torch_available():
        pytest.skip("torch or rigl-torch is not installed (pip install '.[diff]')")
    return import_rigl_torch()
