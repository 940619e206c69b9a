r"""Scores of one method's parameter draws against the exact reference posterior and the data.

For draws :math:`\eta^{(k)}` (normalized, ``(K, 6)``) of a method, the reference draws, the truth
:math:`\eta^*` and the observed events, in physical units :math:`\theta = \theta_{min} + \eta\,\Delta`:

* per parameter: mean :math:`\bar\theta`, standard deviation :math:`s`, median, central 68% and
  95% intervals (quantiles 16/84 and 2.5/97.5), pull of the truth :math:`(\bar\theta - \theta^*)/s`,
  width ratio :math:`s / s_{ref}`, and whether :math:`\theta^*` lies in the 68% / 95% intervals;
* joint coverage: the credibility level of :math:`\eta^*` in the method's own Mahalanobis
  ordering, :math:`\alpha^* = \frac1K\#\{k: d(\eta^{(k)}) < d(\eta^*)\}` with
  :math:`d(\eta) = (\eta - \bar\eta)^\top \hat\Sigma^{-1} (\eta - \bar\eta)`; the truth is covered by the
  68% (95%) region iff :math:`\alpha^* \le 0.68` (0.95);
* the relative L2 error of the mean, :math:`\|\bar\eta - \eta^*\|_2 / \|\eta^*\|_2` (normalized
  space, as in the original adversarial-learning study);
* C2ST (Lopez-Paz & Oquab 2017; as in sbibm, :func:`sbi.utils.metrics.c2st` with an MLP and
  ``folds``-fold cross-validation on z-scored inputs): accuracy of a classifier telling the
  method's draws from the reference draws (0.5 = indistinguishable, 1 = disjoint); both sides are
  random subsamples of at most ``max_samples`` rows (cost grows linearly with it);
* event level (posterior predictive): replicate sets :math:`x \sim p(x \mid \eta^{(k)})` at a subset
  of the draws (:mod:`pdfinfer.predictive`), all their events pooled, against the observed set: C2ST (log-scaled features where the theory says so) and the
  quantile MSE of the GANplifying study (Butter et al. 2020): with the :math:`Q`
  equal-probability bins of each observed marginal, :math:`\mathrm{MSE} = \frac{1}{FQ}\sum_{f,q}
  (\hat p_{fq} - 1/Q)^2` for the fractions :math:`\hat p_{fq}` of predictive events per bin.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from pdfinfer.errors import DataError
from pdfinfer.params import PARAM_NAMES, to_physical
from pdfinfer.theory import log_flagged


def parameter_summary(
    samples: np.ndarray, truth: np.ndarray, reference_std: np.ndarray | None = None
) -> dict[str, dict[str, Any]]:
    """Per-parameter statistics in physical units of draws ``(K, 6)`` (normalized) against ``truth`` ``(6,)``."""
    theta = to_physical(np.asarray(samples, dtype=np.float64))
    theta_star = to_physical(np.asarray(truth, dtype=np.float64))
    q = np.quantile(theta, [0.025, 0.16, 0.5, 0.84, 0.975], axis=0)
    mean, std = theta.mean(axis=0), theta.std(axis=0, ddof=1)
    out = {}
    for i, name in enumerate(PARAM_NAMES):
        out[name] = {
            "mean": float(mean[i]),
            "std": float(std[i]),
            "median": float(q[2, i]),
            "ci68": [float(q[1, i]), float(q[3, i])],
            "ci95": [float(q[0, i]), float(q[4, i])],
            "pull": float((mean[i] - theta_star[i]) / std[i]) if std[i] > 0 else None,
            "covered68": bool(q[1, i] <= theta_star[i] <= q[3, i]),
            "covered95": bool(q[0, i] <= theta_star[i] <= q[4, i]),
            "width_ratio": float(std[i] / reference_std[i]) if reference_std is not None and reference_std[i] > 0 else None,
        }
    return out


def joint_credibility(samples: np.ndarray, truth: np.ndarray) -> float:
    """Credibility level ``alpha*`` of ``truth`` ``(6,)`` in the Mahalanobis ordering of ``samples`` ``(K, 6)``."""
    samples = np.asarray(samples, dtype=np.float64)
    mean = samples.mean(axis=0)
    precision = np.linalg.pinv(np.cov(samples, rowvar=False))
    centred = samples - mean
    dist = np.einsum("ki,ij,kj->k", centred, precision, centred)
    diff = np.asarray(truth) - mean
    return float(np.mean(dist < diff @ precision @ diff))


def relative_l2_error(samples: np.ndarray, truth: np.ndarray) -> float:
    """``||mean(samples) - truth|| / ||truth||`` in normalized parameters."""
    return float(np.linalg.norm(np.asarray(samples).mean(axis=0) - truth) / np.linalg.norm(truth))


def subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``n`` rows of ``x`` drawn without replacement (all rows, shuffled, if fewer)."""
    return x[rng.permutation(len(x))[:n]]


def c2st(x: np.ndarray, y: np.ndarray, max_samples: int = 2000, folds: int = 5, seed: int = 0, threads: int = 1) -> float:
    """Classifier two-sample test accuracy of ``x`` ``(n, D)`` vs ``y`` ``(m, D)`` (sbi's MLP C2ST).

    sklearn's MLP runs on numpy's BLAS, limited here to ``threads`` threads (unlimited BLAS
    threads on a busy machine slow it down by an order of magnitude).
    """
    from sbi.utils.metrics import c2st as sbi_c2st

    rng = np.random.default_rng(seed)
    n = min(max_samples, len(x), len(y))
    if n < 2 * folds:
        raise DataError(f"C2ST needs at least {2 * folds} rows per side, got {len(x)} and {len(y)}")
    xs = torch.as_tensor(subsample(np.asarray(x, dtype=np.float32), n, rng))
    ys = torch.as_tensor(subsample(np.asarray(y, dtype=np.float32), n, rng))
    with threadpool_limits(limits=max(1, threads)):
        return float(sbi_c2st(xs, ys, seed=int(seed % 2**31), n_folds=folds, classifier="mlp"))


def event_view(events: np.ndarray, log_features: Sequence[bool]) -> np.ndarray:
    """Events ``(N, F)`` with the features the theory marks as log-scaled replaced by their log."""
    return log_flagged(np.asarray(events, dtype=np.float64), log_features)


def quantile_mse(observed: np.ndarray, predicted: np.ndarray, n_quantiles: int) -> np.ndarray:
    """Quantile MSE per feature ``(F,)`` of ``predicted`` ``(M, F)`` in the equal-probability bins of ``observed`` ``(N, F)``."""
    inner = np.linspace(0.0, 1.0, n_quantiles + 1)[1:-1]
    out = np.empty(observed.shape[1])
    for f in range(observed.shape[1]):
        edges = np.quantile(observed[:, f], inner)
        counts = np.bincount(np.searchsorted(edges, predicted[:, f], side="right"), minlength=n_quantiles)
        out[f] = np.mean((counts / len(predicted) - 1.0 / n_quantiles) ** 2)
    return out


def equal_probability_edges(events: np.ndarray, n_quantiles: int) -> list[np.ndarray]:
    """Inner edges ``(Q - 1,)`` per feature of the ``Q`` equal-probability bins of ``events`` ``(M, F)``."""
    inner = np.linspace(0.0, 1.0, n_quantiles + 1)[1:-1]
    return [np.quantile(events[:, f], inner) for f in range(events.shape[1])]


def binned_mse(edges: Sequence[np.ndarray], events: np.ndarray) -> float:
    r"""Quantile MSE :math:`\frac1{FQ}\sum_{f,q}(\hat p_{fq} - 1/Q)^2` of ``events`` ``(M, F)`` in fixed bins."""
    q = len(edges[0]) + 1
    out = [
        np.mean((np.bincount(np.searchsorted(e, events[:, f], side="right"), minlength=q) / len(events) - 1.0 / q) ** 2)
        for f, e in enumerate(edges)
    ]
    return float(np.mean(out))


def quantile_mse_curve(
    edges: Sequence[np.ndarray], truth: np.ndarray, sizes: Sequence[int], repeats: int, rng: np.random.Generator
) -> np.ndarray:
    """Mean quantile MSE ``(S,)`` of ``n`` true events (random subsets of ``truth`` ``(M, F)``) for each ``n`` in ``sizes``."""
    return np.array([np.mean([binned_mse(edges, subsample(truth, n, rng)) for _ in range(repeats)]) for n in sizes])


def expected_quantile_mse(n: np.ndarray | float, n_quantiles: int, bin_events: int) -> np.ndarray | float:
    r"""Expected quantile MSE of ``n`` true events in the equal-probability bins of ``bin_events`` other true events.

    With exact quantile bins the counts are multinomial with :math:`p = 1/Q`, so
    :math:`\mathbb E[\hat p - 1/Q]^2 = (Q-1)/(Q^2 n)`; bins estimated from :math:`M` events add the
    same term with :math:`n \to M`: :math:`c\,(1/n + 1/M)`, :math:`c = (Q-1)/Q^2`.
    """
    c = (n_quantiles - 1) / n_quantiles**2
    return c * (1.0 / np.asarray(n, dtype=float) + 1.0 / bin_events)


def amplification(mse: float, n_quantiles: int, bin_events: int) -> dict[str, Any]:
    r"""Effective number of true events of a sample with quantile MSE ``mse`` (GANplifying, Butter et al. 2020).

    The :math:`n_{eff}` whose expected MSE (:func:`expected_quantile_mse`) equals ``mse``:
    :math:`n_{eff} = c / (\mathrm{mse} - c/M)`. When ``mse`` is at or below the floor :math:`2c/M`
    the sample cannot be told from :math:`M` true events at this binning, and :math:`n_{eff} = M`
    is returned as a lower bound (``bound = "lower"``).
    """
    c = (n_quantiles - 1) / n_quantiles**2
    excess = mse - c / bin_events
    if excess <= c / bin_events:
        return {"effective_events": float(bin_events), "bound": "lower"}
    return {"effective_events": float(c / excess), "bound": None}
