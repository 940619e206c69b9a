r"""The exact log-posterior of an observed event set under the uniform prior box.

For an observed set :math:`x_{1..N}` (and, when enabled, the normalization measurement
:math:`z` with relative uncertainty :math:`r`),

.. math::
    \log \pi(\eta \mid x) = \sum_{i=1}^N \log p(x_i \mid \eta)
        \;[+\; \log \mathcal N(z;\, Z(\eta),\, (r Z(\eta))^2)] \;[+\; \log f(\eta)] \;+\; \log \mathbb 1[\eta \in [0,1]^6] + \text{const},

with :math:`\log f` the sum-rule factor of the prior when ``observation.constraints`` is on
(:mod:`pdfinfer.constraints.sumrules`), evaluated for a whole batch of parameter rows in one call by
:class:`pdfinfer.theory.observed.ObservedLikelihood`, which computes ``log x``, ``log(1 - x)``, their
sums, the parameter-free part of the density and the support check once per observed set, and then
costs one ``exp`` and one ``log`` per event, target and row (the same torch code on CPU and CUDA,
differentiable). Rows are processed in chunks so that ``B * N * T`` stays below ``max_elements``
(autograd memory for ``n_obs = 102400``). The maximum a posteriori point is found by multi-start
L-BFGS-B on the box with autograd gradients.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from scipy.optimize import minimize

from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.constraints.sumrules import log_factor
from pdfinfer.errors import DataError
from pdfinfer.params import N_PARAMS, PARAM_NAMES
from pdfinfer.theory import Theory
from pdfinfer.theory.observed import ObservedLikelihood

log = logging.getLogger("pdfinfer.reference")


class LogPosterior:
    """Exact log-posterior ``eta (B, 6) -> (B,)`` of one observed set (numpy in, numpy out).

    Args:
        theory: the observation model.
        events: observed events ``(N, F)``.
        norm: measured normalization ``(T,)``, used only if ``rel_unc`` is given.
        rel_unc: relative uncertainty of the normalization observable; ``None`` = not observed.
        device: torch device for the evaluation.
        max_elements: bound on ``B * N * T`` per chunk of rows.
        where: names the events in errors (e.g. the file they came from).
        constraint: the prior's sum-rule factor; ``None`` or kind ``none`` = the plain box prior.

    Events outside the theory's support are refused with a one-line :class:`DataError` naming the
    event (they would make the posterior vanish everywhere).
    """

    def __init__(
        self,
        theory: Theory,
        events: np.ndarray,
        norm: np.ndarray | None = None,
        rel_unc: float | None = None,
        device: torch.device | str = "cpu",
        max_elements: int = 1 << 24,
        where: str = "observed events",
        constraint: ConstraintSettings | None = None,
    ) -> None:
        events = np.asarray(events)
        if events.ndim != 2 or events.shape[1] != theory.n_features:
            raise DataError(
                f"observed events must have shape (N, {theory.n_features}) for theory {theory.name!r}, got {events.shape}"
            )
        theory.check_support(events, where)
        self.theory = theory
        self.device = torch.device(device)
        self.events = torch.as_tensor(events, dtype=torch.float64, device=self.device)[None]  # (1, N, F)
        self.likelihood = ObservedLikelihood(theory, self.events[0], self.device)
        self.n_obs = events.shape[0]
        self.rel_unc = rel_unc
        self.norm = None
        if rel_unc is not None:
            if norm is None or np.shape(norm) != (theory.n_targets,):
                raise DataError(
                    f"normalization observable must have shape ({theory.n_targets},), got {None if norm is None else np.shape(norm)}"
                )
            self.norm = torch.as_tensor(np.asarray(norm), dtype=torch.float64, device=self.device)[None]
        self.constraint = constraint if constraint is not None and constraint.enabled else None
        self.rows_per_chunk = max(1, max_elements // (self.n_obs * theory.n_targets))
        self.n_calls = 0
        self.dim = N_PARAMS
        self.names: tuple[str, ...] = PARAM_NAMES

    def torch_log_prob(self, eta: torch.Tensor, log_z: torch.Tensor | None = None) -> torch.Tensor:
        """Differentiable log-likelihood ``(B,)`` for ``eta`` ``(B, 6)`` inside the box (no prior check).

        Same value as ``theory.log_prob(events, eta).sum(-1)`` (+ the normalization term), to rounding.
        ``log_z``: the log-normalizers ``log Z_t(eta)`` ``(B, T)`` when the caller already has them.
        """
        parts = []
        for start in range(0, eta.shape[0], self.rows_per_chunk):
            rows = eta[start : start + self.rows_per_chunk]
            if log_z is None:
                z = self.theory.normalizers(rows)
                log_zs = torch.log(z)
            else:
                log_zs = log_z[start : start + self.rows_per_chunk]
                z = torch.exp(log_zs)
            lp = self.likelihood(rows, log_zs)
            if self.norm is not None:
                lp = lp + self.theory.norm_log_prob(self.norm, rows, self.rel_unc, z=z)
            if self.constraint is not None:
                lp = lp + log_factor(rows, self.constraint)
            parts.append(lp)
        return torch.cat(parts)

    def __call__(self, eta: np.ndarray) -> np.ndarray:
        """Log-posterior (up to a constant) of rows ``(B, D)``; ``-inf`` outside the prior box."""
        eta = np.atleast_2d(np.asarray(eta, dtype=np.float64))
        out = np.full(eta.shape[0], -np.inf)
        inside = np.all((eta >= 0.0) & (eta <= 1.0), axis=1)
        if inside.any():
            with torch.no_grad():
                rows = torch.as_tensor(eta[inside], device=self.device)
                values = self.torch_log_prob(rows).cpu().numpy()
            out[inside] = np.where(np.isfinite(values), values, -np.inf)
        self.n_calls += 1
        return out

    def value_and_grad(self, eta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log-posterior and its gradient at one point ``(D,)`` inside the box."""
        row = torch.as_tensor(np.asarray(eta, dtype=np.float64)[None], device=self.device).requires_grad_(True)
        value = self.torch_log_prob(row).sum()
        (grad,) = torch.autograd.grad(value, row)
        return float(value.detach()), grad[0].cpu().numpy()


class SubspacePosterior(LogPosterior):
    """The posterior of some parameters with the others held fixed: ``eta_free (B, D) -> (B,)``.

    Args:
        posterior: the full 6-parameter posterior.
        free: indices of the free parameters (``D`` of them).
        fixed: normalized values ``(6,)`` of all parameters; the free entries are ignored.
    """

    def __init__(self, posterior: LogPosterior, free: list[int], fixed: np.ndarray) -> None:
        self.__dict__.update(posterior.__dict__)
        self.free = list(free)
        self.fixed = np.asarray(fixed, dtype=np.float64)
        self.dim = len(self.free)
        self.names = tuple(PARAM_NAMES[i] for i in self.free)

    def embed(self, eta_free: torch.Tensor) -> torch.Tensor:
        """Full parameter rows ``(B, 6)`` from free ones ``(B, D)`` (differentiable)."""
        full = torch.as_tensor(self.fixed, dtype=eta_free.dtype, device=eta_free.device).repeat(eta_free.shape[0], 1)
        return full.index_copy(1, torch.as_tensor(self.free, device=eta_free.device), eta_free)

    def torch_log_prob(self, eta: torch.Tensor) -> torch.Tensor:
        return super().torch_log_prob(self.embed(eta))


def laplace_covariance(posterior: LogPosterior, eta: np.ndarray, max_std: float = 0.3) -> np.ndarray:
    """Covariance ``(D, D)`` of the Laplace approximation at ``eta`` ``(D,)``: the inverse of the
    negative Hessian of the log-posterior, with every eigen-direction's standard deviation capped
    at ``max_std`` (flat and non-concave directions, e.g. the normalization ridge, get ``max_std``)."""
    point = torch.as_tensor(np.clip(np.asarray(eta, dtype=np.float64), 1e-6, 1 - 1e-6), device=posterior.device)
    with torch.enable_grad():
        hessian = torch.autograd.functional.hessian(lambda e: posterior.torch_log_prob(e[None]).sum(), point).cpu().numpy()
    values, vectors = np.linalg.eigh(-0.5 * (hessian + hessian.T))
    values = np.where(np.isfinite(values), values, 0.0)
    return (vectors / np.maximum(values, 1.0 / max_std**2)) @ vectors.T


def find_map(posterior: LogPosterior, starts: np.ndarray, margin: float = 1e-6) -> np.ndarray:
    """Maximum a posteriori point ``(D,)``: L-BFGS-B from each start ``(S, D)`` on the box, best kept."""
    best_x, best_value = None, -np.inf

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = posterior.value_and_grad(x)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e300, np.zeros_like(x)
        return -value, -grad

    for start in np.asarray(starts, dtype=np.float64):
        result = minimize(
            objective, np.clip(start, margin, 1 - margin), jac=True, method="L-BFGS-B", bounds=[(margin, 1 - margin)] * len(start)
        )
        value = -float(result.fun)
        if value > best_value:
            best_x, best_value = result.x, value
    if best_x is None or not np.isfinite(best_value):
        raise DataError(
            "the log-likelihood of the observed set is -inf or NaN at every optimizer start (events outside the theory's support?)"
        )
    log.info("MAP log-posterior %.4f at eta = %s", best_value, np.array2string(best_x, precision=4))
    return best_x
