"""The method registry: every inference method of the pipeline, declared once (``docs/add-a-method.md``).

Each :class:`Method` says what the workflow, the comparison and the plots need to know: its
label and family, its config section and settings class, where its outputs lie, which outputs
it has, and how it is drawn. ``workflow/rules/common.smk`` builds the targets and the
compare/plot inputs from :data:`REGISTRY`; :mod:`pdfinfer.compare` and :mod:`pdfinfer.plotting`
iterate over it. No method name appears as a literal outside its own module, its rule file and
its entry here.

This module imports nothing heavy (Snakemake imports it to plan the workflow); settings classes
are named as ``"module:Class"`` and imported on demand from torch-free ``settings`` modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pdfinfer.errors import ConfigError

#: Method families: the referee, simulation-based inference, adversarial learning.
FAMILIES = ("reference", "sbi", "adversarial")


@dataclass(frozen=True)
class Method:
    """One inference method as the workflow sees it.

    Paths are patterns under the ``results`` directory with the wildcard ``{n_obs}`` (and
    ``{replica}`` for per-replica files). Every method writes ``samples`` (``(K, 6)``
    normalized draws, the common layout of :func:`pdfinfer.io.write_samples`) with its own
    ``wall_time_s`` attribute.
    """

    label: str
    family: str
    title: str
    color: str
    section: str
    settings: str
    samples: str
    amortized: bool = False
    model: str | None = None
    diagnostics: str | None = None
    history: str | None = None
    replicas: str | None = None
    replica_samples: str | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"method {self.label!r}: family {self.family!r} is not one of {FAMILIES}")
        if self.amortized and not (self.model and self.diagnostics):
            raise ValueError(f"method {self.label!r}: an amortized method declares its model and diagnostics files")
        if bool(self.replicas) != bool(self.replica_samples):
            raise ValueError(f"method {self.label!r}: replicas and replica_samples go together")

    def settings_class(self) -> type:
        """The method's settings dataclass (imported from its torch-free settings module)."""
        module, name = self.settings.split(":")
        return getattr(importlib.import_module(module), name)

    def build_settings(self, config: Mapping[str, Any]) -> Any:
        """The method's settings from its config section (validated; defaults filled in)."""
        return self.settings_class().from_config(config.get(self.section, {}), where=self.section)

    def n_replicas(self, config: Mapping[str, Any]) -> int:
        """Number of replica runs (0 for a method without replicas)."""
        return int(config.get(self.section, {}).get(self.replicas, 0)) if self.replicas else 0

    def path(self, kind: str, results: str, n_obs: int | str = "{n_obs}", replica: int | str = "{replica}") -> str:
        """The ``kind`` output (``samples``, ``model``, ``diagnostics``, ``replica_samples``) under ``results``."""
        pattern = getattr(self, kind)
        if pattern is None:
            raise KeyError(f"method {self.label!r} has no {kind!r} output")
        return f"{results}/" + pattern.format(n_obs=n_obs, replica=replica)


#: Every method, in drawing order (the referee first, underneath). Colours: Okabe-Ito, colour-blind safe.
REGISTRY: dict[str, Method] = {
    m.label: m
    for m in (
        Method(
            label="reference",
            family="reference",
            title="Exact posterior (MCMC)",
            color="#000000",
            section="reference",
            settings="pdfinfer.reference.settings:ReferenceSettings",
            samples="reference/n{n_obs}/samples.h5",
        ),
        Method(
            label="npe",
            family="sbi",
            title="NPE (sbi)",
            color="#0072B2",
            section="npe",
            settings="pdfinfer.npe.settings:NPESettings",
            samples="npe/n{n_obs}/samples.h5",
            amortized=True,
            model="npe/n{n_obs}/posterior.pt",
            diagnostics="npe/n{n_obs}/diagnostics.json",
            history="npe",
        ),
        Method(
            label="adversarial",
            family="adversarial",
            title="Adversarial (pooled seeds)",
            color="#D55E00",
            section="adversarial",
            settings="pdfinfer.adversarial.settings:AdversarialSettings",
            samples="adversarial/n{n_obs}/pooled.h5",
            history="adversarial",
            replicas="seeds",
            replica_samples="adversarial/n{n_obs}/seed{replica}.h5",
        ),
        Method(
            label="gatsbi",
            family="adversarial",
            title="GATSBI (amortized adversarial)",
            color="#E69F00",
            section="gatsbi",
            settings="pdfinfer.gatsbi.settings:GATSBISettings",
            samples="gatsbi/n{n_obs}/samples.h5",
            amortized=True,
            model="gatsbi/n{n_obs}/generator.pt",
            diagnostics="gatsbi/n{n_obs}/diagnostics.json",
        ),
    )
}

#: The referee every other method is scored against; always run.
REFERENCE = "reference"

#: Colours of the non-method elements of figures.
OBSERVED_COLOR = "#000000"
TRUTH_COLOR = "#CC79A7"
#: Colours for replicas of one method (seeds, bootstrap runs), cycled.
REPLICA_COLORS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def method(label: str) -> Method:
    """The registered method ``label``; a one-line error listing the known labels otherwise."""
    try:
        return REGISTRY[label]
    except KeyError:
        raise ConfigError(f"unknown method {label!r}; registered methods: {sorted(REGISTRY)}") from None


def enabled(labels: Sequence[str]) -> list[Method]:
    """The methods named in the config's ``methods`` list, the referee first, in registry order."""
    wanted = {REFERENCE, *labels}
    for label in wanted:
        method(label)
    return [m for m in REGISTRY.values() if m.label in wanted]


def title(label: str) -> str:
    """Legend label of a method label (the label itself for names outside the registry)."""
    return REGISTRY[label].title if label in REGISTRY else label


def color(label: str) -> str:
    """Colour of a method label (grey for names outside the registry)."""
    return REGISTRY[label].color if label in REGISTRY else "#777777"


def order(labels: Sequence[str]) -> list[str]:
    """``labels`` in registry (drawing) order, unknown names last."""
    rank = {label: i for i, label in enumerate(REGISTRY)}
    return sorted(labels, key=lambda label: (rank.get(label, len(rank)), label))
