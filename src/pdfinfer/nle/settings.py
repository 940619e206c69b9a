"""Settings of neural likelihood estimation (config section ``nle``); torch-free, each default once."""

from __future__ import annotations

from dataclasses import dataclass, field

from pdfinfer.reference.settings import COORDINATES
from pdfinfer.settings import Settings

#: sbi flows the per-event likelihood may use.
FLOWS = ("nsf", "maf")


@dataclass
class NLENormSettings(Settings):
    """The Gaussian-output net ``q(log z | eta)`` of the normalization observable (``nle.norm``)."""

    SECTION = "nle.norm"

    hidden: int = 64
    layers: int = 3
    batch_size: int = 256
    learning_rate: float = 0.001
    max_epochs: int = 400
    stop_after_epochs: int = 30

    def check(self) -> None:
        for key in ("hidden", "layers", "batch_size", "max_epochs", "stop_after_epochs"):
            self.require_range(key, 1)
        self.require_range("learning_rate", 0.0, strict=True)


@dataclass
class NLEMCMCSettings(Settings):
    """The emcee run on the learned iid likelihood (``nle.mcmc``; meaning as in the ``reference`` section)."""

    SECTION = "nle.mcmc"

    n_chains: int = 4
    n_walkers: int = 16
    n_burn: int = 300
    n_steps: int = 600
    max_steps: int = 4800
    rhat_max: float = 1.01
    coordinates: str = "auto"

    def check(self) -> None:
        self.require_range("n_chains", 1)
        self.require_range("n_walkers", 8)
        if self.n_walkers % 4:
            self.require_choice("n_walkers", [self.n_walkers - self.n_walkers % 4, self.n_walkers + 4 - self.n_walkers % 4])
        self.require_range("n_burn", 0)
        self.require_range("n_steps", 8)
        self.require_range("max_steps", self.n_steps)
        self.require_range("rhat_max", 1.0, strict=True)
        self.require_choice("coordinates", COORDINATES)


@dataclass
class NLESettings(Settings):
    """Neural likelihood estimation: flow, training on (eta, event) pairs, MCMC on the iid sum."""

    SECTION = "nle"

    flow: str = "nsf"
    hidden_features: int = 64
    num_transforms: int = 4
    num_bins: int = 8
    events_per_row: int = 64
    validation_events_per_row: int = 64
    batch_size: int = 1024
    learning_rate: float = 0.001
    max_epochs: int = 40
    stop_after_epochs: int = 6
    validation_fraction: float = 0.1
    clip_max_norm: float = 5.0
    norm: NLENormSettings = field(default_factory=NLENormSettings)
    mcmc: NLEMCMCSettings = field(default_factory=NLEMCMCSettings)
    n_samples: int = 10000
    chunk_elements: int = 262144

    def check(self) -> None:
        self.require_choice("flow", FLOWS)
        for key in (
            "hidden_features",
            "num_transforms",
            "events_per_row",
            "validation_events_per_row",
            "batch_size",
            "max_epochs",
            "stop_after_epochs",
            "n_samples",
            "chunk_elements",
        ):
            self.require_range(key, 1)
        self.require_range("num_bins", 2)
        self.require_range("learning_rate", 0.0, strict=True)
        self.require_range("clip_max_norm", 0.0, strict=True)
        self.require_range("validation_fraction", 0.0, 1.0, strict=True)
        m = self.mcmc
        if m.n_chains * m.n_walkers * m.n_steps < self.n_samples:
            self.require_range("n_samples", 1, m.n_chains * m.n_walkers * m.n_steps)
