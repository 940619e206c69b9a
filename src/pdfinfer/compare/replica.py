"""Command line: refit one method on one replicated observed set (:mod:`pdfinfer.compare.replicas`).

Writes the method's draws in the common samples layout, with the replicate's kind and index (``replicate_kind``, ``replicate_index``) and
true parameters (``truth``) in the attributes.

Usage::

    python -m pdfinfer.compare.replica --method reference --kind prior --index 3 --n-obs 256 \
        --theory '{"name": "proxy"}' --rel-unc 0.02 --normalization off --settings '{...}' \
        --seed 1 --out results/coverage/n256/reference/prior3.h5
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence

from pdfinfer.errors import ConfigError
from pdfinfer.runtime import add_common_arguments, cli_main, setup

log = logging.getLogger("pdfinfer.compare.replica")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.compare.replica",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--method", required=True, help="registered method label (with a fit function)")
    parser.add_argument("--kind", required=True, choices=["truth", "prior"])
    parser.add_argument("--index", type=int, required=True, help="replicate number (its own seed stream)")
    parser.add_argument("--n-obs", type=int, required=True, help="events in the replicated observed set")
    parser.add_argument("--theory", required=True, help="theory spec JSON")
    parser.add_argument("--rel-unc", type=float, default=0.02, help="relative uncertainty of the normalization measurement")
    parser.add_argument(
        "--normalization", choices=["on", "off"], required=True, help="whether the normalization observable is used"
    )
    parser.add_argument("--settings", default="{}", help="the method's settings as JSON")
    parser.add_argument("--model", default=None, help="the method's trained model file, when it has one")
    parser.add_argument("--out", required=True)
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer import methods

    method = methods.method(args.method)
    settings = method.settings_class().from_json(args.settings)
    fit = method.fit_function()
    if args.index < 0 or args.n_obs < 1:
        raise ConfigError(f"--index must be >= 0 and --n-obs >= 1, got {args.index} and {args.n_obs}")
    setup(args)
    from pdfinfer.compare.replicas import replicate_observation
    from pdfinfer.io import write_samples
    from pdfinfer.theory import make_theory

    theory = make_theory(json.loads(args.theory))
    observed = replicate_observation(theory, args.n_obs, args.kind, args.index, args.rel_unc, args.seed, args.device)
    start = time.perf_counter()
    samples = fit(settings, observed, args.normalization == "on", args.seed, args.device, args.model)
    wall = time.perf_counter() - start
    attrs = {
        "replicate_kind": args.kind,
        "replicate_index": args.index,
        "truth": observed.params.tolist(),
        "n_obs": args.n_obs,
        "wall_time_s": wall,
    }
    write_samples(args.out, samples, method.label, settings.as_dict(), args.seed, theory.spec(), args.config_hash, attrs=attrs)
    log.info("%s on replicate %s %d (%d events) in %.1f s -> %s", method.label, args.kind, args.index, args.n_obs, wall, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
