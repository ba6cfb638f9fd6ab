"""URL query-parameter values: every non-finite, overflowing, empty or garbage number falls back to the
default (NaN would pass a ``lo <= v <= hi`` check written as two ``<``/``>`` refusals), valid values
parse to the default's type, and the errors name the parameter."""

import math

import pytest

from stablecore.explore import MAX_INT, param_value, parse_param

BAD_NUMBERS = [
    "nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "-Infinity", "1e999", "-1e999", "1e99999",
    "", " ", "garbage", "0.5x", "0x10", "1_0", "1,5", "1e", "e5", ".", "--1", "٣", "None", "[0.5]",
]  # fmt: skip


@pytest.mark.parametrize("raw", BAD_NUMBERS)
def test_bad_floats_fall_back_to_the_default(raw):
    assert param_value("sigma", raw, 0.25, lo=0.05, hi=1.0) == 0.25
    assert param_value("offset", raw, 0.0) == 0.0  # no bounds at all: still refused
    with pytest.raises(ValueError, match="'sigma'"):
        parse_param("sigma", raw, 0.25)


@pytest.mark.parametrize("raw", [*BAD_NUMBERS, "2.0", "2e3", str(2**53), str(-(2**53)), "9" * 400])
def test_bad_ints_fall_back_to_the_default(raw):
    assert param_value("epochs", raw, 15, lo=1, hi=60) == 15
    assert param_value("seed", raw, 0) == 0  # no bounds: huge ints refused too
    with pytest.raises(ValueError, match="'epochs'"):
        parse_param("epochs", raw, 15)


@pytest.mark.parametrize(
    ("raw", "lo", "hi"),
    [("0.01", 0.05, 1.0), ("1.0000001", 0.05, 1.0), ("-0.0001", 0.0, 3.0), ("1e308", 0.0, 3.0)],
)
def test_floats_out_of_range_fall_back(raw, lo, hi):
    assert param_value("x", raw, 0.5, lo=lo, hi=hi) == 0.5
    with pytest.raises(ValueError, match=r"'x' must be in \["):
        parse_param("x", raw, 0.5, lo=lo, hi=hi)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.5", 0.5), (" 0.05 ", 0.05), ("1", 1.0), ("1.", 1.0), (".25", 0.25), ("2.5e-1", 0.25), ("+1E0", 1.0)],
)
def test_valid_floats_parse(raw, expected):
    value = parse_param("sigma", raw, 0.25, lo=0.05, hi=1.0)
    assert type(value) is float and value == expected and math.isfinite(value)


@pytest.mark.parametrize(("raw", "expected"), [("3", 3), ("+7", 7), (" 60 ", 60), ("1", 1), ("007", 7)])
def test_valid_ints_parse(raw, expected):
    value = parse_param("epochs", raw, 15, lo=1, hi=60)
    assert type(value) is int and value == expected


def test_int_bounds_and_the_largest_int():
    assert parse_param("seed", str(MAX_INT), 0) == MAX_INT == 2**53 - 1
    assert parse_param("seed", str(-MAX_INT), 0) == -MAX_INT
    assert param_value("epochs", "0", 15, lo=1, hi=60) == 15
    assert param_value("epochs", "61", 15, lo=1, hi=60) == 15
    assert param_value("n", "300", 500, (200, 500, 1000)) == 500
    assert parse_param("n", "1000", 500, (200, 500, 1000)) == 1000


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("0", False),
    ],
)
def test_bools(raw, expected):
    assert parse_param("lvm", raw, True) is expected


@pytest.mark.parametrize("raw", ["nan", "", "2", "maybe", "inf"])
def test_bad_bools_fall_back_to_the_default(raw):
    assert param_value("lvm", raw, True) is True
    assert param_value("ls_log", raw, False) is False


def test_text_lists_and_missing_values():
    assert param_value("k", None, 0.25) == 0.25  # missing
    assert parse_param("family", "sll", "mlp", ("mlp", "sll")) == "sll"
    assert param_value("family", "nan", "mlp", ("mlp", "sll")) == "mlp"
    assert parse_param("path", " a b ", "") == " a b "  # text is kept as typed
    assert parse_param("status", "completed,bogus,,failed", ["completed"], ("completed", "failed")) == [
        "completed",
        "failed",
    ]
    assert parse_param("status", "", ["completed"], ("completed",)) == []
    assert parse_param("sigma", ["0.1", "0.5"], 0.25) == 0.5  # repeated parameter: the last one
    assert param_value("sigma", 0.5, 0.25) == 0.25  # not text
