r"""Draw from the trained NPE posterior :math:`q(\eta \mid s(x_{obs}))` for the observed set.

``sbi``'s :class:`~sbi.inference.DirectPosterior` samples the flow conditioned on the summary of
the observed events (and normalization observable when on) and rejects draws outside the prior
box :math:`[0,1]^6`; the fraction kept is recorded. The draws go to the common samples layout
(:func:`pdfinfer.io.write_samples`, method ``"npe"``) with the training history as extras
(``history_train_loss``, ``history_val_loss``, ``history_epoch_seconds``) for plots.

The same ``--seed`` gives the same draws on a given device; the summary is a mean over events,
so reordering the observed events leaves the draws unchanged (up to float rounding).

Usage::

    python -m pdfinfer.npe.sample --model posterior.pt --observed observed.h5 --normalization off \
        --n-samples 10000 --out samples.h5
"""

from __future__ import annotations

import argparse
import logging
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from pdfinfer.errors import ConfigError, DataError
from pdfinfer.io import EventSet, read_events, write_samples
from pdfinfer.npe.embedding import flatten_observation
from pdfinfer.npe.model import load_model, quiet_library_warnings
from pdfinfer.npe.train import parse_on_off
from pdfinfer.params import PARAM_NAMES, to_physical
from pdfinfer.runtime import add_common_arguments, cli_main, derive_seed, resolve_device, setup

log = logging.getLogger("pdfinfer.npe.sample")


def check_normalization_flag(settings: Mapping[str, Any], use_norm: bool, model_path: str) -> None:
    """Refuse a run whose normalization on/off flag differs from the one the model was trained with."""
    if bool(settings["normalization"]) != bool(use_norm):
        trained = "on" if settings["normalization"] else "off"
        raise ConfigError(f"{model_path}: trained with the normalization observable {trained}, but --normalization is {'on' if use_norm else 'off'}; retrain")


def observation_tensor(observed: EventSet, settings: Mapping[str, Any]) -> torch.Tensor:
    """The observed set as the flat row ``(1, N*F + T)`` the model conditions on, after checking it fits."""
    if observed.theory != settings["theory"]:
        raise DataError(f"{observed.path}: theory {observed.theory} differs from the one the NPE model was trained on ({settings['theory']})")
    if observed.n_events != settings["n_events"] or observed.n_features != settings["n_features"]:
        raise DataError(
            f"{observed.path}: {observed.n_events} events x {observed.n_features} features, but the NPE model was trained on "
            f"{settings['n_events']} x {settings['n_features']}"
        )
    norm = observed.norm[None] if settings["normalization"] else None
    return flatten_observation(observed.events[None], norm)


def draw(posterior: Any, x: torch.Tensor, n_samples: int, seed: int) -> torch.Tensor:
    """``n_samples`` posterior draws ``(K, 6)`` given ``x`` ``(1, D)`` (on the posterior's device), reproducible for ``seed``."""
    torch.manual_seed(seed)
    with torch.no_grad():
        return posterior.sample((n_samples,), x=x, show_progress_bars=False).cpu()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pdfinfer.npe.sample", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained model (posterior.pt from pdfinfer.npe.train)")
    parser.add_argument("--observed", required=True, help="observed event set (HDF5, events (N, F))")
    parser.add_argument("--normalization", type=parse_on_off, required=True, help="use the normalization observable: on or off (must match training)")
    parser.add_argument("--n-samples", type=int, default=10000, help="posterior draws K")
    parser.add_argument("--out", required=True, help="samples file (HDF5, samples (K, 6) normalized)")
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n_samples < 1:
        raise ConfigError(f"--n-samples must be at least 1, got {args.n_samples}")
    setup(args)
    quiet_library_warnings()
    device = resolve_device(args.device)
    posterior, estimator, payload = load_model(args.model, device)
    settings = payload["settings"]
    check_normalization_flag(settings, args.normalization, args.model)
    observed = read_events(args.observed, batched=False)
    x = observation_tensor(observed, settings).to(device)
    seed = derive_seed(args.seed, "npe", "sample", settings["n_events"])
    samples = draw(posterior, x, args.n_samples, seed).numpy().astype(np.float64)
    with torch.no_grad():
        log_q = posterior.log_prob(torch.as_tensor(samples, dtype=torch.float32, device=device), x=x, norm_posterior=False).cpu().numpy()
    phys = to_physical(samples)
    for name, mean, std in zip(PARAM_NAMES, phys.mean(0), phys.std(0)):
        log.info("%-4s = %.4f +- %.4f (posterior mean +- std, physical)", name, mean, std)
    history = payload["history"]
    extras = {
        "log_prob": log_q,
        "history_train_loss": np.asarray(history["train_loss"]),
        "history_val_loss": np.asarray(history["val_loss"]),
        "history_epoch_seconds": np.asarray(history["epoch_seconds"]),
    }
    write_samples(
        args.out, samples, "npe", settings, seed, observed.theory, args.config_hash, extras,
        {"model": str(args.model), "observed": str(args.observed), "versions": payload["versions"], "device": str(device),
         "best_epoch": int(history["best_epoch"]), "epochs": int(history["epochs"])},
    )
    log.info("wrote %d draws to %s", args.n_samples, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
