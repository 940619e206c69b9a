r"""Coverage over replicated observed sets: are a method's uncertainty regions right in repeated experiments?

Two kinds of replicate, ``m = 1..M``, each from its own seed stream:

* ``truth``: :math:`x_m \sim p(x \mid \eta^*)`, the experiment repeated at the reference truth;
* ``prior``: :math:`\eta_m \sim p(\eta)`, :math:`x_m \sim p(x \mid \eta_m)`.

Every method that can be refitted (the registry's ``fit``) is rerun on each set, and for its
draws we record whether the true :math:`\eta_m` lies inside the central 68% and 95% marginal
intervals of each parameter and inside the joint 68% and 95% regions (the Mahalanobis
credibility :math:`\alpha^*` of :func:`pdfinfer.compare.metrics.joint_credibility`). The
empirical coverage :math:`k/M` comes with a Clopper-Pearson 95% interval. Averaged over the
prior (kind ``prior``) an exact Bayesian posterior covers at exactly the nominal rate, so the
exact reference must come out consistent with nominal: a test of the whole machinery. At a fixed
:math:`\eta^*` (kind ``truth``) Bayesian regions have frequentist coverage close to nominal only
in the asymptotic regime; a point estimator's spread (an ensemble) is judged by this kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pdfinfer.compare.metrics import joint_credibility
from pdfinfer.io import EventSet
from pdfinfer.params import PARAM_NAMES, TRUTH

#: Replicate kinds (see the module docstring).
KINDS = ("truth", "prior")
#: Credibility levels checked.
LEVELS = (0.68, 0.95)


def replicate_observation(
    theory: Any, n_obs: int, kind: str, index: int, rel_unc: float, seed: int, device: str = "cpu"
) -> EventSet:
    """The ``index``-th replicate observed set of ``kind``: ``n_obs`` events ``(n_obs, F)`` at its own true ``eta``."""
    import torch

    from pdfinfer.runtime import derive_seed, make_generator, resolve_device

    if kind not in KINDS:
        raise ValueError(f"replicate kind {kind!r} is not one of {KINDS}")
    dev = resolve_device(device)
    generator = make_generator(derive_seed(seed, "coverage", kind, n_obs, index), dev)
    if kind == "truth":
        eta = torch.as_tensor(TRUTH, dtype=torch.float64, device=dev)[None]
    else:
        eta = torch.rand((1, len(PARAM_NAMES)), generator=generator, dtype=torch.float64, device=dev)
    events = theory.sample(eta, n_obs, generator=generator)[0].cpu().numpy()
    norm = theory.sample_norm(eta, rel_unc, generator=generator)[0].cpu().numpy()
    attrs = {"norm_rel_unc": float(rel_unc), "stream": f"coverage-{kind}", "replicate": index}
    return EventSet(events, eta[0].cpu().numpy(), norm, theory.spec(), attrs, f"<replicate {kind} {index}>")


def coverage_of(samples: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Whether ``truth`` ``(6,)`` lies in the 68%/95% marginal intervals and joint regions of ``samples`` ``(K, 6)``."""
    out: dict[str, Any] = {"joint_credibility": joint_credibility(samples, truth)}
    for level in LEVELS:
        lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=0)
        out[f"marginal{round(level * 100)}"] = [bool(a <= t <= b) for a, t, b in zip(lo, truth, hi)]
        out[f"joint{round(level * 100)}"] = bool(out["joint_credibility"] <= level)
    return out


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) binomial interval of a rate from ``k`` successes in ``n`` trials."""
    from scipy.stats import beta

    if n == 0:
        return (0.0, 1.0)
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per kind and level: joint and per-parameter coverage ``{rate, k, n, interval}`` over ``records``."""

    def rate(flags: Sequence[bool]) -> dict[str, Any]:
        k, n = int(np.sum(flags)), len(flags)
        return {"rate": k / n if n else None, "k": k, "n": n, "interval": clopper_pearson(k, n)}

    out: dict[str, Any] = {}
    for kind in KINDS:
        rows = [r for r in records if r["kind"] == kind]
        out[kind] = {
            f"{round(level * 100)}": {
                "joint": rate([r[f"joint{round(level * 100)}"] for r in rows]),
                "marginal": {
                    name: rate([r[f"marginal{round(level * 100)}"][i] for r in rows]) for i, name in enumerate(PARAM_NAMES)
                },
            }
            for level in LEVELS
        }
    return out
