"""Fixtures for the data tests: small MNIST idx files, CIFAR-10 pickle batches, a loopback HTTP server."""

from __future__ import annotations

import gzip
import pickle
import struct
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest


def idx_bytes(arr: np.ndarray, *, magic: int | None = None) -> bytes:
    """Encode a uint8 array in LeCun's idx format (magic 0x0000 08 <ndim>, big-endian dims, data)."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | arr.ndim
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


MNIST_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def write_mnist(
    directory: Path, *, n_train: int = 20, n_test: int = 10, size=(28, 28), gz: bool = False, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write the four MNIST files (raw or .gz) with random content; return the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, *size), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, *size), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for key, base in MNIST_NAMES.items():
        payload = idx_bytes(arrays[key])
        if gz:
            (directory / f"{base}.gz").write_bytes(gzip.compress(payload, mtime=0))
        else:
            (directory / base).write_bytes(payload)
    return arrays


CIFAR_BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


def cifar_batch(rows: int, seed: int) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"synthetic",
        b"data": rng.integers(0, 256, (rows, 3072), dtype=np.uint8),
        b"labels": [int(v) for v in rng.integers(0, 10, rows)],
        b"filenames": [f"img_{i}.png".encode() for i in range(rows)],
    }


def write_cifar(directory: Path, *, rows: int = 3) -> dict[str, dict]:
    """Write the six CIFAR-10 python batches (``rows`` images each) and ``batches.meta``."""
    directory.mkdir(parents=True, exist_ok=True)
    batches = {name: cifar_batch(rows, seed) for seed, name in enumerate(CIFAR_BATCHES)}
    for name, batch in batches.items():
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [b"airplane"] * 10, b"num_cases_per_batch": rows}
    (directory / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


@pytest.fixture
def datafiles() -> SimpleNamespace:
    """The file writers above, for tests (conftest modules are not importable by name)."""
    return SimpleNamespace(
        idx_bytes=idx_bytes,
        write_mnist=write_mnist,
        write_cifar=write_cifar,
        cifar_batch=cifar_batch,
        mnist_names=MNIST_NAMES,
        cifar_batches=CIFAR_BATCHES,
    )


@pytest.fixture
def http_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """A ThreadingHTTPServer on 127.0.0.1 (random port) serving ``tmp_path/srv``.

    ``/truncated/<n>`` answers ``Content-Length: 1000`` but sends only ``n`` bytes, then closes.
    """
    for var in ("no_proxy", "NO_PROXY"):  # never route loopback requests through a proxy
        monkeypatch.setenv(var, "*")
    serve_dir = tmp_path / "srv"
    serve_dir.mkdir()
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(serve_dir), **kwargs)

        def log_message(self, format, *args):  # keep the test output clean
            pass

        def do_GET(self):
            requests.append(self.path)
            if self.path.startswith("/truncated/"):
                n = int(self.path.rsplit("/", 1)[1])
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"x" * n)
                self.wfile.flush()
                self.close_connection = True
                return
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(
            url=f"http://127.0.0.1:{server.server_address[1]}/", dir=serve_dir, requests=requests
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
