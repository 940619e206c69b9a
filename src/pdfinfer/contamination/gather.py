"""Command line: the contamination study's summary (:mod:`pdfinfer.contamination.study`) as one JSON file.

Each ``--run LABEL SET SAMPLES`` names a method, the contaminated set it ran on
(:mod:`pdfinfer.contamination.make`, whose attributes give the kind, eps, set index and truth) and
its samples file (a refit, :mod:`pdfinfer.contamination.fit`, or an amortized method's draws).
contamination.json keys: ``n_obs``, ``settings`` (the contamination section), ``methods``
(``{label: {kind: [cell per eps]}}``, :func:`pdfinfer.contamination.study.summarize`), ``answer``
(the sentence of :func:`pdfinfer.contamination.study.answer`), ``records`` (one per run) and
``failures`` (the runs whose fit failed, :mod:`pdfinfer.contamination.fit`, with their message).

Usage::

    python -m pdfinfer.contamination.gather --run reference R/sets/clean0.h5 R/reference/clean0.h5 \
        --run reference R/sets/broad0.05_0.h5 R/reference/broad0.05_0.h5 --settings '{...}' --out contamination.json
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from pdfinfer.runtime import add_common_arguments, cli_main, setup

log = logging.getLogger("pdfinfer.contamination.gather")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.contamination.gather",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--run", nargs=3, action="append", required=True, metavar=("LABEL", "SET", "SAMPLES"))
    parser.add_argument("--settings", default="{}", help="the contamination config section as JSON")
    parser.add_argument("--out", required=True)
    add_common_arguments(parser, seed=False, device=False)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer.contamination.settings import ContaminationSettings

    settings = ContaminationSettings.from_json(args.settings)
    setup(args)
    from pdfinfer.contamination import study
    from pdfinfer.contamination.fit import FAILURE_KIND
    from pdfinfer.io import read_events, read_h5, read_samples, write_json
    from pdfinfer.methods import method

    records, failures, sizes = [], [], set()
    for label, set_path, samples_path in args.run:
        method(label)
        observed = read_events(set_path, batched=False)
        a = observed.attrs
        sizes.add(observed.n_events)
        cell = (label, a["contamination_kind"], a["contamination_eps"], a["replicate_index"])
        _, attrs = read_h5(samples_path)
        if attrs.get("kind") == FAILURE_KIND:
            failures.append(dict(zip(("method", "kind", "eps", "index"), cell), error=attrs.get("error", "")))
            log.warning("%s: %s", samples_path, attrs.get("error", ""))
            continue
        records.append(study.record(*cell, read_samples(samples_path).samples, observed.params))
    summary = study.summarize(records, settings.kinds, failures)
    sentence = study.answer(summary, settings.graceful_sd, failures)
    for row in study.table(summary):
        log.info("%s", row)
    log.info("%s", sentence)
    payload = {
        "n_obs": sorted(sizes),
        "settings": settings.as_dict(),
        "methods": summary,
        "answer": sentence,
        "records": records,
        "failures": failures,
    }
    write_json(args.out, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
