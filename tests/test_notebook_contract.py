"""What every chapter notebook promises a student (docs/chapters/index.md): a claims table at the top,
algorithms written from scratch and checked against the library, a reading and an executable check under
every figure, and 2-4 exercises whose solutions run (and assert) under nbval, each linking the dashboard
view that shows the same thing. The notebooks themselves run in quick mode under nbval (`make test`)."""

import re
from pathlib import Path

import nbformat
import pytest

from stablecore.explore import parse_dashboard_url

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("ch0*.ipynb"))
LINK = re.compile(r"http://127\.0\.0\.1:8501/[^\s)\]>\"'`]+")
FIGURE_CALL = re.compile(r"\b(\w+_plot|training_curves)\(")
EXERCISE = re.compile(r"^###\s+Exercise\s+(\d+)\b", re.M)


def _cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def _ids(path: Path) -> str:
    return path.stem


def test_six_chapter_notebooks():
    assert [p.stem[:4] for p in NOTEBOOKS] == ["ch01", "ch02", "ch03", "ch04", "ch05", "ch06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_stored_without_outputs(path):
    for cell in _cells(path):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_claims_table_at_the_top(path):
    head = "\n".join(c.source for c in _cells(path)[:4] if c.cell_type == "markdown")
    header = [line for line in head.splitlines() if line.startswith("|") and "claim" in line.lower()]
    assert header, "no claims table (a markdown table whose header names the claim) in the first cells"
    columns = header[0].lower()
    assert "section" in columns and ("quick" in columns or "shown" in columns), header[0]
    rows = [line for line in head.splitlines() if line.startswith("|") and "---" not in line]
    assert len(rows) >= 4, "a claims table with at least three claims"


def _opens_from_scratch(markdown: str) -> bool:
    """A heading or bold lead-in naming a from-scratch implementation (not a mention in a table or prose)."""
    return any(
        line.lstrip().startswith(("#", "**")) and "from scratch" in line.lower()
        for line in markdown.splitlines()
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_from_scratch_cells_are_checked_against_the_library(path):
    cells = _cells(path)
    starts = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and _opens_from_scratch(c.source)]
    assert starts, "no 'from scratch' section"
    for i in starts:
        following = [c for c in cells[i + 1 : i + 4] if c.cell_type == "code"]
        assert any("assert" in c.source for c in following), (
            f"cell {i}: no assert after the from-scratch code"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_every_figure_is_read_and_checked(path):
    cells = _cells(path)
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or not FIGURE_CALL.search(cell.source):
            continue
        if "solution" in cell.metadata.get("tags", []):
            continue  # an exercise's figure is read by its solution
        after = cells[i + 1 : i + 5]
        reading = [
            j
            for j, c in enumerate(after)
            if c.cell_type == "markdown" and "reading the figure" in c.source.lower()
        ]
        assert reading, (
            f"cell {i} draws a figure with no 'Reading the figure' note after it:\n{cell.source[:200]}"
        )
        check = [c for c in after[reading[0] + 1 :] if c.cell_type == "code" and "assert" in c.source]
        assert check or "assert" in cell.source, f"cell {i}: no executable check of the figure's claim"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_exercises_with_solutions_and_dashboard_links(path):
    cells = _cells(path)
    starts = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and EXERCISE.search(c.source)]
    assert 2 <= len(starts) <= 4, f"{len(starts)} exercises"
    numbers = [int(EXERCISE.search(cells[i].source).group(1)) for i in starts]
    assert numbers == list(range(1, len(starts) + 1))
    bounds = [*starts[1:], len(cells)]
    for start, end in zip(starts, bounds, strict=True):
        block = cells[start:end]
        end = next(
            (k for k, c in enumerate(block[1:], 1) if c.cell_type == "markdown" and c.source.startswith("#")),
            len(block),
        )
        block = block[:end]
        solutions = [c for c in block if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
        assert solutions, f"exercise at cell {start}: no code cell tagged 'solution'"
        assert all(c.metadata.get("jupyter", {}).get("source_hidden") for c in solutions), (
            "solutions collapsed"
        )
        assert any("assert" in c.source for c in solutions), (
            f"exercise at cell {start}: the solution asserts nothing"
        )
        starters = [
            c for c in block if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])
        ]
        assert starters, f"exercise at cell {start}: no starter cell"
        links = [u for c in block if c.cell_type == "markdown" for u in LINK.findall(c.source)]
        assert links, f"exercise at cell {start}: no dashboard link"
        for url in links:
            parse_dashboard_url(url.rstrip(".,;:"))
