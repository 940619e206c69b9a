"""Wall time of every plotting command at the default config's sizes, as the rules run them.

    python benchmarks/bench_plots.py [--n-obs 256 1024] [--samples 10000] [--seeds 3] [--keep DIR]

Writes synthetic pipeline outputs in the shared layout (the same writer the tests use: observed
set, 10^4 draws per method, adversarial histories, NPE diagnostics, comparison JSON) for each
``n_obs`` and times each ``python -m pdfinfer.plotting.cli`` command in a fresh process with the
default ``plots:`` settings (dpi 120, PNG + PDF, 64 predictive draws, 2000 PDF-band draws), i.e.
interpreter start-up and imports included, one job at a time. Prints wall and CPU seconds per command
and the totals; the commands are single-threaded, so on 2 idle cores with 2 jobs in parallel the
plotting rules take about half the total CPU time. Wall times are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the synthetic-output writer shared with the tests

from test_plotting_cli import write_fake_comparison, write_fake_outputs  # noqa: E402


def commands(results: Path, n_obs: int, seeds: int, plots: dict) -> dict[str, list[str]]:
    style = ["--dpi", str(plots["dpi"]), "--formats", *plots["formats"], "--font-size", str(plots["font_size"])]
    r, out = results, results / f"plots/n{n_obs}"
    samples = [
        "--samples",
        f"reference={r}/reference/n{n_obs}/samples.h5",
        f"npe={r}/npe/n{n_obs}/samples.h5",
        f"adversarial_pooled={r}/adversarial/n{n_obs}/pooled.h5",
    ]
    cli = [sys.executable, "-m", "pdfinfer.plotting.cli"]
    return {
        f"plot_parameters n{n_obs}": [
            *cli,
            "posteriors",
            "--observed",
            f"{r}/data/n{n_obs}/observed.h5",
            *samples,
            "--max-draws",
            str(plots["pdf_draws"]),
            *style,
            "--out-corner",
            f"{out}/posterior_corner.png",
            "--out-marginals",
            f"{out}/posterior_marginals.png",
            "--out-pdfs",
            f"{out}/pdf_bands.png",
        ],
        f"plot_events n{n_obs}": [
            *cli,
            "events",
            "--observed",
            f"{r}/data/n{n_obs}/observed.h5",
            *samples,
            "--draws",
            str(plots["predictive_draws"]),
            "--bins",
            str(plots["event_bins"]),
            *style,
            "--out",
            f"{out}/events.png",
        ],
        f"plot_training n{n_obs}": [
            *cli,
            "training",
            "--adversarial",
            *[f"{r}/adversarial/n{n_obs}/seed{s}.h5" for s in range(seeds)],
            "--npe",
            f"{r}/npe/n{n_obs}/samples.h5",
            *style,
            "--out-adversarial",
            f"{out}/training_adversarial.png",
            "--out-npe",
            f"{out}/training_npe.png",
        ],
        f"plot_calibration n{n_obs}": [
            *cli,
            "calibration",
            "--diagnostics",
            f"{r}/npe/n{n_obs}/diagnostics.h5",
            "--bins",
            str(plots["sbc_bins"]),
            *style,
            "--out-coverage",
            f"{out}/calibration_coverage.png",
            "--out-sbc",
            f"{out}/calibration_sbc.png",
            "--out-tarp",
            f"{out}/calibration_tarp.png",
        ],
        f"plot_summary n{n_obs}": [
            *cli,
            "table",
            "--metrics",
            f"{r}/compare/n{n_obs}/metrics.json",
            "--n-obs",
            str(n_obs),
            *style,
            "--out-png",
            f"{out}/summary_table.png",
            "--out-html",
            f"{out}/summary_table.html",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-obs", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--samples", type=int, default=10000, help="draws per method")
    parser.add_argument("--seeds", type=int, default=3, help="adversarial runs per n_obs")
    parser.add_argument("--keep", default=None, help="write the outputs here (default: a temporary directory)")
    args = parser.parse_args()
    plots = yaml.safe_load((ROOT / "config/config.yaml").read_text())["plots"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory(prefix="bench-plots-") as tmp:
        results = Path(args.keep or tmp)
        for n in args.n_obs:
            write_fake_outputs(results, n_obs=n, seeds=args.seeds, n_samples=args.samples)
        write_fake_comparison(results, args.n_obs)
        jobs = {}
        for n in args.n_obs:
            jobs.update(commands(results, n, args.seeds, plots))
        sweep_cmd = [
            sys.executable,
            "-m",
            "pdfinfer.plotting.cli",
            "sweep",
            "--sweep",
            f"{results}/compare/sweep.json",
            "--dpi",
            str(plots["dpi"]),
            "--formats",
            *plots["formats"],
            "--out",
            f"{results}/plots/sweep.png",
        ]
        jobs["plot_sweep"] = sweep_cmd
        total_wall = total_cpu = 0.0
        print(f"{'command':32s} {'wall s':>8s} {'cpu s':>8s}")
        for name, cmd in jobs.items():
            start, cpu0 = time.perf_counter(), _children_cpu()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            elapsed, cpu = time.perf_counter() - start, _children_cpu() - cpu0
            total_wall, total_cpu = total_wall + elapsed, total_cpu + cpu
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
            print(f"{name:32s} {elapsed:8.2f} {cpu:8.2f}")
        print(f"{'total (one job at a time)':32s} {total_wall:8.2f} {total_cpu:8.2f}")
        print(f"{'estimated wall, 2 idle cores':32s} {'':8s} {total_cpu / 2:8.2f}")


def _children_cpu() -> float:
    """User + system CPU seconds of finished child processes (load-independent, unlike wall time)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
