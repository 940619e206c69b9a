r"""Command line: calibration of the NPE posterior on the held-out sets (``holdout.h5``).

A thin layer over :mod:`pdfinfer.calibration` (SBC, expected coverage with highest-density
regions of :math:`\log q`, TARP): it reads the first ``npe.diagnostics.n_sims`` sets of the
hold-out file (made by rule ``simulate_holdout`` from its own seed stream, never part of the
training shards), draws ``n_posterior_samples`` from ``sbi``'s batched sampler for each, and
writes ``diagnostics.h5`` (plain arrays) and ``diagnostics.json``.

Usage::

    python -m pdfinfer.npe.diagnostics --model posterior.pt --holdout holdout.h5 --normalization off \
        --settings '{"diagnostics": {"n_sims": 500}}' --out-h5 diagnostics.h5 --out-json diagnostics.json
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

from pdfinfer.runtime import add_common_arguments, cli_main, parse_on_off

log = logging.getLogger("pdfinfer.npe.diagnostics")


def npe_sampler(posterior: Any) -> tuple[Any, Any]:
    """``(draw, log_density)`` callables of :mod:`pdfinfer.calibration` for an sbi posterior.

    ``draw`` samples one observation at a time: ``sbi``'s rejection of draws outside the prior
    box redraws the *whole* batch of observations at the rate of its leakiest one (batches of 32
    drew 3-5x more than they kept; one at a time is 2x faster, ``benchmarks/README.md``).
    ``log_density`` omits sbi's leakage normalization (a constant per ``x``, which does not
    change ranks, and costs 10^4 draws per call).
    """
    import torch

    def draw(x: torch.Tensor, n: int) -> torch.Tensor:  # (m, D) -> (m, n, 6)
        with torch.no_grad():
            return torch.stack([posterior.sample((n,), x=xi[None], show_progress_bars=False) for xi in x])

    def log_density(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # (m, K, 6), (m, D) -> (m, K)
        # One observation per call: the embedding then sees K copies of one x and embeds it once
        # (sbi's log_prob_batched would embed every (theta, x) pair's x separately).
        with torch.no_grad():
            return torch.stack([posterior.log_prob(t, x=xi[None], norm_posterior=False) for t, xi in zip(theta, x)])

    return draw, log_density


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.npe.diagnostics",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="trained model (posterior.pt)")
    parser.add_argument(
        "--holdout", required=True, help="held-out prior-predictive sets (HDF5, EventSet layout like a training shard)"
    )
    parser.add_argument(
        "--normalization",
        type=parse_on_off,
        required=True,
        help="use the normalization observable: on or off (must match training)",
    )
    parser.add_argument(
        "--settings", default="{}", help="the npe config section as JSON (its diagnostics subsection is used here)"
    )
    parser.add_argument("--out-h5", required=True)
    parser.add_argument("--out-json", required=True)
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer.npe.settings import NPESettings

    config = NPESettings.from_json(args.settings).diagnostics
    import torch

    from pdfinfer.calibration import LEVELS, calibrate
    from pdfinfer.errors import DataError
    from pdfinfer.io import read_events, write_h5, write_json
    from pdfinfer.npe.model import check_fits, load_model, observation_tensor, quiet_library_warnings
    from pdfinfer.params import PARAM_NAMES
    from pdfinfer.runtime import derive_seed, resolve_device, setup

    setup(args)
    quiet_library_warnings()
    device = resolve_device(args.device)
    posterior, _, payload = load_model(args.model, device)
    data = payload["data"]
    holdout = read_events(args.holdout, batched=True)
    check_fits(args.model, data, holdout, args.normalization)
    if len(holdout.params) < config.n_sims:
        raise DataError(f"{args.holdout}: {len(holdout.params)} held-out sets, but npe.diagnostics.n_sims = {config.n_sims}")
    theta = torch.as_tensor(holdout.params[: config.n_sims], dtype=torch.float32)
    xs = observation_tensor(holdout, data)[: config.n_sims].to(device)
    seed = derive_seed(args.seed, "npe", "diagnostics", data["n_events"])
    # The SBC's prior-vs-data-averaged-posterior check compares with the hold-out's own parameters: draws of the
    # prior its sets came from (the sum-rule constrained one when observation.constraints is on), not the box.
    prior = theta if config.c2st else None
    draw, log_density = npe_sampler(posterior)
    result = calibrate(draw, theta, xs, config.n_posterior_samples, log_density, seed, config.c2st, prior)
    seconds = result.pop("seconds")
    for k, name in enumerate(PARAM_NAMES):
        extra = f", C2ST(ranks) {result['sbc_c2st_ranks'][k]:.3f}" if config.c2st else ""
        log.info("SBC %-4s: KS p-value %.3f%s", name, result["sbc_ks_pvalues"][k], extra)
    log.info(
        "expected coverage: max |empirical - nominal| = %.3f over levels %s", result["coverage_max_deviation"], LEVELS.tolist()
    )
    log.info(
        "TARP: ATC %.4f, KS p-value %.3f; seconds %s",
        result["tarp_atc"],
        result["tarp_ks_pvalue"],
        {k: round(v, 1) for k, v in seconds.items()},
    )
    scalars = {k: v for k, v in result.items() if isinstance(v, (float, str))}
    arrays = {k: v for k, v in result.items() if k not in scalars}
    meta = {
        "method": "npe",
        "n_obs": data["n_events"],
        "n_sims": config.n_sims,
        "n_posterior_samples": config.n_posterior_samples,
        "param_names": list(PARAM_NAMES),
        "theory": data["theory"],
        "normalization": data["normalization"],
        "seed": args.seed,
        "config_hash": args.config_hash,
        "model": str(args.model),
        "holdout": str(args.holdout),
    }
    write_h5(args.out_h5, "npe_diagnostics", arrays, {**meta, **scalars, "seconds": seconds})
    write_json(args.out_json, {**meta, **scalars, **arrays, "seconds": seconds})
    log.info("wrote %s and %s", args.out_h5, args.out_json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
