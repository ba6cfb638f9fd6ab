"""Composition rules at the edges: 0·inf, sums with inf, products that under- or overflow midway."""

import math
from fractions import Fraction

import pytest

from stablecore.types import Bound, product_bound, sum_bound

INF = math.inf


@pytest.mark.parametrize("zero_kind", ["exact", "upper_bound"])
@pytest.mark.parametrize("other_kind", ["exact", "upper_bound", "lower_bound", "estimate"])
def test_a_certified_zero_factor_makes_the_composition_constant(zero_kind, other_kind):
    # L(g) ≤ 0 means g is constant, so f∘g (and g∘f) is constant: L = 0, whatever L(f) is
    zero, other = Bound(0.0, zero_kind), Bound(INF, other_kind)
    for b in (zero * other, other * zero, product_bound([other, zero, Bound(3.0, "upper_bound")])):
        assert b.value == 0.0
        assert b.kind == "exact" and b.certifiable


@pytest.mark.parametrize("zero_kind", ["lower_bound", "estimate"])
def test_an_uncertified_zero_times_inf_is_an_infinite_estimate(zero_kind):
    b = Bound(0.0, zero_kind) * Bound(INF, "upper_bound")
    assert b.value == INF and b.kind == "estimate"
    # with finite factors it is the plain product
    b = Bound(0.0, zero_kind) * Bound(2.0, "upper_bound")
    assert b.value == 0.0 and b.kind == "estimate"


def test_inf_upper_bounds_propagate():
    assert (Bound(2.0, "upper_bound") * Bound(INF, "upper_bound")).value == INF
    s = Bound(2.0, "exact") + Bound(INF, "upper_bound")
    assert s.value == INF and s.kind == "upper_bound"


def test_sum_past_the_float_range_is_inf_not_an_overflow_error():
    s = Bound(1e308, "upper_bound") + Bound(1e308, "upper_bound")
    assert s.value == INF and s.kind == "upper_bound"
    # estimates may be negative: an intermediate overflow of fsum with a finite true sum
    e = sum_bound([Bound(1e308, "estimate"), Bound(1e308, "estimate"), Bound(-1e308, "estimate")])
    assert e.value == 1e308 and e.kind == "estimate"


def test_sum_of_plus_and_minus_inf_estimates_is_refused_clearly():
    with pytest.raises(ValueError, match="inf"):
        sum_bound([Bound(INF, "estimate"), Bound(-INF, "estimate")])


def test_product_does_not_underflow_midway():
    factors = [Bound(1e-200, "upper_bound"), Bound(1e-200, "upper_bound"), Bound(1e300, "upper_bound")]
    b = product_bound(factors)
    truth = Fraction(1e-200) * Fraction(1e-200) * Fraction(1e300)
    assert Fraction(b.value) >= truth
    assert b.value == pytest.approx(1e-100, rel=1e-14)


def test_product_does_not_overflow_midway():
    factors = [Bound(1e200, "upper_bound"), Bound(1e200, "upper_bound"), Bound(1e-300, "upper_bound")]
    b = product_bound(factors)
    assert Fraction(b.value) >= Fraction(1e200) * Fraction(1e200) * Fraction(1e-300)
    assert b.value == pytest.approx(1e100, rel=1e-14)


def test_subnormal_products_are_rounded_up():
    b = product_bound([Bound(3e-200, "upper_bound"), Bound(7e-124, "upper_bound")])
    assert 0 < b.value < 2.3e-308
    assert Fraction(b.value) >= Fraction(3e-200) * Fraction(7e-124)
    b = product_bound([Bound(1e-200, "upper_bound"), Bound(1e-200, "upper_bound")])
    assert b.value > 0  # the true product 1e-400 is below every float: the bound is the smallest one


def test_ordinary_products_are_unchanged():
    a, b = Bound(2.0, "exact"), Bound(3.0, "upper_bound")
    assert (a * b).value == math.nextafter(6.0, math.inf)
    p = product_bound([Bound(0.1, "upper_bound"), Bound(0.7, "upper_bound"), Bound(3.3, "upper_bound")])
    assert Fraction(p.value) >= Fraction(0.1) * Fraction(0.7) * Fraction(3.3)
    assert p.value == pytest.approx(0.231, rel=1e-15)
