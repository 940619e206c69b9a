"""The one checkpoint helper every training loop uses: fingerprints, corrupt files, safe loading."""

from __future__ import annotations

import logging

import numpy as np
import torch

from pdfinfer.checkpoint import Checkpoint, content_hash, fingerprint


def test_fingerprint_changes_with_every_part():
    base = dict(settings={"steps": 10}, seed=1, data=content_hash(np.arange(4.0)))
    reference = fingerprint(**base)
    assert fingerprint(**base) == reference
    for key, value in (("settings", {"steps": 5}), ("seed", 2), ("data", content_hash(np.arange(4.0) + 1e-12))):
        assert fingerprint(**{**base, key: value}) != reference, key


def test_content_hash_sees_shape_dtype_and_absence():
    a = np.arange(6.0)
    assert content_hash(a) == content_hash(torch.arange(6.0, dtype=torch.float64))
    assert content_hash(a) != content_hash(a.reshape(2, 3))
    assert content_hash(a) != content_hash(a.astype(np.float32))
    assert content_hash(a, None) != content_hash(a)


def test_save_load_discard(tmp_path):
    ckpt = Checkpoint(tmp_path / "run.pt", "fp1")
    assert ckpt.load() is None
    state = {"step": 3, "weights": {"w": torch.ones(2)}, "history": [1.0, 2.0], "rng": torch.random.get_rng_state()}
    ckpt.save(state)
    loaded = ckpt.load()
    assert loaded["step"] == 3 and torch.equal(loaded["weights"]["w"], torch.ones(2))
    assert not list(tmp_path.glob("*.part"))
    ckpt.discard()
    assert not (tmp_path / "run.pt").exists()


def test_foreign_fingerprint_starts_afresh_with_one_warning(tmp_path, caplog):
    Checkpoint(tmp_path / "run.pt", "old").save({"step": 5})
    with caplog.at_level(logging.WARNING, logger="pdfinfer.checkpoint"):
        assert Checkpoint(tmp_path / "run.pt", "new").load() is None
    assert len(caplog.records) == 1 and "other settings, data or code version; starting afresh" in caplog.records[0].message


def test_corrupt_file_starts_afresh_with_one_warning(tmp_path, caplog):
    path = tmp_path / "run.pt"
    path.write_bytes(b"\x00not a checkpoint")
    with caplog.at_level(logging.WARNING, logger="pdfinfer.checkpoint"):
        assert Checkpoint(path, "fp").load() is None
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert message.startswith(f"{path}: unreadable checkpoint") and "\n" not in message


class _Payload:
    """An object whose unpickling would run code (weights-only loading must refuse it)."""

    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_pickled_code_is_never_executed(tmp_path, capsys):
    path = tmp_path / "run.pt"
    torch.save({"fingerprint": "fp", "state": {"evil": _Payload()}}, path)
    assert Checkpoint(path, "fp").load() is None
    assert "pickled code ran" not in capsys.readouterr().out
