"""Command line: train GATSBI on prior-predictive shards and write ``generator.pt``.

The loop and its math: :mod:`pdfinfer.gatsbi.loop`; the settings: :class:`GATSBISettings`.

Usage::

    python -m pdfinfer.gatsbi.train --shards shard0.h5 shard1.h5 --normalization off \
        --settings '{"epochs": 300}' --checkpoint ckpt.pt --out generator.pt
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from pdfinfer.gatsbi.settings import GATSBISettings
from pdfinfer.runtime import add_common_arguments, cli_main, parse_on_off, resolve_device, setup

log = logging.getLogger("pdfinfer.gatsbi.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.gatsbi.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--shards", nargs="+", required=True, help="training shards (EventSet HDF5, events (B, N, F))")
    parser.add_argument("--normalization", type=parse_on_off, required=True, help="use the normalization observable: on or off")
    parser.add_argument(
        "--settings",
        default="{}",
        help="GATSBI settings as JSON (the validated config section 'gatsbi'; missing keys take the defaults)",
    )
    parser.add_argument("--checkpoint", default=None, help="checkpoint file, resumed from when it matches")
    parser.add_argument("--out", required=True, help="the trained model (generator.pt)")
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = GATSBISettings.from_json(args.settings)
    setup(args)
    from pdfinfer.gatsbi.loop import fit
    from pdfinfer.gatsbi.model import save_model
    from pdfinfer.io import open_event_shards

    device = resolve_device(args.device)
    data = open_event_shards(args.shards)  # read chunk by chunk (pdfinfer.gatsbi.loop.fit)
    log.info(
        "%d simulations%s from %d shard(s); device %s",
        data.n_sets,
        " + normalization" if args.normalization else "",
        len(args.shards),
        device,
    )
    nets, meta, history, seconds, checkpoint = fit(data, args.normalization, settings, args.seed, device, args.checkpoint)
    meta.update(config_hash=args.config_hash, shards=[str(s) for s in args.shards], device=str(device))
    average = nets["ema"].average
    save_model(args.out, settings, meta, average["embedding"], average["generator"], history, seconds, args.seed)
    checkpoint.discard()
    log.info("wrote %s (%.1f s of training)", args.out, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
