"""NPE at the default config: training time, epochs, seconds per epoch, sampling and diagnostics.

    python benchmarks/bench_npe.py [--n-obs 256 1024] [--devices cpu cuda] [--threads 1] [--results DIR] [--keep DIR]
    python benchmarks/bench_npe.py --config config/config.yaml config/tiny.yaml   # smoke test

Runs the three NPE commands exactly as the rules do (fresh processes, so interpreter start-up
and imports count) with the ``npe:`` settings of config/config.yaml: ``pdfinfer.npe.train`` on
the default training shards (``training_data.n_simulations`` prior draws of ``n_obs`` events),
``pdfinfer.npe.sample`` (``npe.n_samples`` draws for the observed set) and
``pdfinfer.npe.diagnostics`` (``npe.diagnostics.n_sims`` held-out simulations). The shards and
observed sets are taken from ``--results`` (a pipeline results directory) when present there,
else simulated with ``pdfinfer.simulate`` and the config's seed, i.e. the same files the pipeline
makes. Prints, per ``n_obs`` and device: wall seconds per command, epochs trained, seconds per
epoch, best validation loss, and the calibration figures (max |coverage - nominal|, SBC KS
p-values per parameter, TARP ATC). CUDA is skipped when it is not available. Timings are noisy
on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
PY = [sys.executable, "-m"]


def run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` from the repository root with ``src`` on the path; return wall seconds."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])
    tic = time.perf_counter()
    with open(log, "w") as out:
        status = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if status:
        sys.exit(f"failed ({status}): {' '.join(cmd)}\n{log.read_text()[-3000:]}")
    return time.perf_counter() - tic


def merge(base: dict, overlay: dict) -> dict:
    """Deep-merge ``overlay`` into ``base`` (as Snakemake layers --configfile)."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def ensure_data(config: dict, results: Path, work: Path, n_obs: int) -> tuple[list[Path], Path]:
    """Training shards and observed set for ``n_obs``: from ``results`` if present, else simulated into ``work``."""
    data = config["training_data"]
    shards = [results / f"data/n{n_obs}/train/shard{i}.h5" for i in range(data["n_shards"])]
    observed = results / f"data/n{n_obs}/observed.h5"
    if all(p.exists() for p in shards) and observed.exists():
        return shards, observed
    theory = json.dumps({"name": config["theory"]["name"], **config["theory"].get(config["theory"]["name"], {})})
    seed, rel = str(config["seed"]), str(config["observation"]["normalization"]["rel_unc"])
    sizes = [data["n_simulations"] // data["n_shards"] + (i < data["n_simulations"] % data["n_shards"]) for i in range(data["n_shards"])]
    shards = [work / f"data/n{n_obs}/train/shard{i}.h5" for i in range(data["n_shards"])]
    truth, observed = work / "data/truth.h5", work / f"data/n{n_obs}/observed.h5"
    if not truth.exists():
        run([*PY, "pdfinfer.simulate", "truth", "--theory", theory, "--n-events", str(config["observation"]["n_truth"]), "--norm-rel-unc", rel,
             "--seed", seed, "--device", "cpu", "--out", str(truth)], work / "truth.log")
    run([*PY, "pdfinfer.simulate", "observed", "--truth", str(truth), "--n-obs", str(n_obs), "--out", str(observed)], work / "observed.log")
    for i, (path, size) in enumerate(zip(shards, sizes)):
        run([*PY, "pdfinfer.simulate", "training", "--theory", theory, "--n-sims", str(size), "--n-obs", str(n_obs), "--shard", str(i),
             "--norm-rel-unc", rel, "--seed", seed, "--device", "cpu", "--out", str(path)], work / f"shard{i}.log")
    return shards, observed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-obs", type=int, nargs="+", default=None, help="default: the config's sweep")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="default: npe.threads of the config")
    parser.add_argument("--config", nargs="+", default=[str(ROOT / "config/config.yaml")], help="config files, later ones override (e.g. config/config.yaml config/tiny.yaml)")
    parser.add_argument("--results", default=str(ROOT / "results"), help="pipeline results to take shards from, if present")
    parser.add_argument("--keep", default=None, help="keep outputs in this directory")
    args = parser.parse_args()
    config: dict = {}
    for path in args.config:
        merge(config, yaml.safe_load(open(path)))
    npe = config["npe"]
    n_obs_list = args.n_obs or sorted(set(config["sweep"]["n_obs"]) | {config["observation"]["n_obs"]})
    threads = str(args.threads or npe["threads"])
    norm = "on" if config["observation"]["normalization"]["enabled"] else "off"
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench_npe_"))
    work.mkdir(parents=True, exist_ok=True)
    emb, opt = npe["embedding"], npe["training"]
    arch = [
        "--flow", npe["flow"], "--hidden-features", npe["hidden_features"], "--num-transforms", npe["num_transforms"], "--num-bins", npe["num_bins"],
        "--event-hidden", emb["event_hidden"], "--event-layers", emb["event_layers"], "--event-features", emb["event_features"],
        "--embed-hidden", emb["hidden"], "--embed-layers", emb["layers"], "--embed-dim", emb["output_dim"],
        "--batch-size", opt["batch_size"], "--learning-rate", opt["learning_rate"], "--max-epochs", opt["max_epochs"],
        "--stop-after-epochs", opt["stop_after_epochs"], "--validation-fraction", opt["validation_fraction"], "--clip-max-norm", opt["clip_max_norm"],
    ]
    arch = [str(a) for a in arch]
    print(f"torch {torch.__version__}, {threads} thread(s), normalization {norm}; outputs in {work}")
    print(f"simulation budget: {config['training_data']['n_simulations']} training sets; {npe['diagnostics']['n_sims']} held-out sets "
          f"x {npe['diagnostics']['n_posterior_samples']} draws; {npe['n_samples']} draws for the observed set")
    for n_obs in n_obs_list:
        shards, observed = ensure_data(config, Path(args.results), work, n_obs)
        for device in args.devices:
            if device.startswith("cuda") and not torch.cuda.is_available():
                print(f"n_obs={n_obs} {device}: skipped (CUDA not available)")
                continue
            out = work / f"n{n_obs}_{device}"
            out.mkdir(exist_ok=True)
            common = ["--seed", str(config["seed"]), "--device", device, "--threads", threads]
            t_train = run([*PY, "pdfinfer.npe.train", "--shards", *map(str, shards), "--n-obs", str(n_obs), "--normalization", norm, *arch,
                           *common, "--out", str(out / "posterior.pt")], out / "train.log")
            t_sample = run([*PY, "pdfinfer.npe.sample", "--model", str(out / "posterior.pt"), "--observed", str(observed), "--normalization", norm,
                            "--n-samples", str(npe["n_samples"]), *common, "--out", str(out / "samples.h5")], out / "sample.log")
            t_diag = run([*PY, "pdfinfer.npe.diagnostics", "--model", str(out / "posterior.pt"), "--normalization", norm,
                          "--n-sims", str(npe["diagnostics"]["n_sims"]), "--n-posterior-samples", str(npe["diagnostics"]["n_posterior_samples"]),
                          *common, "--out-h5", str(out / "diagnostics.h5"), "--out-json", str(out / "diagnostics.json")], out / "diagnostics.log")
            history = torch.load(out / "posterior.pt", map_location="cpu", weights_only=True)["history"]
            diag = json.loads((out / "diagnostics.json").read_text())
            epochs, seconds = history["epochs"], sum(history["epoch_seconds"])
            print(f"n_obs={n_obs} {device}: train {t_train:.1f} s wall ({epochs} epochs, best {history['best_epoch']}, "
                  f"{seconds / epochs:.2f} s/epoch, loop {seconds:.1f} s, best val loss {history['best_val_loss']:.3f}); "
                  f"sample {t_sample:.1f} s; diagnostics {t_diag:.1f} s")
            pvals = ", ".join(f"{p:.3f}" for p in diag["sbc_ks_pvalues"])
            print(f"    coverage max |empirical - nominal| {diag['coverage_max_deviation']:.3f} (M={diag['n_sims']}); "
                  f"SBC KS p-values (N_u a_u b_u N_d a_d b_d) {pvals}; TARP ATC {diag['tarp_atc']:.4f}, KS p {diag['tarp_ks_pvalue']:.3f}")


if __name__ == "__main__":
    main()
