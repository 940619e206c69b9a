r"""Score every method's posterior draws against the exact reference for one ``n_obs``.

Reads the observed set, the reference samples and Fisher report (:mod:`pdfinfer.reference.job`),
any number of methods' samples files with their posterior-predictive replicate sets (the
referee's included), computes the metrics of :mod:`pdfinfer.compare.metrics` and returns the
payload that :mod:`pdfinfer.compare.run` writes as ``metrics.json``. Its keys (physical units
unless said otherwise):

* ``n_obs``, ``theory`` (spec), ``normalization`` (bool), ``parameter_names``;
* ``truth``: ``{"normalized": [6], "physical": {name: value}}``;
* ``cramer_rao``: ``{name: bound or null}`` (null: not identifiable); ``degenerate_directions``: [str];
  ``prior_limited``: [names whose bound exceeds the prior's sd]; ``bayesian_bound``: ``{name: van Trees bound}``
  (physical units; :func:`pdfinfer.reference.fisher.prior_aware`);
* ``reference``: ``{"path", "rhat": {name}, "ess_bulk": {name}, "n_samples"}``;
* ``methods``: ``{label: {...}}`` for ``reference`` and every other method, each with ``method``,
  ``family`` and ``title`` (from :mod:`pdfinfer.methods`), ``path``, ``n_samples``,
  ``parameters`` (``{name: {mean, std, median, ci68, ci95, pull, width_ratio, covered68,
  covered95, cramer_rao_ratio}}``, where ``cramer_rao_ratio`` = std / Cramér-Rao bound),
  ``joint_credibility_of_truth``, ``covered68_joint``, ``covered95_joint``, ``rel_l2_error``
  (normalized space), ``c2st`` (against the reference; for ``reference`` itself the first
  against the second half of its draws, the Monte Carlo floor), ``event_c2st``,
  ``event_quantile_mse``, ``event_quantile_mse_per_feature`` (of the method's replicate sets,
  :mod:`pdfinfer.predictive`, read from ``predictive_path``), ``amplification`` (see below) and
  ``wall_time_s`` (the method's own ``wall_time_s`` attribute; null if absent);
* ``baselines``: ``{"truth_events": {"event_c2st", "event_quantile_mse"}}``, replicate sets at
  :math:`\eta^*` scored like a method (what a perfect model gives at this sample size);
* ``amplification``: the GANplifying curve (Butter et al. 2020), ``sizes``, ``measured_mse`` and
  ``expected_mse`` of n true events in the equal-probability bins (``n_quantiles``) of
  ``bin_events`` other true events (half of the truth's replicate events each). Each method's
  ``amplification`` entry holds ``effective_events`` (the n whose expected MSE equals the MSE of
  its ``predictive_events`` pooled replicate events,
  :func:`pdfinfer.compare.metrics.amplification`), ``bound`` (``"lower"`` when it matches
  ``bin_events`` true events or more) and ``factor`` (``effective_events`` / n_obs);
* ``settings``: the comparison settings and ``c2st_samples_used`` (min of ``c2st_max_samples`` and
  the reference's smallest bulk ESS: thinned MCMC draws are correlated, and near-duplicates on
  both sides of a cross-validation fold would inflate the accuracy), the classifier and the seed;
* ``table``: one row per method with ``label``, ``c2st``, ``event_c2st``, ``event_quantile_mse``,
  ``rel_l2_error``, ``mean_width_ratio``, ``covered68_joint``, ``covered95_joint``, ``wall_time_s``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping

import numpy as np

from pdfinfer.compare.metrics import (
    amplification,
    binned_mse,
    c2st,
    equal_probability_edges,
    event_view,
    expected_quantile_mse,
    joint_credibility,
    parameter_summary,
    quantile_mse,
    quantile_mse_curve,
    relative_l2_error,
)
from pdfinfer.compare.settings import CompareSettings
from pdfinfer.errors import DataError
from pdfinfer.io import EventSet, SampleSet, read_events, read_json, read_samples
from pdfinfer.methods import REFERENCE, REGISTRY
from pdfinfer.params import PARAM_NAMES, TRUTH, TRUTH_PHYSICAL, to_physical
from pdfinfer.runtime import derive_seed
from pdfinfer.theory import Theory, make_theory

log = logging.getLogger("pdfinfer.compare")

#: Top-level keys of metrics.json (documented in the module docstring; tests hold them together).
METRICS_KEYS = (
    "n_obs",
    "theory",
    "normalization",
    "parameter_names",
    "truth",
    "cramer_rao",
    "prior_limited",
    "bayesian_bound",
    "degenerate_directions",
    REFERENCE,
    "methods",
    "baselines",
    "amplification",
    "settings",
    "table",
)
#: Keys of each entry of ``methods``.
METHOD_KEYS = (
    "method",
    "family",
    "title",
    "path",
    "n_samples",
    "parameters",
    "joint_credibility_of_truth",
    "covered68_joint",
    "covered95_joint",
    "rel_l2_error",
    "c2st",
    "event_c2st",
    "event_quantile_mse",
    "event_quantile_mse_per_feature",
    "predictive_path",
    "amplification",
    "wall_time_s",
)
#: Keys of each parameter's statistics.
PARAMETER_KEYS = ("mean", "std", "median", "ci68", "ci95", "pull", "width_ratio", "covered68", "covered95", "cramer_rao_ratio")
#: Keys of each row of ``table``.
TABLE_KEYS = (
    "label",
    "c2st",
    "event_c2st",
    "event_quantile_mse",
    "rel_l2_error",
    "mean_width_ratio",
    "covered68_joint",
    "covered95_joint",
    "wall_time_s",
)


def _check_compatible(sample_set: SampleSet | EventSet, theory_spec: dict[str, Any], label: str) -> None:
    theory = sample_set.attrs.get("theory")
    if theory is not None and theory != theory_spec:
        raise DataError(f"{sample_set.path}: {label!r} was made with theory {theory}, the observed set with {theory_spec}")


class Scorer:
    """Everything shared by the methods' scores: observed events, reference draws, Fisher bounds.

    Args:
        settings: the comparison settings.
        seed: master seed (each score derives its own stream).
        theory: the observed set's theory.
        observed: observed events ``(N, F)``.
        reference: the exact posterior's samples file.
        fisher: the reference's Fisher report.
        threads: CPU threads of the classifiers.
    """

    def __init__(
        self,
        settings: CompareSettings,
        seed: int,
        theory: Theory,
        observed: np.ndarray,
        reference: SampleSet,
        fisher: Mapping[str, Any],
        truth: EventSet,
        threads: int = 1,
    ) -> None:
        self.settings, self.base_seed, self.threads = settings, seed, threads
        self.theory = theory
        self.observed = event_view(observed, theory.log_features)
        self.reference = reference.samples
        self.reference_std = to_physical(reference.samples).std(axis=0, ddof=1)
        self.cramer_rao = {n: (b["physical"] if b else None) for n, b in fisher["cramer_rao"].items()}
        # Thinned MCMC draws are not independent; near-duplicates on both sides of a C2ST fold
        # would let the classifier memorize. Compare against at most ESS reference draws.
        ess = reference.extras.get("ess_bulk")
        self.c2st_samples = settings.c2st_max_samples
        if ess is not None and np.all(np.isfinite(ess)):
            self.c2st_samples = int(max(50, min(settings.c2st_max_samples, float(np.min(ess)))))
        log.info(
            "parameter C2ST on %d draws per side (c2st_max_samples %d, reference min bulk ESS %s)",
            self.c2st_samples,
            settings.c2st_max_samples,
            None if ess is None else f"{np.min(ess):.0f}",
        )

        # Amplification: equal-probability bins of one half of the truth's replicate events; the
        # other half gives the measured MSE-versus-n curve of true events beside the expected one.
        pool = event_view(truth.events.reshape(-1, truth.n_features), theory.log_features)
        self.bin_events = len(pool) // 2
        self.edges = equal_probability_edges(pool[: self.bin_events], settings.n_quantiles)
        self.truth_curve_events = pool[self.bin_events :]

    def amplification_curve(self) -> dict[str, Any]:
        """Quantile MSE of n true events against n: measured (random subsets) and expected."""
        # Subsets of at most a quarter of the pool: larger ones share most of their events, and their
        # MSE scatters less than that of independent true events (finite-population correction).
        top = max(len(self.truth_curve_events) // 4, 2)
        sizes = sorted({int(n) for n in np.geomspace(min(32, top), top, 8)})
        rng = np.random.default_rng(self.seed("amplification"))
        measured = quantile_mse_curve(self.edges, self.truth_curve_events, sizes, 20, rng)
        return {
            "n_quantiles": self.settings.n_quantiles,
            "bin_events": self.bin_events,
            "sizes": sizes,
            "measured_mse": measured.tolist(),
            "expected_mse": expected_quantile_mse(np.asarray(sizes), self.settings.n_quantiles, self.bin_events).tolist(),
        }

    def seed(self, *keys: int | str) -> int:
        return derive_seed(self.base_seed, "compare", len(self.observed), *keys)

    def events(self, label: str, replicates: EventSet) -> dict[str, Any]:
        """Event-level scores of a method's replicate sets ``(D, n, F)`` (all events pooled)."""
        predicted = event_view(replicates.events.reshape(-1, replicates.n_features), self.theory.log_features)
        per_feature = quantile_mse(self.observed, predicted, self.settings.n_quantiles)
        accuracy = c2st(
            self.observed,
            predicted,
            self.settings.event_max_events,
            self.settings.c2st_folds,
            self.seed(label, "event_c2st"),
            self.threads,
        )
        amp = amplification(binned_mse(self.edges, predicted), self.settings.n_quantiles, self.bin_events)
        amp |= {"predictive_events": len(predicted), "factor": amp["effective_events"] / len(self.observed)}
        return {
            "event_c2st": accuracy,
            "event_quantile_mse": float(per_feature.mean()),
            "event_quantile_mse_per_feature": dict(zip(self.theory.feature_names, per_feature.tolist())),
            "predictive_path": replicates.path,
            "amplification": amp,
        }

    def parameter_c2st(self, label: str, samples: np.ndarray) -> float | None:
        """C2ST of ``samples`` ``(K, 6)`` against the exact posterior (the referee: its two halves).

        ``None`` for a method with fewer draws than the cross-validation needs (a bootstrap
        ensemble of a few point estimates): no classifier can be trained on them.
        """
        if len(samples) < 2 * self.settings.c2st_folds:
            log.warning(
                "%s: %d draws, fewer than the C2ST's %d; its C2ST is null", label, len(samples), 2 * self.settings.c2st_folds
            )
            return None
        args = (self.c2st_samples, self.settings.c2st_folds, self.seed(label, "c2st"), self.threads)
        if label == REFERENCE:
            half = len(samples) // 2
            return c2st(samples[:half], samples[half:], *args)
        return c2st(samples, self.reference, *args)

    def method(self, label: str, sample_set: SampleSet, replicates: EventSet) -> dict[str, Any]:
        """All scores of one method."""
        start = time.perf_counter()
        samples = sample_set.samples
        params = parameter_summary(samples, TRUTH, self.reference_std)
        for name in PARAM_NAMES:
            bound = self.cramer_rao.get(name)
            params[name]["cramer_rao_ratio"] = params[name]["std"] / bound if bound else None
        alpha = joint_credibility(samples, TRUTH)
        accuracy = self.parameter_c2st(label, samples)
        wall = sample_set.attrs.get("wall_time_s")
        entry = REGISTRY.get(label)
        result = {
            "method": sample_set.method,
            "family": entry.family if entry else None,
            "title": entry.title if entry else label,
            "path": sample_set.path,
            "n_samples": int(len(samples)),
            "parameters": params,
            "joint_credibility_of_truth": alpha,
            "covered68_joint": alpha <= 0.68,
            "covered95_joint": alpha <= 0.95,
            "rel_l2_error": relative_l2_error(samples, TRUTH),
            "c2st": accuracy,
            **self.events(label, replicates),
            "wall_time_s": float(wall) if wall is not None else None,
        }
        log.info(
            "%s scored in %.1f s: C2ST %s, event C2ST %.3f", label, time.perf_counter() - start, accuracy, result["event_c2st"]
        )
        return result


def table_rows(methods: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary row per method (see the module docstring)."""
    rows = []
    for label, m in methods.items():
        ratios = [p["width_ratio"] for p in m["parameters"].values() if p["width_ratio"] is not None]
        rows.append(
            {
                "label": label,
                "c2st": m["c2st"],
                "event_c2st": m["event_c2st"],
                "event_quantile_mse": m["event_quantile_mse"],
                "rel_l2_error": m["rel_l2_error"],
                "mean_width_ratio": float(np.mean(ratios)) if ratios else None,
                "covered68_joint": m["covered68_joint"],
                "covered95_joint": m["covered95_joint"],
                "wall_time_s": m["wall_time_s"],
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The summary rows as a fixed-width text table."""
    head = (
        f"{'method':<24} {'C2ST':>6} {'evC2ST':>7} {'qMSE':>9} {'relL2':>7} {'width':>6} {'cov68':>5} {'cov95':>5} {'wall s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        wall = f"{r['wall_time_s']:8.1f}" if r["wall_time_s"] is not None else f"{'-':>8}"
        accuracy = f"{r['c2st']:6.3f}" if r["c2st"] is not None else f"{'-':>6}"
        width = f"{r['mean_width_ratio']:6.3g}" if r["mean_width_ratio"] is not None else f"{'-':>6}"
        lines.append(
            f"{r['label']:<24} {accuracy} {r['event_c2st']:7.3f} {r['event_quantile_mse']:9.2e} {r['rel_l2_error']:7.3f} "
            f"{width} {str(r['covered68_joint']):>5} {str(r['covered95_joint']):>5} {wall}"
        )
    return "\n".join(lines)


def compare(
    settings: CompareSettings,
    seed: int,
    observed_path: str,
    reference_path: str,
    fisher_path: str,
    samples: Mapping[str, str],
    predictive: Mapping[str, str],
    truth_predictive: str,
    threads: int = 1,
) -> dict[str, Any]:
    """Score the referee and every method in ``samples`` (label -> samples file) against it.

    ``predictive`` maps every label (the referee's included) to its replicate-set file. Returns
    the metrics payload described in the module docstring.
    """
    observed = read_events(observed_path, batched=False)
    theory = make_theory(observed.theory)
    reference = read_samples(reference_path)
    _check_compatible(reference, observed.theory, REFERENCE)
    fisher = read_json(fisher_path)
    for key in ("cramer_rao", "degenerate_directions", "normalization"):
        if key not in fisher:
            raise DataError(f"{fisher_path}: missing key {key!r}; not a pdfinfer.reference Fisher report")

    def replicates(label: str, path: str) -> EventSet:
        sets = read_events(path, batched=True)
        _check_compatible(sets, observed.theory, f"{label} replicate sets")
        return sets

    truth = replicates("truth", truth_predictive)
    scorer = Scorer(settings, seed, theory, observed.events, reference, fisher, truth, threads)

    methods = {REFERENCE: scorer.method(REFERENCE, reference, replicates(REFERENCE, predictive[REFERENCE]))}
    for label, path in samples.items():
        sample_set = read_samples(path)
        _check_compatible(sample_set, observed.theory, label)
        methods[label] = scorer.method(label, sample_set, replicates(label, predictive[label]))
    rows = table_rows(methods)
    log.info("comparison at n_obs = %d:\n%s", observed.n_events, format_table(rows))
    baseline = scorer.events("truth", truth)
    return {
        "n_obs": observed.n_events,
        "theory": observed.theory,
        "normalization": bool(fisher["normalization"]),
        "parameter_names": list(PARAM_NAMES),
        "truth": {"normalized": TRUTH.tolist(), "physical": dict(zip(PARAM_NAMES, TRUTH_PHYSICAL.tolist()))},
        "cramer_rao": scorer.cramer_rao,
        # prior-aware bounds of the Fisher report (pdfinfer.reference.fisher.prior_aware); absent in older reports
        "prior_limited": list(fisher.get("prior_limited", [])),
        "bayesian_bound": {n: b["physical"] for n, b in fisher.get("bayesian_bound", {}).items()},
        "degenerate_directions": [d["direction"] for d in fisher["degenerate_directions"]],
        REFERENCE: {
            "path": reference.path,
            "n_samples": int(len(reference.samples)),
            "rhat": dict(zip(PARAM_NAMES, np.asarray(reference.extras.get("rhat", np.full(6, np.nan))).tolist())),
            "ess_bulk": dict(zip(PARAM_NAMES, np.asarray(reference.extras.get("ess_bulk", np.full(6, np.nan))).tolist())),
        },
        "methods": methods,
        "baselines": {"truth_events": {k: baseline[k] for k in ("event_c2st", "event_quantile_mse", "predictive_path")}},
        "amplification": scorer.amplification_curve(),
        "settings": {
            **settings.as_dict(),
            "c2st_samples_used": scorer.c2st_samples,
            "c2st_classifier": "mlp (sbi.utils.metrics.c2st)",
            "seed": seed,
        },
        "table": rows,
    }
