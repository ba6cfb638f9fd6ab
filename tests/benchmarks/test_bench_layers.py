"""Smoke test of ``benchmarks/bench_layers.py`` at its ``--quick`` sizes (the committed results use the full
sizes): both parts run, every layer row is timed or carries its error, nothing is written to
``benchmarks/results``."""

import importlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench_layers(monkeypatch):
    """The repository's ``benchmarks`` package (this test directory has the same name and would shadow it)."""
    monkeypatch.syspath_prepend(str(ROOT))
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("benchmarks.bench_layers")


def test_quick_run_writes_both_parts(bench_layers, tmp_path):
    md = bench_layers.main(quick=True, results_dir=tmp_path)
    assert md == tmp_path / "bench_layers_quick.md"
    record = json.loads((tmp_path / "bench_layers_quick.json").read_text())
    rows = record["rows"]
    assert [r["layer"] for r in rows][:2] == ["nn.Conv2d", "CPLConv2d"]
    assert {r["library"] for r in rows} == {"torch", "stablecore", "orthogonium", "deel-torchlip"}
    for r in rows:
        assert r["error"] or r["ms_per_step"] > 0, r
    assert all(not r["error"] for r in rows if r["library"] == "stablecore")
    certified = record["certified"]
    assert len(certified) == 4
    for r in certified:
        assert 0 <= r["certified@0.3"] <= r["certified@0.1"] <= r["clean_accuracy"] <= 1
    assert record["machine"]["threads"] >= 1
    text = md.read_text()
    assert "Throughput targets" in text and "Certified-accuracy targets" in text


def test_part_a_only_writes_its_own_file(bench_layers, tmp_path):
    md = bench_layers.main(quick=True, results_dir=tmp_path, part="a")
    assert md == tmp_path / "bench_layers_quick_part_a.md"
    record = json.loads((tmp_path / "bench_layers_quick_part_a.json").read_text())
    assert record["part"] == "a" and "certified" not in record
    assert all(not r["error"] for r in record["rows"] if r["library"] == "stablecore")
    text = md.read_text()
    assert "Throughput targets" in text and "Certified-accuracy targets" not in text
    assert not (tmp_path / "bench_layers_quick.json").exists()


def test_part_b_only_writes_its_own_file(bench_layers, tmp_path):
    md = bench_layers.main(quick=True, results_dir=tmp_path, part="b")
    assert md == tmp_path / "bench_layers_quick_part_b.md"
    record = json.loads((tmp_path / "bench_layers_quick_part_b.json").read_text())
    main_models = [r["model"] for r in record["rows"]]  # the certified table is the main one
    assert main_models == [r["model"] for r in record["certified"]] and len(main_models) == 4
    text = md.read_text()
    assert "Certified-accuracy targets" in text and "Throughput targets" not in text
    assert "|  |" not in text  # no empty part-(a) table
    assert not (tmp_path / "bench_layers_quick.json").exists()


def test_bad_part_is_refused(bench_layers):
    with pytest.raises(ValueError, match="part"):
        bench_layers.main(quick=True, part="c")
