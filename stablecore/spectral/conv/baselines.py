r"""Literature baselines for conv norms (upper bounds, any padding and stride).

* ``"fantastic4"`` (Singla & Feizi, ICLR 2021): :math:`\sqrt{k_hk_w}\min_j\|R_j\|_2` over four
  reshapings of the kernel (exact float64 norms, so the result is a bound).
* ``"lipgrid"`` (Araujo et al., AAAI 2021): maximum of :math:`\|\hat K(\omega)\|_F` over a frequency
  grid with a proven Bernstein correction :math:`1/\sqrt{1-\theta^2/2}`
  (see :mod:`stablecore.spectral.conv`).
"""

from __future__ import annotations

import math

import torch

from stablecore.numerics import SAFETY_FLOOR, fft_rounding_margin, round_up, unit_roundoff
from stablecore.spectral.conv.geometry import ConvGeometry, _grouped

DEFAULT_LIPGRID_SAMPLES = 50


def _fantastic4(k64: torch.Tensor, geom: ConvGeometry) -> tuple[float, dict]:
    kg = _grouped(k64, geom.groups)
    g, co, ci, kh, kw = kg.shape
    mats = {
        "R1 (c_out·kh)×(c_in·kw)": kg.permute(0, 1, 3, 2, 4).reshape(g, co * kh, ci * kw),
        "R2 (c_out·kw)×(c_in·kh)": kg.permute(0, 1, 4, 2, 3).reshape(g, co * kw, ci * kh),
        "R3 c_out×(c_in·kh·kw)": kg.reshape(g, co, ci * kh * kw),
        "R4 c_in×(c_out·kh·kw)": kg.permute(0, 2, 1, 3, 4).reshape(g, ci, co * kh * kw),
    }
    u = unit_roundoff(torch.float64)
    scale = math.sqrt(kh * kw)
    bounds: dict[str, float] = {}
    for name, m in mats.items():
        norm = float(torch.linalg.matrix_norm(m, 2).amax())
        bounds[name] = round_up(scale * norm, SAFETY_FLOOR + 16 * max(m.shape[1:]) * u)
    return min(bounds.values()), {"reshapes": bounds}


def _lipgrid(k64: torch.Tensor, geom: ConvGeometry, samples: int) -> tuple[float, dict]:
    kg = _grouped(k64, geom.groups)
    kh, kw = geom.kernel_size
    mh = mw = max(int(samples), 1)

    def theta(mh: int, mw: int) -> float:
        return math.pi * ((kh - 1) / mh + (kw - 1) / mw)

    while theta(mh, mw) >= 1.0:
        mh, mw = 2 * mh, 2 * mw
    spec = torch.fft.rfft2(kg, s=(mh, mw))  # (g, co, ci, mh, mw//2+1)
    f = torch.view_as_real(spec).pow(2).sum(dim=(1, 2, -1))  # ‖K̂(ω)‖_F² per group and frequency
    grid_max = float(f.amax())
    th = theta(mh, mw)
    value = math.sqrt(grid_max / (1 - th * th / 2))
    u = unit_roundoff(torch.float64)
    q = min(kg.shape[1:3])
    value = round_up(value, SAFETY_FLOOR + fft_rounding_margin(u, mh * mw, q) + 8 * u)
    return value, {"grid": (mh, mw), "grid_max": math.sqrt(grid_max), "theta": th}
