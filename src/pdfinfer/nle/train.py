r"""Command line: train the NLE likelihoods (:mod:`pdfinfer.nle.loop`) on prior-predictive shards.

Reads the shards ``(B_i, N, F)`` of :mod:`pdfinfer.simulate`, trains q(x | eta) (and q(z | eta) with
the normalization observable on) with :func:`pdfinfer.nle.loop.train` and writes the model file of
:mod:`pdfinfer.nle.model`; the checkpoint is removed once the model is written. Heavy imports wait
until the arguments are parsed, so ``--help`` is fast.

Usage::

    python -m pdfinfer.nle.train --shards shard0.h5 shard1.h5 --normalization off \
        --settings '{"max_epochs": 40}' --checkpoint ckpt.pt --out likelihood.pt
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from pdfinfer.runtime import add_common_arguments, cli_main, parse_on_off

log = logging.getLogger("pdfinfer.nle.train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.nle.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--shards", nargs="+", required=True, help="training shards (HDF5, events (B, N, F))")
    parser.add_argument(
        "--normalization",
        type=parse_on_off,
        required=True,
        help="also learn q(z | eta) of the normalization observable: on or off",
    )
    parser.add_argument("--settings", default="{}", help="the nle config section as JSON (defaults for missing keys)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file, written every epoch and resumed from")
    parser.add_argument("--out", required=True, help="saved model (likelihood.pt)")
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer.nle.settings import NLESettings

    settings = NLESettings.from_json(args.settings)
    from pdfinfer.checkpoint import Checkpoint
    from pdfinfer.errors import DataError
    from pdfinfer.io import read_event_shards
    from pdfinfer.nle.loop import train
    from pdfinfer.nle.model import quiet_library_warnings, save_model
    from pdfinfer.runtime import resolve_device, setup

    setup(args)
    quiet_library_warnings()
    device = resolve_device(args.device)
    data = read_event_shards(args.shards)
    if args.normalization and not data.norm_rel_unc > 0:
        raise DataError(f"{data.path}: normalization requested but the shards' norm_rel_unc is {data.norm_rel_unc}")
    model, spec, history = train(data, args.normalization, settings, args.seed, device, args.checkpoint)
    spec["config_hash"] = args.config_hash
    spec["seed"] = int(args.seed)
    save_model(args.out, model, settings.as_dict(), spec, history)
    Checkpoint(args.checkpoint, "").discard()
    log.info("wrote %s (training %.1f s)", args.out, history["train_seconds"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
