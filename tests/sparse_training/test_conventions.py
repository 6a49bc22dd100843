"""The Conventions record: presets, validation, documentation of every field and choice."""

import dataclasses
from pathlib import Path

import pytest

from rigl_ref import PRESETS, Conventions
from rigl_ref.sparse_training import schedules
from rigl_ref.sparse_training.conventions import get_convention

DOCS = Path(__file__).resolve().parents[2] / "docs" / "conventions.md"
PRESET_NAMES = ("paper", "tf1", "tf2", "rigl_torch", "jaxpruner")


def test_the_five_presets_exist_and_carry_their_name():
    assert tuple(PRESETS) == PRESET_NAMES
    for name, record in PRESETS.items():
        assert record.name == name
        assert get_convention(name) is record


def test_defaults_are_the_paper_preset():
    assert dataclasses.replace(Conventions(), name="paper") == PRESETS["paper"]


def test_a_record_passes_through_get_convention():
    record = dataclasses.replace(PRESETS["tf1"], name="tf1-exact", drop_ranking="active_only")
    assert get_convention(record) is record


def test_unknown_convention_name_lists_the_presets():
    with pytest.raises(ValueError, match="unknown convention 'tf3'.*'paper'.*'jaxpruner'"):
        get_convention("tf3")


def test_convention_of_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="convention must be"):
        get_convention(3)


@pytest.mark.parametrize(
    "field, value",
    [("drop_count_rule", "round"), ("drop_ranking", "bogus"), ("grow_candidates", ""), ("cosine_schedule", "cos")],
)
def test_a_field_value_outside_its_choices_is_refused(field, value):
    with pytest.raises(ValueError, match=f"Conventions.{field}"):
        dataclasses.replace(PRESETS["paper"], **{field: value})


def test_boolean_fields_refuse_non_booleans():
    with pytest.raises(TypeError, match="reinit_when_same"):
        dataclasses.replace(PRESETS["paper"], reinit_when_same=1)
    with pytest.raises(TypeError, match="update_replaces_weight_step"):
        dataclasses.replace(PRESETS["paper"], update_replaces_weight_step={"rigl"})


def test_records_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["tf1"].drop_ranking = "active_only"


def test_every_field_is_documented_and_every_choice_cites_a_meaning():
    for f in dataclasses.fields(Conventions):
        assert f.metadata.get("doc"), f"field {f.name} has no doc"
        for choice, meaning in f.metadata.get("choices", {}).items():
            assert len(meaning) > 20, f"{f.name}={choice} is not explained"


def test_schedule_fields_name_registered_schedules():
    for record in PRESETS.values():
        assert record.cosine_schedule in schedules.DROP_FRACTION_SCHEDULES
        assert record.update_predicate in schedules.UPDATE_SCHEDULES
    for choice in dataclasses.fields(Conventions):
        if choice.name == "cosine_schedule":
            assert set(choice.metadata["choices"]) <= set(schedules.DROP_FRACTION_SCHEDULES)


def test_weight_step_timing_per_preset():
    # TF1: RigL's update replaces the weight step, SET follows it; TF2 always follows; jaxpruner skips for both.
    assert PRESETS["tf1"].replaces_weight_step("rigl") and not PRESETS["tf1"].replaces_weight_step("set")
    assert not PRESETS["tf2"].replaces_weight_step("rigl")
    assert PRESETS["jaxpruner"].replaces_weight_step("set")


def _cell(value) -> str:
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}"
    return str(value)


def test_docs_table_matches_the_presets():
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells and cells[0].startswith("`") and len(cells) == 1 + len(PRESET_NAMES):
            rows[cells[0].strip("`")] = cells[1:]
    expected = {
        f.name: [_cell(getattr(PRESETS[name], f.name)) for name in PRESET_NAMES]
        for f in dataclasses.fields(Conventions)
        if f.name != "name"
    }
    assert {name: rows.get(name) for name in expected} == expected


def test_every_field_and_choice_is_explained_in_the_docs():
    text = DOCS.read_text()
    for f in dataclasses.fields(Conventions):
        if f.name != "name":
            assert f"**`{f.name}`**" in text, f"docs/conventions.md has no paragraph on {f.name}"
        for choice in f.metadata.get("choices", {}):
            assert f"`{choice}`" in text, f"docs/conventions.md never names {f.name}={choice}"


# --- dispatch tables: every field's rule is a named entry, no fallback ----------------------------------


def test_rule_table_refuses_a_missing_or_unknown_choice():
    from rigl_ref.sparse_training.conventions import rule_table

    with pytest.raises(ValueError, match=r"Conventions.grown_weight must cover exactly"):
        rule_table("grown_weight", {"grow_init": True})
    with pytest.raises(ValueError, match=r"Conventions.grown_weight must cover exactly"):
        rule_table("grown_weight", {"grow_init": True, "unchanged": False, "typo": True})
    with pytest.raises(ValueError, match=r"no field 'no_such_field'"):
        rule_table("no_such_field", {})


def test_every_choice_field_dispatches_through_a_rule_table():
    """Each choice field of Conventions is read through a table built by ``rule_table`` somewhere in the
    package (a table missing a choice fails at import), so no branch falls through to an unnamed else."""
    import ast
    from dataclasses import fields
    from pathlib import Path

    import rigl_ref
    from rigl_ref.sparse_training.conventions import Conventions

    package = Path(rigl_ref.__file__).parent
    tabled = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "rule_table" and node.args:
                if isinstance(node.args[0], ast.Constant):
                    tabled.add(node.args[0].value)
    # slots_outside_mask shares weights_outside_mask's table (same choices, checked below).
    choice_fields = {f.name for f in fields(Conventions) if "choices" in f.metadata} - {"slots_outside_mask"}
    assert choice_fields <= tabled, sorted(choice_fields - tabled)
    meta = {f.name: f.metadata for f in fields(Conventions)}
    assert set(meta["slots_outside_mask"]["choices"]) == set(meta["weights_outside_mask"]["choices"])


def test_no_convention_field_is_compared_to_a_string_literal():
    """Convention values are looked up in tables, never compared (``conv.field == "..."``) in code."""
    import re
    from dataclasses import fields
    from pathlib import Path

    import rigl_ref
    from rigl_ref.sparse_training.conventions import Conventions

    names = "|".join(f.name for f in fields(Conventions) if "choices" in f.metadata)
    pattern = re.compile(rf"\.({names})\s*[!=]=")
    offenders = [f"{p.name}:{i}" for p in Path(rigl_ref.__file__).parent.rglob("*.py")
                 for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not offenders, offenders


def test_the_peer_table_has_one_row_per_field():
    text = DOCS.read_text()
    section = text[text.index("## The same fields in the peer implementations"):text.index("## Smallest inputs")]
    rows = [line.split("|")[1].strip().strip("`") for line in section.splitlines() if line.startswith("| `")]
    assert rows == [f.name for f in dataclasses.fields(Conventions) if f.name != "name"]
    for line in section.splitlines():
        if line.startswith("| `"):
            assert all(cell.strip() for cell in line.strip().strip("|").split("|")), line
