"""Impossible events are refused where the exact posterior is built, not only by the file readers
(issue 15.4: the reference used to fail with "some initial walkers have zero posterior density")."""

import numpy as np
import pytest

from pdfinfer.errors import DataError
from pdfinfer.reference.likelihood import LogPosterior
from pdfinfer.theory import make_theory


@pytest.mark.parametrize("bad, message", [(5.0, r"x_p = 5\)"), (-0.3, r"x_p = -0\.3\)")])
def test_log_posterior_refuses_events_outside_the_support_naming_the_event(bad, message):
    events = np.full((10, 2), 0.5)
    events[4, 0] = bad
    with pytest.raises(
        DataError, match=r"^obs\.h5: event 4 \(" + message + r" lies outside the support of theory 'proxy' \(x in \[0\.1, 1\]\)$"
    ):
        LogPosterior(make_theory("proxy"), events, where="obs.h5")


def test_log_posterior_accepts_events_on_the_support_edges():
    events = np.array([[0.1, 0.999], [0.5, 0.5]])  # at x = 1 itself the density (1-x)^b vanishes
    post = LogPosterior(make_theory("proxy"), events)
    assert np.isfinite(post(np.full((1, 6), 0.5))).all()
