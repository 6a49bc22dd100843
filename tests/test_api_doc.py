"""``docs/api.md`` is the output of ``docs/gen_api.py`` for the current code: every public name (the
``__all__`` of ``rigl_ref`` and of each subpackage defining one) with its signature and a purpose taken
from its docstring. A stale file, or a public name without a docstring, fails here."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gen(load_script):
    return load_script("docs/gen_api.py")


def test_api_md_is_up_to_date(gen):
    text, missing = gen.render()
    assert not missing, f"public names without a docstring (their purpose in docs/api.md is empty): {missing}"
    assert (ROOT / "docs" / "api.md").read_text(encoding="utf-8") == text, \
        "docs/api.md is stale: run  python docs/gen_api.py"


def test_every_public_name_is_listed(gen):
    text, _ = gen.render()
    for module_name in gen.public_modules():
        module = importlib.import_module(module_name)
        section = text.split(f"## `{module_name}`\n", 1)[1].split("\n## ", 1)[0]
        for name in module.__all__:
            assert f"**`{name}`**" in section, f"{module_name}.{name}"


def test_first_sentence(gen):
    first = gen.first_sentence
    assert first("Drop, e.g. the smallest. Then grow.") == "Drop, e.g. the smallest."
    assert first("One line (Alg. 1: x).\n\nMore.") == "One line (Alg. 1: x)."
    assert first("See :func:`apply`. Next") == "See ``apply``."
    assert first(None) == ""


def test_python_m_rigl_ref_is_the_console_script():
    out = subprocess.run([sys.executable, "-m", "rigl_ref", "--help"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.startswith("usage: rigl-ref") and "conformance" in out
    bad = subprocess.run([sys.executable, "-m", "rigl_ref", "train", "--epochs", "x"], capture_output=True,
                         text=True, cwd=ROOT)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
