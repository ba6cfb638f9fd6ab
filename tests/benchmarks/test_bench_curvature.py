"""Smoke test of ``benchmarks/bench_curvature.py`` at its ``--quick`` sizes (the committed results use the
full sizes): every part runs against both peers, the dense truth is right, the landscape checks hold, and
nothing is written to ``benchmarks/results``."""

import importlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("pyhessian")
pytest.importorskip("loss_landscapes")


@pytest.fixture
def bench_curvature(monkeypatch):
    """The repository's ``benchmarks`` package (this test directory has the same name and would shadow it)."""
    monkeypatch.syspath_prepend(str(ROOT))
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("benchmarks.bench_curvature")


def test_quick_run_writes_every_part(bench_curvature, tmp_path):
    results = ROOT / "benchmarks" / "results"
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("*")} if results.exists() else {}
    md = bench_curvature.main(quick=True, results_dir=tmp_path)
    assert md == tmp_path / "bench_curvature_quick.md"
    record = json.loads((tmp_path / "bench_curvature_quick.json").read_text())
    parts = {r["part"].split(" ")[0] for r in record["rows"]}
    with_curvlinops = bench_curvature.CURVLINOPS is not None
    assert parts == {"(a)", "(b)", "(c)", "(d)"} | ({"(e)"} if with_curvlinops else set())
    for r in record["rows"]:
        if r["part"].startswith(("(a)", "(b)", "(c)", "(e)")):
            assert int(r["n_hvp"]) >= 1 and r["time_s"] > 0, r
    if with_curvlinops:  # curvlinops' Hessian + eigsh and our Lanczos on it find the dense truth
        peer = record["curvlinops"]["mlp"]
        assert peer["ours_rel_err_max"] <= 1e-4 and peer["ours_on_curvlinops_rel_err_max"] <= 1e-4
        assert peer["eigsh_rel_err_max"] <= 1e-3
        assert peer["trace_agree"]
    eigen = record["eigen"]
    # Lanczos on the tiny MLP matches the dense float64 truth; PyHessian is a power iteration (looser)
    assert eigen["mlp_top1"]["ours_rel_err_top1"] <= 1e-4
    assert eigen["mlp_topk"]["ours_rel_err_max"] <= 1e-4
    assert record["truth"]["operator_rel_dev"] <= 1e-10
    assert record["trace"]["mlp"]["agree"]
    land = record["landscape"]
    assert land["ours_centre_on_grid"] and land["ours_centre_loss_rel_dev"] <= 1e-5
    assert land["untouched"]["ours"] and land["untouched"]["peer"]
    assert land["peer_nearest_point_in_steps"] > 0.1  # the peer's grid misses the centre
    in_place = land["peer_in_place"]  # deepcopy_model=False (its default) moves the model, freezes it
    assert in_place["moved_rel"] > 0.1 and in_place["requires_grad_after"] == [False]
    assert record["pyhessian_density_unpatched"] != "ran"  # it calls the removed torch.eig
    text = md.read_text()
    assert "## Targets (issue 13)" in text and "Quick run" in text
    after = {p.name: p.stat().st_mtime_ns for p in results.glob("*")} if results.exists() else {}
    assert after == before
