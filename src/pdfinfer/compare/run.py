r"""Command line: score every method's posterior draws against the exact reference for one ``n_obs``.

Reads the observed set, the reference samples and Fisher report (``pdfinfer.reference.run``) and
any number of methods' samples files (``--samples LABEL=PATH``), computes the metrics of
:mod:`pdfinfer.compare.metrics` and writes one JSON file.

metrics.json keys (physical units unless said otherwise):

``n_obs``, ``theory`` (spec), ``normalization`` (bool), ``parameter_names``
``truth``: ``{"normalized": [6], "physical": {name: value}}``
``cramer_rao``: ``{name: bound or null}`` (null: not identifiable), ``degenerate_directions``: [str]
``reference``: ``{"path", "rhat": {name}, "ess_bulk": {name}, "n_samples"}``
``methods``: ``{label: {...}}`` for ``reference`` and every ``--samples`` label, each with
    ``method``, ``path``, ``n_samples``,
    ``parameters``: ``{name: {mean, std, median, ci68: [lo, hi], ci95: [lo, hi], pull, width_ratio,
    covered68, covered95, cramer_rao_ratio}}`` (``cramer_rao_ratio`` = std / Cramér-Rao bound),
    ``joint_credibility_of_truth``, ``covered68_joint``, ``covered95_joint``,
    ``rel_l2_error`` (normalized space), ``c2st`` (vs the reference; for ``reference`` itself:
    the first vs the second half of its kept chain, i.e. the Monte Carlo floor no method can be
    shown to beat), ``event_c2st``, ``event_quantile_mse``,
    ``event_quantile_mse_per_feature``, ``wall_time_s`` (null if no benchmark file), ``wall_time_files``
``baselines``: ``{"truth_events": {"event_c2st", "event_quantile_mse"}}``: fresh events at
    :math:`\eta^*` scored like a method (what a perfect model gives at this sample size)
``settings``: the C2ST subsample sizes (``c2st_samples_used`` = min(c2st_max_samples, the
    reference's smallest bulk ESS): thinned MCMC draws are correlated, and near-duplicates on both
    sides of a cross-validation fold would inflate the accuracy), folds, quantiles, seed
``table``: one row per method: ``label, c2st, event_c2st, event_quantile_mse, rel_l2_error,
    mean_width_ratio, covered68_joint, covered95_joint, wall_time_s``

Usage::

    python -m pdfinfer.compare.run --observed R/data/n1024/observed.h5 \
        --reference R/reference/n1024/samples.h5 --fisher R/reference/n1024/fisher.json \
        --samples npe=R/npe/n1024/samples.h5 --samples adversarial_pooled=R/adversarial/n1024/pooled.h5 \
        --wall-time npe='R/benchmarks/npe_*/n1024.tsv' --out R/compare/n1024/metrics.json
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from pdfinfer.compare.metrics import (
    c2st,
    event_view,
    joint_credibility,
    parameter_summary,
    posterior_predictive,
    quantile_mse,
    relative_l2_error,
    wall_time,
)
from pdfinfer.errors import ConfigError, DataError
from pdfinfer.io import SampleSet, read_events, read_json, read_samples, write_json
from pdfinfer.params import PARAM_NAMES, TRUTH, TRUTH_PHYSICAL, to_physical
from pdfinfer.runtime import add_common_arguments, cli_main, derive_seed, make_generator, resolve_device, setup
from pdfinfer.theory import Theory, make_theory

log = logging.getLogger("pdfinfer.compare")

#: Top-level keys of metrics.json (documented in the module docstring; tests hold them together).
METRICS_KEYS = ("n_obs", "theory", "normalization", "parameter_names", "truth", "cramer_rao", "degenerate_directions",
                "reference", "methods", "baselines", "settings", "table")
#: Keys of each entry of ``methods``.
METHOD_KEYS = ("method", "path", "n_samples", "parameters", "joint_credibility_of_truth", "covered68_joint", "covered95_joint",
               "rel_l2_error", "c2st", "event_c2st", "event_quantile_mse", "event_quantile_mse_per_feature", "wall_time_s",
               "wall_time_files")
#: Keys of each parameter's statistics.
PARAMETER_KEYS = ("mean", "std", "median", "ci68", "ci95", "pull", "width_ratio", "covered68", "covered95", "cramer_rao_ratio")
#: Keys of each row of ``table``.
TABLE_KEYS = ("label", "c2st", "event_c2st", "event_quantile_mse", "rel_l2_error", "mean_width_ratio", "covered68_joint",
              "covered95_joint", "wall_time_s")


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
    parser = argparse.ArgumentParser(prog="python -m pdfinfer.compare.run", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--observed", required=True, help="observed set (EventSet HDF5)")
    parser.add_argument("--reference", required=True, help="reference samples (pdfinfer.reference.run)")
    parser.add_argument("--fisher", required=True, help="reference Fisher report (JSON)")
    parser.add_argument("--samples", action="append", default=[], metavar="LABEL=PATH", help="a method's samples file (repeat)")
    parser.add_argument("--wall-time", action="append", default=[], metavar="LABEL=GLOB[,GLOB]", help="benchmark TSV files of a method's rules (repeat)")
    parser.add_argument("--c2st-max-samples", type=int, default=2000, help="parameter draws per side in the C2ST")
    parser.add_argument("--c2st-folds", type=int, default=5)
    parser.add_argument("--event-max-events", type=int, default=1000, help="events per side in the event-level C2ST")
    parser.add_argument("--predictive-events", type=int, default=4000, help="posterior-predictive events per method (quantile MSE)")
    parser.add_argument("--n-quantiles", type=int, default=20, help="equal-probability bins per observed marginal")
    parser.add_argument("--out", required=True, help="metrics JSON")
    add_common_arguments(parser)
    return parser


def _check_compatible(sample_set: SampleSet, theory_spec: dict[str, Any], label: str) -> None:
    theory = sample_set.attrs.get("theory")
    if theory is not None and theory != theory_spec:
        raise DataError(f"{sample_set.path}: samples of {label!r} were made with theory {theory}, the observed set with {theory_spec}")


class Scorer:
    """Everything shared by the methods' scores: observed events, reference draws, Fisher bounds."""

    def __init__(self, args: argparse.Namespace, theory: Theory, observed: np.ndarray, reference: SampleSet, fisher: dict[str, Any]) -> None:
        self.args = args
        self.theory = theory
        self.observed = event_view(observed, theory.log_features)
        self.reference = reference.samples
        self.reference_std = to_physical(reference.samples).std(axis=0, ddof=1)
        self.cramer_rao = {n: (b["physical"] if b else None) for n, b in fisher["cramer_rao"].items()}
        self.device = resolve_device(args.device)
        # Thinned MCMC draws are not independent; near-duplicates on both sides of a C2ST fold
        # would let the classifier memorize. Compare against at most ESS reference draws.
        ess = reference.extras.get("ess_bulk")
        self.c2st_samples = args.c2st_max_samples
        if ess is not None and np.all(np.isfinite(ess)):
            self.c2st_samples = int(max(50, min(args.c2st_max_samples, float(np.min(ess)))))
        log.info("parameter C2ST on %d draws per side (c2st_max_samples %d, reference min bulk ESS %s)",
                 self.c2st_samples, args.c2st_max_samples, None if ess is None else f"{np.min(ess):.0f}")

    def seed(self, *keys: int | str) -> int:
        return derive_seed(self.args.seed, "compare", len(self.observed), *keys)

    def events(self, label: str, samples: np.ndarray) -> dict[str, Any]:
        """Event-level scores of posterior-predictive events from ``samples`` ``(K, 6)``."""
        generator = make_generator(self.seed(label, "events"), self.device)
        predicted = event_view(posterior_predictive(self.theory, samples, self.args.predictive_events, generator), self.theory.log_features)
        per_feature = quantile_mse(self.observed, predicted, self.args.n_quantiles)
        accuracy = c2st(self.observed, predicted, self.args.event_max_events, self.args.c2st_folds, self.seed(label, "event_c2st"), self.args.threads)
        return {
            "event_c2st": accuracy,
            "event_quantile_mse": float(per_feature.mean()),
            "event_quantile_mse_per_feature": dict(zip(self.theory.feature_names, per_feature.tolist())),
        }

    def method(self, label: str, sample_set: SampleSet, wall_globs: Sequence[str]) -> dict[str, Any]:
        """All scores of one method."""
        start = time.perf_counter()
        samples = sample_set.samples
        params = parameter_summary(samples, TRUTH, self.reference_std)
        for name in PARAM_NAMES:
            bound = self.cramer_rao.get(name)
            params[name]["cramer_rao_ratio"] = params[name]["std"] / bound if bound else None
        alpha = joint_credibility(samples, TRUTH)
        if label == "reference":
            half = len(samples) // 2
            accuracy = c2st(samples[:half], samples[half:], self.c2st_samples, self.args.c2st_folds, self.seed(label, "c2st"), self.args.threads)
        else:
            accuracy = c2st(samples, self.reference, self.c2st_samples, self.args.c2st_folds, self.seed(label, "c2st"), self.args.threads)
        seconds, files = wall_time(wall_globs)
        if wall_globs and seconds is None:
            log.warning("%s: no benchmark file matches %s; wall time unknown", label, list(wall_globs))
        result = {
            "method": sample_set.method,
            "path": sample_set.path,
            "n_samples": int(len(samples)),
            "parameters": params,
            "joint_credibility_of_truth": alpha,
            "covered68_joint": alpha <= 0.68,
            "covered95_joint": alpha <= 0.95,
            "rel_l2_error": relative_l2_error(samples, TRUTH),
            "c2st": accuracy,
            **self.events(label, samples),
            "wall_time_s": seconds,
            "wall_time_files": files,
        }
        log.info("%s scored in %.1f s: C2ST %.3f, event C2ST %.3f", label, time.perf_counter() - start, accuracy, result["event_c2st"])
        return result

    def truth_baseline(self) -> dict[str, Any]:
        """Event-level scores of fresh events at eta* (a perfect model at this sample size)."""
        return self.events("truth", TRUTH[None, :])


def table_rows(methods: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary row per method (see the module docstring)."""
    rows = []
    for label, m in methods.items():
        ratios = [p["width_ratio"] for p in m["parameters"].values() if p["width_ratio"] is not None]
        rows.append({
            "label": label,
            "c2st": m["c2st"],
            "event_c2st": m["event_c2st"],
            "event_quantile_mse": m["event_quantile_mse"],
            "rel_l2_error": m["rel_l2_error"],
            "mean_width_ratio": float(np.mean(ratios)) if ratios else None,
            "covered68_joint": m["covered68_joint"],
            "covered95_joint": m["covered95_joint"],
            "wall_time_s": m["wall_time_s"],
        })
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The summary rows as a fixed-width text table."""
    head = f"{'method':<24} {'C2ST':>6} {'evC2ST':>7} {'qMSE':>9} {'relL2':>7} {'width':>6} {'cov68':>5} {'cov95':>5} {'wall s':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        wall = f"{r['wall_time_s']:8.1f}" if r["wall_time_s"] is not None else f"{'-':>8}"
        width = f"{r['mean_width_ratio']:6.3g}" if r["mean_width_ratio"] is not None else f"{'-':>6}"
        lines.append(
            f"{r['label']:<24} {r['c2st']:6.3f} {r['event_c2st']:7.3f} {r['event_quantile_mse']:9.2e} {r['rel_l2_error']:7.3f} "
            f"{width} {str(r['covered68_joint']):>5} {str(r['covered95_joint']):>5} {wall}"
        )
    return "\n".join(lines)


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args)
    # sklearn's MLP (C2ST) runs on numpy's BLAS: keep it to the job's threads, not every core.
    with threadpool_limits(limits=max(1, args.threads)):
        return compare(args)


def compare(args: argparse.Namespace) -> int:
    """Score every method (see the module docstring) and write the metrics JSON."""
    for name in ("c2st_max_samples", "event_max_events", "predictive_events", "n_quantiles", "c2st_folds"):
        if getattr(args, name) < 2:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 2, got {getattr(args, name)}")
    sample_paths = _pairs(args.samples, "--samples")
    wall_globs = {k: v.split(",") for k, v in _pairs(args.wall_time, "--wall-time").items()}
    if "reference" in sample_paths:
        raise ConfigError("--samples: the label 'reference' is reserved for --reference")
    observed = read_events(args.observed, batched=False)
    theory = make_theory(observed.theory)
    reference = read_samples(args.reference)
    _check_compatible(reference, observed.theory, "reference")
    fisher = read_json(args.fisher)
    for key in ("cramer_rao", "degenerate_directions", "normalization"):
        if key not in fisher:
            raise DataError(f"{args.fisher}: missing key {key!r}; not a pdfinfer.reference Fisher report")
    scorer = Scorer(args, theory, observed.events, reference, fisher)
    methods = {"reference": scorer.method("reference", reference, wall_globs.get("reference", []))}
    for label, path in sample_paths.items():
        sample_set = read_samples(path)
        _check_compatible(sample_set, observed.theory, label)
        methods[label] = scorer.method(label, sample_set, wall_globs.get(label, []))
    rows = table_rows(methods)
    log.info("comparison at n_obs = %d:\n%s", observed.n_events, format_table(rows))
    payload = {
        "n_obs": observed.n_events,
        "theory": observed.theory,
        "normalization": bool(fisher["normalization"]),
        "parameter_names": list(PARAM_NAMES),
        "truth": {"normalized": TRUTH.tolist(), "physical": dict(zip(PARAM_NAMES, TRUTH_PHYSICAL.tolist()))},
        "cramer_rao": scorer.cramer_rao,
        "degenerate_directions": [d["direction"] for d in fisher["degenerate_directions"]],
        "reference": {
            "path": reference.path,
            "n_samples": int(len(reference.samples)),
            "rhat": dict(zip(PARAM_NAMES, np.asarray(reference.extras.get("rhat", np.full(6, np.nan))).tolist())),
            "ess_bulk": dict(zip(PARAM_NAMES, np.asarray(reference.extras.get("ess_bulk", np.full(6, np.nan))).tolist())),
        },
        "methods": methods,
        "baselines": {"truth_events": scorer.truth_baseline()},
        "settings": {
            "c2st_max_samples": args.c2st_max_samples, "c2st_samples_used": scorer.c2st_samples, "c2st_folds": args.c2st_folds, "c2st_classifier": "mlp (sbi.utils.metrics.c2st)",
            "event_max_events": args.event_max_events, "predictive_events": args.predictive_events,
            "n_quantiles": args.n_quantiles, "seed": args.seed,
        },
        "table": rows,
    }
    write_json(args.out, payload)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
