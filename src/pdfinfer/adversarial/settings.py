"""Settings of adversarial parameter learning: the ``adversarial`` config section (``docs/methods.md``).

Torch-free (Snakemake imports it to validate the config before any job runs). Each default is
stated once, here; ``config/config.schema.yaml`` keeps types, ranges and descriptions with the
same defaults (a test asserts they agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pdfinfer.errors import ConfigError
from pdfinfer.settings import Settings

#: Gradient routes to the generator.
MODES = ("reparam", "surrogate", "reinforce", "histogram")
#: Adversarial losses (see :mod:`pdfinfer.adversarial.losses`).
LOSSES = ("bce", "hinge", "wgan-gp", "rjs")
#: Set discriminators and Deep Sets poolings (see :mod:`pdfinfer.adversarial.networks`).
DISCRIMINATORS = ("deepsets", "attention")
POOLINGS = ("mean", "max", "sum")
#: Surrogate member networks (surrogate mode).
SURROGATE_MODELS = ("mlp", "quadratic")
#: Learning-rate schedules of the generator.
SCHEDULES = ("auto", "constant", "cosine")
#: How REINFORCE weighs the losses of a batch (see :mod:`pdfinfer.adversarial.blackbox`).
SHAPINGS = ("none", "asinh", "ranks")
#: Modes that use the simulator as a black box (no gradient through it).
BLACK_BOX_MODES = ("surrogate", "reinforce", "histogram")
#: Modes whose generator is trained through a surrogate ensemble S(eta): of the set loss
#: (``surrogate``) or of the binned chi2 to the observed set (``histogram``, no discriminator).
SURROGATE_MODES = ("surrogate", "histogram")
#: Shapes of the surrogate modes' local design (see :class:`pdfinfer.adversarial.blackbox.LocalDesign`).
DESIGNS = ("isotropic", "curvature")
#: Which generator state the output is drawn from: the last, or the one at the lowest logged chi2/bins.
SELECTIONS = ("last", "best_chi2")


@dataclass
class AdversarialSettings(Settings):
    """Training settings of one adversarial run (the schema documents each key)."""

    SECTION: ClassVar[str] = "adversarial"
    WORKFLOW_KEYS: ClassVar[tuple[str, ...]] = ("seeds", "threads", "gpus", "runtime_minutes")

    mode: str = "reparam"
    steps: int = 600
    batch_params: int = 8
    batch_events: int = 1024
    noise_dim: int = 8
    generator_width: int = 64
    generator_depth: int = 2
    discriminator: str = "deepsets"
    pooling: str = "mean"
    discriminator_width: int = 64
    discriminator_depth: int = 2
    attention_heads: int = 4
    attention_inducing: int = 16
    loss: str = "bce"
    gp_weight: float = 10.0
    mmd_weight: float = 1.0
    mmd_bandwidths: list[float] = field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0])
    mmd_events: int = 128
    energy_weight: float = 3.0
    energy_events: int = 8192
    lr_generator: float = 5e-3
    lr_discriminator: float = 1e-3
    lr_surrogate: float = 2e-3
    beta1: float = 0.5
    beta2: float = 0.9
    d_steps: int = 1
    surrogate_steps: int = 2
    surrogate_noise: float = 0.05
    surrogate_prior_fraction: float = 0.0
    surrogate_warmup: int = 50
    surrogate_width: int = 64
    surrogate_depth: int = 3
    surrogate_model: str = "quadratic"
    surrogate_members: int = 4
    surrogate_disagreement: float = 1.0
    surrogate_buffer: int = 512
    surrogate_points: int = 16
    surrogate_decay: float = 0.98
    surrogate_trust: float = 1.0
    surrogate_design: str = "isotropic"
    histogram_events: int = 32768
    histogram_bins: int = 20
    reinforce_batch: int = 32
    reinforce_init_scale: float = 0.5
    reinforce_min_scale: float = 0.05
    lr_reinforce: float = 0.05
    reinforce_shaping: str = "asinh"
    reinforce_antithetic: bool = False
    reinforce_common_noise: bool = False
    lr_schedule: str = "auto"
    lr_final_fraction: float = 0.05
    ema: float = 0.95
    checkpoint_every: int = 200
    log_every: int = 10
    n_samples: int = 10000
    select: str = "last"

    def check(self) -> None:
        """Refuse values the training cannot use, naming the key."""
        for key, allowed in (
            ("mode", MODES),
            ("loss", LOSSES),
            ("discriminator", DISCRIMINATORS),
            ("pooling", POOLINGS),
            ("surrogate_model", SURROGATE_MODELS),
            ("lr_schedule", SCHEDULES),
            ("reinforce_shaping", SHAPINGS),
            ("select", SELECTIONS),
            ("surrogate_design", DESIGNS),
        ):
            self.require_choice(key, allowed)
        positive = (
            "steps",
            "batch_params",
            "batch_events",
            "noise_dim",
            "generator_width",
            "discriminator_width",
            "attention_heads",
            "mmd_events",
            "energy_events",
            "lr_generator",
            "lr_discriminator",
            "lr_surrogate",
            "d_steps",
            "surrogate_steps",
            "surrogate_width",
            "checkpoint_every",
            "log_every",
            "n_samples",
            "surrogate_members",
            "surrogate_points",
            "reinforce_init_scale",
            "lr_final_fraction",
            "lr_reinforce",
            "histogram_events",
        )
        for key in positive:
            self.require_range(key, 0, None, strict=True)
        for key in (
            "gp_weight",
            "mmd_weight",
            "energy_weight",
            "surrogate_noise",
            "surrogate_warmup",
            "generator_depth",
            "discriminator_depth",
            "surrogate_depth",
            "attention_inducing",
            "surrogate_disagreement",
            "surrogate_trust",
            "reinforce_min_scale",
        ):
            self.require_range(key, 0, None)
        for key in ("beta1", "beta2", "ema", "surrogate_prior_fraction"):
            value = getattr(self, key)
            if not 0 <= value < 1:
                raise ConfigError(f"{self.SECTION}.{key} = {value!r} must lie in [0, 1)")
        self.require_range("lr_final_fraction", 0, 1, strict=False)
        self.require_range("surrogate_decay", 0, 1, strict=False)
        self.require_range("histogram_bins", 2, None)
        self.require_range("reinforce_batch", 2, None)  # the leave-one-out baseline needs two draws
        if self.reinforce_antithetic and (self.reinforce_batch % 2 or self.reinforce_batch < 4):
            raise ConfigError(
                f"{self.SECTION}.reinforce_batch = {self.reinforce_batch} must be even and at least 4 with "
                f"{self.SECTION}.reinforce_antithetic (pairs of draws, a baseline from the other pairs)"
            )
        self.require_range("surrogate_buffer", self.surrogate_points, None)
        if self.reinforce_init_scale <= self.reinforce_min_scale:
            raise ConfigError(
                f"{self.SECTION}.reinforce_init_scale = {self.reinforce_init_scale} must exceed "
                f"{self.SECTION}.reinforce_min_scale = {self.reinforce_min_scale}"
            )
        if not self.mmd_bandwidths or any(not h > 0 for h in self.mmd_bandwidths):
            raise ConfigError(
                f"{self.SECTION}.mmd_bandwidths must be a non-empty list of positive numbers, got {self.mmd_bandwidths!r}"
            )
        if self.discriminator == "attention" and self.discriminator_width % self.attention_heads:
            raise ConfigError(
                f"{self.SECTION}.attention_heads = {self.attention_heads} must divide "
                f"{self.SECTION}.discriminator_width = {self.discriminator_width}"
            )

    @property
    def black_box(self) -> bool:
        """Whether the simulator is used as a black box (surrogate, reinforce)."""
        return self.mode in BLACK_BOX_MODES

    @property
    def uses_surrogate(self) -> bool:
        """Whether the generator is trained through a surrogate ensemble (surrogate, histogram)."""
        return self.mode in SURROGATE_MODES

    @property
    def schedule(self) -> str:
        """The generator's learning-rate schedule (``auto``: constant for reparam, cosine otherwise)."""
        if self.lr_schedule != "auto":
            return self.lr_schedule
        return "cosine" if self.black_box else "constant"


@dataclass
class AdversarialBootstrapSettings(Settings):
    """The bootstrap ensemble of adversarial runs (the ``adversarial_bootstrap`` config section).

    Each of ``replicas`` runs trains with the ``adversarial`` section's settings on a resample of
    the observed data (see :mod:`pdfinfer.adversarial.bootstrap`).
    """

    SECTION: ClassVar[str] = "adversarial_bootstrap"
    WORKFLOW_KEYS: ClassVar[tuple[str, ...]] = ("replicas", "threads", "gpus", "runtime_minutes")

    resample_events: bool = True
    resample_norm: bool = True
