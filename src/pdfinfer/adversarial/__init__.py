r"""Adversarial parameter learning (the method under study, DESIGN.md section 1).

A generator :math:`G_\psi: z \sim \mathcal N(0, I) \mapsto \eta \in (0, 1)^6` is trained so that
event sets simulated at :math:`\eta = G_\psi(z)` cannot be told from subsets of the observed
set by a permutation-invariant set discriminator :math:`D_\omega`:

.. math:: \min_\psi \max_\omega\; \mathbb E_{X_r \subset X_{obs}}\, \log \sigma(D_\omega(X_r))
          + \mathbb E_{z,\, X_f \sim p(\cdot \mid G_\psi(z))}\, \log\big(1 - \sigma(D_\omega(X_f))\big)

(or the hinge / WGAN-GP variants, optionally plus an MMD term and a marginal energy-distance
term against the whole observed set). Sampling :math:`X_f` blocks the
gradient to :math:`\psi`; two ways round it:

* ``surrogate``: a network :math:`S(\eta)` regresses the generator's per-set loss of sets
  simulated at :math:`\eta` and :math:`G` is trained through :math:`S` (the simulator stays a
  black box);
* ``reparam``: events come from the inverse-CDF sampler at fixed uniforms,
  :math:`X_f = F^{-1}_\eta(U)`, differentiable in :math:`\eta`, so :math:`G` gets exact gradients.

The spread of generated parameters is the method's uncertainty estimate.

Modules: :mod:`~pdfinfer.adversarial.networks` (generator, discriminators, surrogate),
:mod:`~pdfinfer.adversarial.losses`, :mod:`~pdfinfer.adversarial.sets` (real/fake sets),
:mod:`~pdfinfer.adversarial.train` (training loop and CLI), :mod:`~pdfinfer.adversarial.pool`.
"""

from pdfinfer.adversarial.losses import (
    MMD,
    GradientPenalty,
    HingeLoss,
    MarginalEnergy,
    NonSaturatingLoss,
    SetBatch,
    WassersteinLoss,
    make_loss,
)
from pdfinfer.adversarial.networks import DeepSetsDiscriminator, Generator, SetAttentionDiscriminator, Surrogate, build_discriminator

# The training loop and CLI live in pdfinfer.adversarial.train (not imported here, so that
# `python -m pdfinfer.adversarial.train` runs it as __main__ cleanly).
__all__ = [
    "MMD", "DeepSetsDiscriminator", "Generator", "GradientPenalty", "HingeLoss", "MarginalEnergy", "NonSaturatingLoss",
    "SetAttentionDiscriminator", "SetBatch", "Surrogate", "WassersteinLoss", "build_discriminator", "make_loss",
]
