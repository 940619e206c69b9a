"""Reference posterior: diagnostics, MCMC against a grid posterior, Fisher bound, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from pdfinfer.errors import ConfigError
from pdfinfer.io import read_events, read_samples, write_events
from pdfinfer.params import PARAM_NAMES, THETA_MAX, THETA_MIN, TRUTH, TRUTH_PHYSICAL
from pdfinfer.reference import run as reference_run
from pdfinfer.reference.diagnostics import ess_bulk, split_rhat, summarize_chains
from pdfinfer.reference.fisher import cramer_rao, event_fisher, norm_fisher
from pdfinfer.reference.likelihood import LogPosterior, SubspacePosterior
from pdfinfer.reference.mcmc import ConvergenceError, MCMCSettings, run_mcmc
from pdfinfer.reference.settings import ReferenceSettings
from pdfinfer.theory import make_theory


@pytest.fixture(scope="module")
def proxy():
    return make_theory("proxy")


def observed_events(theory, n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return theory.sample(torch.as_tensor(TRUTH)[None], n, generator=generator)[0].numpy()


# ------------------------------------------------------------------ diagnostics
def ar1_chains(n_chains, n_draws, rho, rng):
    noise = rng.standard_normal((n_chains, n_draws)) * np.sqrt(1 - rho**2)
    chains = np.empty_like(noise)
    chains[:, 0] = rng.standard_normal(n_chains)
    for t in range(1, n_draws):
        chains[:, t] = rho * chains[:, t - 1] + noise[:, t]
    return chains


def test_rhat_and_ess_on_known_chains():
    rng = np.random.default_rng(1)
    iid = rng.standard_normal((4, 2000))
    assert split_rhat(iid) < 1.01
    # iid: ESS ~ 8000; its sampling spread is a few percent.
    assert 0.85 * iid.size < ess_bulk(iid) < 1.15 * iid.size
    # AR(1) with rho = 0.8: integrated autocorrelation time (1 + rho) / (1 - rho) = 9.
    ar = ar1_chains(4, 5000, 0.8, rng)
    assert ar.size / 9 * 0.75 < ess_bulk(ar) < ar.size / 9 * 1.25
    # One chain shifted by one standard deviation: clearly not converged.
    shifted = iid.copy()
    shifted[0] += 1.0
    assert split_rhat(shifted) > 1.1
    # A chain that drifts (trend) is caught by splitting even if all chains agree.
    trend = iid + np.linspace(0, 2, iid.shape[1])[None]
    assert split_rhat(trend) > 1.1


def test_summarize_chains_uses_ensembles_as_chains():
    rng = np.random.default_rng(2)
    chain = rng.standard_normal((400, 16, 2))  # steps, 4 ensembles x 4 walkers, 2 parameters
    chain[:, 4:8, 1] += 1.0  # ensemble 1 sits elsewhere in parameter 1
    rhat, ess, tail = summarize_chains(chain, n_chains=4)
    assert rhat.shape == ess.shape == tail.shape == (2,)
    assert rhat[0] < 1.01 and rhat[1] > 1.1


# ------------------------------------------------------------------ likelihood
def test_log_posterior_matches_theory_and_prior_box(proxy):
    events = observed_events(proxy, 200)
    post = LogPosterior(proxy, events, max_elements=200 * 2 * 3)  # forces chunks of 3 rows
    rng = np.random.default_rng(3)
    eta = np.clip(TRUTH + 0.05 * rng.standard_normal((7, 6)), 0.01, 0.99)
    eta[2, 1] = 1.2  # outside the box
    value = post(eta)
    inside = np.delete(np.arange(7), 2)
    expected = proxy.log_prob(torch.as_tensor(events, dtype=torch.float64)[None], torch.as_tensor(eta[inside])).sum(-1).numpy()
    np.testing.assert_allclose(value[inside], expected, rtol=1e-12)
    assert value[2] == -np.inf


# ------------------------------------------------------------------ MCMC vs grid
@pytest.mark.slow
def test_mcmc_matches_grid_posterior_in_one_dimension(proxy):
    """Only a_u free (others at the truth): thinned MCMC draws vs the grid-integrated posterior.

    4 ensembles x 8 walkers x 1000 kept steps, thinned to K = 1000 draws; the test requires the
    chain's bulk ESS to exceed K, so the K draws are (close to) independent for the KS test.
    """
    events = observed_events(proxy, 256, seed=4)
    post = SubspacePosterior(LogPosterior(proxy, events), [1], TRUTH)
    settings = MCMCSettings(n_chains=4, n_walkers=8, n_burn=100, n_steps=1000, max_steps=1000, n_samples=1000)
    result = run_mcmc(post, settings, seed=5)
    assert result.samples.shape == (1000, 1)
    assert result.rhat[0] <= 1.01
    np.testing.assert_allclose(result.log_prob, post(result.samples), rtol=1e-10)  # the chain's own values
    assert result.ess_bulk[0] > len(result.samples), f"ESS {result.ess_bulk[0]:.0f} too small for an independent-sample KS test"
    grid = np.linspace(0.0, 1.0, 4001)
    log_density = post(grid[:, None])
    density = np.exp(log_density - log_density.max())
    cdf = integrate.cumulative_trapezoid(density, grid, initial=0.0)
    cdf /= cdf[-1]
    p_value = stats.kstest(result.samples[:, 0], lambda x: np.interp(x, grid, cdf)).pvalue
    assert p_value > 0.01, f"KS p = {p_value:.3g}"


def test_unconverged_run_fails_naming_the_parameter(proxy):
    events = observed_events(proxy, 64, seed=6)
    post = SubspacePosterior(LogPosterior(proxy, events), [1, 2], TRUTH)
    settings = MCMCSettings(n_chains=2, n_walkers=8, n_burn=0, n_steps=8, max_steps=16, n_samples=16, rhat_max=1.000001)
    with pytest.raises(
        ConvergenceError,
        match=r"emcee not converged: (a_u|b_u) has R-hat 1\.\d{4} \(max 1\.000001\), bulk ESS \d+, tail ESS \d+ \(target 1\) "
        r"after 16 draws x 2 ensembles of 8 walkers \(reference\.emcee\.max_steps = 16; raise it\)",
    ):
        run_mcmc(post, settings, seed=7)


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="n_walkers"):
        MCMCSettings(n_walkers=6).to_reference()
    with pytest.raises(ConfigError, match="fewer than n_samples"):
        MCMCSettings(n_chains=2, n_walkers=8, n_steps=10, max_steps=10, n_samples=1000).to_reference()
    with pytest.raises(ConfigError, match="reference.sampler = 'hmc' is not one of"):
        ReferenceSettings.from_config({"sampler": "hmc"})
    with pytest.raises(ConfigError, match=r"reference.nuts: unknown key\(s\) \['steps'\]"):
        ReferenceSettings.from_config({"nuts": {"steps": 3}})


# ------------------------------------------------------------------ Fisher information
def proxy_fisher_a_u(x_min=0.1):
    """Per-event Fisher information of a_u alone (others at the truth), physical units, by scipy quad.

    I = sum_t Var_t[d/da_u log g_t(x)] with g_p = 4u + d, g_n = u + 4d.
    """
    n_u, a_u, b_u, n_d, a_d, b_d = TRUTH_PHYSICAL
    total = 0.0

    def u(x):
        return n_u * x**a_u * (1 - x) ** b_u

    def d(x):
        return n_d * x**a_d * (1 - x) ** b_d

    for w_u, w_d in ((4.0, 1.0), (1.0, 4.0)):

        def g(x, w_u=w_u, w_d=w_d):
            return w_u * u(x) + w_d * d(x)

        def score(x, w_u=w_u, g=g):
            return w_u * u(x) * np.log(x) / g(x)

        z = integrate.quad(g, x_min, 1.0, epsabs=0, epsrel=1e-12)[0]
        m1 = integrate.quad(lambda x, g=g, score=score: g(x) * score(x), x_min, 1.0, epsabs=0, epsrel=1e-12)[0] / z
        m2 = integrate.quad(lambda x, g=g, score=score: g(x) * score(x) ** 2, x_min, 1.0, epsabs=0, epsrel=1e-12)[0] / z
        total += m2 - m1**2
    return total


def test_fisher_matches_quadrature_and_names_the_ridge(proxy):
    fisher, check = event_fisher(proxy, TRUTH)
    assert check < 1e-10
    width = THETA_MAX[1] - THETA_MIN[1]
    assert fisher[1, 1] / width**2 == pytest.approx(proxy_fisher_a_u(), rel=1e-8)
    report = cramer_rao(1024 * fisher)
    assert report["degenerate_parameters"] == ["N_u", "N_d"]
    assert report["bounds"]["N_u"] is None and report["bounds"]["a_u"]["physical"] > 0
    (ridge,) = report["degenerate_directions"]
    # Scaling N_u and N_d together: direction proportional to (N_u*, N_d*) = (2.1875, 1.09375).
    assert ridge["direction"] == "+0.894 dN_u +0.447 dN_d"
    with_norm = cramer_rao(1024 * fisher + norm_fisher(proxy, TRUTH, 0.02))
    assert with_norm["degenerate_parameters"] == []
    assert all(with_norm["bounds"][n]["physical"] > 0 for n in PARAM_NAMES)
    # The normalization observable can only tighten the bound.
    assert with_norm["bounds"]["a_u"]["physical"] <= report["bounds"]["a_u"]["physical"] * (1 + 1e-9)


def test_single_parameter_bound_is_inverse_sqrt_information(proxy):
    fisher, _ = event_fisher(proxy, TRUTH)
    only_a_u = np.zeros((6, 6))
    only_a_u[1, 1] = 100 * fisher[1, 1]
    report = cramer_rao(only_a_u)
    assert report["bounds"]["a_u"]["normalized"] == pytest.approx(1 / np.sqrt(100 * fisher[1, 1]), rel=1e-12)
    assert set(report["degenerate_parameters"]) == set(PARAM_NAMES) - {"a_u"}


# ------------------------------------------------------------------ command line
def test_reference_cli_writes_samples_and_fisher(proxy, tmp_path):
    events = observed_events(proxy, 128, seed=8)
    norm = proxy.normalizers(torch.as_tensor(TRUTH)[None])[0].numpy()
    observed = tmp_path / "observed.h5"
    write_events(observed, events, TRUTH, norm, proxy.spec(), seed=8, norm_rel_unc=0.02)
    samples, fisher = tmp_path / "samples.h5", tmp_path / "fisher.json"
    settings = ReferenceSettings.from_config(
        {
            "sampler": "emcee",
            "n_chains": 2,
            "rhat_max": 1.5,
            "ess_target": 10,
            "n_samples": 500,
            "emcee": {"n_walkers": 8, "n_burn": 100, "n_steps": 200, "max_steps": 400},
        }
    )
    args = [
        "--observed",
        str(observed),
        "--normalization",
        "on",
        "--settings",
        settings.to_json(),
        "--device",
        "cpu",
        "--threads",
        "1",
        "--out-samples",
        str(samples),
        "--out-fisher",
        str(fisher),
    ]
    assert reference_run.main(args) == 0
    result = read_samples(samples)
    assert result.method == "reference" and result.samples.shape == (500, 6)
    assert {"rhat", "ess_bulk", "ess_tail", "autocorr_time", "acceptance", "map_eta", "log_prob"} <= set(result.extras)
    assert result.attrs["sampler"] == "emcee" and result.attrs["wall_time_s"] > 0
    # log_prob is the chain's own value in (log Z, shapes) less the Jacobian: the box density of each draw
    stored = read_events(observed, batched=False)
    exact = LogPosterior(proxy, stored.events, stored.norm, 0.02)(result.samples)
    np.testing.assert_allclose(result.extras["log_prob"], exact, rtol=1e-9)
    # A short run (this tests the command, not convergence): R-hat within the threshold it was given.
    assert np.all(result.extras["rhat"] <= 1.5) and result.extras["rhat"].shape == (6,)
    report = json.loads(fisher.read_text())
    assert report["normalization"] is True and report["degenerate_parameters"] == []
    assert set(report["cramer_rao"]) == set(PARAM_NAMES)


def test_reference_cli_rejects_missing_file(tmp_path, capsys):
    status = reference_run.main(
        [
            "--observed",
            str(tmp_path / "nope.h5"),
            "--normalization",
            "off",
            "--out-samples",
            str(tmp_path / "s.h5"),
            "--out-fisher",
            str(tmp_path / "f.json"),
        ]
    )
    assert status == 1
    assert "nope.h5: file not found" in capsys.readouterr().err


def test_grouped_move_keeps_ensembles_independent():
    """Uniform target on the unit square; ensemble 0 starts in a ball of radius 1e-4, ensemble 1
    spread over the square. Grouped DE proposals use differences within an ensemble only, so after
    5 steps ensemble 0 is still tiny (each step widens it by ~1.3x); ungrouped moves would borrow
    ensemble 1's differences and scatter it over the square at once."""
    import emcee

    from pdfinfer.reference.mcmc import GroupedMove

    def log_prob(x):
        return np.where(np.all((x >= 0) & (x <= 1), axis=1), 0.0, -np.inf)

    def spread_after(moves):
        rng = np.random.default_rng(9)
        start = np.concatenate([0.1 + 1e-4 * rng.standard_normal((8, 2)), rng.uniform(size=(8, 2))])
        sampler = emcee.EnsembleSampler(16, 2, log_prob, vectorize=True, moves=moves)
        sampler.random_state = np.random.RandomState(0).get_state()
        sampler.run_mcmc(start, 5)
        return sampler.get_chain()[-1, :8].std(axis=0).max()

    assert spread_after([(GroupedMove(emcee.moves.DEMove(), 2), 0.8), (GroupedMove(emcee.moves.DESnookerMove(), 2), 0.2)]) < 1e-2
    assert spread_after([(emcee.moves.DEMove(), 0.8), (emcee.moves.DESnookerMove(), 0.2)]) > 0.05
