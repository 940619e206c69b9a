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
#: Kinds of training history a method's files carry (see :class:`Method`).
HISTORIES = ("steps", "epochs")


@dataclass(frozen=True)
class Method:
    """One inference method as the workflow sees it.

    Paths are patterns under the ``results`` directory with the wildcard ``{n_obs}`` (and
    ``{replica}`` for per-replica files). Every method writes ``samples`` (``(K, 6)``
    normalized draws, the common layout of :func:`pdfinfer.io.write_samples`) with its own
    ``wall_time_s`` attribute.

    Attributes:
        label: the method's name in files, metrics and rules.
        family: one of :data:`FAMILIES`.
        title, color: legend label and colour in every figure.
        section: its config section; ``settings``: its settings class as ``"module:Class"``.
        samples: its samples file.
        amortized: trained once for all observations; then ``model`` (the trained network) and
            ``diagnostics`` (the JSON summary of SBC, expected coverage and TARP on the shared
            hold-out sets; the arrays are in the ``.h5`` file beside it, kind ``diagnostics_h5``)
            are declared.
        history: the training history its samples (or replica) files carry, drawn by the
            training figure: ``"steps"`` (adversarial losses and generated-parameter trajectories
            per step), ``"epochs"`` (training/validation loss per epoch) or ``None``.
        replicas: key of its config section giving the number of independent runs, each a job
            writing ``replica_samples`` (wildcard ``{replica}``) that ``samples`` pools.
        rules: the stem of its rule file ``workflow/rules/<rules>.smk`` (default: the label; methods
            may share one), included by the Snakefile for every registered method.
        fit: ``"module:function"`` that refits the method on another observed set, for the
            coverage over replicated observed sets (:mod:`pdfinfer.compare.replicas`), with the
            signature ``fit(settings, observed: EventSet, normalization: bool, seed: int, device: str,
            model: str | None) -> (K, 6)``; ``model`` is the method's ``model`` file when it declares one. ``None``:
            the method is not refitted (amortized methods are calibrated on the hold-out sets).
        sampler: for an amortized method, the module whose command line draws its trained model's posterior
            for an observed-set file (``python -m <sampler> --model M --observed O --normalization on|off --out S``
            plus the common arguments); the contamination study samples it on contaminated sets.
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
    fit: str | None = None
    sampler: str | None = None
    rules: str = ""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"method {self.label!r}: family {self.family!r} is not one of {FAMILIES}")
        if self.amortized and not (self.model and self.diagnostics):
            raise ValueError(f"method {self.label!r}: an amortized method declares its model and diagnostics files")
        if self.history is not None and self.history not in HISTORIES:
            raise ValueError(f"method {self.label!r}: history {self.history!r} is not one of {HISTORIES}")
        if bool(self.replicas) != bool(self.replica_samples):
            raise ValueError(f"method {self.label!r}: replicas and replica_samples go together")

    @property
    def rule_file(self) -> str:
        """Path of its rule file relative to the repository root."""
        return f"workflow/rules/{self.rules or self.label}.smk"

    def fit_function(self) -> Any:
        """The method's refit function (see ``fit``); imported on demand."""
        if self.fit is None:
            raise ConfigError(f"method {self.label!r} cannot be refitted on replicated observed sets")
        module, name = self.fit.split(":")
        return getattr(importlib.import_module(module), name)

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
        """The ``kind`` output (``samples``, ``model``, ``diagnostics``, ``diagnostics_h5``, ``replica_samples``) under ``results``."""
        if kind == "diagnostics_h5":
            return self.path("diagnostics", results, n_obs, replica).removesuffix(".json") + ".h5"
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
            fit="pdfinfer.reference.fit:fit",
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
            history="epochs",
            sampler="pdfinfer.npe.sample",
        ),
        Method(
            label="nle",
            family="sbi",
            title="NLE (sbi, iid events)",
            color="#009E73",
            section="nle",
            settings="pdfinfer.nle.settings:NLESettings",
            samples="nle/n{n_obs}/samples.h5",
            model="nle/n{n_obs}/likelihood.pt",
            history="epochs",
        ),
        Method(
            label="tsnpe",
            family="sbi",
            title="TSNPE (sbi, truncated rounds)",
            color="#56B4E9",
            section="tsnpe",
            settings="pdfinfer.tsnpe.settings:TSNPESettings",
            samples="tsnpe/n{n_obs}/samples.h5",
        ),
        Method(
            label="adversarial",
            family="adversarial",
            title="Adversarial (pooled seeds)",
            color="#D55E00",
            section="adversarial",
            settings="pdfinfer.adversarial.settings:AdversarialSettings",
            samples="adversarial/n{n_obs}/pooled.h5",
            history="steps",
            replicas="seeds",
            replica_samples="adversarial/n{n_obs}/seed{replica}.h5",
            fit="pdfinfer.adversarial.fit:fit",
        ),
        Method(
            label="adversarial_bootstrap",
            family="adversarial",
            title="Adversarial bootstrap (point estimates)",
            color="#E69F00",
            section="adversarial_bootstrap",
            settings="pdfinfer.adversarial.settings:AdversarialBootstrapSettings",
            samples="adversarial_bootstrap/n{n_obs}/pooled.h5",
            replicas="replicas",
            replica_samples="adversarial_bootstrap/n{n_obs}/replica{replica}.h5",
            rules="adversarial",
        ),
        Method(
            label="gatsbi",
            family="adversarial",
            title="GATSBI (amortized adversarial)",
            color="#7E2F8E",
            section="gatsbi",
            settings="pdfinfer.gatsbi.settings:GATSBISettings",
            samples="gatsbi/n{n_obs}/samples.h5",
            amortized=True,
            model="gatsbi/n{n_obs}/generator.pt",
            diagnostics="gatsbi/n{n_obs}/diagnostics.json",
            sampler="pdfinfer.gatsbi.sample",
        ),
    )
}

#: The referee every other method is scored against; always run.
REFERENCE = "reference"
#: The family under study (highlighted in the comparison tables).
STUDIED_FAMILY = "adversarial"

#: Colours of the non-method elements of figures.
OBSERVED_COLOR = "#000000"
TRUTH_COLOR = "#CC79A7"
#: Colours for replicas of one method (seeds, bootstrap runs), cycled.
REPLICA_COLORS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


def rule_files() -> list[str]:
    """Every registered method's rule file, once each, in registry order."""
    return list(dict.fromkeys(m.rule_file for m in REGISTRY.values()))


def method(label: str) -> Method:
    """The registered method ``label``; a one-line error listing the known labels otherwise."""
    try:
        return REGISTRY[label]
    except KeyError:
        raise ConfigError(f"unknown method {label!r}; registered methods: {sorted(REGISTRY)}") from None


def enabled(labels: Sequence[str]) -> list[Method]:
    """The methods named in the config's ``methods`` list, the referee first, in registry order."""
    wanted = {REFERENCE, *labels}
    unknown = sorted(wanted - set(REGISTRY))
    if unknown:
        raise ConfigError(f"config: methods: unknown method(s) {unknown}; registered methods: {sorted(REGISTRY)}")
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
