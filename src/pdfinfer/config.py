"""Configuration checks run by the workflow before any job is scheduled (``config/README.md``).

:func:`check_config` validates the config against ``config/config.schema.yaml`` and reports the
first problem in one line (the key's path, the value, what is allowed), then checks what the
schema cannot express: sizes that must agree across sections and every enabled method's settings
dataclass (:mod:`pdfinfer.methods`). Imports nothing heavy: Snakemake runs it at parse time.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pdfinfer.constraints.settings import constraint_settings
from pdfinfer.errors import ConfigError
from pdfinfer.methods import REGISTRY, Method, enabled

#: Settings classes of the config sections that are not methods ("module:Class", torch-free).
STAGE_SETTINGS = {
    "compare": "pdfinfer.compare.settings:CompareSettings",
    "predictive": "pdfinfer.compare.settings:PredictiveSettings",
    "coverage": "pdfinfer.compare.settings:CoverageSettings",
    "contamination": "pdfinfer.contamination.settings:ContaminationSettings",
    "constraint_study": "pdfinfer.constraints.settings:ConstraintStudySettings",
}


def settings_class(section: str) -> type:
    """The settings dataclass of a config section (a stage's or a registered method's)."""
    for m in REGISTRY.values():
        if m.section == section:
            return m.settings_class()
    if section not in STAGE_SETTINGS:
        raise ConfigError(f"no settings class for the config section {section!r}")
    module, name = STAGE_SETTINGS[section].split(":")
    return getattr(importlib.import_module(module), name)


def section_settings(config: Mapping[str, Any], section: str) -> Any:
    """The validated settings object of one config section (defaults filled in)."""
    return settings_class(section).from_config(config.get(section, {}), where=section)


def load_schema(path: str | Path) -> dict[str, Any]:
    """The config schema (YAML)."""
    with open(path) as handle:
        return yaml.safe_load(handle)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _describe(error: jsonschema.ValidationError) -> str:
    """One line for a schema violation: the key, its value and the allowed keys or values."""
    where, schema = _where(error), error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, Mapping) else []
        prefix = "" if where == "(top level)" else f"{where}."
        return f"unknown key {', '.join(prefix + k for k in extra)}; allowed keys{' of ' + where if prefix else ''}: {', '.join(allowed)}"
    if error.validator == "enum":
        return f"{where} = {error.instance!r} is not allowed; allowed values: {', '.join(map(repr, schema['enum']))}"
    if error.validator == "type":
        return f"{where} = {error.instance!r} has the wrong type; expected {schema['type']}"
    return f"{where} = {error.instance!r}: {error.message}"


def validate_schema(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise a one-line :class:`ConfigError` for the most relevant schema violation, if any."""
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(dict(config)))
    if error is not None:
        raise ConfigError(f"config: {_describe(error)}")


def check_sizes(config: Mapping[str, Any]) -> None:
    """Cross-key size checks the JSON schema cannot express."""
    obs = config["observation"]
    for n in sorted(set(config["sweep"]["n_obs"]) | {obs["n_obs"]}):
        if n > obs["n_truth"]:
            raise ConfigError(
                f"config: observed-set size {n} (observation.n_obs / sweep.n_obs) exceeds observation.n_truth = {obs['n_truth']}"
            )
    data = config["training_data"]
    if data["n_shards"] > data["n_simulations"]:
        raise ConfigError(
            f"config: training_data.n_shards = {data['n_shards']} exceeds training_data.n_simulations = {data['n_simulations']}"
        )
    results = str(config["results"]).strip()
    if not results or Path(results).resolve() == Path("/"):
        raise ConfigError(f"config: results = {config['results']!r} must name a directory other than the filesystem root")


def check_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[Method]:
    """Validate ``config`` (schema, sizes, every enabled method's settings); return the enabled methods."""
    validate_schema(config, schema)
    check_sizes(config)
    methods = enabled(config.get("methods", []))
    for m in methods:
        m.build_settings(config)
    for section in STAGE_SETTINGS:
        section_settings(config, section)
    constraint = constraint_settings(config)
    study = section_settings(config, "constraint_study").enabled
    hard = constraint.form == "hard" and (constraint.enabled or study)
    if hard and section_settings(config, "reference").sampler == "nuts":
        where = "" if constraint.enabled else " (the referee of constraint_study's sum-rule case)"
        raise ConfigError(
            f"config: observation.constraints.form = 'hard' with reference.sampler = 'nuts'{where}: NUTS stalls on the band's "
            "steep walls (a 128-event run did not finish warm-up in 27 min); use reference.sampler: emcee or form: soft"
            + ("" if constraint.enabled else ", or constraint_study.enabled: false")
        )
    return methods
