"""``python -m rigl_ref``: the ``rigl-ref`` command, for an environment where the console script is not
on ``PATH`` (same subcommands, flags and exit codes; see :mod:`rigl_ref.cli.main`)."""

import sys

from rigl_ref.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
