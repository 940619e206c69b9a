"""Truncated sequential NPE (TSNPE, Deistler et al. 2022): rounds of simulations from the prior
truncated to the current posterior's highest-density region around the observed set.

* :mod:`pdfinfer.tsnpe.settings` — the ``tsnpe`` config section (torch-free).
* :mod:`pdfinfer.tsnpe.rounds` — the rounds: simulate from the truncated prior, retrain, truncate.
* :mod:`pdfinfer.tsnpe.run` — command line: rounds, then draws for the observed set (``python -m pdfinfer.tsnpe.run``).

The estimator, its set embedding and the per-round training loop are those of :mod:`pdfinfer.npe`.
"""
