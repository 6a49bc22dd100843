"""Property: no argument vector makes ``rigl-ref`` print a traceback; the exit code is 0, 1 or 2.

Each example is an argument vector for one subcommand, run in-process through
``rigl_ref.cli.main.main(argv)``: the subcommand (and its action), positional values, flags harvested from
the real argparse parser (so a new flag is fuzzed without editing this file) with values from a pool
mixing good values, bad values and paths that exist, do not exist or lie under a regular file, and junk
tokens anywhere. Cost is kept small: a new training run always starts from ``--epochs 1 --dataset
synthetic`` (later drawn flags may override them, from pools without expensive values), downloads go
to a closed loopback port, data directories are temporary, and ``conformance`` always gets a suite
path (a small shipped suite or a malformed one) so it never replays all 622 shipped cases.
``--debug`` is never drawn: it exists to show tracebacks. A subcommand outside ``FULLY_FUZZED`` (its
cost unknown) is fuzzed through argument parsing only.
"""

import argparse
import contextlib
import io
import os
import shutil
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from rigl_ref.cli.main import SUBCOMMANDS, build_parser, main
from rigl_ref.conformance.runner import VECTORS_DIR
from rigl_ref.train.config import RunConfig, save_config

from train.train_helpers import tiny_config

# The fuzz tests train; keep them to half the profile's examples (the `thorough` profile still
# gives hundreds per subcommand).
FEW = settings(max_examples=max(10, settings.default.max_examples // 2))

WORK = Path(tempfile.gettempdir()) / f"rigl-ref-fuzz-{os.getpid()}"  # made and removed by `work_files`
FILE = WORK / "a-file"
EMPTY_DIR = WORK / "empty"
UNDER_FILE = str(FILE / "sub")
MISSING = str(WORK / "missing")
TINY_CONFIG = WORK / "tiny.toml"
BAD_CONFIG = WORK / "bad.toml"
BAD_SUITE = WORK / "bad-suite"
FINISHED = WORK / "finished-run"


@pytest.fixture(scope="module", autouse=True)
def work_files():
    """The files and directories the pools name (module scope: hypothesis reruns the test body)."""
    EMPTY_DIR.mkdir(parents=True)
    FILE.write_text("not a directory\n")
    save_config(tiny_config(epochs=1), TINY_CONFIG)
    BAD_CONFIG.write_text("epochs = [\n")
    BAD_SUITE.mkdir()
    (BAD_SUITE / "manifest.json").write_text('{"suite": "tf1_cosine"}')
    yield
    shutil.rmtree(WORK, ignore_errors=True)


def _finished_run() -> str:
    """A finished tiny run (made once) for --resume, report and --out to find."""
    if not (FINISHED / "summary.json").is_file():
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert main(["train", "--config", str(TINY_CONFIG), "--out", str(FINISHED), "--no-progress"]) == 0
    return str(FINISHED)


GENERIC = ["0", "1", "-1", "0.5", "2", "nan", "inf", "-inf", "1e400", "x", "", "-", "--", "a,b", "1,2",
           MISSING, UNDER_FILE, str(FILE), str(EMPTY_DIR)]
FRESH = object()  # stands for a new temporary path of the example
RUN = object()  # stands for the finished run's directory

# Pools of values for flags (by argparse dest) and positionals whose generic values could be expensive
# or whose good values need to exist.
POOLS = {
    "epochs": ["1", "0", "-1", "2", "x", "1.5", ""],
    "batch_size": ["64", "16", "0", "-2", "1000000000", "x"],
    "hidden": ["8", "8,4", "0", "-5", "x", "", "1e9", "3,,2"],
    "model": ["mlp", "lenet-300-100", "lenet5", "resnet", ""],
    "dataset": ["synthetic", "mnist", "fashion-mnist", "cifar", ""],
    "data_dir": [MISSING, str(FILE), str(EMPTY_DIR), ""],
    "update_interval": ["1", "3", "0", "-1", "x"],
    "checkpoint_interval": ["1", "2", "0", "x"],
    "config": [str(TINY_CONFIG), str(BAD_CONFIG), MISSING, str(EMPTY_DIR), str(FILE)],
    "resume": [RUN, MISSING, str(EMPTY_DIR), str(FILE), UNDER_FILE],
    "out": [FRESH, FRESH, RUN, UNDER_FILE, str(FILE)],
    "run_dir": [RUN, MISSING, str(EMPTY_DIR), str(FILE), ""],
    "name": ["mnist", "fashion-mnist", "mnist-subset", "bogus", ""],
    "source": [str(EMPTY_DIR), MISSING, str(FILE), RUN],
    "dest": [FRESH, str(FILE), UNDER_FILE],
    "url": ["http://127.0.0.1:9/", "file:///nonexistent/", "not a url", ""],
    "timeout": ["0.5", "0", "-1", "x", "nan", "inf"],
    "paths": [str(VECTORS_DIR / "tf1_cosine"), str(BAD_SUITE), MISSING, str(FILE), str(EMPTY_DIR)],
    "json": ["-", FRESH, UNDER_FILE, str(EMPTY_DIR)],
    "widths": ["784,10", "784,300,100,10", "0", "x", "", "784,1000000000,10", "5"],
}
SET_KEYS = [*RunConfig().to_dict(), "bogus", ""]
JUNK = st.one_of(st.sampled_from(["--", "-", "--nope", "-x", "=", "--epochs=", "--set", "-o"]),
                 st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6))


def _parsers(parser: argparse.ArgumentParser, prefix=()):
    """(command path, parser) for every (sub)command with no further subcommands."""
    sub_actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not sub_actions:
        yield prefix, parser
        return
    for name, child in sub_actions[0].choices.items():
        yield from _parsers(child, prefix + (name,))


LEAVES = dict(_parsers(build_parser()))

# Subcommands whose vectors run to the end; the pools above keep them cheap. A subcommand not listed
# here (e.g. one added later) is fuzzed through argparse only, until its costly values get pools.
# `sweep` runs to the end too, but no pool holds a valid sweep file (TINY_CONFIG has no [grid] table),
# so its vectors stop at the sweep file's or the flags' one-line errors and never start a Dask cluster
# (seconds each); the real cluster runs are tests/sweep/test_sweep_cluster.py.
FULLY_FUZZED = {"train", "sweep", "report", "data", "flops", "conformance", "diff"}


def _value(draw, dest: str, fresh: Path):
    pool = POOLS.get(dest, GENERIC)
    junk = dest not in ("epochs", "batch_size", "hidden") and draw(st.integers(0, 4)) == 0
    value = draw(JUNK if junk else st.sampled_from(pool))
    if value is FRESH:
        return str(fresh / f"p{draw(st.integers(0, 3))}")
    if value is RUN:
        return _finished_run()
    return value


@st.composite
def argument_vectors(draw, command: tuple):
    parser = LEAVES[command]
    fresh = Path(tempfile.mkdtemp(dir=WORK))
    argv = list(command)
    for action in parser._actions:
        if not action.option_strings and draw(st.integers(0, 9)):  # positionals, sometimes left out
            repeats = draw(st.integers(1, 2)) if action.nargs in ("*", "+") else 1
            argv += [_value(draw, action.dest, fresh) for _ in range(repeats)]
    options = [a for a in parser._actions if a.option_strings and "--debug" not in a.option_strings]
    for _ in range(draw(st.integers(0, 6))):
        action = draw(st.sampled_from(options))
        argv.append(draw(st.sampled_from(action.option_strings)))
        if action.dest == "overrides":  # --set KEY=VALUE
            key = draw(st.sampled_from(SET_KEYS))
            argv.append(f"{key}={_value(draw, key, fresh)}")
        elif action.nargs != 0:
            argv.append(_value(draw, action.dest, fresh))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        argv.insert(draw(st.integers(1, len(argv))), draw(JUNK))
    if command == ("train",) and "--resume" not in argv:
        argv[1:1] = ["--epochs", "1", "--dataset", "synthetic"]  # a new run stays tiny
    if command == ("conformance",) and not any(p in argv for p in POOLS["paths"]):
        argv.insert(1, str(VECTORS_DIR / "tf1_cosine"))
    if command[0] not in FULLY_FUZZED:  # cost unknown: only up to argparse, which refuses the extra token
        argv.append("--not-a-flag-of-any-subcommand")
    return argv


def _run_isolated(argv) -> tuple[int, str]:
    """Run ``main(argv)`` in a temporary working directory with data and downloads kept local."""
    env = {"RIGL_REF_DATA_DIR": str(WORK / "data"), "RIGL_REF_MNIST_URL": "http://127.0.0.1:9/",
           "RIGL_REF_FASHION_MNIST_URL": "http://127.0.0.1:9/", "XDG_CACHE_HOME": str(WORK / "cache")}
    cwd = os.getcwd()
    err = io.StringIO()
    with tempfile.TemporaryDirectory(dir=WORK) as here, mock.patch.dict(os.environ, env):
        os.chdir(here)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                try:
                    code = main(argv)
                except SystemExit as stop:  # argparse: usage errors, --help
                    code = stop.code
        finally:
            os.chdir(cwd)
    return code, err.getvalue()


def _check(argv) -> None:
    code, err = _run_isolated(argv)
    event(f"exit {code}")  # pytest --hypothesis-show-statistics: how many vectors got how far
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 1, 2), (argv, code, err)
    if code == 2:
        assert len(err.strip().splitlines()) == 1, (argv, err)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("command", sorted(LEAVES), ids=" ".join)
@FEW
@given(data=st.data())
def test_no_argument_vector_gives_a_traceback(command, data):
    _check(data.draw(argument_vectors(command)))


@FEW
@given(argv=st.one_of(
    st.lists(st.one_of(JUNK, st.sampled_from(["--version", "--help", "-h", "data", "report", "flops"])), max_size=4),
    st.tuples(st.sampled_from(SUBCOMMANDS), st.sampled_from(["--help", "-h", "--nope"])).map(list),
))
def test_top_level_junk(argv):
    """Junk before (or instead of) a subcommand; a bare subcommand only where it is cheap."""
    _check(argv)


def test_every_subcommand_is_fuzzed():
    assert {command[0] for command in LEAVES} == set(SUBCOMMANDS)
    assert FULLY_FUZZED <= set(SUBCOMMANDS)
