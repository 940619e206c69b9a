r"""Event generation: the truth bank, observed sets and prior-predictive training shards.

* ``truth``: ``n_truth`` events at :math:`\eta^*` (the truth bank, 102400 in the original study)
  and one measurement of the normalization observable :math:`z = Z(\eta^*)(1 + r\epsilon)`.
* ``observed``: the first ``n_obs`` events of the truth bank (the observed set).
* ``training``: ``n_sims`` parameter vectors :math:`\eta \sim U[0,1]^6` (the prior; with
  ``--constraints`` the sum-rule constrained prior, :func:`pdfinfer.constraints.sumrules.sample_prior`,
  the one place training parameters are drawn), ``n_obs`` events and one normalization
  measurement each; one shard of a sharded training set.
* ``holdout``: held-out prior-predictive sets in the training shards' layout, for calibration
  checks of amortized methods; same construction, its own seed stream.

Seeds: every stream has its own seed derived from ``--seed`` and the stream's keys
(``("truth",)``, ``("train", n_obs, shard)``, ``("holdout", n_obs)``), so shards and the hold-out
set are independent and each is reproducible on its own (bit-for-bit on a given device).

Memory: a request whose estimated size (the event arrays plus the sampler's working memory of one
batch) exceeds the available memory, or the cap ``PDFINFER_MAX_BYTES``, is refused before any
work with the number of bytes it would need; an unwritable ``--out`` is refused up front too.

Usage::

    python -m pdfinfer.simulate truth    --theory '{"name": "proxy"}' --n-events 102400 --out truth.h5
    python -m pdfinfer.simulate observed --truth truth.h5 --n-obs 1024 --out observed.h5
    python -m pdfinfer.simulate training --theory '{"name": "proxy"}' --n-sims 1024 --n-obs 1024 \
        --shard 0 --out shard0.h5
    python -m pdfinfer.simulate holdout  --theory '{"name": "proxy"}' --n-sims 256 --n-events 1024 \
        --normalization on --rel-unc 0.02 --seed 0 --out holdout.h5
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pdfinfer.errors import ConfigError, DataError
from pdfinfer.runtime import add_common_arguments, cli_main

if TYPE_CHECKING:  # torch and the theories are imported after argument parsing (fast --help)
    import numpy as np
    import torch

    from pdfinfer.theory import Theory

log = logging.getLogger("pdfinfer.simulate")

#: Parameter rows simulated per call of ``Theory.sample``.
BATCH_SIZE = 256


def simulation_bytes(theory: Theory, n_sets: int, n_events: int, batch_size: int = BATCH_SIZE) -> int:
    """Estimated peak memory of :func:`simulate_sets`: the float32 events and float64 norms of all
    ``n_sets`` sets plus the sampler's working memory for one batch of rows."""
    output = n_sets * (n_events * theory.n_features * 4 + theory.n_targets * 8)
    return output + theory.sample_bytes(min(n_sets, batch_size), n_events)


def simulate_sets(
    theory: Theory,
    eta: torch.Tensor,
    n_events: int,
    rel_unc: float,
    generator: torch.Generator,
    batch_size: int = BATCH_SIZE,
    desc: str = "simulate",
) -> tuple[np.ndarray, np.ndarray]:
    """Events ``(B, N, F)`` float32 and normalization measurements ``(B, T)`` for ``eta`` ``(B, 6)``.

    Works through ``eta`` in batches of ``batch_size`` rows on the generator's device. Refuses
    (one-line :class:`ConfigError` with the bytes needed) a request larger than the memory bound.
    """
    import numpy as np

    from pdfinfer.memory import check_memory
    from pdfinfer.runtime import progress

    check_memory(
        simulation_bytes(theory, eta.shape[0], n_events, batch_size),
        f"simulating {eta.shape[0]} x {n_events} {theory.name} events",
    )
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
    from pdfinfer.theory import make_theory

    try:
        spec = json.loads(text)
    except json.JSONDecodeError:
        spec = {"name": text}
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"--theory must be a theory name or a JSON object with a 'name', got {text!r}")
    return make_theory(spec)


def run_truth(args: argparse.Namespace) -> None:
    import torch

    from pdfinfer.io import check_writable, write_events
    from pdfinfer.params import TRUTH
    from pdfinfer.runtime import derive_seed, make_generator, resolve_device

    theory = _theory_arg(args.theory)
    check_writable(args.out)
    device = resolve_device(args.device)
    seed = derive_seed(args.seed, "truth")
    generator = make_generator(seed, device)
    eta = torch.as_tensor(TRUTH, dtype=torch.float64)[None]
    start = time.perf_counter()
    events, norm = simulate_sets(theory, eta, args.n_events, args.norm_rel_unc, generator, desc="truth bank")
    log.info(
        "%d events at eta* in %.2f s on %s; normalization %s (%s)",
        args.n_events,
        time.perf_counter() - start,
        device,
        norm[0],
        theory.norm_unit,
    )
    write_events(
        args.out,
        events[0],
        TRUTH,
        norm[0],
        theory.spec(),
        seed,
        args.norm_rel_unc,
        args.config_hash,
        {"device": str(device), "stream": "truth"},
    )


def run_observed(args: argparse.Namespace) -> None:
    from pdfinfer.io import check_writable, read_events, write_events

    bank = read_events(args.truth, batched=False)
    if args.n_obs > bank.n_events:
        raise DataError(f"{args.truth}: the truth bank holds {bank.n_events} events, fewer than n_obs = {args.n_obs}")
    check_writable(args.out)
    attrs = {k: v for k, v in bank.attrs.items() if k in ("device", "stream")}
    write_events(
        args.out,
        bank.events[: args.n_obs],
        bank.params,
        bank.norm,
        bank.theory,
        bank.attrs["seed"],
        bank.norm_rel_unc,
        args.config_hash,
        {**attrs, "truth_bank": str(args.truth)},
    )
    log.info("observed set: first %d of %d events of %s", args.n_obs, bank.n_events, args.truth)


def simulate_prior_sets(args: argparse.Namespace, stream: tuple[Any, ...], desc: str, attrs: dict[str, Any]) -> None:
    """``args.n_sims`` prior draws with ``args.n_obs`` events each from the seed stream ``stream``,
    written to ``args.out`` in the training-shard layout (``attrs`` added): shards and hold-out sets."""
    from pdfinfer.constraints.settings import ConstraintSettings
    from pdfinfer.constraints.sumrules import sample_prior
    from pdfinfer.io import check_writable, write_events
    from pdfinfer.runtime import derive_seed, make_generator, resolve_device

    theory = _theory_arg(args.theory)
    check_writable(args.out)
    device = resolve_device(args.device)
    seed = derive_seed(args.seed, *stream)
    generator = make_generator(seed, device)
    constraint = ConstraintSettings.from_json(args.constraints, "--constraints")
    eta = sample_prior(args.n_sims, generator, constraint, device=device)
    start = time.perf_counter()
    events, norm = simulate_sets(theory, eta, args.n_obs, args.norm_rel_unc, generator, desc=desc)
    elapsed = time.perf_counter() - start
    log.info(
        "%d sets x %d events in %.2f s (%.3g events/s) on %s",
        args.n_sims,
        args.n_obs,
        elapsed,
        args.n_sims * args.n_obs / max(elapsed, 1e-9),
        device,
    )
    write_events(
        args.out,
        events,
        eta.cpu().numpy(),
        norm,
        theory.spec(),
        seed,
        args.norm_rel_unc,
        args.config_hash,
        {
            "device": str(device),
            "stream": stream[0],
            **attrs,
            **({"constraints": constraint.as_dict()} if constraint.enabled else {}),
        },
    )


def run_training(args: argparse.Namespace) -> None:
    simulate_prior_sets(args, ("train", args.n_obs, args.shard), f"shard {args.shard}", {"shard": args.shard})


def run_holdout(args: argparse.Namespace) -> None:
    simulate_prior_sets(args, ("holdout", args.n_obs), "hold-out", {"normalization": args.normalization})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.simulate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    _prior_set_arguments(training)
    training.add_argument("--shard", type=int, default=0)

    holdout = sub.add_parser("holdout", help="simulate held-out prior-predictive sets (own seed stream) for calibration")
    _prior_set_arguments(holdout)
    holdout.add_argument(
        "--normalization",
        choices=["on", "off"],
        default="on",
        help="whether consumers use the normalization observable (recorded)",
    )
    return parser


def _prior_set_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--theory", required=True)
    parser.add_argument("--n-sims", type=int, required=True, help="parameter vectors (sets) in this file")
    parser.add_argument("--n-obs", "--n-events", dest="n_obs", type=int, required=True, help="events per set")
    parser.add_argument(
        "--norm-rel-unc",
        "--rel-unc",
        dest="norm_rel_unc",
        type=float,
        default=0.02,
        help="relative uncertainty of the normalization observable",
    )
    parser.add_argument(
        "--constraints",
        default="{}",
        help="the config section 'observation.constraints' as JSON: the prior the parameters are drawn from (default: the box)",
    )
    parser.add_argument("--out", required=True)
    add_common_arguments(parser)


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("n_events", "n_obs", "n_sims"):
        if getattr(args, name, 1) is not None and getattr(args, name, 1) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    from pdfinfer.runtime import setup

    setup(args)
    {"truth": run_truth, "observed": run_observed, "training": run_training, "holdout": run_holdout}[args.command](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
