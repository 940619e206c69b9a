r"""Command line: draws from the trained GATSBI posterior :math:`G(z, s(x_{obs}))` for the observed set.

The draws go to the common samples layout (:func:`pdfinfer.io.write_samples`, method
``"gatsbi"``), with the training history as extras (``history_<key>``) and ``wall_time_s`` =
training + sampling seconds. The same ``--seed`` gives the same draws; the embedding puts the
events in a canonical order first, so reordering the observed events gives identical draws.

Usage::

    python -m pdfinfer.gatsbi.sample --model generator.pt --observed observed.h5 --normalization off \
        --n-samples 10000 --out samples.h5
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence

from pdfinfer.errors import ConfigError
from pdfinfer.runtime import add_common_arguments, cli_main, derive_seed, parse_on_off, resolve_device, setup

log = logging.getLogger("pdfinfer.gatsbi.sample")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.gatsbi.sample",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="trained model (generator.pt from pdfinfer.gatsbi.train)")
    parser.add_argument("--observed", required=True, help="observed event set (EventSet HDF5, events (N, F))")
    parser.add_argument(
        "--normalization", type=parse_on_off, default=None, help="on or off; must match training (default: as trained)"
    )
    parser.add_argument("--n-samples", type=int, default=None, help="posterior draws K (default: the model's n_samples setting)")
    parser.add_argument("--out", required=True, help="samples file (HDF5, samples (K, 6) normalized)")
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n_samples is not None and args.n_samples < 1:
        raise ConfigError(f"--n-samples must be at least 1, got {args.n_samples}")
    setup(args)
    import numpy as np

    from pdfinfer.gatsbi.model import as_tensors, check_compatible, load_model
    from pdfinfer.io import read_events, write_samples
    from pdfinfer.params import PARAM_NAMES, to_physical

    tic = time.perf_counter()
    device = resolve_device(args.device)
    posterior, payload = load_model(args.model, device)
    meta, settings = payload["meta"], payload["settings"]
    observed = read_events(args.observed, batched=False)
    check_compatible(meta, observed, args.model, args.normalization)
    n_samples = args.n_samples or int(settings["n_samples"])
    seed = derive_seed(args.seed, "gatsbi", "sample", meta["n_events"])
    events, norm = as_tensors(observed, meta)
    samples = posterior.draw(events, norm, n_samples, seed)[0].numpy()
    sampling = time.perf_counter() - tic
    for name, mean, std in zip(PARAM_NAMES, to_physical(samples).mean(0), to_physical(samples).std(0)):
        log.info("%-4s = %.4f +- %.4f (posterior mean +- std, physical)", name, mean, std)
    extras = {f"history_{k}": np.asarray(v, dtype=np.float64) for k, v in payload["history"].items()}
    attrs = {
        "model": str(args.model),
        "observed": str(args.observed),
        "device": str(device),
        "versions": payload["versions"],
        "train_seconds": payload["train_seconds"],
        "sample_seconds": sampling,
        "wall_time_s": payload["train_seconds"] + sampling,
    }
    write_samples(args.out, samples, "gatsbi", settings, seed, observed.theory, args.config_hash, extras, attrs)
    log.info("wrote %d draws to %s (%.1f s training + %.1f s sampling)", n_samples, args.out, payload["train_seconds"], sampling)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
