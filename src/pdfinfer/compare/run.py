r"""Command line: score every method's posterior draws against the exact reference for one ``n_obs``.

Reads the observed set, the reference samples and Fisher report (``pdfinfer.reference.run``) and
any number of methods' samples files (``--samples LABEL=PATH``) with their posterior-predictive
replicate sets (``--predictive LABEL=PATH``, the referee's included), computes the metrics of
:mod:`pdfinfer.compare.metrics` and writes one JSON file.

The metrics are described in :mod:`pdfinfer.compare.score`.

Usage::

    python -m pdfinfer.compare.run --observed R/data/n1024/observed.h5 \
        --reference R/reference/n1024/samples.h5 --fisher R/reference/n1024/fisher.json \
        --samples npe=R/npe/n1024/samples.h5 --predictive npe=R/predictive/n1024/npe.h5 \
        --predictive reference=R/predictive/n1024/reference.h5 --truth-predictive R/predictive/n1024/truth.h5 \
        --settings '{"c2st_folds": 5}' --out R/compare/n1024/metrics.json
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from pdfinfer.errors import ConfigError
from pdfinfer.methods import REFERENCE
from pdfinfer.runtime import add_common_arguments, cli_main, setup

log = logging.getLogger("pdfinfer.compare")


def _pairs(items: Sequence[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        label, sep, value = item.partition("=")
        if not sep or not label or not value:
            raise ConfigError(f"{flag} expects LABEL=VALUE, got {item!r}")
        if label in out:
            raise ConfigError(f"{flag}: label {label!r} given twice")
        out[label] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.compare.run",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--observed", required=True, help="observed set (EventSet HDF5)")
    parser.add_argument("--reference", required=True, help="reference samples (pdfinfer.reference.run)")
    parser.add_argument("--fisher", required=True, help="reference Fisher report (JSON)")
    parser.add_argument("--samples", action="append", default=[], metavar="LABEL=PATH", help="a method's samples file (repeat)")
    parser.add_argument(
        "--predictive",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="a method's posterior-predictive replicate sets (pdfinfer.predictive; one per method, reference included)",
    )
    parser.add_argument("--truth-predictive", required=True, help="replicate sets at eta* (pdfinfer.predictive --truth)")
    parser.add_argument("--settings", default="{}", help="CompareSettings as JSON (config section compare)")
    parser.add_argument("--out", required=True, help="metrics JSON")
    add_common_arguments(parser, device=False)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from threadpoolctl import threadpool_limits

    from pdfinfer.compare.score import compare
    from pdfinfer.compare.settings import CompareSettings
    from pdfinfer.io import write_json

    settings = CompareSettings.from_json(args.settings)
    setup(args)
    samples = _pairs(args.samples, "--samples")
    if REFERENCE in samples:
        raise ConfigError(f"--samples: the label {REFERENCE!r} is reserved for --reference")
    predictive = _pairs(args.predictive, "--predictive")
    missing = sorted({REFERENCE, *samples} - set(predictive))
    if missing:
        raise ConfigError(f"--predictive: no replicate sets for {missing}")
    # sklearn's MLP (C2ST) runs on numpy's BLAS: keep it to the job's threads, not every core.
    with threadpool_limits(limits=max(1, args.threads)):
        payload = compare(
            settings,
            args.seed,
            args.observed,
            args.reference,
            args.fisher,
            samples,
            predictive,
            args.truth_predictive,
            max(1, args.threads),
        )
    write_json(args.out, payload)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
