"""Command line: coverage over replicated observed sets, every refitted method in one JSON file.

Reads the replicate samples files of each method (:mod:`pdfinfer.compare.replica`) and writes,
per method, kind (``truth``, ``prior``) and level (68, 95), the joint and per-parameter coverage
``{rate, k, n, interval}`` (Clopper-Pearson 95%) of :func:`pdfinfer.compare.replicas.summarize`,
plus the per-set records.

Usage::

    python -m pdfinfer.compare.coverage --replicas reference=R/coverage/n256/reference/truth0.h5 \
        --replicas reference=R/coverage/n256/reference/prior0.h5 --out R/coverage/n256/coverage.json
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from pdfinfer.errors import ConfigError
from pdfinfer.runtime import add_common_arguments, cli_main, setup

log = logging.getLogger("pdfinfer.compare.coverage")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.compare.coverage",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--replicas", nargs="+", required=True, metavar="LABEL=PATH", help="a method's samples on one replicate set (repeat)"
    )
    parser.add_argument("--out", required=True)
    add_common_arguments(parser, seed=False, device=False)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args)
    import numpy as np

    from pdfinfer.compare.replicas import coverage_of, summarize
    from pdfinfer.io import read_samples, write_json
    from pdfinfer.methods import order

    records: dict[str, list[dict]] = {}
    for item in args.replicas:
        label, sep, path = item.partition("=")
        if not sep:
            raise ConfigError(f"--replicas expects LABEL=PATH, got {item!r}")
        sample_set = read_samples(path)
        truth = np.asarray(sample_set.attrs["truth"], dtype=float)
        record = {
            "kind": sample_set.attrs["replicate_kind"],
            "index": int(sample_set.attrs["replicate_index"]),
            "path": path,
            **coverage_of(sample_set.samples, truth),
        }
        records.setdefault(label, []).append(record)
    payload = {label: {"summary": summarize(records[label]), "records": records[label]} for label in order(list(records))}
    for label, entry in payload.items():
        for kind, levels in entry["summary"].items():
            joint = ", ".join(f"{lvl}%: {v['joint']['k']}/{v['joint']['n']}" for lvl, v in levels.items())
            log.info("%s, replicates at %s: truth in the joint region %s", label, kind, joint)
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
