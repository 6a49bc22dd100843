"""Run reference-vector suites through rigl_ref and report which cases match.

A suite is a folder holding ``manifest.json`` (format: ``vectors/README.md``): its ``suite`` name picks
the handler (``handlers.HANDLERS``), each case gives ``params`` and either an npz ``file`` of inputs and
``expected_*`` outputs or an inline ``expected`` object. A case matches when its handler reports no
:class:`~rigl_ref.conformance.compare.Mismatch`; a handler that raises counts as a failed case.
The suites shipped with rigl_ref live in :data:`VECTORS_DIR`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rigl_ref.conformance.compare import Mismatch
from rigl_ref.conformance.handlers import get_handler

VECTORS_DIR = Path(__file__).resolve().parent / "vectors"


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case: its position in the manifest, its id, and its mismatches."""

    index: int
    case_id: str
    mismatches: tuple[Mismatch, ...]

    @property
    def matches(self) -> bool:
        return not self.mismatches


@dataclass(frozen=True)
class SuiteReport:
    """All case results of one suite folder."""

    suite: str
    folder: Path
    results: tuple[CaseResult, ...]

    @property
    def n_passed(self) -> int:
        return sum(result.matches for result in self.results)

    @property
    def n_failed(self) -> int:
        return len(self.results) - self.n_passed


def find_suites(paths) -> list[Path]:
    """Suite folders named by ``paths``: each path is a suite folder or a parent of suite folders."""
    folders = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"no such suite folder: {path}")
        if (path / "manifest.json").is_file():
            folders.append(path)
            continue
        children = sorted(child for child in path.iterdir() if (child / "manifest.json").is_file())
        if not children:
            raise ValueError(f"{path} is neither a suite folder (with manifest.json) nor a parent of suite folders")
        folders.extend(children)
    return folders


def read_manifest(path: Path) -> dict:
    """The parsed ``manifest.json``; ``ValueError`` naming the file and the missing or malformed key."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{path} must hold a JSON object with the keys 'suite' and 'cases'")
    for key, kind in (("suite", str), ("cases", list)):
        if key not in manifest:
            raise ValueError(f"{path} lacks the key {key!r}")
        if not isinstance(manifest[key], kind):
            raise ValueError(f"{path}: {key!r} must be a {'string' if kind is str else 'list'}")
    for index, case in enumerate(manifest["cases"]):
        if not isinstance(case, dict) or "id" not in case:
            raise ValueError(f"{path}: cases[{index}] must be an object with an 'id'")
    return manifest


def run_suite(folder) -> SuiteReport:
    """Run every case of the suite in ``folder`` through its handler."""
    folder = Path(folder)
    manifest = read_manifest(folder / "manifest.json")
    try:
        run_case = get_handler(manifest["suite"])
    except (ValueError, ImportError) as error:  # unknown suite or missing handler: every case fails
        run_case = _failing_handler(f"no handler for suite {manifest['suite']!r}: {error}")
    results = []
    for index, case in enumerate(manifest["cases"]):
        try:
            mismatches = run_case(case, _load_arrays(folder, case.get("file")))
        except Exception as error:  # a crash on one case is that case's failure, not the run's
            mismatches = [Mismatch("exception", None, "no exception", f"{type(error).__name__}: {error}")]
        results.append(CaseResult(index, case["id"], tuple(mismatches)))
    return SuiteReport(manifest["suite"], folder, tuple(results))


def run(paths=(VECTORS_DIR,)) -> list[SuiteReport]:
    """Run every suite found under ``paths`` (default: the shipped vectors)."""
    return [run_suite(folder) for folder in find_suites(paths)]


def format_report(reports, *, max_failures: int = 10) -> str:
    """One line per suite, then the first ``max_failures`` failing cases, then ``N passed, M failed``."""
    lines = [f"{report.suite}: {report.n_passed}/{len(report.results)} cases match" for report in reports]
    failures = [(report, result) for report in reports for result in report.results if not result.matches]
    if failures:
        lines.append(f"first {min(len(failures), max_failures)} of {len(failures)} differing cases:")
    for report, result in failures[:max_failures]:
        lines.append(f"  {report.suite} #{result.index} {result.case_id}:")
        lines.extend(f"    {mismatch}" for mismatch in result.mismatches)
    n_passed = sum(report.n_passed for report in reports)
    n_failed = sum(report.n_failed for report in reports)
    lines.append(f"{n_passed} passed, {n_failed} failed")
    return "\n".join(lines)


def _failing_handler(reason: str):
    def run_case(case, arrays):
        return [Mismatch("handler", None, "a handler", reason)]

    return run_case


def _load_arrays(folder: Path, file_name) -> dict[str, np.ndarray] | None:
    if file_name is None:
        return None
    with np.load(folder / file_name, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
