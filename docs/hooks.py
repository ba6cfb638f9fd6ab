"""MkDocs hooks and a Griffe extension for the docs site (``mkdocs.yml``).

* The chapter notebooks are served as pages under ``notebooks/`` of the site, their repository links
  (``../docs/chapters/ch02.md``, ``ch03_lipschitz_layers.ipynb``) pointed at the site's pages.
* :class:`SphinxToMarkdown` (a Griffe extension, listed in ``mkdocs.yml``) turns the reST bits of the
  Google-style docstrings into Markdown before mkdocstrings renders them: ``:math:`` roles and
  ``.. math::`` blocks become MathJax input, ``:func:`~a.b``` and the other cross-reference roles code,
  simple reST tables Markdown tables, and an ``Example:`` of doctest lines an ``Examples:`` section.

The notebooks live outside ``docs/``. By default the stripped notebooks of ``notebooks/`` are rendered
(fast, no outputs; what ``make test`` builds). Set ``STABLECORE_DOCS_NOTEBOOKS`` to a folder holding
executed ``chNN_<topic>.ipynb`` files, e.g. a quick-mode run of ``stablecore reproduce``
(``runs/reproduce/<run_id>/``), to render them with their outputs instead; mkdocs-jupyter never
executes them (``execute: false`` in ``mkdocs.yml``).

The site opens from disk with no network: the math is typeset by a copy of MathJax 2.7 that
:func:`on_post_build` puts under ``assets/mathjax/`` (from the ``jupyter-server-mathjax`` package of the
``docs`` extra), loaded by ``docs/javascripts/mathjax.js`` on the Markdown pages and by mkdocs-jupyter's
``custom_mathjax_url`` on the notebook pages; the theme uses the system fonts (``font: false``), and
search runs from disk through ``docs/javascripts/iframe-worker.js`` (``extra.polyfills``).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import griffe
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

ENV_VAR = "STABLECORE_DOCS_NOTEBOOKS"
PATTERN = "ch[0-9][0-9]_*.ipynb"
log = logging.getLogger("mkdocs.hooks.stablecore")


def notebook_dir(config_file: str) -> Path:
    """The folder the chapter notebooks are read from (``$STABLECORE_DOCS_NOTEBOOKS`` or ``notebooks/``)."""
    root = Path(config_file).resolve().parent
    chosen = os.environ.get(ENV_VAR)
    return Path(chosen).resolve() if chosen else root / "notebooks"


@event_priority(100)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files: Files, config) -> Files:
    default = Path(config.config_file_path).resolve().parent / "notebooks"
    folder = notebook_dir(config.config_file_path)
    chosen = {path.name: path for path in sorted(folder.glob(PATTERN))}
    if not chosen:
        raise PluginError(f"no {PATTERN} in {folder} (set {ENV_VAR} to a folder of chapter notebooks)")
    src_dir = default.parent
    if folder != default:
        # the site path is notebooks/<name>: a temporary notebooks/ folder of links to the chosen files,
        # and to the stored notebook of a chapter the folder lacks (a reproduce run of some chapters)
        for path in sorted(default.glob(PATTERN)):
            if path.name not in chosen:
                log.info("%s: %s not in %s, rendering the stored notebook", ENV_VAR, path.name, folder)
                chosen[path.name] = path
        src_dir = Path(tempfile.mkdtemp(prefix="stablecore-docs-"))
        atexit.register(shutil.rmtree, src_dir, ignore_errors=True)
        (src_dir / "notebooks").mkdir()
        for name, path in chosen.items():
            (src_dir / "notebooks" / name).symlink_to(path)
    for name in chosen:
        # a File with a real src_dir: mkdocs-jupyter's wrapper reads abs_src_path from src_dir/src_uri
        files.append(File(f"notebooks/{name}", str(src_dir), config.site_dir, config.use_directory_urls))
    return files


# links written for the repository, from notebooks/: ../docs/<page>.md and chNN_<topic>.ipynb
_NOTEBOOK_DOC_LINK = re.compile(r'href="\.\./docs/([^"#]+)\.md(#[^"]*)?"')
_NOTEBOOK_NB_LINK = re.compile(r'href="(ch[0-9][0-9]_\w+)\.ipynb(#[^"]*)?"')


MATHJAX_DIR = "assets/mathjax"
#: ``?config=...`` of MathJax.js on every page: the bundle's TeX/MathML configuration, then ours.
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe,local/stablecore"
# The package ships the STIX-Web web fonts only (not MathJax's TeX fonts nor the PNG image fonts).
_MATHJAX_LOCAL_CONFIG = """MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null},
  SVG: {font: "STIX-Web"},
  messageStyle: "none"
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/stablecore.js");
"""


def mathjax_source() -> Path:
    """The static MathJax 2.7 tree shipped by ``jupyter-server-mathjax`` (the ``docs`` extra)."""
    try:
        import jupyter_server_mathjax
    except ImportError as err:  # pragma: no cover - the docs extra installs it
        raise PluginError(
            "the docs site serves MathJax itself: install the docs extra (pip install -e '.[docs]')"
        ) from err
    static = Path(jupyter_server_mathjax.__file__).resolve().parent / "static"
    if not (static / "MathJax.js").is_file():
        raise PluginError(f"no MathJax.js in {static}")
    return static


def on_post_build(config) -> None:
    """Copy MathJax into the site (``assets/mathjax/``) with its font configuration
    (``config/local/stablecore.js``: the STIX-Web web fonts, the only ones the package ships)."""
    target = Path(config.site_dir) / MATHJAX_DIR
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(mathjax_source(), target, ignore=shutil.ignore_patterns("png", "*.py", "__pycache__"))
    (target / "config" / "local").mkdir(parents=True, exist_ok=True)
    (target / "config" / "local" / "stablecore.js").write_text(_MATHJAX_LOCAL_CONFIG, encoding="utf-8")


def on_post_page(output: str, page, config) -> str:
    """In a notebook page, point the repository links at the site's pages (mkdocs does not see them:
    mkdocs-jupyter renders the notebook's HTML itself)."""
    if not page.file.src_uri.startswith("notebooks/"):
        return output
    output = _NOTEBOOK_DOC_LINK.sub(lambda m: f'href="../{m[1]}.html{m[2] or ""}"', output)
    return _NOTEBOOK_NB_LINK.sub(lambda m: f'href="{m[1]}.html{m[2] or ""}"', output)


_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_SHORT_ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|obj|data|exc|const):`~(?:[\w.]+\.)?(\w+)`")
_ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|obj|data|exc|const):`")
_MATH_BLOCK = re.compile(r"^( *)\.\. math::[ \t]*(.*)\n((?:\n?\1 {2,}\S.*\n)*)", re.M)
_TABLE_BORDER = re.compile(r"^ *=+(?: +=+)+ *$")


def _math_block(m: re.Match) -> str:
    indent, lines = m[1], [m[2], *m[3].splitlines()]
    body = "\n".join(f"{indent}{line.strip()}" for line in lines if line.strip())
    return f"{indent}$$\n{body}\n{indent}$$\n"


def _tables(text: str) -> str:
    """reST simple tables (header between the first two borders, rows until the third; a row whose
    first cell is blank continues the previous row) to Markdown tables."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if not _TABLE_BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        border = lines[i]
        starts = [m.start() for m in re.finditer(r"=+", border)]
        borders = [j for j in range(i, len(lines)) if lines[j] == border][:3]
        if len(borders) < 3:
            out.append(lines[i])
            i += 1
            continue
        rows: list[list[str]] = []
        for j in range(borders[0] + 1, borders[2]):
            if j == borders[1] or not lines[j].strip():
                continue
            line = lines[j]
            cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], len(line) + 1])]
            if rows and j > borders[1] + 1 and not cells[0]:
                rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells)]
            else:
                rows.append(cells)
        indent = border[: len(border) - len(border.lstrip())]
        cells_md = [[cell.replace("|", "\\|") for cell in row] for row in rows]
        out.append(indent + "| " + " | ".join(cells_md[0]) + " |")
        out.append(indent + "|" + "---|" * len(starts))
        out.extend(indent + "| " + " | ".join(row) + " |" for row in cells_md[1:])
        i = borders[2] + 1
    return "\n".join(out)


def sphinx_to_markdown(text: str) -> str:
    """The reST of a docstring as Markdown (see the module docstring)."""
    text = _MATH_BLOCK.sub(_math_block, text + "\n").rstrip("\n")
    text = _MATH_ROLE.sub(lambda m: f"${m[1].strip()}$", text)
    text = _SHORT_ROLE.sub(r"`\1`", text)
    text = _ROLE.sub("`", text)
    text = re.sub(r"^( *)Example:\n(?=\1 +>>> )", r"\1Examples:\n", text, flags=re.M)
    return _tables(text)


class SphinxToMarkdown(griffe.Extension):
    """Griffe extension: every docstring through :func:`sphinx_to_markdown` before it is parsed."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = sphinx_to_markdown(obj.docstring.value)
