"""Shared result types.

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
arithmetic of the combination never lowers them.
"""

from __future__ import annotations

import math
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


def _fold(bounds: Sequence[Bound], method: str, op: str) -> Bound:
    if not bounds:
        raise ValueError("bounds must be a non-empty sequence of Bound")
    for b in bounds:
        if not isinstance(b, Bound):
            raise TypeError(f"bounds must contain Bound objects, got {type(b).__name__}")
    if op == "mul":
        value = math.prod(b.value for b in bounds)
    else:
        value = math.fsum(b.value for b in bounds)
    kind = combine_kinds([b.kind for b in bounds])
    if kind == "upper_bound" and len(bounds) > 1:
        for _ in range(len(bounds) - 1):  # one ulp per rounded operation
            value = math.nextafter(value, math.inf)
    return Bound(value, kind, method, n_iter=sum(b.n_iter for b in bounds))


def product_bound(bounds: Sequence[Bound], method: str = "product") -> Bound:
    """Bound of a composition ``f_n ∘ ... ∘ f_1`` from bounds on each factor: ``Lip ≤ ∏ L_i``.

    The result of two or more certifiable factors is an ``upper_bound`` (never ``exact``: the
    product of norms is only an upper bound of the norm of the product).
    """
    return _fold(bounds, method, "mul")


def sum_bound(bounds: Sequence[Bound], method: str = "sum") -> Bound:
    """Bound of a sum of maps (e.g. a residual block ``x + g(x)``): ``Lip ≤ Σ L_i``."""
    return _fold(bounds, method, "add")
