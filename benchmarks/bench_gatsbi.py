"""GATSBI timing: seconds per warm-start epoch, per adversarial epoch, and draws per second.

Synthetic prior-predictive sets from the proxy theory (no files needed). Figures depend on the
machine and its load; no assertions.

    PYTHONPATH=src python benchmarks/bench_gatsbi.py --sims 1024 --n-obs 1024 --threads 1 [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pdfinfer.gatsbi.loop import adversarial_epoch, build_nets, embed_sets, frozen_summaries, optimizers, scan_shards, warm_start
from pdfinfer.gatsbi.model import GATSBIPosterior
from pdfinfer.gatsbi.settings import GATSBISettings
from pdfinfer.io import EventSet
from pdfinfer.theory import make_theory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sims", type=int, default=1024, help="training pairs M")
    parser.add_argument("--n-obs", type=int, default=1024, help="events per set N")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    theory = make_theory("proxy")
    g = torch.Generator().manual_seed(0)
    eta = torch.rand((args.sims, 6), generator=g, dtype=torch.float64).clamp(0.02, 0.98)
    events = theory.sample(eta, args.n_obs, generator=g)
    data = EventSet(events.numpy(), eta.numpy(), np.ones((args.sims, 2)), theory.spec(), {"norm_rel_unc": 0.02}, "synthetic")
    settings = GATSBISettings.from_config({"warm_start_epochs": 1})
    nets = build_nets(scan_shards(data, False, settings.chunk_sets).meta, settings).to(device)
    eta_t, ev_t = eta.float().to(device), events.to(device)

    tic = time.perf_counter()
    warm_start(nets["g"]["embedding"], eta_t, ev_t, None, settings, 0)
    warm = time.perf_counter() - tic
    print(
        f"warm start: {warm:.2f} s per epoch ({args.sims} sets x {settings.warm_start_events} events per step, {args.sims * settings.warm_start_events / warm:.3g} events/s)"
    )

    tic = time.perf_counter()
    summaries = frozen_summaries(embed_sets(nets["g"]["embedding"].eval(), data, False, settings.chunk_sets, device))
    print(
        f"summaries of all sets: {time.perf_counter() - tic:.2f} s ({args.sims * args.n_obs / (time.perf_counter() - tic):.3g} events/s)"
    )

    opts = optimizers(nets, settings)
    rng = torch.Generator(device=device).manual_seed(1)
    adversarial_epoch(nets, opts, eta_t, summaries, settings, rng)  # warm-up
    tic = time.perf_counter()
    for _ in range(3):
        adversarial_epoch(nets, opts, eta_t, summaries, settings, rng)
    per_epoch = (time.perf_counter() - tic) / 3
    updates = -(-args.sims // settings.batch_size)
    print(
        f"adversarial epoch (frozen embedding): {per_epoch:.3f} s, {per_epoch / updates * 1e3:.1f} ms per D+G update "
        f"(batch {settings.batch_size} x {settings.fakes_per_real} fakes); at 8192 sims x {settings.epochs} epochs: {per_epoch * 8192 / args.sims * settings.epochs:.0f} s"
    )

    posterior = GATSBIPosterior(nets["ema"].average["embedding"], nets["ema"].average["generator"]).eval()
    tic = time.perf_counter()
    posterior.draw(ev_t[:1], None, settings.n_samples, 0)
    print(f"sampling: {settings.n_samples} draws for one observed set in {time.perf_counter() - tic:.3f} s")
    if device.type == "cuda":
        print(f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
