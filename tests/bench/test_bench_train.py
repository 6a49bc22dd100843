"""Smoke test of ``bench/train.py``: tiny settings through its ``main``, the JSON records' keys and the values
that follow from the configuration (no timing assertions: speed is measured, not asserted)."""

import json

import pytest


@pytest.fixture(scope="module")
def bench_train(load_script):
    return load_script("bench/train.py")


@pytest.fixture(scope="module")
def records(bench_train, tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "train.json"
    returned = bench_train.main(["--models", "lenet-300-100", "--sparsities", "0", "0.9", "--repeats", "1",
                                 "--update-repeats", "1", "--json", str(path)])
    written = json.loads(path.read_text())
    assert written == json.loads(json.dumps(returned))
    return written


def test_records_have_the_documented_keys(records):
    required = {"model", "sparsity", "impl", "op", "median_s", "state_bytes", "nnz", "dense_size", "batch",
                "numba_threads", "blas_threads"}
    for record in records:
        assert required <= set(record)
        assert record["median_s"] > 0 and record["repeats"] == 1
        assert record["numba_threads"] == 1 and all(n == 1 for n in record["blas_threads"])
        if record["op"] != "mask_update":
            assert "peak_extra_bytes" in record


def test_cases_and_operations(records):
    cases = {(r["sparsity"], r["impl"], r["op"]) for r in records}
    assert cases == {
        (0.0, "rigl_ref", "iteration"), (0.0, "dense_masked", "iteration"),
        (0.9, "rigl_ref", "iteration"), (0.9, "rigl_ref", "update_iteration"), (0.9, "rigl_ref", "mask_update"),
        (0.9, "dense_masked", "iteration"), (0.9, "dense_masked", "update_iteration"),
    }
    ratios = [r for r in records if "time_ratio_to_dense_masked" in r]
    assert {(r["sparsity"], r["op"]) for r in ratios} == {(0.0, "iteration"), (0.9, "iteration"),
                                                         (0.9, "update_iteration")}


def test_counts_and_state_bytes_follow_from_the_network(records):
    dense_size = 784 * 300 + 300 * 100 + 100 * 10
    by_case = {(r["sparsity"], r["impl"], r["op"]): r for r in records}
    for r in records:
        assert r["dense_size"] == dense_size
    assert by_case[0.0, "rigl_ref", "iteration"]["nnz"] == dense_size
    # uniform distribution: every layer keeps round(0.1 N_l) connections
    assert by_case[0.9, "rigl_ref", "iteration"]["nnz"] == 23520 + 3000 + 100
    biases = (300 + 100 + 10) * 4
    # dense: weights, biases and SGD momentum for both, float32
    assert by_case[0.0, "rigl_ref", "iteration"]["state_bytes"] == 2 * (dense_size * 4 + biases)
    # dense masked: the same plus a float32 mask
    assert by_case[0.9, "dense_masked", "iteration"]["state_bytes"] == 2 * (dense_size * 4 + biases) + dense_size * 4
    # CSR: int32 indptr (in + 1 per layer) and indices, float32 data and momentum, biases and their momentum
    nnz = 23520 + 3000 + 100
    indptr = (785 + 301 + 101) * 4
    assert by_case[0.9, "rigl_ref", "iteration"]["state_bytes"] == indptr + nnz * 4 * 3 + 2 * biases


def test_bad_arguments_are_refused(bench_train):
    for argv in (["--sparsities", "1.0"], ["--threads", "0"], ["--repeats", "0"], ["--update-repeats", "0"],
                 ["--models", "resnet"]):
        with pytest.raises(SystemExit):
            bench_train.main(argv)
