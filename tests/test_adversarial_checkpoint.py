"""Adversarial checkpoints: the fingerprint covers everything the result depends on (issue 15, items 1, 2, 9).

Each test interrupts a tiny run after 2 steps, changes one input and continues for one step:
``Result.step == 1`` is a fresh start, ``3`` a resume.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from pdfinfer.adversarial.loop import train
from pdfinfer.adversarial.observation import Observation
from pdfinfer.adversarial.settings import AdversarialSettings
from pdfinfer.params import TRUTH
from pdfinfer.theory import make_theory

TINY = {
    "steps": 8,
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
}


@pytest.fixture(scope="module")
def theory():
    return make_theory("proxy")


@pytest.fixture(scope="module")
def observation(theory):
    g = torch.Generator().manual_seed(3)
    eta = torch.as_tensor(TRUTH)[None]
    return Observation(
        theory.sample(eta, 128, generator=g)[0].numpy(), theory.sample_norm(eta, 0.02, generator=g)[0].numpy(), 0.02
    )


def _interrupted(theory, observation, path, changes=None):
    """Train 2 steps into ``path``, then one more step with ``changes`` applied; the step reached."""
    changes = changes or {}
    settings = AdversarialSettings.from_config(TINY)
    assert train(theory, observation, settings, seed=5, checkpoint=path, stop_after=2, show_progress=False).step == 2
    new_settings = AdversarialSettings.from_config({**TINY, **changes.get("settings", {})})
    result = train(
        changes.get("theory", theory),
        changes.get("observation", observation),
        new_settings,
        seed=changes.get("seed", 5),
        checkpoint=path,
        stop_after=1,
        show_progress=False,
    )
    return result.step


def test_same_inputs_resume(theory, observation, tmp_path):
    assert _interrupted(theory, observation, tmp_path / "c.pt") == 3


@pytest.mark.parametrize("what", ["steps", "lr", "seed", "events", "norm", "norm_off", "rel_unc", "theory"])
def test_any_change_starts_afresh_with_one_warning(theory, observation, tmp_path, caplog, what):
    events, norm = observation.events.copy(), observation.norm.copy()
    changes = {
        "steps": {"settings": {"steps": 9}},  # a shorter or longer run never returns the checkpointed one
        "lr": {"settings": {"lr_generator": 0.004}},
        "seed": {"seed": 6},
        "events": {"observation": Observation(np.concatenate([events[1:], events[:1] * 1.0001]), norm, 0.02)},
        "norm": {"observation": Observation(events, norm * 1.01, 0.02)},
        "norm_off": {"observation": Observation(events, None, 0.02)},
        "rel_unc": {"observation": Observation(events, norm, 0.03)},
        "theory": {"theory": make_theory({"name": "proxy", "x_min": 0.05})},
    }[what]
    with caplog.at_level(logging.WARNING, logger="pdfinfer.checkpoint"):
        assert _interrupted(theory, observation, tmp_path / "c.pt", changes) == 1
    assert len([r for r in caplog.records if r.name == "pdfinfer.checkpoint"]) == 1


@pytest.mark.parametrize("content", [b"", b"garbage \x00\x01 not a checkpoint", b"PK\x03\x04truncated zip"])
def test_corrupt_checkpoint_warns_once_and_starts_afresh(theory, observation, tmp_path, caplog, content):
    path = tmp_path / "c.pt"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        result = train(
            theory, observation, AdversarialSettings.from_config(TINY), seed=5, checkpoint=path, stop_after=1, show_progress=False
        )
    assert result.step == 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and str(path) in warnings[0].getMessage() and "\n" not in warnings[0].getMessage()


EXECUTED: list[str] = []


def _mark() -> str:
    EXECUTED.append("ran")
    return "ran"


class _Payload:
    """Unpickling this runs ``_mark``: what a weights-only load must refuse."""

    def __reduce__(self):
        return (_mark, ())


def test_pickled_code_is_not_executed(theory, observation, tmp_path, caplog):
    path = tmp_path / "c.pt"
    torch.save({"fingerprint": "x", "state": {"payload": _Payload()}}, path)
    with caplog.at_level(logging.WARNING):
        result = train(
            theory, observation, AdversarialSettings.from_config(TINY), seed=5, checkpoint=path, stop_after=1, show_progress=False
        )
    assert result.step == 1 and EXECUTED == []
