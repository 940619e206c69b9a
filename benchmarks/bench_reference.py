"""Speed of the reference posterior: batched log-likelihood evaluations per second and MCMC wall time.

For each ``n_obs`` (events simulated at eta*), times one batched call of the exact log-posterior
for ``walkers / 2`` parameter rows (what one emcee half-step evaluates) and a short MCMC run with
the configured ensembles, then projects the wall time of a default-sized run
(``n_burn + n_steps`` steps; more if R-hat asks for it).

    PYTHONPATH=src python benchmarks/bench_reference.py                         # 1 thread, CPU
    PYTHONPATH=src python benchmarks/bench_reference.py --n-obs 1024 102400 --device cuda
    PYTHONPATH=src python benchmarks/bench_reference.py --normalization on --steps 50

Prints one line per n_obs: ms per batched call, event-likelihood evaluations per second
(rows x events / s), ms per MCMC step (sampler only), and the projected wall time of a default
run (steps x ms/step + the measured optimizer/initialization time).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from pdfinfer.params import TRUTH
from pdfinfer.reference.likelihood import LogPosterior
from pdfinfer.reference.mcmc import MCMCSettings, run_mcmc
from pdfinfer.runtime import resolve_device
from pdfinfer.theory import make_theory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-obs", type=int, nargs="+", default=[256, 1024, 10240, 102400])
    parser.add_argument("--theory", default="proxy")
    parser.add_argument("--normalization", choices=["on", "off"], default="off")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5, help="timed log-likelihood calls")
    parser.add_argument("--steps", type=int, default=40, help="timed MCMC steps (after a 10-step burn-in)")
    parser.add_argument("--max-mcmc-n-obs", type=int, default=102400, help="skip the MCMC timing above this n_obs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    theory = make_theory(args.theory)
    defaults = MCMCSettings()
    walkers = defaults.n_chains * defaults.n_walkers
    generator = torch.Generator(device=device).manual_seed(0)
    truth = torch.as_tensor(TRUTH, device=device)[None]
    print(f"device {device}, threads {args.threads}, theory {args.theory}, normalization {args.normalization}, "
          f"{defaults.n_chains} chains x {defaults.n_walkers} walkers, default run {defaults.n_burn} + {defaults.n_steps} steps")
    print(f"{'n_obs':>7} {'ms/call':>9} {'ev-lik/s':>10} {'ms/step':>9} {'projected s':>12}")
    for n_obs in args.n_obs:
        events = theory.sample(truth, n_obs, generator=generator)[0].cpu().numpy()
        norm = theory.sample_norm(truth, 0.02, generator=generator)[0].cpu().numpy()
        post = LogPosterior(theory, events, norm, 0.02 if args.normalization == "on" else None, device)
        rows = np.clip(TRUTH + 0.01 * np.random.default_rng(0).standard_normal((walkers // 2, 6)), 0, 1)
        post(rows)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            post(rows)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        per_call = statistics.median(times)
        step_ms, projected = float("nan"), float("nan")
        if n_obs <= args.max_mcmc_n_obs:
            settings = MCMCSettings(n_burn=10, n_steps=args.steps, max_steps=args.steps, n_samples=walkers, rhat_max=1e9)
            result = run_mcmc(post, settings, seed=1)
            step_ms = 1e3 * result.sampling_seconds / (10 + args.steps)
            projected = step_ms / 1e3 * (defaults.n_burn + defaults.n_steps) + (result.seconds - result.sampling_seconds)
        print(f"{n_obs:7d} {1e3 * per_call:9.2f} {len(rows) * n_obs / per_call:10.3g} {step_ms:9.1f} {projected:12.1f}", flush=True)


if __name__ == "__main__":
    main()
