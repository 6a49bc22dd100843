"""``bench/epoch.py``: a tiny interleaved run through its ``main`` (every implementation in its own
subprocess), the documented record fields, the update count in the window, and the summary's ratios
computed from the records (no timing assertions)."""

import json

import pytest


@pytest.fixture(scope="module")
def module(load_script):
    return load_script("bench/epoch.py")


def test_a_tiny_run_writes_every_implementation_with_the_documented_fields(module, tmp_path):
    from rigl_ref.interop.rigl_torch_import import rigl_torch_available

    path = tmp_path / "epoch.json"
    assert module.main(["--hidden", "16", "--sparsities", "0.9", "--rounds", "1", "--warmup", "2", "--steps", "100",
                        "--json", str(path)]) == 0
    written = json.loads(path.read_text())
    impls = {r["impl"] for r in written["records"]}
    expected = set(module.IMPLS) if rigl_torch_available() else {"rigl_ref", "rigl_ref_fast", "rigl_ref_dense"}
    assert impls == expected
    for record in written["records"]:
        assert {"impl", "sparsity", "median_step_s", "epoch_s", "peak_rss_bytes", "threads"} <= set(record)
        assert record["median_step_s"] > 0 and record["epoch_s"] > 0 and record["peak_rss_bytes"] > 0
        assert set(record["threads"]["blas"]) <= {1} and record["threads"]["numba"] == 1
        # warm-up 2, window 100: the RigL update at iteration 100 falls in the window; dense ones have none
        assert record["updates_in_window"] == (1 if record["impl"] in module.SPARSE_IMPLS else 0)
        assert (record["sparsity"] is None) == (record["impl"] not in module.SPARSE_IMPLS)


def test_summary_takes_the_median_over_rounds_and_ratios_against_rigl_ref(module):

    def record(impl, sparsity, epoch, round_index):
        return {"impl": impl, "sparsity": sparsity, "median_step_s": epoch / 600, "epoch_s": epoch,
                "peak_rss_bytes": 1, "round": round_index}

    records = [record("rigl_ref", 0.95, e, i) for i, e in enumerate([2.0, 3.0, 10.0])]
    records += [record("rigl_ref_fast", 0.95, e, i) for i, e in enumerate([1.5, 2.5, 2.0])]
    records += [record("rigl_torch", 0.95, e, i) for i, e in enumerate([9.0, 12.0, 15.0])]
    records += [record("torch_dense", None, e, i) for i, e in enumerate([7.5, 6.0, 9.0])]
    records += [record("rigl_ref_dense", None, e, i) for i, e in enumerate([6.0, 5.0, 7.0])]
    rows = {(r["impl"], r["sparsity"]): r for r in module.summary_rows(records)}
    ours = rows[("rigl_ref", 0.95)]
    assert ours["epoch_s"] == 3.0
    assert ours["rigl_torch_over_rigl_ref"] == pytest.approx(12.0 / 3.0)
    assert ours["torch_dense_over_rigl_ref"] == pytest.approx(7.5 / 3.0)
    assert ours["fastest_dense_over_rigl_ref"] == pytest.approx(6.0 / 3.0)  # rigl_ref dense: median 6.0 < 7.5
    assert ours["ideal"] == pytest.approx(20.0)
    fast = rows[("rigl_ref_fast", 0.95)]
    assert fast["rigl_torch_over_rigl_ref"] == pytest.approx(12.0 / 2.0)
    assert fast["torch_dense_over_rigl_ref"] == pytest.approx(7.5 / 2.0)
    assert fast["fastest_dense_over_rigl_ref"] == pytest.approx(6.0 / 2.0)
