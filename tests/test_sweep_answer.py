"""The sweep figure's answer: the fitted width slope against -0.5 and whether the C2ST holds across n."""

from __future__ import annotations

import numpy as np
import pytest

from pdfinfer.plotting.sweep import sweep_answers, width_slope

N = np.array([256.0, 512.0, 1024.0, 2048.0])


def widths(exponent: float, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Synthetic widths (4, 6): c_p n^exponent, with log-normal scatter ``noise``."""
    rng = np.random.default_rng(seed)
    scale = np.array([0.3, 0.1, 0.5, 0.2, 0.05, 1.0])
    return scale * N[:, None] ** exponent * np.exp(noise * rng.standard_normal((len(N), 6)))


@pytest.mark.parametrize("exponent", [-0.5, -0.3, -1.0])
def test_exact_power_laws_give_their_exponent(exponent):
    slope, se, k = width_slope(N, widths(exponent))
    assert slope == pytest.approx(exponent, abs=1e-12) and se == pytest.approx(0.0, abs=1e-12) and k == 6


def test_noisy_widths_give_the_slope_within_its_standard_error():
    # 24 points, 6 intercepts: scatter 0.05 in log width and sum of centred (log n)^2 = 6 x 2.40 give se ~ 0.05 / 3.8 ~ 0.013;
    # the fit must land within 3 se of -0.5 and the se must be of that size (not 0, not the raw scatter).
    slope, se, _ = width_slope(N, widths(-0.5, noise=0.05, seed=3))
    assert abs(slope + 0.5) < 3 * se and 0.005 < se < 0.05


def test_parameters_without_a_bound_or_a_width_are_left_out():
    w = widths(-0.5)
    w[:, 0] = 1.5  # prior-limited N_u: flat
    w[1, 5] = np.nan  # b_d missing at one size
    assert width_slope(N, w, use=[False, True, True, True, True, True]) == (pytest.approx(-0.5), pytest.approx(0.0, abs=1e-12), 4)
    assert width_slope(N, w)[0] > -0.5  # the flat parameter pulls an unmasked fit up
    assert width_slope(N[:1], w[:1]) == (None, None, 6)


def test_one_sentence_per_method_from_the_numbers():
    cr = np.ones((len(N), 6))
    cr[:, [0, 3]] = np.nan  # the N_u-N_d ridge has no bound
    lines = sweep_answers(
        N,
        {"reference": widths(-0.5), "adversarial": widths(-0.2)},
        c2st={"adversarial": np.array([0.70, 0.80, 0.90, 0.99])},
        cramer_rao=cr,
    )
    assert len(lines) == 2
    assert "n^(-0.50 ± 0.00) (4 identifiable parameters) vs -0.50: follows 1/sqrt(n)" in lines[0]
    assert "C2ST" not in lines[0]  # the referee has no C2ST against itself here
    assert "n^(-0.20" in lines[1] and "shrinks slower than 1/sqrt(n)" in lines[1]
    assert "C2ST vs exact 0.70 -> 0.99 (n = 256 -> 2048): worsens" in lines[1]


def test_a_slope_within_two_standard_errors_but_not_the_tolerance_is_only_consistent():
    # two sizes, per-parameter exponents -0.9, +0.6, -0.15, -0.35, +0.3, -0.6 (mean -0.18, sd 0.55):
    # the common slope is their mean, its standard error about 0.55 / sqrt(6) = 0.22, so -0.5 is within
    # 2 standard errors but not within the 0.1 tolerance
    n = np.array([256.0, 1024.0])
    exponents = np.array([-0.9, 0.6, -0.15, -0.35, 0.3, -0.6])
    (line,) = sweep_answers(n, {"reference": n[:, None] ** exponents})
    slope = float(line.split("n^(")[1].split(" ")[0])
    assert slope == round(exponents.mean(), 2)
    assert "consistent with 1/sqrt(n) within 2 standard errors" in line
