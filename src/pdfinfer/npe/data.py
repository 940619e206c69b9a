r"""Training data of the NPE estimator: the data spec, the validation split, fresh simulations.

* :func:`data_spec` — what the estimator needs to know about its inputs (theory, sizes, and the
  standardization of the logged features and of :math:`\log z`, fitted on training rows).
* :func:`split_indices` — a seeded training/validation split of the shard rows (validation capped
  at ``training.max_validation_sets``); :func:`standardization_rows` — the rows the
  standardization is fitted on.
* :class:`FreshSimulations` — with ``training.fresh_simulations = S > 0``, every epoch trains on
  ``S`` new prior-predictive sets drawn from the theory (seed stream ``("npe", "fresh", epoch)``,
  so a resumed run sees the same sets), instead of the fixed training rows of the shards: the
  simulator is cheap, and fresh data cannot be overfitted. The sets are simulated and trained on
  ``training.fresh_chunk_sets`` at a time (never a whole epoch in memory). The shard rows then
  serve as the validation set only (early stopping, at most ``max_validation_sets`` of them)
  and fix the standardization; only those rows are read from disk. Fresh parameters come from
  the shards' prior (:func:`pdfinfer.constraints.sumrules.sample_prior`; the sum-rule
  constraint when the shards record one).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.constraints.sumrules import sample_prior
from pdfinfer.errors import DataError
from pdfinfer.io import EventSet
from pdfinfer.npe.embedding import flatten_observation, moments
from pdfinfer.npe.settings import STANDARDIZATION_SETS, NPETrainingSettings
from pdfinfer.runtime import derive_seed, make_generator
from pdfinfer.theory import log_flagged, make_theory

#: Events per block when the standardization is fitted block by block (bounds its float64 temporaries).
BLOCK_EVENTS = 1 << 22


def _row_blocks(events: np.ndarray, rows: np.ndarray) -> Iterator[np.ndarray]:
    """``events[rows]`` ``(R, N, F)`` in consecutive blocks of about :data:`BLOCK_EVENTS` events (copies of one block at a time)."""
    size = max(1, BLOCK_EVENTS // max(1, events.shape[1]))
    for lo in range(0, len(rows), size):
        yield events[rows[lo : lo + size]]


def standardization(
    events: np.ndarray, norm: np.ndarray | None, log_features: Sequence[bool], rows: np.ndarray | None = None
) -> dict[str, list[float]]:
    """Mean and std of each (logged where flagged) feature over the sets ``rows`` of ``events`` ``(B, N, F)``
    (all when None), and of ``log norm`` ``(B, T)``; two passes block by block (float64, no copy of all rows)."""
    rows = np.arange(len(events)) if rows is None else np.asarray(rows)
    count, total = 0, np.zeros(events.shape[-1])
    for block in _row_blocks(events, rows):
        feats = log_flagged(block.astype(np.float64), log_features).reshape(-1, block.shape[-1])
        count, total = count + len(feats), total + feats.sum(0)
    mean = total / count
    squares = sum(
        ((log_flagged(b.astype(np.float64), log_features).reshape(-1, b.shape[-1]) - mean) ** 2).sum(0)
        for b in _row_blocks(events, rows)
    )
    stats = {
        "feature_mean": mean.tolist(),
        "feature_std": np.maximum(np.sqrt(squares / count), 1e-6).tolist(),
        "norm_mean": [],
        "norm_std": [],
    }
    if norm is not None:
        log_norm = np.log(np.clip(norm[rows].astype(np.float64), 1e-30, None))
        stats["norm_mean"] = log_norm.mean(0).tolist()
        stats["norm_std"] = np.maximum(log_norm.std(0), 1e-6).tolist()
    return stats


def moment_standardization(
    events: np.ndarray,
    stats: dict[str, list[float]],
    log_features: Sequence[bool],
    x_features: Sequence[bool],
    x_hi: float,
    rows: np.ndarray | None = None,
) -> dict[str, list[float]]:
    """Mean and std across the sets ``rows`` (all when None) of the fixed moments
    (:func:`~pdfinfer.npe.embedding.moments`) of ``events`` ``(B, N, F)``, block by block."""
    rows = np.arange(len(events)) if rows is None else np.asarray(rows)
    flags, mean, std = (
        torch.as_tensor(list(log_features)),
        torch.tensor(stats["feature_mean"]),
        torch.tensor(stats["feature_std"]),
    )
    x_columns = [j for j, f in enumerate(x_features) if f]
    parts = []
    for block in _row_blocks(events, rows):
        raw = torch.as_tensor(block, dtype=torch.float32)
        parts.append(moments((log_flagged(raw, flags) - mean) / std, raw, x_columns, x_hi))
    m = torch.cat(parts)
    return {"moment_mean": m.mean(0).tolist(), "moment_std": m.std(0).clamp_min(1e-6).tolist()}


def row_permutation(n: int, seed: int) -> torch.Tensor:
    """The seeded permutation ``(n,)`` of the shard rows that :func:`split_indices` splits."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "npe", "split")))


def split_indices(
    n: int, validation_fraction: float, seed: int, all_validation: bool = False, max_validation: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded split of ``range(n)`` into training and validation indices.

    ``all_validation``: every row validates (no training rows). ``max_validation``: at most this
    many validation rows (the first of the permutation); rows over the cap train (or, with
    ``all_validation``, are left out).
    """
    perm = row_permutation(n, seed)
    cap = n if max_validation is None else int(max_validation)
    if all_validation:
        return perm[:0], perm[:cap]
    n_val = min(max(1, round(validation_fraction * n)), cap)
    if n - n_val < 1:
        raise DataError(f"{n} training simulations are too few to hold back {n_val} for validation")
    return perm[n_val:], perm[:n_val]


def standardization_rows(n: int, seed: int, train_idx: torch.Tensor, fresh: bool) -> torch.Tensor:
    """The shard rows the standardization is fitted on: the first :data:`STANDARDIZATION_SETS` training rows,
    or with fresh simulations (no training rows) the first of the row permutation (whether they validate or not)."""
    return (row_permutation(n, seed) if fresh else train_idx)[:STANDARDIZATION_SETS]


def data_spec(data: EventSet, use_norm: bool, rows: torch.Tensor) -> dict[str, Any]:
    """Everything about the inputs needed to rebuild the estimator and check observations (JSON-able).

    The standardization is fitted on the sets ``rows[:STANDARDIZATION_SETS]`` of ``data`` ``(B, N, F)``.
    """
    theory = make_theory(data.theory)
    if data.n_features != theory.n_features:
        raise DataError(f"{data.path}: events have {data.n_features} features, theory {theory.name!r} has {theory.n_features}")
    idx = rows.numpy()[:STANDARDIZATION_SETS]  # the standardization needs no more sets than this
    stats = standardization(data.events, data.norm if use_norm else None, theory.log_features, idx)
    x_features = [i % theory.draws_per_target == 0 for i in range(theory.n_features)]  # x is each target's first feature
    stats.update(moment_standardization(data.events, stats, theory.log_features, x_features, theory.x_hi, idx))
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


Pairs = tuple[torch.Tensor, torch.Tensor]


class FreshSimulations:
    """New prior-predictive sets per epoch, simulated ``chunk`` sets at a time: ``theta (S, 6)``, ``x (S, N*F + T)`` on ``device``.

    Epoch ``k`` draws all ``S`` parameter rows first (``(S, 6)``, small), then simulates their
    events chunk by chunk in order with the same generator (seed stream ``("npe", "fresh", k)``):
    the sets depend on the seed, the epoch and ``chunk`` alone, so a resumed run sees the sets
    of the uninterrupted one. Training reads them through :meth:`batches`, which holds one
    chunk at a time (memory ``O(chunk x N)``, not ``O(S x N)``); :meth:`__call__` gathers a whole
    epoch (for inspection and small sizes only).
    """

    def __init__(
        self,
        spec: dict[str, Any],
        n_sets: int,
        seed: int,
        device: torch.device,
        chunk: int = NPETrainingSettings.fresh_chunk_sets,
        constraint: ConstraintSettings | None = None,
    ) -> None:
        self.theory = make_theory(spec["theory"])
        self.spec, self.n_sets, self.seed, self.device, self.chunk = spec, int(n_sets), int(seed), device, int(chunk)
        self.constraint = constraint or ConstraintSettings.from_config(spec.get("constraints"))

    def prior_draws(self, epoch: int) -> tuple[torch.Generator, torch.Tensor]:
        """The generator of ``epoch`` and its parameter rows ``eta`` ``(S, 6)`` (float64) drawn from it."""
        generator = make_generator(derive_seed(self.seed, "npe", "fresh", epoch), self.device)
        return generator, sample_prior(self.n_sets, generator, self.constraint, device=self.device)

    def simulate(self, eta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Observations ``x`` ``(C, N*F + T)`` of the parameter rows ``eta`` ``(C, 6)`` (one chunk)."""
        events = self.theory.sample(eta, self.spec["n_events"], generator=generator)
        norm = (
            self.theory.sample_norm(eta, self.spec["norm_rel_unc"], generator=generator) if self.spec["normalization"] else None
        )
        return flatten_observation(events, norm)

    def chunks(self, epoch: int) -> Iterator[Pairs]:
        """``epoch``'s sets ``(theta (C, 6), x (C, D))``, ``C <= chunk``, simulated lazily in draw order."""
        generator, eta = self.prior_draws(epoch)
        for part in eta.split(self.chunk):
            yield part.float(), self.simulate(part, generator)

    def batches(self, epoch: int, batch_size: int) -> Iterator[Pairs]:
        """``epoch``'s sets in batches of ``batch_size`` (the last one smaller), in draw order, one chunk in memory.

        Draw order, unshuffled: the sets are i.i.d. prior-predictive draws, so consecutive batches
        are as random as shuffled ones (the fixed-shard loop shuffles; this one need not). What
        changed with streaming: the sets of an epoch are the same as when the whole epoch was
        gathered at once, but the loop used to shuffle them (its ``("npe", "shuffle")`` stream)
        before batching, so the batches, and hence the trained weights, differ from that version's.
        """
        carry: Pairs | None = None
        for theta, x in self.chunks(epoch):
            if carry is not None:
                theta, x = torch.cat([carry[0], theta]), torch.cat([carry[1], x])
            full = len(theta) - len(theta) % batch_size
            for lo in range(0, full, batch_size):
                yield theta[lo : lo + batch_size], x[lo : lo + batch_size]
            carry = (theta[full:].clone(), x[full:].clone()) if full < len(theta) else None
        if carry is not None:
            yield carry

    def initial(self) -> Pairs:
        """Epoch 0's parameter rows ``(S, 6)`` and its first chunk's observations ``(C, D)``: what sizes the flow."""
        generator, eta = self.prior_draws(0)
        return eta.float(), self.simulate(eta[: self.chunk], generator)

    def __call__(self, epoch: int) -> Pairs:
        """All of ``epoch``'s sets at once, ``theta (S, 6)``, ``x (S, D)`` (memory ``O(S x N)``: not for training)."""
        thetas, xs = zip(*self.chunks(epoch))
        return torch.cat(thetas), torch.cat(xs)
