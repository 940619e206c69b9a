"""Training checkpoints: one helper for every training loop (``docs/reliability.md``).

A checkpoint is resumed only when its *fingerprint* matches: a hash of everything the result
depends on (the method's settings, the seed, a hash of the data's content, the checkpoint
format and the package version). Behaviour, the same in every loop:

* no file: start afresh;
* a file that cannot be read as a checkpoint (truncated, corrupt, foreign, an old format):
  one warning line naming the file, then start afresh (the file is overwritten later);
* a readable checkpoint with another fingerprint: one warning line, start afresh;
* a matching one: resume from it. It can only continue into the result an uninterrupted run
  gives, and the loop removes it once its output is written (:meth:`Checkpoint.discard`).

Files are written atomically and read with ``torch.load(weights_only=True)``: a checkpoint
holds tensors, numbers, strings and containers of them, never pickled code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdfinfer import __version__
from pdfinfer.io import atomic_path

log = logging.getLogger("pdfinfer.checkpoint")

#: Version of the checkpoint layout; bump it when a loop's state changes shape.
CHECKPOINT_FORMAT = 2


def content_hash(*arrays: np.ndarray | torch.Tensor | None) -> str:
    """SHA-256 of the arrays' shapes, dtypes and bytes (``None`` entries hash as absent)."""
    digest = hashlib.sha256()
    for array in arrays:
        if array is None:
            digest.update(b"none;")
            continue
        a = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape};".encode())
        digest.update(a.reshape(-1).view(np.uint8))  # the bytes in place (no copy of a large array)
    return digest.hexdigest()


def fingerprint(**parts: Any) -> str:
    """Hash of ``parts`` (settings dicts, seed, data hashes, ...) with the format and package version."""
    payload = {"checkpoint_format": CHECKPOINT_FORMAT, "pdfinfer": __version__, **parts}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class Checkpoint:
    """The checkpoint file of one training run; ``path=None`` disables checkpointing."""

    def __init__(self, path: str | os.PathLike[str] | None, fingerprint: str) -> None:
        self.path = Path(path) if path else None
        self.fingerprint = fingerprint

    def load(self, device: torch.device | str = "cpu") -> dict[str, Any] | None:
        """The saved state when the file exists and matches, else ``None`` (start afresh)."""
        if self.path is None or not self.path.exists():
            return None
        try:
            payload = torch.load(self.path, map_location=device, weights_only=True)
        except Exception as err:  # truncated, corrupt, foreign or pickled-code files alike
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            log.warning("%s: unreadable checkpoint (%s); starting afresh", self.path, reason[:200])
            return None
        if not isinstance(payload, dict) or "state" not in payload or "fingerprint" not in payload:
            log.warning("%s: not a pdfinfer checkpoint; starting afresh", self.path)
            return None
        if payload["fingerprint"] != self.fingerprint:
            log.warning("%s: checkpoint of other settings, data or code version; starting afresh", self.path)
            return None
        return payload["state"]

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` atomically (a kill leaves the previous checkpoint or none)."""
        if self.path is None:
            return
        with atomic_path(self.path) as tmp:
            torch.save({"fingerprint": self.fingerprint, "state": state}, tmp)

    def discard(self) -> None:
        """Remove the file once the run's output is written (a finished run leaves nothing to resume)."""
        if self.path is not None:
            self.path.unlink(missing_ok=True)
