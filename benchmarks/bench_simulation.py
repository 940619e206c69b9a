"""Event-generator throughput (events/s) for both theories, on CPU and (when present) CUDA.

    python benchmarks/bench_simulation.py [--threads 2] [--repeats 5] [--devices cpu cuda] [--methods search guide]

One "event" is one row of the events tensor (all targets' draws: (x_p, x_n) for proxy,
(x_p, Q2_p, x_n, Q2_n) for dis). Configurations: B parameter sets x N events each, parameters
drawn from the prior, plus the 102400-event truth bank at eta*. Times include building the
per-parameter CDF tables, drawing uniforms and the float32 conversion, i.e. Theory.sample.

``--methods`` times the table-cell lookups side by side in the same run (interleaved, best of
``--repeats`` each, so a loaded machine slows both alike): ``search`` is the binary search per
event (the reference), ``guide`` the O(1) guide table; both produce the same events, which is
checked on every case.
"""

from __future__ import annotations

import argparse
import time

import torch

from pdfinfer.params import TRUTH
from pdfinfer.runtime import tune_allocator
from pdfinfer.theory import make_theory

CASES = [("prior", 1, 1024), ("prior", 64, 1024), ("prior", 1024, 1024), ("truth", 1, 102400)]


def measure(
    theory_name: str, where: str, batch: int, n_events: int, device: torch.device, repeats: int, methods: list[str]
) -> dict[str, float]:
    """Events per second of ``Theory.sample`` for each lookup method (interleaved repeats)."""
    theory = make_theory(theory_name)
    gen = torch.Generator(device=device).manual_seed(0)
    if where == "truth":
        eta = torch.as_tensor(TRUTH, dtype=torch.float64, device=device)[None]
    else:
        eta = torch.rand((batch, 6), generator=gen, dtype=torch.float64, device=device)

    def once(method: str) -> torch.Tensor:
        gen.manual_seed(1)
        out = theory.sample(eta, n_events, generator=gen, method=method)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    first = [once(m) for m in methods]  # warm-up (table nodes moved to the device, kernels compiled)
    if any(not torch.equal(first[0], other) for other in first[1:]):
        raise SystemExit(f"{theory_name} {where} {batch}x{n_events}: the lookup methods disagree")
    best = {m: float("inf") for m in methods}
    for _ in range(repeats):
        for method in methods:
            start = time.perf_counter()
            once(method)
            best[method] = min(best[method], time.perf_counter() - start)
    return {m: batch * n_events / t for m, t in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--methods", nargs="+", default=["search", "guide"], choices=["search", "guide", "auto"])
    parser.add_argument("--theories", nargs="+", default=["proxy", "dis"])
    parser.add_argument(
        "--glibc-malloc-defaults", action="store_true", help="keep glibc's adaptive malloc thresholds (the jobs tune them)"
    )
    args = parser.parse_args()
    tuned = False if args.glibc_malloc_defaults else tune_allocator()
    torch.set_num_threads(args.threads)
    devices = [torch.device(d) for d in args.devices if d != "cuda" or torch.cuda.is_available()]
    print(f"torch {torch.__version__}, {args.threads} CPU threads, best of {args.repeats}, malloc tuned as in the jobs: {tuned}")
    if torch.cuda.is_available():
        print(f"CUDA device: {torch.cuda.get_device_name()}")
    ratio = f"{args.methods[-1]}/{args.methods[0]}" if len(args.methods) > 1 else ""
    heads = " ".join(f"{m + ' ev/s':>13}" for m in args.methods)
    print(f"{'theory':<7} {'device':<6} {'params':<7} {'B x N':>14} {heads} {ratio:>13}")
    for name in args.theories:
        for device in devices:
            for where, batch, n_events in CASES:
                rates = measure(name, where, batch, n_events, device, args.repeats, args.methods)
                cols = " ".join(f"{rates[m]:>13.3e}" for m in args.methods)
                gain = f"{rates[args.methods[-1]] / rates[args.methods[0]]:>13.2f}" if ratio else ""
                print(f"{name:<7} {device.type:<6} {where:<7} {f'{batch} x {n_events}':>14} {cols} {gain}", flush=True)


if __name__ == "__main__":
    main()
