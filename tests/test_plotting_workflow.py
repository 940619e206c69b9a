"""The plotting rules inside the real workflow: they run on pipeline outputs, and changing only the
``plots:`` config reruns plotting rules and schedules no training (or any other) job.

Set-up without training anything: synthetic method outputs are written in the contract layout
for every n_obs of config/tiny.yaml, every other file of the DAG is created empty, and
``snakemake --touch`` gives them consistent modification times. Two plotting jobs then run for
real (recording their params), the ``plots:`` section is changed, and a dry run must schedule
plotting rules only, the two that ran because their params changed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from test_plotting_cli import write_fake_comparison, write_fake_outputs
from workflow_helpers import ROOT, snakemake

pytestmark = pytest.mark.slow


def summary_files(config: list[str]) -> list[tuple[str, str]]:
    """(output file, rule) for every output in the DAG of the default target (snakemake --summary)."""
    proc = snakemake("--summary", "--cores", "1", *config)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = []
    for line in proc.stdout.splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) >= 3 and cells[0].startswith("/"):
            rows.append((cells[0], cells[2]))
    return rows


def scheduled_rules(output: str) -> dict[str, list[str]]:
    """Rule name -> the reason lines of its jobs in a (dry) run's output."""
    jobs: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if match:
            current = match.group(1)
            jobs.setdefault(current, [])
        elif current and line.strip().startswith("reason:"):
            jobs[current].append(line.strip())
    return jobs


def test_plot_settings_rerun_only_plotting_rules(tmp_path):
    results = tmp_path / "results"
    tiny = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())

    def config(*extra_files: str) -> list[str]:
        return ["--configfile", "config/tiny.yaml", *extra_files, "--config", f"results={results}"]

    default = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    seeds = tiny.get("adversarial", {}).get("seeds", default["adversarial"]["seeds"])
    for n_obs in tiny["sweep"]["n_obs"]:
        write_fake_outputs(results, n_obs=n_obs, seeds=seeds)
    write_fake_comparison(results, tiny["sweep"]["n_obs"])

    rows = summary_files(config())
    upstream = [path for path, rule in rows if not rule.startswith("plot_")]
    plots = [path for path, rule in rows if rule.startswith("plot_")]
    assert plots and upstream
    for path in upstream:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).touch()
    touched = snakemake(*upstream, "--touch", "--cores", "1", *config())
    assert touched.returncode == 0, touched.stderr[-3000:]

    n_obs = tiny["sweep"]["n_obs"][0]
    targets = [str(results / f"plots/n{n_obs}/training_npe.png"), str(results / f"plots/n{n_obs}/calibration_npe_sbc.png")]
    run = snakemake(*targets, "--cores", "2", *config(), timeout=300)
    assert run.returncode == 0, run.stderr[-5000:]
    ran = scheduled_rules(run.stdout + run.stderr)
    assert set(ran) == {"plot_training", "plot_calibration"}, ran

    plot_cfg = tmp_path / "plots.yaml"
    plot_cfg.write_text(yaml.safe_dump({"plots": {"dpi": 61, "font_size": 11}}))
    dry = snakemake("-n", "--cores", "2", *config(str(plot_cfg)))
    out = dry.stdout + dry.stderr
    assert dry.returncode == 0, out[-3000:]
    jobs = scheduled_rules(out)
    jobs.pop("all", None)
    assert jobs, out[-3000:]
    assert all(rule.startswith("plot_") for rule in jobs), f"non-plotting jobs scheduled by a plot-style change: {sorted(jobs)}"
    for rule in ("plot_training", "plot_calibration"):  # the jobs that ran rerun because their params changed
        assert any("Params have changed" in reason for reason in jobs[rule]), jobs[rule]


def test_plot_settings_leave_every_other_command_unchanged(tmp_path):
    """Static complement of the dry run (which cannot see params of jobs that never ran): the shell
    command of every non-plotting job is identical with and without a changed ``plots:`` section."""
    plot_cfg = tmp_path / "plots.yaml"
    plot_cfg.write_text(yaml.safe_dump({"plots": {"dpi": 61, "formats": ["png", "svg"], "event_bins": 9}}))
    commands = []
    for extra in ([], [str(plot_cfg)]):
        proc = snakemake(
            "-n",
            "--forceall",
            "--printshellcmds",
            "--cores",
            "1",
            "--configfile",
            "config/tiny.yaml",
            *extra,
            "--config",
            f"results={tmp_path}/r",
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        commands.append(shell_commands(proc.stdout + proc.stderr))
    before, after = commands
    assert set(before) == set(after)
    assert {"simulate_training", "npe_train", "adversarial", "reference"} <= set(before), sorted(before)
    changed = sorted(rule for rule in before if before[rule] != after[rule])
    assert changed and all(rule.startswith("plot_") for rule in changed), changed


def shell_commands(output: str) -> dict[str, list[str]]:
    """Rule name -> sorted shell commands of its jobs in a ``--printshellcmds`` dry run."""
    commands: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):", line.strip())
        if match:
            current = match.group(1)
        elif current and "python -m " in line:  # "Shell command: python -m pdfinfer...."
            commands.setdefault(current, []).append(line[line.index("python -m ") :].strip())
    return {rule: sorted(cmds) for rule, cmds in commands.items()}
