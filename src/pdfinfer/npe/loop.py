r"""The NPE training loop: Adam on :class:`~pdfinfer.npe.model.NPELoss`, early stopping, checkpoints.

The loss is the one ``sbi``'s ``NPE`` minimizes on simulations from the prior (its first round):
:math:`L(\psi) = -\frac{1}{|B|} \sum_{i \in B} \log q_\psi(\eta_i \mid s(x_i))`. Training stops
when the validation loss has not improved for ``stop_after_epochs`` epochs (or at
``max_epochs``) and keeps the best-validation weights, like ``sbi``'s trainer. With
``schedule: cosine`` the learning rate of epoch :math:`k` is
:math:`\lambda_k = \frac{\lambda}{2}\,(1 + \cos(\pi k / K))`, :math:`K` = ``max_epochs``
(a function of the epoch alone, so a resumed run needs no scheduler state). The loop is
written out here rather than hidden in ``sbi``'s ``NPE.train`` so that it checkpoints every
epoch (:class:`pdfinfer.checkpoint.Checkpoint`), reports progress in the log, trains on fresh
simulations when asked, and runs on CPU or CUDA alike.

Checkpoint fingerprint: the settings (``max_epochs`` excluded unless the cosine schedule
depends on it), the seed, the content hash of the data and the checkpoint format. A checkpoint of
*more* epochs than ``max_epochs`` is not resumed (a lowered ``max_epochs`` must give the shorter
run, not the longer one).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from pdfinfer.checkpoint import Checkpoint, content_hash, fingerprint
from pdfinfer.errors import TrainingError
from pdfinfer.io import EventSet, EventShards
from pdfinfer.npe.data import FreshSimulations, Pairs, data_spec, split_indices, standardization_rows
from pdfinfer.npe.embedding import flatten_observation
from pdfinfer.npe.model import NPELoss, build_estimator
from pdfinfer.npe.settings import VALIDATION_BATCH, NPESettings, NPETrainingSettings, TrainingSettings
from pdfinfer.runtime import derive_seed, progress

log = logging.getLogger("pdfinfer.npe.train")

#: An epoch's training data: all pairs at once (shuffled into batches) or an iterable of batches.
EpochData = Callable[[int], Pairs | Iterable[Pairs]]


def _copy_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def learning_rate(config: TrainingSettings, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based) under ``config.schedule``."""
    if config.schedule == "cosine":
        return 0.5 * config.learning_rate * (1.0 + math.cos(math.pi * epoch / config.max_epochs))
    return config.learning_rate


def validation_loss(loss: NPELoss, theta: torch.Tensor, x: torch.Tensor, batch_size: int) -> float:
    """Mean loss over ``theta`` ``(V, 6)``, ``x`` ``(V, D)`` in eval mode (no gradients)."""
    loss.eval()
    with torch.no_grad():
        total = sum(float(loss(t, b)) * len(t) for t, b in zip(theta.split(batch_size), x.split(batch_size)))
    return total / len(theta)


def shuffled_batches(theta: torch.Tensor, x: torch.Tensor, batch_size: int, shuffle: torch.Generator) -> Iterator[Pairs]:
    """``theta`` ``(S, 6)``, ``x`` ``(S, D)`` in batches of ``batch_size`` in a random order drawn from ``shuffle``."""
    order = torch.randperm(len(theta), generator=shuffle).to(theta.device)
    for batch in order.split(batch_size):
        yield theta[batch], x[batch]


def train_epoch(
    loss: NPELoss,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Pairs],
    config: TrainingSettings,
    epoch: int,
) -> float:
    """One optimizer step per batch ``(theta (b, 6), x (b, D))`` of ``batches``; the mean training loss per set."""
    loss.train()
    total, count = 0.0, 0
    for theta, x in batches:
        value = loss(theta, x)
        if not torch.isfinite(value):
            raise TrainingError(
                f"NPE loss is {float(value)} at epoch {epoch}; lower npe.training.learning_rate or check the training shards"
            )
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        torch.nn.utils.clip_grad_norm_(loss.parameters(), config.clip_max_norm)
        optimizer.step()
        total, count = total + value.item() * len(theta), count + len(theta)
    return total / count


def fit(
    estimator: nn.Module,
    epoch_data: EpochData,
    val: tuple[torch.Tensor, torch.Tensor],
    config: TrainingSettings,
    seed: int,
    checkpoint: Checkpoint,
) -> dict[str, Any]:
    """Minimize the NPE loss with Adam and early stopping; returns the per-epoch history.

    ``epoch_data(epoch)`` gives that epoch's training pairs ``(theta (S, 6), x (S, D))``, trained
    on in shuffled batches, or an iterable of batches, trained on in the order given (fresh
    simulations streamed by :meth:`~pdfinfer.npe.data.FreshSimulations.batches`); ``val`` the
    validation pairs. The estimator ends with its best-validation weights. The state is
    checkpointed every epoch.
    """
    loss = NPELoss(estimator)
    optimizer = torch.optim.Adam(
        estimator.parameters(), lr=config.learning_rate, foreach=True
    )  # one fused update, not one per tensor
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "npe", "shuffle"))
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "epoch_seconds": []}
    best: dict[str, Any] = {"loss": math.inf, "epoch": -1, "state": _copy_state(estimator)}
    state = checkpoint.load(next(estimator.parameters()).device)
    if state is not None and len(state["history"]["train_loss"]) > config.max_epochs:
        log.warning(
            "%s: checkpoint of %d epochs exceeds max_epochs = %d; starting afresh",
            checkpoint.path,
            len(state["history"]["train_loss"]),
            config.max_epochs,
        )
        state = None
    if state is not None:
        estimator.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        shuffle.set_state(state["shuffle"].cpu())
        history, best = state["history"], state["best"]
        log.info(
            "resuming from %s after epoch %d (best validation loss %.4f)",
            checkpoint.path,
            len(history["train_loss"]),
            best["loss"],
        )
    with progress(total=config.max_epochs, initial=len(history["train_loss"]), desc="npe epochs", unit="epoch") as bar:
        for epoch in range(len(history["train_loss"]), config.max_epochs):
            if epoch - best["epoch"] > config.stop_after_epochs:
                break
            tic = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, epoch)
            data = epoch_data(epoch)
            batches = shuffled_batches(*data, config.batch_size, shuffle) if isinstance(data, tuple) else data
            history["train_loss"].append(train_epoch(loss, optimizer, batches, config, epoch))
            history["val_loss"].append(validation_loss(loss, *val, batch_size=max(config.batch_size, VALIDATION_BATCH)))
            history["epoch_seconds"].append(time.perf_counter() - tic)
            if history["val_loss"][-1] < best["loss"]:
                best = {"loss": history["val_loss"][-1], "epoch": epoch, "state": _copy_state(estimator)}
            bar.set_postfix(train=f"{history['train_loss'][-1]:.3f}", val=f"{history['val_loss'][-1]:.3f}", best=best["epoch"])
            bar.update(1)
            checkpoint.save(
                {
                    "model": estimator.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "shuffle": shuffle.get_state(),
                    "history": history,
                    "best": best,
                }
            )
    estimator.load_state_dict(best["state"])
    epochs = len(history["train_loss"])
    return {
        **history,
        "best_epoch": best["epoch"],
        "best_val_loss": best["loss"],
        "epochs": epochs,
        "stopped_early": epochs < config.max_epochs,
    }


def shard_rows(data: EventSet | EventShards, config: NPETrainingSettings, seed: int) -> tuple[EventSet, dict[str, torch.Tensor]]:
    """The shard rows training needs, in memory, and the split into them.

    Returns ``(rows, split)``: ``rows`` the sets read ``(R, N, F)``, ``split`` the positions in
    ``rows`` of the ``train``, ``validation`` and ``standardization`` rows. Fixed shards: every
    row (``R = B``). Fresh simulations: only the validation and standardization rows
    (``R <= max(max_validation_sets, STANDARDIZATION_SETS)``), read from disk alone when ``data``
    is :class:`~pdfinfer.io.EventShards`.
    """
    fresh, n = config.fresh_simulations > 0, data.n_sets
    train_idx, val_idx = split_indices(
        n, config.validation_fraction, seed, all_validation=fresh, max_validation=config.max_validation_sets
    )
    std_idx = standardization_rows(n, seed, train_idx, fresh)
    if not fresh:
        return data.read(), {"train": train_idx, "validation": val_idx, "standardization": std_idx}
    needed = np.union1d(val_idx.numpy(), std_idx.numpy())
    position = {
        name: torch.as_tensor(np.searchsorted(needed, idx.numpy()))
        for name, idx in (("validation", val_idx), ("standardization", std_idx))
    }
    return data.rows(needed), {"train": train_idx, **position}


def pairs(rows: EventSet, use_norm: bool, device: torch.device) -> Pairs:
    """``(theta (R, 6), x (R, N*F + T))`` float32 on ``device`` of the sets ``rows`` ``(R, N, F)``."""
    theta = torch.as_tensor(rows.params, dtype=torch.float32)
    return theta.to(device), flatten_observation(rows.events, rows.norm if use_norm else None).to(device)


def train_npe(
    settings: NPESettings,
    data: EventSet | EventShards,
    use_norm: bool,
    seed: int,
    device: torch.device,
    checkpoint_path: str | None = None,
) -> tuple[nn.Module, dict[str, Any], dict[str, Any], Checkpoint]:
    """Fit the standardization and the estimator on the shards ``data`` ``(B, N, F)`` (in memory or on disk).

    Returns ``(estimator, data spec, history, checkpoint)``; the caller discards the checkpoint
    once the model file is written. Memory: with fresh simulations, the validation and
    standardization rows and one chunk of fresh sets (``fresh_chunk_sets``); with fixed
    shards, every row (see :func:`pdfinfer.npe.settings.train_memory_bytes`).
    """
    config = settings.training
    fresh = config.fresh_simulations > 0
    rows, split = shard_rows(data, config, seed)
    spec = data_spec(rows, use_norm, split["standardization"])
    n_train = config.fresh_simulations if fresh else len(split["train"])
    spec.update(n_simulations=data.n_sets, n_train=n_train, n_validation=len(split["validation"]))
    data_hash = content_hash(rows.params, rows.events, rows.norm if use_norm else None)
    val = pairs(rows.rows(split["validation"].numpy()), use_norm, device)
    if fresh:
        del rows  # the validation pairs are all that training keeps of the shards
        simulations = FreshSimulations(spec, config.fresh_simulations, seed, device, chunk=config.fresh_chunk_sets)
        epoch_data: EpochData = lambda epoch: simulations.batches(epoch, config.batch_size)  # noqa: E731
        init_theta, init_x = simulations.initial()  # sizes the flow and z-scores theta (epoch 0's parameters)
    else:
        train = pairs(rows.rows(split["train"].numpy()), use_norm, device)
        epoch_data, (init_theta, init_x) = (lambda epoch: train), train
    log.info(
        "%d %s training sets per epoch, %d validation sets of %d events x %d features%s",
        spec["n_train"],
        "fresh" if fresh else "fixed",
        spec["n_validation"],
        spec["n_events"],
        spec["n_features"],
        " + normalization" if use_norm else "",
    )
    torch.manual_seed(derive_seed(seed, "npe", "init"))
    estimator = build_estimator(settings, spec, init_theta.cpu(), init_x.cpu()).to(device)
    log.info(
        "estimator: %s flow, %d parameters; device %s", settings.flow, sum(p.numel() for p in estimator.parameters()), device
    )
    fit_settings = settings.as_dict()
    if config.schedule == "constant":
        fit_settings["training"].pop("max_epochs")
    checkpoint = Checkpoint(
        checkpoint_path,
        fingerprint(settings=fit_settings, seed=int(seed), data=data_hash, normalization=bool(use_norm)),
    )
    history = fit(estimator, epoch_data, val, config, seed, checkpoint)
    seconds = sum(history["epoch_seconds"])
    log.info(
        "%d epochs (best %d, validation loss %.4f) in %.1f s (%.2f s/epoch)%s",
        history["epochs"],
        history["best_epoch"],
        history["best_val_loss"],
        seconds,
        seconds / max(history["epochs"], 1),
        ", stopped early" if history["stopped_early"] else "",
    )
    return estimator.cpu(), spec, history, checkpoint
