"""Parameter mapping, prior box and the reference truth (docs/conventions.md)."""

import numpy as np
import pytest
import torch

from pdfinfer.errors import ParameterError
from pdfinfer.params import THETA_MAX, THETA_MIN, TRUTH, TRUTH_PHYSICAL, check_params, to_normalized, to_physical


def test_truth_maps_to_published_physical_values():
    # eta* is published to 8 decimals, so theta* agrees to ~3e-8 * range.
    np.testing.assert_allclose(to_physical(TRUTH), TRUTH_PHYSICAL, atol=5e-8)
    np.testing.assert_allclose(to_normalized(TRUTH_PHYSICAL), TRUTH, atol=1e-8)


def test_mapping_round_trips_for_numpy_and_torch():
    rng = np.random.default_rng(0)
    eta = rng.uniform(size=(100, 6))
    np.testing.assert_allclose(to_normalized(to_physical(eta)), eta, atol=1e-14)
    t = torch.as_tensor(eta)
    assert torch.allclose(to_normalized(to_physical(t)), t, atol=1e-14)
    np.testing.assert_array_equal(to_physical(np.zeros(6)), THETA_MIN)
    np.testing.assert_array_equal(to_physical(np.ones(6)), THETA_MAX)


def test_out_of_box_parameters_are_refused_with_the_parameter_name():
    eta = np.tile(TRUTH, (3, 1))
    eta[2, 4] = 1.2
    with pytest.raises(ParameterError, match=r"observed: normalized a_d = 1\.2 at index \(2, 4\) is outside the prior box"):
        check_params(eta, "observed")


@pytest.mark.parametrize("bad", [np.zeros(5), np.full((2, 6), np.nan)])
def test_wrong_shape_or_nan_is_refused(bad):
    with pytest.raises(ParameterError):
        check_params(bad)
