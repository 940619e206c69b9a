"""Neural posterior estimation with ``sbi``: the amortized baseline (``docs/methods.md``).

* :mod:`pdfinfer.npe.settings` — the ``npe`` config section (torch-free).
* :mod:`pdfinfer.npe.embedding` — permutation-invariant summary of an event set.
* :mod:`pdfinfer.npe.model` — the sbi flow around it and its objective; saving and reloading on any device.
* :mod:`pdfinfer.npe.data` — data spec, validation split, fresh simulations per epoch.
* :mod:`pdfinfer.npe.loop` — the training loop (early stopping, checkpoints).
* :mod:`pdfinfer.npe.train` — command line: train on prior-predictive shards.
* :mod:`pdfinfer.npe.sample` — command line: posterior draws for the observed set.
* :mod:`pdfinfer.npe.diagnostics` — command line: SBC, expected coverage and TARP on the hold-out file
  (:mod:`pdfinfer.calibration`).
"""
