"""``bench/products.py``: a tiny run writes every layer's products for every implementation, and the
summary's budget arithmetic is computed from the records (no timing assertions)."""

import json

import pytest


@pytest.fixture(scope="module")
def module(load_script):
    return load_script("bench/products.py")


def test_a_tiny_run_writes_every_product_and_the_summary(module, tmp_path):
    pytest.importorskip("torch")
    path = tmp_path / "products.json"
    assert module.main(["--sparsities", "0.99", "--repeats", "2", "--warmup", "2", "--steps", "100",
                        "--json", str(path)]) == 0
    written = json.loads(path.read_text())
    cases = {(r["layer"], r["product"], r["impl"]) for r in written["records"]}
    layers = [f"{a}x{b}" for a, b in zip(module.WIDTHS, module.WIDTHS[1:])]
    impls = (*module.SPARSE_IMPLS, "dense")
    expected = {(layer, product, impl) for index, layer in enumerate(layers) for product in module.PRODUCTS
                for impl in impls if not (index == 0 and product == "input_grad")}
    assert cases == expected
    for record in written["records"]:
        assert record["median_s"] > 0 and record["gmac_per_s"] > 0 and record["sparsity"] == 0.99
    (row,) = written["summary"]
    assert row["budget_s"] == pytest.approx(row["dense_step_s"] / module.TARGET)
    assert row["left_for_the_rest_s"] == pytest.approx(row["budget_s"] - row["best_products_s"])
    assert row["best_products_s"] <= min(row[f"{impl}_products_s"] for impl in module.SPARSE_IMPLS)
    assert "Math Kernel Library" in written["environment"]["torch_onemkl"]


def test_the_best_case_takes_the_fastest_sparse_implementation_per_product(module):
    def record(layer, product, impl, seconds):
        return {"sparsity": 0.95, "layer": layer, "product": product, "impl": impl, "median_s": seconds}

    records = [record("a", "forward", "rigl_ref", 3.0), record("a", "forward", "rigl_ref_fast", 3.0),
               record("a", "forward", "onemkl", 2.0), record("a", "forward", "dense", 0.5),
               record("a", "weight_grad", "rigl_ref", 4.0), record("a", "weight_grad", "rigl_ref_fast", 1.0),
               record("a", "weight_grad", "onemkl", 3.0), record("a", "weight_grad", "dense", 0.5)]
    steps = {(0.95, "exact"): 9.0, (0.95, "fast"): 6.0}
    (row,) = module.summarize(records, steps, dense_step_s=20.0)
    assert row["best_products_s"] == 3.0  # oneMKL's forward + rigl_ref_fast's SDDMM; dense is not a candidate
    assert row["budget_s"] == 4.0 and row["left_for_the_rest_s"] == 1.0
    assert row["rigl_ref_fast_products_s"] == 4.0 and row["fast_rest_s"] == 2.0
