"""The tiny config's referee converges for both theories and both normalization settings.

Marked ``long`` (about 25 min on a 2-core machine, beyond the suite's 10-minute budget): run it
with ``make test PYTEST_ARGS="-m long"``.

Each combination simulates the tiny observed set (128 events at the truth) and runs the referee
with ``config/tiny.yaml``'s ``reference`` section; the run itself enforces the budget (bulk and
tail ESS >= ess_target, R-hat <= rhat_max) and raises ConvergenceError otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pdfinfer.io import read_samples, write_events
from pdfinfer.params import TRUTH
from pdfinfer.reference.result import ConvergenceError
from pdfinfer.reference.run import reference
from pdfinfer.reference.settings import ReferenceSettings
from pdfinfer.theory import make_theory

CONFIG = Path(__file__).resolve().parents[1] / "config"


# Known failure (issue 16, open): dis with the normalization on misses R-hat for N_d even after
# 12800 emcee steps (R-hat 1.0215 at bulk ESS 955: the ensembles disagree, not too few draws).
DIS_NORM_ON = pytest.mark.xfail(
    reason="dis + normalization: N_d R-hat 1.02 after 12800 emcee steps (issue 16)", raises=ConvergenceError, strict=False
)


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize(
    ("theory_name", "normalization"),
    [("proxy", False), ("proxy", True), ("dis", False), pytest.param("dis", True, marks=DIS_NORM_ON)],
    ids=["proxy-norm-off", "proxy-norm-on", "dis-norm-off", "dis-norm-on"],
)
def test_tiny_reference_converges(theory_name, normalization, tmp_path):
    tiny = yaml.safe_load((CONFIG / "tiny.yaml").read_text())
    settings = ReferenceSettings.from_config(tiny.get("reference", {}))
    theory = make_theory(theory_name)
    generator = torch.Generator().manual_seed(0)
    truth = torch.as_tensor(TRUTH)[None]
    events = theory.sample(truth, tiny["observation"]["n_obs"], generator=generator)[0].numpy()
    norm = theory.sample_norm(truth, 0.02, generator=generator)[0].numpy()
    observed = tmp_path / "observed.h5"
    write_events(observed, events, TRUTH, norm, theory.spec(), seed=0, norm_rel_unc=0.02)
    result = reference(
        settings, observed, normalization, tmp_path / "samples.h5", tmp_path / "fisher.json", seed=20241107, device="cpu"
    )
    assert np.all(result.rhat <= settings.rhat_max)
    assert np.all(np.minimum(result.ess_bulk, result.ess_tail) >= settings.ess_target)
    written = read_samples(tmp_path / "samples.h5")
    assert written.samples.shape == (settings.n_samples, 6) and written.attrs["sampler"] == settings.sampler
