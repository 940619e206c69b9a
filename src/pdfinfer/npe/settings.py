"""Settings of the NPE baseline: the ``npe`` config section, each default stated once.

Torch-free (Snakemake imports it to validate the config before any job runs). The config schema
(``config/config.schema.yaml``) repeats these defaults with types, ranges and descriptions; a
test asserts they agree. See ``docs/methods.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdfinfer.errors import ConfigError
from pdfinfer.settings import Settings

#: sbi flows the estimator may use.
FLOWS = ("nsf", "maf", "zuko_nsf", "zuko_maf")
#: Pooled statistics of the per-event features (see :mod:`pdfinfer.npe.embedding`).
POOLINGS = ("mean", "mean_std")
#: What the set embedding pools: a learned per-event MLP, fixed moments of the features, or both.
STATISTICS = ("learned", "moments", "both")
#: Learning-rate schedules of the training loop (see :mod:`pdfinfer.npe.loop`).
SCHEDULES = ("constant", "cosine")
#: Shard rows the standardization of the inputs is fitted on (at most; :func:`pdfinfer.npe.data.data_spec`).
STANDARDIZATION_SETS = 4096
#: The validation loss is evaluated this many sets at a time (or ``batch_size``, if larger).
VALIDATION_BATCH = 512


@dataclass
class EmbeddingSettings(Settings):
    """The permutation-invariant set embedding: pooled statistics (learned and/or moments), head.

    These defaults are the original Deep Sets embedding; NPE and TSNPE use those of
    :class:`NPEEmbeddingSettings` (the fixed moments).
    """

    SECTION = "npe.embedding"

    statistics: str = "learned"
    normalize: bool = False
    pooling: str = "mean"
    event_hidden: int = 32
    event_layers: int = 1
    event_features: int = 16
    hidden: int = 64
    layers: int = 2
    output_dim: int = 32

    def check(self) -> None:
        self.require_choice("statistics", STATISTICS)
        self.require_choice("pooling", POOLINGS)
        for key in ("event_hidden", "event_layers", "event_features", "hidden", "output_dim"):
            self.require_range(key, 1)
        self.require_range("layers", 2)


@dataclass
class TrainingSettings(Settings):
    """Optimization: Adam, early stopping on a validation split, optional fresh simulations.

    These defaults are the original ones (TSNPE's per-round training); NPE's own defaults are those
    of :class:`NPETrainingSettings`.
    """

    SECTION = "npe.training"

    batch_size: int = 64
    learning_rate: float = 0.001
    schedule: str = "constant"
    max_epochs: int = 60
    stop_after_epochs: int = 8
    validation_fraction: float = 0.1
    clip_max_norm: float = 5.0
    fresh_simulations: int = 0

    def check(self) -> None:
        self.require_choice("schedule", SCHEDULES)
        for key in ("batch_size", "max_epochs", "stop_after_epochs"):
            self.require_range(key, 1)
        self.require_range("validation_fraction", 0.0, 1.0, strict=True)
        self.require_range("learning_rate", 0.0, strict=True)
        self.require_range("clip_max_norm", 0.0, strict=True)
        self.require_range("fresh_simulations", 0)


@dataclass
class NPEEmbeddingSettings(EmbeddingSettings):
    """NPE's embedding: the standardized fixed moments alone (``benchmarks/bench_npe.py``'s budget table)."""

    statistics: str = "moments"


@dataclass
class NPETrainingSettings(TrainingSettings):
    """NPE's optimization: more, larger steps under a cosine schedule, on sets simulated afresh every
    epoch (fixed shards overfit: expected-coverage deviation 0.164 against 0.116; ``benchmarks/bench_npe.py``)."""

    learning_rate: float = 0.002
    schedule: str = "cosine"
    max_epochs: int = 80
    stop_after_epochs: int = 15
    fresh_simulations: int = 8192
    fresh_chunk_sets: int = 512
    max_validation_sets: int = 2048

    def check(self) -> None:
        super().check()
        self.require_range("fresh_chunk_sets", 1)
        self.require_range("max_validation_sets", 1)


@dataclass
class DiagnosticsSettings(Settings):
    """Calibration on the held-out sets (:mod:`pdfinfer.calibration`)."""

    SECTION = "npe.diagnostics"

    n_sims: int = 500
    n_posterior_samples: int = 1000
    c2st: bool = False

    def check(self) -> None:
        self.require_range("n_sims", 2)
        self.require_range("n_posterior_samples", 2)


@dataclass
class NPESettings(Settings):
    """Neural posterior estimation with an sbi flow on a set embedding (``pdfinfer.npe``)."""

    SECTION = "npe"

    flow: str = "maf"
    hidden_features: int = 64
    num_transforms: int = 5
    num_bins: int = 8
    logit_transform: bool = True
    embedding: NPEEmbeddingSettings = field(default_factory=NPEEmbeddingSettings)
    training: NPETrainingSettings = field(default_factory=NPETrainingSettings)
    n_samples: int = 10000
    diagnostics: DiagnosticsSettings = field(default_factory=DiagnosticsSettings)

    def check(self) -> None:
        self.require_choice("flow", FLOWS)
        for key in ("hidden_features", "num_transforms", "n_samples"):
            self.require_range(key, 1)
        self.require_range("num_bins", 2)
        if self.logit_transform and self.flow not in ("nsf", "maf"):
            raise ConfigError(
                f"npe.logit_transform: true needs npe.flow nsf or maf (the box logit wraps an nflows flow), "
                f"not {self.flow!r}; set npe.logit_transform: false for the zuko flows"
            )
        if not isinstance(self.embedding, EmbeddingSettings) or not isinstance(self.training, TrainingSettings):
            raise ConfigError("npe: embedding and training must be mappings of their settings")


def train_memory_bytes(training: NPETrainingSettings, n_simulations: int, n_events: int, n_features: int = 4) -> int:
    """Upper estimate of ``npe_train``'s memory in bytes beyond the ~2 GB of the libraries (CPU training).

    Counted in sets of ``n_events x n_features`` float32 (``n_features = 4``: the widest registered
    theory, ``dis`` with two targets). With fresh simulations: the shard rows read (validation and
    standardization rows, ``U = min(n_simulations, max(V, STANDARDIZATION_SETS))``), the validation
    copy (``V = min(n_simulations, max_validation_sets)``), one simulated chunk with the
    simulator's float64 temporaries (``12 x fresh_chunk_sets``) and the embedding's temporaries
    on one validation batch (``8 x max(batch_size, VALIDATION_BATCH)``). Fixed shards: every row
    with its training and validation copies (``4 x n_simulations``) and the same batch term.
    ``benchmarks/train_memory.py`` measures it.
    """
    batch = 8 * min(max(training.batch_size, VALIDATION_BATCH), n_simulations)
    if training.fresh_simulations > 0:
        validation = min(n_simulations, training.max_validation_sets)
        read = min(n_simulations, max(validation, STANDARDIZATION_SETS))
        sets = read + validation + 12 * min(training.fresh_chunk_sets, training.fresh_simulations) + batch
    else:
        sets = 4 * n_simulations + batch
    return sets * n_events * n_features * 4
