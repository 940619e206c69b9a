"""Nothing is lost: a pipeline killed with SIGKILL at a random job resumes into the result of an
uninterrupted run, and leaves no temporary file behind (docs/reliability.md)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from workflow_helpers import ROOT, snakemake

pytestmark = pytest.mark.slow

#: A small DAG (truth, observed set, referee, replicate sets, comparison, plots) of about 15 jobs:
#: config/tiny.yaml with the referee alone, one observed-set size and no replicated coverage.
SMALL = {"methods": [], "sweep": {"n_obs": [64]}, "observation": {"n_truth": 4096, "n_obs": 64}, "coverage": {"sets": 0}}
#: Keys whose values are clock readings, not results.
TIMING = ("created", "wall_time", "wall_time_s", "train_wall_time", "history_wall_time", "seconds", "elapsed")


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> list[str]:
    """Snakemake arguments: the tiny config with the SMALL overlay, then ``--config`` for results=."""
    overlay = tmp_path_factory.mktemp("config") / "small.yaml"
    overlay.write_text(yaml.safe_dump(SMALL))
    return ["--configfile", "config/tiny.yaml", str(overlay), "--config"]


def run_killed(config: list[str], results: Path, seed: int) -> int:
    """Start the pipeline, SIGKILL it (and its jobs) when a seeded random number of jobs has started."""
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    command = [sys.executable, "-m", "snakemake", "--cores", "1", *config, f"results={results}"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    kill_at = random.Random(seed).randint(2, 10)
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list((results / "logs").rglob("*.log"))) >= kill_at:
            time.sleep(random.Random(seed + 1).uniform(0.0, 1.5))  # somewhere inside that job
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    return kill_at


def h5_content(path: Path) -> dict:
    """Every dataset and attribute of an HDF5 file, timing entries left out."""
    out = {}
    with h5py.File(path, "r") as h5:
        for key, value in h5.attrs.items():
            if key not in TIMING:
                out[f"@{key}"] = value

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.split("/")[-1] not in TIMING:
                out[name] = obj[()]

        h5.visititems(visit)
    return out


def strip_timing(value):
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    return value


def normalized(value, results: Path):
    """Paths inside ``results`` written relative to it (two runs in two folders compare equal)."""
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        return value.replace(str(results), "<results>")
    if isinstance(value, dict):
        return {k: normalized(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v, results) for v in value]
    return value


def results_content(results: Path) -> dict:
    files = {}
    for path in sorted(results.rglob("*")):
        rel = path.relative_to(results)
        if rel.parts[0] in ("logs", "benchmarks", "plots") or not path.is_file():
            continue
        if path.suffix == ".h5":
            files[str(rel)] = {k: v if isinstance(v, np.ndarray) else normalized(v, results) for k, v in h5_content(path).items()}
        elif path.suffix == ".json":
            files[str(rel)] = normalized(strip_timing(json.loads(path.read_text())), results)
    return files


def assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        assert sorted(a[name]) == sorted(b[name]), name
        for key in a[name] if isinstance(a[name], dict) else []:
            x, y = a[name][key], b[name][key]
            if isinstance(x, np.ndarray):
                np.testing.assert_array_equal(x, y, err_msg=f"{name}:{key}")
            else:
                assert x == y, f"{name}:{key}: {x!r} != {y!r}"


def test_killed_pipeline_resumes_into_the_uninterrupted_result(tmp_path, config):
    clean = tmp_path / "clean"
    done = snakemake("--cores", "2", *config, f"results={clean}", timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]

    killed = tmp_path / "killed"
    kill_at = run_killed(config, killed, seed=20241107)
    assert (killed / "logs").exists(), "the pipeline was killed before any job started"
    # Snakemake itself was killed too: its lock stays, and is removed as Snakemake says to.
    unlock = snakemake("--unlock", *config, f"results={killed}")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    rerun = snakemake("--cores", "2", "--rerun-incomplete", *config, f"results={killed}", timeout=900)
    assert rerun.returncode == 0, f"rerun after a kill at job {kill_at} failed: {rerun.stderr[-4000:]}"
    assert not list(killed.rglob("*.part")), "temporary files survived the kill and the rerun"
    assert_same(results_content(clean), results_content(killed))
