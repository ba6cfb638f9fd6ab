"""The import-linter contracts of pyproject.toml hold, and each kind of contract can fail.

The failing cases run ``lint-imports`` on a scratch copy of the package (``stablecore/`` and
``pyproject.toml`` in a temporary directory) with one deliberately wrong import added.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), "--no-cache", "--no-logo"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A copy of the package and its contracts (no tests, notebooks or caches)."""
    root = tmp_path_factory.mktemp("contracts")
    shutil.copytree(ROOT / "stablecore", root / "stablecore", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_contracts_hold_on_the_repository():
    out = _lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        # a lower layer importing a higher one
        ("stablecore/spectral/_probe.py", "import stablecore.layers.cpl\n", "layers: base <- spectral"),
        # training code importing a chapter
        ("stablecore/train/_probe.py", "import stablecore.chapters\n", "train knows no chapter"),
        # the library importing the dashboard's UI toolkit
        ("stablecore/models/_probe.py", "import streamlit\n", "imports streamlit"),
        # a Jupyter import outside reproduce
        ("stablecore/report/_probe.py", "import nbformat\n", "Jupyter stack"),
    ],
)
def test_a_wrong_import_breaks_a_contract(scratch, module, source, contract):
    probe = scratch / module
    probe.write_text(source)
    try:
        out = _lint(scratch)
    finally:
        probe.unlink()
    assert out.returncode != 0, out.stdout
    broken = out.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken
    assert module.removesuffix(".py").replace("/", ".") in broken
