"""The referee's normalization coordinates y = (log Z_1, log Z_2, shapes): closed-form checks.

Each check is exact up to float64 rounding (tolerances 1e-9 relative), so a wrong basis, a wrong
2x2 solve or a Jacobian off by a factor fails it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdfinfer.errors import ConfigError
from pdfinfer.params import TRUTH
from pdfinfer.reference.coordinates import NORMS, BoxCoordinates, NormalizationCoordinates
from pdfinfer.reference.likelihood import LogPosterior, SubspacePosterior
from pdfinfer.theory import make_theory

torch.set_num_threads(1)


@pytest.fixture(scope="module", params=["proxy", "dis"])
def coords(request) -> NormalizationCoordinates:
    theory = make_theory(request.param)
    generator = torch.Generator().manual_seed(1)
    truth = torch.as_tensor(TRUTH)[None]
    events = theory.sample(truth, 64, generator=generator)[0].numpy()
    norm = theory.sample_norm(truth, 0.02, generator=generator)[0].numpy()
    return NormalizationCoordinates(LogPosterior(theory, events, norm, 0.02))


def box_points(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.05, 0.95, size=(n, 6))


def test_normalizers_are_linear_in_the_normalizations(coords):
    # The premise of the coordinates: Z(eta) = eta_Nu A(s) + eta_Nd B(s).
    eta = torch.as_tensor(box_points(8, 2))
    a, b = coords._basis(eta[:, [1, 2, 4, 5]])
    z = coords.theory.normalizers(eta)
    assert torch.allclose(z, eta[:, NORMS[0], None] * a + eta[:, NORMS[1], None] * b, rtol=1e-10)


def test_round_trip(coords):
    eta = box_points(16, 3)
    np.testing.assert_allclose(coords.to_eta(coords.to_y(eta)), eta, rtol=1e-9, atol=1e-12)


def test_log_jacobian_matches_autograd(coords):
    y = torch.as_tensor(coords.to_y(box_points(3, 4)))
    _, log_jac = coords._solve(y)
    for row, expected in zip(y, log_jac):
        jac = torch.autograd.functional.jacobian(lambda r: coords._solve(r[None])[0][0], row)
        assert float(torch.linalg.slogdet(jac)[1]) == pytest.approx(float(expected), rel=1e-9, abs=1e-9)


def test_density_is_the_box_density_plus_the_jacobian(coords):
    eta = box_points(8, 5)
    y = coords.to_y(eta)
    _, log_jac = coords._solve(torch.as_tensor(y))
    np.testing.assert_allclose(coords(y), coords.posterior(eta) + log_jac.numpy(), rtol=1e-9)
    # Leaving the box (a shape outside [0, 1], or a normalization pushed below 0) has zero density.
    outside = y[:2].copy()
    outside[0, 2] = 1.2
    outside[1, 0] = np.log(1e-6)
    assert np.all(coords(outside) == -np.inf)


def test_refused_without_the_full_posterior():
    theory = make_theory("proxy")
    events = theory.sample(torch.as_tensor(TRUTH)[None], 16, generator=torch.Generator().manual_seed(0))[0].numpy()
    sub = SubspacePosterior(LogPosterior(theory, events), [1, 2], TRUTH)
    with pytest.raises(ConfigError, match="coordinates 'normalization'"):
        NormalizationCoordinates(sub)
    assert BoxCoordinates(sub)(np.array([[0.25, 0.6]]))[0] == sub(np.array([[0.25, 0.6]]))[0]
