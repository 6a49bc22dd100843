"""Live differential tests against PyPI rigl-torch 0.5.2 (the ``diff`` extra: torch + rigl-torch).

rigl-torch's ``rigl_torch/util.py`` imports torchvision only for two ``isinstance`` checks
(``torchvision.models.resnet.Bottleneck`` / ``BasicBlock``, to recurse into ResNet blocks). torchvision is
not needed for anything else, so this harness installs a stub module tree ``torchvision.models.resnet``
with two empty classes in ``sys.modules`` before rigl-torch is imported (only when the real torchvision is
absent). The tests skip when torch or rigl-torch is not installed.
"""

import importlib.util
import sys
import types

import pytest


def _install_torchvision_stub() -> None:
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        return
    torchvision = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    resnet = types.ModuleType("torchvision.models.resnet")
    resnet.Bottleneck = type("Bottleneck", (), {})  # never instantiated: isinstance() is always False
    resnet.BasicBlock = type("BasicBlock", (), {})
    torchvision.models, models.resnet = models, resnet
    sys.modules.update({"torchvision": torchvision, "torchvision.models": models, "torchvision.models.resnet": resnet})


@pytest.fixture(scope="session")
def rigl_torch():
    pytest.importorskip("torch")
    if importlib.util.find_spec("rigl_torch") is None:
        pytest.skip("rigl-torch is not installed (pip install '.[diff]')")
    _install_torchvision_stub()
    from rigl_torch import RigL

    return RigL
