"""Every kernel also runs as plain Python (``NUMBA_DISABLE_JIT=1``) and gives the same results as compiled."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from rigl_ref.kernels import csr

SCRIPT = r"""
import json, numpy as np
from rigl_ref.kernels import bias, csr, fast, grow, pixels, sample, sets, sgd
indptr = np.array([0, 2, 2, 3], np.int32); indices = np.array([0, 2, 1], np.int32)
data = np.array([1.5, -2.0, 0.25], np.float32)
XT = np.array([[1, 2], [3, -1], [0.5, 4]], np.float32); dYT = np.array([[1, 0], [-1, 2], [2, 2]], np.float32)
long_ptr, long_idx, long_dYT = np.array([0, 10]), np.arange(10), np.cos(np.arange(700.0)).reshape(10, 70)
copy_dYT = np.cos(np.arange(27.0)).reshape(3, 9)
def sgd_step(dtype):
    param, velocity = np.array([1.0, -2.0, 0.5], dtype), np.array([0.25, 0.0, -1.0], dtype)
    sgd.sgd_momentum_step(param, np.array([0.1, -0.3, 2.0], dtype), velocity, dtype(0.1), dtype(0.9), dtype(1e-2),
                          True, True)
    return param, velocity
out = {
  "fwd": csr.csr_transposed_matmul(indptr, indices, data, XT, 3).tolist(),
  "bwd": csr.csr_matmul(indptr, indices, data, dYT).tolist(),
  "sddmm": csr.sddmm(indptr, indices, XT, dYT).tolist(),
  "transpose": [a.tolist() for a in csr.transpose_pattern(indptr, indices, 3)],
  # one row of 10 entries and batch 70: csr_matmul's group of eight, sddmm's four-positions-per-lane pass
  "long_bwd": csr.csr_matmul(long_ptr, long_idx, np.linspace(-1, 1, 10), long_dYT).tolist(),
  "long_sddmm": csr.sddmm(long_ptr, long_idx, np.sin(np.arange(70.0)).reshape(1, 70), long_dYT).tolist(),
  # batch 100: sddmm's zero-padded path (to 128)
  "padded_sddmm": csr.sddmm(long_ptr, long_idx, np.sin(np.arange(100.0)).reshape(1, 100),
                            np.cos(np.arange(1000.0)).reshape(10, 100)).tolist(),
  # 12 entries over the 3 rows of copy_dYT, batch 9: csr_matmul gathers from the aligned copy
  "copy_path": bool(csr.gathers_from_aligned_copy(copy_dYT, 12)),
  "copy_bwd": csr.csr_matmul(np.arange(0, 13, 2), np.array([0, 2, 1, 2, 0, 1] * 2), np.linspace(-2, 2, 12),
                             copy_dYT).tolist(),
  "dense": csr.dense_weight_gradient(XT, dYT, np.float32(1)).tolist(),
  "grow": [a.tolist() for a in grow.grow_topk(XT, dYT, indptr, indices, 4, np.float32(1), 2, 2)],
  "grow_exhaustive": [a.tolist() for a in grow.exhaustive_grow_topk(XT, dYT, indptr, indices, 4, np.float32(1), 2, 2)],
  "floyd": sample.floyd_sample(np.array([3, 3, 1, 4, 0]), 8).tolist(),
  "sorted_in": sets.sorted_in(np.array([1, 4, 4, 9]), np.array([0, 4, 9, 12])).tolist(),
  "sorted_membership": [a.tolist() for a in sets.sorted_membership(np.array([1, 4, 9]), np.array([0, 4, 9, 12]))],
  # the fast kernels on values whose sums are exact in any order (so compiled and plain agree)
  "sddmm_fast": fast.sddmm_fast(indptr, indices, XT, dYT).tolist(),
  "backward_fast": [a.tolist() for a in fast.sparse_linear_backward_fast(indptr, indices, data, XT, dYT)],
  "long_backward_fast": [a.tolist() for a in fast.sparse_linear_backward_fast(
      np.array([0, 6]), np.arange(6), np.arange(6.0), np.ones((1, 70)), np.arange(420.0).reshape(6, 70) % 7)],
  "sgd": [a.tolist() for a in sgd_step(np.float32)],
  "bias_relu": bias.bias_activation(XT, np.array([0.5, -4.0, 0.0], np.float32), True).tolist(),
  "relu_gradient": bias.relu_gradient(dYT, bias.bias_activation(XT, np.array([0.5, -4.0, 0.0], np.float32), True)).tolist(),
  "pixels": pixels.scaled_pixels(np.array([[0, 1, 254], [255, 128, 3]], np.uint8), True).tolist(),
  "pixels_batch_major": pixels.scaled_pixels(np.array([[0, 1, 254], [255, 128, 3]], np.uint8), False).tolist(),
  "rebuild": [a.tolist() for a in csr.rebuild_pattern(indptr, indices, np.array([True, False, True]),
                                                     np.array([1, 2]), np.array([1, 0], np.int32))],
}
print(json.dumps(out))
"""


def _run(disable_jit: bool):
    env = dict(os.environ, NUMBA_DISABLE_JIT="1" if disable_jit else "0")
    env["PYTHONPATH"] = str(Path(csr.__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_kernel_runs_without_jit_and_agrees_with_the_compiled_kernels():
    plain, compiled = _run(True), _run(False)
    assert plain == compiled
    assert plain["grow"] == plain["grow_exhaustive"]
    assert plain["sorted_membership"] == [[False, True, True], [False, True, True, False]]
    assert plain["copy_path"]
    assert plain["sddmm_fast"] == plain["sddmm"] and plain["backward_fast"] == [plain["bwd"], plain["sddmm"]]
    assert plain["floyd"] == [0, 1, 3, 4, 6]  # draws 3 and 4 collide: j = 4 and j = 6 are taken instead
    assert np.allclose(plain["dense"], np.array([[1, 2], [3, -1], [0.5, 4]]) @ np.array([[1, 0], [-1, 2], [2, 2]]).T)
