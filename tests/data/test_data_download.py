"""download_file / verify_file and the download paths of mnist / cifar10, against a loopback HTTP server."""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.error

import numpy as np
import pytest
import torch

from stablecore.data import cifar10, download_file, mnist, verify_file
from stablecore.data import files as files_mod
from stablecore.data.download import DownloadError, file_digest

PAYLOAD = bytes(range(256)) * 40 + b"tail"
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def served(http_server):
    (http_server.dir / "blob.bin").write_bytes(PAYLOAD)
    return http_server


@pytest.fixture
def out(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d


def test_good_download_lands_atomically(served, out):
    dest = out / "sub" / "file.bin"
    path = download_file(served.url + "blob.bin", dest, md5=MD5, progress=False)
    assert path == dest and dest.read_bytes() == PAYLOAD
    assert os.listdir(dest.parent) == ["file.bin"]  # no temporary file left
    assert verify_file(dest, md5=MD5) and verify_file(dest, sha256=SHA256)
    assert verify_file(dest, md5=MD5, sha256=SHA256.upper())
    assert not verify_file(dest, md5="0" * 32)
    assert not verify_file(out / "missing", md5=MD5)
    assert file_digest(dest, "md5") == MD5


def test_existing_file_is_kept_or_replaced(served, out):
    dest = out / "file.bin"
    dest.write_bytes(PAYLOAD)
    # correct digest: no request at all (the URL would 404)
    assert download_file(served.url + "nope.bin", dest, sha256=SHA256, progress=False) == dest
    assert served.requests == []
    dest.write_bytes(b"stale")
    download_file(served.url + "blob.bin", dest, sha256=SHA256, progress=False)
    assert dest.read_bytes() == PAYLOAD and served.requests == ["/blob.bin"]


def test_destination_directory_uses_url_name(served, out):
    path = download_file(served.url + "blob.bin", out, md5=MD5, progress=False)
    assert path == out / "blob.bin" and path.read_bytes() == PAYLOAD


@pytest.mark.parametrize(
    "kwargs", [{"md5": "0" * 32}, {"sha256": "f" * 64}, {"md5": MD5, "sha256": "a" * 64}]
)
def test_checksum_mismatch_leaves_nothing(served, out, kwargs):
    dest = out / "file.bin"
    with pytest.raises(ValueError, match=r"mismatch for .*file\.bin") as info:
        download_file(served.url + "blob.bin", dest, progress=False, **kwargs)
    wrong = next(v for v in kwargs.values() if v not in (MD5,))
    assert wrong in str(info.value)
    assert (MD5 if "md5" in str(info.value).split(" ")[0] else SHA256) in str(info.value)
    assert os.listdir(out) == []


def test_truncated_transfer_leaves_nothing(served, out):
    with pytest.raises(DownloadError, match=r"truncated transfer.*received 100 bytes.*1000") as info:
        download_file(served.url + "truncated/100", out / "file.bin", md5=MD5, progress=False)
    assert isinstance(info.value, OSError)
    assert os.listdir(out) == []


def test_http_error_leaves_nothing(served, out):
    with pytest.raises(urllib.error.HTTPError):
        download_file(served.url + "missing.bin", out / "file.bin", md5=MD5, progress=False)
    assert os.listdir(out) == []


def test_argument_validation(out):
    url = "http://127.0.0.1:9/blob.bin"
    with pytest.raises(ValueError, match="checksum is required"):
        download_file(url, out / "f", progress=False)
    with pytest.raises(ValueError, match="md5 must be 32 hex digits"):
        download_file(url, out / "f", md5="abc", progress=False)
    with pytest.raises(ValueError, match="sha256"):
        download_file(url, out / "f", sha256=MD5, progress=False)
    with pytest.raises(TypeError, match="md5"):
        download_file(url, out / "f", md5=123, progress=False)
    with pytest.raises(ValueError, match="url"):
        download_file("file:///etc/passwd", out / "f", md5=MD5, progress=False)
    with pytest.raises(TypeError, match="url"):
        download_file(None, out / "f", md5=MD5, progress=False)
    with pytest.raises(ValueError, match="timeout"):
        download_file(url, out / "f", md5=MD5, timeout=0, progress=False)
    with pytest.raises(ValueError, match="checksum is required"):
        verify_file(out / "f")
    assert os.listdir(out) == []


# --- end to end ---------------------------------------------------------------------------------------------
def _serve_mnist(datafiles, http_server, monkeypatch):
    arrays = datafiles.write_mnist(http_server.dir / "mnist", gz=True, n_train=30, n_test=10, seed=5)
    table = {
        p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted((http_server.dir / "mnist").iterdir())
    }
    monkeypatch.setattr(files_mod, "MNIST_MD5", table)
    return arrays, table


def test_mnist_download_end_to_end(tmp_path, datafiles, http_server, monkeypatch):
    arrays, table = _serve_mnist(datafiles, http_server, monkeypatch)
    root = tmp_path / "root"
    b = mnist(root, download=True, base_url=http_server.url + "mnist", progress=False)
    assert sorted(os.listdir(root / "mnist")) == sorted(table)
    assert b.num_train == 30 and b.input_shape == (1, 28, 28)
    assert torch.equal(b.test.tensors[1], torch.from_numpy(arrays["test_labels"].astype(np.int64)))
    assert len(http_server.requests) == 4
    # second call: files verified, nothing downloaded again
    mnist(root, download=True, base_url=http_server.url + "mnist", progress=False)
    assert len(http_server.requests) == 4


def test_mnist_download_mirror_fallback(tmp_path, datafiles, http_server, monkeypatch):
    _serve_mnist(datafiles, http_server, monkeypatch)
    mirrors = [http_server.url + "absent/", http_server.url + "mnist/"]
    b = mnist(tmp_path, download=True, base_url=mirrors, progress=False)
    assert b.num_test == 10
    monkeypatch.setattr(files_mod, "MNIST_MIRRORS", (http_server.url + "absent/",))
    with pytest.raises(urllib.error.HTTPError):
        mnist(tmp_path / "other", download=True, progress=False)


def test_mnist_download_wrong_md5(tmp_path, datafiles, http_server, monkeypatch):
    _, table = _serve_mnist(datafiles, http_server, monkeypatch)
    monkeypatch.setattr(files_mod, "MNIST_MD5", {**table, "train-images-idx3-ubyte.gz": "0" * 32})
    with pytest.raises(ValueError, match=r"md5 mismatch for .*train-images-idx3-ubyte\.gz"):
        mnist(tmp_path, download=True, base_url=http_server.url + "mnist", progress=False)
    assert not (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").exists()
    assert [p for p in os.listdir(tmp_path / "mnist") if p.endswith(".part")] == []
    # two mirrors, both wrong: one ValueError summarising the attempts
    mirrors = [http_server.url + "mnist", http_server.url + "mnist/"]
    with pytest.raises(ValueError, match=r"could not download train-images-idx3-ubyte\.gz"):
        mnist(tmp_path, download=True, base_url=mirrors, progress=False)


def test_cifar10_download_end_to_end(tmp_path, datafiles, http_server, monkeypatch):
    src = tmp_path / "src"
    datafiles.write_cifar(src / "cifar-10-batches-py", rows=2)
    archive = http_server.dir / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(files_mod, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    root = tmp_path / "root"
    b = cifar10(root, download=True, base_url=http_server.url, progress=False)
    assert b.num_train == 10 and b.num_test == 2 and b.metadata["downloaded"] is True
    assert (root / "cifar-10-python.tar.gz").read_bytes() == archive.read_bytes()
    monkeypatch.setattr(files_mod, "CIFAR10_MD5", "0" * 32)
    with pytest.raises(ValueError, match="md5 mismatch"):
        cifar10(tmp_path / "root2", download=True, base_url=http_server.url, progress=False)
    assert os.listdir(tmp_path / "root2") == []
