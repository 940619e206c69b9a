# Configuration validation, paths and input functions shared by every rule file
# (docs/pipeline.md). Which methods run, and where their outputs lie, comes from the method
# registry (src/pdfinfer/methods.py); no rule file outside a method's own names another method.

import hashlib
import json
import os
import shlex
import sys

from snakemake.utils import validate

# Rules run `python -m pdfinfer.<module>` from this checkout, whichever environment runs them
# (the set-up's venv, a conda env from envs/, or a cluster node re-reading this file).
PACKAGE_SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, PACKAGE_SRC)

from pdfinfer.config import (
    check_config,
    load_schema,
    section_settings,
    validate_schema,
)  # noqa: E402
from pdfinfer.errors import ConfigError  # noqa: E402
from pdfinfer.methods import REFERENCE, REGISTRY, rule_files  # noqa: E402

SCHEMA_PATH = os.path.join(workflow.basedir, "config", "config.schema.yaml")
# One line naming the key and the allowed keys or values (not the whole schema), then the
# defaults are filled in by Snakemake's validate.
validate_schema(config, load_schema(SCHEMA_PATH))
validate(config, schema=SCHEMA_PATH)
#: The enabled methods (config `methods`, the referee always), every settings object checked.
METHODS = check_config(config, load_schema(SCHEMA_PATH))
LEARNED = [m for m in METHODS if m.label != REFERENCE]
#: Rule files of every registered method (enabled or not: their rules exist, their targets only when enabled).
METHOD_RULE_FILES = rule_files()
AMORTIZED = [m for m in METHODS if m.amortized]

if (
    str(config["device"]).startswith("cuda")
    and workflow.local_exec
    and workflow.is_main_process
):
    # Local jobs would each fail on their first tensor; a cluster's login node may lack the GPUs its nodes have.
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"config: device = {config['device']!r} but CUDA is not available here; use device: auto or cpu"
        )

RESULTS = config["results"]
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(PACKAGE_SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)
CONDA_ENV = "../../envs/pdfinfer.yaml"
N_OBS = config["observation"]["n_obs"]
SWEEP = sorted(set(config["sweep"]["n_obs"]) | {N_OBS})
NORM = config["observation"]["normalization"]
#: The normalization observable on/off, as the modules' --normalization flag takes it.
NORM_FLAG = "on" if NORM["enabled"] else "off"
OBSERVED = f"{RESULTS}/data/n{{n_obs}}/observed.h5"
#: Held-out prior-predictive sets (own seed stream): the calibration set of every amortized method.
HOLDOUT = f"{RESULTS}/data/n{{n_obs}}/holdout.h5"
#: Posterior-predictive replicate sets of one method (or `truth`), read by compare and the plots.
PREDICTIVE = f"{RESULTS}/predictive/n{{n_obs}}/{{method}}.h5"


wildcard_constraints:
    n_obs=r"\d+",
    shard=r"\d+",
    seed=r"\d+",
    replica=r"\d+",
    method="|".join(["truth", *REGISTRY]),


def theory_spec():
    """The configured theory as the JSON spec the modules take (quote it with :q in shell)."""
    name = config["theory"]["name"]
    return json.dumps({"name": name, **config["theory"].get(name, {})}, sort_keys=True)


def settings_json(section):
    """The validated settings of a config section as canonical JSON (`--settings {params.settings:q}`)."""
    return section_settings(config, section).to_json()


def method_path(label, kind="samples", n_obs="{n_obs}", replica="{replica}"):
    """An output of a registered method (kind: samples, model, diagnostics, replica_samples)."""
    return REGISTRY[label].path(kind, RESULTS, n_obs, replica)


def method_samples(wildcards):
    """Samples file of the method named by the `method` wildcard (the truth has none)."""
    return method_path(wildcards.method, n_obs=wildcards.n_obs)


def replica_paths(m, n_obs="{n_obs}"):
    """Per-replica samples files of a method (empty for a method without replicas)."""
    return [
        m.path("replica_samples", RESULTS, n_obs, r)
        for r in range(m.n_replicas(config))
    ]


def config_hash(*sections):
    """Short hash of the named config sections, recorded in outputs for provenance."""
    payload = json.dumps(
        {s: config.get(s) for s in sections}, sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def shard_sizes():
    """Simulations per shard: as even as possible, summing to n_simulations."""
    total, shards = (
        config["training_data"]["n_simulations"],
        config["training_data"]["n_shards"],
    )
    return [total // shards + (i < total % shards) for i in range(shards)]


def training_shards(wildcards):
    """All training shards of one observed-set size."""
    return expand(
        f"{RESULTS}/data/n{{n_obs}}/train/shard{{shard}}.h5",
        n_obs=wildcards.n_obs,
        shard=range(config["training_data"]["n_shards"]),
    )


def log_path(rule_name, pattern=""):
    """results/logs/<rule>[/<pattern>].log"""
    return (
        f"{RESULTS}/logs/{rule_name}/{pattern}.log"
        if pattern
        else f"{RESULTS}/logs/{rule_name}.log"
    )


def benchmark_path(rule_name, pattern=""):
    """results/benchmarks/<rule>[/<pattern>].tsv"""
    return (
        f"{RESULTS}/benchmarks/{rule_name}/{pattern}.tsv"
        if pattern
        else f"{RESULTS}/benchmarks/{rule_name}.tsv"
    )


# Rule files append the final outputs of their stage here; `rule all` requests them together
# with every enabled method's samples (and, for amortized methods, diagnostics) per n_obs.
TARGETS = []


def all_targets():
    methods = [m.path("samples", RESULTS, n) for m in METHODS for n in SWEEP]
    diagnostics = [
        m.path(kind, RESULTS, n)
        for m in AMORTIZED
        for n in SWEEP
        for kind in ("diagnostics", "diagnostics_h5")
    ]
    return methods + diagnostics + TARGETS
