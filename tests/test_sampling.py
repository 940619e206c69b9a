"""The batched inverse-CDF event generator: distribution (KS and chi-square against exact
CDFs), the differentiable form (finite differences) and seed reproducibility.

Statistical thresholds: each KS / chi-square test uses 10^6 events and requires p > 0.001
(the foundation issue's criterion); seeds are fixed, so the outcome is deterministic.
"""

import itertools

import numpy as np
import pytest
import reference_physics as ref
import torch
from scipy import integrate, interpolate, stats

from pdfinfer.params import TRUTH
from pdfinfer.theory import make_theory

N_EVENTS = 1_000_000
P_MIN = 1e-3
PARAM_SETS = np.vstack([TRUTH, np.random.default_rng(11).uniform(0.02, 0.98, size=(3, 6))])
IDS = ["truth", "random0", "random1", "random2"]


def ks_pvalue(sample: np.ndarray, cdf_values: np.ndarray) -> float:
    """One-sample KS p-value given the exact CDF evaluated at the sorted sample."""
    n = len(sample)
    ecdf_hi = np.arange(1, n + 1) / n
    ecdf_lo = np.arange(0, n) / n
    d = max(np.max(ecdf_hi - cdf_values), np.max(cdf_values - ecdf_lo))
    return float(stats.kstwo.sf(d, n))


# ---------------------------------------------------------------------------- exact DIS marginals
def _dis_q2_antiderivative(q, c):
    # integral of (1 + (1 - q/c)^2) / q^2 dq, derived by hand from the cross section in docs/physics.md
    return -2.0 / q - 2.0 / c * np.log(q) + q / c**2


class DISMarginals:
    """x- and Q^2-marginal CDFs of one DIS target by quadrature (independent of the package)."""

    def __init__(self, eta, target):
        self.oracle = ref.DIS()
        self.eta, self.target = eta, target
        t = ref.phys(eta)
        w = {"p": (4 / 9, 1 / 9), "n": (1 / 9, 4 / 9)}[target]
        self.pdf = lambda x: w[0] * t[0] * x ** t[1] * (1 - x) ** t[2] + w[1] * t[3] * x ** t[4] * (1 - x) ** t[5]
        self.x_max = self.oracle.x_max()
        self.norm = integrate.quad(lambda x: self.joint_q2_below(x, np.inf), 0.1, self.x_max, epsabs=0, epsrel=1e-12, limit=400)[
            0
        ]

    def joint_q2_below(self, x, q):
        """pdf(x) times the Q^2 integral of the cross-section shape up to q (unnormalized)."""
        lo, hi = self.oracle.q2_limits(x)
        top = min(hi, q)
        if top <= lo:
            return 0.0
        c = x * self.oracle.s_eff
        return self.pdf(x) * (_dis_q2_antiderivative(top, c) - _dis_q2_antiderivative(lo, c))

    def x_cdf(self, x_sorted):
        dist = np.concatenate([np.linspace(0, self.x_max - 0.1, 1500), (self.x_max - 0.1) * np.logspace(-9, 0, 200)])
        knots = np.unique(np.clip(self.x_max - dist, 0.1, self.x_max))
        pieces = [
            integrate.quad(lambda x: self.joint_q2_below(x, np.inf), a, b, epsabs=0, epsrel=1e-12)[0]
            for a, b in itertools.pairwise(knots)
        ]
        cdf = np.concatenate([[0.0], np.cumsum(pieces)]) / self.norm
        return interpolate.PchipInterpolator(knots, cdf)(x_sorted)

    def q2_cdf(self, q_sorted):
        log_q = np.linspace(np.log(1.0), np.log(self.oracle.y_max * self.oracle.s_eff * self.x_max), 400)
        values = [
            integrate.quad(
                lambda x, lq=lq: self.joint_q2_below(x, np.exp(lq)), 0.1, self.x_max, epsabs=0, epsrel=1e-10, limit=200
            )[0]
            for lq in log_q
        ]
        return interpolate.CubicSpline(log_q, np.array(values) / self.norm)(np.log(q_sorted))

    def bin_probability(self, x_a, x_b, q_a, q_b):
        def f(x):
            return self.joint_q2_below(x, q_b) - self.joint_q2_below(x, q_a)

        return integrate.quad(f, x_a, min(x_b, self.x_max), epsabs=1e-13, epsrel=1e-9, limit=200)[0] / self.norm


def draw(theory, eta, seed=1234):
    gen = torch.Generator().manual_seed(seed)
    return theory.sample(torch.as_tensor(eta)[None], N_EVENTS, generator=gen)[0]


@pytest.mark.slow
@pytest.mark.parametrize("eta", PARAM_SETS, ids=IDS)
def test_proxy_marginals_pass_ks(eta):
    th = make_theory("proxy")
    events = draw(th, eta).double()
    assert torch.isfinite(th.log_prob(events[None], torch.as_tensor(eta)[None])).all()
    for t, target in enumerate(("p", "n")):
        x = np.sort(events[:, t].numpy())
        p = ks_pvalue(x, ref.proxy_cdf(x, eta, target))
        assert p > P_MIN, f"KS p = {p:.2e} for x_{target}"


@pytest.mark.slow
@pytest.mark.parametrize("eta", PARAM_SETS, ids=IDS)
def test_dis_marginals_pass_ks_and_the_2d_density_passes_chi_square(eta):
    th = make_theory("dis")
    events = draw(th, eta).double()
    assert torch.isfinite(th.log_prob(events[None], torch.as_tensor(eta)[None])).all(), (
        "float32 events must stay inside the phase space"
    )
    for t, target in enumerate(("p", "n")):
        exact = DISMarginals(eta, target)
        x, q2 = events[:, 2 * t].numpy(), events[:, 2 * t + 1].numpy()
        xs, qs = np.sort(x), np.sort(q2)
        p_x = ks_pvalue(xs, exact.x_cdf(xs))
        p_q = ks_pvalue(qs, exact.q2_cdf(qs))
        assert p_x > P_MIN, f"KS p = {p_x:.2e} for x_{target}"
        assert p_q > P_MIN, f"KS p = {p_q:.2e} for Q2_{target}"
        # binned chi-square on (x, log Q^2); bins with expectation < 20 are pooled into one
        x_edges = np.array([0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, exact.x_max])
        q_edges = np.array([1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 1e5])
        observed, _, _ = np.histogram2d(x, q2, bins=[x_edges, q_edges])
        expected = np.array(
            [
                [exact.bin_probability(xa, xb, qa, qb) for qa, qb in itertools.pairwise(q_edges)]
                for xa, xb in itertools.pairwise(x_edges)
            ]
        ) * len(x)
        assert expected.sum() == pytest.approx(len(x), rel=1e-6)
        big = expected >= 20
        obs = np.append(observed[big], observed[~big].sum())
        exp = np.append(expected[big], expected[~big].sum())
        chi2 = float(((obs - exp) ** 2 / exp).sum())
        p = stats.chi2.sf(chi2, len(obs) - 1)
        assert p > P_MIN, f"chi2 = {chi2:.1f} for {len(obs) - 1} dof (p = {p:.2e}) for target {target}"


@pytest.mark.parametrize("name", ["proxy", "dis"])
def test_differentiable_sampler_gradient_matches_finite_differences(name):
    th = make_theory(name)
    eta = torch.as_tensor(PARAM_SETS[1:3]).clone().requires_grad_(True)
    uniforms = th.draw_uniforms(2, 16, torch.Generator().manual_seed(5))
    events = th.sample_reparam(eta, uniforms)
    grad = torch.autograd.grad(events.sum(), eta)[0]
    assert grad.abs().sum() > 0
    assert torch.autograd.gradcheck(lambda e: th.sample_reparam(e, uniforms), (eta,), eps=1e-7, atol=1e-5, rtol=1e-3)


@pytest.mark.parametrize("name", ["proxy", "dis"])
def test_reparam_events_equal_sampled_events_for_the_same_uniforms(name):
    th = make_theory(name)
    eta = torch.as_tensor(PARAM_SETS[:2])
    sampled = th.sample(eta, 100, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    uniforms = th.draw_uniforms(2, 100, torch.Generator().manual_seed(9))
    torch.testing.assert_close(th.sample_reparam(eta, uniforms), sampled, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["proxy", "dis"])
def test_same_seed_same_events_different_seed_different_events(name):
    th = make_theory(name)
    eta = torch.as_tensor(PARAM_SETS)
    a = th.sample(eta, 1000, generator=torch.Generator().manual_seed(42))
    b = th.sample(eta, 1000, generator=torch.Generator().manual_seed(42))
    c = th.sample(eta, 1000, generator=torch.Generator().manual_seed(43))
    assert a.shape == (4, 1000, th.n_features) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_batched_rows_are_sampled_from_their_own_parameters():
    # Row-wise means of x_p must follow each row's exact mean, within 5 standard errors.
    th = make_theory("proxy")
    eta = torch.as_tensor(PARAM_SETS)
    x = th.sample(eta, 20000, generator=torch.Generator().manual_seed(1)).double()[..., 0].numpy()
    for row, e in zip(x, PARAM_SETS):

        def pdf(t, e=e):
            return ref.proxy_density(t, e, "p")

        z = integrate.quad(pdf, 0.1, 1)[0]
        mean = integrate.quad(lambda t, pdf=pdf: t * pdf(t), 0.1, 1)[0] / z
        sd = np.sqrt(integrate.quad(lambda t, pdf=pdf: t * t * pdf(t), 0.1, 1)[0] / z - mean**2)
        assert abs(row.mean() - mean) < 5 * sd / np.sqrt(len(row))


def test_guide_table_lookup_finds_the_binary_search_cells():
    # Exact agreement, including zero-mass cells (plateaus), u = 0, u just below 1 and tiny guides.
    from pdfinfer.theory.quadrature import find_cells

    gen = torch.Generator().manual_seed(3)
    mass = torch.rand((5, 3, 200), generator=gen, dtype=torch.float64) ** 8  # many cells far below 1/bins
    mass[:, :, 50:60] = 0.0
    cdf = torch.cat([torch.zeros(5, 3, 1, dtype=torch.float64), mass.cumsum(-1) / mass.sum(-1, keepdim=True)], -1)
    u = torch.rand((5, 3, 3000), generator=gen, dtype=torch.float64)
    u[0, 0, :3] = torch.tensor([0.0, 1.0 - 2.0**-53, float(cdf[0, 0, 100])])
    want = (torch.searchsorted(cdf, u, right=True) - 1).clamp(0, cdf.shape[-1] - 2)
    for bins in (None, 2, 64, 4096):
        assert torch.equal(find_cells(cdf, u, bins), want), bins


@pytest.mark.parametrize("name", ["proxy", "dis"])
def test_guide_and_search_lookups_give_bit_identical_events_and_gradients(name):
    th = make_theory(name)
    eta = torch.as_tensor(PARAM_SETS)
    kw = {"n_events": 3000, "dtype": torch.float32}
    a = th.sample(eta, generator=torch.Generator().manual_seed(4), method="guide", **kw)
    b = th.sample(eta, generator=torch.Generator().manual_seed(4), method="search", **kw)
    assert torch.equal(a, b)
    uniforms = th.draw_uniforms(2, 100, torch.Generator().manual_seed(5))
    grads = []
    for method in ("guide", "search"):
        e = torch.as_tensor(PARAM_SETS[1:3]).clone().requires_grad_(True)
        grads.append(torch.autograd.grad(th.sample_reparam(e, uniforms, method).sum(), e)[0])
    assert torch.equal(grads[0], grads[1])


cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (CI has none; run on a GPU machine)")


@cuda_only
@pytest.mark.parametrize("name", ["proxy", "dis"])
def test_cuda_sampling_is_reproducible_distributed_right_and_matches_cpu_densities(name):
    th = make_theory(name)
    eta = torch.as_tensor(TRUTH, device="cuda")[None]
    a = th.sample(eta, N_EVENTS, generator=torch.Generator(device="cuda").manual_seed(5))
    b = th.sample(eta, N_EVENTS, generator=torch.Generator(device="cuda").manual_seed(5))
    assert a.device.type == "cuda" and torch.equal(a, b)
    x = np.sort(a[0, :, 0].double().cpu().numpy())
    cdf = ref.proxy_cdf(x, TRUTH, "p") if name == "proxy" else DISMarginals(TRUTH, "p").x_cdf(x)
    assert ks_pvalue(x, cdf) > P_MIN
    lp_gpu = th.log_prob(a[:, :2000].double(), eta).cpu()
    lp_cpu = th.log_prob(a[:, :2000].double().cpu(), eta.cpu())
    torch.testing.assert_close(lp_gpu, lp_cpu, rtol=1e-10, atol=1e-10)
    eta_grad = eta.clone().requires_grad_(True)
    uniforms = th.draw_uniforms(1, 16, torch.Generator(device="cuda").manual_seed(1))
    assert torch.autograd.gradcheck(lambda e: th.sample_reparam(e, uniforms), (eta_grad,), eps=1e-7, atol=1e-5, rtol=1e-3)
