"""Settings of the contamination study (config section ``contamination``). Imports nothing heavy.

Torch-free: Snakemake imports this module to validate the config before any job runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pdfinfer.errors import ConfigError
from pdfinfer.settings import Settings

#: Outlier kinds (:mod:`pdfinfer.contamination.model`).
KINDS = ("broad", "shifted")
#: The kind name of the uncontaminated set (eps = 0), shared by every kind.
CLEAN = "clean"


@dataclass
class ContaminationSettings(Settings):
    """Contaminated observed sets at the truth (section ``contamination``).

    ``sets`` observed sets at :math:`\\eta^*` of ``n_obs`` events (0: the smallest sweep size); in
    each, a fraction ``eps`` of the events is replaced by outliers of every kind in ``kinds``.
    ``shift`` is the offset (normalized units, added to every coordinate of :math:`\\eta^*` and
    clipped to the box) of the ``shifted`` outliers. A method "degrades gracefully" when its
    posterior mean moves by at most ``graceful_sd`` clean exact-posterior standard deviations at
    the largest ``eps`` of every kind.
    """

    SECTION = "contamination"

    enabled: bool = False
    eps: list[float] = field(default_factory=lambda: [0.0, 0.01, 0.05, 0.1])
    kinds: list[str] = field(default_factory=lambda: ["broad", "shifted"])
    sets: int = 2
    n_obs: int = 0
    shift: float = 0.25
    graceful_sd: float = 1.0

    def check(self) -> None:
        if not self.eps or any(isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 <= e <= 0.5 for e in self.eps):
            raise ConfigError(f"contamination.eps = {self.eps!r} must be a non-empty list of fractions in [0, 0.5]")
        if len(set(self.eps)) != len(self.eps):
            raise ConfigError(f"contamination.eps = {self.eps!r} repeats a value")
        if not self.kinds or len(set(self.kinds)) != len(self.kinds) or any(k not in KINDS for k in self.kinds):
            raise ConfigError(f"contamination.kinds = {self.kinds!r} must be distinct values from {list(KINDS)}")
        self.require_range("sets", 1)
        self.require_range("n_obs", 0)
        self.require_range("shift", 0.0, 1.0, strict=True)
        self.require_range("graceful_sd", 0.0, strict=True)

    def levels(self) -> list[float]:
        """The contamination fractions studied, ascending, always with the clean set (0)."""
        return sorted({float(e) for e in self.eps} | {0.0})

    def cells(self) -> list[tuple[str, float]]:
        """Every ``(kind, eps)`` studied: ``(clean, 0)`` once, then each kind at each ``eps > 0``."""
        return [(CLEAN, 0.0)] + [(k, e) for k in self.kinds for e in self.levels() if e > 0]
