"""Neural likelihood estimation over iid events with ``sbi`` flows (``docs/methods.md``).

* :mod:`pdfinfer.nle.settings` — the ``nle`` config section (torch-free).
* :mod:`pdfinfer.nle.model` — the per-event likelihood ``q(event | eta)`` and ``q(z | eta)``; saving, loading.
* :mod:`pdfinfer.nle.loop` — training on single (eta, event) pairs of the shards;
* :mod:`pdfinfer.nle.train` — its command line (``python -m pdfinfer.nle.train``).
* :mod:`pdfinfer.nle.posterior` — the iid log-posterior ``sum_i log q(x_i | eta)`` for the MCMC sampler.
* :mod:`pdfinfer.nle.sample` — MCMC draws for the observed set (``python -m pdfinfer.nle.sample``).
"""
