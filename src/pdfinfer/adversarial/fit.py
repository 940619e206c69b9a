"""Refit the adversarial method on another observed set (the registry's ``fit`` entry point).

Used by the coverage over replicated observed sets (:mod:`pdfinfer.compare.replicas`): one
training run (replica 0 of the seed stream) on the replicated set, its generator's draws out.
"""

from __future__ import annotations

import numpy as np

from pdfinfer.adversarial.settings import AdversarialSettings
from pdfinfer.io import EventSet


def fit(
    settings: AdversarialSettings,
    observed: EventSet,
    normalization: bool,
    seed: int,
    device: str = "cpu",
    model: str | None = None,
) -> np.ndarray:
    """Draws ``(n_samples, 6)`` of one adversarial run trained on ``observed`` (one set ``(N, F)``)."""
    from pdfinfer.adversarial.loop import train
    from pdfinfer.adversarial.observation import Observation
    from pdfinfer.adversarial.weights import draw_parameters
    from pdfinfer.runtime import derive_seed, resolve_device
    from pdfinfer.theory import make_theory

    events = observed.events[0] if observed.events.ndim == 3 else observed.events
    norm = observed.norm[0] if observed.norm.ndim == 2 else observed.norm
    observation = Observation(events, norm if normalization else None, float(observed.norm_rel_unc))
    run_seed = derive_seed(seed, "adversarial", len(events), 0)
    result = train(make_theory(observed.theory), observation, settings, run_seed, resolve_device(device), show_progress=False)
    return draw_parameters(result.generator, settings.n_samples, derive_seed(run_seed, "draws"))
