"""Importing PyPI rigl-torch 0.5.2 without torchvision (the ``diff`` extra: torch + rigl-torch).

rigl-torch's ``rigl_torch/util.py`` imports torchvision only for two ``isinstance`` checks
(``torchvision.models.resnet.Bottleneck`` / ``BasicBlock``, to recurse into ResNet blocks), and PyPI's
torchvision does not import beside the CPU torch wheel used here. :func:`import_rigl_torch` therefore puts a
stub module tree ``torchvision.models.resnet`` with two empty classes in ``sys.modules`` (only when no real
torchvision is installed) and then imports rigl-torch. Used by the live differential tests and
``bench/epoch.py``; nothing in rigl_ref itself needs torch.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


def install_torchvision_stub() -> None:
    """Register the two-class ``torchvision.models.resnet`` stub unless a torchvision is importable."""
    if "torchvision" in sys.modules or importlib.util.find_spec("torchvision") is not None:
        return
    torchvision = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    resnet = types.ModuleType("torchvision.models.resnet")
    resnet.Bottleneck = type("Bottleneck", (), {})  # never instantiated: isinstance() is always False
    resnet.BasicBlock = type("BasicBlock", (), {})
    torchvision.models, models.resnet = models, resnet
    sys.modules.update({"torchvision": torchvision, "torchvision.models": models, "torchvision.models.resnet": resnet})


def rigl_torch_available() -> bool:
    """True when both torch and rigl-torch are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "rigl_torch"))


def import_rigl_torch():
    """The module ``rigl_torch.RigL`` (its ``RigLScheduler``), after :func:`install_torchvision_stub`;
    ImportError naming the extra when torch or rigl-torch is missing."""
    if not rigl_torch_available():
        raise ImportError("rigl-torch 0.5.2 and torch are needed: pip install '.[diff]' "
                          "(torch==2.13.0 CPU, rigl-torch==0.5.2)")
    install_torchvision_stub()
    return importlib.import_module("rigl_torch.RigL")
