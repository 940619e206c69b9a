"""Refit the exact-likelihood reference on another observed set (the registry's ``fit`` entry point).

Used by the coverage over replicated observed sets (:mod:`pdfinfer.compare.replicas`): the same
sampler and convergence budget as the reference rule, on the replicated set; its draws out.
"""

from __future__ import annotations

import numpy as np

from pdfinfer.io import EventSet
from pdfinfer.reference.settings import ReferenceSettings


def fit(
    settings: ReferenceSettings, observed: EventSet, normalization: bool, seed: int, device: str = "cpu", model: str | None = None
) -> np.ndarray:
    """Exact-posterior draws ``(n_samples, 6)`` for one observed set (events ``(N, F)``)."""
    from pdfinfer.reference.job import sample_posterior
    from pdfinfer.reference.likelihood import LogPosterior
    from pdfinfer.runtime import derive_seed, resolve_device
    from pdfinfer.theory import make_theory

    theory = make_theory(observed.theory)
    rel_unc = observed.norm_rel_unc if normalization else None
    posterior = LogPosterior(theory, observed.events, observed.norm, rel_unc, resolve_device(device), where=observed.path)
    return sample_posterior(posterior, settings, derive_seed(seed, "reference", observed.n_events)).samples
