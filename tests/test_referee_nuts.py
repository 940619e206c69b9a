"""The referee's NUTS sampler (pyro) on toy posteriors with known densities, against grid posteriors.

Tolerances: for ``n`` independent draws the Kolmogorov-Smirnov distance exceeds ``1.63 / sqrt(n)``
with probability 1% (asymptotic Kolmogorov distribution). MCMC draws are correlated, so ``n`` is
the sampler's own bulk ESS, not the draw count; the test also requires that ESS to be large
enough that the threshold is meaningful (a sampler that ignores the logit Jacobian shifts these
toys' marginals by 0.1 or more, far beyond it).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from pdfinfer.reference.diagnostics import ess_tail
from pdfinfer.reference.nuts import log_jacobian, run_nuts
from pdfinfer.reference.result import ConvergenceError
from pdfinfer.reference.settings import ReferenceSettings

torch.set_num_threads(1)


class GaussianBoxPosterior:
    """A toy with the :class:`~pdfinfer.reference.likelihood.LogPosterior` interface: a Gaussian
    ``N(mean (D,), cov (D, D))`` restricted to the unit box."""

    def __init__(self, mean: list[float], cov: list[list[float]]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float64)
        self.precision = torch.linalg.inv(torch.tensor(cov, dtype=torch.float64))
        self.dim = len(mean)
        self.names = tuple(f"x{i}" for i in range(self.dim))
        self.device = torch.device("cpu")
        self.n_calls = 0

    def torch_log_prob(self, eta: torch.Tensor) -> torch.Tensor:
        d = eta - self.mean
        return -0.5 * torch.einsum("bi,ij,bj->b", d, self.precision, d)

    def __call__(self, eta: np.ndarray) -> np.ndarray:
        eta = np.atleast_2d(eta)
        self.n_calls += 1
        with torch.no_grad():
            values = self.torch_log_prob(torch.as_tensor(eta, dtype=torch.float64)).numpy()
        return np.where(np.all((eta >= 0) & (eta <= 1), axis=1), values, -np.inf)

    def value_and_grad(self, eta: np.ndarray) -> tuple[float, np.ndarray]:
        row = torch.as_tensor(np.asarray(eta, dtype=np.float64)[None]).requires_grad_(True)
        value = self.torch_log_prob(row).sum()
        (grad,) = torch.autograd.grad(value, row)
        return float(value.detach()), grad[0].numpy()


def toy_settings(**overrides) -> ReferenceSettings:
    values = {
        "sampler": "nuts",
        "n_chains": 3,
        "ess_target": 300,
        "n_samples": 1500,
        "nuts": {"warmup": 150, "draws": 500, "max_draws": 2000},
    }
    values.update(overrides)
    return ReferenceSettings.from_config(values)


def grid_cdf(log_density: np.ndarray, grid: np.ndarray) -> np.ndarray:
    density = np.exp(log_density - log_density.max())
    cdf = integrate.cumulative_trapezoid(density, grid, initial=0.0)
    return cdf / cdf[-1]


def ks_threshold(ess: float) -> float:
    return 1.63 / math.sqrt(ess)


def test_log_jacobian_of_the_logit_transform():
    u = torch.linspace(-6, 6, 13, dtype=torch.float64).reshape(13, 1).requires_grad_(True)
    (derivative,) = torch.autograd.grad(torch.sigmoid(u).sum(), u)
    assert torch.allclose(log_jacobian(u), torch.log(derivative)[:, 0])


@pytest.mark.slow
def test_nuts_matches_grid_posterior_in_one_dimension():
    """A Gaussian cut by the box edge (mean 0.15, sd 0.15): a third of its mass would lie below 0."""
    post = GaussianBoxPosterior([0.15], [[0.15**2]])
    result = run_nuts(post, toy_settings(), seed=1)
    assert result.samples.shape == (1500, 1) and np.all((result.samples > 0) & (result.samples < 1))
    assert result.rhat[0] <= 1.01 and min(result.ess_bulk[0], result.ess_tail[0]) >= 300
    grid = np.linspace(0.0, 1.0, 4001)
    cdf = grid_cdf(post(grid[:, None]), grid)
    distance = stats.kstest(result.samples[:, 0], lambda x: np.interp(x, grid, cdf)).statistic
    assert distance < ks_threshold(min(result.ess_bulk[0], len(result.samples))), f"KS distance {distance:.4f}"


@pytest.mark.slow
def test_nuts_matches_grid_posterior_of_a_correlated_pair():
    """A ridge like the normalization-off one: correlation 0.95, sd 0.3 along it, cut by the box."""
    post = GaussianBoxPosterior([0.6, 0.5], [[0.09, 0.95 * 0.3 * 0.25], [0.95 * 0.3 * 0.25, 0.0625]])
    result = run_nuts(post, toy_settings(), seed=2)
    assert np.all(result.rhat <= 1.01)
    grid = np.linspace(0.0, 1.0, 801)
    x, y = np.meshgrid(grid, grid, indexing="ij")
    log_density = post(np.stack([x.ravel(), y.ravel()], axis=1)).reshape(x.shape)
    density = np.exp(log_density - log_density.max())
    for axis in (0, 1):
        marginal = np.log(integrate.trapezoid(density, grid, axis=1 - axis))
        cdf = grid_cdf(marginal, grid)
        distance = stats.kstest(result.samples[:, axis], lambda t, c=cdf: np.interp(t, grid, c)).statistic
        assert distance < ks_threshold(min(result.ess_bulk[axis], len(result.samples))), f"x{axis}: KS distance {distance:.4f}"
    # Correlation of the draws vs the grid's; the standard error of a correlation near 0.9 from
    # n independent draws is (1 - r^2) / sqrt(n) <= 0.2 / sqrt(300) ~ 0.012: allow 4 of them.
    weights = density / density.sum()
    mean = [np.sum(weights * x), np.sum(weights * y)]
    cov = np.sum(weights * (x - mean[0]) * (y - mean[1]))
    corr = cov / math.sqrt(np.sum(weights * (x - mean[0]) ** 2) * np.sum(weights * (y - mean[1]) ** 2))
    assert abs(np.corrcoef(result.samples.T)[0, 1] - corr) < 0.05


def test_exhausted_budget_names_the_parameter():
    post = GaussianBoxPosterior([0.5, 0.5], [[0.01, 0.0], [0.0, 0.01]])
    settings = toy_settings(ess_target=10**6, n_samples=40, nuts={"warmup": 20, "draws": 20, "max_draws": 20})
    with pytest.raises(
        ConvergenceError,
        match=r"NUTS not converged: x[01] has R-hat \d\.\d{4} \(max 1\.01\), bulk ESS \d+, tail ESS \d+ "
        r"\(target 1e\+06\) after 20 draws x 3 chains \(reference\.nuts\.max_draws = 20; raise it\)",
    ):
        run_nuts(post, settings, seed=3)


def test_tail_ess_of_independent_draws_is_near_the_draw_count():
    # The indicator of the 5% quantile of iid draws has ESS ~ n; its estimate's spread is a few percent.
    draws = np.random.default_rng(4).standard_normal((4, 1000))
    assert 0.8 * draws.size < ess_tail(draws) < 1.2 * draws.size
    # AR(1) with rho 0.9 is ~19x less efficient for the bulk; the tail indicators lose less but clearly.
    rho, noise = 0.9, np.random.default_rng(5).standard_normal((4, 4000))
    chains = np.zeros_like(noise)
    for t in range(1, noise.shape[1]):
        chains[:, t] = rho * chains[:, t - 1] + math.sqrt(1 - rho**2) * noise[:, t]
    assert ess_tail(chains) < 0.3 * chains.size
