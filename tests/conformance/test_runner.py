"""The conformance runner: every shipped case matches; a corrupted case is reported as failed."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rigl_ref.cli.main import main
from rigl_ref.conformance import Mismatch, compare_close, compare_exact
from rigl_ref.conformance.handlers import HANDLERS
from rigl_ref.conformance.runner import VECTORS_DIR, find_suites, format_report, run, run_suite

CASE_COUNTS = {
    "tf1_update": 152,
    "torch_rigl": 64,
    "srigl_torch": 65,
    "granet_torch": 48,
    "jaxpruner_rigl": 64,
    "jaxpruner_set": 48,
    "tf1_sparsities": 120,
    "tf1_cosine": 21,
    "jaxpruner_sparsities": 40,
}


@pytest.fixture(scope="module")
def shipped_reports():
    return run()


def test_every_shipped_case_matches(shipped_reports):
    counts = {report.suite: len(report.results) for report in shipped_reports}
    assert counts == CASE_COUNTS
    failures = [
        (report.suite, case.case_id, [str(m) for m in case.mismatches])
        for report in shipped_reports
        for case in report.results
        if case.mismatches
    ]
    assert failures == []


SHARED_VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"  # ../shared/vectors of the checkout
# the workplace's framework vectors: every shipped suite but those rigl_ref's own generators made
SHARED_CASE_COUNTS = {suite: n for suite, n in CASE_COUNTS.items() if suite not in ("srigl_torch", "granet_torch")}


@pytest.mark.skipif(not SHARED_VECTORS.is_dir(), reason=f"no framework vectors at {SHARED_VECTORS}")
def test_cli_passes_every_suite_of_the_shared_vectors(capsys):
    assert main(["conformance", str(SHARED_VECTORS)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:-1] == [f"{suite}: {n}/{n} cases match" for suite, n in sorted(SHARED_CASE_COUNTS.items())]
    assert lines[-1] == f"{sum(SHARED_CASE_COUNTS.values())} passed, 0 failed"


def test_every_suite_has_a_registered_handler():
    assert set(HANDLERS) == set(CASE_COUNTS)


def corrupt_copy(tmp_path, suite="tf1_update", index=7, field="expected_mask"):
    folder = tmp_path / suite
    shutil.copytree(VECTORS_DIR / suite, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    case_file = folder / manifest["cases"][index]["file"]
    with np.load(case_file) as archive:
        arrays = {name: archive[name] for name in archive.files}
    flat = arrays[field].reshape(-1)
    flat[0] = 1 - flat[0]
    np.savez(case_file, **arrays)
    return folder, manifest["cases"][index]["id"], (0,) * arrays[field].ndim


def test_a_corrupted_case_is_reported_with_its_index_and_values(tmp_path):
    folder, case_id, first = corrupt_copy(tmp_path)
    report = run_suite(folder)
    failed = [result for result in report.results if not result.matches]
    assert [(result.index, result.case_id) for result in failed] == [(7, case_id)]
    mismatch = failed[0].mismatches[0]
    assert mismatch.field == "mask" and mismatch.index == first and mismatch.expected != mismatch.actual
    text = format_report([report])
    assert text.splitlines()[0] == "tf1_update: 151/152 cases match"
    assert f"tf1_update #7 {case_id}:" in text and f"mask[{first}]: expected" in text
    assert text.splitlines()[-1] == "151 passed, 1 failed"


def test_cli_exit_codes_and_output(tmp_path, capsys):
    folder, _, _ = corrupt_copy(tmp_path)
    assert main(["conformance", str(folder)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("tf1_update: 151/152 cases match") and out.rstrip().endswith("151 passed, 1 failed")
    assert main(["conformance", str(VECTORS_DIR / "torch_rigl")]) == 0
    assert capsys.readouterr().out.splitlines() == ["torch_rigl: 64/64 cases match", "64 passed, 0 failed"]


def test_a_parent_folder_runs_every_suite_inside(tmp_path):
    corrupt_copy(tmp_path, suite="jaxpruner_set", index=0, field="expected_trace")
    shutil.copytree(VECTORS_DIR / "tf1_cosine", tmp_path / "tf1_cosine")
    reports = run([tmp_path])
    assert [(r.suite, r.n_passed, r.n_failed) for r in reports] == [("jaxpruner_set", 47, 1), ("tf1_cosine", 21, 0)]


def test_unknown_suite_and_crashing_handler_fail_their_cases(tmp_path):
    folder = tmp_path / "mystery"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"suite": "mystery", "cases": [{"id": "m-0", "file": None}]}))
    report = run_suite(folder)
    assert report.n_failed == 1 and "no handler for suite 'mystery'" in str(report.results[0].mismatches[0])

    broken = tmp_path / "torch_rigl"
    shutil.copytree(VECTORS_DIR / "torch_rigl", broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["cases"] = manifest["cases"][:2]
    manifest["cases"][1]["params"]["schedule"] = "cosine"
    manifest["cases"][1]["params"]["alpha"] = 7.0  # out of range: the schedule raises
    (broken / "manifest.json").write_text(json.dumps(manifest))
    report = run_suite(broken)
    assert report.results[0].matches and "ValueError" in str(report.results[1].mismatches[0])


def test_bad_paths(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no such suite folder"):
        find_suites([tmp_path / "absent"])
    with pytest.raises(ValueError, match="neither a suite folder"):
        find_suites([tmp_path])
    assert main(["conformance", str(tmp_path / "absent")]) == 2
    assert "no such suite folder" in capsys.readouterr().err
    assert main(["conformance", "--max-failures", "-1"]) == 2


def test_compare_exact_treats_signed_zeros_and_bools_numerically():
    assert compare_exact("w", np.array([0.0, 1.0], np.float32), np.array([-0.0, 1.0])) == []
    assert compare_exact("mask", np.array([1.0, 0.0], np.float32), np.array([True, False])) == []
    assert compare_exact("w", np.zeros(3), np.zeros(4)) == [Mismatch("w.shape", None, (3,), (4,))]
    many = compare_exact("w", np.zeros(10), np.ones(10), limit=2)
    assert len(many) == 3 and many[0] == Mismatch("w", (0,), 0.0, 1.0) and "10 entries differ" in str(many[-1])


def test_compare_exact_reports_object_entries_as_they_are():
    # jaxpruner_sparsities: a leaf left unmasked is None among floats (an object array)
    assert compare_exact("sparsity", [None, 0.5], [0.25, 0.5]) == [Mismatch("sparsity", (0,), None, 0.25)]
    assert compare_exact("n_ones", [3, None], [3, 7]) == [Mismatch("n_ones", (1,), None, 7)]
    assert compare_exact("sparsity", [None, 0.5], [None, 0.5]) == []
    assert compare_exact("leaf", ["a/kernel"], ["a/bias"]) == [Mismatch("leaf", (0,), "a/kernel", "a/bias")]
    assert compare_exact("f", np.float32(1.5), 2.0) == [Mismatch("f", None, 1.5, 2.0)]


def test_an_unmasked_leaf_reported_masked_fails_its_case(tmp_path):
    folder = tmp_path / "jaxpruner_sparsities"
    shutil.copytree(VECTORS_DIR / "jaxpruner_sparsities", folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    leaves = manifest["cases"][0]["expected"]["leaves"]
    assert leaves[1]["sparsity"] is None  # layer0/bias: the default filter leaves it unmasked
    leaves[1]["sparsity"], leaves[1]["n_ones"] = 0.5, 2
    (folder / "manifest.json").write_text(json.dumps(manifest))
    report = run_suite(folder)
    assert [result.index for result in report.results if not result.matches] == [0]
    assert [str(m) for m in report.results[0].mismatches] == [
        "sparsity[(1,)]: expected 0.5, got None", "n_ones[(1,)]: expected 2, got None"]


def test_compare_close_counts_ulps():
    expected = np.array([1.0, 2.0], np.float32)
    one_ulp = np.nextafter(expected, np.float32(3))
    assert compare_close("f", expected, one_ulp, max_ulp=1) == []
    assert len(compare_close("f", expected, np.nextafter(one_ulp, np.float32(3)), max_ulp=1)) == 2
