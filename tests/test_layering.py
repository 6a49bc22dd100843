"""Imports flow one way: kernels -> sparse -> autograd -> nn/optim/data -> sparse_training -> train -> sweep -> cli.

The test parses every module with ``ast`` and fails on an import of a higher layer. The top-level
``rigl_ref/__init__.py`` is the public facade and may re-export from any layer.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rigl_ref"

# Rank of each top-level module or subpackage of rigl_ref. A module may import its own rank or lower.
RANK = {
    "_version": 0,
    "validate": 0,
    "kernels": 0,
    "sparse": 1,
    "autograd": 2,
    "nn": 3,
    "optim": 3,
    "data": 3,
    "sparse_training": 4,
    "conformance": 5,
    "trace": 5,
    "oracle": 5,
    "train": 5,
    "interop": 5,
    "sweep": 6,
    "cli": 7,
    "__main__": 8,
}


def _component(module_path: Path) -> str:
    return module_path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imported_components(tree: ast.AST, module_path: Path):
    package_parts = module_path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                names = [".".join(base + ((node.module,) if node.module else ()))]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "rigl_ref" and len(parts) > 1:
                yield parts[1], node.lineno


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def test_every_component_has_a_rank():
    unknown = sorted({_component(p) for p in _modules()} - set(RANK))
    assert not unknown, f"add these rigl_ref components to RANK in {__file__}: {unknown}"


@pytest.mark.parametrize("module_path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_downwards(module_path):
    own = _component(module_path)
    tree = ast.parse(module_path.read_text(), filename=str(module_path))
    upward = [
        f"line {line}: imports rigl_ref.{target} (rank {RANK.get(target)}) from {own} (rank {RANK[own]})"
        for target, line in _imported_components(tree, module_path)
        if RANK.get(target, 99) > RANK.get(own, -1)
    ]
    assert not upward, "upward import(s):\n" + "\n".join(upward)


def test_the_checker_catches_an_upward_import(tmp_path):
    fake = PACKAGE / "kernels" / "_probe.py"
    tree = ast.parse("from rigl_ref.train import loop\nfrom ..cli import main\n")
    found = list(_imported_components(tree, fake))
    assert ("train", 1) in found and ("cli", 2) in found
