"""Smoke test of ``benchmarks/bench_smoothing.py`` at its ``--quick`` sizes (the committed results use the
full sizes): every configuration of part (a) is timed against ART, a fresh-process memory probe answers,
part (b) chooses the soft score and σ on a validation split of the train data and certifies both models at
the three radii (Cohen, LVM-RS sound and uncertified, soft-score Cohen, R_monoLip, R_ode from the same
logits), and nothing is written to ``benchmarks/results``."""

import importlib
import json
import sys
from pathlib import Path

import pytest

from stablecore.data import load_dataset

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("art")
pytest.importorskip("statsmodels")


@pytest.fixture
def bench_smoothing(monkeypatch):
    """The repository's ``benchmarks`` package (this test directory has the same name and would shadow it)."""
    monkeypatch.syspath_prepend(str(ROOT))
    for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("benchmarks.bench_smoothing")


def test_quick_run_writes_both_parts(bench_smoothing, tmp_path):
    results = ROOT / "benchmarks" / "results"
    before = {p.name: p.stat().st_mtime_ns for p in results.glob("*")} if results.exists() else {}
    md = bench_smoothing.main(quick=True, results_dir=tmp_path)
    assert md == tmp_path / "bench_smoothing_quick.md"
    record = json.loads((tmp_path / "bench_smoothing_quick.json").read_text())
    sizes = bench_smoothing.QUICK
    rows = record["rows"]
    assert {r["library"] for r in rows} == {"stablecore", "ART", "torch forward", "torch forward + noise"}
    assert sorted({r["n"] for r in rows}) == sorted(sizes.ns)
    for r in rows:
        assert r["examples_per_s"] > 0 and r["samples_per_s"] > r["examples_per_s"], r
    for n in sizes.ns:
        block = [r for r in rows if r["n"] == n]
        assert {r["library"] for r in block if r["best"] == "best"} == {
            "stablecore", "ART", "torch forward", "torch forward + noise"
        }  # fmt: skip
        assert next(r["batch_size"] for r in block if r["library"] == "ART") == sizes.art_default
    agreement = record["agreement"]
    art_rows = len({sizes.art_default, *sizes.batches})
    assert agreement["total"] == len(sizes.ns) * sizes.examples * art_rows
    assert 0 <= agreement["agree"] <= agreement["total"]  # different noise draws: tiny n may disagree
    probes = record["memory_probes"]
    assert [(p["library"], p["n"]) for p in probes] == [("stablecore", n) for n in sizes.probe_ns]
    for probe in probes:
        assert "error" not in probe, probe
        assert probe["growth_mib"] >= 0 and not probe["torchvision_imported"]
    assert not record["torchvision_imported"]
    (memory,) = record["targets"]["memory"].values()
    assert set(memory) == {"growth_mib", "extra_mib", "flat"}
    certified = record["certified"]
    for c in certified:
        accs = [c[f"certified@{r:g}"] for r in sizes.radii]
        assert accs == sorted(accs, reverse=True) and 0 <= accs[0] <= c["smoothed_accuracy"] <= 1, c
        # only the reference's best-of-candidates LVM-RS is an estimate; it is never called a certificate
        assert c["kind"] == ("estimate" if c["method"].startswith("LVM-RS best") else "certificate"), c
    validation = record["validation"]
    grid = validation["grid"]
    assert len(grid) == len(sizes.val_sigmas) * len(sizes.val_maps) * len(sizes.val_temperatures)
    for g in grid:  # the gain is recomputed from the row's own curves
        gain = max(g[f"ode@{r:g}"] - g[f"cohen@{r:g}"] for r in sizes.radii)
        assert g["gain"] == pytest.approx(gain)

    def key(g):
        return (round(g["gain"], 12), round(g["ode_mean"], 12))

    best = validation["best"]
    assert key(best) == max(map(key, grid))
    assert validation["best_at_sigma"]["sigma"] == bench_smoothing.SIGMA
    assert key(validation["best_at_sigma"]) == max(
        key(g) for g in grid if g["sigma"] == bench_smoothing.SIGMA
    )
    train = load_dataset("digits").train  # validation uses the train split only
    assert validation["fit_examples"] + validation["held_out"] == len(train)
    meta = record["certified_meta"]
    assert set(meta) == {"convnet", "sll"} | (
        {f"sll_sigma{best['sigma']:g}"} if best["sigma"] != 0.25 else set()
    )
    for name, m in meta.items():
        assert m["order_violations"] == 0 and m["ode_votes_max_dev_from_cohen"] <= 1e-12, name
        assert m["certify_dataset_same_counts"] in ("1/1", "2/2", "3/3"), name
        assert m["logits_bound"]["kind"] == "upper_bound", name
        block = {c["method"]: c for c in certified if c["model"] == m["model"] and c["sigma"] == m["sigma"]}
        assert "Cohen (votes, Clopper–Pearson)" in block and any(k.startswith("LVM-RS (sound") for k in block)
        for s in m["scores"]:  # same p̲: R_ode ≥ R_monoLip ≥ σΦ⁻¹(p̲) per example, hence in accuracy too
            label = f"{s['map']} T={s['temperature']:g}, {s['origin']}"
            ode, mono = block[f"R_ode, {label} (same p̲)"], block[f"R_monoLip, {label} (same p̲)"]
            base = block[f"σΦ⁻¹(p̲), {label} (emp. Bernstein)"]
            for r in sizes.radii:
                col = f"certified@{r:g}"
                assert ode[col] >= mono[col] >= base[col], (name, label, r)
    sll_scores = {(s["map"], s["temperature"], s["origin"]) for s in meta["sll"]["scores"]}
    chosen = validation["best_at_sigma"]
    assert (chosen["map"], chosen["temperature"], "validation") in sll_scores
    text = md.read_text()
    assert "## Targets (issue 14)" in text and "Quick run" in text and "## (b) Certified accuracy" in text
    after = {p.name: p.stat().st_mtime_ns for p in results.glob("*")} if results.exists() else {}
    assert after == before
