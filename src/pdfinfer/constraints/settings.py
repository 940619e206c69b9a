"""Settings of the sum-rule constraint, the config section ``observation.constraints`` (torch-free).

``kind``: ``none`` (the uniform box prior, every output as without this section) or
``sum_rules`` (the valence sum rules multiply the prior, see :mod:`pdfinfer.constraints.sumrules`).
``form``: ``soft`` (Gaussian in the relative deviation of each integral, standard deviation
``tolerance``) or ``hard`` (a flat-topped band of half-width ``tolerance``). ``none`` is spelled
out rather than ``off``: YAML 1.1 reads a bare ``off`` as the boolean ``false``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pdfinfer.errors import ConfigError
from pdfinfer.settings import Settings

KINDS = ("none", "sum_rules")
FORMS = ("soft", "hard")


@dataclass
class ConstraintSettings(Settings):
    """The prior-side physics constraint shared by every method (``observation.constraints``)."""

    SECTION: ClassVar[str] = "observation.constraints"
    WORKFLOW_KEYS: ClassVar[tuple[str, ...]] = ()

    kind: str = "none"
    form: str = "soft"
    tolerance: float = 0.05

    @property
    def enabled(self) -> bool:
        """Whether the constraint changes the prior at all."""
        return self.kind != "none"

    def check(self) -> None:
        self.require_choice("kind", KINDS)
        self.require_choice("form", FORMS)
        if isinstance(self.tolerance, bool) or not isinstance(self.tolerance, (int, float)):
            raise ConfigError(f"{self.SECTION}.tolerance = {self.tolerance!r} must be a number in (0, 1]")
        self.require_range("tolerance", 0.0, None, strict=True)
        self.require_range("tolerance", None, 1.0)


def constraint_settings(config: Mapping[str, Any]) -> ConstraintSettings:
    """The validated constraint settings of a whole config (defaults when the section is absent)."""
    observation = config.get("observation") or {}
    return ConstraintSettings.from_config(observation.get("constraints"), where=ConstraintSettings.SECTION)


@dataclass
class ConstraintStudySettings(Settings):
    """The "physics constraints?" study (section ``constraint_study``, :mod:`pdfinfer.constraints.study`).

    When ``enabled``, the referee also samples the observed set of ``n_obs`` events (0: the
    smallest sweep size) with the normalization observable and with the sum rules (the form and
    tolerance of ``observation.constraints``), beside the events alone; the run's own referee is
    reused for the case whose information it has."""

    SECTION: ClassVar[str] = "constraint_study"

    enabled: bool = True
    n_obs: int = 0

    def check(self) -> None:
        self.require_range("n_obs", 0)
