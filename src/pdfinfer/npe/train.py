r"""Command line: train the NPE posterior on prior-predictive training shards.

Reads the shards ``(B_i, N, F)`` of :mod:`pdfinfer.simulate` (with fresh simulations only their
validation and standardization rows), trains with
:func:`pdfinfer.npe.loop.train_npe` (settings: the ``npe`` config section as JSON) and writes the
model file of :mod:`pdfinfer.npe.model` with its training ``wall_time_s``; the checkpoint is
removed once the model is written.

Usage::

    python -m pdfinfer.npe.train --shards shard0.h5 shard1.h5 --n-obs 1024 --normalization off \
        --settings '{"training": {"max_epochs": 40}}' --out posterior.pt --checkpoint checkpoint.pt
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence

from pdfinfer.runtime import add_common_arguments, cli_main, parse_on_off

log = logging.getLogger("pdfinfer.npe.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.npe.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--shards", nargs="+", required=True, help="training shards (HDF5, events (B, N, F))")
    parser.add_argument("--n-obs", type=int, required=True, help="events per set (must match the shards)")
    parser.add_argument("--normalization", type=parse_on_off, required=True, help="use the normalization observable: on or off")
    parser.add_argument("--settings", default="{}", help="the npe config section as JSON (missing keys take the defaults)")
    parser.add_argument("--out", required=True, help="saved model (posterior.pt)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file, written every epoch and resumed from")
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer.npe.settings import NPESettings

    settings = NPESettings.from_json(args.settings)
    from pdfinfer.io import open_event_shards
    from pdfinfer.npe.loop import train_npe
    from pdfinfer.npe.model import quiet_library_warnings, save_model
    from pdfinfer.runtime import resolve_device, setup

    setup(args)
    quiet_library_warnings()
    tic = time.perf_counter()
    device = resolve_device(args.device)
    data = open_event_shards(args.shards, n_events=args.n_obs)  # read as needed: with fresh simulations only some rows
    estimator, spec, history, checkpoint = train_npe(settings, data, args.normalization, args.seed, device, args.checkpoint)
    seconds = time.perf_counter() - tic
    save_model(
        args.out,
        estimator,
        settings,
        spec,
        history,
        seed=int(args.seed),
        wall_time_s=float(seconds),
        device=str(device),
        config_hash=args.config_hash,
    )
    checkpoint.discard()
    log.info("wrote %s (%.1f s of training)", args.out, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
