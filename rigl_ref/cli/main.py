"""Entry point of the ``rigl-ref`` console script.

Each subcommand lives in its own module of this package and exposes two functions:
``add_parser(subparsers)`` which registers its argparse sub-parser, and ``run(args) -> int``.
Errors the user can fix are reported as one line without a traceback, exit code 2, unless ``--debug``
is given: bad values (``ValueError``, :class:`UserError`), file-system refusals (any ``OSError``: a
missing, read-only or immutable path, a regular file where a directory is needed; the line names the
path), and ``MemoryError`` (a network or batch too large for this machine; the line names the flags that
size it, through the subcommand module's optional ``memory_hint(args) -> str``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rigl_ref._version import __version__

# Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ("train", "sweep", "report", "data", "flops", "conformance", "diff")


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit code 2."""


def one_line(text: str) -> str:
    """``text`` as one printable line: line breaks, tabs and other control characters (which a user's
    argument may hold, e.g. a stray ``\\r``) are shown as escapes such as ``\\r`` and ``\\x85``."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


class OneLineErrorParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors (``--epochs x``, a missing argument) are one line, exit 2,
    instead of the full usage block; ``--help`` still prints it. Sub-parsers inherit this class."""

    def error(self, message):
        print(one_line(f"{self.prog}: error: {message} (see '{self.prog} --help')"), file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="rigl-ref",
        description="RigL and dynamic sparse training, reference implementation (NumPy/SciPy/Numba).",
    )
    parser.add_argument("--version", action="version", version=f"rigl-ref {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"rigl_ref.cli.{name}")
        module.add_parser(subparsers)
    return parser


_OS_ERROR_HINTS = {
    NotADirectoryError: "a part of the path is a regular file, not a directory",
    FileExistsError: "a file is in the way",
    IsADirectoryError: "a directory is in the way of a file",
    PermissionError: "the location is read-only or immutable",
}


def os_error_line(error: OSError) -> str:
    """One line for a file-system error: what failed, on which path, and the likely cause."""
    if error.filename is None:
        return str(error)
    paths = repr(str(error.filename)) + (f" -> {str(error.filename2)!r}" if error.filename2 is not None else "")
    hint = next((text for kind, text in _OS_ERROR_HINTS.items() if isinstance(error, kind)), None)
    return f"{error.strerror or type(error).__name__}: {paths}" + (f" ({hint})" if hint else "")


def _memory_line(args, error: MemoryError) -> str:
    module = importlib.import_module(f"rigl_ref.cli.{args.command}")
    hint = module.memory_hint(args) if hasattr(module, "memory_hint") else "the input is too large"
    detail = f": {error}" if str(error) else ""
    return f"out of memory{detail}; {hint}"


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"rigl-ref {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `rigl-ref data list | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (UserError, ValueError, OSError, MemoryError) as error:
        if args.debug:
            raise
        if isinstance(error, MemoryError):
            line = _memory_line(args, error)
        elif isinstance(error, OSError):
            line = os_error_line(error)
        else:
            line = str(error)
        print(one_line(f"rigl-ref {args.command}: error: {line}"), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
