"""Command line for the report's figures: one sub-command per figure family.

Each sub-command reads pipeline outputs (HDF5/JSON, through :mod:`pdfinfer.plotting.load`),
draws with the figure modules and writes each figure once per ``--formats`` entry: ``--out-X
path.png`` also writes ``path.pdf`` when ``pdf`` is among the formats.

Usage::

    python -m pdfinfer.plotting.cli posteriors --observed observed.h5 \\
        --samples reference=reference.h5 npe=npe.h5 adversarial=pooled.h5 \\
        --out-corner corner.png --out-marginals marginals.png --out-pdfs pdfs.png
    python -m pdfinfer.plotting.cli events --observed observed.h5 --predictive npe=predictive/n1024/npe.h5 --out events.png
    python -m pdfinfer.plotting.cli training --method adversarial --files seed0.h5 seed1.h5 --out training_adversarial.png
    python -m pdfinfer.plotting.cli calibration --method npe --diagnostics diagnostics.h5 \\
        --out-coverage coverage.png --out-sbc sbc.png --out-tarp tarp.png
    python -m pdfinfer.plotting.cli sweep --sweep sweep.json --out sweep.png
    python -m pdfinfer.plotting.cli contamination --contamination contamination.json --out contamination.png
    python -m pdfinfer.plotting.cli constraints --constraints constraints.json --out constraints.png
    python -m pdfinfer.plotting.cli table --metrics metrics.json --out-png table.png --out-html table.html
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Sequence

from pdfinfer.errors import ConfigError
from pdfinfer.runtime import add_common_arguments, cli_main, setup

log = logging.getLogger("pdfinfer.plotting")


def _pairs(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ConfigError(f"{what}: expected METHOD=PATH, got {item!r}")
        out[key] = value
    return out


def _style(args: argparse.Namespace):
    from pdfinfer.plotting.style import PlotStyle

    return PlotStyle(dpi=args.dpi, formats=tuple(args.formats), font_size=args.font_size)


def _title(args: argparse.Namespace, n_obs: int | None, theory: str | None = None) -> str:
    parts = []
    if n_obs is not None:
        parts.append(f"$n_{{obs}}$ = {n_obs}")
    if theory:
        parts.append(f"{theory} theory")
    if args.normalization is not None:
        parts.append(f"normalization observable {args.normalization}")
    return ", ".join(parts)


def _save(fig, out: str, style) -> None:
    from pdfinfer.plotting.style import save

    for path in save(fig, out, style):
        log.info("wrote %s", path)


def run_posteriors(args: argparse.Namespace) -> None:
    from pdfinfer.params import TRUTH_PHYSICAL, to_physical
    from pdfinfer.plotting import load, pdfs, posteriors

    style = _style(args)
    observed, theory = load.observed_set(args.observed)
    sets = load.method_samples(_pairs(args.samples, "--samples"))
    title = _title(args, len(observed), theory.name)
    physical = {m: to_physical(s.samples) for m, s in sets.items()}
    if args.out_corner:
        _save(posteriors.plot_corner(physical, TRUTH_PHYSICAL, style, title=title), args.out_corner, style)
    if args.out_marginals:
        _save(posteriors.plot_marginals(physical, TRUTH_PHYSICAL, style, title=title), args.out_marginals, style)
    if args.out_pdfs:
        x = pdfs.x_grid(theory)
        bands = {
            m: pdfs.band_quantiles(pdfs.evaluate_curves(theory, s.samples, x, args.max_draws, args.seed)) for m, s in sets.items()
        }
        truth = pdfs.truth_curves(theory, x)
        labels = [pdfs.curve_label(name, theory.name) for name in truth]
        _save(pdfs.plot_pdf_bands(x, bands, truth, labels, style, title=title), args.out_pdfs, style)


def run_events(args: argparse.Namespace) -> None:
    from pdfinfer.plotting import events, load

    style = _style(args)
    observed, theory = load.observed_set(args.observed)
    sets = load.replicate_sets(_pairs(args.predictive, "--predictive"))
    for method, replicate in sets.items():
        log.info("replicate sets of %s: %s", method, replicate.path)
    replicates = {m: replicate.events for m, replicate in sets.items()}
    fig = events.plot_event_marginals(
        observed,
        replicates,
        theory.feature_names,
        theory.log_features,
        style,
        bins=args.bins,
        title=_title(args, len(observed), theory.name),
    )
    _save(fig, args.out, style)


def run_training(args: argparse.Namespace) -> None:
    from pdfinfer import methods
    from pdfinfer.params import TRUTH_PHYSICAL
    from pdfinfer.plotting import load, training

    style = _style(args)
    method = methods.method(args.method)
    title = f"{method.title}, " + _title(args, args.n_obs)
    sets = [load.method_samples({method.label: path})[method.label] for path in args.files]
    labels = [f"replica {s.attrs.get('replica', i)}" if len(sets) > 1 else method.title for i, s in enumerate(sets)]
    if method.history == "steps":
        runs = {label: load.adversarial_history(s) for label, s in zip(labels, sets)}
        fig = training.plot_adversarial_training(runs, TRUTH_PHYSICAL, style, title=title)
    elif method.history == "epochs":
        runs = {label: load.epoch_losses(s) for label, s in zip(labels, sets)}
        fig = training.plot_epoch_losses(runs, style, color=method.color, title=title)
    else:
        raise ConfigError(f"training: method {method.label!r} records no training history")
    _save(fig, args.out, style)


def run_calibration(args: argparse.Namespace) -> None:
    from pdfinfer import methods
    from pdfinfer.plotting import calibration, load

    style = _style(args)
    label = methods.method(args.method).label
    diag = load.calibration_diagnostics(args.diagnostics)
    n_sims = int(diag["n_sims"])
    title = _title(args, args.n_obs)
    if args.out_coverage:
        curves = {label: (diag["coverage_levels"], diag["coverage_empirical"])}
        _save(calibration.plot_expected_coverage(curves, n_sims, style, title=title), args.out_coverage, style)
    if args.out_sbc:
        fig = calibration.plot_sbc_ranks(
            diag["sbc_ranks"],
            int(diag["n_posterior_samples"]),
            style,
            bins=args.bins,
            ks_pvalues=diag["sbc_ks_pvalues"],
            method=label,
        )
        _save(fig, args.out_sbc, style)
    if args.out_tarp:
        fig = calibration.plot_tarp(
            diag["tarp_alpha"],
            diag["tarp_ecp"],
            style,
            atc=diag.get("tarp_atc"),
            ks_pvalue=diag.get("tarp_ks_pvalue"),
            n_sims=n_sims,
            method=label,
            title=title,
        )
        _save(fig, args.out_tarp, style)


def run_sweep(args: argparse.Namespace) -> None:
    from pdfinfer.plotting import load, sweep

    style = _style(args)
    data = load.sweep_arrays(args.sweep)
    fig = sweep.plot_sweep(
        data["n_obs"],
        data["widths"],
        style,
        data["cramer_rao"],
        data["c2st"],
        sqrt_law=data["sqrt_n_law"],
        exponents=data["exponents"],
        title=_title(args, None),
    )
    _save(fig, args.out, style)


def run_table(args: argparse.Namespace) -> None:
    from pdfinfer.io import atomic_path
    from pdfinfer.plotting import load, table

    style = _style(args)
    tables = load.summary_tables(args.metrics)
    title = "Comparison with the exact posterior" + (f" ({_title(args, args.n_obs)})" if args.n_obs else "")
    if args.out_png:
        _save(table.plot_tables(tables, style), args.out_png, style)
    if args.out_html:
        with atomic_path(args.out_html) as tmp:
            Path(tmp).write_text(table.html_tables(tables, title.replace("$n_{obs}$", "n_obs")))
        log.info("wrote %s", args.out_html)


def run_levels(args: argparse.Namespace) -> None:
    from pdfinfer.plotting import levels, load

    style = _style(args)
    metrics = load.json_file(args.metrics)
    title = _title(args, args.n_obs)
    if args.out_levels:
        _save(levels.plot_levels(metrics, style, title=title), args.out_levels, style)
    if args.out_amplification:
        _save(levels.plot_amplification(metrics, style, title=title), args.out_amplification, style)


def run_coverage(args: argparse.Namespace) -> None:
    from pdfinfer.plotting import coverage, load

    style = _style(args)
    _save(coverage.plot_coverage(load.json_file(args.coverage), style, title=_title(args, args.n_obs)), args.out, style)


def run_contamination(args: argparse.Namespace) -> None:
    from pdfinfer.plotting import contamination, load

    style = _style(args)
    data = load.json_file(args.contamination)
    _save(contamination.plot_contamination(data, style, title=_title(args, args.n_obs)), args.out, style)


def run_constraints(args: argparse.Namespace) -> None:
    from pdfinfer.constraints.study import CASES
    from pdfinfer.plotting import constraints, load

    style = _style(args)
    data = load.json_file(args.constraints)
    cases = load.require(data, "cases", args.constraints)
    for case in CASES:
        load.require(cases, case, args.constraints)
    _save(constraints.plot_constraint_widths(data, style), args.out, style)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.plotting.cli",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="figure", required=True)

    def common(p: argparse.ArgumentParser, seed: bool = False) -> None:
        p.add_argument("--dpi", type=int, default=120, help="resolution of raster formats")
        p.add_argument("--formats", nargs="+", default=["png", "pdf"], help="formats written for each figure (png, pdf, svg)")
        p.add_argument("--font-size", type=float, default=9.0, help="base font size in points")
        p.add_argument("--n-obs", type=int, default=None, help="observed-set size (for titles)")
        p.add_argument(
            "--normalization",
            choices=["on", "off"],
            default=None,
            help="whether the normalization observable was used (for titles)",
        )
        add_common_arguments(p, seed=seed, device=False)

    p = sub.add_parser("posteriors", help="corner plot, 1-D marginals and PDF bands")
    p.add_argument("--observed", required=True, help="observed set (for the theory and n_obs)")
    p.add_argument("--samples", nargs="+", required=True, metavar="METHOD=PATH")
    p.add_argument("--max-draws", type=int, default=2000, help="draws per method for the PDF bands")
    p.add_argument("--out-corner")
    p.add_argument("--out-marginals")
    p.add_argument("--out-pdfs")
    common(p, seed=True)
    p.set_defaults(run=run_posteriors)

    p = sub.add_parser("events", help="observed vs posterior-predictive event histograms with ratio panels")
    p.add_argument("--observed", required=True)
    p.add_argument(
        "--predictive",
        nargs="+",
        required=True,
        metavar="METHOD=PATH",
        help="replicate sets of each method (pdfinfer.predictive)",
    )
    p.add_argument("--bins", type=int, default=20)
    p.add_argument("--out", required=True)
    common(p)
    p.set_defaults(run=run_events)

    p = sub.add_parser("training", help="training curves of one method (all its replicas overlaid)")
    p.add_argument("--method", required=True, help="registered method label")
    p.add_argument("--files", nargs="+", required=True, help="its samples file, or one per replica (with history_* datasets)")
    p.add_argument("--out", required=True)
    common(p)
    p.set_defaults(run=run_training)

    p = sub.add_parser("calibration", help="expected coverage, SBC ranks, TARP of an amortized method")
    p.add_argument("--method", required=True, help="registered method label")
    p.add_argument("--diagnostics", required=True, help="the method's diagnostics.h5")
    p.add_argument("--bins", type=int, default=20, help="SBC rank-histogram bins")
    p.add_argument("--out-coverage")
    p.add_argument("--out-sbc")
    p.add_argument("--out-tarp")
    common(p)
    p.set_defaults(run=run_calibration)

    p = sub.add_parser("sweep", help="posterior width and C2ST vs n_obs")
    p.add_argument("--sweep", required=True, help="the comparison's sweep.json")
    p.add_argument("--out", required=True)
    common(p)
    p.set_defaults(run=run_sweep)

    p = sub.add_parser("levels", help="event level vs parameter level per method; the amplification curve")
    p.add_argument("--metrics", required=True, help="comparison metrics.json")
    p.add_argument("--out-levels")
    p.add_argument("--out-amplification")
    common(p)
    p.set_defaults(run=run_levels)

    p = sub.add_parser("coverage", help="coverage over replicated observed sets, per method")
    p.add_argument("--coverage", required=True, help="coverage.json (pdfinfer.compare.coverage)")
    p.add_argument("--out", required=True)
    common(p)
    p.set_defaults(run=run_coverage)

    p = sub.add_parser("contamination", help="bias and coverage of every method against the contaminated fraction eps")
    p.add_argument("--contamination", required=True, help="contamination.json (pdfinfer.contamination.gather)")
    p.add_argument("--out", required=True)
    common(p)
    p.set_defaults(run=run_contamination)

    p = sub.add_parser("constraints", help="exact-posterior widths of N_u, N_d: events only, + normalization, + sum rules")
    p.add_argument("--constraints", required=True, help="constraints.json (pdfinfer.constraints.gather)")
    p.add_argument("--out", required=True)
    common(p)
    p.set_defaults(run=run_constraints)

    p = sub.add_parser("table", help="comparison metrics as an image and an HTML table")
    p.add_argument("--metrics", required=True, help="comparison metrics.json")
    p.add_argument("--out-png")
    p.add_argument("--out-html")
    common(p)
    p.set_defaults(run=run_table)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args)
    args.run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
