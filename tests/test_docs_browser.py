"""The docs site as a reader opens it: built with `mkdocs build --strict` (the stored notebooks, not
executed) into a temporary folder and read from disk (file://) in headless Debian Chromium with no
network. Math is typeset by the site's own MathJax, search finds pages (the theme's worker runs through
docs/javascripts/iframe-worker.js), and no page asks for anything outside the site.

Skipped only when /usr/bin/chromium is missing (`.ci/run` installs it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]

# MathJax 2 leaves one element of these classes per typeset formula
_TYPESET = "document.querySelectorAll('.MathJax, .MathJax_Display').length"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {k: v for k, v in os.environ.items() if k != "STABLECORE_DOCS_NOTEBOOKS"} | {
        "NO_MKDOCS_2_WARNING": "1"
    }
    mkdocs = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)]
    done = subprocess.run(mkdocs, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def page(site, dashboard_driver):
    with dashboard_driver.browser() as context:  # headless /usr/bin/chromium, fresh profile
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        outside: list[str] = []
        page.on(
            "request",
            lambda r: None if r.url.startswith(("file:", "data:", "about:")) else outside.append(r.url),
        )
        page.outside = outside
        yield page


def _open(page, site: Path, path: str) -> None:
    page.outside.clear()
    page.goto((site / path).as_uri(), wait_until="load")


@pytest.mark.parametrize(
    "path", ["chapters/ch02.html", "notebooks/ch02_gram_iteration.html", "api/spectral.html"], ids=str
)
def test_math_is_typeset_offline(page, site, path):
    _open(page, site, path)
    page.wait_for_function(f"{_TYPESET} > 10", timeout=TIMEOUT_MS)
    text = page.inner_text("article")
    assert "\\sigma" not in text and "\\|" not in text, "raw LaTeX left on the page"
    assert page.outside == [], page.outside


def test_search_works_from_disk(page, site):
    _open(page, site, "index.html")
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially("gram iteration", delay=20)  # key events, as a reader types
    results = page.locator(".md-search-result__item")
    results.first.wait_for(state="attached", timeout=TIMEOUT_MS)
    titles = " ".join(results.all_inner_texts()).lower()
    assert "gram iteration" in titles
    assert page.outside == [], page.outside


def test_api_page_lists_the_public_objects(page, site):
    _open(page, site, "api/explore.html")
    headings = " ".join(page.locator("article h2, article h3").all_inner_texts())
    for name in ("example_close_up", "dashboard_url", "parse_dashboard_url", "ExampleCloseUp"):
        assert name in headings, name
    assert page.outside == [], page.outside
