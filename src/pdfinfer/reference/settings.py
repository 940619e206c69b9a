"""Settings of the referee (config section ``reference``), each default stated once (``docs/methods.md``).

Torch-free: Snakemake imports this module to validate the config before any job runs.

The convergence budget is an effective sample size: a run keeps sampling (more draws per chain)
until every parameter has bulk and tail ESS of at least ``ess_target`` and rank-normalized split
R-hat of at most ``rhat_max``, or fails naming the parameter (``docs/reliability.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdfinfer.errors import ConfigError
from pdfinfer.settings import Settings

SAMPLERS = ("nuts", "emcee")
COORDINATES = ("auto", "normalization", "box")


@dataclass
class NUTSSettings(Settings):
    """pyro's No-U-Turn sampler on the logit-transformed box (section ``reference.nuts``)."""

    SECTION = "reference.nuts"

    warmup: int = 300
    draws: int = 500
    max_draws: int = 8000
    target_accept: float = 0.85
    max_tree_depth: int = 8
    dense_mass: bool = True
    start_scale: float = 2.0

    def check(self) -> None:
        self.require_range("warmup", 20)
        self.require_range("draws", 8)
        self.require_range("max_draws", self.draws)
        self.require_range("target_accept", 0.0, 1.0, strict=True)
        self.require_range("max_tree_depth", 2, 14)
        self.require_range("start_scale", 0.0, strict=True)


@dataclass
class EmceeSettings(Settings):
    """emcee's ensemble sampler with differential-evolution moves (section ``reference.emcee``)."""

    SECTION = "reference.emcee"

    n_walkers: int = 16
    n_burn: int = 500
    n_steps: int = 1000
    max_steps: int = 24000
    coordinates: str = "auto"

    def check(self) -> None:
        self.require_choice("coordinates", COORDINATES)
        if self.n_walkers < 8 or self.n_walkers % 4:
            raise ConfigError(
                f"{self.SECTION}.n_walkers (per chain) must be a multiple of 4 and at least 8, got {self.n_walkers}"
            )
        self.require_range("n_burn", 0)
        self.require_range("n_steps", 8)
        self.require_range("max_steps", self.n_steps)


@dataclass
class ReferenceSettings(Settings):
    """The exact-likelihood referee: sampler, chains, convergence budget, output size, Fisher quadrature."""

    SECTION = "reference"

    sampler: str = "emcee"
    n_chains: int = 4
    ess_target: int = 400
    rhat_max: float = 1.01
    n_samples: int = 10000
    fisher_panels: int = 16
    nuts: NUTSSettings = field(default_factory=NUTSSettings)
    emcee: EmceeSettings = field(default_factory=EmceeSettings)

    def check(self) -> None:
        self.require_choice("sampler", SAMPLERS)
        self.require_range("n_chains", 2)
        self.require_range("ess_target", 1)
        self.require_range("rhat_max", 1.0, strict=True)
        self.require_range("n_samples", 1)
        self.require_range("fisher_panels", 1)
        if self.sampler == "nuts" and self.n_chains * self.nuts.max_draws < self.n_samples:
            raise ConfigError(
                f"reference: n_chains x nuts.max_draws = {self.n_chains * self.nuts.max_draws} is fewer than n_samples = {self.n_samples}"
            )
        if self.sampler == "emcee" and self.n_chains * self.emcee.n_walkers * self.emcee.max_steps < self.n_samples:
            raise ConfigError(
                f"reference: n_chains x emcee.n_walkers x emcee.max_steps = {self.n_chains * self.emcee.n_walkers * self.emcee.max_steps} "
                f"is fewer than n_samples = {self.n_samples}"
            )
