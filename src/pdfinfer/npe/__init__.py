"""Neural posterior estimation with ``sbi``: the amortized baseline (``docs/methods.md``).

* :mod:`pdfinfer.npe.embedding` — permutation-invariant summary of an event set.
* :mod:`pdfinfer.npe.model` — the sbi flow around it; saving and reloading on any device.
* :mod:`pdfinfer.npe.train` — training on prior-predictive shards (``python -m pdfinfer.npe.train``).
* :mod:`pdfinfer.npe.sample` — posterior draws for the observed set (``python -m pdfinfer.npe.sample``).
* :mod:`pdfinfer.npe.diagnostics` — SBC, expected coverage and TARP on held-out simulations.
"""
