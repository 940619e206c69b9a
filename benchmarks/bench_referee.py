"""Referee samplers side by side: NUTS (pyro) and emcee on {proxy, dis} x {normalization off, on} x n_obs.

For each cell, one observed set is simulated at the truth (seeded), the referee's sampler runs
to the ESS / R-hat budget (``reference`` settings, overridable per sampler with ``--nuts`` /
``--emcee`` JSON), and one line is printed: wall time, worst R-hat, smallest bulk and tail ESS,
ESS per second (smallest of bulk/tail over the wall time), then per-parameter R-hat / bulk / tail,
as a markdown table row. A run that exhausts its budget prints its one-line error instead, and
one that runs past ``--cell-seconds`` says where it stopped. n_obs 102400 is skipped on CPU
unless ``--allow-large`` is given (one value+gradient at that size costs ~100x the 1024 one).

Usage::

    PYTHONPATH=src python benchmarks/bench_referee.py --theories proxy dis --n-obs 256 1024 \
        --samplers nuts emcee --nuts '{"ess_target": 400}' --emcee '{"ess_target": 400}'
"""

from __future__ import annotations

import argparse
import json
import signal
import time

import numpy as np
import torch

from pdfinfer.params import PARAM_NAMES, TRUTH
from pdfinfer.reference.job import sample_posterior
from pdfinfer.reference.likelihood import LogPosterior
from pdfinfer.reference.result import ConvergenceError
from pdfinfer.reference.settings import ReferenceSettings
from pdfinfer.theory import make_theory


def observed(theory_name: str, n_obs: int, rel_unc: float, seed: int) -> tuple:
    """Events ``(N, F)`` and a normalization measurement ``(T,)`` at the truth."""
    theory = make_theory(theory_name)
    generator = torch.Generator().manual_seed(seed)
    truth = torch.as_tensor(TRUTH)[None]
    events = theory.sample(truth, n_obs, generator=generator)[0].numpy()
    norm = theory.sample_norm(truth, rel_unc, generator=generator)[0].numpy()
    return theory, events, norm


class CellTimeout(Exception):
    """A cell ran past ``--cell-seconds``."""


def _alarm(signum, frame):  # signal handler
    raise CellTimeout


def cell(theory_name: str, norm_on: bool, n_obs: int, settings: ReferenceSettings, seed: int, limit: int) -> str:
    """One markdown table row for one configuration (a sampler stopped after ``limit`` seconds says so)."""
    theory, events, norm = observed(theory_name, n_obs, 0.02, seed)
    posterior = LogPosterior(theory, events, norm, 0.02 if norm_on else None, "cpu")
    head = f"| {settings.sampler} | {theory_name} | {'on' if norm_on else 'off'} | {n_obs} |"
    start = time.perf_counter()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit)
    try:
        result = sample_posterior(posterior, settings, seed)
    except ConvergenceError as err:
        return f"{head} FAILED after {time.perf_counter() - start:.0f} s: {err} |"
    except CellTimeout:
        return f"{head} stopped after {time.perf_counter() - start:.0f} s (--cell-seconds {limit}) |"
    finally:
        signal.alarm(0)
    wall = time.perf_counter() - start
    ess_min = float(np.minimum(result.ess_bulk, result.ess_tail).min())
    per_param = " ".join(
        f"{n} {r:.3f}/{b:.0f}/{t:.0f}" for n, r, b, t in zip(PARAM_NAMES, result.rhat, result.ess_bulk, result.ess_tail)
    )
    coords = result.info.get("coordinates", "logit")
    return (
        f"{head} {coords} | {wall:.1f} | {result.n_draws} | {result.rhat.max():.4f} | {result.ess_bulk.min():.0f} | "
        f"{result.ess_tail.min():.0f} | {ess_min / wall:.1f} | {per_param} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--theories", nargs="+", default=["proxy", "dis"])
    parser.add_argument("--norm", nargs="+", default=["off", "on"], choices=["off", "on"])
    parser.add_argument("--n-obs", nargs="+", type=int, default=[256, 1024])
    parser.add_argument("--samplers", nargs="+", default=["nuts", "emcee"], choices=["nuts", "emcee"])
    parser.add_argument("--nuts", default="{}", help="reference settings (JSON) for the NUTS runs")
    parser.add_argument("--emcee", default="{}", help="reference settings (JSON) for the emcee runs")
    parser.add_argument("--allow-large", action="store_true", help="run n_obs > 10000 on CPU too")
    parser.add_argument("--seed", type=int, default=20241107)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cell-seconds", type=int, default=600, help="stop a cell's sampler after this many seconds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {"nuts": json.loads(args.nuts), "emcee": json.loads(args.emcee)}
    print(f"torch {torch.__version__}, {args.threads} thread(s); figures are from whatever load the machine carries")
    print(f"emcee settings {args.emcee}; NUTS settings {args.nuts}")
    print(
        "| sampler | theory | norm | n_obs | coordinates | wall s | draws/chain | R-hat max | bulk ESS min | tail ESS min | ESS/s "
        "| per parameter R-hat/bulk/tail |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n_obs in args.n_obs:
        if n_obs > 10000 and not args.allow_large and not torch.cuda.is_available():
            print(
                f"n_obs={n_obs}: skipped on CPU (pass --allow-large to run it anyway): one emcee step at that size "
                "costs ~100x the n_obs 1024 one, minutes per cell before the budget is met"
            )
            continue
        for theory_name in args.theories:
            for norm in args.norm:
                for sampler in args.samplers:
                    settings = ReferenceSettings.from_config({**overrides[sampler], "sampler": sampler})
                    print(cell(theory_name, norm == "on", n_obs, settings, args.seed, args.cell_seconds), flush=True)


if __name__ == "__main__":
    main()
