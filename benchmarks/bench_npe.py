"""NPE budget table: simulations, epochs, seconds per epoch, C2ST vs the exact posterior, coverage.

    python benchmarks/bench_npe.py --shards results/data/n1024/train/shard*.h5 \
        --observed results/data/n1024/observed.h5 --holdout results/data/n1024/holdout.h5 \
        --reference results/reference/n1024/samples.h5 --normalization off \
        --settings '{"training": {"batch_size": 256}}' --label batch256 [--out table.jsonl]

One process, library calls (no start-up cost counted): trains :func:`pdfinfer.npe.loop.train_npe`
with the given ``npe`` settings (JSON, missing keys take the defaults) on the shards, draws
``n_samples`` for the observed set, scores them against the reference draws (C2ST with the
comparison's MLP classifier, mean width ratio std(NPE)/std(exact)) and runs the calibration of
:mod:`pdfinfer.calibration` on the first ``diagnostics.n_sims`` held-out sets. Prints one table row
(and appends it as JSON to ``--out``); without ``--holdout`` the calibration is skipped (its columns
read nan). ``python benchmarks/bench_npe.py --table table.jsonl`` prints the budget table of every
row written so far. Timings are seconds on whatever machine runs it: on a shared machine they are
noisy, compare rows measured side by side.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from pdfinfer.calibration import calibrate
from pdfinfer.compare.metrics import c2st
from pdfinfer.io import read_event_shards, read_events, read_samples
from pdfinfer.npe.diagnostics import npe_sampler
from pdfinfer.npe.loop import train_npe
from pdfinfer.npe.model import make_posterior, observation_tensor, quiet_library_warnings
from pdfinfer.npe.sample import draw
from pdfinfer.npe.settings import NPESettings

HEADER = (
    "| variant | norm | simulations | epochs (best) | train s | s/epoch | C2ST | width "
    "| coverage dev | SBC KS min | TARP ATC |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)
ROW = (
    "| {label} | {normalization} | {simulations_total} | {epochs} ({best_epoch}) | {train_s:.0f} | {s_per_epoch:.1f} "
    "| {c2st:.3f} | "
    "{width_ratio:.2f} | {coverage_max_dev:.3f} | {sbc_ks_min:.3g} | {tarp_atc:+.3f} |"
)


def print_table(path: str) -> None:
    """The budget table of every row in the JSON-lines file ``path``."""
    print(HEADER)
    with open(path) as fh:
        for line in fh:
            print(ROW.format(**json.loads(line)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", default=None, help="print the budget table of this JSON-lines file and exit")
    parser.add_argument("--shards", nargs="+")
    parser.add_argument("--observed")
    parser.add_argument("--holdout", default=None, help="held-out sets for the calibration (skipped without)")
    parser.add_argument("--reference", help="exact-posterior samples file of the observed set")
    parser.add_argument("--normalization", choices=["on", "off"], default="off")
    parser.add_argument("--settings", default="{}")
    parser.add_argument("--label", default="")
    parser.add_argument("--seed", type=int, default=20241107)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.table:
        print_table(args.table)
        return
    if not (args.shards and args.observed and args.reference):
        parser.error("--shards, --observed and --reference are required (unless --table)")
    torch.set_num_threads(args.threads)
    quiet_library_warnings()
    settings = NPESettings.from_json(args.settings)
    use_norm = args.normalization == "on"
    observed = read_events(args.observed, batched=False)
    data = read_event_shards(args.shards, n_events=observed.n_events)
    tic = time.perf_counter()
    estimator, spec, history, _ = train_npe(settings, data, use_norm, args.seed, torch.device("cpu"))
    train_s = time.perf_counter() - tic
    posterior = make_posterior(estimator)
    tic = time.perf_counter()
    samples = draw(posterior, observation_tensor(observed, spec), settings.n_samples, args.seed).numpy()
    sample_s = time.perf_counter() - tic
    reference = read_samples(args.reference).samples
    score = c2st(samples, reference, seed=args.seed)
    width = float(np.mean(samples.std(0) / reference.std(0)))
    n = settings.diagnostics.n_sims
    tic = time.perf_counter()
    cal = {"coverage_max_deviation": float("nan"), "sbc_ks_pvalues": [float("nan")], "tarp_atc": float("nan")}
    if args.holdout:
        holdout = read_events(args.holdout, batched=True)
        draw_fn, log_density = npe_sampler(posterior)
        theta = torch.as_tensor(holdout.params[:n], dtype=torch.float32)
        cal = calibrate(
            draw_fn,
            theta,
            observation_tensor(holdout, spec)[:n],
            settings.diagnostics.n_posterior_samples,
            log_density,
            seed=args.seed,
        )
    cal_s = time.perf_counter() - tic
    epochs = history["epochs"]
    row = {
        "label": args.label,
        "normalization": args.normalization,
        "settings": json.loads(args.settings),
        "simulations_per_epoch": spec["n_train"],
        "simulations_total": spec["n_train"] * (epochs if settings.training.fresh_simulations else 1) + spec["n_validation"],
        "epochs": epochs,
        "best_epoch": history["best_epoch"],
        "best_val_loss": history["best_val_loss"],
        "final_train_loss": history["train_loss"][-1],
        "train_s": train_s,
        "s_per_epoch": float(np.mean(history["epoch_seconds"])),
        "sample_s": sample_s,
        "c2st": score,
        "width_ratio": width,
        "width_per_param": (samples.std(0) / reference.std(0)).tolist(),
        "bias_per_param": ((samples.mean(0) - reference.mean(0)) / reference.std(0)).tolist(),
        "coverage_max_dev": cal["coverage_max_deviation"],
        "sbc_ks_min": float(np.min(cal["sbc_ks_pvalues"])),
        "tarp_atc": cal["tarp_atc"],
        "n_holdout": n,
        "calibration_s": cal_s,
    }
    print(ROW.format(**row))
    if args.out:
        with open(args.out, "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
