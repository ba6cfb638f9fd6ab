"""Reported numbers of the chapters: ids, statuses, table shape, the data files, and transcription against
the project's chapter notes ``docs/chapters/chNN.md`` (in the repository, so nothing here is skipped)."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from importlib import resources
from pathlib import Path

import pandas as pd
import pytest

from stablecore.chapters import CHAPTERS, STATUSES, ReportedNumber, get_reported, reported_numbers
from stablecore.chapters.reported import (
    DATA_COLUMNS,
    load_reported,
    number,
    parse_reported,
    parse_written,
)

#: The chapter notes, whose section numbers (§3.1(a), §7.2 ...) the data files' ``source`` column cites.
CHAPTER_NOTES = Path(__file__).resolve().parents[2] / "docs" / "chapters"
NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e-?\d+)?")

#: chapter -> (rows, sha256 of ``reported_numbers(chapter)`` as JSON rows, see :func:`_digest`), first
#: frozen from the chapter modules' hand-written ``REPORTED`` tuples before the numbers moved to
#: ``reported/chNN.csv``. Re-frozen once after the source rename (issue 24): the ``source`` column (and the
#: notes of ``ch02.zero.c4x3_k3_n8.circ_n10`` and the ch04 rows) cited private notes outside the repository
#: and now cite the chapter notes, ``docs/chapters/chNN.md §N``. A one-off check compared every row before
#: and after, column by column: id, chapter, quantity, value, unit and status were unchanged, and source and
#: note differed only by that rename.
FROZEN: dict[int, tuple[int, str]] = {
    1: (1, "7d156c1460089811d85e6aca476c63929076911e2d236edf5dc56dba8fc660c3"),
    2: (88, "ad7dffe5abc46522088eb76d50bdb46af14fe070f06c99d3f48917b0cfb00516"),
    3: (135, "f36d234c20e1cc5063a26692c517b00728d098e6031d06ecdb7e93dcea6304d9"),
    4: (24, "28d7566dc29b057dbbb8c6cff0495f1697c5261eccdd50376727b83491aa03b3"),
    5: (40, "656210e814557143c7d0ee77766dbb6dc08d830dbe3118c90870b1f2c2a28c10"),
    6: (43, "fe66751295f2473019620f0f369e90b0c3fb24d4b2fedf9e811eca4a933f7d3d"),
}


@pytest.fixture(scope="module")
def thesis() -> str:
    """The chapter notes ``docs/chapters/ch01.md`` ... ``ch06.md``, concatenated (in the repository)."""
    notes = sorted(CHAPTER_NOTES.glob("ch0*.md"))
    assert [n.name for n in notes] == [f"ch{c:02d}.md" for c in sorted(CHAPTERS)], notes
    return "\n".join(n.read_text(encoding="utf-8") for n in notes)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return reported_numbers()


def _value(id: str) -> float:
    value = get_reported(id).value
    assert value is not None, id
    return value


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _digest(frame: pd.DataFrame) -> str:
    rows = [
        [None if isinstance(v, float) and math.isnan(v) else v for v in row]
        for row in frame.itertuples(index=False)
    ]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


def _data_rows(chapter: int) -> list[dict[str, str]]:
    text = (
        resources.files("stablecore.chapters").joinpath("reported", f"ch{chapter:02d}.csv").read_text("utf-8")
    )
    return list(csv.DictReader(text.splitlines()))


def test_chapter_modules() -> None:
    assert sorted(CHAPTERS) == [1, 2, 3, 4, 5, 6]
    for n, module in CHAPTERS.items():
        assert module.CHAPTER == n
        assert module.TITLE
        assert re.fullmatch(rf"notebooks/ch{n:02d}_\w+\.ipynb", module.NOTEBOOK)
        assert (
            module.NOTEBOOK.removeprefix("notebooks/").removesuffix(".ipynb")
            == module.__name__.split(".")[-1]
        )
        assert isinstance(module.REPORTED, tuple) and module.REPORTED
        assert all(isinstance(r, ReportedNumber) and r.chapter == n for r in module.REPORTED)


def test_moved_numbers_equal_the_frozen_code_copy() -> None:
    """Moving the numbers from code to ``reported/chNN.csv`` changed no field of any row (re-frozen once after
    the source rename, see :data:`FROZEN`)."""
    assert {n: (len(reported_numbers(n)), _digest(reported_numbers(n))) for n in CHAPTERS} == FROZEN


def test_data_files_one_per_chapter_and_valid() -> None:
    folder = resources.files("stablecore.chapters").joinpath("reported")
    assert sorted(f.name for f in folder.iterdir() if f.name.endswith(".csv")) == [
        f"ch{n:02d}.csv" for n in sorted(CHAPTERS)
    ]
    ids: list[str] = []
    for n, module in CHAPTERS.items():
        rows = _data_rows(n)
        assert rows and list(rows[0]) == list(DATA_COLUMNS)
        for row in rows:
            assert row["status"] in STATUSES, row["id"]
            if row["status"] == "not transcribed":
                assert row["value"] == "", row["id"]
            else:
                assert math.isfinite(parse_written(row["value"])), row["id"]
        ids += [row["id"] for row in rows]
        assert module.REPORTED == load_reported(n)  # the modules read their numbers, they do not hold them
    assert len(ids) == len(set(ids))


_HEADER = ",".join(DATA_COLUMNS)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("id,quantity,value\nch02.x,q,1", "columns"),
        (f"{_HEADER}\nch02.x,q,,1,s,transcribed,\nch02.x,q,,2,s,transcribed,", "duplicate ids"),
        (f"{_HEADER}\nch02.x,q,,,s,transcribed,", "value is empty"),
        (f"{_HEADER}\nch02.x,q,,1,s,not transcribed,", "has no value"),
        (f"{_HEADER}\nch02.x,q,,1,s,guessed,", "status"),
        (f"{_HEADER}\nch03.x,q,,1,s,transcribed,", "ch02"),
    ],
)
def test_parse_reported_refuses_malformed_files(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_reported(text, 2)


def test_parse_reported_keeps_the_written_form() -> None:
    text = f'{_HEADER}\nch02.x,"q, with comma",%,−3.2e-2,s,recalled,n\nch02.y,q2,,,s2,not transcribed,'
    x, y = parse_reported(text, 2)
    assert (x.quantity, x.unit, x.value, x.status, x.note) == ("q, with comma", "%", -0.032, "recalled",
                                                               'written "−3.2e-2"; n')  # fmt: skip
    assert (y.value, y.status, y.note) == (None, "not transcribed", "")
    with pytest.raises(ValueError, match=r"ch09\.csv"):
        load_reported(9)
    with pytest.raises(ValueError, match="chapter must be an int"):
        load_reported(True)


def test_ids_unique_and_prefixed(table: pd.DataFrame) -> None:
    assert table["id"].is_unique
    for id, chapter in zip(table["id"], table["chapter"]):
        assert id.startswith(f"ch{chapter:02d}."), id
        assert re.fullmatch(r"ch\d{2}(\.[A-Za-z0-9_]+)+", id), id


def test_status_consistent_with_value(table: pd.DataFrame) -> None:
    assert set(table["status"]) <= set(STATUSES)
    missing = table["status"] == "not transcribed"
    assert table.loc[missing, "value"].isna().all()
    assert table.loc[~missing, "value"].notna().all()
    assert (table["source"].str.len() > 0).all() and (table["quantity"].str.len() > 0).all()


def test_columns_and_dtypes(table: pd.DataFrame) -> None:
    assert list(table.columns) == ["id", "chapter", "quantity", "value", "unit", "source", "status", "note"]
    assert pd.api.types.is_integer_dtype(table["chapter"])
    assert pd.api.types.is_float_dtype(table["value"])
    for column in ("id", "quantity", "unit", "source", "status", "note"):
        assert pd.api.types.is_string_dtype(table[column]), column
    assert len(table) == sum(len(m.REPORTED) for m in CHAPTERS.values())


def test_per_chapter_selection(table: pd.DataFrame) -> None:
    for n in CHAPTERS:
        part = reported_numbers(n)
        assert len(part) > 0 and (part["chapter"] == n).all()
        assert part["id"].tolist() == table.loc[table["chapter"] == n, "id"].tolist()
    assert (reported_numbers(4)["status"] == "not transcribed").all()  # curvature: content unknown


@pytest.mark.parametrize("chapter", [0, 7, "2", True, 2.0])
def test_bad_chapter(chapter: object) -> None:
    with pytest.raises(ValueError, match=r"chapter.*\[1, 2, 3, 4, 5, 6\]"):
        reported_numbers(chapter)  # type: ignore[arg-type]


def test_bad_id() -> None:
    with pytest.raises(ValueError, match=r"ch02\.nope"):
        get_reported("ch02.nope")
    with pytest.raises(KeyError):
        get_reported("")


def test_get_reported_roundtrip(table: pd.DataFrame) -> None:
    r = get_reported("ch02.lip4conv.dense500x400.svd")
    assert (r.chapter, r.value, r.status) == (2, 41.9902, "transcribed")
    assert set(table["id"]) == {r.id for m in CHAPTERS.values() for r in m.REPORTED}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"status": "guessed"}, ValueError),
        ({"value": None}, ValueError),
        ({"status": "not transcribed"}, ValueError),
        ({"id": ""}, ValueError),
        ({"id": "ch03.x"}, ValueError),
        ({"value": math.nan}, ValueError),
        ({"value": "1.0"}, TypeError),
    ],
)
def test_reported_number_validation(kwargs: dict[str, object], error: type[Exception]) -> None:
    args: dict[str, object] = {
        "id": "ch02.x",
        "chapter": 2,
        "quantity": "q",
        "value": 1.0,
        "unit": "",
        "source": "s",
        "status": "transcribed",
    }
    with pytest.raises(error):
        ReportedNumber(**{**args, **kwargs})  # type: ignore[arg-type]
    assert ReportedNumber(**{**args, "value": None, "status": "not transcribed"}).value is None  # type: ignore[arg-type]


def test_written_form_is_kept() -> None:
    assert (
        parse_written("−3.2e-2") == -0.032 and parse_written("+0.026") == 0.026 and parse_written("≈0") == 0
    )
    r = number(2, "ch02.x", "q", "1.0000", "", "s")
    assert r.value == 1.0 and 'written "1.0000"' in r.note
    assert number(2, "ch02.x", "q", "83.092", "", "s").note == ""


def test_every_value_occurs_in_thesis(thesis: str, table: pd.DataFrame) -> None:
    """No invented number: each value (up to sign) is a number written somewhere in the chapter notes."""
    written = {float(t) for t in NUMBER.findall(thesis)}
    for id, value in zip(table["id"], table["value"]):
        if not math.isnan(value):
            assert any(math.isclose(abs(value), w, rel_tol=1e-12) for w in written), id


def test_lip4conv_notebook_table(thesis: str) -> None:
    assert _value("ch02.lip4conv.dense500x400.svd") == float(
        re.search(r"dense 500×400 \| SVD ([\d.]+)", thesis)[1]
    )
    ref = re.search(r"Sedghi \(exact circular\) ([\d.]+); Ryu \(PI zero-pad, 100 it\.\) ([\d.]+)", thesis)
    assert _value("ch02.lip4conv.conv64_k5_n12.sedghi") == float(ref[1])
    assert _value("ch02.lip4conv.conv64_k5_n12.ryu100") == float(ref[2])
    for key, label in (
        ("lipgrid50", "LipGrid (Araujo 2021), 50 samples"),
        ("singla50", "Fantastic Four (Singla 2021), 50 it."),
        ("gi5_circular", "GI circular (`delattre2023`), 5 it."),
    ):
        m = re.search(re.escape(label) + r" \| \**([+−][\d.]+)\** \| ([\d.]+) ms", thesis)
        assert _value(f"ch02.lip4conv.conv64_k5_n12.{key}.diff") == parse_written(m[1]), key
        assert _value(f"ch02.lip4conv.conv64_k5_n12.{key}.time") == float(m[2]), key
    m = re.search(r"5 it\. \| ([+−][\d.]+) vs Sedghi, ([+−][\d.]+) vs Ryu \| ([\d.]+) ms", thesis)
    assert _value("ch02.lip4conv.conv64_k5_n12.norm2toep5.diff_sedghi") == parse_written(m[1])
    assert _value("ch02.lip4conv.conv64_k5_n12.norm2toep5.diff_ryu") == parse_written(m[2])
    assert _value("ch02.lip4conv.conv64_k5_n12.norm2toep5.time") == float(m[3])


def test_zero_padding_table(thesis: str) -> None:
    rows = re.findall(r"^\| (c_out=.+?, n=\d+) \| (.+) \|$", thesis, flags=re.M)
    assert len(rows) == 2
    for (_, cells), key in zip(rows, ("c4x3_k3_n8", "c5x5_k3_n6")):
        exact, *bounds = (float(c) for c in _cells(cells))
        assert _value(f"ch02.zero.{key}.exact") == exact
        assert [_value(f"ch02.zero.{key}.norm2toep_t{t}") for t in range(1, 5)] == bounds


def test_cohen_table(thesis: str) -> None:
    lines = re.findall(r"^- σ = ([\d.]+): ([\d. /]+)$", thesis, flags=re.M)
    assert [s for s, _ in lines] == ["0.12", "0.25", "0.50", "1.00"]
    radii = ("0", "0_25", "0_5", "0_75", "1_0", "1_25", "1_5")
    for sigma, cells in lines:
        values = [float(c) for c in cells.split(" / ")]
        sid = sigma.replace(".", "_")
        assert [_value(f"ch05.cohen19.cifar10.sigma{sid}.r{r}") for r in radii] == values, sigma


def test_prach_equal_budget_table(thesis: str) -> None:
    rows = re.findall(r"^\| (AOL|CPL|SLL|SOC|Cayley|BCOP) \| (.+) \|$", thesis, flags=re.M)
    assert len(rows) == 6
    for layer, cells in rows:
        *pairs, speed = _cells(cells)
        for size, pair in zip(("xs", "s", "m", "l"), pairs):
            clean, cert = (float(x) for x in pair.split(" / "))
            prefix = f"ch03.prach24.cifar10.{layer.lower()}.{size}"
            assert (_value(f"{prefix}.clean"), _value(f"{prefix}.eps36")) == (clean, cert)
        assert _value(f"ch03.prach24.cifar10.{layer.lower()}.m.train_img_per_s") == float(speed)


def test_sll_and_cpl_tables(thesis: str) -> None:
    metrics = ("clean", "eps36", "eps72", "eps108", "eps255")
    for label, key, status in (
        ("SLL Medium", "medium", "recalled"),
        ("SLL Large", "large", "recalled"),
        ("SLL X-Large", "xlarge", "transcribed"),
    ):
        cells = _cells(re.search(rf"^\| {label} \| (.+) \|$", thesis, flags=re.M)[1])
        for metric, cell in zip(metrics, cells[:5]):
            r = get_reported(f"ch03.sll23.cifar10.{key}.{metric}")
            assert (r.value, r.status) == (float(cell), status)
    cells = _cells(re.search(r"^\| CIFAR-10 CPL-XL \| (.+) \|$", thesis, flags=re.M)[1])
    assert _value("ch03.cpl22.cifar10.xl.params") == float(cells[0].rstrip("M"))
    assert [_value(f"ch03.cpl22.cifar10.xl.{m}") for m in metrics[:4]] == [float(c) for c in cells[1:]]


def test_monolip_table(thesis: str) -> None:
    rows = re.findall(r"^\s*\| (0\.\d\d) \| (\d\.\d{3}) \| (.+) \|$", thesis, flags=re.M)
    monolip = [r for r in rows if len(_cells(r[2])) == 5]
    assert [p for p, _, _ in monolip] == ["0.60", "0.80", "0.90", "0.99"]
    for p, cohen, cells in monolip:
        pid = p.replace(".", "_")
        assert _value(f"ch06.radius.sigma0_5.pA{pid}.cohen") == float(cohen)
        got = [
            _value(f"ch06.radius.sigma0_5.pA{pid}.monolip.L{lip}") for lip in ("0_5", "1", "2", "10", "100")
        ]
        assert got == [float(c) for c in _cells(cells)], p
    ode = [r for r in rows if len(_cells(r[2])) == 4]
    for p, cohen, cells in ode:  # | p_A | Cohen | R_monoLip 0.5 | R_ode 0.5 | R_monoLip 1 | R_ode 1 |
        pid = p.replace(".", "_")
        mono05, ode05, mono1, ode1 = (float(c) for c in _cells(cells))
        assert _value(f"ch06.radius.sigma0_5.pA{pid}.cohen") == float(cohen)
        assert _value(f"ch06.radius.sigma0_5.pA{pid}.monolip.L0_5") == mono05
        assert _value(f"ch06.radius.sigma0_5.pA{pid}.monolip.L1") == mono1
        assert (
            _value(f"ch06.radius.sigma0_5.pA{pid}.ode.L0_5"),
            _value(f"ch06.radius.sigma0_5.pA{pid}.ode.L1"),
        ) == (
            ode05,
            ode1,
        )
    assert len(ode) == 3


def test_counter_example_and_dense_numbers(thesis: str) -> None:
    m = re.search(r"pair covers ([\d.]+) and the Bonferroni-over-K pair ([\d.]+)", thesis)
    assert _value("ch06.counter_example.p45_45_10.uncorrected_coverage") == float(m[1])
    assert _value("ch06.counter_example.p45_45_10.bonferroni_coverage") == float(m[2])
    assert _value("ch02.gi_dense.gauss500x400.sigma1") == float(re.search(r"σ₁ = ([\d.]+):", thesis)[1])
    for t in (1, 3, 5, 7, 9, 10):
        m = re.search(rf"^\| GI, T = {t} \| ([+−][\d.e-]+) \|$", thesis, flags=re.M)
        assert _value(f"ch02.gi_dense.gauss500x400.gi_t{t}.rel_error") == parse_written(m[1]), t
