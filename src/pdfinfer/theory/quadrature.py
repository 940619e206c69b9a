r"""Tanh-sinh (double-exponential) quadrature and the tabulated inverse CDF.

Tanh-sinh maps :math:`[a, b]` with :math:`x = c + r \tanh(\tfrac{\pi}{2}\sinh t)` and sums on an
even grid in :math:`t`. It converges exponentially even when the integrand has algebraic
endpoint singularities such as :math:`(1-x)^{b}` with small :math:`b`, and it is a fixed
linear functional of integrand values, so batched torch autograd differentiates it exactly.

The distance of each node to the upper end is returned separately so that ``1 - x`` keeps full
precision where :math:`x \to 1`.

The inverse-CDF table tabulates a density on fixed nodes (linear on the interval, plus
log-spaced towards the upper end where the densities vanish steeply), integrates it cell by
cell with Simpson's rule and inverts the resulting piecewise-linear CDF. The nodes do not
depend on the parameters, so for fixed uniforms the sampled points are a differentiable
function of the parameters through the CDF values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Nodes:
    """Quadrature or table nodes on ``[lo, hi]``: positions ``x`` and distances ``hi - x`` (float64)."""

    x: torch.Tensor
    dist_hi: torch.Tensor
    weights: torch.Tensor | None = None

    def to(self, device: torch.device) -> Nodes:
        weights = None if self.weights is None else self.weights.to(device)
        return Nodes(self.x.to(device), self.dist_hi.to(device), weights)


def tanh_sinh_nodes(lo: float, hi: float, step: float = 1.0 / 16.0, t_max: float = 4.0) -> Nodes:
    """Tanh-sinh nodes and weights on ``[lo, hi]`` (float64, on CPU)."""
    t = torch.arange(-t_max, t_max + step / 2, step, dtype=torch.float64)
    v = 0.5 * math.pi * torch.sinh(t)
    half = 0.5 * (hi - lo)
    dist_hi = 2.0 * half / (1.0 + torch.exp(2.0 * v))
    dist_lo = 2.0 * half / (1.0 + torch.exp(-2.0 * v))
    x = torch.where(v < 0, lo + dist_lo, hi - dist_hi)
    weights = step * half * 0.5 * math.pi * torch.cosh(t) / torch.cosh(v) ** 2
    keep = (dist_hi > 0) & (dist_lo > 0) & (weights > 0)
    return Nodes(x[keep], dist_hi[keep], weights[keep])


def table_nodes(lo: float, hi: float, n_linear: int = 513, n_log: int = 160, min_log_dist: float = 1e-10) -> Nodes:
    """Nodes for an inverse-CDF table: ``n_linear`` even nodes on ``[lo, hi]`` merged with
    ``n_log`` nodes log-spaced in ``hi - x`` from ``min_log_dist * (hi - lo)`` up (float64, CPU)."""
    width = hi - lo
    dist = torch.cat(
        [
            torch.linspace(0.0, width, n_linear, dtype=torch.float64),
            width * torch.logspace(math.log10(min_log_dist), 0.0, n_log, dtype=torch.float64),
        ]
    )
    dist = torch.unique(dist.clamp(0.0, width))  # sorted ascending in distance
    dist = torch.flip(dist, dims=(0,))  # ascending in x
    x = hi - dist
    x[0] = lo
    return Nodes(x, dist)


def simpson_cdf(f_nodes: torch.Tensor, f_mid: torch.Tensor, widths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cumulative Simpson integral on a table.

    Args:
        f_nodes: density at the ``G`` nodes, ``(*, G)``.
        f_mid: density at the ``G - 1`` cell midpoints, ``(*, G - 1)``.
        widths: cell widths, ``(G - 1,)``.

    Returns:
        The normalized CDF at the nodes ``(*, G)`` (0 at the first, 1 at the last) and the
        total integral ``(*,)``.
    """
    cells = widths / 6.0 * (f_nodes[..., :-1] + 4.0 * f_mid + f_nodes[..., 1:])
    total = cells.sum(-1)
    cdf = torch.cumsum(cells, dim=-1) / total.unsqueeze(-1)
    cdf = torch.cat([torch.zeros_like(cdf[..., :1]), cdf], dim=-1)
    return cdf, total


def invert_table(cdf: torch.Tensor, x_nodes: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Invert a piecewise-linear CDF.

    Args:
        cdf: CDF values at the nodes, ``(*, G)``, non-decreasing from 0 to 1.
        x_nodes: node positions, ``(G,)``.
        u: uniforms in ``[0, 1)``, ``(*, N)``.

    Returns:
        Points ``(*, N)``. Differentiable in ``cdf`` (the cell lookup itself is not).
    """
    n_nodes = x_nodes.shape[-1]
    with torch.no_grad():
        cell = torch.searchsorted(cdf.detach(), u.detach(), right=True)
        cell = (cell - 1).clamp_(0, n_nodes - 2)
    mass = cdf[..., 1:] - cdf[..., :-1]
    f_lo = torch.gather(cdf, -1, cell)
    d_f = torch.gather(mass, -1, cell)
    widths = (x_nodes[1:] - x_nodes[:-1]).expand(mass.shape)
    x_lo = torch.gather(x_nodes[:-1].expand(mass.shape), -1, cell)
    # u lies in [F_cell, F_cell+1), so the fraction is in [0, 1) and d_f > 0.
    return x_lo + (u - f_lo) / d_f * torch.gather(widths, -1, cell)
