r"""Randomized smoothing (Cohen, Rosenfeld & Kolter, ICML 2019): PREDICT and CERTIFY.

The smoothed classifier is :math:`g(x) = \arg\max_c P_{\delta\sim\mathcal N(0,\sigma^2 I)}(f(x+\delta)=c)`.

* ``certify(x, n0, n, alpha)``: the class :math:`\hat c_A` with the most votes among ``n0`` selection
  samples; :math:`\underline p_A` = one-sided Clopper–Pearson lower bound (level ``alpha``) of its votes
  among ``n`` fresh samples; abstain (prediction ``-1``) if :math:`\underline p_A \le 1/2`, else
  :math:`R = \sigma\Phi^{-1}(\underline p_A)`. With probability ≥ 1 − α over the noise, ``g`` returns
  :math:`\hat c_A` on the whole L2 ball of radius ``R`` (or the procedure abstains).
* ``predict(x, n, alpha)``: the top-2 vote counts :math:`n_A, n_B` of ``n`` samples; abstain unless the
  two-sided binomial test of :math:`n_A` successes in :math:`n_A + n_B` trials at 1/2 has p-value ≤ α
  (``scipy.stats.binomtest``; the reference code's ``binom_test`` is gone from SciPy).

Noise is drawn per batch of at most ``batch_size`` copies (memory independent of ``n``) on the base
classifier's device, from ``generator`` when given (a ``torch.Generator`` on that device: seeded runs
are reproducible). The base classifier runs in eval mode (each module's flag restored afterwards).
Besides votes, :meth:`Smooth.sample` accumulates the sum and sum of squares of softmax scores for the
soft (Lipschitz / LVM-RS) certificates.

Non-finite outputs are never votes: a noise draw whose logits hold a NaN or an infinity (a broken
model) would otherwise count for ``argmax`` (class 0 for an all-NaN row) and could be certified. Every
batch of logits passes :func:`check_finite_logits`, which raises :class:`NonFiniteLogitsError` (a
``ValueError``) naming the first such draw; :func:`logits_context` adds the stage (selection /
estimation) and the example index for the callers that know them.

Resource limits (:mod:`stablecore.limits`): a call asking for more model evaluations than
``$STABLECORE_MAX_WORK``, or a noisy batch (:func:`noise_batch_bytes`) above ``$STABLECORE_MAX_MEMORY``,
is refused before anything is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import binomtest, norm
from torch import nn

from stablecore.limits import check_memory, check_work
from stablecore.smoothing.bounds import check_alpha, clopper_pearson_lower
from stablecore.train.evaluate import eval_mode, model_device

__all__ = [
    "ABSTAIN",
    "SCORE_MAPS",
    "Certificate",
    "NoiseStatistics",
    "NonFiniteLogitsError",
    "Smooth",
    "certify_from_counts",
    "check_finite_logits",
    "logits_context",
    "noise_batch_bytes",
    "sparsemax_torch",
]

ABSTAIN = -1
#: Score maps of :meth:`Smooth.sample` (hardmax = one-hot votes).
SCORE_MAPS: tuple[str, ...] = ("softmax", "sparsemax", "hardmax")


def sparsemax_torch(u: torch.Tensor) -> torch.Tensor:
    r"""Sparsemax over the last dimension (Martins & Astudillo 2016, Algorithm 1): the Euclidean
    projection of ``u`` onto the simplex, :math:`(u - \tau(u))_+`; torch twin of
    :func:`stablecore.smoothing.lvm.sparsemax` (tested equal), for batches on the model's device."""
    u = u - u.max(dim=-1, keepdim=True).values
    srt = torch.sort(u, dim=-1, descending=True).values
    k = torch.arange(1, u.shape[-1] + 1, dtype=u.dtype, device=u.device)
    cums = srt.cumsum(dim=-1)
    k_u = (1.0 + k * srt > cums).sum(dim=-1, keepdim=True)  # >= 1
    tau = (cums.gather(-1, k_u - 1) - 1.0) / k_u.to(u.dtype)
    return (u - tau).clamp_min(0.0)


class NonFiniteLogitsError(ValueError):
    """The base classifier returned a non-finite logit (NaN or ±inf) at noise draw ``draw`` (0-based,
    counted within its ``stage``: ``"selection"``, ``"estimation"`` or ``"prediction"``, when known) of
    example ``example`` (when known); ``logits`` is that draw's row. Such a draw is never counted."""

    def __init__(
        self, draw: int, logits: Sequence[float], stage: str | None = None, example: int | None = None
    ) -> None:
        self.draw, self.logits = int(draw), tuple(float(v) for v in logits)
        self.stage, self.example = stage, example
        where = f"{stage} noise draw {self.draw}" if stage else f"noise draw {self.draw}"
        if example is not None:
            where += f" of example {example}"
        shown = ", ".join(f"{v:.4g}" for v in self.logits[:6]) + (", ..." if len(self.logits) > 6 else "")
        super().__init__(
            f"the base classifier returned non-finite logits [{shown}] at {where} (0-based); non-finite "
            "outputs are never counted as votes: check the model for NaN/inf weights or an overflow"
        )

    def at(self, *, stage: str | None = None, example: int | None = None) -> NonFiniteLogitsError:
        """The same error with ``stage`` / ``example`` filled in (those already known are kept)."""
        return NonFiniteLogitsError(
            self.draw,
            self.logits,
            self.stage if self.stage is not None else stage,
            self.example if self.example is not None else example,
        )

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (multiprocessing) with its fields
        return (type(self), (self.draw, self.logits, self.stage, self.example))


def check_finite_logits(logits: torch.Tensor, *, first_draw: int = 0) -> None:
    """Raise :class:`NonFiniteLogitsError` naming the first row of the ``(batch, K)`` ``logits`` with a
    non-finite entry; ``first_draw`` is the index of the batch's first noise draw."""
    finite = torch.isfinite(logits).reshape(logits.shape[0], -1).all(dim=1)
    if not bool(finite.all()):
        j = int((~finite).nonzero()[0, 0])
        raise NonFiniteLogitsError(first_draw + j, logits[j].detach().double().cpu().reshape(-1).tolist())


@contextmanager
def logits_context(*, stage: str | None = None, example: int | None = None) -> Iterator[None]:
    """Re-raise a :class:`NonFiniteLogitsError` from the block with its ``stage`` / ``example`` set."""
    try:
        yield
    except NonFiniteLogitsError as exc:
        raise exc.at(stage=stage, example=example) from None


def noise_batch_bytes(input_numel: int, batch: int, itemsize: int, num_classes: int) -> int:
    """Bytes one batch of ``batch`` noisy copies holds at once in :meth:`Smooth.sample`: the noise, the
    scaled noise and the noisy inputs (3 × batch × input size), plus the logits and their float64 scores.
    The model's own activations come on top of this estimate."""
    return 3 * batch * input_numel * itemsize + 3 * batch * num_classes * 8


@dataclass(frozen=True)
class NoiseStatistics:
    """Votes (argmax counts), and per-class sums of softmax scores (at ``temperature``) and of their
    squares, over ``num`` noisy copies of one input."""

    counts: np.ndarray
    score_sum: np.ndarray
    score_sqsum: np.ndarray
    num: int
    temperature: float

    @property
    def score_mean(self) -> np.ndarray:
        return self.score_sum / self.num

    @property
    def score_variance(self) -> np.ndarray:
        """Unbiased sample variance of each class score (0 for ``num = 1``)."""
        if self.num < 2:
            return np.zeros_like(self.score_sum)
        mean = self.score_mean
        return np.maximum(self.score_sqsum - self.num * mean**2, 0.0) / (self.num - 1)


@dataclass(frozen=True)
class Certificate:
    """Cohen et al.'s CERTIFY output: ``prediction`` (``-1`` = abstain), ``radius`` (0 when abstaining),
    the lower bound ``p_lower``, the selection and estimation count vectors, and the settings."""

    prediction: int
    radius: float
    p_lower: float
    counts_selection: np.ndarray = field(repr=False)
    counts_estimation: np.ndarray = field(repr=False)
    n0: int
    n: int
    alpha: float
    sigma: float

    @property
    def abstained(self) -> bool:
        return self.prediction == ABSTAIN


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


class Smooth:
    """The smoothed classifier of ``base_classifier`` at noise level ``sigma`` (module docstring).

    Args:
        base_classifier: maps a batch ``(N, *input_shape)`` to logits ``(N, num_classes)``.
        num_classes: ``K ≥ 2``.
        sigma: noise standard deviation, > 0 (in the space the model is fed: pixels in [0, 1]).
    """

    def __init__(self, base_classifier: nn.Module, num_classes: int, sigma: float) -> None:
        if not isinstance(base_classifier, nn.Module):
            raise TypeError(f"base_classifier must be an nn.Module, got {type(base_classifier).__name__}")
        if _positive_int(num_classes, "num_classes") < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if (
            isinstance(sigma, bool)
            or not isinstance(sigma, (int, float))
            or not (math.isfinite(sigma) and sigma > 0)
        ):
            raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
        self.base_classifier, self.num_classes, self.sigma = base_classifier, int(num_classes), float(sigma)

    def _check_x(self, x: Any) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a tensor (one input, no batch dimension), got {type(x).__name__}")
        if not torch.isfinite(x).all():
            raise ValueError("x must be finite")
        return x

    @torch.no_grad()
    def sample(
        self,
        x: torch.Tensor,
        num: int,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        score_map: str = "softmax",
    ) -> NoiseStatistics:
        """Votes and score sums of ``f(x + δ)`` over ``num`` noise draws, ``batch_size`` at a time.

        The scores are ``score_map`` (:data:`SCORE_MAPS`: softmax or sparsemax of ``logits / temperature``,
        or hardmax = the votes) of the logits; their per-class sum and sum of squares are accumulated in
        float64. The noise drawn does not depend on ``temperature`` or ``score_map``."""
        x = self._check_x(x)
        num, batch_size = _positive_int(num, "num"), _positive_int(batch_size, "batch_size")
        if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        if score_map not in SCORE_MAPS:
            raise ValueError(f"score_map must be one of {SCORE_MAPS}, got {score_map!r}")
        device = model_device(self.base_classifier)
        dtype = next((p.dtype for p in self.base_classifier.parameters()), x.dtype)
        x = x.to(device, dtype)
        counts = torch.zeros(self.num_classes, dtype=torch.int64, device=device)
        s1 = torch.zeros(self.num_classes, dtype=torch.float64, device=device)
        s2 = torch.zeros(self.num_classes, dtype=torch.float64, device=device)
        for logits in self._noisy_logits(x, num, batch_size, generator, device, dtype):
            votes = torch.bincount(logits.argmax(1), minlength=self.num_classes)
            counts += votes
            if score_map == "hardmax":
                s1 += votes.double()
                s2 += votes.double()
                continue
            u = logits.double() / temperature
            p = torch.softmax(u, dim=1) if score_map == "softmax" else sparsemax_torch(u)
            s1 += p.sum(0)
            s2 += (p * p).sum(0)
        return NoiseStatistics(
            counts.cpu().numpy(), s1.cpu().numpy(), s2.cpu().numpy(), num, float(temperature)
        )

    def _noisy_logits(
        self,
        x: torch.Tensor,
        num: int,
        batch_size: int,
        generator: torch.Generator | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> Iterator[torch.Tensor]:
        """Logits of ``num`` noisy copies, one batch of at most ``batch_size`` at a time (eval mode); each
        batch is checked finite (:func:`check_finite_logits`, draws numbered from 0 in this call)."""
        check_work(num, argument="num", what="the noise draws")
        largest = min(batch_size, num)
        check_memory(
            noise_batch_bytes(x.numel(), largest, x.element_size(), self.num_classes),
            argument="batch_size",
            what=f"a batch of {largest} noisy copies",
        )
        remaining = num
        with eval_mode(self.base_classifier):
            while remaining > 0:
                b = min(batch_size, remaining)
                batch = x.unsqueeze(0).expand(b, *x.shape)
                gen_device = generator.device if generator is not None else device
                noise = torch.randn(batch.shape, generator=generator, device=gen_device, dtype=dtype).to(
                    device
                )
                logits = self.base_classifier(batch + self.sigma * noise)
                if logits.ndim != 2 or logits.shape[1] != self.num_classes:
                    raise ValueError(
                        f"base_classifier must return (batch, {self.num_classes}) logits, "
                        f"got {tuple(logits.shape)}"
                    )
                check_finite_logits(logits, first_draw=num - remaining)
                yield logits
                remaining -= b

    @torch.no_grad()
    def sample_logits(
        self, x: torch.Tensor, num: int, batch_size: int, *, generator: torch.Generator | None = None
    ) -> np.ndarray:
        """The ``(num, num_classes)`` float64 logits of ``num`` noisy copies (memory ∝ ``num``: meant for
        the ``n0`` selection samples of LVM-RS). Draws the same noise as :meth:`sample` would."""
        x = self._check_x(x)
        num, batch_size = _positive_int(num, "num"), _positive_int(batch_size, "batch_size")
        check_memory(2 * num * self.num_classes * 8, argument="num", what=f"the logits of {num} draws")
        device = model_device(self.base_classifier)
        dtype = next((p.dtype for p in self.base_classifier.parameters()), x.dtype)
        parts = [
            z.double().cpu()
            for z in self._noisy_logits(x.to(device, dtype), num, batch_size, generator, device, dtype)
        ]
        return torch.cat(parts).numpy()

    def certify(
        self,
        x: torch.Tensor,
        n0: int,
        n: int,
        alpha: float,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
    ) -> Certificate:
        """Cohen et al.'s CERTIFY (module docstring); a non-finite logit raises
        :class:`NonFiniteLogitsError` naming its stage and draw."""
        n0, n = _positive_int(n0, "n0"), _positive_int(n, "n")
        alpha = check_alpha(alpha)
        check_work(n0 + n, argument="n" if n >= n0 else "n0", what="the n0 + n noise draws")
        with logits_context(stage="selection"):
            selection = self.sample(x, n0, batch_size, generator=generator).counts
        with logits_context(stage="estimation"):
            estimation = self.sample(x, n, batch_size, generator=generator).counts
        return certify_from_counts(selection, estimation, alpha, self.sigma)

    def predict(
        self,
        x: torch.Tensor,
        n: int,
        alpha: float,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
    ) -> int:
        """Cohen et al.'s PREDICT: the top class, or ``-1`` if the top-2 binomial test is not significant;
        a non-finite logit raises :class:`NonFiniteLogitsError`."""
        n, alpha = _positive_int(n, "n"), check_alpha(alpha)
        check_work(n, argument="n", what="the n noise draws")
        with logits_context(stage="prediction"):
            counts = self.sample(x, n, batch_size, generator=generator).counts
        top2 = np.argsort(-counts, kind="stable")[:2]
        n_a, n_b = int(counts[top2[0]]), int(counts[top2[1]])
        if binomtest(n_a, n_a + n_b, 0.5).pvalue > alpha:
            return ABSTAIN
        return int(top2[0])


def certify_from_counts(selection: Any, estimation: Any, alpha: float, sigma: float) -> Certificate:
    """CERTIFY from logged count vectors: :math:`\\hat c_A = \\arg\\max` selection,
    :math:`\\underline p_A` = Clopper–Pearson lower bound of its estimation votes, radius
    :math:`\\sigma\\Phi^{-1}(\\underline p_A)` or abstain."""
    sel, est = np.asarray(selection, dtype=np.int64), np.asarray(estimation, dtype=np.int64)
    alpha = check_alpha(alpha)
    n0, n = int(sel.sum()), int(est.sum())
    if n0 < 1 or n < 1:
        raise ValueError("selection and estimation counts must each count at least one sample")
    c_a = int(np.argmax(sel))
    p_lower = float(clopper_pearson_lower(int(est[c_a]), n, alpha))
    if p_lower <= 0.5:
        return Certificate(ABSTAIN, 0.0, p_lower, sel, est, n0, n, alpha, float(sigma))
    return Certificate(c_a, float(sigma * norm.ppf(p_lower)), p_lower, sel, est, n0, n, alpha, float(sigma))
