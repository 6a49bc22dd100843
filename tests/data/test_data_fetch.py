"""fetch/import against a loopback HTTP server: verified, atomic, never destroying a good file."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from rigl_ref.cli.main import main
from rigl_ref.data import DATA_DIR_ENV, FILE_NAMES, MNIST, find_files, load_dataset, read_idx
from rigl_ref.data.fetch import download_sources, fetch, import_files

TRAIN_IMAGES, TRAIN_LABELS = FILE_NAMES["train_images"], FILE_NAMES["train_labels"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Keep the user's environment and cache out of these tests."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(MNIST.url_env, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _listing(directory):
    return sorted(path.name for path in directory.iterdir())


def _raw_bytes(path):
    with gzip.open(path) as handle:
        return handle.read()


def test_fetch_downloads_verifies_and_stores_raw_files(tiny_set, serve, tmp_path):
    served, arrays, checksums = tiny_set
    url, requests = serve(served)
    dest = tmp_path / "dest"
    installed = fetch("mnist", base_urls=[url], dest=dest, checksums=checksums, progress=False)
    assert [item.status for item in installed] == ["downloaded"] * 4
    assert [item.origin for item in installed] == [f"{url}{name}.gz" for name in FILE_NAMES.values()]
    assert requests == [f"/{name}.gz" for name in FILE_NAMES.values()]
    assert _listing(dest) == sorted(FILE_NAMES.values())
    for name in FILE_NAMES.values():
        assert (dest / name).read_bytes() == _raw_bytes(served / f"{name}.gz")
    np.testing.assert_array_equal(read_idx(dest / TRAIN_IMAGES, kind="images"), arrays["train_images"])


def test_fetch_falls_back_to_the_raw_name_then_to_the_next_mirror(tmp_path, serve, make_idx_set):
    _, checksums = make_idx_set(tmp_path / "raw_only", compress=False)
    (tmp_path / "empty").mkdir()
    empty_url, empty_requests = serve(tmp_path / "empty")
    raw_url, raw_requests = serve(tmp_path / "raw_only")
    dest = tmp_path / "dest"
    installed = fetch("mnist", base_urls=[empty_url, raw_url], dest=dest, checksums=checksums, progress=False)
    assert [item.origin for item in installed] == [f"{raw_url}{name}" for name in FILE_NAMES.values()]
    assert empty_requests[:2] == [f"/{TRAIN_IMAGES}.gz", f"/{TRAIN_IMAGES}"]
    assert raw_requests[:2] == [f"/{TRAIN_IMAGES}.gz", f"/{TRAIN_IMAGES}"]
    assert _listing(dest) == sorted(FILE_NAMES.values())


def test_corrupted_download_is_rejected_without_leaving_a_file(tiny_set, serve, tmp_path):
    served, _, checksums = tiny_set
    labels = served / f"{TRAIN_LABELS}.gz"
    content = bytearray(_raw_bytes(labels))
    content[-1] ^= 1  # one label changed: still a valid IDX file, but not the right one
    labels.write_bytes(gzip.compress(bytes(content)))
    url, _ = serve(served)
    dest = tmp_path / "dest"
    with pytest.raises(ValueError) as caught:
        fetch("mnist", base_urls=[url], dest=dest, checksums=checksums, progress=False)
    message = str(caught.value)
    assert message.startswith(f"could not fetch {TRAIN_LABELS}: {url}{TRAIN_LABELS}.gz: SHA-256")
    assert checksums[TRAIN_LABELS] in message
    assert _listing(dest) == [TRAIN_IMAGES]  # the verified first file stays; nothing else, no temporaries


def test_truncated_download_is_rejected_without_leaving_a_file(tiny_set, serve, tmp_path):
    served, _, checksums = tiny_set
    images = served / f"{TRAIN_IMAGES}.gz"
    images.write_bytes(images.read_bytes()[:-10])
    url, _ = serve(served)
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match=f"{url}{TRAIN_IMAGES}.gz: corrupt gzip stream"):
        fetch("mnist", base_urls=[url], dest=dest, checksums=checksums, progress=False)
    assert _listing(dest) == []


def test_an_existing_good_file_is_kept_and_not_downloaded_again(tiny_set, serve, tmp_path):
    served, _, checksums = tiny_set
    dest = tmp_path / "dest"
    dest.mkdir()
    good = dest / f"{TRAIN_IMAGES}.gz"
    shutil.copy(served / f"{TRAIN_IMAGES}.gz", good)
    before = (good.stat().st_ino, good.stat().st_mtime_ns, good.read_bytes())
    (served / f"{TRAIN_LABELS}.gz").write_bytes(b"garbage, not gzip")
    url, requests = serve(served)
    with pytest.raises(ValueError, match=f"could not fetch {TRAIN_LABELS}"):
        fetch("mnist", base_urls=[url], dest=dest, checksums=checksums, progress=False)
    assert (good.stat().st_ino, good.stat().st_mtime_ns, good.read_bytes()) == before
    assert all(TRAIN_IMAGES not in path for path in requests)
    assert _listing(dest) == [good.name]


def test_an_existing_corrupt_file_is_replaced_by_a_verified_copy(tiny_set, serve, tmp_path):
    served, _, checksums = tiny_set
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / TRAIN_IMAGES).write_bytes(b"half a file")
    url, _ = serve(served)
    installed = fetch("mnist", base_urls=[url], dest=dest, checksums=checksums, progress=False)
    assert installed[0].status == "downloaded"
    assert (dest / TRAIN_IMAGES).read_bytes() == _raw_bytes(served / f"{TRAIN_IMAGES}.gz")
    assert fetch("mnist", base_urls=[url], dest=dest, checksums=checksums)[0].status == "present"


def test_environment_variable_replaces_the_mirrors_and_default_destination(tiny_set, serve, monkeypatch, tmp_path):
    served, _, checksums = tiny_set
    url, _ = serve(served)
    monkeypatch.setenv(MNIST.url_env, url)
    assert download_sources(MNIST) == [url]
    fetch("mnist", checksums=checksums, progress=False)
    assert _listing(tmp_path / "xdg" / "rigl_ref" / "mnist") == sorted(FILE_NAMES.values())
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "data"))
    fetch("mnist", checksums=checksums, progress=False)
    assert _listing(tmp_path / "data" / "mnist") == sorted(FILE_NAMES.values())
    monkeypatch.delenv(MNIST.url_env)
    assert download_sources(MNIST) == list(MNIST.mirrors)


def test_unreachable_server_and_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=r"could not fetch train-images-idx3-ubyte: http://127\.0\.0\.1:9/"):
        fetch("mnist", base_urls=["http://127.0.0.1:9/"], dest=tmp_path, timeout=5, progress=False)
    assert _listing(tmp_path) == []
    with pytest.raises(ValueError, match="cannot fetch or import data set 'mnist-subset'"):
        fetch("mnist-subset")
    with pytest.raises(ValueError, match="checksums must have exactly the keys"):
        fetch("mnist", checksums={TRAIN_IMAGES: "0" * 64})
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got 0"):
        fetch("mnist", timeout=0)
    with pytest.raises(TypeError, match="base_urls must be a sequence of base URLs"):
        fetch("mnist", base_urls="http://example.invalid/")


def test_import_copies_raw_or_gz_from_dir_or_dir_name(tmp_path, make_idx_set):
    arrays, checksums = make_idx_set(tmp_path / "src" / "fashion-mnist", compress=True)
    raw_labels = tmp_path / "src" / "fashion-mnist" / TRAIN_LABELS
    raw_labels.write_bytes(_raw_bytes(raw_labels.with_suffix(".gz")))  # both forms present: raw is taken
    installed = import_files("fashion-mnist", tmp_path / "src", dest=tmp_path / "dest", checksums=checksums)
    assert [item.status for item in installed] == ["imported"] * 4
    assert installed[1].origin == str(raw_labels)
    data = load_dataset("fashion-mnist", data_dir=tmp_path / "dest", verify=False)
    np.testing.assert_array_equal(data.test_x, arrays["test_images"])


def test_import_rejects_wrong_or_missing_files_and_writes_nothing(tmp_path, make_idx_set):
    make_idx_set(tmp_path / "src", compress=False)
    with pytest.raises(ValueError, match=f"{tmp_path / 'src' / TRAIN_IMAGES}: SHA-256"):
        import_files("mnist", tmp_path / "src", dest=tmp_path / "dest")
    assert _listing(tmp_path / "dest") == []
    (tmp_path / "src" / TRAIN_LABELS).unlink()
    with pytest.raises(ValueError, match="no complete set of mnist IDX files in .*src/mnist and .*src"):
        import_files("mnist", tmp_path / "src", dest=tmp_path / "dest")


def test_cli_fetch_rejects_a_wrong_file_in_one_line(tiny_set, serve, tmp_path, capsys):
    served, _, _ = tiny_set  # served files do not have MNIST's digests
    url, _ = serve(served)
    code = main(["data", "fetch", "mnist", "--url", url, "--dest", str(tmp_path / "d"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"rigl-ref data: error: could not fetch {TRAIN_IMAGES}: {url}{TRAIN_IMAGES}.gz: SHA-256")
    assert _listing(tmp_path / "d") == []
    assert main(["data", "fetch", "mnist", "--url", url, "--from", str(served)]) == 2
    assert "give either --url or --from" in capsys.readouterr().err


def test_cli_list_shows_where_each_data_set_is(tmp_path, make_idx_set, capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "mnist-subset   embedded in the package (10000 train / 2000 test)" in out
    assert "rigl-ref data fetch fashion-mnist" in out and "synthetic" in out
    make_idx_set(tmp_path / "d" / "mnist", compress=True)
    assert main(["data", "list", "--data-dir", str(tmp_path / "d")]) == 0
    assert f"found in {tmp_path / 'd' / 'mnist'}" in capsys.readouterr().out
    assert main(["data", "list", "--data-dir", str(tmp_path / "d"), "--verify"]) == 1
    captured = capsys.readouterr()
    assert "FAILED verification" in captured.out and "SHA-256" in captured.err


def test_cli_import_and_fetch_of_real_mnist_when_available(tmp_path, serve, capsys, monkeypatch):
    monkeypatch.undo()  # look where the user keeps real data
    files = find_files("mnist")
    if files is None:
        pytest.skip("full MNIST not installed (rigl-ref data import mnist --from DIR); see bench/README.md")
    source = files[TRAIN_IMAGES].parent
    assert main(["data", "import", "mnist", "--from", str(source), "--dest", str(tmp_path / "copy")]) == 0
    assert capsys.readouterr().out.count("  imported  ") == 4
    url, _ = serve(tmp_path / "copy")  # raw files only: exercises the .gz -> raw fallback
    assert main(["data", "fetch", "mnist", "--url", url, "--dest", str(tmp_path / "fetched"), "--no-progress"]) == 0
    assert capsys.readouterr().out.count("downloaded  ") == 4
    data = load_dataset("mnist", data_dir=tmp_path / "fetched")
    assert (data.n_train, data.n_test) == (60_000, 10_000)


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), -1.0])
def test_non_finite_or_negative_timeout_is_refused_before_any_network_call(timeout):
    # found by the thorough CLI fuzz: `data fetch mnist --timeout inf` reached socket.settimeout (OverflowError)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        fetch("mnist", base_urls=["http://127.0.0.1:9/"], timeout=timeout)
