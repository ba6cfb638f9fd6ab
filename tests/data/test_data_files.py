"""MNIST idx and CIFAR-10 pickle loaders on small generated files."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from stablecore.data import cifar10, data_root, load_dataset, mnist
from stablecore.data.files import read_idx


# --- data_root -------------------------------------------------------------------------------------------
def test_data_root_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("STABLECORE_DATA", raising=False)
    assert data_root() == Path("data") / "cache"
    monkeypatch.setenv("STABLECORE_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    with pytest.raises(TypeError, match="root"):
        data_root(5)


# --- MNIST ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_idx_files(tmp_path, datafiles, gz):
    arrays = datafiles.write_mnist(tmp_path / "mnist", gz=gz)
    b = mnist(tmp_path)
    assert b.name == "mnist" and b.num_classes == 10 and b.input_shape == (1, 28, 28)
    x_tr, y_tr = b.train.tensors
    x_te, y_te = b.test.tensors
    assert x_tr.shape == (20, 1, 28, 28) and x_te.shape == (10, 1, 28, 28)
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    expected = torch.from_numpy(arrays["train_images"].astype(np.float32) / 255)[:, None]
    assert torch.equal(x_tr, expected)
    assert torch.equal(y_tr, torch.from_numpy(arrays["train_labels"].astype(np.int64)))
    assert torch.equal(y_te, torch.from_numpy(arrays["test_labels"].astype(np.int64)))
    assert 0.0 <= float(x_tr.min()) and float(x_tr.max()) <= 1.0
    assert b.mean[0] == pytest.approx(float(x_tr.double().mean()), rel=1e-9)
    assert b.std[0] == pytest.approx(float(x_tr.double().std(unbiased=False)), rel=1e-9)
    suffix = ".gz" if gz else ""
    assert b.metadata["files"]["test_labels"] == str(tmp_path / "mnist" / f"t10k-labels-idx1-ubyte{suffix}")


def test_mnist_torchvision_layout_env_root_and_header_size(tmp_path, datafiles, monkeypatch):
    datafiles.write_mnist(tmp_path / "MNIST" / "raw", size=(5, 7), n_train=12, n_test=4, gz=True)
    monkeypatch.setenv("STABLECORE_DATA", str(tmp_path))
    b = load_dataset("mnist")
    assert b.input_shape == (1, 5, 7) and b.num_train == 12 and b.num_test == 4
    assert b.metadata["image_size"] == (5, 7)


def test_mnist_missing_files(tmp_path, datafiles):
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte.*download=True"):
        mnist(tmp_path)
    datafiles.write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "mnist"))):
        mnist(tmp_path)


def test_mnist_truncated_raw_file(tmp_path, datafiles):
    datafiles.write_mnist(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-images-idx3-ubyte"
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*truncated.*expected {len(data)} bytes"):
        mnist(tmp_path)
    path.write_bytes(data + b"\0")
    with pytest.raises(ValueError, match="trailing bytes"):
        mnist(tmp_path)
    path.write_bytes(data[:10])  # not even a full header
    with pytest.raises(ValueError, match=re.escape(str(path))):
        mnist(tmp_path)


def test_mnist_truncated_and_corrupt_gzip(tmp_path, datafiles):
    datafiles.write_mnist(tmp_path / "mnist", gz=True)
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])  # truncated gzip stream
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*gzip"):
        mnist(tmp_path)
    path.write_bytes(good[:10] + bytes(255 - b for b in good[10:]))  # valid header, garbage deflate data
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*gzip"):
        mnist(tmp_path)
    path.write_bytes(b"definitely not gzip")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        mnist(tmp_path)
    # a well-formed gzip of a truncated idx payload
    payload = gzip.decompress(good)
    path.write_bytes(gzip.compress(payload[:-1]))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*truncated"):
        mnist(tmp_path)


def test_mnist_bad_magic_number(tmp_path, datafiles):
    datafiles.write_mnist(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte"
    # an images file where labels are expected
    path.write_bytes(datafiles.idx_bytes(np.zeros((20, 2, 2), np.uint8)))
    with pytest.raises(
        ValueError, match=rf"{re.escape(str(path))}.*magic number 0x00000803, expected 0x00000801"
    ):
        mnist(tmp_path)
    path.write_bytes(datafiles.idx_bytes(np.zeros(20, np.uint8), magic=0x12340801))
    with pytest.raises(ValueError, match="magic"):
        mnist(tmp_path)


def test_mnist_bad_labels_and_counts(tmp_path, datafiles):
    datafiles.write_mnist(tmp_path / "mnist")
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte"
    labels = np.zeros(20, np.uint8)
    labels[3] = 10
    path.write_bytes(datafiles.idx_bytes(labels))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*0\.\.9"):
        mnist(tmp_path)
    path.write_bytes(datafiles.idx_bytes(np.zeros(19, np.uint8)))
    with pytest.raises(ValueError, match=r"20 images but .* 19 labels"):
        mnist(tmp_path)


def test_read_idx_other_dtypes(tmp_path):
    arr = np.arange(6, dtype=">i4").reshape(2, 3)
    path = tmp_path / "ints.idx"
    path.write_bytes(b"\x00\x00\x0c\x02" + np.array([2, 3], ">u4").tobytes() + arr.tobytes())
    assert np.array_equal(read_idx(path), arr)
    path.write_bytes(b"\x00\x00\x07\x02")  # unknown type code
    with pytest.raises(ValueError, match="magic"):
        read_idx(path)


# --- CIFAR-10 ---------------------------------------------------------------------------------------------
def _expected_cifar(batches, names):
    data = np.concatenate([batches[n][b"data"] for n in names])
    labels = np.concatenate([batches[n][b"labels"] for n in names])
    return data, labels


def test_cifar10_reads_batches(tmp_path, datafiles):
    batches = datafiles.write_cifar(tmp_path / "cifar-10-batches-py", rows=3)
    b = cifar10(tmp_path)
    assert b.name == "cifar10" and b.num_classes == 10 and b.input_shape == (3, 32, 32)
    x_tr, y_tr = b.train.tensors
    assert x_tr.shape == (15, 3, 32, 32) and x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    data, labels = _expected_cifar(batches, [f"data_batch_{i}" for i in range(1, 6)])
    # row layout: 1024 red, then 1024 green, then 1024 blue values, each row-major 32x32
    i, c, h, w = 7, 2, 5, 30
    assert float(x_tr[i, c, h, w]) == pytest.approx(data[i, c * 1024 + h * 32 + w] / 255)
    assert torch.equal(x_tr, torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255))
    assert torch.equal(y_tr, torch.from_numpy(labels))
    x_te, y_te = b.test.tensors
    assert x_te.shape == (3, 3, 32, 32)
    assert torch.equal(y_te, torch.tensor(batches["test_batch"][b"labels"]))
    mean = x_tr.double().mean(dim=(0, 2, 3))
    std = x_tr.double().std(dim=(0, 2, 3), unbiased=False)
    assert b.mean == pytest.approx(mean.tolist(), rel=1e-9) and len(b.std) == 3
    assert b.std == pytest.approx(std.tolist(), rel=1e-9)


def test_cifar10_python2_style_numpy_globals(tmp_path, datafiles):
    folder = tmp_path / "cifar-10-batches-py"
    datafiles.write_cifar(folder)
    # batches written by Python 2 / numpy 1 name numpy.core.multiarray (text GLOBAL opcode in protocol 2)
    path = folder / "data_batch_1"
    raw = path.read_bytes()
    assert b"numpy._core.multiarray\n" in raw
    path.write_bytes(raw.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    assert cifar10(tmp_path).num_train == 15


def _tar(path: Path, members: dict[str, bytes], *, symlink: str | None = None) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        if symlink:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)


def test_cifar10_from_archive(tmp_path, datafiles):
    src = tmp_path / "src"
    batches = datafiles.write_cifar(src / "cifar-10-batches-py", rows=2)
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    b = cifar10(root)
    assert b.num_train == 10 and b.num_test == 2
    data, _ = _expected_cifar(batches, ["test_batch"])
    assert torch.equal(b.test.tensors[0], torch.from_numpy(data.reshape(-1, 3, 32, 32) / np.float32(255)))
    assert sorted(p.name for p in root.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    assert (root / "cifar-10-batches-py" / "batches.meta").is_file()


@pytest.mark.parametrize(
    "bad", ["../evil", "/tmp/stablecore-evil", "cifar-10-batches-py/../../evil", "symlink"]
)
def test_cifar10_archive_refuses_unsafe_members(tmp_path, datafiles, bad):
    src = tmp_path / "src"
    datafiles.write_cifar(src)
    root = tmp_path / "deep" / "root"
    root.mkdir(parents=True)
    members = {f"cifar-10-batches-py/{n}": (src / n).read_bytes() for n in datafiles.cifar_batches}
    if bad == "symlink":
        _tar(root / "cifar-10-python.tar.gz", members, symlink="cifar-10-batches-py/link")
        match = "not a regular file"
    else:
        _tar(root / "cifar-10-python.tar.gz", {**members, bad: b"owned"})
        match = "unsafe path"
    with pytest.raises(ValueError, match=match):
        cifar10(root)
    assert not (tmp_path / "deep" / "evil").exists() and not (tmp_path / "evil").exists()
    assert not (root / "cifar-10-batches-py").exists()
    assert sorted(os.listdir(root)) == ["cifar-10-python.tar.gz"]  # temporary folder removed


def test_cifar10_archive_without_batches_or_corrupt(tmp_path):
    _tar(tmp_path / "cifar-10-python.tar.gz", {"readme.txt": b"hello"})
    with pytest.raises(ValueError, match="does not contain cifar-10-batches-py/data_batch_1"):
        cifar10(tmp_path)
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ValueError, match=r"cifar-10-python\.tar\.gz.*corrupt"):
        cifar10(tmp_path)


def test_cifar10_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data_batch_1.*cifar-10-python.tar.gz.*download=True"):
        cifar10(tmp_path)


@pytest.mark.parametrize(
    "change, match",
    [
        ({b"data": np.zeros((3, 3000), np.uint8)}, r"shape \(N, 3072\).*\(3, 3000\)"),
        ({b"data": np.zeros((3, 3072), np.float32)}, "uint8"),
        ({b"data": [1, 2, 3]}, "uint8 array"),
        ({b"labels": [0, 1, 10]}, r"0\.\.9"),
        ({b"labels": [0, 1]}, "3 images but 2 labels"),
        ({b"labels": ["a", "b", "c"]}, "list of ints"),
    ],
)
def test_cifar10_malformed_batch(tmp_path, datafiles, change, match):
    folder = tmp_path / "cifar-10-batches-py"
    datafiles.write_cifar(folder)
    batch = {**datafiles.cifar_batch(3, 0), **change}
    path = folder / "data_batch_3"
    path.write_bytes(pickle.dumps(batch, protocol=4))
    with pytest.raises(ValueError, match=match) as info:
        cifar10(tmp_path)
    assert str(path) in str(info.value)


def test_cifar10_refuses_arbitrary_pickle_globals(tmp_path, datafiles):
    folder = tmp_path / "cifar-10-batches-py"
    datafiles.write_cifar(folder)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = folder / "test_batch"
    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}.*refusing to load global io.open"):
        cifar10(tmp_path)
    assert not marker.exists()
    path.write_bytes(b"\x80\x04 truncated")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        cifar10(tmp_path)
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match="expected a dict"):
        cifar10(tmp_path)
