"""What a referee sampler returns, and its failure (shared by :mod:`.nuts` and :mod:`.mcmc`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pdfinfer.errors import PdfinferError


class ConvergenceError(PdfinferError):
    """The chains did not reach the ESS / R-hat budget within the allowed number of draws."""


@dataclass
class SamplerResult:
    """Thinned draws ``(K, D)`` with their log-posterior ``(K,)`` and per-parameter diagnostics ``(D,)``.

    ``extras`` holds sampler-specific arrays (e.g. per-chain acceptance) written to the samples file;
    ``info`` holds scalars recorded in the run settings.
    """

    sampler: str
    samples: np.ndarray
    log_prob: np.ndarray
    rhat: np.ndarray
    ess_bulk: np.ndarray
    ess_tail: np.ndarray
    map_eta: np.ndarray
    n_draws: int
    seconds: float
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def acceptance(self) -> np.ndarray:
        """Acceptance rate per walker (emcee) or per chain (NUTS)."""
        return self.extras["acceptance"]

    @property
    def n_steps(self) -> int:
        """Kept steps (emcee) or draws (NUTS) per chain."""
        return self.n_draws

    @property
    def thin(self) -> int:
        """Thinning of the kept chain (1 for NUTS, which spreads its picks evenly)."""
        return int(self.info.get("thin", 1))


def thin_evenly(flat: np.ndarray, n_samples: int) -> np.ndarray:
    """Indices of ``min(n_samples, len(flat))`` rows spread evenly over ``flat`` ``(S, ...)``."""
    count = min(n_samples, len(flat))
    return np.round(np.linspace(0, len(flat) - 1, count)).astype(int)
