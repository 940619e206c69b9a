"""The observed data one adversarial run learns from, read from an event file."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.errors import DataError
from pdfinfer.io import read_events
from pdfinfer.theory import Theory, make_theory


@dataclass
class Observation:
    """The observed set: events ``(N, F)``, the normalization measurement ``(T,)`` (``None`` when
    the observable is off) and its relative uncertainty; and the prior's sum-rule constraint that
    goes with it (kind ``none`` by default: the box)."""

    events: np.ndarray
    norm: np.ndarray | None
    rel_unc: float
    constraint: ConstraintSettings = field(default_factory=ConstraintSettings)


def read_observation(path: str, normalization: bool, constraint: ConstraintSettings | None = None) -> tuple[Theory, Observation]:
    """The theory and the :class:`Observation` of the event file ``path`` (one set ``(N, F)``), with ``constraint``."""
    observed = read_events(path, batched=False)
    norm = None
    if normalization:
        if observed.norm_rel_unc <= 0:
            raise DataError(f"{path}: --normalization on needs attribute norm_rel_unc > 0, got {observed.norm_rel_unc}")
        norm = observed.norm
    observation = Observation(observed.events, norm, observed.norm_rel_unc, constraint or ConstraintSettings())
    return make_theory(observed.theory), observation
