"""The docs site's configuration (mkdocs.yml) lists every page that exists, and every page it lists exists.

Cheap checks, no build: `make test` runs `mkdocs build --strict` for the rendering itself.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API_PACKAGES = [
    "spectral",
    "layers",
    "certify",
    "curvature",
    "landscape",
    "smoothing",
    "models",
    "train",
    "results",
    "explore",
    "plots",
    "data",
    "limits",
]


class _Loader(yaml.SafeLoader):
    """mkdocs.yml may hold tags such as !!python/name or !ENV; their values are not needed here."""


_Loader.add_multi_constructor("", lambda loader, suffix, node: None)
_Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def _config() -> dict:
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)


def _nav_paths(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_paths(value)]
    if isinstance(node, list):
        return [p for item in node for p in _nav_paths(item)]
    return []


@pytest.fixture(scope="module")
def nav() -> list[str]:
    return _nav_paths(_config()["nav"])


def test_nav_lists_every_chapter_note(nav):
    expected = ["chapters/index.md"] + [f"chapters/ch{i:02d}.md" for i in range(1, 7)]
    assert [p for p in nav if p.startswith("chapters/")] == expected


def test_nav_lists_every_chapter_notebook(nav):
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("ch[0-9][0-9]_*.ipynb"))
    assert len(notebooks) == 6
    assert [p for p in nav if p.startswith("notebooks/")] == [f"notebooks/{n}" for n in notebooks]


def test_every_api_page_exists_and_documents_its_package(nav):
    listed = [p for p in nav if p.startswith("api/")]
    assert listed == ["api/index.md"] + [f"api/{name}.md" for name in API_PACKAGES]
    for name in API_PACKAGES:
        text = (DOCS / "api" / f"{name}.md").read_text()
        assert re.search(rf"^::: stablecore\.{name}$", text, re.M), name
        assert (ROOT / "stablecore" / name).is_dir() or (ROOT / "stablecore" / f"{name}.py").is_file()


def test_every_listed_page_exists(nav):
    """Markdown pages live in docs/; notebooks are added from notebooks/ by docs/hooks.py."""
    for path in nav:
        source = ROOT / path if path.startswith("notebooks/") else DOCS / path
        assert source.is_file(), f"mkdocs.yml lists {path}, which does not exist"
    assert {"index.md", "dashboard.md", "reproduce.md"} <= set(nav)


def test_docs_build_is_wired_into_make():
    config = _config()
    assert config.get("strict") is True
    plugins = {next(iter(p)) if isinstance(p, dict) else p: p for p in config["plugins"]}
    assert {"mkdocs-jupyter", "mkdocstrings"} <= set(plugins)
    assert plugins["mkdocs-jupyter"]["mkdocs-jupyter"]["execute"] is False
    assert config["hooks"] == ["docs/hooks.py"]
    makefile = (ROOT / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "build --strict" in test_recipe
    assert re.search(r"^docs:", makefile, re.M)


def _hooks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("stablecore_docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_rest_becomes_markdown():
    pytest.importorskip("mkdocs")
    pytest.importorskip("griffe")
    text = "\n".join(
        [
            "A :math:`\\sigma_1` bound, see :func:`~stablecore.spectral.lipschitz_bound` and :class:`Bound`.",
            "",
            ".. math:: L = 1",
            "   + 2",
            "",
            "=====  =====",
            "name   value",
            "=====  =====",
            "a|b    1",
            "       more",
            "=====  =====",
        ]
    )
    assert _hooks().sphinx_to_markdown(text).splitlines() == [
        "A $\\sigma_1$ bound, see `lipschitz_bound` and `Bound`.",
        "",
        "$$",
        "L = 1",
        "+ 2",
        "$$",
        "",
        "| name | value |",
        "|---|---|",
        "| a\\|b | 1 more |",
    ]


def test_notebook_folder_is_configurable(monkeypatch, tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("griffe")
    hooks = _hooks()
    monkeypatch.delenv(hooks.ENV_VAR, raising=False)
    assert hooks.notebook_dir(str(ROOT / "mkdocs.yml")) == ROOT / "notebooks"
    monkeypatch.setenv(hooks.ENV_VAR, str(tmp_path))
    assert hooks.notebook_dir(str(ROOT / "mkdocs.yml")) == tmp_path.resolve()


def test_site_loads_nothing_from_a_cdn():
    """site/index.html opens from disk with no network: MathJax and fonts come from the site itself."""
    config = _config()
    assert config["theme"].get("font") is False  # no Google Fonts
    scripts = [s if isinstance(s, str) else s["path"] for s in config.get("extra_javascript", [])]
    plugins = {next(iter(p)) if isinstance(p, dict) else p: p for p in config["plugins"]}
    scripts.append(plugins["mkdocs-jupyter"]["mkdocs-jupyter"]["custom_mathjax_url"])
    polyfills = config.get("extra", {}).get("polyfills", [])
    # the offline plugin adds a CDN copy of its Worker shim unless a polyfill is named iframe-worker
    assert any("iframe-worker" in s for s in polyfills), polyfills
    scripts += polyfills
    assert scripts and not [s for s in scripts if re.match(r"(https?:)?//", s)], scripts
    for script in scripts:
        if "MathJax.js" not in script:
            assert (DOCS / script).is_file(), script


def test_mathjax_is_copied_into_the_site(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("griffe")
    pytest.importorskip("jupyter_server_mathjax")
    hooks = _hooks()

    class Config:
        site_dir = str(tmp_path)

    hooks.on_post_build(Config())
    mathjax = tmp_path / hooks.MATHJAX_DIR
    for name in hooks.MATHJAX_CONFIG.split(","):
        assert (mathjax / "config" / f"{name}.js").is_file(), name
    assert (mathjax / "MathJax.js").is_file()
    assert list((mathjax / "fonts" / "HTML-CSS").glob("*/woff/*.woff")), "no web fonts copied"
    assert "STIX-Web" in (mathjax / "config" / "local" / "stablecore.js").read_text()
    # every page asks for the configuration the hook wrote
    loader = (DOCS / "javascripts" / "mathjax.js").read_text()
    assert f"config={hooks.MATHJAX_CONFIG}" in loader
    assert f"config={hooks.MATHJAX_CONFIG}" in (ROOT / "mkdocs.yml").read_text()
