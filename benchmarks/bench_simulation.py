"""Event-generator throughput (events/s) for both theories, on CPU and (when present) CUDA.

    python benchmarks/bench_simulation.py [--threads 2] [--repeats 5] [--devices cpu cuda]

One "event" is one row of the events tensor (all targets' draws: (x_p, x_n) for proxy,
(x_p, Q2_p, x_n, Q2_n) for dis). Configurations: B parameter sets x N events each, parameters
drawn from the prior, plus the 102400-event truth bank at eta*. Times include building the
per-parameter CDF tables, drawing uniforms and the float32 conversion, i.e. Theory.sample.
"""

from __future__ import annotations

import argparse
import time

import torch

from pdfinfer.params import TRUTH
from pdfinfer.theory import make_theory

CASES = [("prior", 1, 1024), ("prior", 64, 1024), ("prior", 1024, 1024), ("truth", 1, 102400)]


def measure(theory_name: str, where: str, batch: int, n_events: int, device: torch.device, repeats: int) -> float:
    theory = make_theory(theory_name)
    gen = torch.Generator(device=device).manual_seed(0)
    if where == "truth":
        eta = torch.as_tensor(TRUTH, dtype=torch.float64, device=device)[None]
    else:
        eta = torch.rand((batch, 6), generator=gen, dtype=torch.float64, device=device)

    def once() -> None:
        theory.sample(eta, n_events, generator=gen)
        if device.type == "cuda":
            torch.cuda.synchronize()

    once()  # warm-up (table nodes moved to the device, kernels compiled)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        once()
        best = min(best, time.perf_counter() - start)
    return batch * n_events / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [torch.device(d) for d in args.devices if d != "cuda" or torch.cuda.is_available()]
    print(f"torch {torch.__version__}, {args.threads} CPU threads, best of {args.repeats}")
    if torch.cuda.is_available():
        print(f"CUDA device: {torch.cuda.get_device_name()}")
    print(f"{'theory':<7} {'device':<6} {'params':<7} {'B x N':>14} {'events/s':>12}")
    for name in ("proxy", "dis"):
        for device in devices:
            for where, batch, n_events in CASES:
                rate = measure(name, where, batch, n_events, device, args.repeats)
                print(f"{name:<7} {device.type:<6} {where:<7} {f'{batch} x {n_events}':>14} {rate:>12.3e}", flush=True)


if __name__ == "__main__":
    main()
