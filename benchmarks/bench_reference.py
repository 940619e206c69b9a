"""Speed of the reference posterior: batched log-likelihood evaluations per second and MCMC wall time.

For each ``n_obs`` (events simulated at eta*), times one batched call of the exact log-posterior
for ``walkers / 2`` parameter rows (what one emcee half-step evaluates) and a short MCMC run with
the configured ensembles, then projects the wall time of a default-sized run
(``n_burn + n_steps`` steps; more if R-hat asks for it).

    PYTHONPATH=src python benchmarks/bench_reference.py                         # 1 thread, CPU
    PYTHONPATH=src python benchmarks/bench_reference.py --n-obs 1024 102400 --device cuda
    PYTHONPATH=src python benchmarks/bench_reference.py --normalization on --steps 50

Prints one line per n_obs: ms per batched call, event-likelihood evaluations per second
(rows x events / s) of the generic per-event path (``Theory.log_prob`` broadcast over the rows, what
the reference used before the precomputed :class:`pdfinfer.theory.observed.ObservedLikelihood`)
and of the current one side by side (interleaved repeats, so a loaded machine slows both alike),
the same for value + gradient (what a gradient-based sampler pays), ms per MCMC step (sampler
only), and the projected wall time of a default run (steps x ms/step + the measured
optimizer/initialization time). ``--steps 0`` skips the MCMC timing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from pdfinfer.params import TRUTH
from pdfinfer.reference.likelihood import LogPosterior
from pdfinfer.reference.mcmc import MCMCSettings, run_mcmc
from pdfinfer.runtime import resolve_device
from pdfinfer.theory import make_theory


def best_times(calls: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of each call, the calls interleaved ``repeats`` times after one warm-up each."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def generic_log_prob(post: LogPosterior, eta: torch.Tensor) -> torch.Tensor:
    """The previous evaluation: per-event ``Theory.log_prob`` broadcast over the rows, ``(B,)``."""
    parts = []
    for start in range(0, eta.shape[0], post.rows_per_chunk):
        rows = eta[start : start + post.rows_per_chunk]
        lp = post.theory.log_prob(post.events, rows).sum(-1)
        if post.norm is not None:
            lp = lp + post.theory.norm_log_prob(post.norm, rows, post.rel_unc)
        parts.append(lp)
    return torch.cat(parts)


def with_grad(log_prob: Callable[[torch.Tensor], torch.Tensor], rows: torch.Tensor) -> Callable[[], object]:
    def call() -> object:
        eta = rows.clone().requires_grad_(True)
        return torch.autograd.grad(log_prob(eta).sum(), eta)[0]

    return call


def time_old_and_new(
    post: LogPosterior, rows_np: np.ndarray, repeats: int, device: torch.device
) -> tuple[dict[str, float], dict[str, float]]:
    """Median seconds of the old and new evaluation, without and with the gradient."""
    rows = torch.as_tensor(rows_np, device=device)
    with torch.no_grad():
        value = best_times({"old": lambda: generic_log_prob(post, rows), "new": lambda: post(rows_np)}, repeats, device)
    grad = best_times(
        {"old": with_grad(lambda e: generic_log_prob(post, e), rows), "new": with_grad(post.torch_log_prob, rows)},
        repeats,
        device,
    )
    return value, grad


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
    print(
        f"device {device}, threads {args.threads}, theory {args.theory}, normalization {args.normalization}, "
        f"{defaults.n_chains} chains x {defaults.n_walkers} walkers, default run {defaults.n_burn} + {defaults.n_steps} steps"
    )
    print(
        f"{'n_obs':>7} {'old ms':>8} {'new ms':>8} {'old ev/s':>10} {'new ev/s':>10} {'ratio':>6} "
        f"{'grad old':>9} {'grad new':>9} {'ratio':>6} {'ms/step':>8} {'projected s':>12}"
    )
    for n_obs in args.n_obs:
        events = theory.sample(truth, n_obs, generator=generator)[0].cpu().numpy()
        norm = theory.sample_norm(truth, 0.02, generator=generator)[0].cpu().numpy()
        post = LogPosterior(theory, events, norm, 0.02 if args.normalization == "on" else None, device)
        rows_np = np.clip(TRUTH + 0.01 * np.random.default_rng(0).standard_normal((walkers // 2, 6)), 0, 1)
        value, grad = time_old_and_new(post, rows_np, args.repeats, device)
        step_ms, projected = float("nan"), float("nan")
        if args.steps > 0 and n_obs <= args.max_mcmc_n_obs:
            settings = MCMCSettings(n_burn=10, n_steps=args.steps, max_steps=args.steps, n_samples=walkers, rhat_max=1e9)
            result = run_mcmc(post, settings, seed=1)
            step_ms = 1e3 * result.sampling_seconds / (10 + args.steps)
            projected = step_ms / 1e3 * (defaults.n_burn + defaults.n_steps) + (result.seconds - result.sampling_seconds)
        work = len(rows_np) * n_obs
        print(
            f"{n_obs:7d} {1e3 * value['old']:8.2f} {1e3 * value['new']:8.2f} {work / value['old']:10.3g} {work / value['new']:10.3g} "
            f"{value['old'] / value['new']:6.1f} {1e3 * grad['old']:9.2f} {1e3 * grad['new']:9.2f} {grad['old'] / grad['new']:6.1f} "
            f"{step_ms:8.1f} {projected:12.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
