"""Normalizers, densities and log-likelihoods of the proxy and dis theories against independent
scipy oracles (tests/reference_physics.py) and the check figures of docs/physics.md."""

import math

import numpy as np
import pytest
import reference_physics as ref
import torch
from scipy import integrate

from pdfinfer.errors import ConfigError, DataError, ParameterError
from pdfinfer.params import TRUTH
from pdfinfer.theory import make_theory

ETA_STAR = torch.as_tensor(TRUTH, dtype=torch.float64)[None]
# Random parameter vectors plus corners of the box where the integrands are least smooth
# (b -> 0 makes (1-x)^b steep at x = 1; a -> -1 makes x^a steep at x_min).
RNG = np.random.default_rng(7)
PARAM_SETS = np.vstack([TRUTH, RNG.uniform(size=(4, 6)), [0.5, 0.001, 0.001, 0.5, 0.999, 0.0], [1.0, 0.0, 1.0, 0.01, 0.0, 0.002]])


def test_proxy_check_figures_at_truth():
    th = make_theory("proxy")
    z = th.normalizers(ETA_STAR)[0].numpy()
    np.testing.assert_allclose(z, [3.268460, 1.872591], atol=6e-7)
    # integral of u and of d over [0.1, 1): Z_p = 4U + D, Z_n = U + 4D
    u_int, d_int = np.linalg.solve([[4.0, 1.0], [1.0, 4.0]], z)
    np.testing.assert_allclose([u_int, d_int], [0.746750, 0.281460], atol=6e-7)


def test_valence_sum_rules_at_truth():
    # Over (0, 1) the u integral is exactly 2 and the d integral 8/9 at theta*; the truncation
    # at x_min = 1e-14 costs ~ x_min^(a+1) = 1e-7 relative.
    th = make_theory("proxy", x_min=1e-14)
    z = th.normalizers(ETA_STAR)[0].numpy()
    u_int, d_int = np.linalg.solve([[4.0, 1.0], [1.0, 4.0]], z)
    np.testing.assert_allclose([u_int, d_int], [2.0, 8.0 / 9.0], rtol=1e-6)


@pytest.mark.parametrize("eta", PARAM_SETS, ids=lambda e: "eta" + "-".join(f"{v:.2f}" for v in e))
def test_proxy_normalizers_match_closed_form_and_quadrature(eta):
    th = make_theory("proxy")
    z = th.normalizers(torch.as_tensor(eta)[None])[0].numpy()
    for t, target in enumerate(("p", "n")):
        quad = integrate.quad(
            lambda x, target=target: ref.proxy_density(x, eta, target), 0.1, 1.0, epsabs=0, epsrel=1e-12, limit=500
        )[0]
        assert z[t] == pytest.approx(quad, rel=1e-8)
        if min(eta[1], eta[4]) > 0:  # the closed form needs a > -1
            assert z[t] == pytest.approx(ref.proxy_norm(eta, target), rel=1e-8)


@pytest.mark.parametrize("eta", PARAM_SETS[:3], ids=["truth", "random1", "random2"])
def test_dis_normalizers_match_two_dimensional_quadrature(eta):
    th = make_theory("dis")
    oracle = ref.DIS()
    assert th.x_hi == pytest.approx(oracle.x_max(), rel=1e-14)
    z = th.normalizers(torch.as_tensor(eta)[None])[0].numpy()
    for t, target in enumerate(("p", "n")):
        assert z[t] == pytest.approx(oracle.norm(eta, target), rel=1e-8)


def test_dis_normalizer_with_a_q2_min_kink_inside_the_x_range():
    # With q2_min = 20 GeV^2 the lower Q^2 edge switches from Q2_min to the W^2 cut inside [x_min, x_max].
    settings = {"q2_min": 20.0}
    th = make_theory("dis", **settings)
    oracle = ref.DIS(**settings)
    switch = 20.0 / (10.0 - 0.938**2 + 20.0)
    assert th.x_lo < switch < th.x_hi
    z = th.normalizers(ETA_STAR)[0].numpy()
    expected = oracle.x_marginal_integral(TRUTH, "p", 0.1, switch) + oracle.x_marginal_integral(
        TRUTH, "p", switch, oracle.x_max()
    )
    assert z[0] == pytest.approx(expected, rel=1e-8)


def test_proxy_log_prob_integrates_to_one():
    th = make_theory("proxy")
    eta = torch.as_tensor(PARAM_SETS[1])[None]

    def density(x_p, x_n):
        ev = torch.tensor([[[x_p, x_n]]], dtype=torch.float64)
        return math.exp(th.log_prob(ev, eta).item())

    total = integrate.dblquad(lambda x_n, x_p: density(x_p, x_n), 0.1, 1.0, 0.1, 1.0, epsabs=1e-10, epsrel=1e-8)[0]
    assert total == pytest.approx(1.0, abs=1e-7)


def test_dis_log_prob_integrates_to_one_and_adds_over_targets():
    eta = torch.as_tensor(PARAM_SETS[2])[None]
    th_p = make_theory("dis", targets=["p"])
    oracle = ref.DIS()

    def inner(x):
        lo, hi = oracle.q2_limits(x)
        lq = np.linspace(np.log(lo), np.log(hi), 257)
        lq[[0, -1]] += [1e-13, -1e-13]  # stay inside the edges after exp()
        ev = torch.stack([torch.full((257,), x, dtype=torch.float64), torch.as_tensor(np.exp(lq))], -1)[None]
        dens = torch.exp(th_p.log_prob(ev, eta))[0].numpy() * np.exp(lq)
        return integrate.simpson(dens, x=lq)

    total = integrate.quad(inner, th_p.x_lo, th_p.x_hi, epsabs=1e-10, epsrel=1e-8, limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-6)

    th_pn, th_n = make_theory("dis"), make_theory("dis", targets=["n"])
    ev = th_pn.sample(eta, 50, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    joint = th_pn.log_prob(ev, eta)
    split = th_p.log_prob(ev[..., :2], eta) + th_n.log_prob(ev[..., 2:], eta)
    torch.testing.assert_close(joint, split)


def test_dis_log_prob_matches_cross_section_over_normalizer():
    th = make_theory("dis", targets=["p"])
    oracle = ref.DIS()
    eta = torch.as_tensor(PARAM_SETS[3])[None]
    x, q2 = 0.3, 25.0
    expected = math.log(oracle.xsec(x, q2, PARAM_SETS[3], "p") / oracle.norm(PARAM_SETS[3], "p"))
    got = th.log_prob(torch.tensor([[[x, q2]]], dtype=torch.float64), eta).item()
    assert got == pytest.approx(expected, rel=1e-9)


def test_log_prob_is_minus_inf_outside_the_support():
    th = make_theory("dis")
    ev = torch.tensor([[[0.05, 5.0, 0.3, 5.0], [0.3, 1e5, 0.3, 5.0], [0.3, 5.0, 0.3, 5.0]]], dtype=torch.float64)
    lp = th.log_prob(ev, ETA_STAR)[0]
    assert torch.isneginf(lp[:2]).all() and torch.isfinite(lp[2])


def test_log_prob_gradient_matches_finite_differences():
    th = make_theory("proxy")
    ev = th.sample(ETA_STAR, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    eta = torch.as_tensor(PARAM_SETS[1:2]).clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: th.log_prob(ev, e).sum(), (eta,), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_normalization_observable_likelihood_is_gaussian():
    th = make_theory("proxy")
    z = th.normalizers(ETA_STAR)
    lp = th.norm_log_prob(z * 1.02, ETA_STAR, 0.02)
    sigma = 0.02 * z
    expected = (-0.5 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(-1)
    torch.testing.assert_close(lp, expected)


def test_bad_theory_names_settings_and_shapes_are_refused():
    with pytest.raises(ConfigError, match=r"unknown theory 'dys'; allowed: \['dis', 'proxy'\]"):
        make_theory("dys")
    with pytest.raises(ConfigError, match="unexpected keyword"):
        make_theory("proxy", sqrt_s=10)
    with pytest.raises(ValueError, match="targets must be distinct values"):
        make_theory("dis", targets=["p", "x"])
    th = make_theory("proxy")
    with pytest.raises(DataError, match=r"proxy events must have shape \(B, N, 2\)"):
        th.log_prob(torch.zeros(1, 5, 3), ETA_STAR)
    with pytest.raises(ParameterError, match="outside the prior box"):
        th.sample(torch.tensor([[0.5, 0.5, 0.5, 0.5, 0.5, 1.5]]), 3)
    with pytest.raises(ParameterError, match=r"shape \(B, 6\)"):
        th.normalizers(torch.zeros(6))


def test_theory_spec_round_trips():
    th = make_theory("dis", sqrt_s=63.0, targets=["n"])
    again = make_theory(th.spec())
    assert again.settings() == th.settings()
    assert again.feature_names == ("x_n", "Q2_n") and again.log_features == (False, True)


@pytest.mark.parametrize("name", ["proxy", "dis"])
def test_precomputed_observed_likelihood_equals_the_per_event_sum(name):
    # The pivoted form (one exp and one log per event) against the generic per-event log_prob, at
    # random points and the box corners of PARAM_SETS plus N_u = 0 and N_d = 0 (the prefactor -inf
    # branch); float64 rounding over 2000 events bounds the relative error by ~1e-13.
    from pdfinfer.theory.observed import ObservedLikelihood

    th = make_theory(name)
    events = th.sample(ETA_STAR, 2000, generator=torch.Generator().manual_seed(2))[0].double()
    eta = torch.as_tensor(np.vstack([PARAM_SETS, [0.0, 0.3, 0.3, 0.5, 0.5, 0.5], [0.5, 0.3, 0.3, 0.0, 0.5, 0.5]]))
    want = th.log_prob(events[None], eta).sum(-1)
    lik = ObservedLikelihood(th, events)
    with torch.no_grad():
        torch.testing.assert_close(lik(eta), want, rtol=1e-12, atol=1e-9)
    rows = eta[1:4].clone().requires_grad_(True)
    got = torch.autograd.grad(lik(rows).sum(), rows)[0]
    rows_ref = eta[1:4].clone().requires_grad_(True)
    ref_grad = torch.autograd.grad(th.log_prob(events[None], rows_ref).sum(), rows_ref)[0]
    torch.testing.assert_close(got, ref_grad, rtol=1e-10, atol=1e-8)
    edge = eta[-2:].clone().requires_grad_(True)
    assert torch.isfinite(torch.autograd.grad(lik(edge).sum(), edge)[0]).all(), "finite gradient at N = 0"
    hess = torch.autograd.functional.hessian(lambda e: lik(e[None]).sum(), eta[0])
    hess_ref = torch.autograd.functional.hessian(lambda e: th.log_prob(events[None], e[None]).sum(), eta[0])
    torch.testing.assert_close(hess, hess_ref, rtol=1e-9, atol=1e-6)


def test_precomputed_likelihood_is_minus_inf_for_events_outside_the_support():
    from pdfinfer.theory.observed import ObservedLikelihood

    th = make_theory("dis")
    ev = torch.tensor([[0.3, 5.0, 0.3, 5.0], [0.3, 1e5, 0.3, 5.0]], dtype=torch.float64)
    lik = ObservedLikelihood(th, ev, where="obs.h5")
    assert lik.first_outside == 1 and torch.isneginf(lik(ETA_STAR)).all()
    with pytest.raises(DataError, match=r"obs\.h5: event 1 lies outside the support of theory 'dis'"):
        lik.check_support()
