"""NLE figures: training and sampling seconds, and the accuracy against the exact posterior.

Two parts (both print a table; numbers from a shared 2-core machine are upper bounds):

* ``--model likelihood.pt --observed observed.h5 --reference reference.h5 [--normalization on]``:
  MCMC on the learned iid likelihood of the observed set (first ``--n-obs`` events), C2ST of its
  draws against the reference draws (:func:`pdfinfer.compare.metrics.c2st`), width ratio per
  parameter, sampling seconds; with ``--train-seconds`` read from the model.
* ``--time-only``: seconds per batched log-likelihood call (32 walkers) at each ``--n-obs`` and a
  projection of the sampling time at the given MCMC settings.

Usage::

    python benchmarks/bench_nle.py --model M.pt --observed R/data/n1024/observed.h5 \
        --reference R/reference/n1024/samples.h5 --normalization off --settings '{"mcmc": {"n_chains": 2}}'
    python benchmarks/bench_nle.py --model M.pt --observed R/data/truth.h5 --time-only --n-obs 1024 4096
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from pdfinfer.compare.metrics import c2st
from pdfinfer.io import read_events, read_samples, write_samples
from pdfinfer.nle.model import NLEModel, load_model, quiet_library_warnings
from pdfinfer.nle.posterior import NLELogPosterior, sample_posterior
from pdfinfer.nle.settings import NLESettings
from pdfinfer.params import PARAM_NAMES, TRUTH, to_physical


def mcmc_calls(settings: NLESettings) -> int:
    """32-walker log-likelihood calls of one MCMC run at ``settings.mcmc`` (the projection's count)."""
    m = settings.mcmc
    return 2 * (m.n_burn + m.n_steps) * m.n_chains * m.n_walkers // 32


def call_seconds(model: NLEModel, events: np.ndarray, settings: NLESettings, repeats: int = 3) -> float:
    """Mean seconds of one 32-walker learned-log-likelihood call on ``events`` ``(N, F)`` (after one warm-up call)."""
    eta = np.clip(TRUTH[None] + 0.02 * np.random.default_rng(0).standard_normal((32, 6)), 0.01, 0.99)
    post = NLELogPosterior(model, events, None, "cpu", settings.chunk_elements)
    post(eta)
    tic = time.perf_counter()
    for _ in range(repeats):
        post(eta)
    return (time.perf_counter() - tic) / repeats


def time_calls(model: NLEModel, events: np.ndarray, n_obs: list[int], settings: NLESettings) -> None:
    """Seconds per 32-walker log-likelihood call and projected MCMC seconds at each size."""
    calls = mcmc_calls(settings)
    print("| n_obs | s per 32-walker call | event-likelihoods/s | projected MCMC s |")
    print("| --- | --- | --- | --- |")
    for n in n_obs:
        per = call_seconds(model, events[:n], settings)
        print(f"| {n} | {per:.3f} | {32 * n / per:.3g} | {per * calls:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--observed", required=True, help="observed set or truth bank (the first --n-obs events are used)")
    parser.add_argument("--reference", help="reference samples of the same observed set (for C2ST)")
    parser.add_argument("--normalization", choices=["on", "off"], default="off")
    parser.add_argument("--n-obs", type=int, nargs="+", default=[1024])
    parser.add_argument("--settings", default="{}", help="nle settings JSON (mcmc, n_samples, chunk_elements)")
    parser.add_argument("--time-only", action="store_true")
    parser.add_argument("--out", help="write the NLE draws here (samples layout)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    quiet_library_warnings()
    settings = NLESettings.from_json(args.settings)
    model, payload = load_model(args.model)
    observed = read_events(args.observed, batched=False)
    if args.time_only:
        model.norm = None  # the event sum dominates; q(z | eta) is one small MLP call per walker
        time_calls(model, observed.events, args.n_obs, settings)
        return
    if args.normalization == "off":
        model.norm = None
    norm = observed.norm if args.normalization == "on" else None
    events = observed.events[: args.n_obs[0]]
    result = sample_posterior(model, events, norm, settings, args.seed)
    train_s = float(payload["history"]["train_seconds"])
    row = {
        "n_obs": len(events),
        "normalization": args.normalization,
        "train_s": round(train_s, 1),
        "sample_s": round(result.seconds, 1),
        "rhat_max": round(float(result.rhat.max()), 4),
        "n_steps": result.n_steps,
    }
    if args.out:
        write_samples(
            args.out,
            result.samples,
            "nle",
            settings.as_dict(),
            args.seed,
            observed.theory,
            "",
            {"rhat": result.rhat},
            {"wall_time_s": train_s + result.seconds, "model": args.model},
        )
    if args.reference:
        ref = read_samples(args.reference).samples
        row["c2st"] = round(c2st(result.samples, ref, 2000, 5, 0, 1), 3)
        width = to_physical(result.samples).std(0) / to_physical(ref).std(0)
        row["width_ratio"] = dict(zip(PARAM_NAMES, np.round(width, 3).tolist()))
        row["mean_width_ratio"] = round(float(width.mean()), 3)
        shift = (to_physical(result.samples).mean(0) - to_physical(ref).mean(0)) / to_physical(ref).std(0)
        row["mean_shift_in_ref_sd"] = dict(zip(PARAM_NAMES, np.round(shift, 3).tolist()))
    print(json.dumps(row))


if __name__ == "__main__":
    main()
