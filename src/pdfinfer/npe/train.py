r"""Train the NPE posterior :math:`q_\psi(\eta \mid s(x))` on prior-predictive training shards.

The loss is the one ``sbi``'s ``NPE`` minimizes on simulations from the prior (its first round):
the negative log density of the simulated parameters under the flow,

.. math:: L(\psi) = -\frac{1}{|B|} \sum_{i \in B} \log q_\psi(\eta_i \mid s(x_i)),

computed by the ``sbi`` estimator's own ``loss``. A fixed fraction of the simulations (chosen by
the seed) is held back for validation; training stops when the validation loss has not improved
for ``stop_after_epochs`` epochs (or at ``max_epochs``) and keeps the best-validation weights,
like ``sbi``'s trainer. The loop is written out here (:func:`fit`) rather than hidden in
``sbi``'s ``NPE.train`` so that it checkpoints every epoch and resumes after an interruption,
reports progress in the log, and runs on CPU or CUDA alike.

Inputs are the shards ``(B_i, N, F)`` of :mod:`pdfinfer.simulate`; features flagged by
``Theory.log_features`` are logged, then every feature (and ``log z`` of the normalization
observable when it is on) is standardized with the training-split statistics, which are stored
in the saved settings (and as buffers in the state dict).

Usage::

    python -m pdfinfer.npe.train --shards shard0.h5 shard1.h5 --n-obs 1024 --normalization off \
        --out posterior.pt --checkpoint checkpoint.pt
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch

from pdfinfer.errors import ConfigError, DataError, TrainingError
from pdfinfer.io import EventSet, atomic_path, read_event_shards
from pdfinfer.npe.embedding import flatten_observation
from pdfinfer.npe.model import FLOWS, build_estimator, quiet_library_warnings, save_model
from pdfinfer.runtime import add_common_arguments, cli_main, derive_seed, progress, resolve_device, setup
from pdfinfer.theory import log_flagged, make_theory

log = logging.getLogger("pdfinfer.npe.train")


@dataclass
class TrainConfig:
    """Optimization settings of :func:`fit`."""

    batch_size: int = 64
    learning_rate: float = 1e-3
    max_epochs: int = 60
    stop_after_epochs: int = 8
    validation_fraction: float = 0.1
    clip_max_norm: float = 5.0

    def check(self) -> None:
        if self.batch_size < 1 or self.max_epochs < 1 or self.stop_after_epochs < 1:
            raise ConfigError(f"npe training: batch_size, max_epochs and stop_after_epochs must be >= 1, got {self}")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ConfigError(f"npe training: validation_fraction must lie in (0, 1), got {self.validation_fraction}")
        if not self.learning_rate > 0 or not self.clip_max_norm > 0:
            raise ConfigError(f"npe training: learning_rate and clip_max_norm must be positive, got {self}")


def standardization(events: np.ndarray, norm: np.ndarray | None, log_features: Sequence[bool]) -> dict[str, list[float]]:
    """Mean and std of each (logged where flagged) feature over ``events`` ``(B, N, F)``, and of ``log norm`` ``(B, T)``."""
    feats = log_flagged(events.astype(np.float64), log_features)
    flat = feats.reshape(-1, feats.shape[-1])
    stats = {"feature_mean": flat.mean(0).tolist(), "feature_std": np.maximum(flat.std(0), 1e-6).tolist(), "norm_mean": [], "norm_std": []}
    if norm is not None:
        log_norm = np.log(np.clip(norm.astype(np.float64), 1e-30, None))
        stats["norm_mean"] = log_norm.mean(0).tolist()
        stats["norm_std"] = np.maximum(log_norm.std(0), 1e-6).tolist()
    return stats


def split_indices(n: int, validation_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded split of ``range(n)`` into training and validation indices."""
    n_val = max(1, int(round(validation_fraction * n)))
    if n - n_val < 1:
        raise DataError(f"{n} training simulations are too few to hold back {n_val} for validation")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "npe", "split")))
    return perm[n_val:], perm[:n_val]


def build_settings(data: EventSet, use_norm: bool, train_idx: torch.Tensor, embedding: dict[str, int], flow: dict[str, Any], config: TrainConfig) -> dict[str, Any]:
    """Everything needed to rebuild the estimator and to check inputs against it (JSON-able)."""
    theory = make_theory(data.theory)
    idx = train_idx.numpy()
    stats = standardization(data.events[idx], data.norm[idx] if use_norm else None, theory.log_features)
    return {
        "n_events": data.n_events,
        "n_features": data.n_features,
        "n_norm": theory.n_targets if use_norm else 0,
        "normalization": bool(use_norm),
        "norm_rel_unc": data.norm_rel_unc,
        "theory": dict(data.theory),
        "feature_names": list(theory.feature_names),
        "log_features": [bool(f) for f in theory.log_features],
        **stats,
        "embedding": dict(embedding),
        "flow": dict(flow),
        "training": asdict(config),
    }


def fit(
    estimator: torch.nn.Module,
    theta: torch.Tensor,
    x: torch.Tensor,
    train_idx: torch.Tensor,
    val_idx: torch.Tensor,
    config: TrainConfig,
    seed: int,
    device: torch.device,
    checkpoint: str | os.PathLike[str] | None = None,
    fingerprint: str = "",
) -> dict[str, Any]:
    """Minimize the NPE loss with Adam and early stopping; returns the per-epoch history.

    ``theta`` ``(S, 6)`` and ``x`` ``(S, N*F + T)``; the estimator ends with its best-validation
    weights. With ``checkpoint``, the state is saved after every epoch and training resumes
    from it when its ``fingerprint`` (settings and data) matches.
    """
    estimator.to(device)
    theta, x = theta.to(device), x.to(device)
    optimizer = torch.optim.Adam(estimator.parameters(), lr=config.learning_rate)
    shuffle = torch.Generator().manual_seed(derive_seed(seed, "npe", "shuffle"))
    history: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "epoch_seconds": []}
    best = {"loss": math.inf, "epoch": -1, "state": {k: v.detach().clone() for k, v in estimator.state_dict().items()}}
    state = _load_checkpoint(checkpoint, fingerprint, device) if checkpoint else None
    if state is not None:
        estimator.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        shuffle.set_state(state["shuffle"])
        history, best = state["history"], state["best"]
        log.info("resuming from %s after epoch %d (best validation loss %.4f)", checkpoint, len(history["train_loss"]), best["loss"])

    def val_loss() -> float:
        estimator.eval()
        with torch.no_grad():
            total = sum(float(estimator.loss(theta[b], x[b]).sum()) for b in val_idx.to(device).split(config.batch_size))
        return total / len(val_idx)

    start_epoch = len(history["train_loss"])
    with progress(total=config.max_epochs, initial=start_epoch, desc="npe epochs", unit="epoch") as bar:
        for epoch in range(start_epoch, config.max_epochs):
            if epoch - best["epoch"] > config.stop_after_epochs:
                break
            tic = time.perf_counter()
            estimator.train()
            order = train_idx[torch.randperm(len(train_idx), generator=shuffle)].to(device)
            total = 0.0
            for batch in order.split(config.batch_size):
                loss = estimator.loss(theta[batch], x[batch]).mean()
                if not torch.isfinite(loss):
                    raise TrainingError(f"NPE loss is {float(loss)} at epoch {epoch}; lower --learning-rate or check the training shards")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(estimator.parameters(), config.clip_max_norm)
                optimizer.step()
                total += loss.item() * len(batch)
            history["train_loss"].append(total / len(train_idx))
            history["val_loss"].append(val_loss())
            history["epoch_seconds"].append(time.perf_counter() - tic)
            if history["val_loss"][-1] < best["loss"]:
                best = {"loss": history["val_loss"][-1], "epoch": epoch, "state": {k: v.detach().clone() for k, v in estimator.state_dict().items()}}
            bar.set_postfix(train=f"{history['train_loss'][-1]:.3f}", val=f"{history['val_loss'][-1]:.3f}", best=best["epoch"])
            bar.update(1)
            log.debug("epoch %d: train %.4f, validation %.4f, %.1f s", epoch, history["train_loss"][-1], history["val_loss"][-1], history["epoch_seconds"][-1])
            if checkpoint:
                _save_checkpoint(checkpoint, fingerprint, estimator, optimizer, shuffle, history, best)
    estimator.load_state_dict(best["state"])
    epochs = len(history["train_loss"])
    return {**history, "best_epoch": best["epoch"], "best_val_loss": best["loss"], "epochs": epochs, "stopped_early": epochs < config.max_epochs}


def _save_checkpoint(path: str | os.PathLike[str], fingerprint: str, estimator: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     shuffle: torch.Generator, history: dict[str, Any], best: dict[str, Any]) -> None:
    payload = {"fingerprint": fingerprint, "model": estimator.state_dict(), "optimizer": optimizer.state_dict(), "shuffle": shuffle.get_state(), "history": history, "best": best}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _load_checkpoint(path: str | os.PathLike[str], fingerprint: str, device: torch.device) -> dict[str, Any] | None:
    if not os.path.exists(path):
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # a corrupt checkpoint is not fatal: start again
        log.warning("ignoring unreadable checkpoint %s (%s); training from scratch", path, type(err).__name__)
        return None
    if state.get("fingerprint") != fingerprint:
        log.warning("ignoring checkpoint %s: it belongs to other settings or data; training from scratch", path)
        return None
    state["shuffle"] = state["shuffle"].cpu()
    return state


def train_from_shards(
    shards: Sequence[str],
    n_obs: int,
    use_norm: bool,
    embedding: dict[str, int],
    flow: dict[str, Any],
    config: TrainConfig,
    seed: int,
    device: torch.device,
    checkpoint: str | None = None,
) -> tuple[torch.nn.Module, dict[str, Any], dict[str, Any]]:
    """Read the shards, fit the standardization and the estimator; returns ``(estimator, settings, history)``."""
    config.check()
    if flow["model"] not in FLOWS:
        raise ConfigError(f"--flow must be one of {FLOWS}, got {flow['model']!r}")
    data = read_event_shards(shards, n_events=n_obs)
    theory = make_theory(data.theory)
    if data.n_features != theory.n_features:
        raise DataError(f"{data.path}: events have {data.n_features} features, theory {theory.name!r} has {theory.n_features}")
    train_idx, val_idx = split_indices(len(data.params), config.validation_fraction, seed)
    settings = build_settings(data, use_norm, train_idx, embedding, flow, config)
    settings.update(seed=int(seed), n_simulations=int(len(data.params)), n_train=int(len(train_idx)), n_validation=int(len(val_idx)),
                    shards=[os.path.basename(s) for s in shards])
    theta = torch.as_tensor(data.params, dtype=torch.float32)
    x = flatten_observation(data.events, data.norm if use_norm else None)
    log.info("%d simulations (%d train / %d validation) of %d events x %d features%s from %d shard(s)",
             len(theta), len(train_idx), len(val_idx), data.n_events, data.n_features, " + normalization" if use_norm else "", len(shards))
    torch.manual_seed(derive_seed(seed, "npe", "init"))
    estimator = build_estimator(settings, theta[train_idx], x[train_idx])
    log.info("estimator: %s flow, %d parameters; device %s", flow["model"], sum(p.numel() for p in estimator.parameters()), device)
    # A checkpoint is resumed when data and settings agree; a longer or more patient run may extend it.
    same = {k: v for k, v in settings.items() if k != "shards"}
    same["training"] = {k: v for k, v in settings["training"].items() if k not in ("max_epochs", "stop_after_epochs")}
    fingerprint = hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()
    history = fit(estimator, theta, x, train_idx, val_idx, config, seed, device, checkpoint, fingerprint)
    seconds = sum(history["epoch_seconds"])
    log.info("%d epochs (best %d, validation loss %.4f) in %.1f s (%.2f s/epoch)%s", history["epochs"], history["best_epoch"],
             history["best_val_loss"], seconds, seconds / max(history["epochs"], 1), ", stopped early" if history["stopped_early"] else "")
    settings["device"] = str(device)
    return estimator.cpu(), settings, history


def add_architecture_arguments(parser: argparse.ArgumentParser) -> None:
    """Flow, embedding and optimization options (defaults = config/config.yaml's ``npe`` section)."""
    group = parser.add_argument_group("architecture")
    group.add_argument("--flow", default="nsf", choices=FLOWS, help="sbi flow: neural spline flow or masked autoregressive flow")
    group.add_argument("--hidden-features", type=int, default=64, help="hidden units of the flow's conditioner nets")
    group.add_argument("--num-transforms", type=int, default=4, help="flow transforms")
    group.add_argument("--num-bins", type=int, default=8, help="spline bins (nsf)")
    group.add_argument("--event-hidden", type=int, default=32, help="hidden units of the per-event network")
    group.add_argument("--event-layers", type=int, default=1, help="hidden layers of the per-event network")
    group.add_argument("--event-features", type=int, default=16, help="per-event features that are mean-pooled")
    group.add_argument("--embed-hidden", type=int, default=64, help="hidden units of the head after pooling")
    group.add_argument("--embed-layers", type=int, default=2, help="layers of the head after pooling (>= 2)")
    group.add_argument("--embed-dim", type=int, default=32, help="summary features (the normalization observable is appended)")
    opt = parser.add_argument_group("optimization")
    opt.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    opt.add_argument("--learning-rate", type=float, default=TrainConfig.learning_rate)
    opt.add_argument("--max-epochs", type=int, default=TrainConfig.max_epochs)
    opt.add_argument("--stop-after-epochs", type=int, default=TrainConfig.stop_after_epochs, help="early stopping patience (epochs)")
    opt.add_argument("--validation-fraction", type=float, default=TrainConfig.validation_fraction)
    opt.add_argument("--clip-max-norm", type=float, default=TrainConfig.clip_max_norm, help="gradient norm clipping")


def parse_on_off(text: str) -> bool:
    """``on``/``off`` (also true/false, 1/0) -> bool."""
    value = text.strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pdfinfer.npe.train", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", nargs="+", required=True, help="training shards (HDF5, events (B, N, F))")
    parser.add_argument("--n-obs", type=int, required=True, help="events per set (must match the shards)")
    parser.add_argument("--normalization", type=parse_on_off, required=True, help="use the normalization observable: on or off")
    parser.add_argument("--out", required=True, help="saved model (posterior.pt)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file, written every epoch and resumed from")
    add_architecture_arguments(parser)
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args)
    quiet_library_warnings()
    device = resolve_device(args.device)
    embedding = {"event_hidden": args.event_hidden, "event_layers": args.event_layers, "event_features": args.event_features,
                 "hidden": args.embed_hidden, "layers": args.embed_layers, "output_dim": args.embed_dim}
    if min(embedding.values()) < 1 or args.embed_layers < 2:
        raise ConfigError(f"embedding sizes must be >= 1 and --embed-layers >= 2, got {embedding}")
    flow = {"model": args.flow, "hidden_features": args.hidden_features, "num_transforms": args.num_transforms, "num_bins": args.num_bins}
    config = TrainConfig(args.batch_size, args.learning_rate, args.max_epochs, args.stop_after_epochs, args.validation_fraction, args.clip_max_norm)
    estimator, settings, history = train_from_shards(args.shards, args.n_obs, args.normalization, embedding, flow, config, args.seed, device, args.checkpoint)
    settings["config_hash"] = args.config_hash
    save_model(args.out, estimator, settings, history)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
