r"""The reference posterior with pyro's No-U-Turn sampler on the logit-transformed prior box.

**Transform.** The prior is uniform on :math:`[0,1]^6`. NUTS runs on :math:`u \in \mathbb R^6` with
:math:`\eta = \sigma(u)` (logistic sigmoid), so no draw can leave the box and the density is smooth:

.. math:: \log \tilde\pi(u) = \log \pi(\sigma(u) \mid x) + \sum_{i=1}^6 \big[\log\sigma(u_i) + \log\sigma(-u_i)\big],

the second term being :math:`\log|\partial\eta/\partial u|`. The potential energy handed to pyro is
:math:`-\log\tilde\pi(u)`, its gradient by autograd through
:meth:`pdfinfer.reference.likelihood.LogPosterior.torch_log_prob`.

**Sampler.** ``pyro.infer.mcmc.NUTS`` (Hoffman & Gelman 2014, multinomial variant as in Stan) with
step-size adaptation (dual averaging to ``target_accept``) and Stan's windowed mass-matrix
adaptation; ``dense_mass`` adapts a full matrix, meant to whiten the linear :math:`N_u/N_d` ridge
of the normalization-off posterior (the likelihood is invariant along it, so only the box and the
Jacobian bound it). The adaptation starts from the Laplace covariance mapped to :math:`u`.

Status: on the 2-parameter toys of ``tests/test_referee_nuts.py`` it matches grid posteriors; on
the real posteriors it is far less efficient than emcee so far (tree depth near the maximum, step
sizes ~0.05 in whitened units, see ``benchmarks/bench_referee.py``), so emcee stays the default.

**Procedure** (:func:`run_nuts`):

1. the MAP (L-BFGS-B, :func:`~pdfinfer.reference.likelihood.find_map`) and its Laplace covariance
   :math:`\Sigma`; ``n_chains`` dispersed starts from :math:`\mathcal N(\eta_{MAP}, s^2\Sigma)`
   (``start_scale`` :math:`s`), clipped into :math:`[0.02, 0.98]^6`;
2. per chain, ``warmup`` adaptation iterations (discarded), then ``draws`` kept draws;
3. split R-hat and bulk/tail ESS over the chains (:mod:`pdfinfer.reference.diagnostics`); while a
   parameter misses the budget (ESS >= ``ess_target``, R-hat <= ``rhat_max``) every chain is
   extended (by the factor the ESS falls short, at least 1.25x) up to ``max_draws`` per chain,
   then :class:`~pdfinfer.reference.result.ConvergenceError` names the parameter
   (:func:`pdfinfer.reference.budget.sample_to_budget`, the loop shared with emcee);
4. the pooled draws are thinned evenly to ``n_samples``.

The chains run one after the other in one process (pyro's multi-chain mode forks processes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.nn.functional import logsigmoid

from pdfinfer.reference.budget import sample_to_budget
from pdfinfer.reference.diagnostics import chain_diagnostics
from pdfinfer.reference.likelihood import LogPosterior, find_map, laplace_covariance
from pdfinfer.reference.result import SamplerResult, thin_evenly
from pdfinfer.reference.settings import ReferenceSettings
from pdfinfer.runtime import progress

log = logging.getLogger("pdfinfer.reference")


def log_jacobian(u: torch.Tensor) -> torch.Tensor:
    """:math:`\\log|\\partial\\sigma(u)/\\partial u|` summed over the last axis: ``(*, D) -> (*)``."""
    return (logsigmoid(u) + logsigmoid(-u)).sum(-1)


def potential_fn(posterior: LogPosterior) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
    """pyro potential ``{"u": (D,)} -> ()``: minus the log-density of ``u`` (Jacobian included)."""

    def potential(params: dict[str, torch.Tensor]) -> torch.Tensor:
        u = params["u"]
        return -(posterior.torch_log_prob(torch.sigmoid(u)[None])[0] + log_jacobian(u))

    return potential


def dispersed_starts(
    posterior: LogPosterior, n_chains: int, scale: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The MAP ``(D,)``, ``n_chains`` starts ``(C, D)`` drawn around it from the scaled Laplace
    approximation, and that approximation's covariance mapped to ``u`` space ``(D, D)`` (the
    initial inverse mass matrix)."""
    center = find_map(posterior, rng.uniform(0.05, 0.95, size=(2, posterior.dim)))
    cov = laplace_covariance(posterior, center)
    starts = np.clip(rng.multivariate_normal(center, scale**2 * cov, size=n_chains, method="eigh"), 0.02, 0.98)
    finite = np.isfinite(posterior(starts))
    starts[~finite] = np.clip(center, 0.02, 0.98)
    inner = np.clip(center, 0.02, 0.98)
    scale_u = 1.0 / (inner * (1.0 - inner))  # du/deta at the MAP
    cov_u = scale_u[:, None] * cov * scale_u[None, :]
    values, vectors = np.linalg.eigh(0.5 * (cov_u + cov_u.T))
    cov_u = (vectors * np.clip(values, 1e-8, 4.0)) @ vectors.T  # a logistic marginal has variance 3.3
    return center, starts, cov_u


class Chain:
    """One NUTS chain driven step by step (so it can be extended); draws kept in ``u`` space."""

    def __init__(self, posterior: LogPosterior, start: np.ndarray, inverse_mass: np.ndarray, settings: ReferenceSettings) -> None:
        from pyro.infer.mcmc import NUTS

        s = settings.nuts
        self.kernel = NUTS(
            potential_fn=potential_fn(posterior),
            full_mass=s.dense_mass,
            target_accept_prob=s.target_accept,
            max_tree_depth=s.max_tree_depth,
            adapt_step_size=True,
            adapt_mass_matrix=True,
        )
        u0 = torch.logit(torch.as_tensor(start, dtype=torch.float64, device=posterior.device))
        self.kernel.initial_params = {"u": u0}
        self.kernel.setup(s.warmup)
        # Start adaptation from the Laplace covariance instead of the identity: the first window
        # otherwise needs trajectories of hundreds of leapfrog steps.
        matrix = torch.as_tensor(inverse_mass, dtype=torch.float64, device=posterior.device)
        self.kernel.mass_matrix_adapter.inverse_mass_matrix = {("u",): matrix if s.dense_mass else torch.diagonal(matrix).clone()}
        self.kernel._adapter.reset_step_size_adaptation({"u": u0})  # pyro has no public hook for an initial mass matrix
        self.params = {"u": u0}
        self.warmup = s.warmup
        self.draws: list[torch.Tensor] = []

    def advance(self, steps: int, keep: bool, desc: str) -> None:
        """``steps`` NUTS iterations (the first ``warmup`` ones adapt); kept ones appended to ``draws``."""
        with progress(total=steps, desc=desc, unit="draw") as bar:
            for _ in range(steps):
                self.params = self.kernel.sample(self.params)
                if keep:
                    self.draws.append(self.params["u"].detach().clone())
                bar.update(1)

    def eta(self) -> np.ndarray:
        """Kept draws in the box, ``(N, D)``."""
        return torch.sigmoid(torch.stack(self.draws)).cpu().numpy()

    def stats(self) -> dict[str, float]:
        """Step size, acceptance rate and number of divergent transitions after warmup."""
        diag = self.kernel.diagnostics()
        return {
            "step_size": float(self.kernel.step_size),
            "acceptance": float(diag["acceptance rate"]),
            "divergences": len(diag["divergences"]),
        }


def run_nuts(posterior: LogPosterior, settings: ReferenceSettings, seed: int) -> SamplerResult:
    """Sample the exact posterior with NUTS (see the module docstring); raises :class:`ConvergenceError`."""
    import pyro

    settings.check_all()
    start_time = time.perf_counter()
    pyro.set_rng_seed(seed % 2**32)  # seeds torch, numpy and random; pyro draws from torch
    rng = np.random.default_rng(seed)
    map_eta, starts, inverse_mass = dispersed_starts(posterior, settings.n_chains, settings.nuts.start_scale, rng)
    chains = [Chain(posterior, start, inverse_mass, settings) for start in starts]
    for c, chain in enumerate(chains):
        chain.advance(settings.nuts.warmup, keep=False, desc=f"warmup {c}")

    def extend(length: int) -> None:
        for c, chain in enumerate(chains):
            chain.advance(length - len(chain.draws), keep=True, desc=f"chain {c}")

    length, (rhat, bulk, tail) = sample_to_budget(
        extend,
        lambda: chain_diagnostics(np.stack([chain.eta() for chain in chains])),
        posterior.names,
        max(settings.nuts.draws, -(-settings.n_samples // settings.n_chains)),
        settings.nuts.max_draws,
        settings.ess_target,
        settings.rhat_max,
        "NUTS",
        "reference.nuts.max_draws",
        f"{len(chains)} chains",
    )
    draws = np.stack([chain.eta() for chain in chains])  # (C, N, D)
    flat = draws.reshape(-1, posterior.dim)[thin_evenly(draws.reshape(-1, posterior.dim), settings.n_samples)]
    stats = [chain.stats() for chain in chains]
    return SamplerResult(
        sampler="nuts",
        samples=flat,
        log_prob=posterior(flat),
        rhat=rhat,
        ess_bulk=bulk,
        ess_tail=tail,
        map_eta=map_eta,
        n_draws=length,
        seconds=time.perf_counter() - start_time,
        extras={key: np.array([s[key] for s in stats]) for key in ("step_size", "acceptance", "divergences")},
        info={"n_draws_per_chain": length, "divergences": int(sum(s["divergences"] for s in stats))},
    )
