"""The SLURM profile (workflow/profiles/slurm), for real: lint, dry-run resources, and the tiny
pipeline submitted through sbatch to a single-node SLURM cluster on this machine
(tests/cluster/local-slurm.sh), whose simulations must be byte for byte a local run's.

The cluster tests are marked ``cluster``; they are skipped, with the reason, only where this
machine cannot run the SLURM daemons (not root, no apt-get to install them, a daemon that does
not start). The fixture stops the daemons it started when the module is done.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from workflow_helpers import ROOT

SCRIPT = ROOT / "tests/cluster/local-slurm.sh"
PROFILE = "workflow/profiles/slurm"
TINY = str(ROOT / "config/tiny.yaml")
TRAINING_RULES = (
    "adversarial",
    "adversarial_bootstrap",
    "npe_train",
    "nle_train",
    "nle_sample",
    "tsnpe",
    "gatsbi_train",
)  # rules that request GPUs
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")
# The cluster test runs `rule all` through SLURM. Every job there costs ~10-30 s on the 2-core test
# machine (sbatch, then Snakemake and torch start-up inside the job, status polling), so by default
# it runs config/tiny.yaml with one observed-set size, NPE (simulation shards and a GPU-requesting
# training rule) and no replicated coverage (FAST on top): about 20 jobs, status polled every 3 s.
# PDFINFER_CLUSTER_TEST_FULL=1 runs config/tiny.yaml as it is (every method, the replicated coverage).
FAST = {"observation": {"n_obs": 64}, "sweep": {"n_obs": [64]}, "methods": ["npe"], "coverage": {"sets": 0}}
FULL = os.environ.get("PDFINFER_CLUSTER_TEST_FULL", "") not in ("", "0")
# Wall-clock limits (seconds) for the workflow runs; each run is killed (timeout -k) past its limit.
LOCAL_LIMIT_S = 300
CLUSTER_LIMIT_S = 1800 if FULL else 900


def _env(**extra: str) -> dict[str, str]:
    """This interpreter's environment first on PATH (sbatch --export=ALL hands it to the jobs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PDFINFER_SLURM_", "SLURM_"))}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def run_snakemake(*args: str, limit_s: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``snakemake <args>`` from the repository root under ``timeout -k``, output captured."""
    cmd = ["timeout", "-k", "15", str(int(limit_s)), sys.executable, "-m", "snakemake", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env or _env(), capture_output=True, text=True, timeout=limit_s + 60)


def rule_resources(dry_run_output: str) -> dict[str, dict[str, str]]:
    """rule name -> its resources (name -> value) as printed by ``snakemake -n`` (last job per rule)."""
    out: dict[str, dict[str, str]] = {}
    rule = None
    for line in dry_run_output.splitlines():
        if m := re.match(r"(?:local)?rule (\w+):$", line.strip()):
            rule = m.group(1)
        elif rule and line.strip().startswith("resources:"):
            items = line.split("resources:", 1)[1].split(", ")
            out[rule] = dict(item.strip().split("=", 1) for item in items if "=" in item)
    return out


def scheduled_jobs(output: str) -> dict[str, tuple[str, bool]]:
    """Snakemake job id -> (rule, runs locally) for every job a run's log announces."""
    header = re.compile(r"^(local)?rule (\w+):\n(?:    .*\n)*?    jobid: (\d+)$", re.M)
    return {m.group(3): (m.group(2), m.group(1) is not None) for m in header.finditer(output)}


# --------------------------------------------------------------------------------------------
# Without a cluster: the profile parses, lints and sets the intended resources.


def test_slurm_profile_lints():
    proc = run_snakemake("--lint", "--workflow-profile", PROFILE, "--configfile", TINY)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert "Congratulations, your workflow is in a good condition!" in out, out[-5000:]


def test_dry_run_lists_the_sbatch_resources_per_rule(tmp_path):
    env = _env(
        PDFINFER_SLURM_PARTITION="cpu-queue",
        PDFINFER_SLURM_GPU_PARTITION="gpu-queue",
        PDFINFER_SLURM_ACCOUNT="nucphys",
        PDFINFER_SLURM_GPU_MODEL="a100",
    )
    proc = run_snakemake(
        "-n",
        "--workflow-profile",
        PROFILE,
        "--configfile",
        TINY,
        "--config",
        f"results={tmp_path / 'results'}",
        "--directory",
        str(tmp_path),
        env=env,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    resources = rule_resources(out)
    assert {"simulate_truth", "observed_set", "simulate_training"} <= set(resources), sorted(resources)
    for rule, res in resources.items():
        if rule == "all":
            continue
        assert res.get("slurm_account") == "nucphys", (rule, res)
        assert int(res["runtime"]) > 0 and int(res["mem_mb"]) > 0, (rule, res)
        expected_partition = "gpu-queue" if rule in TRAINING_RULES else "cpu-queue"
        assert res.get("slurm_partition") == expected_partition, (rule, res)
        if rule not in TRAINING_RULES:
            assert int(res.get("gpu", 0)) == 0 and "gpu_model" not in res, (rule, res)
    assert resources["simulate_training"]["mem_mb"] == "8000" and resources["simulate_training"]["runtime"] == "120"
    assert resources["all"]["mem_mb"] == "4000" and resources["all"]["runtime"] == "60"  # default-resources
    training = [r for r in TRAINING_RULES if r in resources]
    assert training == list(TRAINING_RULES), sorted(resources)
    for rule in training:
        assert resources[rule]["gpu"] == "1" and resources[rule]["gpu_model"] == "a100", (rule, resources[rule])
    # a cluster without GPUs: PDFINFER_SLURM_GPUS=0 drops the GPU requests (and the GPU partition)
    env = _env(PDFINFER_SLURM_GPUS="0", PDFINFER_SLURM_GPU_PARTITION="gpu-queue", PDFINFER_SLURM_GPU_MODEL="a100")
    proc = run_snakemake(
        "-n",
        "--workflow-profile",
        PROFILE,
        "--configfile",
        TINY,
        "--config",
        f"results={tmp_path / 'results'}",
        "--directory",
        str(tmp_path),
        env=env,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    resources = rule_resources(proc.stdout + proc.stderr)
    for rule in training:
        res = resources[rule]
        assert res["gpu"] == "0" and "slurm_partition" not in res and "gpu_model" not in res, (rule, res)


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a Snakemake run or dry run: rule -> number of jobs."""
    table = output.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_paper_config_is_valid_and_plans_the_large_study(tmp_path):
    paper = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    assert paper["observation"]["n_obs"] == paper["observation"]["n_truth"] == 102400
    assert max(paper["sweep"]["n_obs"]) == 102400 and len(paper["sweep"]["n_obs"]) >= 4
    proc = run_snakemake(
        "-n",
        "--workflow-profile",
        PROFILE,
        "--configfile",
        "config/paper.yaml",
        "--config",
        f"results={tmp_path / 'results'}",
        "--directory",
        str(tmp_path),
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    counts = job_counts(out)
    n_sizes = len(set(paper["sweep"]["n_obs"]) | {paper["observation"]["n_obs"]})
    assert counts["observed_set"] == n_sizes, counts
    assert counts["simulate_training"] == n_sizes * paper["training_data"]["n_shards"], counts
    assert counts["adversarial"] == n_sizes * paper["adversarial"]["seeds"] and counts["npe_train"] == n_sizes, counts
    resources = rule_resources(out)
    for rule in TRAINING_RULES:
        assert resources[rule]["gpu"] == "1", (rule, resources[rule])


# --------------------------------------------------------------------------------------------
# With a cluster: a real slurmctld + slurmd on this machine.


@pytest.fixture(scope="module")
def slurm_cluster():
    """Start the local cluster (installing SLURM if needed); stop it afterwards if we started it."""
    try:
        proc = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        pytest.fail("tests/cluster/local-slurm.sh start did not finish in 900 s")
    reason = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    if proc.returncode == 3:
        pytest.skip(f"this machine cannot run a local SLURM cluster: {reason}")
    assert proc.returncode == 0, proc.stderr
    started_here = "already running" not in proc.stderr
    yield
    if started_here:
        stop = subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0, stop.stderr


def squeue_jobs(run_id: str) -> dict[str, dict[str, str]]:
    """SLURM job id -> fields, for every job of one Snakemake run (finished ones included)."""
    fields = ["JobID", "State", "Comment", "Partition", "MinMemory", "TimeLimit", "tres-per-job"]
    proc = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--name", run_id, "-O", ",".join(f"{f}:|" for f in fields)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = [line.split("|") for line in proc.stdout.splitlines() if line.strip()]
    return {row[0].strip(): {f: v.strip() for f, v in zip(fields, row)} for row in rows}


def h5_datasets(path: Path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


@pytest.mark.cluster
@pytest.mark.slow
def test_tiny_pipeline_through_slurm_matches_a_local_run(slurm_cluster, tmp_path):
    """Every job goes through sbatch, GPU requests included; the simulations are byte for byte
    those of a local run of the same config and seeds.

    Wall time on the 2-core test machine (quiet / shared with other work): ~3 / 6.5 min by
    default, ~4 / 8 min with PDFINFER_CLUSTER_TEST_FULL=1.
    """
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    fast = tmp_path / "fast.yaml"
    fast.write_text(yaml.safe_dump(FAST))
    configs = ["--configfile", TINY] + ([] if FULL else [str(fast)])

    # The real profile; only the first status check comes sooner (tiny jobs take seconds).
    t0 = time.monotonic()
    proc = run_snakemake(
        "--workflow-profile",
        PROFILE,
        *configs,
        "--config",
        f"results={cluster / 'results'}",
        "--directory",
        str(cluster),
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--seconds-between-status-checks",
        "3",
        "--slurm-keep-successful-logs",
        limit_s=CLUSTER_LIMIT_S,
        env=_env(PDFINFER_SLURM_PARTITION="debug"),
    )
    out = proc.stdout + proc.stderr
    (tmp_path / "snakemake-slurm.log").write_text(out)
    assert proc.returncode == 0, out[-8000:]
    t_cluster = time.monotonic() - t0

    # The same simulations (truth bank, observed set, training shards), locally.
    simulations = sorted(p.relative_to(cluster) for p in (cluster / "results/data").rglob("*.h5"))
    assert len(simulations) >= 1 + 1 + 2, simulations  # truth bank, observed set, 2 training shards
    proc = run_snakemake(
        "--workflow-profile",
        "workflow/profiles/local",
        "--cores",
        "2",
        *configs,
        "--config",
        f"results={local / 'results'}",
        "--directory",
        str(local),
        *(str(local / rel) for rel in simulations),
        limit_s=LOCAL_LIMIT_S,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    what = "config/tiny.yaml" if FULL else "config/tiny.yaml + FAST"
    print(
        f"\nSLURM run of rule all of {what} {t_cluster:.0f} s, local run of the simulations {time.monotonic() - t0 - t_cluster:.0f} s"
    )

    # 1. Every job of the run was submitted with sbatch: its SLURM id is in Snakemake's log, and
    #    the scheduler knows it, finished, under this run's name, with the profile's requests.
    run_id = re.search(r"SLURM run ID: (\S+)", out).group(1)
    submissions = SUBMITTED.findall(out)
    submitted = {slurm_id: Path(log) for _, slurm_id, log in submissions}
    remote_jobs = {job_id for job_id, (_, local_job) in scheduled_jobs(out).items() if not local_job}
    assert len(remote_jobs) >= 4, out[-5000:]  # truth, observed set, 2 shards at least
    assert sorted(job_id for job_id, _, _ in submissions) == sorted(remote_jobs), "a job ran without sbatch, or twice"
    jobs = squeue_jobs(run_id)
    assert set(jobs) == set(submitted), (sorted(jobs), sorted(submitted))
    rules_run = set()
    for slurm_id, job in jobs.items():
        rule = re.match(r"rule_(\w+?)(_wildcards_.*)?$", job["Comment"]).group(1)
        rules_run.add(rule)
        assert job["State"] == "COMPLETED", job
        assert job["Partition"] == "debug", job
        assert f"rule_{rule}" in submitted[slurm_id].parts, (submitted[slurm_id], job)
        assert submitted[slurm_id].is_file(), f"no SLURM log {submitted[slurm_id]}"
        if rule in TRAINING_RULES:
            assert job["tres-per-job"] == "gres:gpu:1", job
        else:
            assert job["tres-per-job"] in ("", "N/A"), job
        if rule == "simulate_training":
            assert job["MinMemory"] == "8000M" and job["TimeLimit"] == "2:00:00", job
    expected = set(job_counts(out)) - {"all", "total"}  # every rule of this run's DAG
    assert rules_run == expected, f"submitted {sorted(rules_run)}, expected {sorted(expected)}"
    assert "npe_train" in rules_run  # a GPU request went through sbatch

    # 2. The simulations are the local run's, byte for byte (events, parameters, normalization).
    for rel in simulations:
        a, b = h5_datasets(local / rel), h5_datasets(cluster / rel)
        assert a.keys() == b.keys() and "events" in a, rel
        for name in a:
            assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, (rel, name)
            assert a[name].tobytes() == b[name].tobytes(), f"{rel}: {name} differs between the local and the SLURM run"
