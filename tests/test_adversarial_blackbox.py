"""Black-box modes (surrogate, reinforce, histogram): no gradient through the simulator; an unbiased
score-function estimator (independent and antithetic draws); the surrogate pieces (quadratic fit and
its convex projection, recency-weighted buffer, trust-region penalty); the histogram mode's target;
the best-chi2 selection."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdfinfer.adversarial.blackbox import (
    LocalDesign,
    ReplayBuffer,
    leave_one_out_baseline,
    leave_one_pair_out_baseline,
    score_function_objective,
    shape_losses,
    surrogate_objective,
)
from pdfinfer.adversarial.histogram import HistogramDistance, chi2_edges, two_sample_chi2
from pdfinfer.adversarial.loop import MONITOR_DRAWS, Selection, train
from pdfinfer.adversarial.losses import SetBatch
from pdfinfer.adversarial.networks import GaussianGenerator, QuadraticSurrogate, SurrogateEnsemble
from pdfinfer.adversarial.observation import Observation
from pdfinfer.adversarial.settings import AdversarialSettings
from pdfinfer.params import TRUTH
from pdfinfer.runtime import derive_seed, make_generator
from pdfinfer.theory import make_theory

TINY = {
    "steps": 6,
    "batch_params": 2,
    "batch_events": 32,
    "noise_dim": 2,
    "generator_width": 8,
    "generator_depth": 1,
    "discriminator_width": 8,
    "discriminator_depth": 1,
    "mmd_events": 16,
    "energy_events": 64,
    "log_every": 2,
    "n_samples": 20,
    "surrogate_warmup": 2,
    "surrogate_points": 8,
    "surrogate_buffer": 32,
    "surrogate_width": 8,
    "surrogate_depth": 1,
    "reinforce_batch": 4,
}


class SpyTheory:
    """Delegates to a theory; records whether events from ``sample`` carry gradients and refuses the
    differentiable sampler (a black-box mode must never ask for it)."""

    def __init__(self, theory):
        self._theory = theory
        self.sampled: list[tuple[bool, bool]] = []  # (events.requires_grad, eta.requires_grad)

    def __getattr__(self, name):
        return getattr(self._theory, name)

    def sample(self, eta, *args, **kwargs):
        events = self._theory.sample(eta, *args, **kwargs)
        self.sampled.append((events.requires_grad or events.grad_fn is not None, eta.requires_grad))
        return events

    def sample_norm(self, eta, *args, **kwargs):
        z = self._theory.sample_norm(eta, *args, **kwargs)
        self.sampled.append((z.requires_grad or z.grad_fn is not None, eta.requires_grad))
        return z

    def sample_reparam(self, *args, **kwargs):
        raise AssertionError("a black-box mode called the differentiable sampler")

    def draw_uniforms(self, *args, **kwargs):
        raise AssertionError("a black-box mode drew fixed uniforms for the differentiable sampler")


@pytest.fixture(scope="module")
def observation():
    theory = make_theory("proxy")
    g = torch.Generator().manual_seed(3)
    eta = torch.as_tensor(TRUTH)[None]
    return Observation(
        theory.sample(eta, 128, generator=g)[0].numpy(), theory.sample_norm(eta, 0.02, generator=g)[0].numpy(), 0.02
    )


@pytest.mark.parametrize(
    ("mode", "model", "extra"),
    [
        ("surrogate", "quadratic", {}),
        ("surrogate", "mlp", {}),
        ("reinforce", "quadratic", {}),
        ("reinforce", "quadratic", {"reinforce_common_noise": True, "reinforce_antithetic": True}),
        ("histogram", "quadratic", {}),
    ],
)
def test_black_box_modes_never_differentiate_the_simulator(observation, mode, model, extra):
    spy = SpyTheory(make_theory("proxy"))
    result = train(
        spy,
        observation,
        AdversarialSettings.from_config({**TINY, "mode": mode, "surrogate_model": model, "histogram_events": 64, **extra}),
        seed=2,
        show_progress=False,
    )
    assert result.complete and np.isfinite(result.history.loss_g[-1])
    assert len(spy.sampled) > 10
    assert not any(events for events, _ in spy.sampled), "simulated events carry a gradient"
    assert not any(eta for _, eta in spy.sampled), "the simulator was handed parameters that require grad"


def test_reparam_does_use_the_differentiable_sampler(observation):
    """The spy's refusal is what the test above relies on: reparam trips it."""
    with pytest.raises(AssertionError, match="differentiable sampler|fixed uniforms"):
        train(SpyTheory(make_theory("proxy")), observation, AdversarialSettings.from_config(TINY), seed=2, show_progress=False)


@pytest.mark.parametrize("antithetic", [False, True])
def test_reinforce_gradient_is_unbiased_on_a_gaussian_toy(antithetic):
    r"""Toy with a known gradient: l(eta) = sum_i a_i logit(eta_i)^2 + noise, so that
    E_q[l] = sum_i a_i (loc_i^2 + (L L^T)_ii) in closed form. M = 1500 independent estimates of B = 8
    draws each; every gradient component's mean lies within k = 4 standard errors of the exact
    gradient (42 components, 4 sigma: a false alarm has probability < 0.3 % under normality, and the
    seed is fixed). The largest exact component exceeds 5 standard errors (asserted), so an estimator
    with the wrong sign, or off by a factor 2, fails it. Antithetic: 4 pairs +-z per estimate, the
    baseline of a draw from the other pairs (a baseline that saw its own pair would be biased)."""
    torch.manual_seed(0)
    gen = GaussianGenerator(init_scale=0.7, min_scale=0.05).double()
    with torch.no_grad():
        gen.loc.copy_(torch.tensor([0.3, -0.5, 1.0, 0.0, 0.2, -1.2]))
        gen.raw_scale.add_(0.2 * torch.randn(6, 6, dtype=torch.float64).tril())
    a = torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0, 3.0], dtype=torch.float64)
    exact = torch.autograd.grad(
        (a * (gen.loc**2 + (gen.scale_tril() @ gen.scale_tril().T).diagonal())).sum(), list(gen.parameters())
    )
    exact = torch.cat([g.flatten() for g in exact])
    rng = torch.Generator().manual_seed(1)
    estimates = []
    for _ in range(1500):
        z = torch.randn((8, 6), generator=rng, dtype=torch.float64)
        if antithetic:
            z = torch.cat([z[:4], -z[:4]])
        with torch.no_grad():
            u = gen.latent(z)
            losses = (a * u**2).sum(-1) + torch.randn(8, generator=rng, dtype=torch.float64)  # a noisy black box
        objective = score_function_objective(gen.log_prob_latent(u), losses, antithetic)
        grads = torch.autograd.grad(objective, list(gen.parameters()))
        estimates.append(torch.cat([g.flatten() for g in grads]))
    estimates = torch.stack(estimates)
    mean, se = estimates.mean(0), estimates.std(0) / estimates.shape[0] ** 0.5
    live = se > 0  # the strictly upper triangle of raw_scale has no gradient at all
    assert torch.equal(exact[~live], torch.zeros_like(exact[~live]))
    z_scores = (mean[live] - exact[live]) / se[live]
    assert z_scores.abs().max() < 4.0, z_scores
    assert exact[live].abs().max() > 5 * se[live].max()  # the test has power: the gradient is well resolved


def test_common_random_numbers_keep_reinforce_unbiased_and_cut_its_variance():
    r"""``reinforce_common_noise``: the black box's noise is shared by all draws of an estimate. Toy:
    l(u, w) = sum_i a_i (u_i - w_i)^2 with simulator noise w ~ N(0, 0.5^2 I), so E[l] = sum_i a_i (loc_i^2 +
    (L L^T)_ii) + const, the gradient of the test above. M = 1500 estimates of B = 8 antithetic draws,
    either with one w per draw (independent) or one w per estimate (common). Both means lie within
    k = 4 standard errors of the exact gradient (as above), and common noise lowers the summed variance
    of the components (the noise common to the batch cancels against the baseline): 0.69x at this seed,
    asserted below 0.85x, about four standard errors of the ratio (a variance from M draws has a
    relative standard error of sqrt(2 / M) = 3.7 %, so the ratio about 5 %)."""
    torch.manual_seed(0)
    gen = GaussianGenerator(init_scale=0.7, min_scale=0.05).double()
    with torch.no_grad():
        gen.loc.copy_(torch.tensor([0.3, -0.5, 1.0, 0.0, 0.2, -1.2]))
    a = torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0, 3.0], dtype=torch.float64)
    exact = torch.autograd.grad(
        (a * (gen.loc**2 + (gen.scale_tril() @ gen.scale_tril().T).diagonal())).sum(), list(gen.parameters())
    )
    exact = torch.cat([g.flatten() for g in exact])
    variances = {}
    for common in (False, True):
        rng = torch.Generator().manual_seed(1)
        estimates = []
        for _ in range(1500):
            z = torch.randn((4, 6), generator=rng, dtype=torch.float64)
            z = torch.cat([z, -z])
            w = 0.5 * torch.randn((1 if common else 8, 6), generator=rng, dtype=torch.float64)
            with torch.no_grad():
                u = gen.latent(z)
                losses = (a * (u - w) ** 2).sum(-1)
            grads = torch.autograd.grad(score_function_objective(gen.log_prob_latent(u), losses, True), list(gen.parameters()))
            estimates.append(torch.cat([g.flatten() for g in grads]))
        estimates = torch.stack(estimates)
        mean, se = estimates.mean(0), estimates.std(0) / estimates.shape[0] ** 0.5
        live = se > 0
        assert ((mean[live] - exact[live]) / se[live]).abs().max() < 4.0, common
        variances[common] = float(estimates.var(0).sum())
    assert variances[True] < 0.85 * variances[False], variances


def test_simulate_common_runs_every_row_from_the_same_random_numbers(observation):
    """Each row of simulate_common is the black box's own set at that row from the saved state: equal rows
    give equal sets, and the stream afterwards continues as after one row."""
    from pdfinfer.adversarial.sets import SetEncoder, simulate_common, simulate_sets

    theory = make_theory("proxy")
    encoder = SetEncoder(theory, observation.events, observation.norm, observation.rel_unc)
    eta = torch.tensor(
        [[0.3, 0.4, 0.5, 0.6, 0.5, 0.4], [0.3, 0.4, 0.5, 0.6, 0.5, 0.4], [0.7, 0.2, 0.5, 0.4, 0.6, 0.3]], dtype=torch.float64
    )
    rng = torch.Generator().manual_seed(3)
    sets = simulate_common(theory, encoder, eta, 64, rng)
    after = torch.rand(1, generator=rng)
    assert torch.equal(sets.events[0], sets.events[1]) and not torch.equal(sets.events[0], sets.events[2])
    alone = torch.Generator().manual_seed(3)
    single = simulate_sets(theory, encoder, eta[2:], 64, alone)
    assert torch.equal(single.events[0], sets.events[2])
    assert torch.equal(torch.rand(1, generator=alone), after)
    if sets.norm is not None:
        assert torch.equal(single.norm[0], sets.norm[2])


def test_leave_one_out_baselines():
    losses = torch.tensor([1.0, 2.0, 6.0])
    torch.testing.assert_close(leave_one_out_baseline(losses), torch.tensor([4.0, 3.5, 1.5]))
    pairs = torch.tensor([1.0, 2.0, 4.0, 3.0, 6.0, 8.0])  # pairs (1, 3), (2, 6), (4, 8): sums 4, 8, 12
    torch.testing.assert_close(leave_one_pair_out_baseline(pairs), torch.tensor([5.0, 4.0, 3.0, 5.0, 4.0, 3.0]))


def test_quadratic_surrogate_recovers_a_quadratic_and_its_gradient():
    g = torch.Generator().manual_seed(4)
    eta = 0.5 + 0.05 * torch.randn((200, 6), generator=g, dtype=torch.float64)
    centre = torch.tensor([0.52, 0.48, 0.5, 0.55, 0.45, 0.5], dtype=torch.float64)
    target = 100 * ((eta - centre) ** 2).sum(-1) + 1.0
    surrogate = QuadraticSurrogate(ridge=1e-9)
    surrogate.fit(eta, target)
    point = torch.full((1, 6), 0.5, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(surrogate(point), 100 * ((point - centre) ** 2).sum(-1) + 1.0)
    (grad,) = torch.autograd.grad(surrogate(point).sum(), point)
    torch.testing.assert_close(grad[0], 200 * (0.5 - centre), rtol=1e-5, atol=1e-6)


def test_disagreement_penalty_grows_away_from_the_data():
    """Members fitted on bootstrap resamples of noisy local data agree near it and part far from it."""
    g = torch.Generator().manual_seed(5)
    eta = 0.5 + 0.02 * torch.randn((100, 6), generator=g, dtype=torch.float64)
    target = ((eta - 0.5) ** 2).sum(-1) + 0.1 * torch.randn(100, generator=g, dtype=torch.float64)
    ensemble = SurrogateEnsemble("quadratic", 4)
    buffer = ReplayBuffer(100, torch.device("cpu"))
    buffer.add(eta, target)
    for member in ensemble.members:
        member.fit(buffer.eta, buffer.target, torch.bincount(torch.randint(100, (100,), generator=g), minlength=100))
    near = surrogate_objective(ensemble, torch.full((1, 6), 0.5), 1.0) - surrogate_objective(
        ensemble, torch.full((1, 6), 0.5), 0.0
    )
    far = surrogate_objective(ensemble, torch.full((1, 6), 0.7), 1.0) - surrogate_objective(
        ensemble, torch.full((1, 6), 0.7), 0.0
    )
    assert far > 20 * near > 0


def test_replay_buffer_keeps_the_newest_points_and_weighs_them_by_recency():
    buffer = ReplayBuffer(5, torch.device("cpu"))
    for i in range(3):
        buffer.add(torch.full((2, 6), float(i)), torch.full((2,), float(i)), step=i + 1)
    assert len(buffer) == 5 and buffer.target.tolist() == [0.0, 1.0, 1.0, 2.0, 2.0]
    torch.testing.assert_close(buffer.weights(3, 0.5), torch.tensor([0.25, 0.5, 0.5, 1.0, 1.0], dtype=torch.float64))


def test_quadratic_surrogate_convex_projection():
    """A saddle target: the unprojected fit reproduces it (one negative Hessian eigenvalue); the
    projected one has none, keeps the convex direction's curvature and still fits the points'
    mean (the constant and linear terms are refitted)."""
    g = torch.Generator().manual_seed(6)
    eta = 0.5 + 0.05 * torch.randn((300, 6), generator=g, dtype=torch.float64)
    target = 100 * (eta[:, 0] - 0.5) ** 2 - 30 * (eta[:, 1] - 0.5) ** 2
    free, convex = QuadraticSurrogate(ridge=1e-9, convex=False), QuadraticSurrogate(ridge=1e-9)
    free.fit(eta, target)
    convex.fit(eta, target)
    assert torch.linalg.eigvalsh(free.hessian()).min() < 0
    values = torch.linalg.eigvalsh(convex.hessian())
    assert values.min() >= 0
    torch.testing.assert_close(values.max(), torch.linalg.eigvalsh(free.hessian()).max(), rtol=1e-6, atol=0)
    torch.testing.assert_close(convex(eta).mean(), target.mean(), rtol=0, atol=1e-9)


def test_histogram_target_is_the_two_sample_chi2():
    """Without the normalization: exactly two_sample_chi2 on the observed marginals' bins, set by set;
    with it: plus N_a / (N_a + N_b) * sum_T z^2 / (bins in all), as the module docstring states."""
    g = torch.Generator().manual_seed(7)
    observed = torch.randn((500, 2), generator=g, dtype=torch.float64)
    fake = torch.randn((3, 200, 2), generator=g, dtype=torch.float64) + torch.tensor([0.0, 0.3, 1.0])[:, None, None]
    target = HistogramDistance(observed, 10)
    edges = chi2_edges(observed, 10)
    expected = torch.tensor([two_sample_chi2(x, observed, edges) for x in fake], dtype=torch.float64)
    torch.testing.assert_close(target(SetBatch(fake)), expected)
    norm = torch.tensor([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(target(SetBatch(fake, norm)), expected + 200 / 700 * norm.double().pow(2).sum(-1) / 20)
    assert expected[0] < 2 < expected[2]  # the chi2 sees the shifted set


def test_selection_keeps_the_state_at_the_lowest_chi2():
    """Deterministic toy history: the module's weight is set to the step number before each offer;
    the kept state is the one offered at the minimum chi2 (the earlier of two equal minima)."""
    module = torch.nn.Linear(1, 1, bias=False)
    selection = Selection()
    for step, chi2 in zip([10, 20, 30, 40, 50], [3.0, 1.5, 2.0, 1.5, 4.0]):
        with torch.no_grad():
            module.weight.fill_(float(step))
        selection.offer(step, chi2, module)
    assert (selection.step, selection.chi2) == (20, 1.5)
    assert selection.state["weight"].item() == 20.0
    assert Selection.from_state(selection.as_state()) == selection


def test_best_chi2_run_returns_the_generator_of_the_lowest_logged_chi2(observation):
    """The returned generator, on the loop's monitor noise, reproduces the mean logged at the step of
    the lowest chi2 after warm-up (and the last run's generator does not, in general)."""
    settings = AdversarialSettings.from_config(
        {**TINY, "mode": "histogram", "histogram_events": 64, "steps": 8, "select": "best_chi2"}
    )
    result = train(make_theory("proxy"), observation, settings, seed=4, show_progress=False)
    steps, chi2 = np.asarray(result.history.step), np.asarray(result.history.chi2)
    live = steps > settings.surrogate_warmup
    best = np.flatnonzero(live)[np.argmin(chi2[live])]
    assert result.selected_step == steps[best]
    noise = torch.randn((MONITOR_DRAWS, settings.noise_dim), generator=make_generator(derive_seed(4, "monitor")))
    with torch.no_grad():
        mean = result.generator(noise).double().mean(0).numpy()
    np.testing.assert_allclose(mean, result.history.param_mean[best], rtol=1e-6)


def test_loss_shaping():
    losses = torch.tensor([5.0, -1.0, 100.0, 2.0, 3.0])
    torch.testing.assert_close(shape_losses(losses, "ranks"), torch.tensor([0.25, -0.5, 0.5, -0.25, 0.0]))
    torch.testing.assert_close(shape_losses(losses, "asinh"), torch.asinh(losses))
    assert shape_losses(losses, "none") is losses


def test_local_design_follows_the_inverse_hessian_and_its_trust_region():
    """Members fitted to l = 400 (eta_0 - 0.5)^2 + 16 (eta_1 - 0.5)^2 + 100 sum_{i>1} (eta_i - 0.5)^2:
    without smoothing, the design sd ratio of directions 1 and 0 is sqrt(400 / 16) = 5 (all sds
    within the clip [sigma/10, 4 sigma] around the geometric mean sigma: 0.024 to 0.12 for
    sigma = 0.05); the trust penalty vanishes within the radius of the newest points' centre and
    grows beyond it."""
    g = torch.Generator().manual_seed(8)
    eta = 0.5 + 0.05 * torch.randn((400, 6), generator=g, dtype=torch.float64)
    curvature = torch.tensor([400.0, 16.0, 100.0, 100.0, 100.0, 100.0], dtype=torch.float64)
    buffer = ReplayBuffer(400, torch.device("cpu"))
    buffer.add(eta, ((eta - 0.5) ** 2 * curvature).sum(-1), step=1)
    ensemble = SurrogateEnsemble("quadratic", 2)
    for member in ensemble.members:
        member.fit(buffer.eta, buffer.target)
    design = LocalDesign(0.05, 1.0, torch.device("cpu"), shaped=True)
    assert design.penalty(torch.full((1, 6), 0.9)).item() == 0.0  # no centre before the first update
    design.update(ensemble, buffer, buffer.weights(1, 1.0), smoothing=0.0)
    sd = design.scale_tril.pow(2).sum(1).sqrt()
    # rtol 1e-2: the members' ridge (1e-3 of the weight sum) shrinks the fitted curvatures a little
    torch.testing.assert_close(sd[1] / sd[0], torch.tensor(5.0, dtype=torch.float64), rtol=1e-2, atol=0)
    torch.testing.assert_close(sd.log().mean().exp(), torch.tensor(0.05, dtype=torch.float64), rtol=1e-6, atol=0)
    centre = design.centre[None].float()
    inside, outside = centre + 0.5 * sd.float(), centre + 3 * sd.float()
    assert design.penalty(inside).item() == 0.0 < design.penalty(outside).item()
