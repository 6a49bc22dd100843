"""Entry point of the ``rigl-ref`` console script.

Each subcommand lives in its own module of this package and exposes two functions:
``add_parser(subparsers)`` which registers its argparse sub-parser, and ``run(args) -> int``.
Errors the user can fix (bad flag values, missing files) are reported as one line without a traceback,
unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from rigl_ref._version import __version__

# Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = ("train", "report", "data", "flops", "conformance")


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit code 2."""


class OneLineErrorParser(argparse.ArgumentParser):
    """An argparse parser whose usage errors (``--epochs x``, a missing argument) are one line, exit 2,
    instead of the full usage block; ``--help`` still prints it. Sub-parsers inherit this class."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.run(args) or 0)
    except (UserError, ValueError, FileNotFoundError) as error:
        if args.debug:
            raise
        print(f"rigl-ref {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rigl-ref {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `rigl-ref data list | head`): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
