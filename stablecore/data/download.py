"""Checked, atomic file downloads.

:func:`download_file` streams a URL into a temporary file in the destination's directory, hashes the bytes
while they arrive, checks the length against ``Content-Length`` and the digest against the expected one,
and only then renames the file into place with :func:`os.replace`. On any failure nothing is left behind:
neither ``dest`` (if it did not exist) nor the temporary file. A checksum is mandatory.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm import tqdm

__all__ = ["DownloadError", "download_file", "file_digest", "verify_file"]

_CHUNK = 1 << 20
_HEX_LEN = {"md5": 32, "sha256": 64}


class DownloadError(OSError):
    """A transfer failed in a way urllib does not report (e.g. fewer bytes than ``Content-Length``)."""


def _expected(md5: str | None, sha256: str | None) -> dict[str, str]:
    """Validate the checksum arguments; at least one is required."""
    out: dict[str, str] = {}
    for algo, value in (("md5", md5), ("sha256", sha256)):
        if value is None:
            continue
        if not isinstance(value, str):
            raise TypeError(f"{algo} must be a hex string, got {type(value).__name__}")
        value = value.strip().lower()
        if not re.fullmatch(f"[0-9a-f]{{{_HEX_LEN[algo]}}}", value):
            raise ValueError(f"{algo} must be {_HEX_LEN[algo]} hex digits, got {value!r}")
        out[algo] = value
    if not out:
        raise ValueError("a checksum is required: give md5= (published digest) or sha256=")
    return out


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (``algorithm`` as accepted by :func:`hashlib.new`)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: str | os.PathLike, md5: str | None = None, sha256: str | None = None) -> bool:
    """True when ``path`` is a file whose digests equal every given one (at least one is required)."""
    expected = _expected(md5, sha256)
    path = Path(path)
    if not path.is_file():
        return False
    return all(file_digest(path, algo) == digest for algo, digest in expected.items())


def _check_url(url: object) -> str:
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"url must be an http(s) URL, got {url!r}")
    return url


def download_file(
    url: str,
    dest: str | os.PathLike,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = 60,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest`` and check its digest; return the final path.

    Args:
        url: an ``http://`` or ``https://`` URL.
        dest: the file to write; if it is an existing directory, the URL's file name is used inside it.
            Parent directories are created. An existing file with the right digest is kept (no transfer);
            one with a wrong digest is replaced.
        md5: expected MD5 (for official files with a published MD5).
        sha256: expected SHA-256 (preferred for anything else). At least one of the two is required;
            when both are given, both must match.
        timeout: socket timeout in seconds.
        progress: show a tqdm progress bar.

    Raises:
        ValueError: checksum mismatch (naming the file and both digests), bad arguments.
        DownloadError: the body is shorter or longer than ``Content-Length``.
        OSError: network and HTTP errors (``urllib.error.URLError`` / ``HTTPError``).
    """
    url = _check_url(url)
    expected = _expected(md5, sha256)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    dest = Path(dest)
    if dest.is_dir():
        name = Path(urllib.parse.urlsplit(url).path).name
        if not name:
            raise ValueError(f"dest {dest} is a directory and url {url!r} has no file name")
        dest = dest / name
    if dest.is_file() and verify_file(dest, **expected):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)

    tmp = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.part"
    # O_EXCL + mode 0o666: a fresh file, permissions from the umask like any other file the user writes.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        hashes = {algo: hashlib.new(algo) for algo in expected}
        received = 0
        request = urllib.request.Request(url, headers={"User-Agent": "stablecore-data"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            length_header = response.headers.get("Content-Length")
            length = int(length_header) if length_header and length_header.isdigit() else None
            with tqdm(
                total=length,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=dest.name,
                disable=not progress,
                leave=False,
            ) as bar:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except http.client.IncompleteRead as exc:
                        raise DownloadError(
                            f"truncated transfer of {url} to {dest}: connection closed early ({exc})"
                        ) from exc
                    if not chunk:
                        break
                    out.write(chunk)
                    for h in hashes.values():
                        h.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if length is not None and received != length:
                raise DownloadError(
                    f"truncated transfer of {url} to {dest}: received {received} bytes, "
                    f"Content-Length announced {length}"
                )
            out.flush()
            os.fsync(out.fileno())
        for algo, h in hashes.items():
            if h.hexdigest() != expected[algo]:
                raise ValueError(
                    f"{algo} mismatch for {dest} (from {url}): expected {expected[algo]}, got {h.hexdigest()}"
                )
        os.replace(tmp, dest)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # an HTTPError holds the open response; its status and headers stay readable
        raise
    return dest
