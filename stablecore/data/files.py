"""MNIST and CIFAR-10 from their original files.

Files live under a data root: the ``root`` argument, else the ``STABLECORE_DATA`` environment variable,
else ``./data/cache``. Layouts read:

* MNIST: ``<root>/mnist/`` (or torchvision's ``<root>/MNIST/raw/``) holding ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each raw or
  ``.gz``, in LeCun's idx format (http://yann.lecun.com/exdb/mnist/).
* CIFAR-10: ``<root>/cifar-10-batches-py/`` with the python batches ``data_batch_1`` .. ``data_batch_5``
  and ``test_batch`` (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html); when that folder is
  incomplete, ``<root>/cifar-10-python.tar.gz`` is extracted (safely) first.

With ``download=True`` missing files are fetched from the official locations (``base_url=`` overrides
them) and checked against the published MD5 digests before use (:func:`~stablecore.data.download_file`).

Security: the CIFAR-10 batches are Python pickles. Unpickling untrusted data can run arbitrary code, so
only load files you trust (downloaded ones are MD5-checked). As a second line of defence, batches are read
with a restricted unpickler that only resolves the numpy globals an array needs and refuses anything else.
"""

from __future__ import annotations

import gzip
import importlib
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch

from stablecore.data.bundle import DatasetBundle, channel_stats, from_tensors
from stablecore.data.download import download_file

__all__ = [
    "CIFAR10_ARCHIVE",
    "CIFAR10_DIR",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "MNIST_FILES",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "cifar10",
    "data_root",
    "mnist",
    "read_idx",
]

ENV_VAR = "STABLECORE_DATA"
DEFAULT_ROOT = Path("data") / "cache"

MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: Published MD5 digests of the gzipped MNIST files.
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_DIR = "cifar-10-batches-py"
CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"
_CIFAR10_EXTRACT = (*CIFAR10_TRAIN, CIFAR10_TEST, "batches.meta")

# idx type codes (third byte of the magic number) -> big-endian numpy dtypes.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_MAGIC_IMAGES = 0x00000803  # unsigned bytes, 3 dimensions
_MAGIC_LABELS = 0x00000801  # unsigned bytes, 1 dimension


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$STABLECORE_DATA`` if set (non-empty), else ``./data/cache``."""
    if root is None:
        env = os.environ.get(ENV_VAR, "").strip()
        return Path(env).expanduser() if env else DEFAULT_ROOT
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike) or None, got {type(root).__name__}")
    return Path(root).expanduser()


# --- MNIST ---------------------------------------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in ``.gz``; a corrupt gzip raises ``ValueError``."""
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(
                f"{path}: corrupt or truncated gzip file ({exc}); delete it and download it again"
            ) from exc
    return path.read_bytes()


def read_idx(path: str | os.PathLike, *, magic: int | None = None) -> np.ndarray:
    """Read an idx file (raw or ``.gz``) into a numpy array of the header's shape and type.

    Format: 4-byte magic ``0x0000TTDD`` (``TT`` the type code, ``DD`` the number of dimensions), then
    ``DD`` big-endian uint32 sizes, then the data in C order. ``magic``, if given, must match exactly.
    The file length must equal what the header promises (a truncated file raises ``ValueError``).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f"{path}: {len(data)} bytes, too short for an idx header (expected >= 4 bytes)")
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        raise ValueError(f"{path}: bad magic number 0x{found:08x}, expected 0x{magic:08x}; not this idx file")
    code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or code not in _IDX_DTYPES:
        raise ValueError(f"{path}: bad magic number 0x{found:08x}; not an idx file")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated header, {len(data)} bytes, expected {header} for {ndim} dims")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: {what}: {len(data)} bytes, expected {expected} bytes for an idx array of shape "
            f"{dims} ({dtype})"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def _find_mnist(root: Path) -> tuple[dict[str, Path] | None, list[Path]]:
    """The four files in the first complete layout, else ``None`` and the directories searched."""
    dirs = [root / "mnist", root / "MNIST" / "raw"]
    for d in dirs:
        found: dict[str, Path] = {}
        for key, base in MNIST_FILES.items():
            for candidate in (d / base, d / f"{base}.gz"):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(MNIST_FILES):
            return found, dirs
    return None, dirs


def _mirrors(base_url: str | Sequence[str] | None, default: Sequence[str]) -> list[str]:
    if base_url is None:
        urls = list(default)
    elif isinstance(base_url, str):
        urls = [base_url]
    elif isinstance(base_url, Sequence) and base_url and all(isinstance(u, str) for u in base_url):
        urls = list(base_url)
    else:
        raise TypeError(
            f"base_url must be a URL string, a non-empty sequence of them, or None, got {base_url!r}"
        )
    return [u if u.endswith("/") else u + "/" for u in urls]


def _download_any(name: str, dest: Path, mirrors: list[str], md5: str, progress: bool) -> Path:
    """Download ``name`` from the first mirror that delivers it with the right MD5."""
    errors: list[tuple[str, Exception]] = []
    for base in mirrors:
        try:
            return download_file(base + name, dest, md5=md5, progress=progress)
        except (OSError, ValueError) as exc:
            if len(mirrors) == 1:
                raise
            errors.append((base + name, exc))
    summary = "; ".join(f"{url}: {exc}" for url, exc in errors)
    if any(isinstance(exc, ValueError) for _, exc in errors):
        raise ValueError(f"could not download {name} with md5 {md5}: {summary}")
    raise OSError(f"could not download {name} from any mirror: {summary}")


def mnist(
    root: str | os.PathLike | None = None,
    *,
    download: bool = False,
    base_url: str | Sequence[str] | None = None,
    progress: bool = True,
) -> DatasetBundle:
    """MNIST (LeCun et al. 1998): 60000 train / 10000 test grey images, 10 classes.

    Returns images of shape ``(1, H, W)`` (``H, W`` from the file headers: 28×28 for the real set) as float32
    in [0, 1] and int64 labels; mean/std of the train pixels (≈ 0.1307 / 0.3081 for the real set).

    Args:
        root: data root (see :func:`data_root`); files are looked up in ``root/mnist/`` then
            ``root/MNIST/raw/``.
        download: fetch the missing ``.gz`` files into ``root/mnist/`` (MD5-checked against
            :data:`MNIST_MD5`).
        base_url: URL of a directory holding the ``.gz`` files (or a list of mirrors) instead of
            :data:`MNIST_MIRRORS`.
        progress: progress bars while downloading.

    Raises:
        FileNotFoundError: files missing and ``download=False``.
        ValueError: a file is corrupt (bad magic number, truncated, bad gzip, labels outside 0..9, counts
            of images and labels differ), naming the file.
    """
    root = data_root(root)
    files, dirs = _find_mnist(root)
    if files is None or (download and files["train_images"].parent == root / "mnist"):
        if download:
            target = root / "mnist"
            mirrors = _mirrors(base_url, MNIST_MIRRORS)
            for base in MNIST_FILES.values():
                if (target / base).is_file():
                    continue
                gz = f"{base}.gz"
                _download_any(gz, target / gz, mirrors, MNIST_MD5[gz], progress)
            files, dirs = _find_mnist(root)
        if files is None:
            expected = ", ".join(MNIST_FILES.values())
            raise FileNotFoundError(
                f"MNIST files not found: expected {expected} (each raw or .gz) in "
                f"{' or '.join(str(d) for d in dirs)}; pass download=True (or set {ENV_VAR} / root= to where "
                f"they are)"
            )

    arrays: dict[str, np.ndarray] = {}
    for key, path in files.items():
        arrays[key] = read_idx(path, magic=_MAGIC_IMAGES if key.endswith("images") else _MAGIC_LABELS)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise ValueError(
                f"{files[f'{split}_images']} has {len(images)} images but {files[f'{split}_labels']} has "
                f"{len(labels)} labels"
            )
        if labels.size and labels.max() > 9:
            raise ValueError(f"{files[f'{split}_labels']}: labels must be in 0..9, found {int(labels.max())}")
        if len(images) == 0:
            raise ValueError(f"{files[f'{split}_images']}: contains no images")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise ValueError(
            f"train images are {arrays['train_images'].shape[1:]} but test images are "
            f"{arrays['test_images'].shape[1:]} ({files['train_images']}, {files['test_images']})"
        )

    def to_x(a: np.ndarray) -> torch.Tensor:
        x = a.astype(np.float32)[:, None]
        x /= 255.0
        return torch.from_numpy(x)

    x_train, x_test = to_x(arrays["train_images"]), to_x(arrays["test_images"])
    height, width = (int(d) for d in arrays["train_images"].shape[1:])
    metadata: dict[str, Any] = {
        "source": "MNIST idx files",
        "root": str(root),
        "files": {key: str(path) for key, path in files.items()},
        "image_size": (height, width),
        "scale": "pixel / 255",
    }
    return from_tensors(
        "mnist",
        x_train,
        torch.from_numpy(arrays["train_labels"].astype(np.int64)),
        x_test,
        torch.from_numpy(arrays["test_labels"].astype(np.int64)),
        num_classes=10,
        metadata=metadata,
        stats=channel_stats(x_train),
    )


# --- CIFAR-10 ------------------------------------------------------------------------------------------

_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals a dict of numpy arrays needs; anything else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module.startswith("numpy.core."):  # numpy >= 2 renamed numpy.core to numpy._core
            try:
                return getattr(importlib.import_module("numpy._core." + module[len("numpy.core.") :]), name)
            except (ImportError, AttributeError):
                pass
        return super().find_class(module, name)


def _load_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(data uint8 (N, 3072), labels int64 (N,))`` of one CIFAR-10 python batch, validated."""
    try:
        with open(path, "rb") as f:
            obj = _RestrictedUnpickler(f, encoding="bytes").load()
    except OSError:
        raise
    except Exception as exc:  # unpickling reports corrupt input with many exception types
        raise ValueError(
            f"{path}: not a readable CIFAR-10 python batch ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict with b'data' and b'labels', got {type(obj).__name__}")
    data = obj.get(b"data", obj.get("data"))
    labels = obj.get(b"labels", obj.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path}: expected keys b'data' and b'labels', found {sorted(map(repr, obj))}")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        desc = (
            f"{data.dtype} array of shape {data.shape}"
            if isinstance(data, np.ndarray)
            else type(data).__name__
        )
        raise ValueError(f"{path}: b'data' must be a uint8 array of shape (N, 3072), got {desc}")
    labels_arr = np.asarray(labels)
    if labels_arr.ndim != 1 or labels_arr.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: b'labels' must be a list of ints, got {labels_arr.dtype} of shape {labels_arr.shape}"
        )
    if len(labels_arr) != len(data):
        raise ValueError(f"{path}: {len(data)} images but {len(labels_arr)} labels")
    if labels_arr.size and (labels_arr.min() < 0 or labels_arr.max() > 9):
        raise ValueError(f"{path}: labels must be in 0..9, found {labels_arr.min()}..{labels_arr.max()}")
    return data, labels_arr.astype(np.int64)


def _check_member(archive: Path, member: tarfile.TarInfo) -> None:
    name = member.name.replace("\\", "/")
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"{archive}: refusing to extract member with unsafe path {member.name!r}")
    if not (member.isfile() or member.isdir()):
        raise ValueError(f"{archive}: refusing to extract {member.name!r}: not a regular file or directory")


def _extract_cifar(archive: Path, root: Path) -> None:
    """Extract the batches of ``cifar-10-python.tar.gz`` into ``root/cifar-10-batches-py`` safely.

    Every member is checked first (no absolute paths, no ``..``, no links or devices; otherwise the whole
    archive is refused); only the batch files are extracted, into a temporary directory under ``root``,
    and then moved into place with :func:`os.replace`.
    """
    wanted = {f"{CIFAR10_DIR}/{name}" for name in _CIFAR10_EXTRACT}
    tmpdir = Path(tempfile.mkdtemp(prefix=".cifar-extract-", dir=root))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    _check_member(archive, member)
                chosen = [m for m in members if m.isfile() and PurePosixPath(m.name).as_posix() in wanted]
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(tmpdir, members=chosen, **kwargs)
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise ValueError(f"{archive}: corrupt or unreadable tar.gz archive ({exc})") from exc
        src = tmpdir / CIFAR10_DIR
        dest = root / CIFAR10_DIR
        dest.mkdir(parents=True, exist_ok=True)
        for name in _CIFAR10_EXTRACT:
            if (src / name).is_file() and not (dest / name).is_file():
                os.replace(src / name, dest / name)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def cifar10(
    root: str | os.PathLike | None = None,
    *,
    download: bool = False,
    base_url: str | None = None,
    progress: bool = True,
) -> DatasetBundle:
    """CIFAR-10 (Krizhevsky 2009): 50000 train / 10000 test colour images, 10 classes.

    Returns images of shape ``(3, 32, 32)`` as float32 in [0, 1] (channel order R, G, B) and int64
    labels; per-channel mean/std of the train pixels.

    Args:
        root: data root (see :func:`data_root`); batches are read from ``root/cifar-10-batches-py/``,
            extracted from ``root/cifar-10-python.tar.gz`` when missing.
        download: fetch the archive from :data:`CIFAR10_URL` (MD5-checked) when the batches are missing.
        base_url: URL of a directory holding ``cifar-10-python.tar.gz`` instead of the official one.
        progress: progress bar while downloading.

    The batches are pickles, read with a restricted unpickler; still, only load files you trust.

    Raises:
        FileNotFoundError: batches and archive missing and ``download=False``.
        ValueError: a corrupt or malformed batch or archive, naming the file.
    """
    root = data_root(root)
    folder = root / CIFAR10_DIR
    archive = root / CIFAR10_ARCHIVE
    needed = (*CIFAR10_TRAIN, CIFAR10_TEST)
    missing = [name for name in needed if not (folder / name).is_file()]
    downloaded = False
    if missing:
        if download:
            if base_url is not None and not isinstance(base_url, str):
                raise TypeError(f"base_url must be a URL string or None, got {type(base_url).__name__}")
            url = CIFAR10_URL if base_url is None else base_url.rstrip("/") + "/" + CIFAR10_ARCHIVE
            root.mkdir(parents=True, exist_ok=True)
            download_file(url, archive, md5=CIFAR10_MD5, progress=progress)
            downloaded = True
        if not archive.is_file():
            raise FileNotFoundError(
                f"CIFAR-10 batches not found: expected {', '.join(needed)} in {folder} (or the archive "
                f"{archive}); pass download=True (or set {ENV_VAR} / root= to where they are)"
            )
        _extract_cifar(archive, root)
        missing = [name for name in needed if not (folder / name).is_file()]
        if missing:
            raise ValueError(f"{archive} does not contain {', '.join(f'{CIFAR10_DIR}/{m}' for m in missing)}")

    def load(names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [_load_cifar_batch(folder / name) for name in names]
        data = np.concatenate([p[0] for p in parts])
        x = data.reshape(-1, 3, 32, 32).astype(np.float32)
        x /= 255.0
        return torch.from_numpy(x), torch.from_numpy(np.concatenate([p[1] for p in parts]))

    x_train, y_train = load(CIFAR10_TRAIN)
    x_test, y_test = load((CIFAR10_TEST,))
    metadata: dict[str, Any] = {
        "source": "CIFAR-10 python batches",
        "root": str(root),
        "files": {name: str(folder / name) for name in needed},
        "downloaded": downloaded,
        "scale": "pixel / 255",
        "channels": ("R", "G", "B"),
    }
    return from_tensors(
        "cifar10", x_train, y_train, x_test, y_test, num_classes=10, metadata=metadata, stats=None
    )
