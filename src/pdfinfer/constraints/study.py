"""The "physics constraints?" study: exact-posterior widths under three kinds of information.

One observed set, three exact posteriors (the referee, :mod:`pdfinfer.reference.job`), each a case of
:data:`CASES`:

* ``none``: the events alone, the box prior (the N_u/N_d ridge, ``docs/physics.md``);
* ``normalization``: the events and the normalization observable;
* ``sum_rules``: the events and the box prior times the valence sum-rule factor
  (``observation.constraints`` with ``kind: sum_rules``; the configured form and tolerance).

:func:`case_summary` reduces one case (normalized draws ``(K, 6)`` and its Fisher report) to the
physical posterior sd per parameter and the Cramér-Rao and van Trees bounds; :func:`study` puts
the three together in the layout that :mod:`pdfinfer.plotting.constraints` draws and whose
:func:`~pdfinfer.plotting.constraints.answer` states the result. The command line
(:mod:`pdfinfer.constraints.gather`) reads the samples and Fisher files of the pipeline's
``constraint_reference`` jobs; ``benchmarks/constraints.py`` calls the same functions in memory.
Imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.errors import DataError
from pdfinfer.params import PARAM_NAMES, WIDTHS, to_physical

#: Study cases: name -> (the normalization observable used, the sum-rule factor used).
CASES: dict[str, tuple[bool, bool]] = {"none": (False, False), "normalization": (True, False), "sum_rules": (False, True)}
#: How the figure and the answer name each case.
CASE_LABELS = {"none": "events only", "normalization": "normalization observable", "sum_rules": "sum rules (prior)"}
#: The parameters whose ridge the study is about.
SHOWN = ("N_u", "N_d")


def case_constraint(case: str, constraint: ConstraintSettings) -> ConstraintSettings:
    """The constraint settings of ``case``: the configured form and tolerance, on only for ``sum_rules``."""
    if case not in CASES:
        raise DataError(f"constraint study: unknown case {case!r}; cases: {', '.join(CASES)}")
    kind = "sum_rules" if CASES[case][1] else "none"
    return ConstraintSettings(kind, constraint.form, constraint.tolerance)


def matching_case(normalization: bool, constraint: ConstraintSettings) -> str | None:
    """The case whose information equals the run's own (its referee can be reused), else None."""
    for case, (norm, rules) in CASES.items():
        if norm == normalization and rules == constraint.enabled:
            return case
    return None


def case_summary(
    samples: np.ndarray, fisher: Mapping[str, Any], rhat: np.ndarray | None = None, ess: np.ndarray | None = None
) -> dict[str, Any]:
    """One case from normalized draws ``(K, 6)`` and its Fisher report (:func:`pdfinfer.reference.job.fisher_report`).

    Returns ``{"std", "mean"}`` (physical units, per parameter), ``"cramer_rao"`` (physical bound or
    None where the parameter is not identifiable), ``"bayesian_bound"`` (van Trees, physical),
    ``"prior_limited"``, ``"prior_std"`` (the box's sd, physical) and, when given, ``"rhat"`` and ``"ess_bulk"`` per parameter."""
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 2 or samples.shape[1] != len(PARAM_NAMES):
        raise DataError(f"constraint study: samples must have shape (K, {len(PARAM_NAMES)}), got {samples.shape}")
    entry: dict[str, Any] = {
        "std": dict(zip(PARAM_NAMES, (samples.std(0) * WIDTHS).tolist())),
        "mean": dict(zip(PARAM_NAMES, to_physical(samples.mean(0)).tolist())),
        "cramer_rao": {n: (b["physical"] if b else None) for n, b in fisher["cramer_rao"].items()},
        "bayesian_bound": {n: b["physical"] for n, b in fisher["bayesian_bound"].items()},
        "prior_limited": list(fisher.get("prior_limited", [])),
        "prior_std": {n: b["physical"] for n, b in fisher.get("prior_std", {}).items()},
    }
    if rhat is not None:
        entry["rhat"] = dict(zip(PARAM_NAMES, np.asarray(rhat, dtype=float).tolist()))
    if ess is not None:
        entry["ess_bulk"] = dict(zip(PARAM_NAMES, np.asarray(ess, dtype=float).tolist()))
    return entry


def study(
    cases: Mapping[str, Mapping[str, Any]], n_obs: int, rel_unc: float, tolerance: float, form: str, sampler: str
) -> dict[str, Any]:
    """The study's record: every case of :data:`CASES` (:func:`case_summary`), the settings and the answer sentence."""
    missing = [c for c in CASES if c not in cases]
    if missing:
        raise DataError(f"constraint study: case(s) {missing} missing; every one of {list(CASES)} is needed")
    data = {
        "n_obs": int(n_obs),
        "rel_unc": float(rel_unc),
        "tolerance": float(tolerance),
        "form": form,
        "sampler": sampler,
        "prior_std": dict(cases["none"].get("prior_std", {})),
        "cases": {c: dict(cases[c]) for c in CASES},
    }
    data["answer"] = answer(data)
    return data


def answer(data: Mapping[str, Any]) -> str:
    """One sentence from the numbers of :func:`study`: how much each kind of information narrows N_u and N_d."""
    cases = data["cases"]
    base = cases["none"]["std"]

    def ratios(case: str) -> str:
        return ", ".join(f"{n} {cases[case]['std'][n] / base[n]:.2f}x" for n in SHOWN)

    better = min(("normalization", "sum_rules"), key=lambda c: sum(cases[c]["std"][n] for n in SHOWN))
    shapes = [n for n in base if n not in SHOWN]
    shape = min(shapes, key=lambda n: cases["sum_rules"]["std"][n] / base[n])
    return (
        f"At n_obs = {data['n_obs']} the sum rules (tolerance {data['tolerance']:g}) shrink the exact posterior's widths to "
        f"{ratios('sum_rules')} of the events-only widths, the normalization observable ({data['rel_unc']:g} relative) to "
        f"{ratios('normalization')}: the {CASE_LABELS[better]} breaks the N_u/N_d ridge more; of the shapes the sum rules narrow {shape} most "
        f"({cases['sum_rules']['std'][shape] / base[shape]:.2f}x, against {cases['normalization']['std'][shape] / base[shape]:.2f}x "
        "with the normalization), since they tie the normalizations to the small-x shape."
    )
