"""``stablecore reproduce``: summary table on stored outputs, recording, CLI, and one chapter end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import stablecore.reproduce as rp
from stablecore.chapters import CHAPTERS, STATUSES, get_reported, recording, reported_numbers
from stablecore.chapters import ch05_lvm_rs as ch05
from stablecore.chapters import ch06_bridging_rs as ch06
from stablecore.chapters.common import experiment
from stablecore.cli.main import main
from stablecore.results import atomic_write_parquet

COHEN = "ch06.radius.sigma0_5.pA0_60.cohen"
MONO = "ch06.radius.sigma0_5.pA0_80.monolip.L1"


@pytest.fixture(scope="module")
def cheap_results() -> dict[int, dict[str, pd.DataFrame]]:
    """Real outputs of the chapters' cheapest experiments (closed forms, exact enumeration)."""
    return {
        5: {"weierstrass_lipschitz": ch05.weierstrass_lipschitz(ch05.Ch05Config.quick())},
        6: {"counter_example": ch06.counter_example(ch06.Ch06Config.quick())},
    }


# ----------------------------------------------------------------------------------- relative difference
@pytest.mark.parametrize(
    ("ours", "thesis", "expected"),
    [(105.0, 100.0, 0.05), (95.0, 100.0, -0.05), (-0.03, -0.02, -0.5), (0.0, 2.0, -1.0), (2.0, 2.0, 0.0)],
)
def test_relative_difference(ours: float, thesis: float, expected: float) -> None:
    assert rp.relative_difference(ours, thesis) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(
    ("ours", "thesis"), [(None, 1.0), (1.0, None), (math.nan, 1.0), (1.0, math.nan), (1.0, 0.0)]
)
def test_relative_difference_undefined(ours: float | None, thesis: float | None) -> None:
    assert math.isnan(rp.relative_difference(ours, thesis))


# ----------------------------------------------------------------------------------- summary table
def test_one_row_per_reported_number_with_honest_status(cheap_results) -> None:
    table = rp.summary_table(cheap_results, mode="quick", chapters=sorted(CHAPTERS))
    reported = reported_numbers()
    assert list(table.columns) == list(rp.SUMMARY_COLUMNS)
    assert table["id"].tolist() == reported["id"].tolist()
    assert table["status"].tolist() == reported["status"].tolist()
    assert set(table["status"]) <= set(STATUSES)
    pd.testing.assert_series_equal(table["thesis"], reported["value"], check_names=False)
    assert table["source"].tolist() == reported["source"].tolist()
    not_transcribed = table["status"] == "not transcribed"
    assert table.loc[not_transcribed, "thesis"].isna().all()
    assert table.loc[not_transcribed, "rel_diff"].isna().all()
    # ours only where a chapter's experiment (or its closed form) produced it, never for unrun chapters
    assert table.loc[table["chapter"].isin([1, 2, 3, 4]), "ours"].isna().all()
    has_ours = table["ours"].notna()
    assert (table.loc[has_ours, "computed_by"].str.len() > 0).all()
    assert table.loc[~has_ours, "note"].str.startswith("not computed in quick mode").all()
    both = has_ours & table["thesis"].notna()
    expected = (table.loc[both, "ours"] - table.loc[both, "thesis"]) / table.loc[both, "thesis"].abs()
    pd.testing.assert_series_equal(table.loc[both, "rel_diff"], expected, check_names=False)
    assert set(table.loc[both, "comparison"]) == {"compared"}
    assert (table.loc[~has_ours & table["thesis"].notna(), "comparison"] == "thesis only").all()


def test_ours_is_what_the_chapter_computed(cheap_results) -> None:
    """Our value of a closed-form number equals the chapter experiment's own row, unchanged."""
    table = rp.summary_table(cheap_results, mode="quick").set_index("id")
    weier = cheap_results[5]["weierstrass_lipschitz"].set_index("id")["value"]
    rid = "ch05.smoothed_lipschitz.ramp_L2_r1_sigma0_5.exact"
    assert table.loc[rid, "ours"] == weier[rid]
    assert table.loc[rid, "computed_by"] == "weierstrass_lipschitz"
    assert table.loc[rid, "rel_diff"] == pytest.approx(
        (weier[rid] - get_reported(rid).value) / get_reported(rid).value
    )


def test_relative_difference_in_table_against_planted_values() -> None:
    """Independent oracle: plant known 'measured' values in a chapter's experiment table."""
    cohen, mono = get_reported(COHEN).value, get_reported(MONO).value
    frame = pd.DataFrame({"id": [COHEN, MONO], "value": [cohen * 1.25, mono * 0.5]})
    table = rp.summary_table({6: {"lipschitz_aware_radii": frame}}, mode="quick").set_index("id")
    assert table.loc[COHEN, "ours"] == pytest.approx(cohen * 1.25)
    assert table.loc[COHEN, "rel_diff"] == pytest.approx(0.25)
    assert table.loc[MONO, "rel_diff"] == pytest.approx(-0.5)
    assert table.loc[COHEN, "comparison"] == "compared"
    assert (table.index.str.startswith("ch06.")).all() and len(table) == len(reported_numbers(6))


def test_not_transcribed_but_computed_is_ours_only() -> None:
    frame = pd.DataFrame(
        {
            "regularizer": ["none", "none"],
            "dataset": ["digits", "digits"],
            "test_accuracy": [0.9, 0.8],
            "lambda_max": [3.0, 5.0],
            "trace": [10.0, 20.0],
            "epochs": [4, 4],
            "options": ["", ""],
        }
    )
    table = rp.summary_table({4: {"regularizer_comparison": frame}}, mode="quick")
    assert (table["status"] == "not transcribed").all() and table["rel_diff"].isna().all()
    hit = table[table["ours"].notna()].set_index("id")
    assert set(hit["comparison"]) == {"ours only"}
    assert hit["ours"].to_dict() == pytest.approx(
        {"ch04.thesis.none.test_accuracy": 85.0, "ch04.thesis.none.lambda_max": 4.0,
         "ch04.thesis.none.hessian_trace": 15.0}
    )  # fmt: skip


def test_failed_and_unrun_chapters_are_said_so(cheap_results) -> None:
    table = rp.summary_table(
        {6: cheap_results[6]}, mode="full", chapters=[2, 6], errors={6: "code cell 3: RuntimeError: boom"}
    )
    assert table["chapter"].unique().tolist() == [2, 6]
    ch2 = table[table["chapter"] == 2]
    assert ch2["ours"].isna().all()
    assert ch2["note"].str.startswith("not computed in full mode: the notebook did not run").all()
    ch6 = table[table["chapter"] == 6]
    assert ch6["note"].str.startswith("notebook failed (code cell 3: RuntimeError: boom)").all()
    # the experiments the failed notebook finished still count
    assert ch6.set_index("id").loc["ch06.counter_example.p45_45_10.bonferroni_coverage", "ours"] > 0


def test_chapter_without_hook_or_with_a_failing_hook(monkeypatch, cheap_results) -> None:
    monkeypatch.delattr(CHAPTERS[5], "reported_comparison")
    table = rp.summary_table(cheap_results, mode="quick", chapters=[5])
    assert table["ours"].isna().all()
    assert table["note"].str.contains("has no reported_comparison").all()

    def broken(results):
        raise RuntimeError("bad table")

    monkeypatch.setattr(CHAPTERS[6], "reported_comparison", broken)
    table = rp.summary_table(cheap_results, mode="quick", chapters=[6])
    assert table["ours"].isna().all() and table["note"].str.contains("RuntimeError: bad table").all()


def test_summary_table_validation() -> None:
    with pytest.raises(ValueError, match="chapter"):
        rp.summary_table({9: {}})
    with pytest.raises(TypeError, match=r"results\[6\]"):
        rp.summary_table({6: {"counter_example": [1, 2]}})
    with pytest.raises(ValueError, match="mode"):
        rp.summary_table({}, mode="slow")
    with pytest.raises(ValueError, match="chapter"):
        rp.reproduce(chapters=[7], progress=False)


def test_stored_outputs_roundtrip_and_markdown(tmp_path: Path, cheap_results) -> None:
    for n, results in cheap_results.items():
        for name, frame in results.items():
            atomic_write_parquet(tmp_path / "tables" / f"ch{n:02d}.{name}.parquet", frame)
    atomic_write_parquet(tmp_path / "tables" / "summary.parquet", pd.DataFrame({"x": [1]}))
    (tmp_path / "tables" / ".tmp-ch06.half.parquet").write_bytes(b"partial")
    loaded = {n: rp.load_results(tmp_path, n) for n in (5, 6)}
    assert {n: sorted(r) for n, r in loaded.items()} == {5: ["weierstrass_lipschitz"], 6: ["counter_example"]}
    pd.testing.assert_frame_equal(loaded[6]["counter_example"], cheap_results[6]["counter_example"])
    assert rp.load_results(tmp_path, 2) == {}
    table = rp.summary_table(loaded, mode="quick")
    assert table.equals(rp.summary_table(cheap_results, mode="quick"))
    text = rp.summary_markdown(table, mode="quick")
    assert text.count("\n| ch0") == len(table)
    assert "| compared |" in text and "quick mode" in text


def test_recorder_keeps_top_level_calls_only(monkeypatch, tmp_path: Path) -> None:
    """With STABLECORE_RECORD set, the experiment decorator stores the first top-level call per experiment of
    the recorded chapter, counts the top-level calls, and ignores nested calls and other chapters."""
    calls = []
    module = CHAPTERS[6]

    def lipschitz_aware_radii(cfg=None, *, seed=0):
        calls.append("inner")
        return pd.DataFrame({"id": ["in"], "value": [seed]})

    def counter_example(cfg=None, *, seed=0):
        calls.append("outer")
        module.lipschitz_aware_radii(seed=seed + 1)  # through the module, as the chapter's code would
        return pd.DataFrame({"id": ["out"], "value": [seed]})

    decorate = experiment(ch06.Ch06Config)
    fakes = {}
    for fn in (counter_example, lipschitz_aware_radii):
        fn.__module__ = module.__name__
        fakes[fn.__name__] = decorate(fn)
        monkeypatch.setattr(module, fn.__name__, fakes[fn.__name__])
    monkeypatch.setattr(module, "EXPERIMENTS", fakes)
    monkeypatch.setattr(recording, "_CALLS", {})
    monkeypatch.setattr(recording, "_KEPT", set())
    monkeypatch.delenv(recording.RECORD_ENV, raising=False)
    module.counter_example(seed=1)  # no active reproduction: nothing is written
    assert not any(tmp_path.iterdir())
    monkeypatch.setenv(recording.RECORD_ENV, f"{tmp_path}:6")
    module.counter_example(seed=3)
    module.counter_example(seed=7)
    ch05.weierstrass_lipschitz(ch05.Ch05Config.quick())  # another chapter's experiment: not recorded
    assert calls == ["outer", "inner"] * 3
    stored = rp.load_results(tmp_path, 6)
    assert sorted(stored) == ["counter_example"] and stored["counter_example"]["value"][0] == 3
    assert rp.load_results(tmp_path, 5) == {}
    kernel = json.loads((tmp_path / "kernels" / "ch06.json").read_text(encoding="utf-8"))
    assert kernel == {"calls": {"counter_example": 2}}
    rp._write_kernel_record(tmp_path, 6, 1.5)  # the parent adds the kernel's CPU time
    kernel = json.loads((tmp_path / "kernels" / "ch06.json").read_text(encoding="utf-8"))
    assert kernel == {"cpu_seconds": 1.5, "calls": {"counter_example": 2}}


def test_recorder_pickles_what_parquet_refuses(monkeypatch, tmp_path: Path) -> None:
    module = CHAPTERS[6]

    def counter_example(cfg=None, *, seed=0):
        return pd.DataFrame({"id": ["a", "b"], "mixed": [1, "x"]})  # pyarrow cannot type this column

    counter_example.__module__ = module.__name__
    fake = experiment(ch06.Ch06Config)(counter_example)
    monkeypatch.setattr(module, "EXPERIMENTS", {"counter_example": fake})
    monkeypatch.setattr(recording, "_CALLS", {})
    monkeypatch.setattr(recording, "_KEPT", set())
    monkeypatch.setenv(recording.RECORD_ENV, f"{tmp_path}:6")
    fake()
    assert (tmp_path / "objects" / "ch06.counter_example.pkl").is_file()
    pd.testing.assert_frame_equal(rp.load_results(tmp_path, 6)["counter_example"], fake.__wrapped__())


def test_record_env(monkeypatch, tmp_path: Path) -> None:
    run = tmp_path / "a:b" / "run"  # a colon in the path is fine: the chapter is after the last one
    monkeypatch.setenv(recording.RECORD_ENV, recording.record_env(run, 6)[recording.RECORD_ENV])
    assert recording.active_record() == (run, 6)
    monkeypatch.setenv(recording.RECORD_ENV, "")
    assert recording.active_record() is None
    for bad in ("runs/x", "runs/x:", ":6", "runs/x:six"):
        monkeypatch.setenv(recording.RECORD_ENV, bad)
        with pytest.raises(ValueError, match=recording.RECORD_ENV):
            recording.active_record()


def test_full_mode_documented_per_chapter() -> None:
    table = rp.full_mode_table()
    assert table["chapter"].tolist() == sorted(CHAPTERS)
    assert (table[["settings", "gpu_hours", "data"]].apply(lambda c: c.str.len() > 0)).all().all()
    docs = (Path(__file__).resolve().parents[1] / "docs" / "reproduce.md").read_text(encoding="utf-8")
    for n in CHAPTERS:
        assert CHAPTERS[n].NOTEBOOK in docs


# ----------------------------------------------------------------------------------- CLI
def test_cli_reports_and_exit_codes(monkeypatch, tmp_path: Path, capsys) -> None:
    seen = {}

    def fake(chapters, **kwargs):
        seen.update(chapters=chapters, **kwargs)
        summary = rp.summary_table({}, mode="quick", chapters=[6])
        outcomes = (
            rp.ChapterOutcome(1, "notebooks/ch01_background.ipynb", "missing", 0.0, "no notebook"),
            rp.ChapterOutcome(6, "notebooks/ch06_bridging_rs.ipynb", "failed", 1.5, "code cell 2: E: x"),
        )
        return rp.Reproduction(tmp_path, "quick", outcomes, summary)

    monkeypatch.setattr(rp, "reproduce", fake)
    assert (
        main(["reproduce", "--chapter", "6", "--chapter", "1", "--out", str(tmp_path), "--no-progress"]) == 1
    )
    assert seen["chapters"] == [1, 6] and seen["home"] == str(tmp_path) and seen["progress"] is False
    out = capsys.readouterr().out
    assert "code cell 2: E: x" in out and "no notebook yet for: notebooks/ch01_background.ipynb" in out
    assert main(["reproduce", "--chapter", "all", "--mode", "full", "--no-progress"]) == 1
    assert seen["chapters"] == "all" and seen["mode"] == "full"
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--chapter", "0"])
    assert exit_info.value.code == 2 and "--chapter" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- end to end
E2E_CHAPTER = 6  # one of the cheapest chapters in quick mode (14 s of kernel CPU time; docs/reproduce.md)
FAILING = "boom from a failing notebook"


def _failing_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os\nfrom stablecore.chapters import ch05_lvm_rs as ch05\n"
            "print('env:', os.environ['STABLECORE_MODE'], os.environ['STABLECORE_HOME'])"
        ),
        nbformat.v4.new_code_cell("weier = ch05.weierstrass_lipschitz(ch05.Ch05Config.for_mode())"),
        nbformat.v4.new_code_cell(f"raise RuntimeError({FAILING!r})"),
        nbformat.v4.new_code_cell("print('not reached')"),
    ]
    nbformat.write(nb, path)
    return path


def test_reproduce_one_chapter_end_to_end(tmp_path: Path) -> None:
    """The cheapest real chapter notebook, plus a failing stand-in for chapter 5 (reported, not fatal)."""
    chapter = E2E_CHAPTER
    bad = _failing_notebook(tmp_path / "bad.ipynb")
    result = rp.reproduce([chapter, 5], home=tmp_path / "home", progress=False, notebooks={5: bad})
    assert result.path.parent == tmp_path / "home" / "reproduce" and result.mode == "quick"
    outcomes = {o.chapter: o for o in result.chapters}
    ok, failed = outcomes[chapter], outcomes[5]
    assert ok.status == "ok" and ok.error == "" and ok.seconds > 0 and ok.cpu_seconds > 0
    assert failed.status == "failed" and FAILING in failed.error and failed.error.startswith("code cell 3:")
    # the executed notebook keeps its outputs; the HTML is self-contained (plotly.js inline)
    executed = nbformat.read(ok.executed, as_version=4)
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code) and any(c.outputs for c in code)
    html = ok.html.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html and "plotly.js v" in html and 'src="https://cdn.plot.ly' not in html
    first = nbformat.read(failed.executed, as_version=4).cells[0]  # the kernel's mode and run store
    assert first.outputs[0]["text"].strip() == f"env: quick {(tmp_path / 'home').resolve()}"
    last = nbformat.read(failed.executed, as_version=4).cells[-1]
    assert last.execution_count is None and last.outputs == []  # nothing ran after the failing cell
    # recorded experiments = what the notebook called; the summary is the chapter's comparison of them
    module = CHAPTERS[chapter]
    stored = rp.load_results(result.path, chapter)
    assert stored and set(stored) <= set(module.EXPERIMENTS) and set(ok.results) == set(stored)
    assert sorted(rp.load_results(result.path, 5)) == ["weierstrass_lipschitz"]
    expected = rp.summary_table(
        {chapter: stored, 5: rp.load_results(result.path, 5)},
        mode="quick",
        chapters=sorted([chapter, 5]),
        errors={5: failed.error},
    )
    pd.testing.assert_frame_equal(result.summary, expected)
    on_disk = pd.read_parquet(result.path / "tables" / "summary.parquet")
    pd.testing.assert_frame_equal(on_disk, result.summary)
    assert len(result.summary) == len(reported_numbers(chapter)) + len(reported_numbers(5))
    assert (result.summary.loc[result.summary["chapter"] == chapter, "comparison"] == "compared").any()
    assert (result.path / "summary.md").read_text(encoding="utf-8").count("| failed |") == 1
    manifest = json.loads((result.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "completed" and manifest["mode"] == "quick"
    assert [o["status"] for o in manifest["outcomes"]] == [outcomes[n].status for n in sorted(outcomes)]
    latest = rp.latest_reproduction(tmp_path / "home", mode="quick")
    assert latest is not None and latest.path == result.path
    pd.testing.assert_frame_equal(latest.tables["summary"], result.summary)
    assert rp.latest_reproduction(tmp_path / "home", mode="full") is None


def test_missing_notebook_is_reported_without_a_kernel(tmp_path: Path) -> None:
    result = rp.reproduce(1, home=tmp_path, progress=False, notebooks={1: tmp_path / "absent.ipynb"})
    (outcome,) = result.chapters
    assert outcome.status == "missing" and "absent.ipynb" in outcome.error and outcome.executed is None
    assert result.summary["id"].tolist() == reported_numbers(1)["id"].tolist()
    assert result.summary["ours"].isna().all()
    assert result.summary["note"].str.startswith("not computed in quick mode: the notebook did not run").all()
    manifest = json.loads((result.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "completed" and manifest["outcomes"][0]["status"] == "missing"


def test_a_reproduction_beats_its_heartbeat_while_cells_run(monkeypatch, tmp_path: Path) -> None:
    """A long reproduction refreshes its heartbeat, so `runs` does not show it as interrupted."""
    from stablecore.results import Run

    beats: list[str] = []
    original = Run.heartbeat

    def counting(self: Run) -> dict:
        beats.append(self.run_id)
        return original(self)

    monkeypatch.setattr(Run, "heartbeat", counting)
    monkeypatch.setattr(rp, "_HEARTBEAT_EVERY", -1.0)  # beat at every cell
    bad = _failing_notebook(tmp_path / "bad.ipynb")
    result = rp.reproduce(5, home=tmp_path / "home", progress=False, notebooks={5: bad})
    assert len(beats) >= 2 and set(beats) == {result.path.name}
    manifest = json.loads((result.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["heartbeat"] >= manifest["start_time"]
