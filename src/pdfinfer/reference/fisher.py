r"""Fisher information at the truth and the Cramér-Rao bound, with degenerate directions named.

Per event, in normalized parameters,

.. math:: I_1(\eta^*) = -\,\mathbb E_{x \sim p(\cdot \mid \eta^*)}\big[\nabla^2_\eta \log p(x \mid \eta)\big]_{\eta = \eta^*},

computed as the autograd Hessian of the *expected* log-likelihood, evaluated by quadrature:
targets are independent and the non-x features have a parameter-free conditional density, so

.. math:: \mathbb E_{\eta^*}[\log p(x \mid \eta)] = \sum_t \int p_t(x \mid \eta^*)
          \big[\log g_t(x; \eta) - \log Z_t(\eta)\big]\,dx + \text{const}

(composite tanh-sinh rule on ``n_panels`` panels of the x-range). No Monte Carlo noise, and the
Hessian is exactly zero along a direction that leaves every :math:`p_t` unchanged. The normalization observable :math:`z_t \sim \mathcal N(Z_t, (r Z_t)^2)` adds, per target,
the Gaussian Fisher information with a parameter-dependent width,

.. math:: I_z = \sum_t \Big(\frac{1}{r^2} + 2\Big) \frac{\nabla Z_t \nabla Z_t^\top}{Z_t^2}.

For ``n`` events :math:`I = n I_1 + I_z`. Eigen-directions :math:`v` with eigenvalue below
``rel_tol`` times the largest carry no information (the :math:`N_u, N_d` scaling ridge when the
normalization is not observed: :math:`\log p` is exactly invariant along it). Parameter
:math:`i` is estimable iff :math:`e_i` is orthogonal to all of them; then its bound is
:math:`\sigma_i \ge \sqrt{e_i^\top I^{+} e_i}`, otherwise no finite bound exists and the
parameter is reported as degenerate. Bounds are converted to physical units with the box widths.
With the sum-rule constraint on (``observation.constraints``), its information
:func:`pdfinfer.constraints.sumrules.constraint_fisher` is added to :math:`I` like a measurement.

**Prior-aware bound** (:func:`prior_aware`). The Cramér-Rao bound ignores the prior, so in a
near-degenerate direction it can exceed the prior's own spread; such a bound is marked
*prior-limited*: :math:`\sqrt{(I^{+})_{ii}} > 1/\sqrt{12}`, the standard deviation of the uniform
prior on :math:`[0, 1]` (degenerate parameters are prior-limited too). Beside it stands the van
Trees (Bayesian Cramér-Rao) bound: for any estimator and prior :math:`p`,

.. math:: \mathbb E\big[(\hat\eta - \eta)(\hat\eta - \eta)^\top\big] \succeq
          \big(\mathbb E_p[I(\eta)] + J_p\big)^{-1}, \qquad J_p = \mathbb E_p[\nabla\log p\,\nabla\log p^\top].

The box prior has no finite :math:`J_p` (its density jumps at the edges), so the standard
Gaussian-prior form is used: the box is replaced by the Gaussian of the same covariance,
:math:`\Sigma_0 = \tfrac1{12}\mathbb 1` (:math:`J_p = \Sigma_0^{-1} = 12\,\mathbb 1`), and
:math:`\mathbb E_p[I]` by :math:`I(\eta^*)` (the local form),

.. math:: \sigma_i^{B} = \sqrt{\big[(I(\eta^*) + \Sigma_0^{-1})^{-1}\big]_{ii}} .

It is exact for a linear-Gaussian model with that Gaussian prior (the posterior covariance), is
finite in every direction and never exceeds the prior's :math:`1/\sqrt{12}`.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch

from pdfinfer.params import PARAM_NAMES, WIDTHS
from pdfinfer.theory import Theory
from pdfinfer.theory.quadrature import tanh_sinh_nodes


def composite_nodes(lo: float, hi: float, n_panels: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Nodes ``x``, distances ``hi - x`` and weights of a composite tanh-sinh rule, each ``(M,)``."""
    cuts = np.linspace(lo, hi, n_panels + 1)
    pieces = [tanh_sinh_nodes(float(a), float(b)) for a, b in itertools.pairwise(cuts)]
    x = torch.cat([p.x for p in pieces])
    dist = torch.cat([p.dist_hi + (hi - float(b)) for p, b in zip(pieces, cuts[1:])])
    return x, dist, torch.cat([p.weights for p in pieces])


def event_fisher(theory: Theory, eta: np.ndarray, n_panels: int = 16) -> tuple[np.ndarray, float]:
    """Per-event Fisher matrix ``(6, 6)`` in normalized parameters at ``eta`` ``(6,)``, and the
    largest relative mismatch between this rule's normalizers and the theory's (a quadrature check)."""
    x, dist, weights = composite_nodes(theory.x_lo, theory.x_hi, n_panels)
    x, dist = x[None, None, :], dist[None, None, :]
    point = torch.as_tensor(np.asarray(eta, dtype=np.float64))
    with torch.no_grad():
        g_star = theory.x_density(x, dist, point[None])[0]  # (T, M)
        z_star = (g_star * weights).sum(-1)
        check = float(((z_star - theory.normalizers(point[None])[0]).abs() / z_star).max())
        p_star = g_star / z_star[:, None]

    def expected_log_lik(e: torch.Tensor) -> torch.Tensor:
        log_p = torch.log(theory.x_density(x, dist, e[None])[0]) - torch.log(theory.normalizers(e[None])[0])[:, None]
        return (p_star * log_p * weights).sum()

    hessian = torch.autograd.functional.hessian(expected_log_lik, point).numpy()
    fisher = -0.5 * (hessian + hessian.T)
    return fisher, check


def norm_fisher(theory: Theory, eta: np.ndarray, rel_unc: float) -> np.ndarray:
    """Fisher matrix ``(6, 6)`` of the normalization observable with relative uncertainty ``rel_unc``."""
    point = torch.as_tensor(np.asarray(eta, dtype=np.float64))[None]
    z = theory.normalizers(point)[0].detach().numpy()
    jac = torch.autograd.functional.jacobian(lambda e: theory.normalizers(e)[0], point)[:, 0, :].numpy()  # (T, 6)
    scaled = jac / z[:, None]
    return (1.0 / rel_unc**2 + 2.0) * scaled.T @ scaled


def describe_direction(vector: np.ndarray, min_weight: float = 0.05) -> str:
    """A direction ``(6,)`` in normalized space as a readable combination of physical shifts."""
    physical = vector * WIDTHS
    physical = physical / np.linalg.norm(physical)
    if physical[np.argmax(np.abs(physical))] < 0:
        physical = -physical
    terms = [f"{c:+.3f} d{n}" for c, n in zip(physical, PARAM_NAMES) if abs(c) >= min_weight]
    return " ".join(terms)


def cramer_rao(fisher: np.ndarray, rel_tol: float = 1e-8, estimable_tol: float = 1e-4) -> dict[str, Any]:
    """Cramér-Rao bounds per parameter from a total Fisher matrix ``(6, 6)`` in normalized units.

    Returns ``{"bounds": {name: {"normalized", "physical"} or None}, "degenerate_parameters": [...],
    "degenerate_directions": [{"eigenvalue", "relative_eigenvalue", "direction", "vector_normalized"}],
    "eigenvalues": [...]}``.
    """
    values, vectors = np.linalg.eigh(0.5 * (fisher + fisher.T))
    scale = max(float(values.max()), 1e-300)
    null = values < rel_tol * scale
    null_vectors = vectors[:, null]
    inverse = (vectors[:, ~null] / values[~null]) @ vectors[:, ~null].T
    bounds: dict[str, Any] = {}
    degenerate = []
    for i, name in enumerate(PARAM_NAMES):
        if null_vectors.size and np.linalg.norm(null_vectors[i]) > estimable_tol:
            bounds[name] = None
            degenerate.append(name)
        else:
            sigma = float(np.sqrt(inverse[i, i]))
            bounds[name] = {"normalized": sigma, "physical": sigma * float(WIDTHS[i])}
    directions = [
        {
            "eigenvalue": float(values[k]),
            "relative_eigenvalue": float(values[k] / scale),
            "direction": describe_direction(vectors[:, k]),
            "vector_normalized": vectors[:, k].tolist(),
        }
        for k in np.flatnonzero(null)
    ]
    return {
        "bounds": bounds,
        "degenerate_parameters": degenerate,
        "degenerate_directions": directions,
        "eigenvalues": values.tolist(),
    }


#: Standard deviation of the uniform prior on [0, 1] (each normalized parameter).
PRIOR_STD = 1.0 / np.sqrt(12.0)


def bayesian_bound(fisher: np.ndarray, prior_cov: np.ndarray) -> np.ndarray:
    """Gaussian-prior van Trees bound: standard deviations ``(D,)`` ``sqrt(diag((I + Sigma0^-1)^-1))``."""
    precision = 0.5 * (fisher + fisher.T) + np.linalg.inv(prior_cov)
    return np.sqrt(np.diag(np.linalg.inv(precision)))


def prior_aware(fisher: np.ndarray, bounds: dict[str, Any]) -> dict[str, Any]:
    """Prior-limited flags and the van Trees bound of a total Fisher matrix ``(6, 6)`` (normalized units).

    ``bounds`` is :func:`cramer_rao`'s ``"bounds"``. Returns ``{"prior_std": {name: {"normalized",
    "physical"}}, "prior_limited": [names], "bayesian_bound": {name: {"normalized", "physical"}},
    "bayesian_bound_definition": str}``.
    """
    sigma = bayesian_bound(fisher, np.eye(len(PARAM_NAMES)) * PRIOR_STD**2)
    limited = [n for n in PARAM_NAMES if bounds[n] is None or bounds[n]["normalized"] > PRIOR_STD]
    return {
        "prior_std": {n: {"normalized": PRIOR_STD, "physical": PRIOR_STD * float(w)} for n, w in zip(PARAM_NAMES, WIDTHS)},
        "prior_limited": limited,
        "bayesian_bound": {n: {"normalized": float(s), "physical": float(s * w)} for n, s, w in zip(PARAM_NAMES, sigma, WIDTHS)},
        "bayesian_bound_definition": "van Trees, Gaussian prior of the box's covariance (1/12 per normalized parameter), Fisher at eta*",
    }
