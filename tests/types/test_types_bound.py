import math

import pytest

from stablecore.types import Bound, combine_kinds, product_bound, sum_bound


def test_bound_fields_and_float_value():
    b = Bound(2, "upper_bound", "gram", n_iter=3, history=[4, 3, 2])
    assert isinstance(b.value, float) and b.value == 2.0
    assert b.history == (4.0, 3.0, 2.0)
    assert b.certifiable
    assert float(b) == 2.0


@pytest.mark.parametrize("kind", ["lower_bound", "estimate"])
def test_non_certifiable_kinds_refused(kind):
    b = Bound(1.0, kind, "power")
    assert not b.certifiable
    with pytest.raises(ValueError, match=kind):
        b.require_certifiable("L")


def test_bound_validation():
    with pytest.raises(ValueError, match="kind"):
        Bound(1.0, "approx")
    with pytest.raises(ValueError, match="NaN"):
        Bound(math.nan, "exact")
    with pytest.raises(ValueError, match=">= 0"):
        Bound(-1.0, "upper_bound")
    with pytest.raises(TypeError, match="value"):
        Bound("x", "exact")
    with pytest.raises(ValueError, match="n_iter"):
        Bound(1.0, "exact", n_iter=-1)
    assert Bound(math.inf, "upper_bound").value == math.inf


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (["exact"], "exact"),
        (["exact", "exact"], "upper_bound"),
        (["exact", "upper_bound"], "upper_bound"),
        (["upper_bound", "estimate"], "estimate"),
        (["lower_bound"], "lower_bound"),
        (["lower_bound", "lower_bound"], "estimate"),
        (["lower_bound", "upper_bound"], "estimate"),
        (["lower_bound", "exact"], "estimate"),
        (["estimate"], "estimate"),
    ],
)
def test_combine_kinds(kinds, expected):
    assert combine_kinds(kinds) == expected


def test_product_and_sum():
    a, b = Bound(2.0, "exact", "svd"), Bound(3.0, "upper_bound", "gram", n_iter=4)
    p = product_bound([a, b])
    assert p.value == math.nextafter(6.0, math.inf) and p.kind == "upper_bound" and p.n_iter == 4
    s = sum_bound([a, b])
    assert 5.0 < s.value <= 5.0 * (1 + 1e-15) and s.kind == "upper_bound"
    assert (a * b).value == p.value and (a + b).value == s.value
    assert product_bound([Bound(2.0, "lower_bound"), Bound(3.0, "lower_bound")]).kind == "estimate"
    assert (a * Bound(1.0, "estimate")).kind == "estimate"
    # rounding never lowers an upper bound: the float product of a, b, c is rounded up
    factors = [Bound(0.1, "upper_bound"), Bound(0.7, "upper_bound"), Bound(3.3, "upper_bound")]
    from fractions import Fraction

    exact_product = Fraction(0.1) * Fraction(0.7) * Fraction(3.3)
    assert Fraction(product_bound(factors).value) >= exact_product
    with pytest.raises(ValueError, match="non-empty"):
        product_bound([])
    with pytest.raises(TypeError, match="Bound"):
        product_bound([a, 2.0])


def test_frozen():
    b = Bound(1.0, "exact")
    with pytest.raises(AttributeError):
        b.value = 2.0
