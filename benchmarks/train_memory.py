"""Peak memory of real training jobs against n_obs and n_simulations: NPE (``train_npe``, one epoch, a
small flow) or GATSBI (``gatsbi.loop.fit``, one epoch, fixed moments, a simulated pool).

For each size, a subprocess writes prior-predictive shards (proxy theory) and a second, fresh
subprocess trains on them the way the job does (:func:`pdfinfer.io.open_event_shards`: NPE with
fresh simulations reads only the validation and standardization rows; GATSBI reads every set,
``chunk_sets`` at a time). The second reports its peak RSS minus its RSS after the imports
(``ru_maxrss`` against ``/proc/self/statm``), printed beside the method's bound
(:func:`pdfinfer.npe.settings.train_memory_bytes`, :func:`pdfinfer.gatsbi.settings.train_memory_bytes`)
that the rule's ``mem_mb`` asks for (at the proxy theory's F = 2 features; the rules assume F = 4).

Usage::

    PYTHONPATH=src python benchmarks/train_memory.py [--method npe|gatsbi] [--sizes 8192x1024 32768x4096 ...]
        [--fresh 512] [--chunk 128] [--pool 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

#: (n_obs, n_simulations) measured by default: a few minutes on 2 CPU cores, under 8 GB.
DEFAULT_SIZES = ("8192x1024", "8192x4096", "32768x1024", "32768x4096")
TINY_FLOW = {
    "hidden_features": 16,
    "num_transforms": 2,
    "embedding": {"hidden": 16, "output_dim": 8},
}


def rss_mb() -> float:
    """Resident set size of this process now, MB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_child(root: str, n_obs: int, n_sims: int) -> None:
    """Write ``n_sims`` prior-predictive sets of ``n_obs`` events in two shards under ``root``."""
    import torch

    from pdfinfer.io import write_events
    from pdfinfer.runtime import make_generator
    from pdfinfer.simulate import simulate_sets
    from pdfinfer.theory import make_theory

    theory = make_theory("proxy")
    for i in range(2):
        gen = make_generator(100 + i)
        eta = torch.rand((n_sims // 2, 6), generator=gen, dtype=torch.float64)
        events, norm = simulate_sets(theory, eta, n_obs, 0.02, gen)
        write_events(Path(root) / f"shard{i}.h5", events, eta.numpy(), norm, theory.spec(), 100 + i, 0.02)


def train_child(root: str, n_obs: int, method: str, options: dict) -> None:
    """Train one epoch of ``method`` on the shards under ``root``; print the peak-RSS growth and the bound (MB) as JSON."""
    import torch

    from pdfinfer.io import open_event_shards

    baseline = rss_mb()
    data = open_event_shards(sorted(str(p) for p in Path(root).glob("shard*.h5")), n_events=n_obs)
    if method == "npe":
        from pdfinfer.npe.loop import train_npe
        from pdfinfer.npe.model import quiet_library_warnings
        from pdfinfer.npe.settings import NPESettings, train_memory_bytes

        quiet_library_warnings()
        settings = NPESettings.from_config({**TINY_FLOW, "training": {**options, "max_epochs": 1}})
        train_npe(settings, data, False, 0, torch.device("cpu"))
        bound = train_memory_bytes(settings.training, data.n_sets, n_obs, n_features=2)
    else:
        from pdfinfer.gatsbi.loop import fit
        from pdfinfer.gatsbi.settings import GATSBISettings, train_memory_bytes

        settings = GATSBISettings.from_config({**options, "epochs": 1})
        fit(data, False, settings, 0, torch.device("cpu"))
        bound = train_memory_bytes(settings, data.n_sets, n_obs, n_features=2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mb": peak - baseline, "bound_mb": bound / 2**20, "baseline_mb": baseline}))


def run(*args: str) -> str:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return out.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=("npe", "gatsbi"), default="npe", help="the training job measured")
    parser.add_argument("--sizes", nargs="+", default=list(DEFAULT_SIZES), help="n_obs x n_simulations, e.g. 8192x1024")
    parser.add_argument("--fresh", type=int, default=512, help="npe.training.fresh_simulations (0: fixed shards)")
    parser.add_argument("--chunk", type=int, default=128, help="npe.training.fresh_chunk_sets or gatsbi.chunk_sets")
    parser.add_argument("--batch-size", type=int, default=64, help="npe.training.batch_size")
    parser.add_argument("--pool", type=int, default=100000, help="gatsbi.simulations (pairs simulated by the job)")
    parser.add_argument("--write-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--train-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_child:
        write_child(args.write_child[0], int(args.write_child[1]), int(args.write_child[2]))
        return 0
    if args.train_child:
        root, n_obs, method, options = args.train_child
        train_child(root, int(n_obs), method, json.loads(options))
        return 0
    if args.method == "npe":
        options = {"fresh_simulations": args.fresh, "fresh_chunk_sets": args.chunk, "batch_size": args.batch_size}
    else:
        options = {"chunk_sets": args.chunk, "simulations": args.pool}
    print(f"{args.method}: " + ", ".join(f"{key} {value}" for key, value in options.items()))
    print("| n_obs | n_simulations | shard data (MB) | peak RSS growth (MB) | bound train_memory_bytes, F = 2 (MB) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size in args.sizes:
        n_obs, n_sims = (int(v) for v in size.split("x"))
        with tempfile.TemporaryDirectory(prefix="train_memory_") as root:
            run("--write-child", root, str(n_obs), str(n_sims))
            result = json.loads(run("--train-child", root, str(n_obs), args.method, json.dumps(options)).strip().splitlines()[-1])
        shards = n_sims * n_obs * 2 * 4 / 2**20
        print(f"| {n_obs} | {n_sims} | {shards:.0f} | {result['peak_mb']:.0f} | {result['bound_mb']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
