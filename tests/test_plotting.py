"""Figure functions on tiny synthetic inputs: every one writes a non-empty image of the expected
pixel size, plus the numerical helpers behind the figures (contour levels, replicate chi^2,
equal-probability bins, running means, binomial bands)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from scipy.stats import binom

from pdfinfer.errors import ConfigError, DataError
from pdfinfer.params import TRUTH, TRUTH_PHYSICAL, to_physical
from pdfinfer.plotting import calibration, events, pdfs, posteriors, sweep, table, training
from pdfinfer.plotting.style import PlotStyle, feature_label, save
from pdfinfer.theory import make_theory

DPI = 40
STYLE = PlotStyle(dpi=DPI, formats=("png",), font_size=8)
BOTH = PlotStyle(dpi=DPI, formats=("png", "pdf"), font_size=8)


@pytest.fixture(scope="module")
def theory():
    return make_theory("proxy")


@pytest.fixture(scope="module")
def draws() -> dict[str, np.ndarray]:
    """Normalized draws (K, 6) of three methods around the truth."""
    rng = np.random.default_rng(1)
    return {
        m: np.clip(TRUTH + s * rng.standard_normal((400, 6)), 0, 1)
        for m, s in [("reference", 0.03), ("npe", 0.04), ("adversarial", 0.02)]
    }


def check_written(fig, tmp_path, name: str, style: PlotStyle = STYLE) -> np.ndarray:
    """Save ``fig`` in ``style``'s formats; the PNG must be figsize * dpi pixels and not blank, a PDF a PDF."""
    width, height = fig.get_size_inches()
    paths = save(fig, tmp_path / f"{name}.png", style)
    assert [p.suffix[1:] for p in paths] == list(style.formats)
    image = imread(paths[0])
    assert np.allclose(image.shape[:2], (height * DPI, width * DPI), atol=1.0)  # Agg truncates fractional pixels
    assert image[..., :3].std() > 0.05, f"{name}: image is blank"
    for pdf in paths[1:]:
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    return image


def test_event_marginals_figure(theory, draws, tmp_path):
    observed = theory.sample(torch.as_tensor(TRUTH[None]), 256, generator=torch.Generator().manual_seed(3))[0].numpy()
    gen = torch.Generator().manual_seed(5)
    predictive = {m: theory.sample(torch.as_tensor(d[:8]), 256, generator=gen).numpy() for m, d in draws.items()}
    assert predictive["npe"].shape == (8, 256, 2)
    fig = events.plot_event_marginals(
        observed, predictive, theory.feature_names, theory.log_features, STYLE, bins=10, title="test"
    )
    assert len(fig.axes) == 4  # (histogram + ratio) per feature
    assert all(ax.get_legend() is not None for ax in fig.axes[::2])
    check_written(fig, tmp_path, "events")


def test_event_marginals_dis_layout_two_features_per_row(tmp_path):
    """Four features (dis: x and Q^2 per target) are laid out as two rows of two, Q^2 on log axes."""
    rng = np.random.default_rng(0)
    observed = np.column_stack([rng.uniform(0.1, 0.9, 300), rng.lognormal(2, 1, 300)] * 2)
    predictive = {
        "npe": np.stack([np.column_stack([rng.uniform(0.1, 0.9, 300), rng.lognormal(2, 1, 300)] * 2) for _ in range(3)])
    }
    fig = events.plot_event_marginals(
        observed, predictive, ("x_p", "Q2_p", "x_n", "Q2_n"), (False, True, False, True), STYLE, bins=8
    )
    assert len(fig.axes) == 8
    assert fig.axes[2].get_yscale() == "log" and fig.axes[0].get_yscale() == "linear"
    assert fig.axes[3].get_xlabel() == "$Q^2_{p}$ [GeV$^2$]"
    check_written(fig, tmp_path, "events_dis")


def test_event_marginals_refuses_wrong_width(theory):
    with pytest.raises(DataError, match=r"shape \(D, n, 2\)"):
        events.plot_event_marginals(
            np.zeros((10, 2)), {"npe": np.zeros((2, 10, 3))}, theory.feature_names, theory.log_features, STYLE
        )


def test_replicate_chi2_is_about_one_for_the_right_model(theory):
    """Observed and replicates from the same model: chi2/bin has mean ~1 (20 bins, sd ~ sqrt(2/20) = 0.32);
    from a far model it is large. Tolerance: 3 sd."""
    gen = torch.Generator().manual_seed(7)
    truth = torch.as_tensor(TRUTH[None])
    observed = theory.sample(truth, 1024, generator=gen)[0].numpy()
    reps = theory.sample(truth.expand(200, 6), 1024, generator=gen).numpy()
    edges = events.feature_edges(observed, 20)[0]
    counts = np.histogram(observed[:, 0], bins=edges)[0]
    assert counts.min() >= 1024 // 20 - 1 and counts.max() <= 1024 // 20 + 2  # equal-probability bins
    obs = counts / (1024 * np.diff(edges))
    chi2 = events.chi2_per_bin(obs, events.replicate_densities(reps, edges, 0))
    assert abs(chi2 - 1.0) < 3 * np.sqrt(2 / 20)
    far = theory.sample(
        torch.tensor([[0.3, 0.5, 0.3, 0.6, 0.7, 0.5]], dtype=torch.float64).expand(200, 6), 1024, generator=gen
    ).numpy()
    assert events.chi2_per_bin(obs, events.replicate_densities(far, edges, 0)) > 5


def test_corner_plot_axes_and_image(draws, tmp_path):
    physical = {m: to_physical(d) for m, d in draws.items()}
    fig = posteriors.plot_corner(physical, TRUTH_PHYSICAL, STYLE, bins=20)
    assert len(fig.axes) == 21  # lower triangle + diagonal of a 6 x 6 grid
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 4  # three methods + truth
    check_written(fig, tmp_path, "corner", BOTH)


def test_marginals_figure(draws, tmp_path):
    fig = posteriors.plot_marginals({m: to_physical(d) for m, d in draws.items()}, TRUTH_PHYSICAL, STYLE)
    assert len(fig.axes) == 6
    check_written(fig, tmp_path, "marginals")


def test_posterior_plot_refuses_bad_shape():
    with pytest.raises(DataError, match="samples of 'npe'"):
        posteriors.plot_corner({"npe": np.zeros((10, 5))}, TRUTH_PHYSICAL, STYLE)


def test_density_levels_enclose_the_requested_mass():
    rng = np.random.default_rng(0)
    hist = np.histogram2d(*rng.standard_normal((2, 20000)), bins=40)[0]
    for q, level in zip((0.95, 0.68), posteriors.density_levels(hist, (0.68, 0.95))):
        mass = hist[hist >= level].sum() / hist.sum()
        # The super-level set holds at least q and exceeds it by less than one bin's worth of the level.
        assert q <= mass <= q + (hist == level).sum() * level / hist.sum() + 1e-12


def test_pdf_bands_figure(theory, draws, tmp_path):
    x = pdfs.x_grid(theory, 50)
    curves = pdfs.evaluate_curves(theory, draws["npe"], x, max_draws=100)
    assert set(curves) == {"u", "d", "g_p", "g_n"} and curves["u"].shape == (100, 50)
    truth = pdfs.truth_curves(theory, x)
    # proxy: sigma_p = 4u + d exactly
    np.testing.assert_allclose(truth["g_p"], 4 * truth["u"] + truth["d"], rtol=1e-12)
    bands = {m: pdfs.band_quantiles(pdfs.evaluate_curves(theory, d, x)) for m, d in draws.items()}
    fig = pdfs.plot_pdf_bands(x, bands, truth, [pdfs.curve_label(n, "proxy") for n in truth], STYLE)
    assert len(fig.axes) == 8
    check_written(fig, tmp_path, "pdfs")


def test_adversarial_training_figure(tmp_path):
    steps = np.arange(0, 500, 10)
    rng = np.random.default_rng(2)
    runs = {
        f"seed {s}": training.AdversarialHistory(
            steps,
            {"discriminator": rng.random(50), "generator": rng.random(50), "surrogate": rng.random(50)},
            TRUTH_PHYSICAL + rng.standard_normal((50, 6)),
            np.full((50, 6), 0.1),
        )
        for s in range(2)
    }
    fig = training.plot_adversarial_training(runs, TRUTH_PHYSICAL, STYLE)
    assert len(fig.axes) == 9  # 3 loss panels + 6 parameter panels
    check_written(fig, tmp_path, "adversarial")
    with pytest.raises(DataError, match="parameter mean"):
        training.AdversarialHistory(steps, {}, np.zeros((49, 6)))


def test_epoch_loss_figure(tmp_path):
    fig = training.plot_epoch_losses({"n_obs = 64": (np.linspace(3, 1, 12), np.linspace(3.2, 1.4, 12))}, STYLE)
    assert fig.axes[0].get_legend() is not None
    check_written(fig, tmp_path, "npe_loss")


def test_running_mean_closed_form():
    np.testing.assert_allclose(training.running_mean(np.array([1.0, 2.0, 3.0, 4.0]), 2), [1.0, 1.5, 2.5, 3.5])


def test_calibration_figures(tmp_path):
    rng = np.random.default_rng(4)
    levels = np.linspace(0, 1, 21)
    check_written(calibration.plot_expected_coverage({"npe": (levels, levels)}, 50, STYLE), tmp_path, "coverage")
    fig = calibration.plot_sbc_ranks(rng.integers(0, 101, (50, 6)), 100, STYLE, bins=10, ks_pvalues=rng.random(6), method="npe")
    assert len(fig.axes) == 6
    check_written(fig, tmp_path, "sbc")
    check_written(
        calibration.plot_tarp(levels, levels**1.2, STYLE, atc=0.01, ks_pvalue=0.5, n_sims=50, method="npe"), tmp_path, "tarp"
    )
    with pytest.raises(DataError, match="ranks must have shape"):
        calibration.plot_sbc_ranks(np.zeros((5, 4)), 10, STYLE, method="npe")


def test_binomial_band_exact():
    lo, hi = calibration.binomial_band(np.array([0.5]), 100)
    assert (lo[0], hi[0]) == (binom.ppf(0.025, 100, 0.5) / 100, binom.ppf(0.975, 100, 0.5) / 100) == (0.4, 0.6)


def test_sweep_figure(tmp_path):
    n = np.array([64, 256, 1024])
    widths = {"reference": 0.1 / np.sqrt(n / 64)[:, None] * np.ones((3, 6)), "npe": 0.12 * np.ones((3, 6))}
    cr = widths["reference"] * 0.9
    cr[:, 0] = np.nan
    fig = sweep.plot_sweep(n, widths, STYLE, cr, {"npe": np.array([0.6, 0.55, np.nan])})
    assert len(fig.axes) == 8 and fig.axes[7].get_legend() is not None
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["64", "256", "1024"]
    check_written(fig, tmp_path, "sweep")
    with pytest.raises(DataError, match="widths of 'npe'"):
        sweep.plot_sweep(n, {"npe": np.ones((2, 6))}, STYLE)


def test_tables_image_and_html(tmp_path):
    t = table.Table(
        "Summary", ["method", "C2ST"], [["NPE (sbi)", "0.61"], ["<b>x</b>", "0.9"]], note="0.5 = indistinguishable", highlight=[1]
    )
    check_written(table.plot_tables([t], STYLE), tmp_path, "table")
    page = table.html_tables([t], "Comparison")
    assert "<td>NPE (sbi)</td>" in page and "&lt;b&gt;x&lt;/b&gt;" in page and "<tr class='hl'>" in page
    with pytest.raises(DataError, match="row 0 has 1 cells for 2 columns"):
        table.Table("bad", ["a", "b"], [["only one"]])


def test_style_validation_and_labels():
    with pytest.raises(ConfigError, match="formats"):
        PlotStyle(formats=("png", "jpeg"))
    with pytest.raises(ConfigError, match="dpi"):
        PlotStyle(dpi=0)
    assert feature_label("Q2_n") == "$Q^2_{n}$ [GeV$^2$]" and feature_label("x_p") == "$x_{p}$"
