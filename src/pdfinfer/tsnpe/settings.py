"""Settings of truncated sequential NPE: the ``tsnpe`` config section, each default stated once.

Torch-free. The network has the fields of NPE's (flow and set embedding, see
:class:`pdfinfer.npe.settings.NPESettings`); ``training`` is NPE's per-round optimization. See
``docs/methods.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdfinfer.errors import ConfigError
from pdfinfer.npe.settings import FLOWS, NPEEmbeddingSettings, TrainingSettings
from pdfinfer.settings import Settings


@dataclass
class TSNPESettings(Settings):
    """TSNPE (``pdfinfer.tsnpe``): ``rounds`` x ``simulations_per_round`` sets, the first from the prior."""

    SECTION = "tsnpe"

    rounds: int = 4
    simulations_per_round: int = 2048
    truncation_quantile: float = 0.0001
    support_samples: int = 100000
    flow: str = "nsf"
    hidden_features: int = 64
    num_transforms: int = 4
    num_bins: int = 8
    embedding: NPEEmbeddingSettings = field(default_factory=NPEEmbeddingSettings)  # NPE's: the fixed moments
    training: TrainingSettings = field(default_factory=TrainingSettings)
    n_samples: int = 10000

    def check(self) -> None:
        self.require_range("rounds", 1)
        self.require_range("simulations_per_round", 16)
        self.require_range("truncation_quantile", 0.0, 0.5, strict=True)
        self.require_range("support_samples", 1000)
        self.require_choice("flow", FLOWS)
        for key in ("hidden_features", "num_transforms", "n_samples"):
            self.require_range(key, 1)
        self.require_range("num_bins", 2)
        if self.training.fresh_simulations:
            raise ConfigError("tsnpe.training.fresh_simulations is not used (TSNPE simulates its own rounds); leave it 0")
