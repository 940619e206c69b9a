r"""The NLE posterior of an observed set: the learned iid likelihood under the uniform prior box.

.. math::
    \log \hat\pi(\eta \mid x_{1..N}, z) = \sum_{i=1}^N \log q_\psi(x_i \mid \eta)\; [+\, \log q_\phi(z \mid \eta)]
        + \log \mathbb 1[\eta \in [0, 1]^D] + \text{const}.

:class:`NLELogPosterior` has the interface of :class:`pdfinfer.reference.likelihood.LogPosterior`
(``__call__`` numpy rows ``(B, D) -> (B,)``, ``torch_log_prob``, ``value_and_grad``, ``dim``,
``names``, ``n_calls``, ``device``), so the referee's sampler (:func:`pdfinfer.reference.mcmc.run_mcmc`)
runs on it unchanged: the difference between the two posteriors is then the learned likelihood
only, never the sampler. Evaluation is batched over walkers and events: the observed events are
transformed once, and the flow sees chunks of at most ``chunk_elements`` (walker, event) pairs, so
``N = 102400`` fits in memory; per-event terms are summed in float64.

The walkers move in the referee's coordinates (``nle.mcmc.coordinates``, as
``reference.emcee.coordinates``, :mod:`pdfinfer.reference.coordinates`): with the normalization
observable on, ``auto`` samples :math:`(\log Z_1, \log Z_2, \text{shapes})` through the theory's
normalizers. That map is a bijection of the sampling space with its Jacobian in the target, so the
density sampled is still the learned one above; it only straightens the thin curved ridge the
normalization observable leaves, as it does for the referee. (The R-hat 1.53 of NLE with the
normalization observable on, default problem, was a chain started in a spurious corner mode; see
:data:`pdfinfer.reference.mcmc.START_TOLERANCE`.)

The observed events are put in a canonical (lexicographic) order first, so the sum, and hence
every MCMC draw for a given seed, does not depend on the order of the input file. A NaN
log-likelihood stops the run with a :class:`~pdfinfer.errors.TrainingError` naming the parameter point.
"""

from __future__ import annotations

import numpy as np
import torch

from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.constraints.sumrules import log_factor
from pdfinfer.errors import DataError, TrainingError
from pdfinfer.nle.model import NLEModel
from pdfinfer.nle.settings import NLESettings
from pdfinfer.params import N_PARAMS, PARAM_NAMES, to_physical
from pdfinfer.reference.mcmc import ConvergenceError, MCMCResult, MCMCSettings, run_mcmc
from pdfinfer.theory import Theory


def canonical_order(events: np.ndarray) -> np.ndarray:
    """Events ``(N, F)`` sorted lexicographically (first feature first): a permutation-free representative."""
    events = np.asarray(events)
    return events[np.lexsort(events.T[::-1])]


class NLELogPosterior:
    """Learned log-posterior ``eta (B, D) -> (B,)`` of one observed set (numpy in, numpy out).

    Args:
        model: the trained likelihoods (``model.norm`` is used when ``norm`` is given).
        events: observed events ``(N, F)``.
        norm: measured normalization ``(T,)`` or ``None`` (normalization off).
        device: torch device for the evaluation.
        chunk_elements: bound on (walker, event) pairs per flow call.
        names: parameter names (``D`` of them).
        theory: the observation model, for the sampler's normalization coordinates only (never the density).
        constraint: the prior's sum-rule factor; ``None`` or kind ``none`` = the plain box prior.
    """

    def __init__(
        self,
        model: NLEModel,
        events: np.ndarray,
        norm: np.ndarray | None = None,
        device: torch.device | str = "cpu",
        chunk_elements: int = 1 << 18,
        names: tuple[str, ...] = PARAM_NAMES,
        theory: Theory | None = None,
        constraint: ConstraintSettings | None = None,
    ) -> None:
        events = np.asarray(events)
        n_features = model.events.transform.mean.shape[0]
        if events.ndim != 2 or events.shape[1] != n_features:
            raise DataError(f"observed events must have shape (N, {n_features}) for this NLE model, got {events.shape}")
        if (norm is None) != (model.norm is None):
            raise DataError("the normalization observable must be given exactly when the NLE model has learned q(z | eta)")
        self.model = model.eval()
        self.device = torch.device(device)
        with torch.no_grad():
            y, jac = model.events.transform(torch.as_tensor(canonical_order(events), dtype=torch.float64, device=self.device))
        self.y = y.float()  # (N, F)
        self.log_jacobian = float(jac.sum())  # constant in eta
        self.norm = None if norm is None else torch.as_tensor(np.asarray(norm), dtype=torch.float64, device=self.device)[None]
        self.n_obs = events.shape[0]
        self.event_chunk = max(1, min(self.n_obs, chunk_elements))
        self.rows_per_chunk = max(1, chunk_elements // self.n_obs)
        self.names = tuple(names)
        self.dim = len(self.names)
        self.theory = theory
        self.constraint = constraint if constraint is not None and constraint.enabled else None
        self.n_calls = 0

    def torch_log_prob(self, eta: torch.Tensor, log_z: torch.Tensor | None = None) -> torch.Tensor:
        """Differentiable learned log-likelihood ``(B,)`` of rows ``eta`` ``(B, D)`` (no box check; plus the
        sum-rule factor ``log f`` when the prior has one).

        ``log_z`` (the exact log-normalizers the coordinates pass) is ignored: the normalization term is learned."""
        parts = []
        flow = self.model.events
        for start in range(0, eta.shape[0], self.rows_per_chunk):
            rows = eta[start : start + self.rows_per_chunk]
            total = torch.zeros(rows.shape[0], dtype=torch.float64, device=self.device)
            for first in range(0, self.n_obs, self.event_chunk):
                y = self.y[first : first + self.event_chunk]
                lp = flow.flow_log_prob(y.repeat(rows.shape[0], 1), rows.repeat_interleave(y.shape[0], dim=0))
                total = total + lp.reshape(rows.shape[0], y.shape[0]).sum(-1)
            if self.norm is not None:
                total = total + self.model.norm(self.norm, rows)
            if self.constraint is not None:
                total = total + log_factor(rows, self.constraint)
            parts.append(total + self.log_jacobian)
        return torch.cat(parts)

    def check_finite(self, eta: np.ndarray, values: np.ndarray) -> None:
        """Stop with a one-line :class:`TrainingError` at the first NaN value, naming its parameter point."""
        bad = np.flatnonzero(np.isnan(values))
        if bad.size:
            point = np.asarray(eta[bad[0]], dtype=np.float64)
            where = ", ".join(f"{n}={v:.6g}" for n, v in zip(self.names, point))
            if self.dim == N_PARAMS:
                where += " (physical: " + ", ".join(f"{n}={v:.6g}" for n, v in zip(self.names, to_physical(point))) + ")"
            raise TrainingError(f"NLE log-likelihood is NaN at eta = [{where}]; the learned likelihood is broken there (retrain)")

    def __call__(self, eta: np.ndarray) -> np.ndarray:
        """Log-posterior (up to a constant) of rows ``(B, D)``; ``-inf`` outside the prior box."""
        eta = np.atleast_2d(np.asarray(eta, dtype=np.float64))
        out = np.full(eta.shape[0], -np.inf)
        inside = np.all((eta >= 0.0) & (eta <= 1.0), axis=1)
        if inside.any():
            with torch.no_grad():
                values = self.torch_log_prob(torch.as_tensor(eta[inside], device=self.device)).cpu().numpy()
            self.check_finite(eta[inside], values)
            out[inside] = np.where(np.isfinite(values), values, -np.inf)
        self.n_calls += 1
        return out

    def value_and_grad(self, eta: np.ndarray) -> tuple[float, np.ndarray]:
        """Log-posterior and its gradient at one point ``(D,)`` inside the box."""
        row = torch.as_tensor(np.asarray(eta, dtype=np.float64)[None], device=self.device).requires_grad_(True)
        value = self.torch_log_prob(row).sum()
        self.check_finite(row.detach().cpu().numpy(), np.array([float(value.detach())]))
        (grad,) = torch.autograd.grad(value, row)
        return float(value.detach()), grad[0].cpu().numpy()


def mcmc_settings(settings: NLESettings) -> MCMCSettings:
    """The referee sampler's settings from the ``nle.mcmc`` section and ``nle.n_samples``."""
    m = settings.mcmc
    return MCMCSettings(
        n_chains=m.n_chains,
        n_walkers=m.n_walkers,
        n_burn=m.n_burn,
        n_steps=m.n_steps,
        max_steps=m.max_steps,
        n_samples=settings.n_samples,
        rhat_max=m.rhat_max,
        coordinates=m.coordinates,
    )


def sample_posterior(
    model: NLEModel,
    events: np.ndarray,
    norm: np.ndarray | None,
    settings: NLESettings,
    seed: int,
    device: torch.device | str = "cpu",
    theory: Theory | None = None,
    constraint: ConstraintSettings | None = None,
) -> MCMCResult:
    """MCMC draws ``(K, D)`` of the learned posterior of ``events`` ``(N, F)`` (and ``norm`` ``(T,)``);
    ``theory`` gives the sampler its normalization coordinates (``nle.mcmc.coordinates``), ``constraint``
    the prior's sum-rule factor."""
    posterior = NLELogPosterior(model, events, norm, device, settings.chunk_elements, theory=theory, constraint=constraint)
    try:
        return run_mcmc(posterior, mcmc_settings(settings), seed)
    except ConvergenceError as err:  # the referee's sampler names its own config keys; name ours
        raise ConvergenceError(
            str(err).replace("reference.max_steps", "nle.mcmc.max_steps").replace("reference:", "nle:", 1)
        ) from None
