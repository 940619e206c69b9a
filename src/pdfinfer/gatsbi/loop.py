r"""The training loop of GATSBI, visible in one place.

Pairs :math:`(\eta_i, x_i)`, :math:`i = 1..M`, from the training shards
(:func:`pdfinfer.io.open_event_shards`: ``params`` ``(M, 6)``, ``events`` ``(M, N, F)``, ``norm``
``(M, T)``, the last used only when the normalization observable is on), read ``chunk_sets`` sets
at a time (:func:`scan_shards` for the standardization, :func:`embed_sets` for the summaries), so
that with frozen summaries the job never holds the shards whole. Two phases:

1. **Summaries.** With ``embedding.statistics: moments`` (the default) :math:`s(x)` is NPE's fixed
   moments of the set, standardized across the shards' sets: nothing to learn, the summary NPE's
   flow reaches its C2ST with. With ``learned``, a **warm start** (``warm_start_epochs``,
   :func:`warm_start`) fits a Deep Sets embedding and a Gaussian head by heteroscedastic
   regression of :math:`\eta` on :math:`s(x)`, with early stopping on a seeded validation split.
   Generator and discriminator both start from it, its output standardized over the training
   sets. With ``finetune_embedding: false`` it stays frozen and the summaries of all sets are
   computed once, so an adversarial step costs two small MLPs instead of two set networks.
   The simulator is cheap, so the job then simulates ``simulations`` more pairs from the shards'
   prior (:func:`simulate_pool`), keeping only their summaries: a conditional GAN needs far more
   pairs than the shards hold (NPE sees 8192 fresh sets per epoch).
2. **Adversarial training** (``epochs``, :func:`adversarial_epoch`): per batch of ``batch_size``
   real pairs, ``fakes_per_real`` fake pairs :math:`(G(z, s_G(x_i)), x_i)` each; ``d_steps``
   discriminator updates on :math:`\mathcal L_D + R_1`, then one generator update on
   :math:`\mathcal L_G` (:mod:`pdfinfer.gatsbi.objective`); both learning rates follow a cosine over
   the epochs down to ``lr_final_fraction`` (:func:`set_learning_rates`). An exponential moving
   average of the generator side (:class:`EMA`) is what gets saved.

:func:`fit` checkpoints with :class:`pdfinfer.checkpoint.Checkpoint` (fingerprint: settings, seed,
normalization flag, hash of the data) after the warm start and every ``checkpoint_every`` epochs.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from pdfinfer.checkpoint import Checkpoint, content_hash, fingerprint
from pdfinfer.errors import DataError, TrainingError
from pdfinfer.gatsbi.model import build_discriminator, build_embedding, build_generator
from pdfinfer.gatsbi.networks import RegressionHead, SetEmbedding
from pdfinfer.gatsbi.objective import ConditionalGANLoss, GaussianRegressionLoss, R1Penalty
from pdfinfer.gatsbi.settings import GATSBISettings
from pdfinfer.io import EventSet, EventShards
from pdfinfer.runtime import derive_seed, progress
from pdfinfer.theory import log_flagged, make_theory

log = logging.getLogger("pdfinfer.gatsbi.loop")

Summaries = Callable[[torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor]]


class EMA(nn.Module):
    """Exponential moving average ``p_ema <- decay p_ema + (1 - decay) p`` of a module's parameters."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        super().__init__()
        self.decay = float(decay)
        self.average = copy.deepcopy(module).requires_grad_(False)

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for avg, new in zip(self.average.parameters(), module.parameters()):
            avg.lerp_(new.detach(), 1.0 - self.decay) if self.decay > 0 else avg.copy_(new.detach())


@dataclass(frozen=True)
class ShardScan:
    """What one pass over the shards yields: the model's ``meta``, the parameters ``params`` ``(M, 6)``
    and ``digest``, a hash of every set's parameters, events and (when used) normalization."""

    meta: dict[str, Any]
    params: np.ndarray
    digest: str


def set_chunks(data: EventSet | EventShards, chunk_sets: int, desc: str) -> Iterator[EventSet]:
    """The sets of ``data`` in order, ``chunk_sets`` at a time ``(C, N, F)`` (read from disk for
    :class:`EventShards`), with a progress bar named ``desc``."""
    with progress(total=data.n_sets, desc=desc, unit="set") as bar:
        for lo in range(0, data.n_sets, chunk_sets):
            chunk = data.rows(np.arange(lo, min(lo + chunk_sets, data.n_sets)))
            yield chunk
            bar.update(chunk.n_sets)


def scan_shards(data: EventSet | EventShards, use_norm: bool, chunk_sets: int) -> ShardScan:
    """One pass over the shards ``(M, N, F)``, ``chunk_sets`` sets in memory at a time: the theory, sizes and
    standardization (mean and std of each logged feature over all events, float64, chunks combined
    exactly by Chan's update; of ``log norm`` over the sets) that the model needs (JSON-able)."""
    count, mean, m2 = 0, None, None
    params, norms, hashes, first = [], [], [], None
    for chunk in set_chunks(data, chunk_sets, "gatsbi shard standardization"):
        if first is None:
            first, theory = chunk, make_theory(chunk.theory)
            mean, m2 = np.zeros(chunk.n_features), np.zeros(chunk.n_features)
        feats = log_flagged(chunk.events.astype(np.float64), theory.log_features).reshape(-1, chunk.n_features)
        n, chunk_mean = len(feats), feats.mean(0)
        delta, total = chunk_mean - mean, count + n
        mean, m2 = mean + delta * n / total, m2 + ((feats - chunk_mean) ** 2).sum(0) + delta**2 * count * n / total
        count = total
        params.append(chunk.params)
        norms.append(chunk.norm)
        hashes.append(content_hash(chunk.params, chunk.events, chunk.norm if use_norm else None))
    if first is None:
        raise DataError("GATSBI: the training shards hold no sets")
    meta = {
        "theory": dict(first.theory),
        "n_events": first.n_events,
        "n_features": first.n_features,
        "feature_names": list(theory.feature_names),
        "log_features": [bool(f) for f in theory.log_features],
        "x_features": [i % theory.draws_per_target == 0 for i in range(theory.n_features)],  # each target's x
        "x_hi": theory.x_hi,
        "normalization": bool(use_norm),
        "norm_rel_unc": first.norm_rel_unc,
        "n_norm": theory.n_targets if use_norm else 0,
        "feature_mean": mean.tolist(),
        "feature_std": np.maximum(np.sqrt(m2 / count), 1e-6).tolist(),
        "norm_mean": [],
        "norm_std": [],
        "n_simulations": data.n_sets,
    }
    if use_norm:
        log_norm = np.log(np.clip(np.concatenate(norms).astype(np.float64), 1e-30, None))
        meta["norm_mean"], meta["norm_std"] = log_norm.mean(0).tolist(), np.maximum(log_norm.std(0), 1e-6).tolist()
    if "constraints" in first.attrs:  # the shards' constrained prior, which the simulated pairs reuse
        meta["constraints"] = dict(first.attrs["constraints"])
    digest = hashlib.sha256("".join(hashes).encode()).hexdigest()
    return ShardScan(meta, np.concatenate(params), digest)


def warm_start(
    embedding: SetEmbedding,
    eta: torch.Tensor,
    events: torch.Tensor,
    norm: torch.Tensor | None,
    settings: GATSBISettings,
    seed: int,
    patience: int = 6,
    batch: int = 64,
) -> dict[str, list[float]]:
    """Fit ``embedding`` by Gaussian regression of ``eta`` ``(M, 6)`` on ``s(events (M, N, F), norm (M, T))``; keeps the best-validation weights.

    Training steps see a fresh random subset of ``warm_start_events`` events of every set each
    step (cheaper, and a data augmentation); validation sees whole sets.
    """
    rng = torch.Generator().manual_seed(derive_seed(seed, "gatsbi", "warm"))
    perm = torch.randperm(len(eta), generator=rng)
    n_val = max(1, round(settings.validation_fraction * len(eta)))
    val, train = perm[:n_val].to(eta.device), perm[n_val:]
    head = RegressionHead(embedding.output_dim, settings.embedding.hidden).to(eta.device)
    loss_fn = GaussianRegressionLoss()
    params = [*embedding.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=settings.warm_start_lr)

    def loss_of(idx: torch.Tensor, subset: torch.Tensor | None = None) -> torch.Tensor:
        sets = events[idx] if subset is None else events[idx][:, subset]
        return loss_fn(*head(embedding(sets, None if norm is None else norm[idx])), eta[idx])

    n_sub = settings.warm_start_events if 0 < settings.warm_start_events < events.shape[1] else 0

    history: dict[str, list[float]] = {"warm_train": [], "warm_val": []}
    best, best_state, waited = float("inf"), copy.deepcopy(embedding.state_dict()), 0
    with progress(total=settings.warm_start_epochs, desc="gatsbi warm start", unit="epoch") as bar:
        for _ in range(settings.warm_start_epochs):
            total = 0.0
            embedding.train()
            for idx in train[torch.randperm(len(train), generator=rng)].split(batch):
                subset = torch.randperm(events.shape[1], generator=rng)[:n_sub].to(eta.device) if n_sub else None
                loss = loss_of(idx.to(eta.device), subset)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 5.0)
                opt.step()
                total += loss.item() * len(idx)
            embedding.eval()
            with torch.no_grad():
                v = sum(loss_of(i).item() * len(i) for i in val.split(256)) / len(val)
            history["warm_train"].append(total / len(train))
            history["warm_val"].append(v)
            bar.set_postfix(train=f"{history['warm_train'][-1]:.3f}", val=f"{v:.3f}")
            bar.update(1)
            best, best_state, waited = (
                (v, copy.deepcopy(embedding.state_dict()), 0) if v < best else (best, best_state, waited + 1)
            )
            if waited >= patience:
                break
    embedding.load_state_dict(best_state)
    log.info("warm start: %d epochs, best validation Gaussian NLL %.4f", len(history["warm_val"]), best)
    return history


def embed_sets(
    embedding: SetEmbedding, data: EventSet | EventShards, use_norm: bool, chunk_sets: int, device: torch.device
) -> torch.Tensor:
    """Summaries ``(M, S)`` of all sets ``(M, N, F)`` of ``data``, ``chunk_sets`` read at a time, without gradients."""
    parts = []
    with torch.no_grad():
        for chunk in set_chunks(data, chunk_sets, "gatsbi shard summaries"):
            events = torch.as_tensor(chunk.events, dtype=torch.float32, device=device)
            norm = torch.as_tensor(chunk.norm, dtype=torch.float32, device=device) if use_norm else None
            parts.append(embedding(events, norm))
    return torch.cat(parts)


def simulate_pool(
    embedding: SetEmbedding, meta: dict[str, Any], n_sets: int, seed: int, device: torch.device, chunk_sets: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_sets`` prior-predictive pairs, summarized as they are simulated: parameters ``(n_sets, 6)`` and
    summaries ``(n_sets, S)``, float32. The shards' prior and theory (``meta``), seed stream
    ``("gatsbi", "pool")``; the events are not kept (memory of ``chunk_sets`` sets)."""
    from pdfinfer.npe.data import FreshSimulations

    keys = ("theory", "n_events", "norm_rel_unc", "normalization")
    spec = {key: meta[key] for key in keys} | ({"constraints": meta["constraints"]} if "constraints" in meta else {})
    pool = FreshSimulations(spec, n_sets, derive_seed(seed, "gatsbi", "pool"), device, chunk=chunk_sets)
    width = meta["n_events"] * meta["n_features"]
    thetas, summaries = [], []
    was_training = embedding.training
    embedding.train()  # no canonical sort of each set: a mean over events, the same up to rounding
    with torch.no_grad(), progress(total=n_sets, desc="gatsbi simulations", unit="set") as bar:
        for theta, x in pool.chunks(0):
            events = x[:, :width].reshape(len(x), meta["n_events"], meta["n_features"])
            summaries.append(embedding(events, x[:, width:] if meta["normalization"] else None))
            thetas.append(theta)
            bar.update(len(theta))
    embedding.train(was_training)
    return torch.cat(thetas), torch.cat(summaries)


def frozen_summaries(cached: torch.Tensor) -> Summaries:
    """``(idx, for_generator) -> (s, s)``: the summaries ``cached`` ``(P, S)`` of frozen embeddings, looked up."""
    return lambda idx, for_generator: (cached[idx], cached[idx])


def finetuned_summaries(nets: nn.ModuleDict, events: torch.Tensor, norm: torch.Tensor | None) -> Summaries:
    """``(idx, for_generator) -> (s_G, s_D)`` of the sets ``idx`` of ``events`` ``(M, N, F)`` (in memory),
    each side through its own embedding; gradients only into the side being updated."""

    def summaries(idx: torch.Tensor, for_generator: bool) -> tuple[torch.Tensor, torch.Tensor]:
        z = None if norm is None else norm[idx]
        with torch.set_grad_enabled(for_generator):
            s_g = nets["g"]["embedding"](events[idx], z)
        with torch.set_grad_enabled(not for_generator):
            s_d = nets["d"]["embedding"](events[idx], z)
        return s_g, s_d

    return summaries


def adversarial_epoch(
    nets: nn.ModuleDict,
    opts: dict[str, torch.optim.Optimizer],
    eta: torch.Tensor,
    summaries: Summaries,
    settings: GATSBISettings,
    rng: torch.Generator,
) -> dict[str, float]:
    """One pass over the pairs: ``d_steps`` D updates, then one G update, per batch; returns the mean losses."""
    gan, r1_penalty = ConditionalGANLoss(), R1Penalty(settings.r1_weight)
    generator, critic, k = nets["g"]["generator"], nets["d"]["discriminator"], settings.fakes_per_real
    sums = dict.fromkeys(("d_loss", "g_loss", "r1", "d_real", "d_fake"), 0.0)
    batches = torch.randperm(len(eta), generator=rng, device=eta.device).split(settings.batch_size)
    for idx in batches:
        for _ in range(settings.d_steps):
            s_g, s_d = summaries(idx, False)
            with torch.no_grad():
                fake = generator.sample(s_g, k, generator=rng)
            real_logit, fake_logit = critic(eta[idx], s_d), critic(fake, s_d[:, None, :].expand(-1, k, -1))
            r1 = r1_penalty(critic, eta[idx], s_d)
            d_loss = gan(real_logit, fake_logit) + r1
            opts["d"].zero_grad(set_to_none=True)
            d_loss.backward()
            opts["d"].step()
        s_g, s_d = summaries(idx, True)
        g_loss = gan.generator(critic(generator.sample(s_g, k, generator=rng), s_d.detach()[:, None, :].expand(-1, k, -1)))
        opts["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        opts["g"].step()
        nets["ema"].update(nets["g"])
        if not (torch.isfinite(d_loss) and torch.isfinite(g_loss)):
            raise TrainingError(
                f"GATSBI losses turned non-finite (D {float(d_loss)}, G {float(g_loss)}); lower the learning rates"
            )
        for key, value in (
            ("d_loss", d_loss),
            ("g_loss", g_loss),
            ("r1", r1),
            ("d_real", real_logit.sigmoid().mean()),
            ("d_fake", fake_logit.sigmoid().mean()),
        ):
            sums[key] += float(value.detach())
    return {key: value / len(batches) for key, value in sums.items()}


def build_nets(meta: dict[str, Any], settings: GATSBISettings) -> nn.ModuleDict:
    """``g`` (embedding, generator), ``d`` (embedding, discriminator) and ``ema`` (average of ``g``)."""
    embedding = build_embedding(meta, settings)
    g = nn.ModuleDict({"embedding": embedding, "generator": build_generator(embedding.output_dim, settings)})
    d = nn.ModuleDict(
        {"embedding": copy.deepcopy(embedding), "discriminator": build_discriminator(embedding.output_dim, settings)}
    )
    return nn.ModuleDict({"g": g, "d": d, "ema": EMA(g, settings.ema)})


def optimizers(nets: nn.ModuleDict, settings: GATSBISettings) -> dict[str, torch.optim.Optimizer]:
    """Adam for each side; the embeddings only when they are fine-tuned."""
    g = nets["g"] if settings.finetune_embedding else nets["g"]["generator"]
    d = nets["d"] if settings.finetune_embedding else nets["d"]["discriminator"]
    betas = (settings.beta1, settings.beta2)
    return {
        "g": torch.optim.Adam(g.parameters(), lr=settings.lr_generator, betas=betas),
        "d": torch.optim.Adam(d.parameters(), lr=settings.lr_discriminator, betas=betas),
    }


def set_learning_rates(opts: dict[str, torch.optim.Optimizer], settings: GATSBISettings, epoch: int) -> None:
    """Both learning rates at ``epoch`` (0-based) of the cosine from their base values down to ``lr_final_fraction`` of them."""
    f = settings.lr_final_fraction
    factor = f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * epoch / max(settings.epochs - 1, 1)))
    for key, base in (("g", settings.lr_generator), ("d", settings.lr_discriminator)):
        for group in opts[key].param_groups:
            group["lr"] = base * factor


def fit(
    data: EventSet | EventShards,
    use_norm: bool,
    settings: GATSBISettings,
    seed: int,
    device: torch.device,
    checkpoint: str | None = None,
) -> tuple[nn.ModuleDict, dict[str, Any], dict[str, list[float]], float, Checkpoint]:
    """Train GATSBI on the shards ``data`` ``(M, N, F)``; returns ``(nets, meta, history, training seconds, checkpoint)``,
    resuming a matching checkpoint.

    Memory: with frozen embeddings (``moments``, or ``learned`` without warm start and fine-tuning)
    ``chunk_sets`` sets of the shards at a time, plus the parameters and summaries of all pairs
    ``(M + simulations, 6 + S)``; a warm start or fine-tuning holds every event of the shards.
    """
    scan = scan_shards(data, use_norm, settings.chunk_sets)
    meta, learned = scan.meta, settings.embedding.statistics == "learned"
    eta = torch.as_tensor(scan.params, dtype=torch.float32, device=device)
    in_memory = learned and (settings.warm_start_epochs > 0 or settings.finetune_embedding)
    events = norm = None
    if in_memory:  # the warm start and fine-tuning visit the events of every set
        full = data.read()
        events = torch.as_tensor(full.events, dtype=torch.float32, device=device)
        norm = torch.as_tensor(full.norm, dtype=torch.float32, device=device) if use_norm else None
        data = full
    ckpt = Checkpoint(
        checkpoint,
        fingerprint(settings=settings.as_dict(), seed=int(seed), normalization=bool(use_norm), data=scan.digest),
    )
    torch.manual_seed(derive_seed(seed, "gatsbi", "init"))
    nets = build_nets(meta, settings).to(device)
    opts = optimizers(nets, settings)
    rng = torch.Generator(device=device).manual_seed(derive_seed(seed, "gatsbi", "adversarial"))
    history: dict[str, list[float]] = {"warm_train": [], "warm_val": []}
    epoch, seconds = 0, 0.0
    state = ckpt.load(device)
    if state is not None:
        nets.load_state_dict(state["nets"])
        for key, opt in opts.items():
            opt.load_state_dict(state["opts"][key])
        rng.set_state(state["rng"].cpu() if device.type == "cpu" else state["rng"])
        history, epoch, seconds = state["history"], int(state["epoch"]), float(state["seconds"])
        log.info("resuming from %s after %d adversarial epochs", checkpoint, epoch)

    def save() -> None:
        ckpt.save(
            {
                "nets": nets.state_dict(),
                "opts": {k: o.state_dict() for k, o in opts.items()},
                "rng": rng.get_state(),
                "history": history,
                "epoch": epoch,
                "seconds": seconds,
            }
        )

    embedding = nets["g"]["embedding"]
    if state is None:
        tic = time.perf_counter()
        if settings.warm_start_epochs and learned:
            history.update(warm_start(embedding, eta, events, norm, settings, seed))
        embedding.standardize_output(embed_sets(embedding.eval(), data, use_norm, settings.chunk_sets, device))
        nets["d"]["embedding"].load_state_dict(nets["g"]["embedding"].state_dict())
        nets["ema"].average.load_state_dict(nets["g"].state_dict())
        seconds += time.perf_counter() - tic
        save()
    tic = time.perf_counter()
    n_shard_pairs = len(eta)
    if settings.finetune_embedding:  # needs statistics: learned and no simulated pairs (GATSBISettings.check)
        summaries = finetuned_summaries(nets, events, norm)
    else:
        cached = embed_sets(embedding.eval(), data, use_norm, settings.chunk_sets, device)
        if settings.simulations:  # deterministic in the seed: a resumed run simulates the same pairs again
            pool_eta, pool = simulate_pool(embedding, meta, settings.simulations, seed, device, settings.chunk_sets)
            eta, cached = torch.cat([eta, pool_eta]), torch.cat([cached, pool])
        summaries = frozen_summaries(cached)
    seconds += time.perf_counter() - tic
    log.info("adversarial phase on %d pairs (%d from the shards, %d simulated)", len(eta), n_shard_pairs, settings.simulations)
    with progress(total=settings.epochs, initial=epoch, desc="gatsbi epochs", unit="epoch") as bar:
        while epoch < settings.epochs:
            tic = time.perf_counter()
            set_learning_rates(opts, settings, epoch)
            row = adversarial_epoch(nets, opts, eta, summaries, settings, rng)
            seconds += time.perf_counter() - tic
            for key, value in {**row, "epoch_seconds": time.perf_counter() - tic}.items():
                history.setdefault(key, []).append(value)
            epoch += 1
            bar.set_postfix(
                D=f"{row['d_loss']:.3f}", G=f"{row['g_loss']:.3f}", real=f"{row['d_real']:.2f}", fake=f"{row['d_fake']:.2f}"
            )
            bar.update(1)
            if epoch % settings.checkpoint_every == 0 and epoch < settings.epochs:
                save()
    log.info(
        "%d adversarial epochs; %.1f s training in all (%.3f s/epoch)",
        epoch,
        seconds,
        float(np.mean(history.get("epoch_seconds", [0.0]))),
    )
    return nets, meta, history, seconds, ckpt
