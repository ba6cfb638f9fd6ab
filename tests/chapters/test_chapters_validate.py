"""The chapters' shared argument checks (stablecore.chapters.validate): accepted values come back, refused
ones raise ValueError naming the argument."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from stablecore.chapters import validate as v


@pytest.mark.parametrize("value", [0, 1.5, -2, 1e300])
def test_is_number_accepts(value) -> None:
    assert v.is_number(value)


@pytest.mark.parametrize("value", [True, math.nan, math.inf, "1", None, [1]])
def test_is_number_refuses(value) -> None:
    assert not v.is_number(value)


def test_is_int() -> None:
    assert v.is_int(1) and v.is_int(0, minimum=0) and not v.is_int(0)
    assert not v.is_int(True) and not v.is_int(2.0) and not v.is_int("3")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: v.check_mode("fast"), "mode must be 'quick' or 'full', got 'fast'"),
        (lambda: v.check_int(0, "steps"), "steps must be an int >= 1, got 0"),
        (lambda: v.check_int(True, "steps", minimum=0), "steps must be an int >= 0, got True"),
        (lambda: v.check_int(2, "n", minimum=3), "n must be an int >= 3, got 2"),
        (lambda: v.check_optional_int(0, "num_threads"), "num_threads must be None or an int >= 1, got 0"),
        (lambda: v.check_number(0.0, "lr"), "lr must be a finite number > 0, got 0.0"),
        (lambda: v.check_number(math.inf, "lr"), "lr must be a finite number > 0, got inf"),
        (lambda: v.check_number(-1, "noise", strict=False), "noise must be a finite number >= 0, got -1"),
        (lambda: v.check_probability(1.0, "alpha"), r"alpha must be a number in \(0, 1\), got 1.0"),
        (lambda: v.check_number_tuple((), "eps"), r"eps must be a non-empty tuple of finite numbers >= 0"),
        (lambda: v.check_number_tuple((0.0,), "s", strict=True), "s must be .* finite numbers > 0"),
        (lambda: v.check_number_tuple([0.1], "eps"), "eps must be a non-empty tuple"),
        (lambda: v.check_int_tuple((1, 0), "hidden"), r"hidden must be .* ints >= 1, got \(1, 0"),
        (lambda: v.check_int_tuple((2, 1), "ns", minimum=2), "ns must be a non-empty tuple of ints >= 2"),
        (lambda: v.check_choice("x", "init", ("a", "b")), r"init must be one of \('a', 'b'\), got 'x'"),
        (lambda: v.check_choices(("a", "x"), "maps", ("a", "b")), "maps must be a non-empty tuple of names"),
        (lambda: v.check_choices(("a", "a"), "maps", ("a",), unique=True), "maps must not repeat a name"),
    ],
)  # fmt: skip
def test_checks_refuse_naming_the_argument(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_checks_return_the_value() -> None:
    assert v.check_mode("full") == "full"
    assert v.check_int(3, "n") == 3 and v.check_optional_int(None, "t") is None
    assert v.check_number(0, "x", strict=False) == 0 and v.check_probability(0.5, "p") == 0.5
    assert v.check_number_tuple((0.0, 1), "eps") == (0.0, 1)
    assert v.check_int_tuple((1, 2), "h") == (1, 2)
    assert v.check_choice("a", "c", ("a",)) == "a" and v.check_choices(("a", "a"), "c", ("a",)) == ("a", "a")


def test_attribute_checks_name_the_field() -> None:
    cfg = SimpleNamespace(a=1, b=0, lr=0.1, noise=-0.5)
    v.check_ints(cfg, ("a",))
    v.check_ints(cfg, ("a", "b"), minimum=0)
    with pytest.raises(ValueError, match="b must be an int >= 1"):
        v.check_ints(cfg, ("a", "b"))
    v.check_numbers(cfg, ("lr",))
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        v.check_numbers(cfg, ("lr", "noise"), strict=False)


def test_check_frame() -> None:
    frame = pd.DataFrame({"a": [1], "b": [2]})
    assert v.check_frame(frame, ("a",), "producer") is frame
    with pytest.raises(ValueError, match=r"table is missing columns \['c'\] .*returned by producer"):
        v.check_frame(frame, ("a", "c"), "producer", "table")
    with pytest.raises(TypeError, match="frame must be the DataFrame returned by producer, got dict"):
        v.check_frame({"a": [1]}, ("a",), "producer")
