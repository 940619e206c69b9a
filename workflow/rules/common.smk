# Configuration validation, paths and input functions shared by every rule file.

import hashlib
import json
import os
import shlex

from snakemake.utils import validate

validate(config, schema="../../config/config.schema.yaml")


def check_config(cfg):
    """Cross-key checks the JSON schema cannot express; raise before any job is scheduled."""
    obs = cfg["observation"]
    for n in sorted(set(cfg["sweep"]["n_obs"]) | {obs["n_obs"]}):
        if n > obs["n_truth"]:
            raise ValueError(
                f"config: observed-set size {n} (observation.n_obs / sweep.n_obs) exceeds "
                f"observation.n_truth = {obs['n_truth']}"
            )
    data = cfg["training_data"]
    if data["n_shards"] > data["n_simulations"]:
        raise ValueError(
            f"config: training_data.n_shards = {data['n_shards']} exceeds "
            f"training_data.n_simulations = {data['n_simulations']}"
        )


check_config(config)

RESULTS = config["results"]
# Rules run `python -m pdfinfer.<module>` from this checkout, whichever environment runs them
# (the set-up's venv, a conda env from envs/, or a cluster node re-reading this file).
PACKAGE_SRC = os.path.join(workflow.basedir, "src")
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(PACKAGE_SRC)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; ")
CONDA_ENV = "../../envs/pdfinfer.yaml"
N_OBS = config["observation"]["n_obs"]
SWEEP = sorted(set(config["sweep"]["n_obs"]) | {N_OBS})
NORM = config["observation"]["normalization"]


wildcard_constraints:
    n_obs=r"\d+",
    shard=r"\d+",
    seed=r"\d+",


def theory_spec():
    """The configured theory as the JSON spec the modules take (shell-quoted)."""
    name = config["theory"]["name"]
    return shlex.quote(json.dumps({"name": name, **config["theory"].get(name, {})}, sort_keys=True))


def config_hash(*sections):
    """Short hash of the named config sections, recorded in outputs for provenance."""
    payload = json.dumps({s: config.get(s) for s in sections}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def shard_sizes():
    """Simulations per shard: as even as possible, summing to n_simulations."""
    total, shards = config["training_data"]["n_simulations"], config["training_data"]["n_shards"]
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
    return f"{RESULTS}/logs/{rule_name}/{pattern}.log" if pattern else f"{RESULTS}/logs/{rule_name}.log"


def benchmark_path(rule_name, pattern=""):
    """results/benchmarks/<rule>[/<pattern>].tsv"""
    return f"{RESULTS}/benchmarks/{rule_name}/{pattern}.tsv" if pattern else f"{RESULTS}/benchmarks/{rule_name}.tsv"


# Rule files append the final outputs of their stage here; `rule all` requests them.
TARGETS = []


def all_targets():
    return TARGETS
