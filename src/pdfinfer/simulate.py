r"""Event generation: the truth bank, observed sets and prior-predictive training shards.

* ``truth``: ``n_truth`` events at :math:`\eta^*` (the truth bank, 102400 in the original study)
  and one measurement of the normalization observable :math:`z = Z(\eta^*)(1 + r\epsilon)`.
* ``observed``: the first ``n_obs`` events of the truth bank (the observed set).
* ``training``: ``n_sims`` parameter vectors :math:`\eta \sim U[0,1]^6` (the prior), ``n_obs``
  events and one normalization measurement each; one shard of a sharded training set.

Seeds: every stream has its own seed derived from ``--seed`` and the stream's keys, so shards
are independent and any shard is reproducible on its own (bit-for-bit on a given device).

Usage::

    python -m pdfinfer.simulate truth    --theory '{"name": "proxy"}' --n-events 102400 --out truth.h5
    python -m pdfinfer.simulate observed --truth truth.h5 --n-obs 1024 --out observed.h5
    python -m pdfinfer.simulate training --theory '{"name": "proxy"}' --n-sims 1024 --n-obs 1024 \
        --shard 0 --out shard0.h5
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from typing import Sequence

import numpy as np
import torch

from pdfinfer.errors import ConfigError, DataError
from pdfinfer.io import read_events, write_events
from pdfinfer.params import TRUTH
from pdfinfer.runtime import add_common_arguments, cli_main, derive_seed, make_generator, progress, resolve_device, setup
from pdfinfer.theory import Theory, make_theory

log = logging.getLogger("pdfinfer.simulate")


def simulate_sets(
    theory: Theory,
    eta: torch.Tensor,
    n_events: int,
    rel_unc: float,
    generator: torch.Generator,
    batch_size: int = 256,
    desc: str = "simulate",
) -> tuple[np.ndarray, np.ndarray]:
    """Events ``(B, N, F)`` float32 and normalization measurements ``(B, T)`` for ``eta`` ``(B, 6)``.

    Works through ``eta`` in batches of ``batch_size`` rows on the generator's device.
    """
    device = generator.device
    events = np.empty((eta.shape[0], n_events, theory.n_features), dtype=np.float32)
    norms = np.empty((eta.shape[0], theory.n_targets), dtype=np.float64)
    with progress(total=eta.shape[0] * n_events, desc=desc, unit="ev", unit_scale=True) as bar:
        for start in range(0, eta.shape[0], batch_size):
            rows = eta[start : start + batch_size].to(device)
            events[start : start + len(rows)] = theory.sample(rows, n_events, generator=generator).cpu().numpy()
            norms[start : start + len(rows)] = theory.sample_norm(rows, rel_unc, generator=generator).cpu().numpy()
            bar.update(len(rows) * n_events)
    return events, norms


def _theory_arg(text: str) -> Theory:
    try:
        spec = json.loads(text)
    except json.JSONDecodeError:
        spec = {"name": text}
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"--theory must be a theory name or a JSON object with a 'name', got {text!r}")
    return make_theory(spec)


def run_truth(args: argparse.Namespace) -> None:
    theory = _theory_arg(args.theory)
    device = resolve_device(args.device)
    seed = derive_seed(args.seed, "truth")
    generator = make_generator(seed, device)
    eta = torch.as_tensor(TRUTH, dtype=torch.float64)[None]
    start = time.perf_counter()
    events, norm = simulate_sets(theory, eta, args.n_events, args.norm_rel_unc, generator, desc="truth bank")
    log.info("%d events at eta* in %.2f s on %s; normalization %s (%s)", args.n_events, time.perf_counter() - start, device, norm[0], theory.norm_unit)
    write_events(args.out, events[0], TRUTH, norm[0], theory.spec(), seed, args.norm_rel_unc, args.config_hash, {"device": str(device), "stream": "truth"})


def run_observed(args: argparse.Namespace) -> None:
    bank = read_events(args.truth, batched=False)
    if args.n_obs > bank.n_events:
        raise DataError(f"{args.truth}: the truth bank holds {bank.n_events} events, fewer than n_obs = {args.n_obs}")
    attrs = {k: v for k, v in bank.attrs.items() if k in ("device", "stream")}
    write_events(
        args.out, bank.events[: args.n_obs], bank.params, bank.norm, bank.theory, bank.attrs["seed"], bank.norm_rel_unc,
        args.config_hash, {**attrs, "truth_bank": str(args.truth)},
    )
    log.info("observed set: first %d of %d events of %s", args.n_obs, bank.n_events, args.truth)


def run_training(args: argparse.Namespace) -> None:
    theory = _theory_arg(args.theory)
    device = resolve_device(args.device)
    seed = derive_seed(args.seed, "train", args.n_obs, args.shard)
    generator = make_generator(seed, device)
    eta = torch.rand((args.n_sims, 6), generator=generator, dtype=torch.float64, device=device)
    start = time.perf_counter()
    events, norm = simulate_sets(theory, eta, args.n_obs, args.norm_rel_unc, generator, desc=f"shard {args.shard}")
    elapsed = time.perf_counter() - start
    log.info("%d sets x %d events in %.2f s (%.3g events/s) on %s", args.n_sims, args.n_obs, elapsed, args.n_sims * args.n_obs / max(elapsed, 1e-9), device)
    write_events(
        args.out, events, eta.cpu().numpy(), norm, theory.spec(), seed, args.norm_rel_unc, args.config_hash,
        {"device": str(device), "stream": "train", "shard": args.shard},
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pdfinfer.simulate", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    truth = sub.add_parser("truth", help="simulate the truth bank at eta*")
    truth.add_argument("--theory", required=True, help='theory name or JSON spec, e.g. \'{"name": "dis", "sqrt_s": 140}\'')
    truth.add_argument("--n-events", type=int, default=102400)
    truth.add_argument("--norm-rel-unc", type=float, default=0.02, help="relative uncertainty of the normalization observable")
    truth.add_argument("--out", required=True)
    add_common_arguments(truth)

    observed = sub.add_parser("observed", help="cut the observed set (first n_obs events) from the truth bank")
    observed.add_argument("--truth", required=True)
    observed.add_argument("--n-obs", type=int, required=True)
    observed.add_argument("--out", required=True)
    add_common_arguments(observed, seed=False, device=False)

    training = sub.add_parser("training", help="simulate one shard of prior-predictive training sets")
    training.add_argument("--theory", required=True)
    training.add_argument("--n-sims", type=int, required=True, help="parameter vectors in this shard")
    training.add_argument("--n-obs", type=int, required=True, help="events per set")
    training.add_argument("--shard", type=int, default=0)
    training.add_argument("--norm-rel-unc", type=float, default=0.02)
    training.add_argument("--out", required=True)
    add_common_arguments(training)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("n_events", "n_obs", "n_sims"):
        if getattr(args, name, 1) is not None and getattr(args, name, 1) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    setup(args)
    {"truth": run_truth, "observed": run_observed, "training": run_training}[args.command](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
