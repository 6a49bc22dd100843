"""Every Numba kernel equals its NumPy twin (tolerance table in ``tolerances.py``; index outputs exactly)
and the dense meaning of the product, over hypothesis-drawn CSR problems (1x1, empty rows/columns,
nnz = 0, fully dense, int32/int64 indices, float32/float64)."""

import tracemalloc

import numpy as np
import pytest
from csr_cases import csr_problems
from hypothesis import given
from hypothesis import strategies as st
from tolerances import DENSE_PRODUCT, assert_matches_twin

from rigl_ref.kernels import csr, grow, reference


def _dense(case):
    W = np.zeros(case["mask"].shape, dtype=case["dtype"])
    W[case["mask"]] = case["data"]
    return W


def _close_to_dense(actual, expected, dtype):
    rtol, atol = DENSE_PRODUCT[np.dtype(dtype)]
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol * max(1.0, float(np.abs(expected).max(initial=0))))


@given(csr_problems())
def test_csr_transposed_matmul_is_the_linear_forward(case):
    args = (case["indptr"], case["indices"], case["data"], case["XT"], case["mask"].shape[1])
    actual = csr.csr_transposed_matmul(*args)
    assert_matches_twin("csr_transposed_matmul", actual, reference.csr_transposed_matmul(*args))
    _close_to_dense(actual, (case["XT"].T @ _dense(case)).T, case["dtype"])


@given(csr_problems())
def test_csr_matmul_is_the_input_gradient(case):
    args = (case["indptr"], case["indices"], case["data"], case["dYT"])
    actual = csr.csr_matmul(*args)
    assert_matches_twin("csr_matmul", actual, reference.csr_matmul(*args))
    _close_to_dense(actual, _dense(case) @ case["dYT"], case["dtype"])


@given(csr_problems())
def test_transpose_pattern_is_the_csc_view_and_gives_the_forward_bit_for_bit(case):
    rows, cols = case["mask"].shape
    t_indptr, t_indices, order = csr.transpose_pattern(case["indptr"], case["indices"], cols)
    for a, b in zip((t_indptr, t_indices, order), reference.transpose_pattern(case["indptr"], case["indices"], cols)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert t_indptr.dtype == case["indptr"].dtype and t_indices.dtype == case["indices"].dtype
    # row j of the transposed pattern: the rows of column j, increasing; order points at the same entries
    assert np.array_equal(np.diff(t_indptr), case["mask"].sum(axis=0))
    assert np.array_equal(t_indices, np.nonzero(case["mask"].T)[1])
    old_rows = np.repeat(np.arange(rows), np.diff(case["indptr"]))
    assert np.array_equal(old_rows[order], t_indices)
    assert np.array_equal(case["indices"][order], np.repeat(np.arange(cols), np.diff(t_indptr)))
    gathered = csr.csr_matmul(t_indptr, t_indices, case["data"][order], case["XT"])
    scattered = csr.csr_transposed_matmul(case["indptr"], case["indices"], case["data"], case["XT"], cols)
    assert gathered.dtype == scattered.dtype and np.array_equal(gathered.view(np.uint8), scattered.view(np.uint8))


def test_csr_matmul_groups_of_eight_add_in_column_order_hand_case():
    # one row with 10 entries (a group of eight, then two single entries); batch 1, values chosen so that
    # any other order rounds differently: 2**24 first, then nine 1s -> each 1 is lost (ties to even)
    indptr, indices = np.array([0, 10], np.int32), np.arange(10, dtype=np.int32)
    data = np.ones(10, np.float32)
    dYT = np.array([[2**24]] + [[1]] * 9, np.float32)
    assert csr.csr_matmul(indptr, indices, data, dYT)[0, 0] == np.float32(2**24)
    reversed_dYT = dYT[::-1].copy()  # nine 1s first (exact 9), then 2**24 -> 2**24 + 8 (ties to even)
    assert csr.csr_matmul(indptr, indices, data, reversed_dYT)[0, 0] == np.float32(2**24 + 8)
    assert reference.csr_matmul(indptr, indices, data, reversed_dYT)[0, 0] == np.float32(2**24 + 8)
    middle_dYT = np.roll(dYT, 5, axis=0)  # 2**24 is the sixth entry, inside the group of eight
    assert csr.csr_matmul(indptr, indices, data, middle_dYT)[0, 0] == np.float32(2**24 + 4)


@given(csr_problems())
def test_sddmm_equals_the_dense_gradient_at_the_pattern_bit_for_bit(case):
    args = (case["indptr"], case["indices"], case["XT"], case["dYT"])
    actual = csr.sddmm(*args)
    assert_matches_twin("sddmm", actual, reference.sddmm(*args))
    dense = csr.dense_weight_gradient(case["XT"], case["dYT"], case["dtype"].type(1))
    assert np.array_equal(actual, dense[case["mask"]])
    _close_to_dense(dense, case["XT"] @ case["dYT"].T, case["dtype"])


@given(csr_problems(max_dim=6, max_batch=150))
def test_long_batches_equal_the_twins(case):
    # batches past 4 * LANES = 64 reach the SDDMM's four-positions-per-lane pass, its single-chunk pass and
    # its tail in one call (the default problems stop at batch 7)
    sddmm_args = (case["indptr"], case["indices"], case["XT"], case["dYT"])
    assert_matches_twin("sddmm", csr.sddmm(*sddmm_args), reference.sddmm(*sddmm_args))
    dense = csr.dense_weight_gradient(case["XT"], case["dYT"], case["dtype"].type(1))
    assert np.array_equal(csr.sddmm(*sddmm_args), dense[case["mask"]])
    matmul_args = (case["indptr"], case["indices"], case["data"], case["dYT"])
    assert_matches_twin("csr_matmul", csr.csr_matmul(*matmul_args), reference.csr_matmul(*matmul_args))


@given(csr_problems(max_dim=20, max_batch=40))
def test_csr_matmul_window_over_the_batch_tail_equals_the_twin(case):
    # rows of up to 20 entries (groups of eight and single entries) and batches 1-40: every remainder
    # batch % VECTOR, so every split of csr._window (none below VECTOR, window ending at the batch above it)
    args = (case["indptr"], case["indices"], case["data"], case["dYT"])
    assert_matches_twin("csr_matmul", csr.csr_matmul(*args), reference.csr_matmul(*args))


@pytest.mark.parametrize("batch", [1, 7, 8, 9, 15, 16, 17, 100])
def test_window_split_covers_the_batch_once(batch):
    head, window = csr._window(batch)
    assert head % csr.VECTOR == 0 or head == batch
    if head == batch:  # no window: the main loop covers everything
        assert batch % csr.VECTOR == 0 or batch < csr.VECTOR
    else:  # the window ends at the batch and holds every position the main loop leaves
        assert window == batch - csr.VECTOR and 0 <= window <= head < batch


def test_csr_matmul_window_keeps_each_positions_order_hand_case():
    # batch 9: the main loop covers position 0-7, the window 1-8 and stores only position 8. Entry values
    # 2**24 then eight 1s: in column order every 1 is lost (ties to even), at every position
    indptr, indices = np.array([0, 9], np.int32), np.arange(9, dtype=np.int32)
    data = np.ones(9, np.float32)
    dYT = np.ones((9, 9), np.float32)
    dYT[0] = 2**24
    out = csr.csr_matmul(indptr, indices, data, dYT)
    assert np.array_equal(out, np.full((1, 9), 2**24, np.float32))


def _dense_enough_pattern(rng, n_rows, n_cols, per_row):
    """A random CSR pattern with ``per_row`` entries in every row (sorted columns)."""
    indices = np.concatenate([np.sort(rng.choice(n_cols, per_row, replace=False)) for _ in range(n_rows)])
    return np.arange(0, per_row * n_rows + 1, per_row), indices


@given(st.integers(csr.VECTOR, 70), st.integers(1, 30), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**32 - 1), st.booleans())
def test_csr_matmul_from_the_aligned_copy_equals_the_twin(batch, n_cols, dtype, seed, special):
    # every row of dYT gathered >= COPY_FROM_GATHERS times on average, so the copy path runs whenever the
    # rows are not aligned already; NaN, Inf and -0.0 in dYT must come out as the twin has them
    rng = np.random.default_rng(seed)
    n_rows = csr.COPY_FROM_GATHERS * n_cols
    indptr, indices = _dense_enough_pattern(rng, n_rows, n_cols, int(rng.integers(1, min(n_cols, 20) + 1)))
    data = rng.standard_normal(len(indices)).astype(dtype)
    dYT = rng.standard_normal((n_cols, batch)).astype(dtype)
    if special:
        dYT.flat[rng.choice(dYT.size, 3)] = [np.nan, np.inf, -0.0]
    aligned = batch % csr.VECTOR == 0 and dYT.ctypes.data % csr.ALIGN_BYTES == 0
    assert csr.gathers_from_aligned_copy(dYT, len(indices)) == (not aligned)
    args = (indptr, indices, data, dYT)
    assert_matches_twin("csr_matmul", csr.csr_matmul(*args), reference.csr_matmul(*args))


def test_gathers_from_aligned_copy_only_where_it_pays():
    rng = np.random.default_rng(0)
    misaligned = rng.standard_normal((100, 100)).astype(np.float32)  # 400-byte rows
    assert csr.gathers_from_aligned_copy(misaligned, 4 * 100)
    assert not csr.gathers_from_aligned_copy(misaligned, 4 * 100 - 1)  # too few gathers per row
    assert not csr.gathers_from_aligned_copy(misaligned[:, :7].copy(), 10**6)  # shorter than a vector
    rows = csr.TILE_BYTES // (104 * 4) + 1  # the copy would not fit the column block
    assert not csr.gathers_from_aligned_copy(np.zeros((rows, 100), np.float32), 10**9)
    aligned = csr.aligned_rows(misaligned, 104)
    assert not csr.gathers_from_aligned_copy(aligned, 10**6)  # every row starts on a cache line already
    assert csr.gathers_from_aligned_copy(aligned[1:], 10**6)  # 416 bytes in: not on a cache line


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, width", [((5, 3), 8), ((3, 100), 104), ((1, 8), 8), ((0, 4), 8)])
def test_aligned_rows_copies_pads_with_positive_zeros_and_aligns_every_row(dtype, shape, width):
    a = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    out = csr.aligned_rows(a, width)
    assert out.shape == (shape[0], width) and out.flags.c_contiguous and out.dtype == dtype
    assert np.array_equal(out[:, : shape[1]], a)
    assert np.all(out[:, shape[1]:] == 0) and not np.signbit(out[:, shape[1]:]).any()
    for row in out:
        assert row.ctypes.data % csr.ALIGN_BYTES == 0 or width * out.itemsize % csr.ALIGN_BYTES != 0


def test_csr_matmul_from_the_aligned_copy_keeps_each_positions_order_hand_case():
    # 4 rows of 9 entries over 9 rows of dYT (4 gathers per row: the copy path), batch 9 (width 16):
    # 2**24 first, then eight 1s, each lost to rounding in column order, at every position
    indptr, indices = np.arange(0, 37, 9), np.tile(np.arange(9, dtype=np.int32), 4)
    data = np.ones(36, np.float32)
    dYT = np.ones((9, 9), np.float32)
    dYT[0] = 2**24
    assert csr.gathers_from_aligned_copy(dYT, 36)
    assert np.array_equal(csr.csr_matmul(indptr, indices, data, dYT), np.full((4, 9), 2**24, np.float32))


@given(csr_problems(), st.sampled_from([1.0, 0.5, 1 / 3]))
def test_dense_weight_gradient(case, scale):
    args = (case["XT"], case["dYT"], case["dtype"].type(scale))
    assert_matches_twin("dense_weight_gradient", csr.dense_weight_gradient(*args), reference.dense_weight_gradient(*args))


@given(csr_problems(), st.data())
def test_grow_topk_matches_the_dense_ranking_for_any_block_size(case, data):
    rows, cols = case["mask"].shape
    n_free = rows * cols - len(case["indices"])
    k = data.draw(st.integers(0, n_free), label="k")
    scale = case["dtype"].type(data.draw(st.sampled_from([1.0, 0.25, 1 / 3]), label="scale"))
    block_rows = data.draw(st.integers(1, rows + 2), label="block_rows")
    block_cols = data.draw(st.integers(1, cols + 2), label="block_cols")
    args = (case["XT"], case["dYT"], case["indptr"], case["indices"], k, scale)
    flat, grad = grow.grow_topk(*args, block_rows, block_cols)
    twin_flat, twin_grad = reference.grow_topk(*args, block_rows, block_cols)
    assert np.array_equal(flat, twin_flat)
    assert_matches_twin("grow_topk", grad, twin_grad)
    exhaustive_flat, exhaustive_grad = grow.exhaustive_grow_topk(*args, block_rows, block_cols)
    assert np.array_equal(exhaustive_flat, flat) and np.array_equal(exhaustive_grad, grad)
    # the documented rule, restated: excluded positions never grow; |score| descending, ties by flat index
    assert not case["mask"].ravel()[flat].any()
    score = np.abs(grad)
    assert np.all((score[:-1] > score[1:]) | ((score[:-1] == score[1:]) & (flat[:-1] < flat[1:])))
    dense = np.abs(csr.dense_weight_gradient(case["XT"], case["dYT"], scale)).ravel()
    free = ~case["mask"].ravel()
    if 0 < k < n_free:  # nothing left out ranks above the last one taken
        left_out = np.setdiff1d(np.flatnonzero(free), flat)
        worst = score[-1], flat[-1]
        assert not np.any((dense[left_out] > worst[0]) | ((dense[left_out] == worst[0]) & (left_out < worst[1])))


def test_grow_topk_hand_case_with_ties():
    # G = x^T dy with x = [[1, 1]] (1 input, batch 1 → XT (2, 1)), dy = [[2, -2, 1]] → G = [[2, -2, 1], [2, -2, 1]]
    XT = np.array([[1.0], [1.0]], np.float32)
    dYT = np.array([[2.0], [-2.0], [1.0]], np.float32)
    kept_indptr, kept_indices = np.array([0, 1, 1], np.int32), np.array([0], np.int32)  # (0, 0) is kept
    flat, grad = grow.grow_topk(XT, dYT, kept_indptr, kept_indices, 4, np.float32(1), 1, 2)
    # |G| flat: [2, 2, 1, 2, 2, 1]; flat 0 excluded; the 2s go by index: 1, 3, 4; then the 1 at index 2
    assert flat.tolist() == [1, 3, 4, 2]
    assert grad.tolist() == [-2.0, 2.0, -2.0, 1.0]


def test_grow_topk_refuses_nan():
    XT = np.array([[np.nan]], np.float32)
    dYT = np.array([[1.0]], np.float32)
    empty = np.array([0, 0], np.int32), np.zeros(0, np.int32)
    with pytest.raises(ValueError, match="NaN"):
        grow.grow_topk(XT, dYT, *empty, 1, np.float32(1), 4, 4)


@given(csr_problems(), st.data())
def test_rebuild_pattern_matches_twin_and_keeps_rows_sorted(case, data):
    rows, cols = case["mask"].shape
    nnz = len(case["indices"])
    keep = np.asarray(data.draw(st.lists(st.booleans(), min_size=nnz, max_size=nnz), label="keep"), dtype=bool)
    kept_flat = (np.repeat(np.arange(rows), np.diff(case["indptr"])) * cols + case["indices"])[keep]
    free = np.setdiff1d(np.arange(rows * cols), kept_flat)
    grown = np.sort(case["rng"].permutation(free)[: data.draw(st.integers(0, len(free)), label="n_grown")])
    args = (case["indptr"], case["indices"], keep, grown // cols, (grown % cols).astype(case["indices"].dtype))
    new_indptr, new_indices, source = csr.rebuild_pattern(*args)
    for a, b in zip((new_indptr, new_indices, source), reference.rebuild_pattern(*args)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    new_rows = np.repeat(np.arange(rows), np.diff(new_indptr))
    new_flat = new_rows * cols + new_indices
    assert np.all(np.diff(new_flat) > 0)  # sorted within rows, unique
    assert np.array_equal(new_flat, np.union1d(kept_flat, grown))
    old_flat = np.repeat(np.arange(rows), np.diff(case["indptr"])) * cols + case["indices"]
    assert np.array_equal(old_flat[source[source >= 0]], new_flat[source >= 0])  # aligned data follows its entry
    assert np.array_equal(np.sort(new_flat[source < 0]), grown)


@pytest.mark.parametrize("module", [csr, reference], ids=["numba", "numpy"])
def test_rebuild_pattern_refuses_a_grown_position_that_is_kept(module):
    indptr, indices = np.array([0, 2], np.int32), np.array([0, 2], np.int32)
    with pytest.raises(ValueError, match="not kept"):
        module.rebuild_pattern(indptr, indices, np.array([True, True]), np.array([0]), np.array([2], np.int32))
    with pytest.raises(ValueError, match="sorted by"):
        module.rebuild_pattern(indptr, indices, np.array([False, False]), np.array([0, 0]), np.array([2, 1], np.int32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_l2_tiles_and_column_blocks_equal_the_twins(dtype):
    # large enough for every tiled path (the hypothesis cases are too small for them): the forward's output
    # (2500 x 300) exceeds TILE_BYTES, so it runs in batch tiles of 128, 128 and 44; the input gradient and
    # the SDDMM visit dYT's 2500 rows in column blocks of TILE_BYTES // (300 * itemsize) rows
    rng = np.random.default_rng(7)
    mask, indptr, indices = _random_pattern(60, 2500, 0.05, rng)
    mask[7] = False  # an empty row
    indptr, indices = _pattern_of(mask)
    data = rng.standard_normal(len(indices)).astype(dtype)
    XT, dYT = rng.standard_normal((60, 300)).astype(dtype), rng.standard_normal((2500, 300)).astype(dtype)
    assert 2500 * 300 * XT.itemsize > csr.TILE_BYTES and 300 > csr.BATCH_TILE
    assert csr.TILE_BYTES // (300 * XT.itemsize) < 2500
    t_indptr, t_indices, order = csr.transpose_pattern(indptr, indices, 2500)
    assert np.array_equal(csr.csr_matmul(t_indptr, t_indices, data[order], XT),
                          reference.csr_transposed_matmul(indptr, indices, data, XT, 2500))
    for name, args in (("csr_transposed_matmul", (indptr, indices, data, XT, 2500)),
                       ("csr_matmul", (indptr, indices, data, dYT)),
                       ("sddmm", (indptr, indices, XT, dYT))):
        assert_matches_twin(name, getattr(csr, name)(*args), getattr(reference, name)(*args))


def test_lane_order_hand_case():
    # batch 17: lane 0 holds b = 0 and 16, lanes 1..15 hold b = 1..15; x = 1, dy = [2**24, 1, 1, ..., 1].
    # lane 0: 2**24 + 1 -> 2**24 (ties to even); lanes 1..15: 1. Tree: h=8: lane0 2**24 + 1 -> 2**24,
    # lanes 1..7: 2; h=4: lane0 2**24 + 2, lanes 1..3: 4; h=2: lane0 2**24 + 6, lane1: 8; h=1: 2**24 + 14.
    # (Sequential order would give 2**24, the exact sum is 2**24 + 16.)
    XT = np.ones((1, 17), np.float32)
    dYT = np.ones((1, 17), np.float32)
    dYT[0, 0] = 2**24
    expected = np.float32(2**24 + 14)
    indptr, indices = np.array([0, 1], np.int32), np.array([0], np.int32)
    assert csr.sddmm(indptr, indices, XT, dYT)[0] == expected
    assert reference.sddmm(indptr, indices, XT, dYT)[0] == expected
    assert csr.dense_weight_gradient(XT, dYT, np.float32(1))[0, 0] == expected
    assert reference.dense_weight_gradient(XT, dYT, np.float32(1))[0, 0] == expected
    empty = np.array([0, 0], np.int32), np.zeros(0, np.int32)
    for top in (grow.grow_topk, grow.exhaustive_grow_topk):
        assert top(XT, dYT, *empty, 1, np.float32(0.5), 1, 1)[1][0] == expected * np.float32(0.5)


def _random_pattern(rows, cols, density, rng, index_dtype=np.int32):
    mask = rng.random((rows, cols)) < density
    return (mask, *_pattern_of(mask, index_dtype))


def _pattern_of(mask, index_dtype=np.int32):
    """The CSR ``(indptr, indices)`` of a boolean mask."""
    indptr = np.zeros(mask.shape[0] + 1, index_dtype)
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    return indptr, np.nonzero(mask)[1].astype(index_dtype)


def _assert_grow_equals_twin(XT, dYT, indptr, indices, k, scale, blocks=((7, 13), (64, 1024))):
    expected = reference.grow_topk(XT, dYT, indptr, indices, k, scale, 1, 1)
    for block_rows, block_cols in blocks:
        for top in (grow.grow_topk, grow.exhaustive_grow_topk):
            flat, grad = top(XT, dYT, indptr, indices, k, scale, block_rows, block_cols)
            assert np.array_equal(flat, expected[0]), (top.__name__, block_rows, block_cols)
            assert grad.dtype == expected[1].dtype and np.array_equal(grad, expected[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grow_topk_mathematically_tied_gradients_that_round_differently(dtype):
    # every dYT row is a permutation of one vector of widely spread magnitudes and x = 1, so all gradients
    # are the same real number but their floats differ in the last bits with the summation order: the BLAS
    # filter must never drop a position the exact lane-order values rank in
    rng = np.random.default_rng(1)
    base = (rng.standard_normal(40) * 10.0 ** rng.integers(-4, 5, 40)).astype(dtype)
    dYT = np.stack([rng.permutation(base) for _ in range(30)])
    XT = np.ones((150, 40), dtype)
    XT[::7] *= -1
    mask, indptr, indices = _random_pattern(150, 30, 0.2, rng)
    n_free = int((~mask).sum())
    for k in (1, 17, n_free // 2, n_free):
        _assert_grow_equals_twin(XT, dYT, indptr, indices, k, dtype(1))


@pytest.mark.parametrize("scale", [1.0, 1 / 3, 0.0])
def test_grow_topk_larger_layer_equals_twin(scale, monkeypatch):
    # a sample of 1024 positions (every 5th row and column) is much smaller than the 21 000 of the layer,
    # so the starting threshold is guessed
    monkeypatch.setattr(grow, "SAMPLE_POSITIONS", 1024)
    passes = _count_calls(monkeypatch, "_filtered_topk")
    rng = np.random.default_rng(2)
    XT = rng.standard_normal((300, 33)).astype(np.float32)
    dYT = rng.standard_normal((70, 33)).astype(np.float32)
    mask, indptr, indices = _random_pattern(300, 70, 0.1, rng, np.int64)
    for k in (1, 500, 6000):
        _assert_grow_equals_twin(XT, dYT, indptr, indices, k, np.float32(scale))
    assert passes[0][-1] > -np.inf  # the first pass starts from a guess


def _count_calls(monkeypatch, name):
    """Record the arguments of every call of ``grow.<name>`` (the function still runs)."""
    calls, original = [], getattr(grow, name)

    def recording(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(grow, name, recording)
    return calls


def test_grow_topk_filters_only_the_live_rows_and_columns(monkeypatch):
    # zero input rows (pixels that are 0 in the whole batch), rows and columns of tiny norm: with a guessed
    # cutoff the GEMMs cover only the lines that can reach it, and the result is still the twin's, also
    # for a k beyond the live lines' positions (the guess then fails and the pass from -inf has every line)
    monkeypatch.setattr(grow, "SAMPLE_POSITIONS", 1024)
    restricted = _count_calls(monkeypatch, "_pattern_on_lines")
    passes = _count_calls(monkeypatch, "_filtered_topk")
    rng = np.random.default_rng(4)
    rows, cols = rng.permutation(300), rng.permutation(200)  # line kinds not aligned with the sample grid
    XT = rng.standard_normal((300, 33)).astype(np.float32)
    XT[rows[:100]] = 0
    XT[rows[100:200]] *= 1e-3
    dYT = rng.standard_normal((200, 33)).astype(np.float32)
    dYT[cols[:100]] *= 1e-4
    mask, indptr, indices = _random_pattern(300, 200, 0.1, rng, np.int64)
    for k in (1, 300, 3000, 40000):
        _assert_grow_equals_twin(XT, dYT, indptr, indices, k, np.float32(0.5))
    assert passes[0][-1] > -np.inf
    row_ids, col_ids = restricted[0][2], restricted[0][3]  # k = 1: only the ordinary lines can reach it
    assert set(row_ids) <= set(rows[200:]) and set(col_ids) <= set(cols[100:])
    assert len(restricted) < len(passes)  # the passes from -inf (k beyond the live lines) filter every line


@given(st.integers(1, 30), st.integers(1, 30), st.integers(1, 40), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_live_lines_keep_every_position_that_reaches_the_cutoff(n_in, n_out, batch, quantile, seed):
    """A line left out of the filter holds no free or kept position whose exact score reaches ``start``."""
    rng = np.random.default_rng(seed)
    XT = (rng.standard_normal((n_in, batch)) * 10.0 ** rng.integers(-20, 4, (n_in, 1))).astype(np.float32)
    dYT = (rng.standard_normal((n_out, batch)) * 10.0 ** rng.integers(-20, 4, (n_out, 1))).astype(np.float32)
    scale = np.float32(rng.choice([1.0, 1 / 3, 1e-3]))
    scores = np.abs(reference.dense_weight_gradient(XT, dYT, scale)).astype(np.float64)
    start = float(np.quantile(scores, quantile))
    bounds = grow._error_bounds(XT, dYT, scale)
    row_norms, col_norms, factor, slack = bounds
    scale_bound, margin = grow._scaled_test(scale, np.float32)
    row_ids, col_ids = grow._live_lines(row_norms, col_norms, factor, slack, scale_bound, margin, start)
    reaching_rows, reaching_cols = np.nonzero(scores >= start)
    assert set(reaching_rows) <= set(row_ids) and set(reaching_cols) <= set(col_ids)


def test_pattern_on_lines():
    mask = np.array([[1, 0, 1, 1], [0, 1, 0, 0], [1, 1, 1, 0]], bool)
    indptr = np.concatenate([[0], np.cumsum(mask.sum(1))]).astype(np.int64)
    indices = np.nonzero(mask)[1].astype(np.int64)
    sub_indptr, sub_indices = grow._pattern_on_lines(indptr, indices, np.array([0, 2]), np.array([0, 2, 3]), 4)
    assert sub_indptr.tolist() == [0, 3, 5] and sub_indices.tolist() == [0, 1, 2, 0, 1]


def test_grow_topk_recovers_from_a_wrong_cutoff_guess(monkeypatch):
    # the sampled rows (every 4th: 750 positions of 12 000) carry gradients 1000x larger than the others, so
    # the guess for a k beyond them is far too high; the filter must notice and run again from -inf
    monkeypatch.setattr(grow, "SAMPLE_POSITIONS", 750)
    passes = _count_calls(monkeypatch, "_filtered_topk")
    rng = np.random.default_rng(3)
    XT = rng.standard_normal((300, 16)).astype(np.float32)
    XT[::4] *= 1000
    dYT = rng.standard_normal((40, 16)).astype(np.float32)
    mask, indptr, indices = _random_pattern(300, 40, 0.05, rng)
    _assert_grow_equals_twin(XT, dYT, indptr, indices, 5000, np.float32(1), blocks=((7, 13),))
    assert [args[-1] > -np.inf for args in passes] == [True, False]  # the guess, then the pass from -inf


def test_grow_topk_cutoff_guess_leaves_the_kept_positions_out(monkeypatch):
    # the kept positions are the layer's largest gradients (as after training, where the kept connections
    # carry the larger gradients); counted in the sample they would lift the guess above every free score
    # and the filter would run twice. Left out, one pass from the guess gives the exact answer.
    monkeypatch.setattr(grow, "SAMPLE_POSITIONS", 4096)
    passes = _count_calls(monkeypatch, "_filtered_topk")
    rng = np.random.default_rng(8)
    XT = rng.standard_normal((400, 16)).astype(np.float32)
    dYT = rng.standard_normal((300, 16)).astype(np.float32)
    scores = np.abs(XT @ dYT.T)
    mask = scores >= np.quantile(scores, 0.9)  # the top 10 % are kept
    indptr, indices = _pattern_of(mask)
    k = 600  # 0.5 % of the free positions: far inside the kept band if the kept ones were counted
    flat, grad = grow.grow_topk(XT, dYT, indptr, indices, k, np.float32(1), 64, 1024)
    expected = reference.grow_topk(XT, dYT, indptr, indices, k, np.float32(1), 1, 1)
    assert np.array_equal(flat, expected[0]) and np.array_equal(grad, expected[1])
    assert len(passes) == 1 and passes[0][-1] > -np.inf  # one pass, from a guess
    rows = np.arange(0, 400, 6)  # the sample grid of every 6th row and column marks exactly the free positions
    assert np.array_equal(grow._sampled_free_positions(rows, 6, 50, indptr, indices), ~mask[::6, ::6])


def test_grow_topk_keeps_its_best_keys_whenever_the_buffer_fills(monkeypatch):
    monkeypatch.setattr(grow, "EXTRA_CANDIDATES", 0)  # k + 2 tiles of key slots: partitioned many times
    partitions = _count_calls(monkeypatch, "_keep_best")
    rng = np.random.default_rng(4)
    XT = rng.standard_normal((60, 24)).astype(np.float32)
    dYT = rng.standard_normal((50, 24)).astype(np.float32)
    mask, indptr, indices = _random_pattern(60, 50, 0.3, rng)
    _assert_grow_equals_twin(XT, dYT, indptr, indices, 40, np.float32(1), blocks=((7, 13),))
    assert len(partitions) > 3
    # all-equal gradients: every free position is a candidate and ties at every key; the keys rank them
    _assert_grow_equals_twin(np.ones((60, 4), np.float32), np.ones((50, 4), np.float32), indptr, indices, 40,
                             np.float32(1), blocks=((7, 13),))


def test_grow_topk_takes_the_exhaustive_path_where_keys_cannot_hold_the_scores(monkeypatch):
    exhaustive = _count_calls(monkeypatch, "exhaustive_grow_topk")
    rng = np.random.default_rng(5)
    mask, indptr, indices = _random_pattern(20, 30, 0.2, rng)
    for dtype in (np.float64, np.float32):
        XT, dYT = rng.standard_normal((20, 9)).astype(dtype), rng.standard_normal((30, 9)).astype(dtype)
        flat, grad = grow.grow_topk(XT, dYT, indptr, indices, 50, dtype(1), 7, 13)
        twin = reference.grow_topk(XT, dYT, indptr, indices, 50, dtype(1), 7, 13)
        assert np.array_equal(flat, twin[0]) and np.array_equal(grad, twin[1])
    assert len(exhaustive) == 1  # the float64 call
    monkeypatch.setattr(grow, "FLAT_BITS", 9)  # a 20 x 30 layer now has more positions than a key can index
    flat, grad = grow.grow_topk(XT, dYT, indptr, indices, 50, np.float32(1), 7, 13)
    assert np.array_equal(flat, twin[0]) and np.array_equal(grad, twin[1]) and len(exhaustive) == 2


def test_grow_topk_extra_memory_does_not_grow_with_the_layer():
    # the same k and blocks in a layer 16x larger: the traced peak grows only by the O(n_in + n_out) vectors
    rng = np.random.default_rng(6)
    peaks = []
    for n in (2048, 8192):
        XT, dYT = rng.standard_normal((n, 8)).astype(np.float32), rng.standard_normal((n, 8)).astype(np.float32)
        nothing_kept = np.zeros(n + 1, np.int32), np.zeros(0, np.int32)
        grow.grow_topk(XT, dYT, *nothing_kept, 1000, np.float32(1), 16, 256)  # compile first
        tracemalloc.start()
        grow.grow_topk(XT, dYT, *nothing_kept, 1000, np.float32(1), 16, 256)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 8192 * 8192 * 4 / 64  # a small fraction of the dense gradient
    assert peaks[1] - peaks[0] < 64 * 8192  # norm vectors and cursors: a few 8-byte entries per row/column


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_grow_topk_non_finite_inputs_take_the_exhaustive_path(bad):
    XT = np.array([[1.0, 2.0], [bad, 1.0]], np.float32)
    dYT = np.array([[1.0, -1.0], [0.0, 1.0]], np.float32)
    empty = np.array([0, 0, 0], np.int32), np.zeros(0, np.int32)
    if np.isnan(bad):
        with pytest.raises(ValueError, match="NaN"):
            grow.grow_topk(XT, dYT, *empty, 2, np.float32(1), 2, 2)
    else:  # inf * 0 = NaN at (1, 1); the other entries are finite or +-inf
        with pytest.raises(ValueError, match="NaN"):
            grow.grow_topk(XT, dYT, *empty, 4, np.float32(1), 2, 2)


def test_row_norms_sum_the_squares_in_float64():
    # a float32 square of 1.3e-21 would be subnormal (1.7e-42) and lose digits: the norm must not
    A = np.array([[-1.3210486e-21, 0.0], [3e-30, 4e-30], [3e38, 3e38]], np.float32)
    expected = np.sqrt((A.astype(np.float64) ** 2).sum(axis=1))
    np.testing.assert_allclose(grow._row_norms(A), expected, rtol=1e-15)
