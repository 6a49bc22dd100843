"""The sweep file: fixed RunConfig fields plus a ``[grid]`` table of values to try, expanded to points.

A sweep file is a run configuration (any subset of the :class:`rigl_ref.train.config.RunConfig` keys, at
the top level, fixed for every point) with one table ``[grid]``. In ``[grid]`` a list is the set of
values to try for that field; for the two list-valued fields (``hidden``, ``lr_milestones``) that is a
list of lists. A value that is not a list (for those two, a flat list) is fixed, as if it stood at the
top level::

    epochs = 20
    [grid]
    method = ["rigl", "set"]
    sparsity = [0.9, 0.95]
    seed = [0, 1, 2]

The *varying* fields are the ``[grid]`` keys given a list (even of one value). The points are the
cartesian product of their lists, taken in RunConfig's field order (``method`` before ``sparsity``
before ``seed``; the last varying field changes fastest), whatever the order of the keys in the file.
Each point's name lists its varying fields in that order, ``field=value`` joined by commas
(``method=rigl,sparsity=0.9,seed=0``), so a point's name depends only on its own values and the set of
varying fields: adding a seed to the grid leaves the names, and so the run directories, of the existing
points as they were. Values are written as TOML would read them back unambiguously: floats in Python's
shortest round-trip form (``0.9``, ``1e-05``), booleans ``true``/``false``, lists joined by ``_``
(``300_100``), strings with every character outside ``A-Z a-z 0-9 . - _`` percent-encoded.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import quote

from rigl_ref.train.config import RunConfig, coerce_values, config_from_dict, tomllib

FIELD_ORDER = tuple(f.name for f in fields(RunConfig))
LIST_FIELDS = tuple(f.name for f in fields(RunConfig) if str(f.type).startswith("list"))
MAX_NAME = 255  # the longest file name most file systems allow


@dataclass(frozen=True)
class Point:
    """One run of a sweep: its directory name, its varying fields' values and its configuration."""

    name: str
    values: dict
    config: RunConfig


@dataclass(frozen=True)
class Sweep:
    fixed: dict  # field -> value, the same for every point
    grid: dict  # varying field -> list of values, in FIELD_ORDER
    points: tuple[Point, ...]

    @property
    def varying(self) -> tuple[str, ...]:
        return tuple(self.grid)


def format_value(value) -> str:
    """How a value appears in a point's name (see the module docstring); distinct values of one field
    give distinct text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "_".join(format_value(item) for item in value)
    return quote(str(value), safe="-._")


def point_name(values: dict) -> str:
    """``field=value,...`` over ``values`` (varying field -> value) in RunConfig's field order."""
    return ",".join(f"{key}={format_value(values[key])}" for key in sorted(values, key=FIELD_ORDER.index))


def expand_grid(grid: dict) -> list[dict]:
    """The cartesian product of ``grid`` (field -> list of values) as dictionaries, in RunConfig's field
    order with the last field varying fastest."""
    keys = sorted(grid, key=FIELD_ORDER.index)
    return [dict(zip(keys, combination)) for combination in itertools.product(*(grid[key] for key in keys))]


def _is_grid_list(key: str, value) -> bool:
    if key in LIST_FIELDS:
        return isinstance(value, list) and (not value or all(isinstance(item, list) for item in value))
    return isinstance(value, list)


def _coerced(key: str, value, source: str):
    """``value`` checked and converted as the field's type (a ValueError names the field otherwise)."""
    return coerce_values({key: value}, source=source)[key]


def parse_sweep(values: dict, *, source: str = "sweep file") -> Sweep:
    """A :class:`Sweep` from the parsed TOML of a sweep file; ValueError naming the field on bad input."""
    if "grid" not in values:
        raise ValueError(f"{source} has no [grid] table; list the values to try there, e.g. seed = [0, 1, 2]")
    grid_table = values["grid"]
    if not isinstance(grid_table, dict):
        raise ValueError(f"'grid' in {source} must be a table ([grid]), got {grid_table!r}")
    fixed = {key: value for key, value in values.items() if key != "grid"}
    grid_source = f"[grid] of {source}"
    grid = {}
    for key, value in grid_table.items():
        if key not in FIELD_ORDER:
            coerce_values({key: value}, source=grid_source)  # raises, naming the unknown key
        if key in fixed:
            raise ValueError(f"field {key!r} is both fixed (top level) and in {grid_source}; keep one")
        if not _is_grid_list(key, value):
            fixed[key] = _coerced(key, value, grid_source)
            continue
        if not value:
            raise ValueError(f"grid field {key!r} is an empty list in {grid_source}; give at least one value")
        items = [_coerced(key, item, grid_source) for item in value]
        seen = set()
        for item in items:
            text = format_value(item)
            if text in seen:
                raise ValueError(f"grid field {key!r} lists {item!r} twice in {grid_source}")
            seen.add(text)
        grid[key] = items
    fixed = coerce_values(fixed, source=source)  # unknown keys and wrong types at the top level, by name
    grid = {key: grid[key] for key in sorted(grid, key=FIELD_ORDER.index)}
    points = []
    for combination in expand_grid(grid):
        name = point_name(combination)
        if len(name.encode()) > MAX_NAME:
            raise ValueError(f"grid point {name[:60]}... gives a run directory name longer than {MAX_NAME} "
                             f"bytes; vary fewer fields or use shorter values")
        try:
            config = config_from_dict({**fixed, **combination}, source=source)
        except ValueError as error:
            raise ValueError(f"grid point {name or '(the only one)'} of {source}: {error}") from None
        points.append(Point(name, combination, config))
    return Sweep(fixed=fixed, grid=grid, points=tuple(points))


def load_sweep(path) -> Sweep:
    """Read and expand a sweep file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep file {str(path)!r} does not exist")
    try:
        values = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"sweep file {str(path)!r} is not valid TOML: {error}") from None
    return parse_sweep(values, source=str(path))


