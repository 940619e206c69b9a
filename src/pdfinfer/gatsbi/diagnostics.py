r"""Command line: calibration of the GATSBI posterior on the shared hold-out sets.

The hold-out file (EventSet layout like a training shard: ``params`` ``(M, 6)``, ``events``
``(M, N, F)``, ``norm`` ``(M, T)``; never part of the training shards) gives the truths
:math:`\eta_j` and sets :math:`x_j`; ``diagnostics_samples`` draws per set go through
:func:`pdfinfer.gatsbi.calibration.run_calibration` (SBC ranks and KS p-values, expected coverage,
TARP). Results: ``--out-h5`` (plain arrays, the same keys as NPE's diagnostics) and ``--out-json``.

Usage::

    python -m pdfinfer.gatsbi.diagnostics --model generator.pt --holdout holdout.h5 \
        --out-json diagnostics.json --out-h5 diagnostics.h5
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from typing import Any

from pdfinfer.errors import ConfigError
from pdfinfer.runtime import add_common_arguments, cli_main, derive_seed, parse_on_off, resolve_device, setup

log = logging.getLogger("pdfinfer.gatsbi.diagnostics")


def diagnose(posterior: Any, holdout: Any, meta: dict[str, Any], n_samples: int, seed: int, batch: int = 50) -> dict[str, Any]:
    """Calibration of ``posterior`` on the hold-out EventSet; draws in batches of ``batch`` sets."""
    import numpy as np

    from pdfinfer.gatsbi.calibration import run_calibration
    from pdfinfer.gatsbi.model import as_tensors

    events, norm = as_tensors(holdout, meta)
    parts = [
        posterior.draw(events[i : i + batch], None if norm is None else norm[i : i + batch], n_samples, seed + i).numpy()
        for i in range(0, len(events), batch)
    ]
    draws = np.concatenate(parts)
    return run_calibration(lambda j: draws[j], np.asarray(holdout.params, dtype=np.float64), derive_seed(seed, "tarp"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.gatsbi.diagnostics",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="trained model (generator.pt)")
    parser.add_argument("--holdout", required=True, help="hold-out sets (EventSet HDF5, events (M, N, F))")
    parser.add_argument(
        "--normalization", type=parse_on_off, default=None, help="on or off; must match training (default: as trained)"
    )
    parser.add_argument(
        "--n-posterior-samples",
        type=int,
        default=None,
        help="draws L per hold-out set (default: the diagnostics_samples setting)",
    )
    parser.add_argument("--out-h5", required=True)
    parser.add_argument("--out-json", required=True)
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n_posterior_samples is not None and args.n_posterior_samples < 2:
        raise ConfigError(f"--n-posterior-samples must be at least 2, got {args.n_posterior_samples}")
    setup(args)
    from pdfinfer.gatsbi.model import check_compatible, load_model
    from pdfinfer.io import read_events, write_h5, write_json
    from pdfinfer.params import PARAM_NAMES

    tic = time.perf_counter()
    posterior, payload = load_model(args.model, resolve_device(args.device))
    meta = payload["meta"]
    holdout = read_events(args.holdout, batched=True)
    check_compatible(meta, holdout, args.model, args.normalization)
    n_samples = args.n_posterior_samples or int(payload["settings"]["diagnostics_samples"])
    result = diagnose(posterior, holdout, meta, n_samples, derive_seed(args.seed, "gatsbi", "diagnostics", meta["n_events"]))
    scalars = {k: v for k, v in result.items() if isinstance(v, float)}
    arrays = {k: v for k, v in result.items() if not isinstance(v, float)}
    for k, name in enumerate(PARAM_NAMES):
        log.info("SBC %-4s: KS p-value %.3f", name, result["sbc_ks_pvalues"][k])
    log.info(
        "expected coverage: max |empirical - nominal| = %.3f; TARP ATC %.4f (KS p-value %.3f)",
        scalars["coverage_max_deviation"],
        scalars["tarp_atc"],
        scalars["tarp_ks_pvalue"],
    )
    meta_out = {
        "method": "gatsbi",
        "n_obs": meta["n_events"],
        "n_sims": len(holdout.params),
        "n_posterior_samples": n_samples,
        "param_names": list(PARAM_NAMES),
        "theory": meta["theory"],
        "normalization": meta["normalization"],
        "seed": args.seed,
        "config_hash": args.config_hash,
        "model": str(args.model),
        "holdout": str(args.holdout),
        "coverage_density": "Gaussian KDE of the draws (whitened, Scott's bandwidth)",
        "seconds": time.perf_counter() - tic,
    }
    write_h5(args.out_h5, "gatsbi_diagnostics", arrays, {**meta_out, **scalars})
    write_json(args.out_json, {**meta_out, **scalars, **arrays})
    log.info("wrote %s and %s", args.out_h5, args.out_json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
