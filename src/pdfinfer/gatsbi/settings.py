"""Settings of GATSBI, the amortized adversarial posterior (config section ``gatsbi``).

Torch-free: Snakemake imports this module to validate the config before any job runs. Each
default is stated once, here; ``config/config.schema.yaml`` repeats them with types and meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdfinfer.errors import ConfigError
from pdfinfer.settings import Settings

#: Summaries of an event set: NPE's fixed moments, or a learned Deep Sets embedding.
STATISTICS = ("moments", "learned")


@dataclass
class EmbeddingSettings(Settings):
    """The summary :math:`s(x)` of an event set: fixed moments or a Deep Sets embedding
    :math:`\\rho(\\mathrm{mean}_i\\, \\phi(e_i))` (whose sizes the other keys set)."""

    SECTION = "gatsbi.embedding"

    statistics: str = "moments"  # moments (NPE's fixed standardized moments) | learned (Deep Sets, warm-started)
    event_hidden: int = 64  # per-event MLP phi: hidden units
    event_layers: int = 1  # per-event MLP phi: hidden layers
    event_features: int = 32  # per-event features that are mean-pooled
    hidden: int = 64  # head rho after pooling: hidden units
    output_dim: int = 16  # summary features (the normalization observable is appended when on)

    def check(self) -> None:
        self.require_choice("statistics", STATISTICS)
        for key in ("event_hidden", "event_features", "hidden", "output_dim"):
            self.require_range(key, 1)
        self.require_range("event_layers", 0)


@dataclass
class GATSBISettings(Settings):
    """Networks, warm start, adversarial training and sampling of GATSBI."""

    SECTION = "gatsbi"

    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    noise_dim: int = 6  # generator input noise z ~ N(0, I)
    generator_width: int = 128
    generator_depth: int = 3
    discriminator_width: int = 128
    discriminator_depth: int = 3
    warm_start_epochs: int = 25  # embedding pre-training by heteroscedastic regression of eta on s(x) (0: none)
    warm_start_lr: float = 0.001
    warm_start_events: int = 256  # events per set in each warm-start step, a fresh random subset every epoch (0: all)
    validation_fraction: float = 0.1  # held back for the warm start's early stopping
    finetune_embedding: bool = False  # train the embeddings adversarially after the warm start (slow: sets every step)
    simulations: int = (
        200000  # pairs the job simulates from the shards' prior for the adversarial phase (summaries kept, not events)
    )
    chunk_sets: int = 512  # sets read from the shards or simulated at once (memory: chunk_sets x n_obs events)
    epochs: int = 30  # adversarial epochs over the training pairs
    batch_size: int = 256  # real pairs per update
    fakes_per_real: int = 4  # generator draws z per real pair
    lr_generator: float = 0.001
    lr_discriminator: float = 0.001
    lr_final_fraction: float = 0.05  # both learning rates follow a cosine over the epochs down to this fraction (1: constant)
    beta1: float = 0.5  # Adam betas (both networks)
    beta2: float = 0.999
    d_steps: int = 1  # discriminator updates per generator update
    r1_weight: float = 0.1  # R1 gradient penalty on real pairs (0: off)
    spectral_norm: bool = False  # spectral normalization of the discriminator's layers
    ema: float = 0.999  # EMA decay of the generator weights (0: none); draws come from the EMA
    checkpoint_every: int = 10  # epochs between checkpoints
    n_samples: int = 10000  # posterior draws for the observed set
    diagnostics_samples: int = 1000  # posterior draws per hold-out set (SBC, coverage, TARP)

    def check(self) -> None:
        for key in (
            "noise_dim",
            "generator_width",
            "generator_depth",
            "discriminator_width",
            "discriminator_depth",
            "epochs",
            "batch_size",
            "fakes_per_real",
            "d_steps",
            "checkpoint_every",
            "n_samples",
            "chunk_sets",
        ):
            self.require_range(key, 1)
        self.require_range("warm_start_epochs", 0)
        self.require_range("simulations", 0)
        self.require_range("lr_final_fraction", 0.0, strict=True)
        self.require_range("lr_final_fraction", None, 1.0)
        self.require_range("warm_start_events", 0)
        self.require_range("diagnostics_samples", 2)
        for key in ("warm_start_lr", "lr_generator", "lr_discriminator"):
            self.require_range(key, 0.0, strict=True)
        self.require_range("validation_fraction", 0.0, 1.0, strict=True)
        for key in ("beta1", "beta2"):
            self.require_range(key, 0.0, 1.0)
        self.require_range("r1_weight", 0.0)
        self.require_range("ema", 0.0)
        if self.finetune_embedding and (self.embedding.statistics != "learned" or self.simulations):
            raise ConfigError(
                f"gatsbi.finetune_embedding = true needs gatsbi.embedding.statistics = 'learned' and gatsbi.simulations = 0 "
                f"(got {self.embedding.statistics!r} and {self.simulations}): fixed moments have nothing to train, and "
                "simulated pairs keep only their summaries"
            )
        if self.ema >= 1.0:
            raise ConfigError(f"gatsbi.ema = {self.ema!r} must lie in [0, 1) (1 would freeze the generator)")


#: Summary values of the fixed moments of the widest registered theory (``dis``, two targets:
#: ``4 F + 2 T`` with F = 4, T = 2).
WIDEST_MOMENTS = 20


def train_memory_bytes(settings: GATSBISettings, n_simulations: int, n_events: int, n_features: int = 4) -> int:
    """Upper estimate of ``gatsbi_train``'s memory in bytes beyond the ~2 GB of the libraries (CPU training).

    Counted in float32: ``12 x chunk_sets`` sets of ``n_events x n_features`` for one chunk read
    or simulated with its float64 temporaries, and per pair of all ``n_simulations + simulations``
    its 6 parameters, its summary and two normalization values; a warm start or fine-tuning of a
    learned embedding also holds every shard set twice (the read and its tensor). ``n_features = 4``:
    the widest registered theory. ``benchmarks/train_memory.py --method gatsbi`` measures it.
    """
    set_floats = n_events * n_features
    pair_floats = 6 + max(WIDEST_MOMENTS, settings.embedding.output_dim) + 2
    floats = 12 * settings.chunk_sets * set_floats + pair_floats * (n_simulations + settings.simulations)
    if settings.embedding.statistics == "learned" and (settings.warm_start_epochs > 0 or settings.finetune_embedding):
        floats += 2 * n_simulations * set_floats
    return 4 * floats
