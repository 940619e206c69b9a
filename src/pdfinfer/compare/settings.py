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
