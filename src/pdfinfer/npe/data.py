r"""Training data of the NPE estimator: the data spec, the validation split, fresh simulations.

* :func:`data_spec` — what the estimator needs to know about its inputs (theory, sizes, and the
  standardization of the logged features and of :math:`\log z`, fitted on training rows).
* :func:`split_indices` — a seeded training/validation split of the shard rows.
* :class:`FreshSimulations` — with ``training.fresh_simulations = S > 0``, every epoch trains on
  ``S`` new prior-predictive sets drawn from the theory (seed stream ``("npe", "fresh", epoch)``,
  so a resumed run sees the same sets), instead of the fixed training rows of the shards: the
  simulator is cheap, and fresh data cannot be overfitted. The shard rows then serve as the
  validation set only (early stopping) and fix the standardization. Fresh parameters come from
  the shards' prior (:func:`pdfinfer.constraints.sumrules.sample_prior`; the sum-rule
  constraint when the shards record one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.constraints.sumrules import sample_prior
from pdfinfer.errors import DataError
from pdfinfer.io import EventSet
from pdfinfer.npe.embedding import flatten_observation, moments
from pdfinfer.runtime import derive_seed, make_generator
from pdfinfer.theory import log_flagged, make_theory


def standardization(events: np.ndarray, norm: np.ndarray | None, log_features: Sequence[bool]) -> dict[str, list[float]]:
    """Mean and std of each (logged where flagged) feature over ``events`` ``(B, N, F)``, and of ``log norm`` ``(B, T)``."""
    feats = log_flagged(events.astype(np.float64), log_features)
    flat = feats.reshape(-1, feats.shape[-1])
    stats = {
        "feature_mean": flat.mean(0).tolist(),
        "feature_std": np.maximum(flat.std(0), 1e-6).tolist(),
        "norm_mean": [],
        "norm_std": [],
    }
    if norm is not None:
        log_norm = np.log(np.clip(norm.astype(np.float64), 1e-30, None))
        stats["norm_mean"] = log_norm.mean(0).tolist()
        stats["norm_std"] = np.maximum(log_norm.std(0), 1e-6).tolist()
    return stats


def moment_standardization(
    events: np.ndarray, stats: dict[str, list[float]], log_features: Sequence[bool], x_features: Sequence[bool], x_hi: float
) -> dict[str, list[float]]:
    """Mean and std across sets of the fixed moments (:func:`~pdfinfer.npe.embedding.moments`) of ``events`` ``(B, N, F)``."""
    raw = torch.as_tensor(events, dtype=torch.float32)
    standardized = (log_flagged(raw, torch.as_tensor(list(log_features))) - torch.tensor(stats["feature_mean"])) / torch.tensor(
        stats["feature_std"]
    )
    m = torch.cat(
        [moments(s, r, [j for j, f in enumerate(x_features) if f], x_hi) for s, r in zip(standardized.split(256), raw.split(256))]
    )
    return {"moment_mean": m.mean(0).tolist(), "moment_std": m.std(0).clamp_min(1e-6).tolist()}


def split_indices(
    n: int, validation_fraction: float, seed: int, all_validation: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded split of ``range(n)`` into training and validation indices (all validation when ``all_validation``)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "npe", "split")))
    if all_validation:
        return perm[:0], perm
    n_val = max(1, round(validation_fraction * n))
    if n - n_val < 1:
        raise DataError(f"{n} training simulations are too few to hold back {n_val} for validation")
    return perm[n_val:], perm[:n_val]


def data_spec(data: EventSet, use_norm: bool, rows: torch.Tensor) -> dict[str, Any]:
    """Everything about the inputs needed to rebuild the estimator and check observations (JSON-able)."""
    theory = make_theory(data.theory)
    if data.n_features != theory.n_features:
        raise DataError(f"{data.path}: events have {data.n_features} features, theory {theory.name!r} has {theory.n_features}")
    idx = rows.numpy()[:4096]  # the standardization needs no more sets than this
    stats = standardization(data.events[idx], data.norm[idx] if use_norm else None, theory.log_features)
    x_features = [i % theory.draws_per_target == 0 for i in range(theory.n_features)]  # x is each target's first feature
    stats.update(moment_standardization(data.events[idx], stats, theory.log_features, x_features, theory.x_hi))
    return {
        "n_events": data.n_events,
        "n_features": data.n_features,
        "n_norm": theory.n_targets if use_norm else 0,
        "normalization": bool(use_norm),
        "norm_rel_unc": data.norm_rel_unc,
        "theory": dict(data.theory),
        "feature_names": list(theory.feature_names),
        "log_features": [bool(f) for f in theory.log_features],
        "x_features": x_features,
        "x_hi": theory.x_hi,
        **stats,
        # the constrained prior of the shards (recorded only when on), which fresh simulations reuse
        **({"constraints": dict(data.attrs["constraints"])} if "constraints" in data.attrs else {}),
    }


class FreshSimulations:
    """New prior-predictive sets per epoch: ``epoch -> (theta (S, 6), x (S, N*F + T))`` on ``device``."""

    def __init__(
        self,
        spec: dict[str, Any],
        n_sets: int,
        seed: int,
        device: torch.device,
        chunk: int = 512,
        constraint: ConstraintSettings | None = None,
    ) -> None:
        self.theory = make_theory(spec["theory"])
        self.spec, self.n_sets, self.seed, self.device, self.chunk = spec, int(n_sets), int(seed), device, chunk
        self.constraint = constraint or ConstraintSettings.from_config(spec.get("constraints"))

    def __call__(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator = make_generator(derive_seed(self.seed, "npe", "fresh", epoch), self.device)
        eta = sample_prior(self.n_sets, generator, self.constraint, device=self.device)
        rows = []
        for part in eta.split(self.chunk):
            events = self.theory.sample(part, self.spec["n_events"], generator=generator)
            norm = (
                self.theory.sample_norm(part, self.spec["norm_rel_unc"], generator=generator)
                if self.spec["normalization"]
                else None
            )
            rows.append(flatten_observation(events, norm))
        return eta.float(), torch.cat(rows)
