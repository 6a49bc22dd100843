"""File-system refusals, exhausted memory and malformed suite manifests: each answered by the CLI in one
line naming the path (or the flag), exit code 2, with nothing that existed lost or half-written.

Read-only locations: these tests run as root in CI, and chmod does not stop root, so a location is made
immutable with ``chattr +i`` when that works (it needs CAP_LINUX_IMMUTABLE and a file system that supports
it); otherwise the os calls that write under it are monkeypatched to raise ``PermissionError`` as the
kernel would (``refuse_writes.mechanism`` names the one used; assertion messages include it).
"""

import builtins
import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from rigl_ref.cli.main import main
from rigl_ref.data import FILE_NAMES, write_idx
from rigl_ref.train.config import save_config

from train.train_helpers import tiny_config


def _error(capsys, *argv) -> str:
    assert main([str(a) for a in argv]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def _snapshot(directory: Path) -> dict:
    """Every file under ``directory`` (hidden ones too) with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _chattr_works(probe_dir: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    probe = probe_dir / "chattr-probe"
    probe.mkdir()
    try:
        if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
            return False
        try:
            (probe / "x").touch()
            return False  # the flag was accepted but not enforced
        except PermissionError:
            return True
    finally:
        subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
        shutil.rmtree(probe, ignore_errors=True)


class _Refuser:
    """Monkeypatches os.open/mkdir/unlink/rename/replace and builtins.open so that writes under the
    protected paths raise PermissionError (the fallback when chattr is unavailable)."""

    def __init__(self, monkeypatch):
        self.protected: list[Path] = []
        real = {name: getattr(os, name) for name in ("open", "mkdir", "unlink", "rename", "replace", "rmdir")}
        real_open = builtins.open

        def guarded(*paths):
            if any(self._covers(p) for p in paths):
                raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), str(paths[0]))

        def os_open(path, flags, *rest, **kw):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                guarded(path)
            return real["open"](path, flags, *rest, **kw)

        def one_path(name):
            return lambda path, *rest, **kw: (guarded(path), real[name](path, *rest, **kw))[1]

        def two_paths(name):
            return lambda src, dst, *rest, **kw: (guarded(src, dst), real[name](src, dst, *rest, **kw))[1]

        def open_(file, mode="r", *rest, **kw):
            if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
                guarded(file)
            return real_open(file, mode, *rest, **kw)

        monkeypatch.setattr(os, "open", os_open)
        for name in ("mkdir", "unlink", "rmdir"):
            monkeypatch.setattr(os, name, one_path(name))
        for name in ("rename", "replace"):
            monkeypatch.setattr(os, name, two_paths(name))
        monkeypatch.setattr(builtins, "open", open_)

    def _covers(self, path) -> bool:
        path = Path(os.fspath(path)).absolute()
        for protected in self.protected:
            # an immutable directory refuses new, removed or renamed entries; an immutable file, any write
            if path == protected or path.parent == protected:
                return True
        return False


@pytest.fixture
def refuse_writes(tmp_path_factory, monkeypatch):
    """``refuse_writes(path)``: make the file or directory ``path`` immutable; undone after the test."""
    use_chattr = _chattr_works(tmp_path_factory.mktemp("probe"))
    flagged, refuser = [], None

    def protect(path: Path) -> None:
        nonlocal refuser
        if use_chattr:
            subprocess.run(["chattr", "+i", str(path)], check=True)
            flagged.append(path)
        else:
            refuser = refuser or _Refuser(monkeypatch)
            refuser.protected.append(Path(path).absolute())

    protect.mechanism = "chattr +i" if use_chattr else "monkeypatched os calls"
    yield protect
    for path in flagged:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture
def finished_run(tmp_path, capsys):
    """A finished tiny run directory and its configuration file."""
    config = tmp_path / "c.toml"
    save_config(tiny_config(epochs=1), config)
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    return out, config


def test_out_under_a_regular_file(tmp_path, capsys):
    config = tmp_path / "c.toml"
    save_config(tiny_config(epochs=1), config)
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    err = _error(capsys, "train", "--config", config, "--out", blocker / "run", "--no-progress")
    assert str(blocker / "run") in err and "not a directory" in err
    err = _error(capsys, "train", "--config", config, "--out", blocker, "--no-progress")
    assert str(blocker) in err and "is not a directory" in err
    assert blocker.read_text() == "keep me"


def test_immutable_out_directory(tmp_path, capsys, refuse_writes):
    config = tmp_path / "c.toml"
    save_config(tiny_config(epochs=1), config)
    out = tmp_path / "frozen"
    out.mkdir()
    refuse_writes(out)
    err = _error(capsys, "train", "--config", config, "--out", out, "--no-progress")
    assert str(out) in err and ("not permitted" in err or "denied" in err), (refuse_writes.mechanism, err)
    assert list(out.iterdir()) == []


def test_resume_force_and_report_on_an_immutable_run(finished_run, capsys, refuse_writes):
    out, config = finished_run
    before = _snapshot(out)
    refuse_writes(out)
    for argv in (["train", "--resume", out], ["train", "--config", config, "--out", out, "--force"],
                 ["report", out]):
        err = _error(capsys, *argv, *(["--no-progress"] if argv[0] == "train" else []))
        assert str(out) in err, (refuse_writes.mechanism, argv, err)
        assert _snapshot(out) == before, argv


def test_force_replaces_all_files_or_none(finished_run, capsys, refuse_writes):
    out, config = finished_run
    before = _snapshot(out)
    refuse_writes(out / "summary.json")  # one file cannot be moved: the others must stay too
    err = _error(capsys, "train", "--config", config, "--out", out, "--force", "--no-progress")
    assert "summary.json" in err
    assert _snapshot(out) == before and not list(out.glob(".replaced-*"))


def test_memory_error_is_one_line_naming_the_flag(tmp_path, capsys, monkeypatch):
    """The CLI's safety net, independent of any up-front estimate: a MemoryError anywhere in a run."""
    import rigl_ref.train.run as run_module

    def exhausted(*args, **kwargs):
        raise MemoryError("Unable to allocate 730. GiB for an array with shape (784000000000,) and data type bool")

    monkeypatch.setattr(run_module, "Trainer", exhausted)
    out = tmp_path / "run"
    err = _error(capsys, "train", "--model", "mlp", "--hidden", "1000000000", "--out", out, "--no-progress")
    assert "out of memory" in err and "--hidden 1000000000" in err
    err = _error(capsys, "train", "--out", out, "--no-progress")
    assert "out of memory" in err and "--model" in err and "--batch-size" in err
    assert not out.exists()


def test_a_real_oversized_network_is_one_line(tmp_path):
    """No mock: a billion-wide hidden layer, in a subprocess whose address space is capped at 8 GB so the
    first large allocation fails on any machine (an up-front estimate may refuse it earlier: also fine)."""
    import resource
    import sys

    def cap_memory():
        resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))

    out = tmp_path / "big"
    done = subprocess.run(
        [sys.executable, "-m", "rigl_ref", "train", "--model", "mlp", "--hidden", "1000000000", "--dataset",
         "synthetic", "--epochs", "1", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, preexec_fn=cap_memory, timeout=120,
        cwd=Path(__file__).resolve().parents[1], env=dict(os.environ, NUMBA_NUM_THREADS="1"))
    err = done.stderr.strip()
    assert done.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "--hidden" in err or "hidden" in err, err
    assert not out.exists()


def test_non_integer_hidden_and_hidden_without_mlp(tmp_path, capsys):
    assert "--hidden takes comma-separated integers, got '1e9'" in _error(capsys, "train", "--hidden", "1e9")
    err = _error(capsys, "train", "--hidden", "100000", "--out", tmp_path / "x")
    assert "apply to model 'mlp' only" in err
    assert not (tmp_path / "x").exists()


def test_data_import_onto_an_existing_file(tmp_path, capsys):
    source = tmp_path / "source"
    source.mkdir()
    rng = np.random.default_rng(0)
    for role, name in FILE_NAMES.items():
        shape = (4, 28, 28) if role.endswith("images") else (4,)
        write_idx(source / name, rng.integers(0, 256, shape, dtype=np.uint8))
    dest = tmp_path / "dest"
    dest.write_text("keep me")
    err = _error(capsys, "data", "import", "mnist", "--from", source, "--dest", dest)
    assert str(dest) in err and "exists" in err.lower()
    assert dest.read_text() == "keep me"


@pytest.mark.parametrize("missing", ["suite", "cases"])
def test_conformance_manifest_without_a_key(tmp_path, capsys, missing):
    suite = tmp_path / "suite"
    suite.mkdir()
    manifest = {"suite": "tf1_cosine", "cases": []}
    del manifest[missing]
    (suite / "manifest.json").write_text(json.dumps(manifest))
    err = _error(capsys, "conformance", suite)
    assert str(suite / "manifest.json") in err and f"lacks the key {missing!r}" in err


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"suite": "tf1_cosine", "cases": {}}', "'cases' must be a list"),
    ('{"suite": "tf1_cosine", "cases": [{"params": {}}]}', "cases[0] must be an object with an 'id'"),
])
def test_conformance_malformed_manifest(tmp_path, capsys, text, message):
    (tmp_path / "manifest.json").write_text(text)
    err = _error(capsys, "conformance", tmp_path)
    assert str(tmp_path / "manifest.json") in err and message in err
