"""Settings of the comparison (config section ``compare``; ``docs/pipeline.md``). Imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass

from pdfinfer.settings import Settings


@dataclass
class CompareSettings(Settings):
    """How every method is scored against the exact posterior (C2ST as in sbibm: MLP, k-fold)."""

    SECTION = "compare"

    c2st_max_samples: int = 2000
    c2st_folds: int = 5
    event_max_events: int = 1000
    n_quantiles: int = 20

    def check(self) -> None:
        for key in ("c2st_max_samples", "c2st_folds", "event_max_events", "n_quantiles"):
            self.require_range(key, 2)


@dataclass
class PredictiveSettings(Settings):
    """Posterior-predictive replicate sets per method (config section ``predictive``)."""

    SECTION = "predictive"

    draws: int = 64

    def check(self) -> None:
        self.require_range("draws", 2)


@dataclass
class CoverageSettings(Settings):
    """Coverage over replicated observed sets (config section ``coverage``).

    ``sets`` observed sets at the truth and ``sets`` at prior draws, each from its own seed
    stream, at the observed-set size ``n_obs`` (0: the smallest of the sweep), for every enabled
    method that can be refitted on a new set (the registry's ``fit``).
    """

    SECTION = "coverage"

    sets: int = 2
    n_obs: int = 0

    def check(self) -> None:
        self.require_range("sets", 0)
        self.require_range("n_obs", 0)
