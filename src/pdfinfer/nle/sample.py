r"""Draw from the NLE posterior of the observed set by MCMC on the learned iid likelihood.

The sampler is the referee's (:func:`pdfinfer.reference.mcmc.run_mcmc`: emcee differential-evolution
moves, ``n_chains`` independent ensembles started at L-BFGS optima, split R-hat check with
extension up to ``max_steps``) run on :class:`pdfinfer.nle.posterior.NLELogPosterior` (:func:`pdfinfer.nle.posterior.sample_posterior`). It is chosen
over ``sbi``'s MCMC for iid data because (1) NLE and the exact posterior are then sampled by the
same algorithm with the same convergence test, so the comparison measures the learned likelihood
alone; (2) its batched DE ensembles handle the normalization ridge (normalization off), on which
slice samplers mix slowly; (3) its R-hat check fails loudly instead of returning unconverged draws.

Writes the common samples layout (method ``"nle"``) with extras ``rhat``, ``ess_bulk``,
``acceptance``, ``map_eta``, ``log_prob`` and the training history (``history_train_loss``,
``history_val_loss``, ``history_epoch_seconds``); attributes ``wall_time_s`` (training + sampling
seconds), ``train_seconds``, ``sampling_seconds`` and ``model`` (the likelihood file).

Usage::

    python -m pdfinfer.nle.sample --model likelihood.pt --observed observed.h5 --normalization off \
        --settings '{"n_samples": 10000}' [--constraints '{"kind": "sum_rules"}'] --out samples.h5
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pdfinfer.runtime import add_common_arguments, cli_main, parse_on_off

if TYPE_CHECKING:
    from pdfinfer.reference.mcmc import MCMCResult

log = logging.getLogger("pdfinfer.nle.sample")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.nle.sample",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="trained likelihood (likelihood.pt from pdfinfer.nle.train)")
    parser.add_argument("--observed", required=True, help="observed event set (HDF5, events (N, F))")
    parser.add_argument(
        "--normalization",
        type=parse_on_off,
        required=True,
        help="use the normalization observable: on or off (must match training)",
    )
    parser.add_argument(
        "--settings", default="{}", help="the nle config section as JSON (its mcmc and n_samples keys are used here)"
    )
    parser.add_argument(
        "--constraints", default="{}", help="the config section 'observation.constraints' as JSON: the prior's sum-rule factor"
    )
    parser.add_argument("--out", required=True, help="samples file (HDF5, samples (K, 6) normalized)")
    add_common_arguments(parser)
    return parser


def extras(result: MCMCResult, history: dict[str, Any]) -> dict[str, np.ndarray]:
    """Diagnostics and the per-event training history stored beside the draws."""
    events = history["events"]
    return {
        "rhat": result.rhat,
        "ess_bulk": result.ess_bulk,
        "acceptance": result.acceptance,
        "map_eta": result.map_eta,
        "log_prob": result.log_prob,
        "history_train_loss": np.asarray(events["train_loss"]),
        "history_val_loss": np.asarray(events["val_loss"]),
        "history_epoch_seconds": np.asarray(events["epoch_seconds"]),
    }


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer.nle.settings import NLESettings

    settings = NLESettings.from_json(args.settings)
    from pdfinfer.constraints.settings import ConstraintSettings

    constraint = ConstraintSettings.from_json(args.constraints, "--constraints")
    from pdfinfer.io import read_events, write_samples
    from pdfinfer.nle.model import check_compatible, load_model, quiet_library_warnings
    from pdfinfer.nle.posterior import sample_posterior
    from pdfinfer.params import PARAM_NAMES, to_physical
    from pdfinfer.runtime import derive_seed, resolve_device, setup
    from pdfinfer.theory import make_theory

    setup(args)
    quiet_library_warnings()
    device = resolve_device(args.device)
    payload_model, payload = load_model(args.model, device)
    observed = read_events(args.observed, batched=False)
    check_compatible(args.model, payload["spec"], observed.theory, observed.n_features, args.normalization)
    seed = derive_seed(args.seed, "nle", "sample", observed.n_events)
    norm = observed.norm if args.normalization else None
    log.info(
        "NLE posterior: %d events of %s, normalization %s, device %s",
        observed.n_events,
        args.observed,
        "on" if norm is not None else "off",
        device,
    )
    theory = make_theory(observed.theory)
    result = sample_posterior(payload_model, observed.events, norm, settings, seed, device, theory, constraint)
    phys = to_physical(result.samples)
    for name, mean, std, rhat in zip(PARAM_NAMES, phys.mean(0), phys.std(0), result.rhat):
        log.info("%-4s = %.4f +- %.4f (posterior mean +- std, physical), R-hat %.4f", name, mean, std, rhat)
    history = payload["history"]
    train_seconds = float(history["train_seconds"])
    write_samples(
        args.out,
        result.samples,
        "nle",
        settings.as_dict(),
        seed,
        observed.theory,
        args.config_hash,
        extras(result, history),
        {
            "wall_time_s": train_seconds + result.seconds,
            "train_seconds": train_seconds,
            "sampling_seconds": result.seconds,
            "model": str(args.model),
            "observed": str(args.observed),
            "normalization": norm is not None,
            **({"constraints": constraint.as_dict()} if constraint.enabled else {}),
            "device": str(device),
            "versions": payload["versions"],
            "n_steps_run": result.n_steps,
            "thin": result.thin,
            "best_epoch": int(history["events"]["best_epoch"]),
            "epochs": int(history["events"]["epochs"]),
        },
    )
    log.info(
        "wrote %d draws to %s (training %.1f s + sampling %.1f s)", len(result.samples), args.out, train_seconds, result.seconds
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
