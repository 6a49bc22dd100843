"""Smoke test of ``bench/scale.py``: a tiny width through its ``main`` (one subprocess run), the JSON's
documented keys and the values that follow from the configuration (no timing assertions)."""

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def module(load_script):
    return load_script("bench/scale.py")


def test_a_tiny_scale_run_writes_the_documented_record(module, tmp_path):
    path = tmp_path / "scale.json"
    assert module.main(["--width", "256", "--sparsity", "0.9", "--steps", "6", "--update-interval", "2",
                        "--methods", "rigl", "gse", "--json", str(path)]) == 0
    written = json.loads(path.read_text())
    record, sampled = written["records"]
    assert (record["method"], sampled["method"], sampled["sample_factor"]) == ("rigl", "gse", 1.0)
    assert sampled["nnz"] == record["nnz"] and sampled["updates"] == 3
    assert {"width", "sparsity", "nnz", "steps", "peak_rss_bytes", "median_step_s", "median_grow_s",
            "dense_gemm_estimate_s"} <= set(record)
    assert record["width"] == 256 and record["steps"] == 6 and record["updates"] == 3
    # uniform 0.9 on 784x256, 256x256, 256x10: N - floor(0.9 N) each
    expected = sum(n - int(0.9 * n) for n in (784 * 256, 256 * 256, 256 * 10))
    assert record["nnz"] == expected
    assert record["peak_rss_bytes"] > 0 and record["median_grow_s"] > 0
    assert "environment" in written
    environment = written["environment"]
    assert {"cpu_model", "avx512f", "llvm_cpu", "caches", "numba", "blas"} <= set(environment)
    if Path("/proc/cpuinfo").exists():  # Linux: the CPU is named, not left blank as platform.processor() is
        assert environment["cpu_model"] and isinstance(environment["avx512f"], bool)


def test_a_refused_run_exits_2(module, tmp_path, monkeypatch):
    monkeypatch.setattr(module, "run_child", lambda *args, **kwargs: "NotEnoughMemory: this run needs about 9 GiB")
    assert module.main(["--width", "1000000", "--json", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()
