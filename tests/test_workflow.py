"""The Snakemake workflow: config validation before any job, dry run, lint, tiny end-to-end run."""

import csv
import json
import shlex

import pytest
import yaml
from workflow_helpers import ROOT, snakemake

from pdfinfer.io import read_events
from pdfinfer.methods import REGISTRY


def test_dry_run_of_the_default_config_is_clean():
    proc = snakemake("-n", "--cores", "2", "--config", "results=/tmp/pdfinfer-dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "simulate_truth" in proc.stdout + proc.stderr


def test_lint_is_clean():
    proc = snakemake("--lint")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


@pytest.mark.parametrize(
    "config, messages",
    [
        ({"theory": {"name": "qcd"}}, ["config: theory.name = 'qcd' is not allowed; allowed values: 'proxy', 'dis'"]),
        ({"thoery": {"name": "dis"}}, ["config: unknown key thoery; allowed keys: "]),
        ({"observation": {"n_obs": 0}}, ["config: observation.n_obs = 0: 0 is less than the minimum of 1"]),
        (
            {"theory": {"name": "dis", "dis": {"targets": ["p", "e"]}}},
            ["config: theory.dis.targets.1 = 'e' is not allowed; allowed values: 'p', 'n'"],
        ),
        ({"observation": {"n_obs": 5000, "n_truth": 4096}}, ["observed-set size 5000", "exceeds observation.n_truth = 4096"]),
        ({"methods": ["nple"]}, ["config: methods: unknown method(s) ['nple']; registered methods: "]),
        ({"device": "cuda"}, ["config: device = 'cuda' but CUDA is not available here"]),
        (
            {"adversarial": {"discriminator": "attention", "discriminator_width": 30}},
            ["adversarial.attention_heads = 4 must divide"],
        ),
    ],
    ids=[
        "bad-theory",
        "misspelt-key",
        "zero-events",
        "bad-target",
        "n_obs-above-truth",
        "unknown-method",
        "cuda-without-gpu",
        "heads-width",
    ],
)
def test_bad_config_is_refused_before_any_job(tmp_path, config, messages):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"results": str(tmp_path / "results"), **config}))
    proc = snakemake("-n", "--cores", "1", "--configfile", str(cfg))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for message in messages:
        assert message in out, out
    assert len(out.splitlines()) < 30, f"the error drowns the user: {len(out.splitlines())} lines"
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("results", ["my results", "out;echo HACKED"])
def test_config_values_reach_the_shell_quoted(tmp_path, results):
    """Paths with spaces or shell syntax are single arguments in every planned command."""
    target = tmp_path / results
    proc = snakemake(
        "-n",
        "--forceall",
        "--printshellcmds",
        "--cores",
        "1",
        "--configfile",
        "config/tiny.yaml",
        "--config",
        f"results={target}",
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    commands = [line.strip() for line in out.splitlines() if "python -m pdfinfer" in line]
    assert commands
    for command in commands:
        words = shlex.split(command.split("; ", 2)[-1])
        paths = [w for w in words if str(tmp_path) in w]
        assert paths and all(w.startswith(str(target)) or w.startswith(f"{target}") or "=" in w for w in paths), command
        assert "HACKED" not in [w.strip(";") for w in words]


@pytest.mark.slow
def test_tiny_config_runs_end_to_end(tmp_path):
    results = tmp_path / "results"
    proc = snakemake("--cores", "2", "--configfile", "config/tiny.yaml", "--config", f"results={results}", timeout=1500)
    assert proc.returncode == 0, proc.stderr[-5000:]
    tiny = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
    for n_obs in tiny["sweep"]["n_obs"]:
        observed = read_events(results / f"data/n{n_obs}/observed.h5", batched=False, n_events=n_obs)
        assert observed.events.shape == (n_obs, 2)
        shards = sorted((results / f"data/n{n_obs}/train").glob("shard*.h5"))
        assert len(shards) == tiny["training_data"]["n_shards"]
        assert (
            sum(read_events(s, batched=True, n_events=n_obs).events.shape[0] for s in shards)
            == tiny["training_data"]["n_simulations"]
        )
    # every job wrote a log and a benchmark
    logs = list((results / "logs").rglob("*.log"))
    benchmarks = list((results / "benchmarks").rglob("*.tsv"))
    assert len(logs) >= 1 + 2 * (1 + tiny["training_data"]["n_shards"]) and len(benchmarks) == len(logs)
    for bench in benchmarks:
        rows = list(csv.DictReader(bench.open(), delimiter="\t"))
        assert float(rows[0]["s"]) >= 0
    # every enabled method is scored and drawn; the event figure and the event-level C2ST read the
    # same replicate sets (the predictive rule's files)
    methods = {"reference", *tiny["methods"]}
    report_figures = {p.name for p in (results / "plots").rglob("*.png")}
    for n_obs in tiny["sweep"]["n_obs"]:
        metrics = json.loads((results / f"compare/n{n_obs}/metrics.json").read_text())
        assert set(metrics["methods"]) == methods, sorted(metrics["methods"])
        events_log = (results / f"logs/plot_events/n{n_obs}.log").read_text()
        for label, entry in metrics["methods"].items():
            assert entry["predictive_path"] == str(results / f"predictive/n{n_obs}/{label}.h5")
            assert f"replicate sets of {label}: {entry['predictive_path']}" in events_log
        assert all(f"training_{m.label}.png" in report_figures for m in REGISTRY.values() if m.history and m.label in methods)
        assert all(
            f"calibration_{m.label}_coverage.png" in report_figures
            for m in REGISTRY.values()
            if m.amortized and m.label in methods
        )
    # the physics-constraints study: three exact posteriors of the smallest size, the run's referee one of them
    study = json.loads((results / f"constraints/n{min(tiny['sweep']['n_obs'])}/constraints.json").read_text())
    assert set(study["cases"]) == {"none", "normalization", "sum_rules"} and study["answer"].startswith("At n_obs = ")
    assert "constraints.png" in report_figures
    # the report names every method
    report = snakemake(
        "--cores",
        "1",
        "--configfile",
        "config/tiny.yaml",
        "--config",
        f"results={results}",
        "--report",
        str(results / "report.html"),
    )
    assert report.returncode == 0, report.stderr[-3000:]
    page = (results / "report.html").read_text()
    assert all(REGISTRY[label].title in page for label in methods)
    # a rerun has nothing to do
    again = snakemake("-n", "--cores", "2", "--configfile", "config/tiny.yaml", "--config", f"results={results}")
    assert "Nothing to be done" in again.stdout + again.stderr
