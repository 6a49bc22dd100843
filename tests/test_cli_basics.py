"""The console script answers --help and --version without touching any data."""

import subprocess
import sys

import rigl_ref
from rigl_ref.cli.main import main


def test_version_flag(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert capsys.readouterr().out.strip() == f"rigl-ref {rigl_ref.__version__}"


def test_help_lists_every_subcommand():
    from rigl_ref.cli.main import SUBCOMMANDS

    out = subprocess.run(
        [sys.executable, "-m", "rigl_ref.cli.main", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: rigl-ref" in out
    for name in SUBCOMMANDS:
        assert name in out


def test_usage_errors_are_one_line(capsys):
    try:
        main(["train", "--epochs", "x"])
    except SystemExit as stop:
        assert stop.code == 2
    else:
        raise AssertionError("a malformed --epochs must stop with exit code 2")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "--epochs" in err[0] and "invalid" in err[0]
