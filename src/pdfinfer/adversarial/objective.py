r"""The objectives of adversarial parameter learning as small modules.

* :class:`SetLoss`: the generator's per-set loss of a fake set :math:`X_f` against a real subset
  :math:`X_r`,

  .. math:: \ell(X_f) = \ell_G(D(X_f)) + \lambda\,\mathrm{MMD}^2(X_f, X_r)
            + \mu\, n\, E(X_f, X_{obs}) \;[+ \mu\, E_z(z_f, z_{obs})]

  (:math:`\ell_G` of the adversarial loss, the MMD on ``mmd_events`` rows, the marginal energy
  distance :math:`E` of all ``n`` fake events to the whole observed set, and the energy distance
  of the normalization measurement to its observed value). ``(B,)``: one value per set, so a
  surrogate can regress it and a score-function estimator can weigh it set by set.
* :class:`DiscriminatorLoss`: :math:`L_D` on real and fake sets, plus the WGAN gradient penalty
  (``wgan-gp``: :math:`\gamma\,\mathrm{GP}`) or Roth et al.'s regularizer (``rjs``: :math:`\frac\gamma2\Omega`),
  :math:`\gamma` = ``gp_weight``.

* :class:`PriorPenalty`: :math:`-\log f(\eta)` ``(B,)`` of generated parameters, the sum-rule
  factor of the prior (:mod:`pdfinfer.constraints.sumrules`) when ``observation.constraints`` is on;
  the generator's loss adds it per draw (in every mode), so that
  :math:`\mathbb E_G[\ell] - \mathbb E_G[\log f]` is minimized: the constraint acts on the
  generator as the prior factor acts on a posterior.

The loss modules hold the critic (and the MMD / energy modules); none owns an optimizer.
"""

from __future__ import annotations

import torch
from torch import nn

from pdfinfer.adversarial.losses import MMD, GradientPenalty, JSGradientPenalty, MarginalEnergy, SetBatch, make_loss, point_energy
from pdfinfer.adversarial.settings import AdversarialSettings
from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.constraints.sumrules import log_factor


def mmd_rows(sets: SetBatch, k: int) -> torch.Tensor:
    """The first ``k`` events of each set ``(B, k, F)``, each row extended by the set's normalization
    feature when there is one ``(B, k, F + T)``: the MMD then compares events and normalization jointly."""
    rows = sets.events[:, :k]
    if sets.norm is None:
        return rows
    return torch.cat([rows, sets.norm[:, None, :].expand(-1, rows.shape[1], -1)], dim=-1)


class SetLoss(nn.Module):
    r"""``l(X_f)`` ``(B,)`` of fake sets ``(B, N_f, F)`` against real subsets ``(B, N, F)``.

    The critic and the MMD see the first ``n_events`` rows of each fake set, the marginal energy
    term all of them. With ``pointwise`` (the black-box modes) the normalization term of a set is
    :math:`2|z_f - z_{obs}|` alone, so that each set's loss depends on its own parameters only
    (the batch term :math:`-\overline{|z_b - z_{b'}|}` of the energy distance couples the sets).
    """

    def __init__(self, settings: AdversarialSettings, critic: nn.Module, observed: torch.Tensor, n_events: int) -> None:
        super().__init__()
        self.critic = critic
        self.adversarial = make_loss(settings.loss)
        self.n_events = int(n_events)
        self.mmd_weight, self.mmd_events = float(settings.mmd_weight), int(settings.mmd_events)
        self.energy_weight = float(settings.energy_weight)
        self.mmd = MMD(settings.mmd_bandwidths).to(observed.device) if settings.mmd_weight > 0 else None
        self.energy = MarginalEnergy(observed) if settings.energy_weight > 0 else None
        self.pointwise = settings.black_box

    def forward(self, fake: SetBatch, real: SetBatch) -> torch.Tensor:
        value = self.adversarial.generator(self.critic(fake.events[:, : self.n_events], fake.norm))
        if self.mmd is not None:
            value = value + self.mmd_weight * self.mmd(mmd_rows(fake, self.mmd_events), mmd_rows(real, self.mmd_events))
        if self.energy is not None:
            # n * E is O(1) for n fake events that match the observed ones, like the normalization
            # term; n = min(energy_events, n_obs) weighs the events as n observed events would.
            marginal = fake.events.shape[1] * self.energy(fake.events)
            if fake.norm is not None:
                if self.pointwise:
                    marginal = marginal + 2 * (fake.norm - real.norm[:1]).abs().sum(-1)
                else:
                    marginal = marginal + point_energy(fake.norm, real.norm[:1])
            value = value + self.energy_weight * marginal
        return value


class DiscriminatorLoss(nn.Module):
    """``L_D`` (a scalar) of the critic on real and fake sets (with the gradient penalty for WGAN-GP)."""

    def __init__(self, settings: AdversarialSettings, critic: nn.Module) -> None:
        super().__init__()
        self.critic = critic
        self.adversarial = make_loss(settings.loss)
        self.gp_weight = float(settings.gp_weight)
        self.penalty = {"wgan-gp": GradientPenalty(), "rjs": JSGradientPenalty()}.get(settings.loss)
        if settings.loss == "rjs":
            self.gp_weight /= 2.0

    def forward(self, real: SetBatch, fake: SetBatch, generator: torch.Generator | None = None) -> torch.Tensor:
        loss = self.adversarial(self.critic(real.events, real.norm), self.critic(fake.events, fake.norm))
        if self.penalty is not None:
            loss = loss + self.gp_weight * self.penalty(self.critic, real, fake, generator)
        return loss


class PriorPenalty(nn.Module):
    """``-log f(eta)`` ``(B,)`` of generated parameters ``eta`` ``(B, 6)`` (the sum-rule constraint)."""

    def __init__(self, constraint: ConstraintSettings) -> None:
        super().__init__()
        self.constraint = constraint

    def forward(self, eta: torch.Tensor) -> torch.Tensor:
        return -log_factor(eta, self.constraint)
