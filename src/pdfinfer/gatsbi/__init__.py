r"""GATSBI: an amortized adversarial posterior (Ramesh et al. 2022, arXiv:2203.06481).

A conditional generator :math:`\eta = G(z, s_G(x))` and a discriminator :math:`D(\eta, s_D(x))`,
each with a permutation-invariant embedding of the event set, are trained as a conditional GAN on
the prior-predictive pairs :math:`(\eta_i, x_i)` of the training shards; at the optimum
:math:`G(z, s(x))` with :math:`z \sim \mathcal N(0, I)` is distributed as the posterior
:math:`p(\eta \mid x)` for every :math:`x` (amortized).

* :mod:`pdfinfer.gatsbi.settings` — the settings (torch-free; Snakemake imports it).
* :mod:`pdfinfer.gatsbi.networks` — set embedding, generator, discriminator.
* :mod:`pdfinfer.gatsbi.objective` — the warm-start loss, the adversarial losses, the R1 penalty.
* :mod:`pdfinfer.gatsbi.train` — the training loop (``python -m pdfinfer.gatsbi.train``).
* :mod:`pdfinfer.gatsbi.model` — the saved model file (``generator.pt``) and its checks.
* :mod:`pdfinfer.gatsbi.sample` — posterior draws for the observed set (``python -m pdfinfer.gatsbi.sample``).
* :mod:`pdfinfer.gatsbi.calibration` — SBC ranks, expected coverage and TARP from a draw function.
* :mod:`pdfinfer.gatsbi.diagnostics` — those on the shared hold-out set (``python -m pdfinfer.gatsbi.diagnostics``).

This file imports nothing heavy.
"""
