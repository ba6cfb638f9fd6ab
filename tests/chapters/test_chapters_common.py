"""Declarative comparisons (stablecore.chapters.common): specs to comparison rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd
import pytest

import stablecore.chapters.reported as reported
from stablecore.chapters.common import (
    COMPARISON_COLUMNS,
    Compared,
    ModeConfig,
    cell,
    compared_ids,
    comparison_table,
    difference,
)

FRAME = pd.DataFrame({"id": ["a", "b", "c"], "value": [2.0, 5.0, math.nan], "time_ms": [1500.0, 0.0, 0.0]})
EXPERIMENTS = {"exp": None, "other": None}


@pytest.fixture
def fake_reported(monkeypatch) -> None:
    table = pd.DataFrame(
        {
            "id": ["r.value", "r.time", "r.diff", "r.nan", "r.untranscribed", "r.nospec", "r.nospec_nt"],
            "quantity": ["q"] * 7,
            "unit": ["", "s", "", "", "", "", ""],
            "status": ["transcribed", "recalled", "transcribed", "transcribed", "not transcribed",
                       "transcribed", "not transcribed"],
            "value": [2.5, 1.0, 3.0, 1.0, math.nan, 4.0, math.nan],
        }
    )  # fmt: skip
    monkeypatch.setattr(reported, "reported_numbers", lambda chapter=None: table)


SPECS = (
    Compared("r.value", "exp", cell("exp", "a", "value"), "note a"),
    Compared("r.time", "exp", cell("exp", "a", "time_ms", 1e-3)),
    Compared("r.diff", "exp", difference(cell("exp", "b", "value"), cell("exp", "a", "value")), "b - a"),
    Compared("r.nan", "exp", cell("exp", "c", "value"), "nan cell"),
    Compared("r.untranscribed", "other", cell("other", "a", "value"), "spec note", not_run="needs full mode"),
)


def test_getters() -> None:
    results = {"exp": FRAME}
    assert cell("exp", "a", "value")(results) == 2.0
    assert cell("exp", "a", "time_ms", 1e-3)(results) == pytest.approx(1.5)
    assert cell("exp", "c", "value")(results) is None  # NaN is not a measurement
    assert cell("exp", "z", "value")(results) is None
    assert cell("exp", "a", "nope")(results) is None
    assert cell("other", "a", "value")(results) is None
    assert difference(cell("exp", "b", "value"), cell("exp", "a", "value"))(results) == 3.0
    assert difference(cell("exp", "b", "value"), cell("exp", "c", "value"))(results) is None


def test_explain() -> None:
    spec = Compared("r", "exp", cell("exp", "z", "value"), "n")
    assert spec.explain({}) == "exp was not run"
    assert spec.explain({"exp": FRAME}) == "not in this configuration (n)"
    assert Compared("r", "exp", spec.value).explain({"exp": FRAME}) == "not in this configuration"
    assert Compared("r", "exp", spec.value, missing="m", not_run="nr").explain({}) == "nr"
    assert Compared("r", "exp", spec.value, missing="m", not_run="nr").explain({"exp": FRAME}) == "m"


def test_comparison_table_from_specs(fake_reported) -> None:
    table = comparison_table(9, EXPERIMENTS, {"exp": FRAME}, SPECS).set_index("id")
    assert list(table.reset_index().columns) == list(COMPARISON_COLUMNS)
    expected = {  # id: (measured, measured_by, comparison, note)
        "r.value": (2.0, "exp", "measured", "note a"),
        "r.time": (1.5, "exp", "measured", ""),
        "r.diff": (3.0, "exp", "measured", "b - a"),
        "r.nan": (None, "", "not measured", "not in this configuration (nan cell)"),
        "r.untranscribed": (None, "", "not transcribed", "spec note"),
        "r.nospec": (None, "", "not measured", "no experiment of this notebook measures it"),
        "r.nospec_nt": (None, "", "not transcribed", ""),
    }
    for rid, (measured, by, comparison, note) in expected.items():
        row = table.loc[rid]
        assert math.isnan(row["measured"]) if measured is None else row["measured"] == pytest.approx(measured)
        assert (row["measured_by"], row["comparison"], row["note"]) == (by, comparison, note), rid
    explained = comparison_table(9, EXPERIMENTS, {}, SPECS, explain_untranscribed=True).set_index("id")
    assert explained.loc["r.untranscribed", "note"] == "needs full mode"
    assert explained.loc["r.value", "note"] == "exp was not run"


def test_getter_note_and_callable_measure(fake_reported) -> None:
    spec = Compared("r.value", "exp", lambda results: (7.0, "computed note"), "static")
    row = comparison_table(9, EXPERIMENTS, {}, [spec]).set_index("id").loc["r.value"]
    assert (row["measured"], row["measured_by"], row["note"]) == (7.0, "exp", "computed note")
    table = comparison_table(9, EXPERIMENTS, {}, lambda results, rid: (1.0, "fn", rid))
    assert (table["measured_by"] == "fn").all() and list(table["note"]) == list(table["id"])
    with pytest.raises(ValueError, match="unknown experiment"):
        comparison_table(9, EXPERIMENTS, {"nope": FRAME}, SPECS)


def test_compared_ids(fake_reported) -> None:
    assert compared_ids(9, EXPERIMENTS, SPECS) == ["r.value", "r.time", "r.diff", "r.nan", "r.untranscribed"]
    assert compared_ids(9, EXPERIMENTS, SPECS, "other") == ["r.untranscribed"]
    with pytest.raises(ValueError, match="experiment"):
        compared_ids(9, EXPERIMENTS, SPECS, "nope")


@dataclass(frozen=True)
class _Cfg(ModeConfig):
    mode: str = "quick"
    size: int = 1

    @classmethod
    def quick(cls, **overrides):
        return replace(cls(), **overrides)

    @classmethod
    def full(cls, **overrides):
        return replace(cls(mode="full", size=100), **overrides)


def test_mode_config_for_mode_picks_quick_or_full(monkeypatch):
    assert _Cfg.for_mode("quick", size=3) == _Cfg(size=3)
    assert _Cfg.for_mode("full") == _Cfg(mode="full", size=100)
    monkeypatch.setenv("STABLECORE_MODE", "full")
    assert _Cfg.for_mode().size == 100
    monkeypatch.delenv("STABLECORE_MODE")
    assert _Cfg.for_mode() == _Cfg()
    with pytest.raises(ValueError):
        _Cfg.for_mode("medium")
    with pytest.raises(NotImplementedError, match="quick"):
        ModeConfig.for_mode("quick")


def test_every_chapter_config_shares_for_mode():
    from stablecore.chapters import CHAPTERS

    for module in CHAPTERS.values():
        configs = [v for k, v in vars(module).items() if k.startswith("Ch") and k.endswith("Config")]
        assert len(configs) == 1, module.__name__
        assert issubclass(configs[0], ModeConfig) and "for_mode" not in vars(configs[0])
