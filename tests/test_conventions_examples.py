"""docs/conventions.md's "Smallest inputs that tell the presets apart" is what rigl_ref computes now:
``docs/gen_convention_examples.py`` re-runs the search and every example, and the section must equal its
output; every field that chooses or writes values of one update has an example."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gen(load_script):
    return load_script("docs/gen_convention_examples.py")


def test_the_examples_section_is_up_to_date(gen):
    assert gen.updated_doc() == (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8"), \
        "docs/conventions.md's examples are stale: run  python docs/gen_convention_examples.py"


def test_every_update_field_has_an_example_and_it_really_differs(gen):
    for field in gen.FIELDS:
        found = gen.find_example(field)
        assert found is not None, field
        name, value, case, what, a, b = found
        assert gen._differs(a, b) == what
