r"""Networks of adversarial parameter learning.

* :class:`Generator` :math:`G: z \sim \mathcal N(0, I_k) \mapsto \eta = \sigma(\mathrm{MLP}(z)) \in (0, 1)^6`;
  the sigmoid head keeps every draw inside the prior box without penalty terms.
* :class:`DeepSetsDiscriminator` :math:`D(X, z) = \rho\big(\mathrm{pool}_i\, \phi(x_i),\, z\big)` over the
  rows :math:`x_i` of an event set (Zaheer et al., arXiv:1703.06114), with mean, max or sum pooling;
  ``z`` is the (optional) normalization feature, seen beside the pooled summary.
* :class:`SetAttentionDiscriminator`: induced set attention blocks (ISAB) then pooling by
  multi-head attention (PMA) with one seed (Set Transformer, arXiv:1810.00825); with
  ``n_inducing = 0`` the blocks are full self-attention (SAB), quadratic in the set size.
* :class:`GaussianGenerator`: :math:`\eta = \sigma(\mu + L z)`, a Gaussian in logit space with a
  Cholesky factor :math:`L` (positive diagonal at least ``min_scale``): a tractable density
  :math:`q_\psi`, as the score-function gradient (``reinforce`` mode) needs.
* :class:`Surrogate` :math:`S(\eta)`: an MLP, and :class:`QuadraticSurrogate`, a quadratic
  response surface fitted in closed form, that learn the per-set loss of sets simulated at
  :math:`\eta` (surrogate mode); :class:`SurrogateEnsemble` holds several members.

Every discriminator is invariant under permutations of the rows of its input set: the row-wise
maps act on each row alone (or through attention, which is permutation-equivariant) and the
pooling is symmetric.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pdfinfer.adversarial.settings import DISCRIMINATORS, POOLINGS
from pdfinfer.errors import ConfigError
from pdfinfer.params import N_PARAMS


def mlp(n_in: int, n_out: int, width: int, depth: int, activation: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` units: ``(*, n_in) -> (*, n_out)``."""
    layers: list[nn.Module] = []
    size = n_in
    for _ in range(depth):
        layers += [nn.Linear(size, width), activation()]
        size = width
    layers.append(nn.Linear(size, n_out))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """Noise ``(B, noise_dim)`` -> normalized parameters ``(B, 6)`` in ``(0, 1)``.

    The last layer starts at zero weight and bias, so every initial draw is the prior centre
    ``eta = 0.5``; training spreads and moves it.
    """

    def __init__(self, noise_dim: int = 8, width: int = 64, depth: int = 2) -> None:
        super().__init__()
        self.noise_dim = int(noise_dim)
        self.net = mlp(noise_dim, N_PARAMS, width, depth, nn.LeakyReLU)
        last = self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(z))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws ``(n, 6)`` with noise from ``generator`` (on the module's device)."""
        device = next(self.parameters()).device
        z = torch.randn((n, self.noise_dim), generator=generator, device=device)
        return self(z)


class GaussianGenerator(nn.Module):
    r"""Noise ``(B, 6)`` -> ``eta = sigmoid(loc + z L^T)`` ``(B, 6)``: a Gaussian in logit space.

    :math:`L` is lower triangular with diagonal ``softplus(raw) + min_scale``; it starts at
    ``init_scale`` times the identity and ``loc`` at the prior centre (logit 0).
    """

    def __init__(self, init_scale: float = 0.5, min_scale: float = 0.02) -> None:
        super().__init__()
        self.noise_dim = N_PARAMS
        self.min_scale = float(min_scale)
        self.loc = nn.Parameter(torch.zeros(N_PARAMS))
        raw = torch.zeros(N_PARAMS, N_PARAMS)
        raw.diagonal().fill_(math.log(math.expm1(max(init_scale - min_scale, 1e-6))))
        self.raw_scale = nn.Parameter(raw)

    def scale_tril(self) -> torch.Tensor:
        """The Cholesky factor ``(6, 6)``."""
        diag = F.softplus(self.raw_scale.diagonal()) + self.min_scale
        return torch.tril(self.raw_scale, -1) + torch.diag(diag)

    def latent(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``u = loc + z L^T`` ``(B, 6)``."""
        return self.loc + z @ self.scale_tril().T

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.latent(z))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws ``(n, 6)`` with noise from ``generator``."""
        z = torch.randn((n, self.noise_dim), generator=generator, device=self.loc.device)
        return self(z)

    def log_prob_latent(self, u: torch.Tensor) -> torch.Tensor:
        """``log N(u; loc, L L^T)`` ``(B,)`` of logits ``u`` ``(B, 6)`` (differentiable in the parameters)."""
        return torch.distributions.MultivariateNormal(self.loc, scale_tril=self.scale_tril()).log_prob(u)


class DeepSetsDiscriminator(nn.Module):
    """Deep Sets critic: events ``(B, N, F)`` and normalization features ``(B, T)`` -> scores ``(B,)``.

    ``phi`` embeds each event, ``pool`` (mean, max or sum over ``N``) summarizes the set and
    ``rho`` maps the summary (concatenated with the normalization features when ``n_norm > 0``)
    to one unbounded score (a logit for the BCE loss, a critic value for hinge / WGAN).
    """

    def __init__(self, n_features: int, n_norm: int = 0, width: int = 64, depth: int = 2, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ConfigError(f"discriminator pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.n_norm = int(n_norm)
        self.phi = mlp(n_features, width, width, depth)
        self.rho = mlp(width + self.n_norm, 1, width, depth)

    def pool(self, h: torch.Tensor) -> torch.Tensor:
        """``(B, N, W) -> (B, W)``."""
        if self.pooling == "mean":
            return h.mean(dim=1)
        if self.pooling == "sum":
            return h.sum(dim=1)
        return h.amax(dim=1)

    def forward(self, events: torch.Tensor, norm: torch.Tensor | None = None) -> torch.Tensor:
        summary = self.pool(self.phi(events))
        if self.n_norm:
            summary = torch.cat([summary, norm], dim=-1)
        return self.rho(summary).squeeze(-1)


class MultiheadAttentionBlock(nn.Module):
    """``MAB(X, Y) = H + FF(H)``, ``H = X + Attention(X, Y, Y)`` with layer norms: ``(B, M, W), (B, N, W) -> (B, M, W)``."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm1 = nn.LayerNorm(width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = mlp(width, width, width, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x + self.attention(x, y, y, need_weights=False)[0])
        return self.norm2(h + self.ff(h))


class SetAttentionBlock(nn.Module):
    """Permutation-equivariant block ``(B, N, W) -> (B, N, W)``: SAB (``n_inducing = 0``) or ISAB.

    ISAB attends from ``n_inducing`` learned points to the set and back, costing ``O(N m)``
    instead of the ``O(N^2)`` of full self-attention.
    """

    def __init__(self, width: int, heads: int, n_inducing: int) -> None:
        super().__init__()
        self.inducing = nn.Parameter(torch.randn(1, n_inducing, width) / width**0.5) if n_inducing else None
        self.mab1 = MultiheadAttentionBlock(width, heads)
        self.mab2 = MultiheadAttentionBlock(width, heads) if n_inducing else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inducing is None:
            return self.mab1(x, x)
        h = self.mab1(self.inducing.expand(x.shape[0], -1, -1), x)
        return self.mab2(x, h)


class SetAttentionDiscriminator(nn.Module):
    """Set Transformer critic: events ``(B, N, F)``, normalization ``(B, T)`` -> scores ``(B,)``.

    Row embedding, ``depth`` (I)SAB blocks, PMA with one learned seed, then an MLP head that
    also sees the normalization features.
    """

    def __init__(
        self, n_features: int, n_norm: int = 0, width: int = 64, depth: int = 2, heads: int = 4, n_inducing: int = 16
    ) -> None:
        super().__init__()
        if width % heads:
            raise ConfigError(f"attention discriminator: width {width} must be divisible by heads {heads}")
        self.n_norm = int(n_norm)
        self.embed = nn.Linear(n_features, width)
        self.blocks = nn.ModuleList(SetAttentionBlock(width, heads, n_inducing) for _ in range(depth))
        self.seed = nn.Parameter(torch.randn(1, 1, width) / width**0.5)
        self.pma = MultiheadAttentionBlock(width, heads)
        self.head = mlp(width + self.n_norm, 1, width, 1)

    def forward(self, events: torch.Tensor, norm: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embed(events)
        for block in self.blocks:
            h = block(h)
        summary = self.pma(self.seed.expand(h.shape[0], -1, -1), h).squeeze(1)
        if self.n_norm:
            summary = torch.cat([summary, norm], dim=-1)
        return self.head(summary).squeeze(-1)


class Surrogate(nn.Module):
    """``S(eta)``: normalized parameters ``(B, 6)`` -> predicted per-set generator loss ``(B,)``."""

    def __init__(self, width: int = 64, depth: int = 3) -> None:
        super().__init__()
        self.net = mlp(N_PARAMS, 1, width, depth)

    def forward(self, eta: torch.Tensor) -> torch.Tensor:
        return self.net(eta).squeeze(-1)


class QuadraticSurrogate(nn.Module):
    r"""A quadratic response surface ``(B, 6) -> (B,)`` in standardized coordinates
    :math:`x = (\eta - c) / r`: :math:`S = w^\top \phi(x)`, :math:`\phi = (1, x, x_i x_j)_{i \le j}`.

    :meth:`fit` solves weighted ridge least squares in closed form (centre and scale from the
    points) and, with ``convex``, projects the Hessian onto the positive semi-definite cone; the
    forward pass is differentiable in :math:`\eta`.
    """

    def __init__(self, ridge: float = 1e-3, convex: bool = True) -> None:
        super().__init__()
        self.ridge = float(ridge)
        self.convex = bool(convex)
        n_feat = 1 + N_PARAMS + N_PARAMS * (N_PARAMS + 1) // 2
        rows, cols = torch.triu_indices(N_PARAMS, N_PARAMS)
        self.register_buffer("rows", rows)
        self.register_buffer("cols", cols)
        self.register_buffer("centre", torch.full((N_PARAMS,), 0.5))
        self.register_buffer("spread", torch.ones(N_PARAMS))
        self.register_buffer("weight", torch.zeros(n_feat))

    def features(self, eta: torch.Tensor) -> torch.Tensor:
        """``(B, 6) -> (B, 28)``."""
        x = (eta.to(self.centre.dtype) - self.centre) / self.spread
        return torch.cat([torch.ones_like(x[:, :1]), x, x[:, self.rows] * x[:, self.cols]], dim=1)

    def fit(self, eta: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> None:
        """Weighted ridge fit to points ``(N, 6)`` and targets ``(N,)`` (weights ``(N,)``, e.g. bootstrap
        counts times recency), then the convex projection (:meth:`make_convex`)."""
        eta, target = eta.detach().double(), target.detach().double()
        w = torch.ones_like(target) if weight is None else weight.double()
        self.centre = (w[:, None] * eta).sum(0) / w.sum()
        self.spread = ((w[:, None] * (eta - self.centre) ** 2).sum(0) / w.sum()).sqrt().clamp_min(1e-6)
        phi = self.features(eta)
        gram = phi.T @ (w[:, None] * phi)
        gram = gram + self.ridge * w.sum() * torch.diag(
            torch.cat([torch.zeros(1, dtype=gram.dtype), torch.ones(phi.shape[1] - 1, dtype=gram.dtype)])
        )
        self.weight = torch.linalg.solve(gram, phi.T @ (w * target))
        if self.convex:
            self.make_convex(phi, target, w)

    def hessian(self) -> torch.Tensor:
        """The Hessian ``(6, 6)`` of the fitted surface in standardized coordinates."""
        quad = self.weight[1 + N_PARAMS :]
        h = torch.zeros((N_PARAMS, N_PARAMS), dtype=self.weight.dtype, device=self.weight.device)
        h[self.rows, self.cols] = quad
        return h + h.T  # diagonal: 2 c_ii; off-diagonal: c_ij

    def make_convex(self, phi: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> None:
        r"""Clip the Hessian's eigenvalues at ``1e-3`` of the largest (the surface then has a minimum,
        and the generator cannot run off along a concave direction fitted to noise), and refit the
        constant and linear terms by weighted least squares with that Hessian held fixed."""
        values, vectors = torch.linalg.eigh(self.hessian())
        if values.min() >= 0:
            return
        floor = 1e-3 * values.abs().max().clamp_min(1e-12)
        h = (vectors * values.clamp_min(floor)) @ vectors.T
        quad = torch.where(self.rows == self.cols, h[self.rows, self.cols] / 2, h[self.rows, self.cols])
        lin = phi[:, : 1 + N_PARAMS]
        residual = target - phi[:, 1 + N_PARAMS :] @ quad
        gram = lin.T @ (w[:, None] * lin) + 1e-9 * w.sum() * torch.eye(1 + N_PARAMS, dtype=lin.dtype)
        self.weight = torch.cat([torch.linalg.solve(gram, lin.T @ (w * residual)), quad])

    def forward(self, eta: torch.Tensor) -> torch.Tensor:
        return (self.features(eta) @ self.weight).to(eta.dtype)


class SurrogateEnsemble(nn.Module):
    """``K`` surrogate members: ``(B, 6) -> (K, B)`` predictions (their spread is the disagreement)."""

    def __init__(self, kind: str, members: int, width: int = 64, depth: int = 3) -> None:
        super().__init__()
        self.kind = kind
        self.members = nn.ModuleList(
            QuadraticSurrogate() if kind == "quadratic" else Surrogate(width, depth) for _ in range(members)
        )

    def forward(self, eta: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(eta) for member in self.members])


def build_discriminator(kind: str, n_features: int, n_norm: int, **kwargs: Any) -> nn.Module:
    """A discriminator by name (``"deepsets"`` or ``"attention"``) with its settings."""
    if kind == "deepsets":
        return DeepSetsDiscriminator(n_features, n_norm, kwargs["width"], kwargs["depth"], kwargs["pooling"])
    if kind == "attention":
        return SetAttentionDiscriminator(
            n_features, n_norm, kwargs["width"], kwargs["depth"], kwargs["heads"], kwargs["n_inducing"]
        )
    raise ConfigError(f"unknown discriminator {kind!r}; allowed: {list(DISCRIMINATORS)}")
