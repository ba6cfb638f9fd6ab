r"""The one per-point randomized-smoothing engine: noise draws of one example → its certificate.

**Seeding rule** (every caller: :func:`~stablecore.smoothing.certify_dataset`, the dashboard's
:mod:`stablecore.explore.radii`, the chapters): example ``index`` draws its noise from its own generator
:func:`example_generator` ``(seed, index)``, first the ``n0`` *selection* draws, then the ``n``
*estimation* draws, each stream in batches of at most ``batch_size`` through
:meth:`~stablecore.smoothing.Smooth.sample` / :meth:`~stablecore.smoothing.Smooth.sample_logits` (which
draw the same noise). Results therefore do not depend on which other examples are certified, nor in
which order (resumable, sharded runs); they may depend on ``batch_size``.

Methods (Cohen, Rosenfeld & Kolter 2019; Delattre et al. 2024; Lipschitz-aware radii, see
:mod:`stablecore.smoothing.lipschitz`), each returning one row (a dict):

* ``cohen`` -- votes of the selection draws choose :math:`\hat c_A`, Clopper–Pearson on its estimation
  votes, :math:`R = \sigma\Phi^{-1}(\underline p_A)` (:func:`~stablecore.smoothing.certify_from_counts`);
* ``lvm`` -- sound LVM-RS: the (map, T) candidate chosen on the selection logits, only its score moments
  accumulated over the estimation draws (:mod:`stablecore.smoothing.lvm`);
* ``lipschitz`` -- softmax score at temperature T, empirical-Bernstein :math:`\underline p_A`, R_ode /
  R_monoLip / σΦ⁻¹(p̲_A), plus Cohen's radius of the same draws' votes.

Callers that need every logit (e.g. to compare candidates on the same draws) use :func:`point_logits`:
the same noise as the streamed methods. :func:`smoothed_probabilities` estimates the smoothed class
probabilities of many points at once (pictures of the smoothed decision boundary; an ``estimate``, no
certificate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from stablecore.smoothing import bounds
from stablecore.smoothing.core import (
    ABSTAIN,
    Smooth,
    certify_from_counts,
    check_finite_logits,
    logits_context,
)
from stablecore.smoothing.lipschitz import cohen_radius, monolip_radius, ode_radius
from stablecore.smoothing.lvm import lvm_certificate_from_moments, select_lvm_candidate
from stablecore.train.evaluate import eval_mode, model_device

__all__ = [
    "METHODS",
    "certify_point",
    "example_generator",
    "point_logits",
    "smoothed_probabilities",
    "votes",
]

#: The per-point methods of :func:`certify_point`.
METHODS: tuple[str, ...] = ("cohen", "lvm", "lipschitz")


def example_generator(seed: int, index: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The noise generator of example ``index`` (``SeedSequence([seed, index])``), on ``device``."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))


def votes(logits: np.ndarray, num_classes: int) -> np.ndarray:
    """Vote counts (argmax per draw) of ``(num, K)`` logits."""
    return np.bincount(np.asarray(logits).argmax(1), minlength=num_classes)


def point_logits(
    smooth: Smooth, x: torch.Tensor, *, n0: int, n: int, batch_size: int, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The float64 logits of the ``n0`` selection and then ``n`` estimation draws of ``x`` (module
    docstring's rule); a non-finite logit raises
    :class:`~stablecore.smoothing.core.NonFiniteLogitsError` naming its stage."""
    with logits_context(stage="selection"):
        selection = smooth.sample_logits(x, n0, batch_size, generator=generator)
    with logits_context(stage="estimation"):
        estimation = smooth.sample_logits(x, n, batch_size, generator=generator)
    return selection, estimation


def _cohen(
    smooth: Smooth, x: torch.Tensor, gen: torch.Generator, n0: int, n: int, alpha: float, batch: int
) -> dict[str, Any]:
    with logits_context(stage="selection"):
        selection = smooth.sample(x, n0, batch, generator=gen).counts
    with logits_context(stage="estimation"):
        estimation = smooth.sample(x, n, batch, generator=gen).counts
    cert = certify_from_counts(selection, estimation, alpha, smooth.sigma)
    return {
        "prediction": cert.prediction,
        "radius": cert.radius,
        "p_lower": cert.p_lower,
        "counts_selection": selection.tolist(),
        "counts_estimation": estimation.tolist(),
    }


def _lvm(
    smooth: Smooth,
    x: torch.Tensor,
    gen: torch.Generator,
    n0: int,
    n: int,
    alpha: float,
    batch: int,
    **options: Any,
) -> dict[str, Any]:
    """Sound LVM-RS (:func:`~stablecore.smoothing.lvm.certify_lvm`), streamed: the candidate is chosen on
    the ``n0`` selection logits, then only the chosen map's score sums are accumulated over ``n``."""
    with logits_context(stage="selection"):
        selection = smooth.sample_logits(x, n0, batch, generator=gen)
    choice = select_lvm_candidate(selection, n, sigma=smooth.sigma, alpha=alpha, **options)
    with logits_context(stage="estimation"):
        stats = smooth.sample(
            x, n, batch, generator=gen, score_map=choice.map, temperature=choice.temperature or 1.0
        )
    cert = lvm_certificate_from_moments(
        choice,
        stats.score_mean,
        stats.score_variance,
        stats.num,
        sigma=smooth.sigma,
        alpha=alpha,
        **{k: v for k, v in options.items() if k in ("mode", "soft_bound")},
    )
    return {
        "prediction": cert.prediction,
        "radius": cert.radius,
        "p_lower": cert.p_lower,
        "p_upper": cert.p_upper,
        "map": cert.map,
        "temperature": cert.temperature,
        "counts_selection": votes(selection, smooth.num_classes).tolist(),
        "counts_estimation": stats.counts.tolist(),
    }


def _lipschitz(
    smooth: Smooth,
    x: torch.Tensor,
    gen: torch.Generator,
    n0: int,
    n: int,
    alpha: float,
    batch: int,
    *,
    score_lipschitz: float,
    temperature: float = 1.0,
) -> dict[str, Any]:
    r"""Lipschitz-aware radii of a softmax score (:mod:`stablecore.smoothing.lipschitz`): class = argmax of
    the selection draws' mean score, :math:`\underline p_A` = empirical-Bernstein lower bound of its mean
    over the ``n`` estimation draws, ``radius`` = R_ode with the score's Lipschitz bound ``L`` (plus
    R_monoLip and σΦ⁻¹(p̲_A) of the same p̲_A); ``radius_votes`` = Cohen's radius of the same draws' votes,
    a separate certificate at the same level (not combined with the others: a maximum would need a
    union bound)."""
    lip = score_lipschitz
    with logits_context(stage="selection"):
        sel = smooth.sample(x, n0, batch, generator=gen, temperature=temperature)
    with logits_context(stage="estimation"):
        est = smooth.sample(x, n, batch, generator=gen, temperature=temperature)
    c_a = int(np.argmax(sel.score_mean))
    p_lower = float(
        bounds.empirical_bernstein_lower(est.score_mean[c_a], est.score_variance[c_a], est.num, alpha)
    )
    ode = ode_radius(p_lower, lip, smooth.sigma)
    vote = certify_from_counts(sel.counts, est.counts, alpha, smooth.sigma)
    return {
        "prediction": ABSTAIN if ode.abstain else c_a,
        "radius": float(ode.radius),
        "p_lower": p_lower,
        "radius_monolip": float(monolip_radius(p_lower, lip, smooth.sigma).radius),
        "radius_cohen_score": float(cohen_radius(p_lower, smooth.sigma).radius),
        "prediction_votes": vote.prediction,
        "radius_votes": vote.radius,
        "p_lower_votes": vote.p_lower,
        "score_lipschitz": lip,
        "temperature": temperature,
        "counts_selection": sel.counts.tolist(),
        "counts_estimation": est.counts.tolist(),
    }


_IMPLEMENTATIONS = {"cohen": _cohen, "lvm": _lvm, "lipschitz": _lipschitz}


def certify_point(
    smooth: Smooth,
    x: torch.Tensor,
    *,
    method: str = "cohen",
    n0: int,
    n: int,
    alpha: float,
    batch_size: int,
    generator: torch.Generator,
    **options: Any,
) -> dict[str, Any]:
    """Certify one input ``x`` with ``method`` (module docstring) from ``generator``'s noise; returns the
    row ``prediction, radius, p_lower, counts_selection, counts_estimation`` plus the method's columns.

    ``options``: ``lvm``: ``maps, temperatures, mode, soft_bound`` of
    :func:`~stablecore.smoothing.lvm.select_lvm_candidate`; ``lipschitz``: ``score_lipschitz`` (an
    upper bound of the score's Lipschitz constant) and ``temperature``."""
    if method not in _IMPLEMENTATIONS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    return _IMPLEMENTATIONS[method](smooth, x, generator, n0, n, alpha, batch_size, **options)


@torch.no_grad()
def smoothed_probabilities(
    model: torch.nn.Module,
    points: torch.Tensor,
    sigma: float,
    num: int,
    *,
    generator: torch.Generator,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Monte-Carlo estimates, at each of ``points`` ``(N, *input_shape)``, of the smoothed classifier's
    vote frequencies :math:`P_\delta(\arg\max_c f_c(x+\delta) = c)` and mean softmax scores
    :math:`\mathbb E_\delta\,\mathrm{softmax}(f(x+\delta))`, :math:`\delta\sim\mathcal N(0,\sigma^2 I)`
    (``sigma = 0``: the base classifier), from ``num`` draws per point; points are processed
    ``max(1, batch_size // num)`` at a time, each chunk's noise ``(chunk, num, *input_shape)`` drawn from
    ``generator`` on its device. Returns two ``(N, K)`` float64 arrays (estimates, not certificates); a
    non-finite logit raises :class:`~stablecore.smoothing.core.NonFiniteLogitsError`."""
    if not (isinstance(sigma, (int, float)) and np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ValueError(f"num must be an int >= 1, got {num!r}")
    device = model_device(model)
    vote, soft = [], []
    per = max(1, batch_size // num)
    with eval_mode(model):
        for start in range(0, len(points), per):
            chunk = points[start : start + per]
            noise = torch.randn(
                (len(chunk), num, *chunk.shape[1:]), generator=generator, device=generator.device
            )
            noisy = (chunk.to(noise.device).unsqueeze(1) + sigma * noise).flatten(0, 1)
            logits = model(noisy.to(device)).double()
            check_finite_logits(logits)
            logits = logits.cpu().view(len(chunk), num, -1)
            vote.append(torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).double().mean(1))
            soft.append(torch.softmax(logits, -1).mean(1))
    return torch.cat(vote).numpy(), torch.cat(soft).numpy()
