r"""Shared result types.

Every number that describes a norm, a Lipschitz constant or a curvature says what it is
(ARCHITECTURE.md, "Honest kinds"):

* ``exact``       -- equal to the true value up to floating-point rounding;
* ``upper_bound`` -- never below the true value (also in float32);
* ``lower_bound`` -- never above the true value (power iteration, gradient norms, attacks);
* ``estimate``    -- no guarantee either way.

Composition rules (:func:`combine_kinds`): a product or a sum of ``exact`` / ``upper_bound``
factors is an ``upper_bound`` (a product of several ``exact`` factors is also only an upper bound
of the composed map's constant), lower bounds of the parts give no bound of the whole (so two or
more factors with a ``lower_bound`` among them give an ``estimate``), and anything combined with an
``estimate`` is an ``estimate``. Upper bounds are rounded up by one ulp per operation so the float
arithmetic of the combination never lowers them, and products never under- or overflow midway.

Zero and infinity (:func:`product_bound`, :func:`sum_bound`): a composition with a factor whose
``exact``/``upper_bound`` constant is 0 is a constant map, so its constant is ``exact`` 0 even when
another factor is ``inf`` (:math:`0\cdot\infty = 0`); a 0 that is only a lower bound or an estimate
times ``inf`` is an ``inf`` estimate; sums and products past the float range are ``inf``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["exact", "upper_bound", "lower_bound", "estimate"]
KINDS: tuple[str, ...] = ("exact", "upper_bound", "lower_bound", "estimate")
CERTIFIABLE_KINDS: frozenset[str] = frozenset({"exact", "upper_bound"})

__all__ = [
    "CERTIFIABLE_KINDS",
    "KINDS",
    "Bound",
    "Kind",
    "combine_kinds",
    "product_bound",
    "sum_bound",
    "validate_kind",
]


def validate_kind(kind: str) -> str:
    """Return ``kind`` if it is one of :data:`KINDS`, else raise ``ValueError``."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


@dataclass(frozen=True)
class Bound:
    """A scalar with an honest kind.

    Args:
        value: the number, a Python float (finite or ``inf`` for an upper bound that is vacuous).
        kind: one of ``exact``, ``upper_bound``, ``lower_bound``, ``estimate``.
        method: how it was computed (e.g. ``"gram"``, ``"power"``, ``"product"``).
        n_iter: number of iterations the method used (0 for closed forms).
        history: the per-iteration values (e.g. Gram's bound after each iteration).
        details: anything else (a per-layer DataFrame, the winning sub-method, ...).

    Example:
        >>> Bound(2.0, "upper_bound", "gram", n_iter=6).certifiable
        True
    """

    value: float
    kind: Kind
    method: str = ""
    n_iter: int = 0
    history: tuple[float, ...] = ()
    details: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        validate_kind(self.kind)
        try:
            value = float(self.value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"value must be a real number, got {type(self.value).__name__}") from exc
        if math.isnan(value):
            raise ValueError("value must not be NaN")
        if value < 0 and self.kind != "estimate":
            raise ValueError(f"value of a norm bound must be >= 0, got {value}")
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "history", tuple(float(h) for h in self.history))
        if not isinstance(self.n_iter, int) or self.n_iter < 0:
            raise ValueError(f"n_iter must be a non-negative int, got {self.n_iter!r}")

    @property
    def certifiable(self) -> bool:
        """True when the value may be used in a certificate (``exact`` or ``upper_bound``)."""
        return self.kind in CERTIFIABLE_KINDS

    def require_certifiable(self, what: str = "bound") -> Bound:
        """Return self, or raise ``ValueError`` if the kind cannot back a certificate."""
        if not self.certifiable:
            raise ValueError(
                f"{what} has kind {self.kind!r} (method {self.method!r}); certificates accept only "
                f"'exact' or 'upper_bound'"
            )
        return self

    def __float__(self) -> float:
        return self.value

    def __mul__(self, other: Bound) -> Bound:
        if not isinstance(other, Bound):
            return NotImplemented
        return product_bound([self, other])

    def __add__(self, other: Bound) -> Bound:
        if not isinstance(other, Bound):
            return NotImplemented
        return sum_bound([self, other])


def combine_kinds(kinds: Iterable[str]) -> str:
    """Kind of the Lipschitz constant of a composition (or sum) of maps with the given kinds.

    * a single factor keeps its kind;
    * any ``estimate``                  -> ``estimate``;
    * any ``lower_bound`` (≥ 2 factors) -> ``estimate``: ``L(f∘g) ≤ L(f)·L(g)``, so lower bounds
      of the parts bound nothing about the whole;
    * ``exact`` / ``upper_bound`` only  -> ``upper_bound``.
    """
    kinds = [validate_kind(k) for k in kinds]
    if not kinds:
        return "exact"
    if len(kinds) == 1:
        return kinds[0]
    if any(k not in CERTIFIABLE_KINDS for k in kinds):
        return "estimate"
    return "upper_bound"


def _product(values: Sequence[float]) -> float:
    """Float product without intermediate under- or overflow: mantissas multiplied in ``[1/4, 1)``,
    exponents added, one :func:`math.ldexp` at the end (``inf`` past the range)."""
    mantissa, exponent = 1.0, 0
    for v in values:
        m, e = math.frexp(v)
        mantissa, shift = math.frexp(mantissa * m)
        exponent += e + shift
    try:
        return math.ldexp(mantissa, exponent)
    except OverflowError:
        return math.copysign(math.inf, mantissa)


def _sum(values: Sequence[float]) -> float:
    """Correctly rounded sum (``math.fsum``); an intermediate overflow of finite terms is summed
    at half scale (exact) and doubled (``inf`` when the sum itself overflows)."""
    if any(v == math.inf for v in values) and any(v == -math.inf for v in values):
        raise ValueError("sum of +inf and -inf estimates is undefined")
    try:
        return math.fsum(values)
    except OverflowError:
        return 2.0 * math.fsum(0.5 * v for v in values)


def _fold(bounds: Sequence[Bound], method: str, op: str) -> Bound:
    if not bounds:
        raise ValueError("bounds must be a non-empty sequence of Bound")
    for b in bounds:
        if not isinstance(b, Bound):
            raise TypeError(f"bounds must contain Bound objects, got {type(b).__name__}")
    n_iter = sum(b.n_iter for b in bounds)
    values = [b.value for b in bounds]
    kind = combine_kinds([b.kind for b in bounds])
    if op == "mul" and len(bounds) > 1 and any(v == 0.0 for v in values):
        if any(b.value == 0.0 and b.certifiable for b in bounds):
            # a factor with L = 0 (exact or upper bound) is a constant map, so the whole composition
            # is constant, whatever the other factors (even L = inf): L = 0 holds exactly
            return Bound(0.0, "exact", method, n_iter=n_iter)
        if any(math.isinf(v) for v in values):
            # 0 from a lower bound or an estimate says nothing: 0·inf is taken as inf (an estimate)
            return Bound(math.inf, kind, method, n_iter=n_iter)
    value = _product(values) if op == "mul" else _sum(values)
    if kind == "upper_bound" and len(bounds) > 1:
        for _ in range(len(bounds) - 1):  # one ulp per rounded operation
            value = math.nextafter(value, math.inf)
        if 0.0 <= value < sys.float_info.min:  # a subnormal product: ldexp rounded it once more
            value = math.nextafter(value, math.inf)
    return Bound(value, kind, method, n_iter=n_iter)


def product_bound(bounds: Sequence[Bound], method: str = "product") -> Bound:
    """Bound of a composition ``f_n ∘ ... ∘ f_1`` from bounds on each factor: ``Lip ≤ ∏ L_i``.

    The result of two or more certifiable factors is an ``upper_bound`` (never ``exact``: the
    product of norms is only an upper bound of the norm of the product). The product is formed
    without intermediate under- or overflow and rounded up (``inf`` only past the float range).

    Zero factors (the ``0·∞`` rule): a factor with an ``exact`` or ``upper_bound`` value of 0 is a
    constant map, and a composition with a constant map is constant, so the result is ``exact`` 0
    whatever the other factors are, ``inf`` and ``estimate`` ones included. A 0 that is only a
    ``lower_bound`` or an ``estimate`` proves nothing: times ``inf`` it gives ``inf`` (an
    ``estimate``, as :func:`combine_kinds` says); times finite factors, the plain product.

    Example:
        >>> product_bound([Bound(0.0, "exact"), Bound(float("inf"), "upper_bound")]).value
        0.0
    """
    return _fold(bounds, method, "mul")


def sum_bound(bounds: Sequence[Bound], method: str = "sum") -> Bound:
    """Bound of a sum of maps (e.g. a residual block ``x + g(x)``): ``Lip ≤ Σ L_i``.

    Correctly rounded (then rounded up for upper bounds); a sum past the float range is ``inf``, an
    ``upper_bound`` with an ``inf`` term is ``inf``. Only estimates can be negative: a sum of ``+inf``
    and ``-inf`` estimates is undefined and raises ``ValueError``.
    """
    return _fold(bounds, method, "add")
