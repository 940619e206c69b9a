"""Command line: the exact-likelihood reference posterior of one observed set, and its Fisher bound
(:func:`pdfinfer.reference.job.reference`; heavy imports wait until the arguments are parsed).

Writes the samples file (``--out-samples``) and the Fisher report (``--out-fisher``) described in
:mod:`pdfinfer.reference.job`.

Usage::

    python -m pdfinfer.reference.run --observed R/data/n1024/observed.h5 --normalization off \
        --settings '{"sampler": "nuts", "ess_target": 1000}' \
        --out-samples R/reference/n1024/samples.h5 --out-fisher R/reference/n1024/fisher.json
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pdfinfer.runtime import add_common_arguments, cli_main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.reference.run",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--observed", required=True, help="observed set (EventSet HDF5, events (N, F))")
    parser.add_argument("--normalization", choices=["on", "off"], required=True, help="use the normalization observable")
    parser.add_argument(
        "--settings", default="{}", help="the config section 'reference' as JSON (missing keys take the defaults)"
    )
    parser.add_argument(
        "--constraints", default="{}", help="the config section 'observation.constraints' as JSON (default: none)"
    )
    parser.add_argument("--out-samples", required=True)
    parser.add_argument("--out-fisher", required=True)
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer.constraints.settings import ConstraintSettings
    from pdfinfer.reference.settings import ReferenceSettings

    settings = ReferenceSettings.from_json(args.settings)
    constraint = ConstraintSettings.from_json(args.constraints, "--constraints")
    from threadpoolctl import threadpool_limits

    from pdfinfer.reference.job import reference
    from pdfinfer.runtime import setup

    setup(args)
    with threadpool_limits(limits=max(1, args.threads)):
        reference(
            settings,
            args.observed,
            args.normalization == "on",
            args.out_samples,
            args.out_fisher,
            seed=args.seed,
            device=args.device,
            config_hash=args.config_hash,
            constraint=constraint,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
