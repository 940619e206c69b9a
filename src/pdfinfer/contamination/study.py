r"""The contamination study's numbers: bias and coverage of each method against :math:`\epsilon`.

For method :math:`m`, outlier kind :math:`k`, fraction :math:`\epsilon` and set :math:`j = 1..J`
(each set at :math:`\eta^*`, the clean set :math:`j` shared by every kind at :math:`\epsilon = 0`),
with posterior mean :math:`\mu_{mj}(\epsilon)` and the clean exact posterior's standard deviation
:math:`\sigma_j` (the referee at :math:`\epsilon = 0`), per parameter:

* ``bias``: :math:`\frac1J\sum_j (\mu_{mj} - \eta^*)` in normalized units (± its standard error over sets);
* ``bias_sd``: :math:`\frac1J\sum_j (\mu_{mj} - \eta^*)/\sigma_j`;
* ``shift_sd``: :math:`\frac1J\sum_j (\mu_{mj}(\epsilon) - \mu_{mj}(0))/\sigma_j`, the move the
  outliers cause, in clean exact-posterior standard deviations; ``max_shift_sd`` is its largest
  absolute value over the parameters (with the standard error of that parameter's mean);
* ``coverage``: whether :math:`\eta^*` lies in the joint 68%/95% regions (and marginal intervals) of
  the method's draws (:func:`pdfinfer.compare.replicas.coverage_of`), as ``{rate, k, n, interval}``
  with the Clopper-Pearson 95% interval (:func:`pdfinfer.compare.replicas.clopper_pearson`).

A method degrades gracefully when ``max_shift_sd`` stays at or below the threshold at the largest
:math:`\epsilon` of every kind (:func:`answer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pdfinfer.compare.replicas import LEVELS, clopper_pearson, coverage_of
from pdfinfer.contamination.settings import CLEAN
from pdfinfer.errors import DataError
from pdfinfer.methods import REFERENCE, order, title
from pdfinfer.params import PARAM_NAMES


def record(label: str, kind: str, eps: float, index: int, samples: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """One method on one set: its posterior mean and sd ``(6,)`` (normalized) and the truth's coverage."""
    samples = np.asarray(samples, dtype=np.float64)
    return {
        "method": label,
        "kind": kind,
        "eps": float(eps),
        "index": int(index),
        "mean": samples.mean(0).tolist(),
        "sd": samples.std(0, ddof=1).tolist(),
        "truth": np.asarray(truth, dtype=np.float64).tolist(),
        **coverage_of(samples, np.asarray(truth, dtype=np.float64)),
    }


def _rate(flags: Sequence[bool]) -> dict[str, Any]:
    k, n = int(np.sum(flags)), len(flags)
    return {"rate": k / n if n else None, "k": k, "n": n, "interval": clopper_pearson(k, n)}


def _mean_se(values: np.ndarray) -> tuple[list[float], list[float | None]]:
    """Mean over sets ``(J, 6) -> (6,)`` and its standard error (None with one set)."""
    se = values.std(0, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else [None] * values.shape[1]
    return values.mean(0).tolist(), [None if s is None else float(s) for s in se]


def _cell(
    rows: Sequence[dict[str, Any]], clean: Mapping[int, dict], ref_sd: Mapping[int, np.ndarray], n_failed: int = 0
) -> dict[str, Any]:
    """Summary of one method at one (kind, eps) over its sets (see the module docstring)."""
    missing = sorted(r["index"] for r in rows if r["index"] not in clean or r["index"] not in ref_sd)
    if missing:
        raise DataError(f"contamination: set(s) {missing} lack the clean fit of {rows[0]['method']!r} or of the {REFERENCE}")
    mean = np.array([r["mean"] for r in rows])
    truth = np.array([r["truth"] for r in rows])
    sd = np.array([ref_sd[r["index"]] for r in rows])
    base = np.array([clean[r["index"]]["mean"] for r in rows])
    bias, bias_se = _mean_se(mean - truth)
    bias_sd, _ = _mean_se((mean - truth) / sd)
    shift_sd, shift_se = _mean_se((mean - base) / sd)
    worst = int(np.argmax(np.abs(shift_sd)))
    out: dict[str, Any] = {
        "eps": rows[0]["eps"],
        "n_sets": len(rows),
        "n_failed": n_failed,
        "bias": dict(zip(PARAM_NAMES, bias)),
        "bias_se": dict(zip(PARAM_NAMES, bias_se)),
        "bias_norm": float(np.mean(np.linalg.norm(mean - truth, axis=1))),
        "bias_sd": dict(zip(PARAM_NAMES, bias_sd)),
        "shift_sd": dict(zip(PARAM_NAMES, shift_sd)),
        "max_shift_sd": abs(shift_sd[worst]),
        "max_shift_se": shift_se[worst],
        "max_shift_parameter": PARAM_NAMES[worst],
    }
    for level in LEVELS:
        key = f"{round(level * 100)}"
        out[f"coverage{key}"] = {
            "joint": _rate([r[f"joint{key}"] for r in rows]),
            "marginal": {n: _rate([r[f"marginal{key}"][i] for r in rows]) for i, n in enumerate(PARAM_NAMES)},
        }
    return out


def summarize(records: Sequence[dict[str, Any]], kinds: Sequence[str], failures: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Per method and kind, the cells at every eps (the clean eps = 0 first): ``{label: {kind: [cell, ...]}}``.

    ``failures`` (``{method, kind, eps, index}`` of fits that failed) are counted in their cell's
    ``n_failed``; a cell whose every fit failed is left out. A failed clean fit leaves its set unscored.
    """
    ref_sd = {r["index"]: np.asarray(r["sd"]) for r in records if r["method"] == REFERENCE and r["kind"] == CLEAN}
    if not ref_sd:
        raise DataError(f"contamination: no clean ({CLEAN}, eps = 0) fit of the {REFERENCE} among the records")
    out: dict[str, Any] = {}
    for label in order(sorted({r["method"] for r in records})):
        mine = [r for r in records if r["method"] == label]
        clean = {r["index"]: r for r in mine if r["kind"] == CLEAN}
        out[label] = {}
        for kind in kinds:
            scored = [r for r in mine if r["index"] in clean and r["index"] in ref_sd]
            rows = [r for r in scored if r["kind"] == (CLEAN if r["eps"] == 0 else kind)]
            failed = [f["eps"] for f in failures if f["method"] == label and f["kind"] == (CLEAN if f["eps"] == 0 else kind)]
            out[label][kind] = [
                _cell([r for r in rows if r["eps"] == eps], clean, ref_sd, failed.count(eps))
                for eps in sorted({r["eps"] for r in rows})
            ]
    return out


def answer(summary: Mapping[str, Any], graceful_sd: float, failures: Sequence[Mapping[str, Any]] = ()) -> str:
    """One sentence from the numbers: how far each method's mean moves at the largest eps, and which degrade gracefully.

    A method without a scored fit at the largest eps of some kind (every fit there failed) does not degrade gracefully.
    """
    kinds = list(next(iter(summary.values()))) if summary else []
    top = {
        k: max(
            [c["eps"] for per in summary.values() for c in per[k]] + [f["eps"] for f in failures if f["kind"] == k], default=0.0
        )
        for k in kinds
    }
    if not any(top.values()):
        return "No contaminated sets (every eps is 0): nothing to compare."
    graceful, not_graceful, moves = [], [], []
    for label, per_kind in summary.items():
        last = [per_kind[k][-1] if per_kind[k] and per_kind[k][-1]["eps"] == top[k] else None for k in kinds if top[k] > 0]
        ok = all(c is not None and c["max_shift_sd"] <= graceful_sd for c in last)
        (graceful if ok else not_graceful).append(title(label))
        moves.append(f"{title(label)} " + " / ".join("failed" if c is None else f"{c['max_shift_sd']:.2f}" for c in last))
    where = " / ".join(f"{k} at eps = {e:g}" for k, e in top.items() if e > 0)
    sentence = f"Largest move of the posterior mean in clean exact-posterior sd ({where}): " + "; ".join(moves) + ". "
    sentence += f"Degrade gracefully (at most {graceful_sd:g} sd for every kind): " + (", ".join(graceful) or "none")
    sentence += f"; not: {', '.join(not_graceful)}." if not_graceful else "."
    counts = {m: sum(f["method"] == m for f in failures) for m in order(sorted({f["method"] for f in failures}))}
    return sentence + (
        " Fits that failed (not scored): " + ", ".join(f"{title(m)} {n}" for m, n in counts.items()) + "." if counts else ""
    )


def table(summary: Mapping[str, Any]) -> list[str]:
    """Plain-text rows: method, kind, eps, sets, absolute bias (normalized), max shift (sd), joint 68%/95% coverage."""
    rows = [f"{'method':<24} {'kind':<8} {'eps':>5} {'sets':>4} {'|bias|':>7} {'shift/sd':>13} {'cov68':>6} {'cov95':>6}"]
    for label, per_kind in summary.items():
        for kind, cells in per_kind.items():
            for c in cells:
                se = "" if c["max_shift_se"] is None else f"±{c['max_shift_se']:.2f}"
                c68, c95 = c["coverage68"]["joint"], c["coverage95"]["joint"]
                rows.append(
                    f"{label:<24} {kind:<8} {c['eps']:>5.3g} {c['n_sets']:>4} {c['bias_norm']:>7.3f} "
                    f"{c['max_shift_sd']:>7.2f}{se:<6} {c68['k']:>3}/{c68['n']:<2} {c95['k']:>3}/{c95['n']:<2}"
                )
    return rows
