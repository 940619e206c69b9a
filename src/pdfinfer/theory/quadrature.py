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


#: Correction steps of the guided lookup done for every point before the exact fallback.
GUIDE_STEPS = 2


def guide_bins(n_points: int, lo: int = 256, hi: int = 4096) -> int:
    """Guide-table size for ``n_points`` uniforms per row: the power of two nearest ``n_points``, in ``[lo, hi]``."""
    return int(min(hi, max(lo, 1 << max(0, round(math.log2(max(n_points, 1)))))))


def guide_table(cdf: torch.Tensor, bins: int) -> torch.Tensor:
    """Cell holding ``u = k / bins`` for ``k = 0..bins``, per row: ``(*, bins + 1)`` int64.

    ``bins`` is a power of two, so ``ceil(cdf * bins) <= k`` is exactly ``cdf <= k / bins``; the count of
    such nodes (a scatter-add and a cumulative sum, no search) minus one is the cell, as in
    ``searchsorted(cdf, k / bins, right=True) - 1``, clamped to ``[0, G - 2]``.
    """
    if bins & (bins - 1):
        raise ValueError(f"guide_table: bins must be a power of two, got {bins}")
    key = torch.ceil(cdf * bins).clamp_(0, bins).long()
    counts = torch.zeros((*cdf.shape[:-1], bins + 1), dtype=torch.long, device=cdf.device)
    counts.scatter_add_(-1, key, torch.ones_like(key))
    return (counts.cumsum_(-1) - 1).clamp_(0, cdf.shape[-1] - 2)


def find_cells(cdf: torch.Tensor, u: torch.Tensor, bins: int | None = None, steps: int = GUIDE_STEPS) -> torch.Tensor:
    """Cell ``c`` with ``cdf[c] <= u < cdf[c + 1]`` for each uniform, ``(*, N)`` int64, by an O(1) guide table.

    Identical to ``(searchsorted(cdf, u, right=True) - 1).clamp(0, G - 2)``: the guide table brackets
    the cell in ``[guide[k], guide[k + 1]]`` with ``k = floor(u * bins)``; ``steps`` vectorized
    forward steps settle almost every point, and the few left (in bins spanning many nodes, e.g. the
    log-spaced tail) finish by bisection inside their bracket.

    Args:
        cdf: non-decreasing CDF values ``(*, G)`` from 0 to 1 (no gradient is taken).
        u: uniforms in ``[0, 1)``, ``(*, N)``, float64.
        bins: guide size (power of two); default :func:`guide_bins` of ``N``.
    """
    cdf, u = cdf.detach(), u.detach()
    lead, n_nodes = cdf.shape[:-1], cdf.shape[-1]
    bins = guide_bins(u.shape[-1]) if bins is None else bins
    cdf2, u2 = cdf.reshape(-1, n_nodes), u.reshape(-1, u.shape[-1])
    guide = guide_table(cdf2, bins)
    k = (u2 * bins).long().clamp_(0, bins - 1)
    cell = guide.gather(-1, k)
    upper = cdf2[:, 1:]  # upper[c] = cdf[c + 1], a view: no `cell + 1` index tensor per step
    last = n_nodes - 2  # the last CDF value may round to just below 1: never step past the last cell
    for _ in range(steps):
        cell.add_(upper.gather(-1, cell) <= u2).clamp_max_(last)  # in place: `cell + bool` promotes slowly
    rows, cols = torch.nonzero((upper.gather(-1, cell) <= u2) & (cell < last), as_tuple=True)
    if rows.numel():
        lo, hi, u_left = cell[rows, cols], guide[rows, k[rows, cols] + 1], u2[rows, cols]
        for _ in range(int((hi - lo).max()).bit_length()):
            mid = (lo + hi + 1) // 2
            up = cdf2[rows, mid] <= u_left
            lo, hi = torch.where(up, mid, lo), torch.where(up, hi, mid - 1)
        cell[rows, cols] = lo
    return cell.reshape(*lead, u.shape[-1])


def invert_table(cdf: torch.Tensor, x_nodes: torch.Tensor, u: torch.Tensor, method: str = "guide") -> torch.Tensor:
    """Invert a piecewise-linear CDF.

    Args:
        cdf: CDF values at the nodes, ``(*, G)``, non-decreasing from 0 to 1.
        x_nodes: node positions, ``(G,)``.
        u: uniforms in ``[0, 1)``, ``(*, N)``.
        method: cell lookup, ``"guide"`` (O(1) per point, :func:`find_cells`) or ``"search"``
            (binary search per point, the reference); both give the same cells.

    Returns:
        Points ``(*, N)``. Differentiable in ``cdf`` (the cell lookup itself is not).
    """
    n_nodes = x_nodes.shape[-1]
    with torch.no_grad():
        if method == "guide":
            cell = find_cells(cdf, u)
        elif method == "search":
            cell = torch.searchsorted(cdf.detach(), u.detach(), right=True)
            cell = (cell - 1).clamp_(0, n_nodes - 2)
        else:
            raise ValueError(f"invert_table: method must be 'guide' or 'search', got {method!r}")
    mass = cdf[..., 1:] - cdf[..., :-1]
    f_lo = torch.gather(cdf, -1, cell)
    d_f = torch.gather(mass, -1, cell)
    widths = (x_nodes[1:] - x_nodes[:-1]).expand(mass.shape)
    x_lo = torch.gather(x_nodes[:-1].expand(mass.shape), -1, cell)
    width = torch.gather(widths, -1, cell)
    # u lies in [F_cell, F_cell+1), so the fraction is in [0, 1) and d_f > 0.
    if torch.is_grad_enabled() and cdf.requires_grad:
        return x_lo + (u - f_lo) / d_f * width
    return (u - f_lo).div_(d_f).mul_(width).add_(x_lo)  # the same operations in place (no autograd to keep)
