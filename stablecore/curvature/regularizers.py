r"""Curvature regularizers for the Trainer -- a documented RECONSTRUCTION (docs/chapters/ch04.md §5 (i)–(vi)).

The thesis's curvature chapter is known only from its abstract and a secondary summary (flat minima,
noise injection, activation decay, Weierstrass transform, Hessian-bounded regularization). These are the
candidate regularizers of our reconstruction, **not** the thesis's exact methods:

* ``none`` -- plain training (baseline);
* ``weight_decay`` -- :class:`WeightDecay`, :math:`\lambda\sum\|W\|_F^2` (baseline);
* ``activation_decay`` -- :class:`ActivationDecay`, :math:`\lambda\sum_l\frac1B\sum_i\|a_{l,i}\|^2` (§5 (v));
* ``trace`` -- :class:`HutchinsonTracePenalty`, :math:`\lambda\frac1S\sum_s v_s^\top H v_s` (§5 (i));
* ``grad_norm`` -- :class:`GradientNormPenalty`, :math:`\lambda\|\nabla_\theta\mathcal L\|^2` (§5 (ii));
* ``sam`` -- :class:`SAM` step, the gradient taken at :math:`\theta+\rho g/\|g\|` (§5 (iii));
* ``noise`` -- :class:`NoiseInjection` step, the gradient of
  :math:`\frac1S\sum_s\mathcal L(\theta+\sigma\varepsilon_s)` (§5 (iv));
* ``hessian_bound`` -- :class:`HessianBoundPenalty`, :math:`\lambda\sum_l B_l(\theta)` of
  :mod:`stablecore.curvature.bounds` (§5 (vi)).

Penalties follow the Trainer's protocol (``penalty(model, batch, outputs, activations) -> scalar``,
already weighted; ``name``; ``modules`` for hooked activations); step strategies own the update
(``step(trainer, batch) -> StepOutput``) and call :meth:`Trainer.compute_loss` /
:meth:`Trainer.backward` / :meth:`Trainer.optimizer_step`, so penalties, clipping and DDP compose
(under DDP the gradients a step reads are already all-reduced). :func:`build_regularizer` makes any of
them from its name; :meth:`Regularizer.trainer_kwargs` gives ``penalties=`` and ``step=``.

Second-order penalties (trace, gradient norm) differentiate through a gradient built with
``create_graph=True`` (double backprop, Drucker & LeCun 1992); their cost is about 2–4 backward passes.

References:
    B. Delattre. PhD thesis, 2025, https://arxiv.org/abs/2510.25282 (curvature chapter; reconstruction,
    docs/chapters/ch04.md §5).
    M. F. Hutchinson. *A stochastic estimator of the trace of the influence matrix for Laplacian
    smoothing splines.* Commun. Stat. Simul. Comput., 1989.
    P. Foret, A. Kleiner, H. Mobahi, B. Neyshabur. *Sharpness-Aware Minimization for Efficiently
    Improving Generalization.* ICLR 2021. J. Kwon et al. *ASAM.* ICML 2021 (``adaptive=True``).
    H. Drucker, Y. LeCun. *Improving generalization performance using double backpropagation.* IEEE TNN
    1992. Y. Zhao, H. Zhang, X. Hu. *Penalizing Gradient Norm for Efficiently Improving Generalization in
    Deep Learning.* ICML 2022.
    S. Srinivas et al. *Efficient Training of Low-Curvature Neural Networks.* NeurIPS 2022.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from stablecore.curvature.bounds import (
    _loss_name,
    input_hessian_bound_tensor,
    layer_input_sources,
    parameter_hessian_bound_tensors,
)
from stablecore.curvature.operators import ParamFilter, select_parameters
from stablecore.train.extensions import StepOutput

if TYPE_CHECKING:
    from stablecore.train.trainer import Trainer

__all__ = [
    "REGULARIZERS",
    "SAM",
    "ActivationDecay",
    "GradientNormPenalty",
    "HessianBoundPenalty",
    "HutchinsonTracePenalty",
    "NoiseInjection",
    "Regularizer",
    "WeightDecay",
    "build_regularizer",
    "hidden_activation_modules",
]

REGULARIZERS = (
    "none",
    "weight_decay",
    "activation_decay",
    "trace",
    "grad_norm",
    "sam",
    "noise",
    "hessian_bound",
)

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------------- validation helpers
def _check_nonneg(value: Any, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def _check_seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    return seed


def _check_loss_fn(loss_fn: Any) -> LossFn:
    if loss_fn is None:
        return nn.CrossEntropyLoss()
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(outputs, y), got {type(loss_fn).__name__}")
    return loss_fn


def _task_loss(loss_fn: LossFn, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if outputs.dtype not in (torch.float32, torch.float64):
        outputs = outputs.float()  # bf16 autocast outputs, as the Trainer does
    value = loss_fn(outputs, y)
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        raise ValueError("loss_fn must return a scalar tensor (use a mean reduction)")
    return value.reshape(())


def _grads(value: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """First derivatives with their graph (zeros for unused parameters, without graph)."""
    grads = torch.autograd.grad(value, list(params), create_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]


# ----------------------------------------------------------------------------------- penalties
class WeightDecay:
    r"""Baseline penalty :math:`\lambda\sum_W\|W\|_F^2` over the weight tensors (``ndim >= 2``; biases
    with ``include_bias=True``). Coupled L2 regularisation: its gradient is :math:`2\lambda W`, i.e.
    SGD's ``weight_decay = 2λ`` (Krogh & Hertz, NeurIPS 1991).

    Args:
        weight: :math:`\lambda \ge 0`.
        include_bias: also penalise 1-D parameters (biases, norm scales).

    Example:
        >>> net = nn.Linear(2, 1, bias=False)
        >>> with torch.no_grad():
        ...     _ = net.weight.fill_(1.0)
        >>> float(WeightDecay(0.5)(net, None, None, {}).detach())
        1.0
    """

    name = "weight_decay"

    def __init__(self, weight: float, *, include_bias: bool = False) -> None:
        self.weight = _check_nonneg(weight, "weight")
        if not isinstance(include_bias, bool):
            raise TypeError(f"include_bias must be a bool, got {type(include_bias).__name__}")
        self.include_bias = include_bias

    def __call__(
        self, model: nn.Module, batch: Any, outputs: Any, activations: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        params = [p for p in model.parameters() if p.requires_grad and (self.include_bias or p.ndim >= 2)]
        if not params:
            raise ValueError("WeightDecay: the model has no trainable parameter to penalise")
        return self.weight * sum((p * p).sum() for p in params)


class ActivationDecay:
    r"""Activation decay :math:`\lambda\sum_l\frac1B\sum_i\|a_{l,i}\|_2^2` over hooked hidden activations.

    RECONSTRUCTION of docs/chapters/ch04.md §5 (v) ("activation decay" known by name only): by analogy with
    weight decay. Rationale: the Gauss–Newton block of layer :math:`l` is
    :math:`\mathbb E[(a_{l-1}a_{l-1}^\top)\otimes(J_l^\top\nabla^2_z\ell\,J_l)]`, whose trace and norm
    scale with :math:`\|a_{l-1}\|^2` (see the parameter bound of :mod:`stablecore.curvature.bounds`).

    Args:
        weight: :math:`\lambda \ge 0`.
        modules: names (``model.named_modules()``) whose *outputs* are penalised; the Trainer hooks them
            (``penalty.modules``). :func:`hidden_activation_modules` lists a model's activations.

    Example:
        >>> pen = ActivationDecay(0.1, modules=["1"])
        >>> float(pen(None, None, None, {"1": torch.ones(2, 3)}))  # 0.1 · (3 + 3) / 2
        0.30000001192092896
    """

    name = "activation_decay"

    def __init__(self, weight: float, modules: Sequence[str]) -> None:
        self.weight = _check_nonneg(weight, "weight")
        if isinstance(modules, str) or not isinstance(modules, Sequence):
            raise TypeError(f"modules must be a sequence of module names, got {type(modules).__name__}")
        if not modules or not all(isinstance(m, str) for m in modules):
            raise ValueError(f"modules must be a non-empty sequence of module names, got {modules!r}")
        self.modules = list(modules)

    def __call__(
        self, model: Any, batch: Any, outputs: Any, activations: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        missing = [m for m in self.modules if m not in activations]
        if missing:
            raise ValueError(
                f"ActivationDecay: no activation recorded for modules {missing} (pass this penalty to the "
                f"Trainer, which hooks penalty.modules, or give the activations)"
            )
        total = 0.0
        for name in self.modules:
            a = activations[name]
            total = total + (a * a).sum() / a.shape[0]
        return self.weight * total


def hidden_activation_modules(model: nn.Module) -> list[str]:
    """Names of ``model``'s torch activation modules (``torch.nn.modules.activation``), in order: the
    hidden activations an :class:`ActivationDecay` usually penalises.

    Example:
        >>> hidden_activation_modules(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)))
        ['1']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return [
        name
        for name, m in model.named_modules()
        if name and type(m).__module__ == "torch.nn.modules.activation"
    ]


class HutchinsonTracePenalty:
    r"""Hutchinson trace penalty :math:`\lambda\,\frac1S\sum_{s=1}^S v_s^\top\nabla^2_\theta\mathcal L\,v_s`.

    RECONSTRUCTION of docs/chapters/ch04.md §5 (i). Rademacher probes :math:`v_s` make each term an unbiased
    estimate of :math:`\operatorname{tr}\nabla^2_\theta\mathcal L` (Hutchinson 1989). :math:`Hv` is a double
    backward (Pearlmutter 1994) kept in the graph, so the penalty's gradient (third derivatives) is exact for
    the drawn probes.

    Args:
        weight: :math:`\lambda \ge 0`.
        num_samples: probes per step :math:`S \ge 1`.
        seed: an int seeds this penalty's own CPU generator once (a reproducible stream); ``None`` draws
            from torch's global RNG, which the Trainer re-seeds every epoch (reproducible also on resume).
        loss_fn: the criterion whose Hessian is penalised (default ``nn.CrossEntropyLoss()``; use the
            Trainer's loss).
        param_filter: which parameters (:func:`~stablecore.curvature.select_parameters`; default all).

    Example:
        >>> net = nn.Linear(2, 2)
        >>> pen = HutchinsonTracePenalty(1.0, num_samples=2, seed=0)
        >>> x, y = torch.randn(4, 2), torch.tensor([0, 1, 0, 1])
        >>> float(pen(net, (x, y), net(x), {}).detach()) >= 0  # CE is convex in a linear model
        True
    """

    name = "trace"

    def __init__(
        self,
        weight: float,
        num_samples: int = 1,
        seed: int | None = 0,
        *,
        loss_fn: LossFn | None = None,
        param_filter: ParamFilter = None,
    ) -> None:
        self.weight = _check_nonneg(weight, "weight")
        self.num_samples = _check_positive_int(num_samples, "num_samples")
        self.seed = _check_seed(seed)
        self.loss_fn = _check_loss_fn(loss_fn)
        self.param_filter = param_filter
        self._generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def probes(self, params: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
        """``num_samples`` Rademacher probes, each a list shaped like ``params`` (drawn on the CPU)."""
        out = []
        for _ in range(self.num_samples):
            probe = []
            for p in params:
                r = torch.randint(0, 2, tuple(p.shape), generator=self._generator, dtype=torch.int8)
                probe.append((2 * r - 1).to(device=p.device, dtype=p.dtype))
            out.append(probe)
        return out

    def quadratic_forms(
        self,
        model: nn.Module,
        batch: Batch,
        outputs: torch.Tensor,
        probes: Sequence[Sequence[torch.Tensor]],
    ) -> torch.Tensor:
        r"""The differentiable :math:`v_s^\top H v_s` for given probes (shape ``(S,)``)."""
        params = list(select_parameters(model, self.param_filter).values())
        loss = _task_loss(self.loss_fn, outputs, batch[1])
        grads = _grads(loss, params)
        live = [i for i, g in enumerate(grads) if g.requires_grad]
        values = []
        for probe in probes:
            if len(probe) != len(params):
                raise ValueError(f"each probe must have {len(params)} tensors (one per parameter)")
            if not live:  # a loss linear in θ has H = 0
                values.append(loss.new_zeros(()))
                continue
            hv = torch.autograd.grad(
                [grads[i] for i in live],
                params,
                grad_outputs=[probe[i] for i in live],
                create_graph=True,
                allow_unused=True,
            )
            values.append(sum((h * v).sum() for h, v in zip(hv, probe) if h is not None))
        return torch.stack([torch.as_tensor(v, dtype=loss.dtype, device=loss.device) for v in values])

    def __call__(
        self, model: nn.Module, batch: Batch, outputs: torch.Tensor, activations: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        params = list(select_parameters(model, self.param_filter).values())
        return self.weight * self.quadratic_forms(model, batch, outputs, self.probes(params)).mean()


class GradientNormPenalty:
    r"""Gradient-norm penalty :math:`\lambda\|\nabla_\theta\mathcal L(\theta)\|_2^2` (double backprop).

    RECONSTRUCTION of docs/chapters/ch04.md §5 (ii). Its gradient :math:`2\lambda H\nabla\mathcal L` is what
    SAM's first-order expansion approximates (Zhao et al., ICML 2022; Drucker & LeCun 1992).

    Args:
        weight: :math:`\lambda \ge 0`.
        loss_fn: the criterion (default ``nn.CrossEntropyLoss()``; use the Trainer's loss).
        param_filter: which parameters (default all trainable).

    Example:
        >>> net = nn.Linear(2, 2)
        >>> x, y = torch.randn(4, 2), torch.tensor([0, 1, 0, 1])
        >>> float(GradientNormPenalty(1.0)(net, (x, y), net(x), {}).detach()) > 0
        True
    """

    name = "grad_norm"

    def __init__(
        self, weight: float, *, loss_fn: LossFn | None = None, param_filter: ParamFilter = None
    ) -> None:
        self.weight = _check_nonneg(weight, "weight")
        self.loss_fn = _check_loss_fn(loss_fn)
        self.param_filter = param_filter

    def __call__(
        self, model: nn.Module, batch: Batch, outputs: torch.Tensor, activations: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        params = list(select_parameters(model, self.param_filter).values())
        grads = _grads(_task_loss(self.loss_fn, outputs, batch[1]), params)
        return self.weight * sum((g * g).sum() for g in grads)


class HessianBoundPenalty:
    r"""Hessian-bounded penalty :math:`\lambda\sum_l B_l(\theta)` (or :math:`\lambda\,C(f)`).

    RECONSTRUCTION of docs/chapters/ch04.md §5 (vi): penalise a differentiable *upper bound* of the curvature,
    built from Gram bounds of the layers and the activations' derivative bounds (composition rule of Srinivas
    et al., NeurIPS 2022; derivation in :mod:`stablecore.curvature.bounds`).

    * ``target="parameter"`` (default): the sum over Linear/Conv2d layers of the bounds on the diagonal
      blocks of the loss Hessian on the batch
      (:func:`~stablecore.curvature.bounds.parameter_hessian_bound_tensors`).
      With ``model`` given, the layers' inputs are taken from the Trainer's hooks (``penalty.modules``
      lists the module before each layer), so no second forward pass; without it the penalty runs one.
    * ``target="input"``: the input-Hessian bound
      :func:`~stablecore.curvature.bounds.input_hessian_bound_tensor` (data-independent).

    Args:
        weight: :math:`\lambda \ge 0`.
        model: the network the penalty will see (optional, see above).
        target: ``"parameter"`` or ``"input"``.
        loss: the training loss for the loss constants (``"cross_entropy"``, ``"mse"`` or the module).
        local: actual loss derivatives at the batch (default) or global constants.
        n_iter: Gram iterations per layer.

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2))
        >>> pen = HessianBoundPenalty(0.1, net)
        >>> pen.modules
        ['1']
    """

    name = "hessian_bound"

    def __init__(
        self,
        weight: float,
        model: nn.Module | None = None,
        *,
        target: str = "parameter",
        loss: Any = "cross_entropy",
        local: bool = True,
        n_iter: int = 6,
    ) -> None:
        self.weight = _check_nonneg(weight, "weight")
        if target not in ("parameter", "input"):
            raise ValueError(f"target must be 'parameter' or 'input', got {target!r}")
        self.target = target
        self.loss = _loss_name(loss)
        if not isinstance(local, bool):
            raise TypeError(f"local must be a bool, got {type(local).__name__}")
        self.local = local
        self.n_iter = _check_positive_int(n_iter, "n_iter")
        self._sources: dict[str, str | None] | None = None
        self.modules: list[str] = []
        if model is not None:
            sources = layer_input_sources(model)  # validates the model (refuses ReLU, ...)
            if target == "parameter":
                self._sources = sources
                self.modules = sorted({s for s in sources.values() if s is not None})

    def __call__(
        self, model: nn.Module, batch: Batch, outputs: torch.Tensor, activations: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        x, y = batch
        if self.target == "input":
            return self.weight * input_hessian_bound_tensor(model, tuple(x.shape[1:]), n_iter=self.n_iter)
        kwargs: dict[str, Any] = {"loss": self.loss, "local": self.local, "n_iter": self.n_iter}
        if self._sources is not None and all(s is None or s in activations for s in self._sources.values()):
            kwargs["inputs"] = {
                layer: (x if src is None else activations[src]) for layer, src in self._sources.items()
            }
            kwargs["outputs"] = outputs
        bounds = parameter_hessian_bound_tensors(model, x, y, **kwargs)
        return self.weight * torch.stack(list(bounds.values())).sum()


# ----------------------------------------------------------------------------------- step strategies
def _trainable(model: nn.Module, param_filter: ParamFilter = None) -> list[torch.nn.Parameter]:
    return list(select_parameters(model, param_filter).values())


class SAM:
    r"""Sharpness-aware minimisation as a Trainer step strategy (Foret et al., ICLR 2021).

    RECONSTRUCTION of docs/chapters/ch04.md §5 (iii) (a candidate regularizer). With :math:`g = \nabla\mathcal
    L(\theta)` (task loss + penalties, as the Trainer's ``compute_loss``):

    .. math::

        \varepsilon = \rho\,\frac{T^2 g}{\|T g\|_2 + \epsilon},\qquad
        \theta \leftarrow \operatorname{step}\bigl(\theta,\ \nabla\mathcal L(\theta+\varepsilon)\bigr),

    :math:`T = I` (SAM) or :math:`T = \operatorname{diag}|\theta|` (``adaptive=True``, ASAM, Kwon et
    al. 2021), as in the reference implementation (davda54/sam). The weights are restored exactly
    (copied back) before the optimizer step, also when the second pass fails. Under DDP ``g`` is the
    all-reduced gradient. BatchNorm running statistics see both passes (as in the reference code).
    The returned ``StepOutput`` is the first pass (loss at :math:`\theta`).

    Args:
        rho: neighbourhood radius :math:`\rho \ge 0`.
        adaptive: ASAM's scale-invariant neighbourhood.
        eps: :math:`\epsilon` added to the norm (``1e-12``).

    Example:
        >>> SAM(0.05).rho
        0.05
    """

    name = "sam"

    def __init__(self, rho: float = 0.05, adaptive: bool = False, *, eps: float = 1e-12) -> None:
        self.rho = _check_nonneg(rho, "rho")
        if not isinstance(adaptive, bool):
            raise TypeError(f"adaptive must be a bool, got {type(adaptive).__name__}")
        self.adaptive = adaptive
        self.eps = _check_nonneg(eps, "eps")

    def perturbation(
        self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]
    ) -> list[torch.Tensor]:
        r""":math:`\varepsilon` for each parameter from the gradients (no graph)."""
        with torch.no_grad():
            scaled = [(p.abs() * g if self.adaptive else g) for p, g in zip(params, grads)]
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(s) for s in scaled]))
            scale = self.rho / (norm + self.eps)
            return [(p * p * g if self.adaptive else g) * scale for p, g in zip(params, grads)]

    def __call__(self, trainer: Trainer, batch: Batch) -> StepOutput:
        trainer.optimizer.zero_grad(set_to_none=True)
        out = trainer.compute_loss(batch)
        trainer.backward(out.loss)
        live = [p for p in trainer.model.parameters() if p.requires_grad and p.grad is not None]
        if not live:
            trainer.optimizer_step()
            return out
        saved = [p.detach().clone() for p in live]
        eps = self.perturbation(live, [p.grad for p in live])
        try:
            with torch.no_grad():
                for p, e in zip(live, eps):
                    p.add_(e)
            trainer.optimizer.zero_grad(set_to_none=True)
            second = trainer.compute_loss(batch)
            trainer.backward(second.loss)
        finally:
            with torch.no_grad():
                for p, s in zip(live, saved):
                    p.copy_(s)
        trainer.optimizer_step()
        return out


class NoiseInjection:
    r"""Gaussian parameter smoothing (Weierstrass transform in parameter space) as a step strategy.

    RECONSTRUCTION of docs/chapters/ch04.md §5 (iv) ("noise injection", "Weierstrass transform"): descend

    .. math::

        \mathcal L_\sigma(\theta)
        = \mathbb E_{\varepsilon\sim\mathcal N(0,I)}\,\mathcal L(\theta+\sigma\varepsilon)
        \approx \mathcal L(\theta) + \tfrac{\sigma^2}{2}\operatorname{tr}\nabla^2_\theta\mathcal L(\theta)

    with the unbiased gradient :math:`\frac1S\sum_s\nabla\mathcal L(\theta+\sigma\varepsilon_s)` (the
    twin, in parameter space, of randomized smoothing's Gaussian convolution in input space). Each sample
    perturbs the selected parameters, runs ``compute_loss`` + backward (loss divided by ``S``, so the
    gradients average), and the weights are restored exactly (copied back) before the optimizer step, also
    on an error: the model is never left perturbed. Draw order: for each sample, for each selected
    parameter in ``named_parameters`` order, ``torch.randn(p.shape, generator=g)`` on the parameter's
    device. The returned ``StepOutput`` averages the samples' losses and penalties (the smoothed objective)
    and carries the first sample's outputs. Penalties are evaluated at the perturbed weights; BatchNorm
    running statistics see every sample.

    Args:
        sigma: noise standard deviation :math:`\sigma \ge 0` (absolute, in parameter units).
        num_samples: :math:`S \ge 1` perturbations per step.
        seed: an int seeds this strategy's own generator once; ``None`` (default) draws from the Trainer's
            generator, re-seeded every epoch (reproducible also on resume).
        param_filter: which parameters are perturbed (default all trainable).

    Example:
        >>> NoiseInjection(0.01, num_samples=2).num_samples
        2
    """

    name = "noise"

    def __init__(
        self,
        sigma: float,
        num_samples: int = 1,
        seed: int | None = None,
        *,
        param_filter: ParamFilter = None,
    ) -> None:
        self.sigma = _check_nonneg(sigma, "sigma")
        self.num_samples = _check_positive_int(num_samples, "num_samples")
        self.seed = _check_seed(seed)
        self.param_filter = param_filter
        self._generator: torch.Generator | None = None

    def _gen(self, trainer: Trainer, device: torch.device) -> torch.Generator:
        if self.seed is None:
            return trainer.generator
        if self._generator is None:
            self._generator = torch.Generator(device=device).manual_seed(self.seed)
        return self._generator

    def __call__(self, trainer: Trainer, batch: Batch) -> StepOutput:
        params = _trainable(trainer.model, self.param_filter)
        gen = self._gen(trainer, params[0].device)
        trainer.optimizer.zero_grad(set_to_none=True)
        saved = [p.detach().clone() for p in params]
        outs: list[StepOutput] = []
        try:
            for _ in range(self.num_samples):
                with torch.no_grad():
                    for p, p0 in zip(params, saved):
                        noise = torch.randn(p.shape, generator=gen, device=p.device, dtype=p.dtype)
                        p.copy_(p0 + self.sigma * noise)
                out = trainer.compute_loss(batch)
                trainer.backward(out.loss / self.num_samples)
                outs.append(out)
        finally:
            with torch.no_grad():
                for p, p0 in zip(params, saved):
                    p.copy_(p0)
        trainer.optimizer_step()
        n = len(outs)
        return StepOutput(
            loss=sum(o.loss.detach() for o in outs) / n,
            task_loss=sum(o.task_loss.detach() for o in outs) / n,
            outputs=outs[0].outputs,
            penalties={k: sum(o.penalties[k].detach() for o in outs) / n for k in outs[0].penalties},
        )


# ----------------------------------------------------------------------------------- factory
@dataclass(frozen=True)
class Regularizer:
    """A named regularizer: the penalties and the step strategy to hand to the Trainer."""

    name: str
    penalties: tuple[Any, ...] = ()
    step: Any = None
    options: dict[str, Any] = field(default_factory=dict)

    def trainer_kwargs(self) -> dict[str, Any]:
        """``{"penalties": [...], "step": ...}`` for ``Trainer(..., **reg.trainer_kwargs())``."""
        return {"penalties": list(self.penalties), "step": self.step}


def build_regularizer(name: str, *, model: nn.Module | None = None, **kwargs: Any) -> Regularizer:
    r"""A regularizer by name (RECONSTRUCTIONS of docs/chapters/ch04.md §5, see the module table).

    ========================= =====================================================================
    name                      keyword arguments (defaults)
    ========================= =====================================================================
    ``none``                  --
    ``weight_decay``          ``weight`` (5e-4), ``include_bias`` (False)
    ``activation_decay``      ``weight`` (1e-3), ``modules`` (default: :func:`hidden_activation_modules`
                              of ``model``)
    ``trace``                 ``weight`` (1e-3), ``num_samples`` (1), ``seed`` (0), ``loss_fn``,
                              ``param_filter``
    ``grad_norm``             ``weight`` (1e-2), ``loss_fn``, ``param_filter``
    ``sam``                   ``rho`` (0.05), ``adaptive`` (False)
    ``noise``                 ``sigma`` (1e-2), ``num_samples`` (1), ``seed`` (None), ``param_filter``
    ``hessian_bound``         ``weight`` (1e-3), ``target`` ("parameter"), ``loss``, ``local``, ``n_iter``
    ========================= =====================================================================

    Args:
        name: one of :data:`REGULARIZERS`.
        model: the network (needed by ``activation_decay`` without ``modules``; lets ``hessian_bound``
            use the Trainer's hooks).
        **kwargs: the regularizer's arguments (table).

    Returns:
        :class:`Regularizer`; pass ``**reg.trainer_kwargs()`` to the Trainer.

    Raises:
        ValueError: unknown ``name`` or bad arguments. TypeError: unknown keyword.

    Example:
        >>> build_regularizer("sam", rho=0.1).trainer_kwargs()["step"].rho
        0.1
    """
    if name not in REGULARIZERS:
        raise ValueError(f"name must be one of {REGULARIZERS}, got {name!r}")
    if name == "none":
        if kwargs:
            raise TypeError(f"regularizer 'none' takes no arguments, got {sorted(kwargs)}")
        return Regularizer("none")
    if name == "weight_decay":
        kwargs.setdefault("weight", 5e-4)
        return Regularizer(name, (WeightDecay(**kwargs),), options=kwargs)
    if name == "activation_decay":
        kwargs.setdefault("weight", 1e-3)
        if kwargs.get("modules") is None:
            if model is None:
                raise ValueError("activation_decay needs modules=[...] or model= to find its activations")
            kwargs["modules"] = hidden_activation_modules(model)
        return Regularizer(name, (ActivationDecay(**kwargs),), options=kwargs)
    if name == "trace":
        kwargs.setdefault("weight", 1e-3)
        return Regularizer(name, (HutchinsonTracePenalty(**kwargs),), options=kwargs)
    if name == "grad_norm":
        kwargs.setdefault("weight", 1e-2)
        return Regularizer(name, (GradientNormPenalty(**kwargs),), options=kwargs)
    if name == "sam":
        return Regularizer(name, step=SAM(**kwargs), options=kwargs)
    if name == "noise":
        kwargs.setdefault("sigma", 1e-2)
        return Regularizer(name, step=NoiseInjection(**kwargs), options=kwargs)
    kwargs.setdefault("weight", 1e-3)
    return Regularizer(name, (HessianBoundPenalty(model=model, **kwargs),), options=kwargs)
