r"""Draw from the NLE posterior of the observed set by MCMC on the learned iid likelihood.

The sampler is the referee's (:func:`pdfinfer.reference.mcmc.run_mcmc`: emcee differential-evolution
moves, ``n_chains`` independent ensembles started at L-BFGS optima, split R-hat check with
extension up to ``max_steps``) run on :class:`pdfinfer.nle.posterior.NLELogPosterior`. It is chosen
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
        --settings '{"n_samples": 10000}' --out samples.h5
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pdfinfer.io import read_events, write_samples
from pdfinfer.nle.model import NLEModel, check_compatible, load_model, quiet_library_warnings
from pdfinfer.nle.posterior import NLELogPosterior
from pdfinfer.nle.settings import NLESettings
from pdfinfer.params import PARAM_NAMES, to_physical
from pdfinfer.reference.mcmc import ConvergenceError, MCMCResult, MCMCSettings, run_mcmc
from pdfinfer.runtime import add_common_arguments, cli_main, derive_seed, parse_on_off, resolve_device, setup

log = logging.getLogger("pdfinfer.nle.sample")


def mcmc_settings(settings: NLESettings) -> MCMCSettings:
    """The referee sampler's settings from the ``nle.mcmc`` section and ``nle.n_samples``."""
    m = settings.mcmc
    return MCMCSettings(
        n_chains=m.n_chains,
        n_walkers=m.n_walkers,
        n_burn=m.n_burn,
        n_steps=m.n_steps,
        max_steps=m.max_steps,
        n_samples=settings.n_samples,
        rhat_max=m.rhat_max,
    )


def sample_posterior(
    model: NLEModel,
    events: np.ndarray,
    norm: np.ndarray | None,
    settings: NLESettings,
    seed: int,
    device: torch.device | str = "cpu",
) -> MCMCResult:
    """MCMC draws ``(K, D)`` of the learned posterior of ``events`` ``(N, F)`` (and ``norm`` ``(T,)``)."""
    posterior = NLELogPosterior(model, events, norm, device, settings.chunk_elements)
    try:
        return run_mcmc(posterior, mcmc_settings(settings), seed)
    except ConvergenceError as err:  # the referee's sampler names its own config keys; name ours
        raise ConvergenceError(
            str(err).replace("reference.max_steps", "nle.mcmc.max_steps").replace("reference:", "nle:", 1)
        ) from None


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
    settings = NLESettings.from_json(args.settings)
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
    result = sample_posterior(payload_model, observed.events, norm, settings, seed, device)
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
