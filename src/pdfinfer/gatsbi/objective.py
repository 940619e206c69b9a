r"""Losses of GATSBI, as small modules.

**Warm start** (:class:`GaussianRegressionLoss`): the embedding and a throw-away Gaussian head
are fitted by heteroscedastic regression,
:math:`\ell = \frac1{6}\sum_k \big[\log \sigma_k(x) + \frac{(\eta_k - \mu_k(x))^2}{2\sigma_k(x)^2}\big]`,
so the summary :math:`s(x)` carries the posterior's location and scale before the GAN starts
(semi-automatic summaries, Fearnhead & Prangle 2012).

**Adversarial objective** (:class:`ConditionalGANLoss`, the non-saturating GAN of Goodfellow et
al. 2014, conditioned on :math:`x` as in GATSBI):

.. math::
    \mathcal L_D = -\mathbb E_{(\eta, x)}\log\sigma(D(\eta, x)) - \mathbb E_{x, z}\log\big(1 - \sigma(D(G(z, x), x))\big),
    \qquad \mathcal L_G = -\mathbb E_{x, z}\log\sigma(D(G(z, x), x)),

real pairs from the joint :math:`p(\eta)p(x \mid \eta)` (the training shards), fake pairs
:math:`(G(z, x_i), x_i)`. For the optimal :math:`D`, minimizing :math:`\mathcal L_G` minimizes the
Jensen-Shannon divergence between :math:`p(\eta \mid x)p(x)` and :math:`q_G(\eta \mid x)p(x)`.

**R1 penalty** (:class:`R1Penalty`, Mescheder et al. 2018): :math:`\frac{\gamma}{2}\,\mathbb E\,
\|\nabla_\eta D(\eta, x)\|^2` on real pairs, which keeps the discriminator from sharpening
around the finitely many training parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GaussianRegressionLoss(nn.Module):
    """Mean Gaussian negative log-likelihood of ``eta`` ``(B, 6)`` under ``(mean, log_std)`` ``(B, 6)`` each."""

    def forward(self, mean: torch.Tensor, log_std: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        return (log_std + 0.5 * ((eta - mean) / log_std.exp()) ** 2).mean()


class ConditionalGANLoss(nn.Module):
    """Non-saturating conditional GAN losses on discriminator logits."""

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """Discriminator loss from logits of real ``(B,)`` and fake ``(*,)`` pairs."""
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def generator(self, fake: torch.Tensor) -> torch.Tensor:
        """Generator loss from logits ``(*,)`` of fake pairs."""
        return F.softplus(-fake).mean()


class R1Penalty(nn.Module):
    """``weight / 2 * E ||d D(eta, s) / d eta||^2`` on real pairs ``eta`` ``(B, 6)``, ``s`` ``(B, S)``."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = float(weight)

    def forward(self, discriminator: nn.Module, eta: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        if self.weight == 0.0:
            return eta.new_zeros(())
        eta = eta.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(discriminator(eta, s).sum(), eta, create_graph=True)
        return 0.5 * self.weight * grad.pow(2).sum(-1).mean()
