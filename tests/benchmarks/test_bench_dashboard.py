"""Smoke test of ``benchmarks/bench_dashboard.py`` at its ``--quick`` size (one round of the spectral page in
headless ``/usr/bin/chromium``; the committed results are three rounds of every page): every measurement is
taken, the summary is the median of the samples, the targets are judged from the medians, the load average
is recorded, and nothing is written to ``benchmarks/results``. No timing is asserted."""

import importlib
import json
import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@pytest.fixture
def bench_dashboard(monkeypatch):
    """The repository's ``benchmarks`` package (this test directory has the same name and would shadow it)."""
    monkeypatch.syspath_prepend(str(ROOT))
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("benchmarks.bench_dashboard")


def test_quick_run(bench_dashboard, tmp_path):
    results = ROOT / "benchmarks" / "results"
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("bench_dashboard*")}
    md = bench_dashboard.main(quick=True, results_dir=tmp_path)
    assert md == tmp_path / "bench_dashboard_quick.md"
    record = json.loads((tmp_path / "bench_dashboard_quick.json").read_text())
    samples = record["samples"]
    measurements = [
        "start to ready (warm-up)",
        "start to first render",
        "first render",
        "widget change (uncached)",
        "widget change (cached)",
        "reload (warm caches)",
    ]
    assert sorted({s["measurement"] for s in samples}) == sorted(measurements)
    assert {s["page"] for s in samples} == {"server", "spectral"}
    assert all(s["seconds"] > 0 for s in samples)
    by = {s["measurement"]: s["seconds"] for s in samples}
    # the warm-up is shown, not hidden: the user's wait is the start-to-ready time plus the first render
    assert by["start to first render"] == pytest.approx(by["start to ready (warm-up)"] + by["first render"])
    for row in record["rows"]:
        mine = [s["seconds"] for s in samples if s["measurement"] == row["measurement"]]
        assert row["n"] == len(mine) and row["median_s"] == pytest.approx(statistics.median(mine))
        if row["target_s"]:
            target = float(row["target_s"].removeprefix("< "))
            assert row["met"] == ("met" if row["median_s"] < target else "missed")
        else:
            assert row["met"] == ""
    assert len(record["loadavg_start"]) == 3 and len(record["loadavg_after_each_round"]) == 1
    assert record["versions"]["streamlit"] and "Chromium" in (record["versions"]["chromium"] or "")
    assert (tmp_path / "screenshots" / "spectral.png").stat().st_size > 0
    text = md.read_text()
    assert "## Targets (issue 15)" in text and "Quick run" in text and "load average" in text
    after = {
        p.name: p.stat().st_mtime_ns for p in results.glob("bench_dashboard*")
    }  # others may write theirs
    assert after == before
