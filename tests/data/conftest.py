"""Fixtures for the data tests: small generated IDX data sets and a loopback HTTP server."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from rigl_ref.data import FILE_NAMES, content_sha256, write_idx


def write_tiny_idx_set(directory: Path, *, seed: int = 0, compress: bool = True, n_train=12, n_test=5):
    """Write four small valid IDX files (8x8 images, labels 0..9) and return (arrays, checksums)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 8, 8), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 8, 8), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    checksums = {}
    for role, file_name in FILE_NAMES.items():
        path = write_idx(directory / (file_name + (".gz" if compress else "")), arrays[role], compress=compress)
        checksums[file_name] = content_sha256(path)
    return arrays, checksums


@pytest.fixture
def make_idx_set():
    """The function ``write_tiny_idx_set``, for tests that need several or raw sets."""
    return write_tiny_idx_set


@pytest.fixture
def tiny_set(tmp_path):
    """A directory with four tiny gz IDX files; yields (directory, arrays, checksums)."""
    directory = tmp_path / "served"
    arrays, checksums = write_tiny_idx_set(directory)
    return directory, arrays, checksums


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list  # set per server: the paths asked for, in order

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def serve():
    """``serve(directory) -> (base_url, requests)``: serve a directory on 127.0.0.1 (random port) in a thread."""
    servers = []

    def start(directory: Path):
        requests = []
        handler = type("Handler", (_QuietHandler,), {"requests": requests})
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
        )
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/", requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
