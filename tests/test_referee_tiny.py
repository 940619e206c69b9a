"""The tiny config's referee converges for both theories and both normalization settings.

Each combination simulates the tiny observed set (128 events at the truth, ``config/tiny.yaml``)
and calls the referee rule's function (:func:`pdfinfer.reference.job.reference`, no Snakemake)
with ``config/tiny.yaml``'s ``reference`` section; the run itself enforces the budget (bulk and
tail ESS >= ess_target, R-hat <= rhat_max) and raises ConvergenceError otherwise, so the test
fails if any combination needs more than ``max_steps``. The written file is checked too.

Marked ``long`` (excluded by default): about 75 s of CPU for the four combinations (measured
255 s wall on the loaded 2-core machine), beyond the suite's budget; run it with
``make test PYTEST_ARGS="-m long"``. The coordinates it relies on for the normalization-on
cases are checked in the default suite (``tests/test_referee_coordinates.py``, closed form).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pdfinfer.io import read_samples, write_events
from pdfinfer.params import TRUTH
from pdfinfer.reference.job import reference
from pdfinfer.reference.settings import ReferenceSettings
from pdfinfer.theory import make_theory

CONFIG = Path(__file__).resolve().parents[1] / "config"

torch.set_num_threads(1)


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize(
    ("theory_name", "normalization"),
    [("proxy", False), ("proxy", True), ("dis", False), ("dis", True)],
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
    assert result.info["coordinates"] == ("normalization" if normalization else "box")
    written = read_samples(tmp_path / "samples.h5")
    assert written.samples.shape == (settings.n_samples, 6) and written.attrs["sampler"] == settings.sampler
    assert np.all((written.samples >= 0) & (written.samples <= 1))
