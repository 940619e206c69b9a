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
from pdfinfer.constraints.settings import constraint_settings  # noqa: E402
from pdfinfer.constraints.study import CASES as CONSTRAINT_CASES  # noqa: E402
from pdfinfer.constraints.study import case_constraint, matching_case  # noqa: E402
from pdfinfer.errors import ConfigError  # noqa: E402
from pdfinfer.methods import REFERENCE, REGISTRY, rule_files  # noqa: E402

SCHEMA_PATH = os.path.join(workflow.basedir, "config", "config.schema.yaml")
# Snakemake's validate fills in the schema's defaults; when it refuses the config, the message is
# one line naming the key and the allowed keys or values (not the whole schema and config).
try:
    validate(config, schema=SCHEMA_PATH)
except Exception:
    validate_schema(config, load_schema(SCHEMA_PATH))
    raise
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
#: The referee's Fisher report per size (beside its samples, method_path(REFERENCE)).
REFERENCE_FISHER = f"{RESULTS}/{REFERENCE}/n{{n_obs}}/fisher.json"
#: The prior's sum-rule constraint (observation.constraints) as the JSON the modules' --constraints takes.
CONSTRAINTS = constraint_settings(config).to_json()
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


# Figures (plots.smk): only config["plots"] feeds the plotting rules' params.
PLOTS = config["plots"]
PLOT_DIR = f"{RESULTS}/plots"
#: Style options shared by every plotting command (config["plots"] only).
PLOT_STYLE = f"--dpi {PLOTS['dpi']} --formats {' '.join(PLOTS['formats'])} --font-size {PLOTS['font_size']}"
#: Formats written beside each PNG (the report embeds the PNG; PDF/SVG are for papers).
OTHER_FORMATS = [fmt for fmt in PLOTS["formats"] if fmt != "png"]
PLOTTED = ", ".join(m.title for m in METHODS)
TRAINED = [m for m in METHODS if m.history]

# Coverage over replicated observed sets (coverage.smk).
COVERAGE = section_settings(config, "coverage")
COVERAGE_N = COVERAGE.n_obs or SWEEP[0]
REFITTED = [m for m in METHODS if m.fit]
REPLICA = f"{RESULTS}/coverage/n{{n_obs}}/{{method}}/{{kind}}{{index}}.h5"


# -------------------- input and parameter functions: Event generation (simulate.smk)


def predictive_source(wildcards):
    """The truth has no samples file; every method's replicate sets come from its samples."""
    return [] if wildcards.method == "truth" else [method_samples(wildcards)]


# -------------------- input and parameter functions: Comparison (compare.smk)


def compare_inputs(wildcards):
    """Observed set, referee outputs, every learned method's samples and every replicate-set file."""
    n = wildcards.n_obs
    inputs = {
        "observed": OBSERVED.format(n_obs=n),
        "referee": method_path(REFERENCE, n_obs=n),
        "fisher": REFERENCE_FISHER.format(n_obs=n),
        "truth_predictive": PREDICTIVE.format(n_obs=n, method="truth"),
    }
    for m in LEARNED:
        inputs[m.label] = m.path("samples", RESULTS, n)
    for m in METHODS:
        inputs[f"predictive_{m.label}"] = PREDICTIVE.format(n_obs=n, method=m.label)
    return inputs


def compare_arguments(wildcards, input):
    """--samples LABEL=PATH and --predictive LABEL=PATH for every method (shell-quoted)."""
    samples = [
        f"--samples {shlex.quote('='.join((m.label, input[m.label])))}" for m in LEARNED
    ]
    predictive = [
        f"--predictive {shlex.quote('='.join((m.label, input[f'predictive_{m.label}'])))}"
        for m in METHODS
    ]
    return " ".join(samples + predictive)


# -------------------- input and parameter functions: Figures (plots.smk)


def labelled(paths):
    """LABEL=PATH arguments, shell-quoted, for a {label: path} mapping."""
    return " ".join(shlex.quote(f"{label}={path}") for label, path in paths.items())


def figure_report(name, caption, category, figure, methods=PLOTTED, **labels):
    """A report() output for plots/n{n_obs}/<name>.png."""
    return report(
        f"{PLOT_DIR}/n{{n_obs}}/{name}.png",
        caption=f"../report/{caption}.rst",
        category=category,
        subcategory="n_obs = {n_obs}",
        labels={"figure": figure, "methods": methods, "n_obs": "{n_obs}", **labels},
    )


def other_formats(*names):
    """The non-PNG copies of figures plots/n{n_obs}/<name>.png."""
    return expand(
        f"{PLOT_DIR}/n{{{{n_obs}}}}/{{name}}.{{fmt}}", name=names, fmt=OTHER_FORMATS
    )


def history_files(wildcards):
    """The files carrying a method's training history: one per replica, else its samples file."""
    m = REGISTRY[wildcards.method]
    return replica_paths(m, wildcards.n_obs) or [
        m.path("samples", RESULTS, wildcards.n_obs)
    ]


def calibration_output(kind, figure):
    return report(
        f"{PLOT_DIR}/n{{n_obs}}/calibration_{{method}}_{kind}.png",
        caption=f"../report/calibration_{kind}.rst",
        category="Calibration",
        subcategory="n_obs = {n_obs}",
        labels={"figure": figure, "methods": "{method}", "n_obs": "{n_obs}"},
    )


# -------------------- input and parameter functions: Coverage over replicated observed sets (coverage.smk)


def replica_model(wildcards):
    """A refitted method's trained model (e.g. NLE's likelihood), when it has one."""
    m = REGISTRY[wildcards.method]
    return [m.path("model", RESULTS, wildcards.n_obs)] if m.model else []


def replica_files(n_obs):
    """label -> the replicate samples files of every refitted method."""
    return {
        m.label: [
            REPLICA.format(n_obs=n_obs, method=m.label, kind=k, index=i)
            for k in ("truth", "prior")
            for i in range(COVERAGE.sets)
        ]
        for m in REFITTED
    }


# -------------------- Contaminated observed sets (contamination.smk)

CONTAMINATION = section_settings(config, "contamination")
CONTAMINATION_N = CONTAMINATION.n_obs or SWEEP[0]
#: Refitted on each contaminated set: every enabled method with a registry `fit` (the referee always).
CONTAMINATION_FIT = [m for m in METHODS if m.fit]
#: Sampled on each contaminated set: every enabled amortized method with a registry `sampler`.
CONTAMINATION_SAMPLED = [m for m in METHODS if m.amortized and m.sampler and not m.fit]
CONTAMINATED_SET = (
    f"{RESULTS}/contamination/n{{n_obs}}/sets/{{ckind}}_eps{{eps}}_set{{index}}.h5"
)
CONTAMINATED = f"{RESULTS}/contamination/n{{n_obs}}/{{method}}/{{ckind}}_eps{{eps}}_set{{index}}.h5"


def contamination_runs(n_obs):
    """(label, set file, samples file) of every method on every contaminated set of the study."""
    cells = [
        dict(n_obs=n_obs, ckind=k, eps=f"{e:g}", index=i)
        for k, e in CONTAMINATION.cells()
        for i in range(CONTAMINATION.sets)
    ]
    return [
        (m.label, CONTAMINATED_SET.format(**c), contaminated_samples(m, c))
        for m in CONTAMINATION_FIT + CONTAMINATION_SAMPLED
        for c in cells
    ]


def contaminated_samples(m, cell):
    """A method's samples on one study cell. The clean set is the coverage study's replicate at the
    truth of the same index (same events, same fit seed): a refit there is that replica's file.
    """
    reused = (
        cell["ckind"] == "clean"
        and m in REFITTED
        and int(cell["n_obs"]) == COVERAGE_N
        and cell["index"] < COVERAGE.sets
    )
    if reused:
        return REPLICA.format(
            n_obs=cell["n_obs"], method=m.label, kind="truth", index=cell["index"]
        )
    return CONTAMINATED.format(method=m.label, **cell)


# -------------------- The referee's job (reference.smk, constraints.smk)

#: One referee job: its params norm, constraints, settings, seed, device, hash; outputs samples, fisher.
REFERENCE_COMMAND = (
    "python -m pdfinfer.reference.run --observed {input.observed:q} --normalization {params.norm:q}"
    " --constraints {params.constraints:q}"
    " --settings {params.settings:q} --seed {params.seed:q} --device {params.device:q} --threads {threads:q}"
    " --config-hash {params.hash:q} --out-samples {output.samples:q} --out-fisher {output.fisher:q} > {log:q} 2>&1"
)


def reference_mem_mb(wildcards, normalization=NORM["enabled"]):
    """Memory of one referee job: every walker's per-event likelihood terms, float64, and with the
    normalization observable the normalizers' quadrature (measured: 1195 MB peak at n_obs 256,
    335 MB without)."""
    chains = config[REGISTRY[REFERENCE].section].get("n_chains", 4)
    base = 2000 if normalization else 1000
    return base + int(wildcards.n_obs) * chains * 16 * 64 // 2**20


# -------------------- The physics-constraints study (constraints.smk)

CONSTRAINT_STUDY = section_settings(config, "constraint_study")
CONSTRAINT_STUDY_N = CONSTRAINT_STUDY.n_obs or SWEEP[0]
#: The study's case the run's own referee already samples (None: every case is a job of its own).
OWN_CASE = matching_case(NORM["enabled"], constraint_settings(config))
STUDY_CASES = [c for c in CONSTRAINT_CASES if c != OWN_CASE]


def constraint_case_files(n_obs):
    """{case: (samples file, fisher.json)} of the study at ``n_obs``; the run's own referee for its case."""
    files = {}
    for case in CONSTRAINT_CASES:
        base = f"{RESULTS}/constraints/n{n_obs}/{case}"
        files[case] = (f"{base}/samples.h5", f"{base}/fisher.json")
        if case == OWN_CASE:
            files[case] = (
                method_path(REFERENCE, "samples", n_obs),
                REFERENCE_FISHER.format(n_obs=n_obs),
            )
    return files
