"""The up-front memory estimate (``rigl_ref.train.memory``): close to the measured peak RSS, O(nnz) in the
layer size, and a one-line refusal naming what the run needs, what the machine has and the flag."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rigl_ref.cli.main import main
from rigl_ref.data import synthetic
from rigl_ref.train.config import RunConfig
from rigl_ref.train.loop import Trainer
from rigl_ref.train.memory import (SKIP_ENV, TOLERANCE, NotEnoughMemory, available_bytes, check_memory, estimate,
                                   estimate_peak_bytes)

ROOT = Path(__file__).resolve().parents[2]
DATA = synthetic()

# The peak RSS of the run's own process image: VmHWM of /proc/self/status. resource.getrusage's ru_maxrss
# would also do in a fresh process, but Linux carries the parent's high-water mark over fork + exec into
# the child's ru_maxrss (0.8 GB of pytest measured for a 0.2 GB run), so the run reports both and the
# test reads VmHWM.
MEASURE = r"""
import io, json, resource, sys, tempfile
from rigl_ref.train.config import config_from_dict
from rigl_ref.train.run import start_run
config = config_from_dict(json.loads(sys.argv[1]))
with tempfile.TemporaryDirectory() as folder:
    start_run(config, folder, progress=False, out=io.StringIO())
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(hwm * 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # Linux: kilobytes
"""

CONFIGS = {
    "lenet-300-100 shape": dict(model="mlp", hidden=[300, 100]),
    "two 16384-wide layers at 99.9 %": dict(model="mlp", hidden=[16384, 16384], sparsity=0.999, batch_size=171),
    "SET's dense grow scores": dict(model="mlp", hidden=[2048, 2048], method="set", update_interval=2,
                                    batch_size=128),
    "dense": dict(model="mlp", hidden=[1024], method="dense"),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_the_estimate_bounds_the_measured_peak_rss_within_the_stated_factor(name):
    values = dict(dataset="synthetic", epochs=1, **CONFIGS[name])
    config = RunConfig(**values)
    done = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(values)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    measured = int(done.stdout.split()[-2])
    assert measured > 0
    estimated = estimate_peak_bytes(config, DATA)
    assert measured <= estimated <= TOLERANCE * measured, (measured, estimated, estimate(config, DATA).parts)


def test_the_estimate_grows_with_nnz_and_batch_not_with_the_dense_size():
    def total(**changes):
        return estimate_peak_bytes(RunConfig(dataset="synthetic", model="mlp", **changes), DATA)

    base = total(hidden=[65536, 65536], sparsity=0.999)
    assert base < 8 << 30  # the dense 65536^2 layer alone would be 16 GiB of float32
    # four times the positions at a quarter of the density: about the same nnz and memory
    assert total(hidden=[131072, 131072], sparsity=0.99975) < 2 * base
    assert total(hidden=[4096, 4096], batch_size=512) > total(hidden=[4096, 4096], batch_size=64)
    parts = estimate(RunConfig(dataset="synthetic", model="mlp", hidden=[2048], method="set"), DATA).parts
    assert parts["dense scores"] > 0 == estimate(RunConfig(dataset="synthetic", model="mlp", hidden=[2048]), DATA).parts["dense scores"]


def test_the_refusal_is_one_line_with_the_need_the_machine_and_the_flag(monkeypatch):
    monkeypatch.delenv(SKIP_ENV, raising=False)
    config = RunConfig(dataset="synthetic", model="mlp", hidden=[100000, 100000], sparsity=0.5)
    with pytest.raises(NotEnoughMemory) as caught:
        check_memory(config, DATA, available=1 << 30)
    line = str(caught.value)
    assert "\n" not in line and "needs about" in line and "1.00 GiB available (MemAvailable)" in line
    assert "--sparsity" in line and "--hidden" in line and "--no-memory-check" in line and SKIP_ENV in line
    wide_batch = RunConfig(dataset="synthetic", model="mlp", hidden=[100000], sparsity=0.999, batch_size=5000)
    with pytest.raises(NotEnoughMemory, match="activations .* lower --batch-size"):
        check_memory(wide_batch, DATA, available=1 << 30)
    assert check_memory(RunConfig(dataset="synthetic", model="mlp", hidden=[16]), DATA, available=1 << 30) is not None


def test_the_trainer_refuses_before_allocating_and_the_override_lets_it_through(monkeypatch):
    import rigl_ref.train.memory as memory

    monkeypatch.delenv(SKIP_ENV, raising=False)
    monkeypatch.setattr(memory, "available_bytes", lambda meminfo="/proc/meminfo": 1)  # a machine with no memory
    config = RunConfig(dataset="synthetic", model="mlp", hidden=[16], epochs=1)
    with pytest.raises(NotEnoughMemory):
        Trainer(config, DATA)
    assert Trainer(config, DATA, check_memory=False).model is not None
    monkeypatch.setenv(SKIP_ENV, "1")
    assert Trainer(config, DATA).model is not None


def test_the_cli_refuses_in_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(SKIP_ENV, raising=False)
    out = tmp_path / "run"
    code = main(["train", "--model", "mlp", "--hidden", "100000,100000", "--sparsity", "0.5", "--dataset",
                 "synthetic", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "needs about" in err and "--hidden" in err
    assert not out.exists()


def test_available_bytes_reads_memavailable(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       1000 kB\nMemFree:         500 kB\nMemAvailable:    700 kB\n")
    assert available_bytes(str(meminfo)) == 700 * 1024
    meminfo.write_text("MemTotal:       1000 kB\n")
    assert available_bytes(str(meminfo)) is None and available_bytes(str(tmp_path / "missing")) is None


def test_a_layer_of_17_billion_positions_is_built_and_checkpointed_in_o_nnz_memory():
    """131072 x 131072 at 99.99 %: a dense bool mask would be 16 GiB, its permutation 128 GiB. The model
    is built, and its checkpoint arrays are CSR only (no array near the dense size), in well under 1 GiB
    of traced NumPy memory."""
    import tracemalloc

    config = RunConfig(dataset="synthetic", model="mlp", hidden=[131072, 131072], sparsity=0.9999, epochs=1)
    tracemalloc.start()
    try:
        trainer = Trainer(config, DATA, check_memory=False)
        arrays, _ = trainer.state()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    nnz = trainer.model.nnz()
    assert nnz["fc2"] < 131072**2 // 1000 and peak < 1 << 30, (nnz, peak)
    assert {"model/fc2/indptr", "model/fc2/indices", "model/fc2/data"} <= set(arrays)
    assert "model/fc2/weight" not in arrays
    assert max(a.size for a in arrays.values()) <= max(sum(nnz.values()), 131072 + 1)
