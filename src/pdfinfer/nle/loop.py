r"""Train the NLE likelihoods on single (eta, event) pairs of the prior-predictive shards.

Each shard row holds :math:`N` iid events :math:`x_{r,1..N} \sim p(x \mid \eta_r)` at one prior draw
:math:`\eta_r`. Per epoch, ``events_per_row`` = :math:`k` events of every training row are drawn
afresh without replacement (a new subset each epoch, seeded), giving :math:`R k` pairs, and

.. math:: L(\psi) = -\frac{1}{|B|} \sum_{(r, i) \in B} \log q_\psi(x_{r,i} \mid \eta_r)

(:class:`NLELoss`) is minimized with Adam over shuffled mini-batches; at the optimum
:math:`q_\psi(x \mid \eta) = p(x \mid \eta)` for every :math:`\eta` in the prior's support. Validation uses
a fixed subset of ``validation_events_per_row`` events of the held-out rows; training stops after
``stop_after_epochs`` epochs without improvement and keeps the best weights. With the normalization
observable on, :math:`q_\phi(z \mid \eta)` is fitted afterwards on the rows' :math:`(\eta_r, z_r)` by
the same kind of loop (:func:`fit_norm`). Both loops checkpoint (:class:`pdfinfer.checkpoint.Checkpoint`,
fingerprint: settings, seed, data hash) and resume.

The command line is :mod:`pdfinfer.nle.train`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pdfinfer.checkpoint import Checkpoint, content_hash, fingerprint
from pdfinfer.errors import DataError, TrainingError
from pdfinfer.io import EventSet
from pdfinfer.nle.model import EventLikelihood, NLEModel, NormLikelihood, build_model
from pdfinfer.nle.settings import NLESettings
from pdfinfer.runtime import derive_seed, progress
from pdfinfer.theory import make_theory

log = logging.getLogger("pdfinfer.nle.loop")


class NLELoss(nn.Module):
    """Mean negative log-likelihood of pairs: ``x`` ``(M, F)``, ``eta`` ``(M, D)`` -> scalar."""

    def __init__(self, likelihood: EventLikelihood | NormLikelihood) -> None:
        super().__init__()
        self.likelihood = likelihood

    def forward(self, x: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        return -self.likelihood(x, eta).mean()


def data_spec(data: EventSet, use_norm: bool) -> dict[str, Any]:
    """What a model must match to be used on an observed set, and how its events are transformed."""
    theory = make_theory(data.theory)
    if data.n_features != theory.n_features:
        raise DataError(f"{data.path}: events have {data.n_features} features, theory {theory.name!r} has {theory.n_features}")
    first = [j % theory.draws_per_target == 0 for j in range(theory.n_features)]  # each target's x
    return {
        "theory": dict(data.theory),
        "n_features": theory.n_features,
        "feature_names": list(theory.feature_names),
        "n_params": int(data.params.shape[-1]),
        "n_norm": theory.n_targets if use_norm else 0,
        "norm_rel_unc": data.norm_rel_unc,
        "lower": [theory.x_lo] * theory.n_features,
        "upper": [theory.x_hi] * theory.n_features,
        "bounded": first,
        "logged": [bool(f) for f in theory.log_features],
    }


def split_rows(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded split of ``range(n)`` rows into training and validation indices."""
    n_val = max(1, round(fraction * n))
    if n - n_val < 1:
        raise DataError(f"{n} training rows are too few to hold back {n_val} for validation")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "nle", "split")))
    return perm[n_val:], perm[:n_val]


def subsample(
    events: torch.Tensor, params: torch.Tensor, rows: torch.Tensor, k: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` events of each row in ``rows`` (without replacement): pairs ``(R k, F)``, ``(R k, D)``."""
    k = min(k, events.shape[1])
    pick = torch.rand(len(rows), events.shape[1], generator=gen).argsort(dim=1)[:, :k]
    x = events[rows[:, None], pick]
    return x.reshape(-1, events.shape[-1]), params[rows].repeat_interleave(k, dim=0)


def _batched_loss(loss: NLELoss, x: torch.Tensor, eta: torch.Tensor, batch: int) -> float:
    with torch.no_grad():
        return sum(float(loss(xb, eb)) * len(xb) for xb, eb in zip(x.split(batch), eta.split(batch))) / len(x)


def fit_loop(
    likelihood: nn.Module,
    make_epoch: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]],
    val: tuple[torch.Tensor, torch.Tensor],
    cfg: Any,
    gen: torch.Generator,
    tag: str,
    resume: dict[str, Any] | None,
    save: Callable[[dict[str, Any]], None],
    clip: float = 5.0,
    save_every: int = 1,
) -> dict[str, Any]:
    """Adam with early stopping on ``val``; ``make_epoch(gen)`` gives the epoch's pairs ``(x, eta)``.

    ``cfg`` has ``batch_size``, ``learning_rate``, ``max_epochs``, ``stop_after_epochs``. Every
    ``save_every`` epochs the loop state goes to ``save``; ``resume`` (a saved state) continues it. The
    best-validation weights are kept. Returns the history.
    """
    loss = NLELoss(likelihood)
    optimizer = torch.optim.Adam(likelihood.parameters(), lr=cfg.learning_rate)
    history: dict[str, Any] = {"train_loss": [], "val_loss": [], "epoch_seconds": []}
    best: dict[str, Any] = {"loss": math.inf, "epoch": -1, "state": {k: v.clone() for k, v in likelihood.state_dict().items()}}
    state = resume
    if state is not None:
        likelihood.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        history, best = state["history"], state["best"]
        log.info("%s: resuming after epoch %d (best validation loss %.4f)", tag, len(history["train_loss"]), best["loss"])
    with progress(total=cfg.max_epochs, initial=len(history["train_loss"]), desc=f"nle {tag} epochs", unit="epoch") as bar:
        for epoch in range(len(history["train_loss"]), cfg.max_epochs):
            if epoch - best["epoch"] > cfg.stop_after_epochs:
                break
            tic = time.perf_counter()
            likelihood.train()
            x, eta = make_epoch(gen)
            order = torch.randperm(len(x), generator=gen)
            total = 0.0
            for batch in order.split(cfg.batch_size):
                value = loss(x[batch], eta[batch])
                if not torch.isfinite(value):
                    raise TrainingError(
                        f"NLE {tag} loss is {float(value)} at epoch {epoch}; lower nle learning_rate or check the training shards"
                    )
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                nn.utils.clip_grad_norm_(likelihood.parameters(), clip)
                optimizer.step()
                total += float(value.detach()) * len(batch)
            likelihood.eval()
            history["train_loss"].append(total / len(x))
            history["val_loss"].append(_batched_loss(loss, *val, cfg.batch_size))
            history["epoch_seconds"].append(time.perf_counter() - tic)
            if history["val_loss"][-1] < best["loss"]:
                best = {
                    "loss": history["val_loss"][-1],
                    "epoch": epoch,
                    "state": {k: v.clone() for k, v in likelihood.state_dict().items()},
                }
            bar.set_postfix(train=f"{history['train_loss'][-1]:.4f}", val=f"{history['val_loss'][-1]:.4f}", best=best["epoch"])
            bar.update(1)
            if (epoch + 1) % save_every == 0:
                save(
                    {
                        "model": likelihood.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "generator": gen.get_state(),
                        "history": history,
                        "best": best,
                    }
                )
    likelihood.load_state_dict(best["state"])
    return {**history, "best_epoch": best["epoch"], "best_val_loss": best["loss"], "epochs": len(history["train_loss"])}


def train(
    data: EventSet, use_norm: bool, settings: NLESettings, seed: int, device: torch.device, checkpoint_path: str | None = None
) -> tuple[NLEModel, dict[str, Any], dict[str, Any]]:
    """Fit ``q(x | eta)`` (and ``q(z | eta)`` when ``use_norm``) to ``data``; returns ``(model, spec, history)``."""
    spec = data_spec(data, use_norm)
    events = torch.as_tensor(data.events, dtype=torch.float32)
    params = torch.as_tensor(data.params, dtype=torch.float32)
    norm = torch.as_tensor(data.norm, dtype=torch.float64)
    train_rows, val_rows = split_rows(len(params), settings.validation_fraction, seed)
    data_hash = content_hash(data.params, data.events, data.norm if use_norm else None)
    ckpt = Checkpoint(
        checkpoint_path, fingerprint(settings=settings.as_dict(), seed=seed, data=data_hash, normalization=use_norm)
    )
    saved: dict[str, Any] = ckpt.load() or {}

    def save(tag: str) -> Callable[[dict[str, Any]], None]:
        def put(state: dict[str, Any]) -> None:
            saved[tag] = state
            ckpt.save(saved)

        return put

    torch.manual_seed(derive_seed(seed, "nle", "init"))
    fit_gen = torch.Generator().manual_seed(derive_seed(seed, "nle", "standardize"))
    x0, eta0 = subsample(events, params, train_rows, min(settings.events_per_row, 64), fit_gen)
    model = build_model(settings.as_dict(), spec, eta0, x0)
    if model.norm is not None:
        model.norm.fit(norm[train_rows])
    model.to(device)
    log.info(
        "%d rows (%d train / %d validation) of %d events x %d features; %s flow with %d parameters; device %s",
        len(params),
        len(train_rows),
        len(val_rows),
        data.n_events,
        data.n_features,
        settings.flow,
        sum(p.numel() for p in model.events.parameters()),
        device,
    )
    val_gen = torch.Generator().manual_seed(derive_seed(seed, "nle", "validation"))
    val = tuple(t.to(device) for t in subsample(events, params, val_rows, settings.validation_events_per_row, val_gen))

    def event_epoch(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x, eta = subsample(events, params, train_rows, settings.events_per_row, gen)
        return x.to(device), eta.to(device)

    gen = torch.Generator().manual_seed(derive_seed(seed, "nle", "epochs"))
    history = {
        "events": fit_loop(
            model.events, event_epoch, val, settings, gen, "events", saved.get("events"), save("events"), settings.clip_max_norm
        )
    }
    if model.norm is not None:
        z_train, z_val = (
            (norm[train_rows].to(device), params[train_rows].to(device)),
            (norm[val_rows].to(device), params[val_rows].to(device)),
        )
        gen = torch.Generator().manual_seed(derive_seed(seed, "nle", "norm"))
        history["norm"] = fit_loop(
            model.norm,
            lambda g: z_train,
            z_val,
            settings.norm,
            gen,
            "norm",
            saved.get("norm"),
            save("norm"),
            settings.clip_max_norm,
            save_every=25,
        )
    history["train_seconds"] = float(sum(sum(h["epoch_seconds"]) for h in history.values() if isinstance(h, dict)))
    for tag, h in history.items():
        if isinstance(h, dict):
            log.info(
                "%s: %d epochs (best %d, validation loss %.4f) in %.1f s",
                tag,
                h["epochs"],
                h["best_epoch"],
                h["best_val_loss"],
                sum(h["epoch_seconds"]),
            )
    return model.cpu(), spec, {**history, "checkpoint": checkpoint_path or ""}
