"""Write the section "Smallest inputs that tell the presets apart" of ``docs/conventions.md``.

    python docs/gen_convention_examples.py            # rewrite the section
    python docs/gen_convention_examples.py --check    # exit 1 if the section is stale

For every field of one update that two presets set differently, the smallest one-dimensional layer (fewest
positions, then a fixed seeded search order) on which changing *only that field* of a preset changes the
result of ``rigl_ref.drop_grow``: the mask for the fields that choose positions, the weights or the optimizer
slot for the fields that write values. Found by running rigl_ref (a seeded search over small integer-valued
weights and scores, so ties occur); ``tests/test_conventions_examples.py`` keeps the section equal to the
output and re-runs every example.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "conventions.md"
BEGIN = "<!-- BEGIN gen_convention_examples.py -->"
END = "<!-- END gen_convention_examples.py -->"
FIELDS = ("drop_count_rule", "grow_count_rule", "drop_score", "drop_ranking", "grow_candidates",
          "grown_weight", "reset_scope", "reset_slots_of_new", "weights_outside_mask", "slots_outside_mask",
          "masked_slots", "zero_fraction_update")
FRACTIONS = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0)
MAX_SIZE, TRIES = 12, 400


def _update(convention, case):
    from rigl_ref import drop_grow
    from rigl_ref.sparse_training.drop_grow import score_drop

    mask, weights, scores, fraction, slot, slot_name = case
    try:
        result = drop_grow(mask, weights, score_drop(mask, weights, convention), scores, fraction,
                           convention=convention, slots=(slot,), slot_names=(slot_name,))
    except (ValueError, NotImplementedError) as error:
        return ("error", str(error))
    return (result.mask, result.weights, result.slots[0])


def _differs(a, b) -> str | None:
    if isinstance(a[0], str) or isinstance(b[0], str):  # a refused update is no example
        return None
    for what, x, y in zip(("mask", "weights", "slot"), a, b):
        if not np.array_equal(x, y):
            return what
    return None


# grow_candidates' rules differ only when a score lift is absorbed by the float: search it with large scores.
SCORE_SCALE = {"grow_candidates": 256.0}
# the example's slot is SGD momentum, except for masked_slots, whose rules differ on Adam's first moment.
SLOT_NAME = {"masked_slots": "exp_avg"}


def _cases(size: int, rng, scale: float = 1.0, slot_name: str = "momentum"):
    for _ in range(TRIES):
        mask = rng.random(size) < 0.5
        if not mask.any():
            continue
        weights = rng.integers(-2, 3, size).astype(np.float32)
        scores = rng.integers(0, 3, size).astype(np.float32) * np.float32(scale)
        slot = rng.integers(1, 3, size).astype(np.float32)  # a framework's slot may be non-zero anywhere
        yield mask, weights, scores, float(rng.choice(FRACTIONS)), slot, slot_name


def _pairs(field: str):
    """(preset, other value) for every preset and every value another preset gives ``field``."""
    from rigl_ref.sparse_training.conventions import PRESETS

    values = {getattr(p, field) for p in PRESETS.values()}
    for name, preset in PRESETS.items():
        for value in sorted(values - {getattr(preset, field)}, key=str):
            yield name, value


def find_example(field: str):
    """The smallest case on which changing only ``field`` of some preset changes the update, or None."""
    from rigl_ref.sparse_training.conventions import PRESETS

    for size in range(1, MAX_SIZE + 1):
        rng = np.random.default_rng([size, sum(map(ord, field))])
        for case in _cases(size, rng, SCORE_SCALE.get(field, 1.0), SLOT_NAME.get(field, "momentum")):
            for name, value in _pairs(field):
                base = PRESETS[name]
                variant = dataclasses.replace(base, name=f"{name}+{field}", **{field: value})
                what = _differs(_update(base, case), _update(variant, case))
                if what:
                    return name, value, case, what, _update(base, case), _update(variant, case)
    return None


def _vector(array) -> str:
    array = np.asarray(array)
    if array.dtype == bool:
        return "[" + " ".join("1" if v else "0" for v in array) + "]"
    return "[" + " ".join(f"{v:g}" for v in array) + "]"


def render() -> str:
    lines = [BEGIN, "", "| field | positions | preset -> changed value | mask, weights, grow scores, slot, f | "
             "differs in | preset gives | changed gives |", "|---|---|---|---|---|---|---|"]
    index = {"mask": 0, "weights": 1, "slot": 2}
    for field in FIELDS:
        found = find_example(field)
        if found is None:
            lines.append(f"| `{field}` | > {MAX_SIZE} | none found | | | | |")
            continue
        name, value, (mask, weights, scores, fraction, slot, slot_name), what, a, b = found
        named = "" if slot_name == "momentum" else f" (`{slot_name}`)"
        inputs = f"{_vector(mask)}, {_vector(weights)}, {_vector(scores)}, {_vector(slot)}{named}, {fraction:g}"
        lines.append(f"| `{field}` | {len(mask)} | `{name}` -> `{value}` | {inputs} | {what} | {_vector(a[index[what]])} | "
                     f"{_vector(b[index[what]])} |")
    lines += ["", END]
    return "\n".join(lines)


def updated_doc() -> str:
    text = DOC.read_text(encoding="utf-8")
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + render() + text[stop:]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    new = updated_doc()
    if args.check:
        return 0 if new == DOC.read_text(encoding="utf-8") else 1
    DOC.write_text(new, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
