"""Command line for the report's figures: one sub-command per figure family.

Each sub-command reads pipeline outputs (HDF5/JSON, through :mod:`pdfinfer.plotting.load`),
draws with the figure modules and writes each figure once per ``--formats`` entry: ``--out-X
path.png`` also writes ``path.pdf`` when ``pdf`` is among the formats.

Usage::

    python -m pdfinfer.plotting.cli posteriors --observed observed.h5 \\
        --samples reference=reference.h5 npe=npe.h5 adversarial_pooled=pooled.h5 \\
        --out-corner corner.png --out-marginals marginals.png --out-pdfs pdfs.png
    python -m pdfinfer.plotting.cli events --observed observed.h5 --samples npe=npe.h5 --draws 64 --out events.png
    python -m pdfinfer.plotting.cli training --adversarial seed0.h5 seed1.h5 --npe npe.h5 \\
        --out-adversarial adversarial.png --out-npe npe_loss.png
    python -m pdfinfer.plotting.cli calibration --diagnostics diagnostics.h5 \\
        --out-coverage coverage.png --out-sbc sbc.png --out-tarp tarp.png
    python -m pdfinfer.plotting.cli sweep --sweep sweep.json --out sweep.png
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
        bands = {m: pdfs.band_quantiles(pdfs.evaluate_curves(theory, s.samples, x, args.max_draws, args.seed)) for m, s in sets.items()}
        truth = pdfs.truth_curves(theory, x)
        labels = [pdfs.curve_label(name, theory.name) for name in truth]
        _save(pdfs.plot_pdf_bands(x, bands, truth, labels, style, title=title), args.out_pdfs, style)


def run_events(args: argparse.Namespace) -> None:
    from pdfinfer.plotting import events, load
    from pdfinfer.runtime import derive_seed

    style = _style(args)
    observed, theory = load.observed_set(args.observed)
    sets = load.method_samples(_pairs(args.samples, "--samples"))
    n_events = args.events_per_draw or len(observed)
    predictive = {m: events.posterior_predictive(theory, s.samples, args.draws, n_events, derive_seed(args.seed, "plots", "events", m)) for m, s in sets.items()}
    fig = events.plot_event_marginals(observed, predictive, theory.feature_names, theory.log_features, style, bins=args.bins, title=_title(args, len(observed), theory.name))
    _save(fig, args.out, style)


def run_training(args: argparse.Namespace) -> None:
    from pdfinfer.params import TRUTH_PHYSICAL
    from pdfinfer.plotting import load, training

    style = _style(args)
    if args.out_adversarial:
        runs = {}
        labels = args.seed_labels or []
        for i, path in enumerate(args.adversarial):
            sample_set = load.method_samples({"adversarial": path})["adversarial"]
            label = labels[i] if i < len(labels) else f"seed {sample_set.attrs.get('replica', i)}"
            runs[label] = load.adversarial_history(sample_set)
        _save(training.plot_adversarial_training(runs, TRUTH_PHYSICAL, style, title=_title(args, args.n_obs)), args.out_adversarial, style)
    if args.out_npe:
        runs = {}
        for item in args.npe:
            label, sep, path = item.rpartition("=")
            sample_set = load.method_samples({"npe": path})["npe"]
            runs[label if sep else f"$n_{{obs}}$ = {args.n_obs}"] = load.npe_losses(sample_set)
        _save(training.plot_npe_losses(runs, style, title=_title(args, args.n_obs)), args.out_npe, style)


def run_calibration(args: argparse.Namespace) -> None:
    from pdfinfer.plotting import calibration, load

    style = _style(args)
    diag = load.npe_diagnostics(args.diagnostics)
    n_sims = int(diag["n_sims"])
    title = _title(args, args.n_obs)
    if args.out_coverage:
        curves = {"npe": (diag["coverage_levels"], diag["coverage_empirical"])}
        _save(calibration.plot_expected_coverage(curves, n_sims, style, title=title), args.out_coverage, style)
    if args.out_sbc:
        fig = calibration.plot_sbc_ranks(diag["sbc_ranks"], int(diag["n_posterior_samples"]), style, bins=args.bins, ks_pvalues=diag["sbc_ks_pvalues"])
        _save(fig, args.out_sbc, style)
    if args.out_tarp:
        fig = calibration.plot_tarp(diag["tarp_alpha"], diag["tarp_ecp"], style, atc=diag.get("tarp_atc"), ks_pvalue=diag.get("tarp_ks_pvalue"), n_sims=n_sims, title=title)
        _save(fig, args.out_tarp, style)


def run_sweep(args: argparse.Namespace) -> None:
    from pdfinfer.plotting import load, sweep

    style = _style(args)
    data = load.sweep_arrays(args.sweep)
    fig = sweep.plot_sweep(data["n_obs"], data["widths"], style, data["cramer_rao"], data["c2st"], sqrt_law=data["sqrt_n_law"],
                           exponents=data["exponents"], title=_title(args, None))
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pdfinfer.plotting.cli", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="figure", required=True)

    def common(p: argparse.ArgumentParser, seed: bool = False) -> None:
        p.add_argument("--dpi", type=int, default=120, help="resolution of raster formats")
        p.add_argument("--formats", nargs="+", default=["png", "pdf"], help="formats written for each figure (png, pdf, svg)")
        p.add_argument("--font-size", type=float, default=9.0, help="base font size in points")
        p.add_argument("--n-obs", type=int, default=None, help="observed-set size (for titles)")
        p.add_argument("--normalization", choices=["on", "off"], default=None, help="whether the normalization observable was used (for titles)")
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

    p = sub.add_parser("events", help="observed vs generated event histograms with ratio panels")
    p.add_argument("--observed", required=True)
    p.add_argument("--samples", nargs="+", required=True, metavar="METHOD=PATH")
    p.add_argument("--draws", type=int, default=64, help="parameter draws per method to simulate replicate sets at")
    p.add_argument("--events-per-draw", type=int, default=0, help="events per replicate (0: the observed-set size)")
    p.add_argument("--bins", type=int, default=20)
    p.add_argument("--out", required=True)
    common(p, seed=True)
    p.set_defaults(run=run_events)

    p = sub.add_parser("training", help="adversarial and NPE training curves")
    p.add_argument("--adversarial", nargs="*", default=[], help="adversarial samples files, one per seed (with history_*)")
    p.add_argument("--seed-labels", nargs="*", default=None, help="legend labels of the adversarial runs (default: seed from the files)")
    p.add_argument("--npe", nargs="*", default=[], metavar="[LABEL=]PATH", help="NPE samples files (with history_train_loss / history_val_loss)")
    p.add_argument("--out-adversarial")
    p.add_argument("--out-npe")
    common(p)
    p.set_defaults(run=run_training)

    p = sub.add_parser("calibration", help="NPE expected coverage, SBC ranks, TARP")
    p.add_argument("--diagnostics", required=True, help="NPE diagnostics.h5")
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
    if args.figure == "training" and args.out_adversarial and not args.adversarial:
        raise ConfigError("training: --out-adversarial needs --adversarial files")
    if args.figure == "training" and args.out_npe and not args.npe:
        raise ConfigError("training: --out-npe needs --npe files")
    setup(args)
    args.run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
