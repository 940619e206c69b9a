r"""Adversarial losses on set scores, the gradient penalty and the MMD term.

With critic scores :math:`s_r = D(X_r)` on real sets and :math:`s_f = D(X_f)` on fake sets:

* non-saturating BCE (Goodfellow et al. 2014):
  :math:`L_D = \mathrm{softplus}(-s_r) + \mathrm{softplus}(s_f)`, :math:`\ell_G = \mathrm{softplus}(-s_f)`;
* hinge: :math:`L_D = \max(0, 1 - s_r) + \max(0, 1 + s_f)`, :math:`\ell_G = -s_f`;
* WGAN-GP (arXiv:1704.00028): :math:`L_D = s_f - s_r + \lambda\,(\lVert\nabla_{\hat X} D(\hat X)\rVert - 1)^2`
  on sets interpolated row by row, :math:`\hat X = \alpha X_r + (1 - \alpha) X_f`, one
  :math:`\alpha \sim U(0, 1)` per pair of sets; :math:`\ell_G = -s_f`;
* regularized Jensen-Shannon (Roth et al. 2017, arXiv:1705.09367; ``rjs``): the BCE losses plus
  :math:`\frac\gamma2\,\Omega`, :math:`\Omega = \mathbb E_r[(1 - D)^2 \lVert\nabla\psi\rVert^2]
  + \mathbb E_f[D^2 \lVert\nabla\psi\rVert^2]` with :math:`\psi` the critic's logit and
  :math:`D = \sigma(\psi)`, the gradient taken over the whole set and its normalization feature;
* MMD (arXiv:1912.00477): the biased squared maximum mean discrepancy between the events of a
  fake set and a real set with a sum of Gaussian kernels
  :math:`k(x, y) = \sum_h \exp(-\lVert x - y\rVert^2 / 2h^2)`, added to :math:`\ell_G` with a weight;
* marginal energy distance: for each event feature, the energy (Cramér) distance between the
  fake set and the WHOLE observed set (U-statistics, so its gradient is unbiased), plus the
  energy distance of the normalization feature to its observed value; added to :math:`\ell_G`
  with a weight.

:math:`L_D` is averaged over the batch; the generator losses :math:`\ell_G` stay per set, so the
surrogate can regress them set by set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from pdfinfer.adversarial.settings import LOSSES
from pdfinfer.errors import ConfigError


class SetBatch(NamedTuple):
    """A batch of standardized event sets ``events`` ``(B, N, F)`` float32 and, when the
    normalization observable is on, its standardized feature ``norm`` ``(B, T)`` (else ``None``)."""

    events: torch.Tensor
    norm: torch.Tensor | None = None


class NonSaturatingLoss(nn.Module):
    """Binary cross-entropy on logits; the generator maximizes ``log D(fake)``."""

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Discriminator loss from scores ``(B,)`` and ``(B',)``: a scalar."""
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        """Per-set generator loss ``(B,) -> (B,)``."""
        return F.softplus(-fake)


class HingeLoss(nn.Module):
    """Hinge loss of geometric GANs / SN-GAN."""

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Discriminator loss from scores ``(B,)`` and ``(B',)``: a scalar."""
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        """Per-set generator loss ``(B,) -> (B,)``."""
        return -fake


class WassersteinLoss(nn.Module):
    """Wasserstein critic loss (use with :class:`GradientPenalty`)."""

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Discriminator loss from scores ``(B,)`` and ``(B',)``: a scalar."""
        return fake.mean() - real.mean()

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        """Per-set generator loss ``(B,) -> (B,)``."""
        return -fake


class GradientPenalty(nn.Module):
    """``mean_b (|grad D(X_hat_b)| - 1)^2`` on sets interpolated between paired real and fake sets.

    The gradient norm is taken over the whole interpolated set ``(N, F)`` together with its
    normalization feature ``(T,)``.
    """

    def forward(
        self, critic: nn.Module, real: SetBatch, fake: SetBatch, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Penalty (a scalar) for ``real`` and ``fake`` sets of equal shape ``(B, N, F)``."""
        batch = real.events.shape[0]
        alpha = torch.rand((batch, 1, 1), generator=generator, device=real.events.device, dtype=real.events.dtype)
        events = (alpha * real.events + (1 - alpha) * fake.events).detach().requires_grad_(True)
        inputs = [events]
        norm = None
        if real.norm is not None:
            norm = (alpha[:, 0] * real.norm + (1 - alpha[:, 0]) * fake.norm).detach().requires_grad_(True)
            inputs.append(norm)
        scores = critic(events, norm)
        grads = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
        sq = sum(g.pow(2).flatten(1).sum(1) for g in grads)
        return ((sq + 1e-12).sqrt() - 1.0).pow(2).mean()


def _input_gradient_sq(critic: nn.Module, sets: SetBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``(B,)`` of ``sets`` and the squared norm ``(B,)`` of their gradient w.r.t. the set (and norm)."""
    events = sets.events.detach().requires_grad_(True)
    norm = None if sets.norm is None else sets.norm.detach().requires_grad_(True)
    inputs = [events] + ([norm] if norm is not None else [])
    scores = critic(events, norm)
    grads = torch.autograd.grad(scores.sum(), inputs, create_graph=True)
    return scores, sum(g.pow(2).flatten(1).sum(1) for g in grads)


class JSGradientPenalty(nn.Module):
    """Roth et al.'s regularizer ``Omega`` (a scalar): ``mean_r (1 - D)^2 |grad psi|^2 + mean_f D^2 |grad psi|^2``."""

    def forward(
        self, critic: nn.Module, real: SetBatch, fake: SetBatch, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        score_r, sq_r = _input_gradient_sq(critic, real)
        score_f, sq_f = _input_gradient_sq(critic, fake)
        return ((1 - torch.sigmoid(score_r)).pow(2) * sq_r).mean() + (torch.sigmoid(score_f).pow(2) * sq_f).mean()


class MMD(nn.Module):
    """Squared MMD (biased V-statistic) with a sum of Gaussian kernels of the given bandwidths.

    ``x`` ``(B, N, F)``, ``y`` ``(B, M, F)`` -> ``(B,)``: one discrepancy per pair of sets.
    """

    def __init__(self, bandwidths: Sequence[float] = (0.1, 0.3, 1.0)) -> None:
        super().__init__()
        if not bandwidths or any(h <= 0 for h in bandwidths):
            raise ConfigError(f"MMD bandwidths must be positive, got {list(bandwidths)}")
        self.register_buffer("inv_two_h2", 1.0 / (2.0 * torch.tensor(list(bandwidths), dtype=torch.float32) ** 2))

    def kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Mean kernel value between the rows of ``a`` ``(B, N, F)`` and ``b`` ``(B, M, F)``: ``(B,)``."""
        d2 = (a.pow(2).sum(-1, keepdim=True) + b.pow(2).sum(-1).unsqueeze(-2) - 2.0 * a @ b.transpose(-1, -2)).clamp_min(0.0)
        return sum(torch.exp(-c * d2).mean((1, 2)) for c in self.inv_two_h2.tolist())

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.kernel(x, x) + self.kernel(y, y) - 2.0 * self.kernel(x, y)


class MarginalEnergy(nn.Module):
    r"""Energy (Cramér) distance of each feature's marginal to the observed set, summed over features.

    For one feature, fake values :math:`x_{1..N}` of a set and the observed values :math:`y_{1..M}`,

    .. math:: E = \frac2{NM}\sum_{i,j} |x_i - y_j| - \frac1{N(N-1)}\sum_{i \ne i'} |x_i - x_{i'}|
              - \frac1{M(M-1)}\sum_{j \ne j'} |y_j - y_{j'}|

    (:math:`= 2\int (F_x - F_y)^2` in expectation). The U-statistics make it unbiased, so its
    gradient does not drift towards narrower distributions as a sample-quantile MSE does, and it
    compares every fake event with the whole observed set in :math:`O((N + M)\log M)` by sorting.
    ``forward(x)``: fake sets ``(B, N, F)`` -> ``(B,)``. Marginals only: the joint structure of an
    event is left to the discriminator and the MMD term.
    """

    def __init__(self, reference: torch.Tensor) -> None:
        super().__init__()
        ref = torch.sort(reference.double(), dim=0).values.T.contiguous()  # (F, M)
        m = ref.shape[1]
        self.register_buffer("ref", ref)
        self.register_buffer("cumsum", torch.cat([torch.zeros_like(ref[:, :1]), ref.cumsum(1)], dim=1))  # (F, M + 1)
        ranks = torch.arange(m, dtype=torch.float64, device=ref.device)
        self.ref_self = float(((2 * ranks - m + 1) * ref).sum(1).mul(2.0 / (m * (m - 1))).sum())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n, n_feat = x.shape
        m = self.ref.shape[1]
        xt = x.double().permute(2, 0, 1).reshape(n_feat, batch * n)  # (F, B N)
        with torch.no_grad():
            below = torch.searchsorted(self.ref, xt.detach().contiguous())  # observed values < x
        sum_below = torch.gather(self.cumsum, 1, below)
        total = self.cumsum[:, -1:]
        cross = (xt * below - sum_below + (total - sum_below) - xt * (m - below)) / m  # mean_j |x - y_j|
        cross = cross.reshape(n_feat, batch, n).mean(-1).sum(0)  # (B,)
        ranks = torch.arange(n, dtype=torch.float64, device=x.device)
        ordered = torch.sort(x.double(), dim=1).values
        within = ((2 * ranks - n + 1)[:, None] * ordered).sum(1).mul(2.0 / (n * (n - 1))).sum(-1)  # (B,)
        return (2 * cross - within - self.ref_self).to(x.dtype)


def point_energy(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-set share of the energy distance between values ``z`` ``(B, T)`` of a batch and a point
    ``target`` ``(B or 1, T)``: ``2|z_b - t| - mean_{b' != b} |z_b - z_b'|``, summed over ``T``: ``(B,)``."""
    batch = z.shape[0]
    cross = (z - target).abs()
    within = (z[:, None, :] - z[None, :, :]).abs().sum(1) / max(batch - 1, 1)
    return (2 * cross - within).sum(-1)


def make_loss(name: str) -> nn.Module:
    """The adversarial loss named in the config (``bce``, ``hinge``, ``wgan-gp`` or ``rjs``)."""
    losses = {"bce": NonSaturatingLoss, "hinge": HingeLoss, "wgan-gp": WassersteinLoss, "rjs": NonSaturatingLoss}
    if name not in losses:
        raise ConfigError(f"unknown adversarial loss {name!r}; allowed: {list(LOSSES)}")
    return losses[name]()
