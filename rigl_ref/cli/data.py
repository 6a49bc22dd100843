"""``rigl-ref data``: list the data sets and where they are found, fetch or import the full IDX files.

    rigl-ref data list [--data-dir DIR] [--verify]
    rigl-ref data fetch NAME [--url BASE ...] [--dest DIR] [--from DIR] [--timeout S] [--no-progress]
    rigl-ref data import NAME --from DIR [--dest DIR]
"""

from __future__ import annotations

import argparse
import sys

from rigl_ref.data import DATASET_NAMES, FILE_NAMES, IDX_DATASETS, MNIST_SUBSET, find_files, load_idx_files
from rigl_ref.data.fetch import fetch, import_files
from rigl_ref.data.locate import DATA_DIR_ENV, default_destination


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="list, fetch or import data sets",
        description="List the data sets and where they are found; fetch (download) or import the full "
        "MNIST / Fashion-MNIST IDX files with SHA-256 verification.",
    )
    parser.set_defaults(run=run)
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    names = sorted(IDX_DATASETS)

    listing = actions.add_parser("list", help="show the data sets and where each one is found")
    listing.add_argument("--data-dir", help=f"directory to look in instead of ${DATA_DIR_ENV} and the cache")
    listing.add_argument("--verify", action="store_true", help="also check the SHA-256 of every file found")
    listing.set_defaults(action=run_list)

    fetching = actions.add_parser("fetch", help="download the four IDX files and verify them")
    fetching.add_argument("name", metavar="NAME", help=f"one of {', '.join(names)}")
    fetching.add_argument(
        "--url", metavar="BASE", action="append", help="base URL to download from instead of the mirrors (repeatable)"
    )
    fetching.add_argument("--from", dest="source", metavar="DIR", help="copy local IDX files instead of downloading")
    fetching.add_argument("--dest", metavar="DIR", help=f"where to write (default ${DATA_DIR_ENV}/NAME or the cache)")
    fetching.add_argument("--timeout", type=float, default=60.0, metavar="S", help="network timeout in seconds")
    fetching.add_argument("--no-progress", action="store_true", help="no download progress bar")
    fetching.set_defaults(action=run_fetch)

    importing = actions.add_parser("import", help="copy local IDX files (raw or .gz) after verifying them")
    importing.add_argument("name", metavar="NAME", help=f"one of {', '.join(names)}")
    importing.add_argument("--from", dest="source", metavar="DIR", required=True, help="directory holding the files")
    importing.add_argument("--dest", metavar="DIR", help=f"where to write (default ${DATA_DIR_ENV}/NAME or the cache)")
    importing.set_defaults(action=run_import)


def _report(installed) -> int:
    for item in installed:
        detail = f" from {item.origin}" if item.origin else " (already there, verified)"
        print(f"{item.status:>10}  {item.path}{detail}")
    return 0


def run_fetch(args) -> int:
    if args.source is not None:
        if args.url is not None:
            raise ValueError("give either --url or --from, not both")
        return _report(import_files(args.name, args.source, dest=args.dest))
    return _report(
        fetch(args.name, base_urls=args.url, dest=args.dest, timeout=args.timeout, progress=not args.no_progress)
    )


def run_import(args) -> int:
    return _report(import_files(args.name, args.source, dest=args.dest))


def run_list(args) -> int:
    """Print one line per data set; exit status 1 if ``--verify`` found a bad file."""
    failed = False
    for name in DATASET_NAMES:
        if name == MNIST_SUBSET.name:
            where = f"embedded in the package ({MNIST_SUBSET.n_train} train / {MNIST_SUBSET.n_test} test)"
        elif name in IDX_DATASETS:
            where = _where(name, args)
            failed |= where.endswith("FAILED verification")
        else:
            where = "generated on demand (rigl_ref.data.synthetic)"
        print(f"{name:<14} {where}")
    return 1 if failed else 0


def _where(name: str, args) -> str:
    files = find_files(name, args.data_dir)
    if files is None:
        return f"not found (get it: rigl-ref data fetch {name}; it would go to {default_destination(name)})"
    directory = files[FILE_NAMES["train_images"]].parent
    if not args.verify:
        return f"found in {directory}"
    try:
        load_idx_files(IDX_DATASETS[name], files)
    except ValueError as error:
        print(f"rigl-ref data list: {name}: {error}", file=sys.stderr)
        return f"found in {directory}, but FAILED verification"
    return f"found in {directory} (verified)"


def run(args: argparse.Namespace) -> int:
    return args.action(args)
