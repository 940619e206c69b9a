"""NPE calibration draws: sbi's batched sampler against one observation at a time, side by side.

    python benchmarks/bench_npe_draws.py --model results/npe/n1024/posterior.pt \
        --holdout results/data/n1024/holdout.h5 [--sets 64] [--draws 1000] [--repeats 2]

``npe_diagnostics`` needs ``draws`` posterior draws inside the prior box for each held-out set.
``sbi``'s ``sample_batched`` rejects draws outside the box and redraws for the *whole* batch of
observations until its leakiest member has enough, so a batch of 32 draws several times what it
keeps. This script counts the flow draws (a spy on the estimator's ``sample``) and times both
ways on the same model and sets, alternating, on one thread; it prints draws made per draw kept
and seconds per 1000 kept draws.
"""

from __future__ import annotations

import argparse
import time

import torch

from pdfinfer.io import read_events
from pdfinfer.npe.diagnostics import npe_sampler
from pdfinfer.npe.model import load_model, observation_tensor, quiet_library_warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--holdout", required=True)
    parser.add_argument("--sets", type=int, default=64)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    quiet_library_warnings()
    posterior, _, payload = load_model(args.model, torch.device("cpu"))
    xs = observation_tensor(read_events(args.holdout, batched=True), payload["data"])[: args.sets]

    estimator, made = posterior.posterior_estimator, [0]
    flow_sample = estimator.sample

    def counting_sample(shape: torch.Size, condition: torch.Tensor, **kwargs: object) -> torch.Tensor:
        made[0] += int(torch.Size(shape).numel()) * len(condition)
        return flow_sample(shape, condition, **kwargs)

    estimator.sample = counting_sample
    one_at_a_time, _ = npe_sampler(posterior)

    def batched(x: torch.Tensor, n: int) -> torch.Tensor:
        with torch.no_grad():
            return posterior.sample_batched((n,), x=x, show_progress_bars=False)

    ways = {"sbi sample_batched, 32 sets per call": (batched, 32), "one set per call (npe_sampler)": (one_at_a_time, 1)}
    print(f"{len(xs)} held-out sets x {args.draws} kept draws, 1 thread, {args.repeats} alternating repeats")
    print("| sampler | flow draws per kept draw | s per 1000 kept draws |\n| --- | --- | --- |")
    totals = {name: [0.0, 0] for name in ways}
    for repeat in range(args.repeats):
        for name, (draw, batch) in ways.items():
            torch.manual_seed(repeat)
            made[0] = 0
            tic = time.perf_counter()
            for chunk in xs.split(batch):
                draw(chunk, args.draws)
            totals[name][0] += time.perf_counter() - tic
            totals[name][1] += made[0]
    kept = args.repeats * len(xs) * args.draws
    for name, (seconds, drawn) in totals.items():
        print(f"| {name} | {drawn / kept:.2f} | {1000 * seconds / kept:.3f} |")


if __name__ == "__main__":
    main()
