"""Variants of issue 13: the regularized Jensen-Shannon penalty, the chi2/bins stopping figure and its plot."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pdfinfer.adversarial.loop import chi2_edges, two_sample_chi2
from pdfinfer.adversarial.losses import JSGradientPenalty, SetBatch
from pdfinfer.adversarial.networks import DeepSetsDiscriminator
from pdfinfer.adversarial.objective import DiscriminatorLoss
from pdfinfer.adversarial.settings import AdversarialSettings
from pdfinfer.params import TRUTH_PHYSICAL
from pdfinfer.plotting.style import PlotStyle
from pdfinfer.plotting.training import AdversarialHistory, plot_adversarial_training


def _fd_grad_sq(critic, events: torch.Tensor, norm: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """|grad psi|^2 per set ``(B,)`` by central differences over every entry of the set and its norm."""
    out = torch.zeros(events.shape[0], dtype=torch.float64)
    for tensor in (events, norm):
        flat = tensor.view(tensor.shape[0], -1)
        for j in range(flat.shape[1]):
            old = flat[:, j].clone()
            flat[:, j] = old + h
            up = critic(events, norm)
            flat[:, j] = old - h
            down = critic(events, norm)
            flat[:, j] = old
            out += ((up - down) / (2 * h)) ** 2
    return out


def test_rjs_penalty_matches_finite_differences_on_a_toy_critic():
    """Omega = mean_r (1 - D)^2 |grad psi|^2 + mean_f D^2 |grad psi|^2 with the gradient norms from
    central differences (h = 1e-6 in float64: truncation error ~h^2, rounding ~1e-10 / h; rel 1e-6)."""
    torch.manual_seed(0)
    critic = DeepSetsDiscriminator(2, 1, width=6, depth=1).double()
    real = SetBatch(torch.randn(3, 5, 2, dtype=torch.float64), torch.randn(3, 1, dtype=torch.float64))
    fake = SetBatch(torch.randn(3, 5, 2, dtype=torch.float64) + 0.5, torch.randn(3, 1, dtype=torch.float64))
    penalty = JSGradientPenalty()(critic, real, fake)
    with torch.no_grad():
        sq_r = _fd_grad_sq(critic, real.events.clone(), real.norm.clone())
        sq_f = _fd_grad_sq(critic, fake.events.clone(), fake.norm.clone())
        d_r, d_f = torch.sigmoid(critic(real.events, real.norm)), torch.sigmoid(critic(fake.events, fake.norm))
    expected = ((1 - d_r) ** 2 * sq_r).mean() + (d_f**2 * sq_f).mean()
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-6)
    # the penalty is differentiable in the critic's weights (it is trained through)
    grads = torch.autograd.grad(penalty, list(critic.parameters()), allow_unused=True)
    assert any(g is not None and g.abs().max() > 0 for g in grads)


def test_rjs_discriminator_loss_is_bce_plus_half_gamma_omega():
    torch.manual_seed(1)
    critic = DeepSetsDiscriminator(2, 0, width=6, depth=1).double()
    real, fake = SetBatch(torch.randn(4, 6, 2, dtype=torch.float64)), SetBatch(torch.randn(4, 6, 2, dtype=torch.float64))
    rjs = DiscriminatorLoss(AdversarialSettings(loss="rjs", gp_weight=3.0), critic)(real, fake)
    bce = DiscriminatorLoss(AdversarialSettings(loss="bce"), critic)(real, fake)
    omega = JSGradientPenalty()(critic, real, fake)
    assert rjs.item() == pytest.approx(bce.item() + 1.5 * omega.item(), rel=1e-10)


def test_chi2_per_bin_near_one_for_one_distribution_and_large_for_two():
    """Two samples of 20000 from one distribution, 2 features x 20 bins: chi2 ~ chi2_38 / 40, mean 0.95,
    sd sqrt(2 * 38) / 40 = 0.22; a shift of 0.2 sd gives chi2/bin of order N * 0.04 / 40 >> 1."""
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(20000, 2, generator=g, dtype=torch.float64), torch.randn(20000, 2, generator=g, dtype=torch.float64)
    edges = chi2_edges(b)
    assert edges.shape == (2, 19)
    same = two_sample_chi2(a, b, edges)
    assert abs(same - 0.95) < 4 * math.sqrt(2 * 38) / 40
    assert two_sample_chi2(a + 0.2, b, edges) > 10


def test_training_figure_plots_chi2_with_the_losses_and_marks_the_selected_step():
    """The chi2/bins is a loss panel (log scale: it falls by decades); the selected step (best_chi2)
    is a vertical line on every panel, and no line is drawn when the output is the last state."""
    steps = np.arange(10, 110, 10)
    chi2 = np.array([50.0, 20, 8, 3, 1.2, 0.9, 1.1, 1.4, 1.0, 1.3])
    losses = {"generator": np.linspace(1, 0, 10), "predictive chi2/bins": chi2}
    mean = np.tile(TRUTH_PHYSICAL, (10, 1))

    def vlines(fig):
        return [sum(1 for ln in ax.lines if len(set(ln.get_xdata())) == 1 and ln.get_linestyle() == ":") for ax in fig.axes]

    style = PlotStyle(dpi=50, formats=("png",), font_size=8)
    selected = AdversarialHistory(steps, losses, mean, extra={"selected_step": np.asarray(60)})
    fig = plot_adversarial_training({"run": selected}, TRUTH_PHYSICAL, style)
    assert [ax.get_ylabel() for ax in fig.axes[:2]] == ["generator loss", "predictive chi2/bins"]
    assert fig.axes[1].get_yscale() == "log"
    assert vlines(fig) == [1] * 8  # 2 loss panels + 6 parameter panels
    last = AdversarialHistory(steps, losses, mean, extra={"selected_step": np.asarray(100)})
    assert vlines(plot_adversarial_training({"run": last}, TRUTH_PHYSICAL, style)) == [0] * 8
