"""The one place where plotting reads files: pipeline outputs (HDF5/JSON) -> plain arrays.

Everything downstream (the figure modules) takes numpy arrays and dicts, so a figure can be
drawn from any source and tested on synthetic inputs. Dataset and key names follow the shared
output contract (README, ``docs``): samples files from :func:`pdfinfer.io.write_samples`
(adversarial ``history_*`` extras, NPE ``history_train_loss``/``history_val_loss``), NPE
``diagnostics.h5``, the reference ``fisher.json`` and the comparison's ``metrics.json`` and
``sweep.json``. A missing key is a :class:`pdfinfer.errors.DataError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from pdfinfer.errors import DataError
from pdfinfer.io import EventSet, SampleSet, read_events, read_h5, read_json, read_samples
from pdfinfer.methods import REFERENCE, STUDIED_FAMILY
from pdfinfer.params import WIDTHS, to_physical
from pdfinfer.plotting.training import AdversarialHistory
from pdfinfer.theory import Theory, make_theory

if TYPE_CHECKING:
    from pdfinfer.plotting.table import Table

PathLike = str | os.PathLike[str]

#: Adversarial loss datasets and the names the training figure gives them.
ADVERSARIAL_LOSSES = {
    "history_loss_d": "discriminator",
    "history_loss_g": "generator",
    "history_loss_s": "surrogate",
    "history_chi2": "predictive chi2/bins",
}


def observed_set(path: PathLike) -> tuple[np.ndarray, Theory]:
    """Observed events ``(N, F)`` and the theory that generated them (rebuilt from the file)."""
    events = read_events(path, batched=False)
    return events.events, make_theory(dict(events.theory))


def replicate_sets(paths: Mapping[str, PathLike]) -> dict[str, EventSet]:
    """Read each method's posterior-predictive replicate sets (:mod:`pdfinfer.predictive`): label -> ``(D, n, F)``."""
    return {method: read_events(path, batched=True) for method, path in paths.items()}


def method_samples(paths: Mapping[str, PathLike]) -> dict[str, SampleSet]:
    """Read each method's samples file: method name (as given) -> :class:`SampleSet`."""
    return {method: read_samples(path) for method, path in paths.items()}


def _extra(sample_set: SampleSet, name: str, ndim: int | None = None) -> np.ndarray:
    if name not in sample_set.extras:
        raise DataError(f"{sample_set.path}: missing dataset {name!r} (has: {sorted(sample_set.extras)})")
    value = np.asarray(sample_set.extras[name])
    if ndim is not None and value.ndim != ndim:
        raise DataError(f"{sample_set.path}: dataset {name!r} should be {ndim}-D, got shape {value.shape}")
    return value


def adversarial_history(sample_set: SampleSet) -> AdversarialHistory:
    """The logged history of one adversarial run (parameters converted to physical units)."""
    step = _extra(sample_set, "history_step", 1)
    losses = {
        label: _extra(sample_set, name, 1).astype(float)
        for name, label in ADVERSARIAL_LOSSES.items()
        if name in sample_set.extras
    }
    mean = to_physical(_extra(sample_set, "history_param_mean", 2))
    std = _extra(sample_set, "history_param_std", 2) * WIDTHS if "history_param_std" in sample_set.extras else None
    selected = sample_set.attrs.get("selected_step")  # the step whose generator the draws come from
    extra = {} if selected is None else {"selected_step": np.asarray(selected)}
    try:
        return AdversarialHistory(step, losses, mean, std, extra)
    except DataError as err:
        raise DataError(f"{sample_set.path}: {err}") from None


def epoch_losses(sample_set: SampleSet) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation loss per epoch, each ``(E,)`` (methods with ``history="losses"``)."""
    return _extra(sample_set, "history_train_loss", 1).astype(float), _extra(sample_set, "history_val_loss", 1).astype(float)


def calibration_diagnostics(path: PathLike) -> dict[str, Any]:
    """Arrays and scalars of an amortized method's ``diagnostics.h5``: coverage, SBC ranks, TARP."""
    names = ("coverage_levels", "coverage_empirical", "sbc_ranks", "sbc_ks_pvalues", "tarp_alpha", "tarp_ecp")
    data, attrs = read_h5(path, required=names, required_attrs=("n_sims", "n_posterior_samples"))
    return {**data, **{k: attrs[k] for k in ("n_sims", "n_posterior_samples", "tarp_atc", "tarp_ks_pvalue") if k in attrs}}


def json_file(path: PathLike) -> Any:
    """A JSON output (``metrics.json``, ``sweep.json``, ``fisher.json``)."""
    return read_json(path)


def require(mapping: Mapping[str, Any], key: str, where: PathLike) -> Any:
    """``mapping[key]`` or a :class:`DataError` naming ``where`` and the keys it has."""
    if not isinstance(mapping, Mapping) or key not in mapping:
        have = sorted(mapping) if isinstance(mapping, Mapping) else type(mapping).__name__
        raise DataError(f"{Path(where)}: missing key {key!r} (has: {have})")
    return mapping[key]


# ------------------------------------------------------------------ comparison (metrics.json)


def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format(value, spec)


def _methods(metrics: Mapping[str, Any], path: PathLike) -> dict[str, Any]:
    methods = require(metrics, "methods", path)
    if REFERENCE not in methods:
        raise DataError(f"{Path(path)}: 'methods' has no {REFERENCE!r} entry (has: {sorted(methods)})")
    return methods


def bound_note(metrics: Mapping[str, Any]) -> str:
    """The first table's note: degenerate directions, and how to read the two bounds."""
    parts = []
    if metrics.get("degenerate_directions"):
        parts.append("degenerate directions (no information in the data): " + "; ".join(metrics["degenerate_directions"]))
    if metrics.get("bayesian_bound"):
        parts.append(
            "prior-limited: the Cramér–Rao bound exceeds the prior's sd (box width / sqrt 12); van Trees: "
            "Bayesian Cramér–Rao bound with a Gaussian prior of the box's covariance (docs/physics.md)"
        )
    return "; ".join(parts)


def summary_tables(path: PathLike) -> list["Table"]:
    """The comparison ``metrics.json`` of one n_obs as three tables (see :mod:`pdfinfer.plotting.table`).

    1. posterior mean ± std per parameter and method (registry order), with the truth and the Cramér–Rao bound;
    2. width ratio to the exact posterior and pull of the truth per parameter;
    3. one row per method: C2ST against the exact posterior,
       event-level C2ST and quantile MSE, relative L2 error, mean width ratio, joint coverage of
       the truth, wall time; plus the perfect-model baseline of the event scores.
    """
    from pdfinfer.plotting.style import method_label, sort_methods
    from pdfinfer.plotting.table import Table

    metrics = json_file(path)
    methods = _methods(metrics, path)
    names = require(metrics, "parameter_names", path)
    truth = require(require(metrics, "truth", path), "physical", path)
    bounds = metrics.get("cramer_rao", {})
    limited = set(metrics.get("prior_limited", []))
    bayes = metrics.get("bayesian_bound", {})
    headline = sort_methods(list(methods))
    label = {m: method_label(m) for m in methods}

    def param(m: str, name: str) -> Mapping[str, Any]:
        return require(require(methods[m], "parameters", path), name, path)

    symbols = {n: n for n in names}
    rows = []
    for name in names:
        row = [
            symbols[name],
            _fmt(truth.get(name)),
            _fmt(bounds.get(name), ".2g") if bounds.get(name) is not None else "none (degenerate)",
        ]
        if limited and name in limited and bounds.get(name) is not None:
            row[-1] += " (prior-limited)"
        if bayes:
            row.append(_fmt(bayes.get(name), ".2g"))
        row += [f"{_fmt(param(m, name)['mean'])} ± {_fmt(param(m, name)['std'], '.2g')}" for m in headline]
        rows.append(row)
    t1 = Table(
        "Posterior mean ± standard deviation (physical units)",
        ["parameter", "truth", "Cramér–Rao bound"] + (["van Trees bound"] if bayes else []) + [label[m] for m in headline],
        rows,
        note=bound_note(metrics),
    )
    learned = [m for m in headline if m != REFERENCE]
    rows = [
        [symbols[name]]
        + [f"{_fmt(param(m, name).get('width_ratio'), '.2f')}  ({_fmt(param(m, name).get('pull'), '+.2f')})" for m in learned]
        for name in names
    ]
    t2 = Table(
        "Width ratio to the exact posterior (pull of the truth)",
        ["parameter"] + [label[m] for m in learned],
        rows,
        note="width ratio = std / std of the exact posterior (1: as wide; < 1: over-confident); pull = (mean - truth) / std",
    )
    rows, highlight = [], []
    for m in headline:
        r = methods[m]
        ratios = [p.get("width_ratio") for p in r.get("parameters", {}).values() if p.get("width_ratio") is not None]
        rows.append(
            [
                label[m],
                _fmt(r.get("c2st"), ".3f"),
                _fmt(r.get("event_c2st"), ".3f"),
                _fmt(r.get("event_quantile_mse"), ".2e"),
                _fmt(r.get("rel_l2_error"), ".3f"),
                _fmt(float(np.mean(ratios)) if ratios else None, ".2f"),
                f"{_fmt(r.get('covered68_joint'))} / {_fmt(r.get('covered95_joint'))}",
                _fmt(r.get("wall_time_s"), ".0f"),
            ]
        )
        if methods[m].get("family") == STUDIED_FAMILY:
            highlight.append(len(rows) - 1)
    baseline = metrics.get("baselines", {}).get("truth_events")
    if baseline:
        rows.append(
            [
                "events at the truth (perfect model)",
                "–",
                _fmt(baseline.get("event_c2st"), ".3f"),
                _fmt(baseline.get("event_quantile_mse"), ".2e"),
                "–",
                "–",
                "–",
                "–",
            ]
        )
    t3 = Table(
        "Per method",
        [
            "method",
            "C2ST vs exact",
            "event C2ST",
            "event quantile MSE",
            "rel. L2 error",
            "mean width ratio",
            "truth in joint 68% / 95%",
            "wall time [s]",
        ],
        rows,
        note="C2ST: 0.5 = indistinguishable from the exact posterior (for the exact posterior itself: one half of its draws against the other, the noise floor)",
        highlight=highlight,
    )
    return [t1, t2, t3]


def sweep_arrays(path: PathLike) -> dict[str, Any]:
    """Posterior widths, bounds and C2ST per n_obs from the comparison's ``sweep.json``.

    Returns ``n_obs`` ``(S,)``; ``widths`` method -> ``(S, 6)`` physical std; ``cramer_rao`` and
    ``sqrt_n_law`` ``(S, 6)``; ``c2st`` method -> ``(S,)`` for the learned methods; ``exponents``
    method -> ``(6,)`` fitted slopes of log width vs log n. Missing values (JSON null) are NaN.
    Methods come in registry order.
    """
    from pdfinfer.params import PARAM_NAMES
    from pdfinfer.plotting.style import sort_methods

    data = json_file(path)
    n_obs = np.asarray(require(data, "n_obs", path), dtype=float)
    methods = require(data, "methods", path)

    def table(values: Mapping[str, Any], what: str) -> np.ndarray:
        columns = [require(values, name, f"{path} ({what})") for name in PARAM_NAMES]
        out = np.array([[np.nan if v is None else float(v) for v in col] for col in columns]).T
        if out.shape != (len(n_obs), len(PARAM_NAMES)):
            raise DataError(f"{Path(path)}: {what} has {out.shape[0]} values per parameter for {len(n_obs)} sizes")
        return out

    def row(values: Sequence[Any]) -> np.ndarray:
        return np.array([np.nan if v is None else float(v) for v in values])

    shown = sort_methods(list(methods))
    return {
        "n_obs": n_obs,
        "widths": {m: table(require(methods[m], "std", path), f"{m} std") for m in shown},
        "cramer_rao": table(require(data, "cramer_rao", path), "cramer_rao"),
        "sqrt_n_law": table(data["sqrt_n_law"], "sqrt_n_law") if "sqrt_n_law" in data else None,
        "c2st": {m: row(require(methods[m], "c2st", path)) for m in shown if m != REFERENCE},
        "exponents": {m: row([methods[m].get("scaling_exponent", {}).get(name) for name in PARAM_NAMES]) for m in shown},
    }
