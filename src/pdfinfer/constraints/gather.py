"""Command line: the "physics constraints?" study (:mod:`pdfinfer.constraints.study`) as one JSON file.

Each ``--case CASE SAMPLES FISHER`` names a case of :data:`pdfinfer.constraints.study.CASES` and
the referee's outputs for it (:mod:`pdfinfer.reference.run`: the samples file and ``fisher.json``);
each file's own record of the information it used must match its case (a file wired to the wrong
case is refused, naming it). Writes ``constraints.json``: ``n_obs``, ``rel_unc``, ``tolerance``,
``form``, ``sampler``, ``prior_std`` and ``cases`` (:func:`pdfinfer.constraints.study.case_summary`
each) and the ``answer`` sentence.

Usage::

    python -m pdfinfer.constraints.gather --case none R/reference/n256/samples.h5 R/reference/n256/fisher.json \
        --case normalization R/constraints/n256/normalization/samples.h5 R/constraints/n256/normalization/fisher.json \
        --case sum_rules R/constraints/n256/sum_rules/samples.h5 R/constraints/n256/sum_rules/fisher.json \
        --constraints '{"form": "soft", "tolerance": 0.05}' --out R/constraints/n256/constraints.json
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pdfinfer.runtime import add_common_arguments, cli_main, setup


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.constraints.gather",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--case", nargs=3, action="append", required=True, metavar=("CASE", "SAMPLES", "FISHER"))
    parser.add_argument(
        "--constraints", default="{}", help="the config section 'observation.constraints' as JSON (its form and tolerance)"
    )
    parser.add_argument("--out", required=True)
    add_common_arguments(parser, seed=False, device=False)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer.constraints.settings import ConstraintSettings

    constraint = ConstraintSettings.from_json(args.constraints, "--constraints")
    setup(args)
    from pdfinfer.constraints.study import CASES, case_summary, study
    from pdfinfer.errors import DataError
    from pdfinfer.io import read_json, read_samples, write_json

    cases, sizes, rel_unc, samplers = {}, set(), None, set()
    for case, samples_path, fisher_path in args.case:
        if case not in CASES:
            raise DataError(f"--case {case!r}: unknown case; cases: {', '.join(CASES)}")
        fisher = read_json(fisher_path)
        normalization, rules = CASES[case]
        used = (bool(fisher.get("normalization")), ConstraintSettings.from_config(fisher.get("constraints")).enabled)
        if used != (normalization, rules):
            raise DataError(
                f"{fisher_path}: case {case!r} needs normalization {'on' if normalization else 'off'} and sum rules "
                f"{'on' if rules else 'off'}, the file used normalization {'on' if used[0] else 'off'} and sum rules {'on' if used[1] else 'off'}"
            )
        samples = read_samples(samples_path)
        sizes.add(int(fisher["n_obs"]))
        samplers.add(str(samples.attrs.get("sampler", "MCMC")))
        rel_unc = fisher["norm_rel_unc"] if normalization else rel_unc
        cases[case] = case_summary(samples.samples, fisher, samples.extras.get("rhat"), samples.extras.get("ess_bulk"))
    if len(sizes) != 1:
        raise DataError(f"constraint study: the cases were sampled at different n_obs {sorted(sizes)}")
    data = study(cases, sizes.pop(), rel_unc, constraint.tolerance, constraint.form, "/".join(sorted(samplers)))
    write_json(args.out, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
