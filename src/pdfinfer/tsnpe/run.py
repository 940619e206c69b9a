r"""Command line: TSNPE rounds for the observed set, then draws in the common samples layout.

Simulates its own rounds from the theory of the observed file (no training shards), with the
settings of the ``tsnpe`` config section as JSON, and writes ``samples`` ``(K, 6)`` (method
``"tsnpe"``) with the per-round records as extras (``round_acceptance``, ``round_val_loss``,
``round_epochs``, ``round_seconds``) and ``wall_time_s`` (rounds + sampling). The round
checkpoint is removed once the samples are written.

Usage::

    python -m pdfinfer.tsnpe.run --observed observed.h5 --normalization off \
        --settings '{"rounds": 4, "simulations_per_round": 2048}' --out samples.h5 --checkpoint rounds.pt
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence

from pdfinfer.runtime import add_common_arguments, cli_main, parse_on_off

log = logging.getLogger("pdfinfer.tsnpe")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.tsnpe.run",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--observed", required=True, help="observed event set (HDF5, events (N, F))")
    parser.add_argument("--normalization", type=parse_on_off, required=True, help="use the normalization observable: on or off")
    parser.add_argument("--settings", default="{}", help="the tsnpe config section as JSON (missing keys take the defaults)")
    parser.add_argument(
        "--constraints", default="{}", help="the config section 'observation.constraints' as JSON: the prior's sum-rule factor"
    )
    parser.add_argument("--out", required=True, help="samples file (HDF5, samples (K, 6) normalized)")
    parser.add_argument("--checkpoint", default=None, help="round checkpoint, written after every round and resumed from")
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer.tsnpe.settings import TSNPESettings

    settings = TSNPESettings.from_json(args.settings)
    from pdfinfer.constraints.settings import ConstraintSettings

    constraint = ConstraintSettings.from_json(args.constraints, "--constraints")
    import numpy as np
    import torch

    from pdfinfer.io import read_events, write_samples
    from pdfinfer.npe.model import make_posterior, observation_tensor, quiet_library_warnings
    from pdfinfer.npe.sample import draw
    from pdfinfer.runtime import derive_seed, setup
    from pdfinfer.tsnpe.rounds import run_rounds

    setup(args)
    quiet_library_warnings()
    if args.device not in ("auto", "cpu"):
        log.warning("TSNPE runs on CPU (its rounds are small); --device %s ignored", args.device)
    tic = time.perf_counter()
    observed = read_events(args.observed, batched=False)
    result = run_rounds(settings, observed, args.normalization, args.seed, args.checkpoint, constraint)
    posterior = make_posterior(result.estimator)
    x = observation_tensor(observed, result.spec)
    seed = derive_seed(args.seed, "tsnpe", "sample", observed.n_events)
    samples = draw(posterior, x, settings.n_samples, seed).numpy().astype(np.float64)
    with torch.no_grad():
        log_q = posterior.log_prob(torch.as_tensor(samples, dtype=torch.float32), x=x, norm_posterior=False).numpy()
    extras = {"log_prob": log_q, **{f"round_{k}": np.asarray(v, dtype=np.float64) for k, v in result.history.items()}}
    write_samples(
        args.out,
        samples,
        "tsnpe",
        settings.as_dict(),
        seed,
        observed.theory,
        args.config_hash,
        extras,
        {
            "observed": str(args.observed),
            **({"constraints": constraint.as_dict()} if constraint.enabled else {}),
            "n_simulations": int(result.spec["n_simulations"]),
            "device": "cpu",
            "wall_time_s": float(time.perf_counter() - tic),
        },
    )
    if result.checkpoint is not None:
        result.checkpoint.discard()
    log.info("wrote %d draws to %s", settings.n_samples, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
