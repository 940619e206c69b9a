r"""Adversarial parameter learning (the method under study, ``docs/methods.md``).

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

The objective :math:`\mathbb E_{\eta\sim G}[\ell(\eta)]` (adversarial variational optimization,
Louppe & Cranmer 2017, arXiv:1707.07113) is minimized by a point mass: the generator's spread
is optimizer noise, not an uncertainty (see :mod:`~pdfinfer.adversarial.bootstrap` for an
honest frequentist spread).

Modules, one job each: :mod:`~pdfinfer.adversarial.settings` (torch-free settings),
:mod:`~pdfinfer.adversarial.networks` (generator, discriminators, surrogate),
:mod:`~pdfinfer.adversarial.losses` and :mod:`~pdfinfer.adversarial.objective` (set loss,
discriminator loss), :mod:`~pdfinfer.adversarial.sets` (real/fake sets),
:mod:`~pdfinfer.adversarial.loop` (step functions and the loop),
:mod:`~pdfinfer.adversarial.observation` and :mod:`~pdfinfer.adversarial.weights` (I/O),
:mod:`~pdfinfer.adversarial.train` (CLI), :mod:`~pdfinfer.adversarial.pool` (pooling seeds).
This package module imports nothing heavy.
"""
