"""The figure catalogue is complete: every figure that notebooks, dashboard, library or tests use through
``stablecore.plots`` is in its ``__all__``, and ``__all__`` is exactly the topic modules' figures."""

from __future__ import annotations

import ast
import importlib
import json
import pkgutil
from pathlib import Path

import plotly.graph_objects as go
import pytest

from stablecore import plots

REPO = Path(__file__).resolve().parents[2]


def _code_of_notebook(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    sources = ("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    # IPython magics and shell escapes are not Python
    return "\n".join(
        line for s in sources for line in s.splitlines() if not line.lstrip().startswith(("%", "!"))
    )


def _used_names(tree: ast.AST) -> set[str]:
    """Names imported from ``stablecore.plots*`` and attributes read from a module bound as ``plots``."""
    aliases = set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("stablecore.plots"):
                names |= {a.name for a in node.names}
            if node.module == "stablecore":
                aliases |= {a.asname or a.name for a in node.names if a.name == "plots"}
        if isinstance(node, ast.Import):
            aliases |= {a.asname for a in node.names if a.name == "stablecore.plots" and a.asname}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            names.add(node.attr)
    return {n for n in names if not n.startswith("_")}


def _uses() -> dict[str, set[str]]:
    files = sorted(REPO.glob("notebooks/*.ipynb"))
    for folder in ("dashboard", "stablecore", "tests", "benchmarks"):
        files += sorted(p for p in (REPO / folder).rglob("*.py") if p.parent != REPO / "stablecore" / "plots")
    uses: dict[str, set[str]] = {}
    for path in files:
        code = _code_of_notebook(path) if path.suffix == ".ipynb" else path.read_text(encoding="utf-8")
        for name in _used_names(ast.parse(code)):
            uses.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return uses


def test_every_used_figure_is_exported() -> None:
    uses = _uses()
    assert {"certified_accuracy_plot", "radii_plot", "hessian_summary_plot"} <= set(uses)  # the scan works
    missing = {name: sorted(where) for name, where in uses.items() if name not in plots.__all__}
    assert not missing, f"used through stablecore.plots but not in its __all__: {missing}"


def test_all_is_exactly_the_topic_modules_figures() -> None:
    assert len(plots.__all__) == len(set(plots.__all__)) == 35
    topics = [m.name for m in pkgutil.iter_modules(plots.__path__) if not m.name.startswith("_")]
    assert set(topics) == {"training", "spectral", "certify", "curvature", "landscape", "smoothing"}
    from_topics: list[str] = []
    for topic in topics:
        module = importlib.import_module(f"stablecore.plots.{topic}")
        from_topics += module.__all__
        for name in module.__all__:  # defined there, re-exported unchanged
            assert getattr(plots, name) is getattr(module, name)
            assert getattr(module, name).__module__ == module.__name__
    assert sorted(from_topics) == sorted(plots.__all__)


@pytest.mark.parametrize("name", plots.__all__)
def test_every_export_is_a_figure_function(name: str) -> None:
    fn = getattr(plots, name)
    assert callable(fn) and fn.__annotations__.get("return") in ("go.Figure", go.Figure)
