r"""Command line: draw from the trained NPE posterior :math:`q(\eta \mid s(x_{obs}))` for the observed set.

``sbi``'s :class:`~sbi.inference.DirectPosterior` samples the flow conditioned on the summary of
the observed events (and normalization observable when on) and rejects draws outside the prior
box :math:`[0,1]^6`. The draws go to the common samples layout (:func:`pdfinfer.io.write_samples`,
method ``"npe"``) with the training history as extras (``history_train_loss``,
``history_val_loss``, ``history_epoch_seconds``) and ``wall_time_s`` = training + sampling seconds.

The same ``--seed`` gives the same draws on a given device; the summary is a symmetric function
of the events, so reordering the observed events leaves the draws unchanged (up to float rounding).

Usage::

    python -m pdfinfer.npe.sample --model posterior.pt --observed observed.h5 --normalization off \
        --settings '{"n_samples": 10000}' --out samples.h5
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from typing import Any

from pdfinfer.runtime import add_common_arguments, cli_main, parse_on_off

log = logging.getLogger("pdfinfer.npe.sample")


def draw(posterior: Any, x: Any, n_samples: int, seed: int) -> Any:
    """``n_samples`` posterior draws ``(K, 6)`` given ``x`` ``(1, D)`` (on the posterior's device), reproducible for ``seed``."""
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        return posterior.sample((n_samples,), x=x, show_progress_bars=False).cpu()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.npe.sample",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="trained model (posterior.pt from pdfinfer.npe.train)")
    parser.add_argument("--observed", required=True, help="observed event set (HDF5, events (N, F))")
    parser.add_argument(
        "--normalization",
        type=parse_on_off,
        required=True,
        help="use the normalization observable: on or off (must match training)",
    )
    parser.add_argument("--settings", default="{}", help="the npe config section as JSON (n_samples is used here)")
    parser.add_argument("--out", required=True, help="samples file (HDF5, samples (K, 6) normalized)")
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer.npe.settings import NPESettings

    n_samples = NPESettings.from_json(args.settings).n_samples
    import numpy as np
    import torch

    from pdfinfer.io import read_events, write_samples
    from pdfinfer.npe.model import check_fits, load_model, observation_tensor, quiet_library_warnings
    from pdfinfer.params import PARAM_NAMES, to_physical
    from pdfinfer.runtime import derive_seed, resolve_device, setup

    setup(args)
    quiet_library_warnings()
    tic = time.perf_counter()
    device = resolve_device(args.device)
    posterior, _, payload = load_model(args.model, device)
    data = payload["data"]
    observed = read_events(args.observed, batched=False)
    check_fits(args.model, data, observed, args.normalization)
    x = observation_tensor(observed, data).to(device)
    seed = derive_seed(args.seed, "npe", "sample", data["n_events"])
    samples = draw(posterior, x, n_samples, seed).numpy().astype(np.float64)
    with torch.no_grad():
        log_q = (
            posterior.log_prob(torch.as_tensor(samples, dtype=torch.float32, device=device), x=x, norm_posterior=False)
            .cpu()
            .numpy()
        )
    phys = to_physical(samples)
    for name, mean, std in zip(PARAM_NAMES, phys.mean(0), phys.std(0)):
        log.info("%-4s = %.4f +- %.4f (posterior mean +- std, physical)", name, mean, std)
    history = payload["history"]
    extras = {"log_prob": log_q, **{f"history_{k}": np.asarray(history[k]) for k in ("train_loss", "val_loss", "epoch_seconds")}}
    sampling_s = time.perf_counter() - tic
    write_samples(
        args.out,
        samples,
        "npe",
        payload["settings"],
        seed,
        observed.theory,
        args.config_hash,
        extras,
        {
            "model": str(args.model),
            "observed": str(args.observed),
            "versions": payload["versions"],
            "device": str(device),
            "best_epoch": int(history["best_epoch"]),
            "epochs": int(history["epochs"]),
            "training_s": float(payload["wall_time_s"]),
            "sampling_s": float(sampling_s),
            "wall_time_s": float(payload["wall_time_s"]) + float(sampling_s),
        },
    )
    log.info("wrote %d draws to %s", n_samples, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
