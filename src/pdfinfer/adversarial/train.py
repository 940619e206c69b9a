r"""Train one adversarial run and write its parameter draws.

A generator :math:`G` maps noise to normalized parameters; a set discriminator :math:`D` tells
random subsets :math:`X_r` of the observed set from sets :math:`X_f` simulated at
:math:`\eta = G(z)`. One training step is

1. ``d_steps`` times: update :math:`D` on a batch of real and fake sets with :math:`L_D`
   (see :mod:`pdfinfer.adversarial.losses`); in ``surrogate`` mode follow each with
   ``surrogate_steps`` updates of :math:`S` on fresh pairs
   :math:`\tilde\eta = \mathrm{clip}(G(z) + \sigma\xi)` (a fraction of them prior draws instead),
   :math:`\min_S \big(S(\tilde\eta) - \operatorname{asinh} \ell(X_f(\tilde\eta))\big)^2` (asinh: a
   monotone compression, the loss spans decades over the prior), where
   :math:`\ell(X) = \ell_G(D(X)) + \lambda\,\mathrm{MMD}^2(X, X_r)` is the generator's per-set loss;
2. one update of :math:`G` on :math:`\mathbb E_z\,\ell(X_f(G(z)))`, the gradient flowing either
   through the differentiable inverse-CDF sampler (``reparam``) or through the surrogate,
   :math:`\mathbb E_z\,S(G(z))` (``surrogate``; the simulator stays a black box; the first
   ``surrogate_warmup`` steps train only D and S);
3. an exponential moving average of the generator weights (``ema``), whose draws are the output.

The spread of the generated parameters is the method's uncertainty estimate.

Outputs (``--out``): ``samples`` ``(K, 6)`` normalized draws of the (EMA) generator, the history
(``history_step``, ``history_wall_time``, ``history_loss_d``, ``history_loss_g``,
``history_loss_s`` in surrogate mode, ``history_param_mean`` and ``history_param_std``
``(n_logged, 6)``) and the final generator weights as one flat vector ``generator_weights``
(rebuild with :func:`load_generator`). Checkpoints (``--checkpoint``) are written every
``checkpoint_every`` steps; rerunning the same command continues from the last one.

Usage::

    python -m pdfinfer.adversarial.train --observed results/data/n1024/observed.h5 \
        --out results/adversarial/n1024/seed0.h5 --checkpoint results/checkpoints/adversarial/n1024/seed0.pt \
        --replica 0 --normalization on --settings '{"mode": "reparam", "steps": 600}'
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from pdfinfer.adversarial.losses import LOSSES, MMD, GradientPenalty, MarginalEnergy, SetBatch, make_loss, point_energy
from pdfinfer.adversarial.networks import DISCRIMINATORS, POOLINGS, Generator, Surrogate, build_discriminator
from pdfinfer.adversarial.sets import RealSets, SetEncoder, simulate_sets
from pdfinfer.errors import ConfigError, DataError, TrainingError
from pdfinfer.io import atomic_path, read_events, write_samples
from pdfinfer.params import PARAM_NAMES
from pdfinfer.runtime import add_common_arguments, cli_main, derive_seed, make_generator, progress, resolve_device, setup
from pdfinfer.theory import Theory, make_theory

log = logging.getLogger("pdfinfer.adversarial")

MODES = ("reparam", "surrogate")
#: Keys of the config section that steer the workflow, not the training.
WORKFLOW_KEYS = ("seeds", "gpus", "threads", "runtime_minutes")
#: Settings that may change between a checkpoint and its continuation.
RESUMABLE_CHANGES = ("steps", "checkpoint_every", "log_every", "n_samples")
#: Generated parameter vectors used for the logged mean/std.
MONITOR_DRAWS = 512


@dataclass
class Settings:
    """Training settings (the ``adversarial`` config section; the schema documents each key)."""

    mode: str = "reparam"
    steps: int = 600
    batch_params: int = 8
    batch_events: int = 1024
    noise_dim: int = 8
    generator_width: int = 64
    generator_depth: int = 2
    discriminator: str = "deepsets"
    pooling: str = "mean"
    discriminator_width: int = 64
    discriminator_depth: int = 2
    attention_heads: int = 4
    attention_inducing: int = 16
    loss: str = "bce"
    gp_weight: float = 10.0
    mmd_weight: float = 1.0
    mmd_bandwidths: list[float] = field(default_factory=lambda: [0.1, 0.3, 1.0, 3.0])
    mmd_events: int = 128
    energy_weight: float = 3.0
    energy_events: int = 8192
    lr_generator: float = 5e-3
    lr_discriminator: float = 1e-3
    lr_surrogate: float = 2e-3
    beta1: float = 0.5
    beta2: float = 0.9
    d_steps: int = 1
    surrogate_steps: int = 2
    surrogate_noise: float = 0.05
    surrogate_prior_fraction: float = 0.0
    surrogate_warmup: int = 50
    surrogate_width: int = 64
    surrogate_depth: int = 3
    ema: float = 0.95
    checkpoint_every: int = 200
    log_every: int = 10
    n_samples: int = 10000

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from a config section; unknown keys and bad values raise :class:`ConfigError`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names - set(WORKFLOW_KEYS))
        if unknown:
            raise ConfigError(f"adversarial settings: unknown key(s) {unknown}; allowed: {sorted(names)}")
        settings = cls(**{k: v for k, v in values.items() if k in names})
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse values the training cannot use, naming the key."""
        choices = {"mode": MODES, "loss": LOSSES, "discriminator": DISCRIMINATORS, "pooling": POOLINGS}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"adversarial.{key} = {getattr(self, key)!r} is not one of {list(allowed)}")
        positive = ("steps", "batch_params", "batch_events", "noise_dim", "generator_width", "discriminator_width",
                    "attention_heads", "mmd_events", "energy_events", "lr_generator", "lr_discriminator", "lr_surrogate", "d_steps",
                    "surrogate_steps", "surrogate_width", "checkpoint_every", "log_every", "n_samples")
        for key in positive:
            if not getattr(self, key) > 0:
                raise ConfigError(f"adversarial.{key} must be positive, got {getattr(self, key)!r}")
        for key in ("gp_weight", "mmd_weight", "energy_weight", "surrogate_noise", "surrogate_warmup", "generator_depth", "discriminator_depth", "surrogate_depth", "attention_inducing"):
            if not getattr(self, key) >= 0:
                raise ConfigError(f"adversarial.{key} must be non-negative, got {getattr(self, key)!r}")
        for key in ("beta1", "beta2", "ema", "surrogate_prior_fraction"):
            if not 0 <= getattr(self, key) < 1:
                raise ConfigError(f"adversarial.{key} must lie in [0, 1), got {getattr(self, key)!r}")
        if not self.mmd_bandwidths or any(not h > 0 for h in self.mmd_bandwidths):
            raise ConfigError(f"adversarial.mmd_bandwidths must be a non-empty list of positive numbers, got {self.mmd_bandwidths!r}")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Observation:
    """The observed set: events ``(N, F)``, the normalization measurement ``(T,)`` (``None`` when
    the observable is off) and its relative uncertainty."""

    events: np.ndarray
    norm: np.ndarray | None
    rel_unc: float


@dataclass
class Parts:
    """Everything one training step touches (models, optimizers, data, random stream)."""

    settings: Settings
    theory: Theory
    encoder: SetEncoder
    real: RealSets
    generator: Generator
    ema: Generator
    critic: nn.Module
    surrogate: Surrogate | None
    loss: nn.Module
    penalty: GradientPenalty | None
    mmd: MMD | None
    energy: MarginalEnergy | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    opt_s: torch.optim.Optimizer | None
    rng: torch.Generator
    n_events: int


@dataclass
class History:
    """Metrics per logged step (lists, continued across resumes)."""

    step: list[int] = field(default_factory=list)
    wall_time: list[float] = field(default_factory=list)
    loss_d: list[float] = field(default_factory=list)
    loss_g: list[float] = field(default_factory=list)
    loss_s: list[float] = field(default_factory=list)
    param_mean: list[list[float]] = field(default_factory=list)
    param_std: list[list[float]] = field(default_factory=list)

    def arrays(self, surrogate: bool) -> dict[str, np.ndarray]:
        """Flat datasets ``history_*`` for the samples file."""
        out = {
            "history_step": np.asarray(self.step, dtype=np.int64),
            "history_wall_time": np.asarray(self.wall_time, dtype=np.float64),
            "history_loss_d": np.asarray(self.loss_d, dtype=np.float64),
            "history_loss_g": np.asarray(self.loss_g, dtype=np.float64),
            "history_param_mean": np.asarray(self.param_mean, dtype=np.float64).reshape(-1, 6),
            "history_param_std": np.asarray(self.param_std, dtype=np.float64).reshape(-1, 6),
        }
        if surrogate:
            out["history_loss_s"] = np.asarray(self.loss_s, dtype=np.float64)
        return out


@dataclass
class Result:
    """What :func:`train` returns: the (EMA) generator, the history and how far it got."""

    generator: Generator
    history: History
    step: int
    complete: bool
    wall_time: float


# ------------------------------------------------------------------------------ building
def build_parts(settings: Settings, theory: Theory, observation: Observation, seed: int, device: torch.device) -> Parts:
    """Models, optimizers, data and the random stream of one run, on ``device``."""
    torch.manual_seed(derive_seed(seed, "init"))  # network initialization
    norm = observation.norm
    encoder = SetEncoder(theory, observation.events, norm, observation.rel_unc).to(device)
    real = RealSets(encoder, observation.events, norm, device)
    n_events = min(settings.batch_events, real.n_obs)
    generator = Generator(settings.noise_dim, settings.generator_width, settings.generator_depth).to(device)
    critic = build_discriminator(
        settings.discriminator, theory.n_features, encoder.n_norm, width=settings.discriminator_width,
        depth=settings.discriminator_depth, pooling=settings.pooling, heads=settings.attention_heads,
        n_inducing=settings.attention_inducing,
    ).to(device)
    surrogate = Surrogate(settings.surrogate_width, settings.surrogate_depth).to(device) if settings.mode == "surrogate" else None
    betas = (settings.beta1, settings.beta2)
    return Parts(
        settings=settings,
        theory=theory,
        encoder=encoder,
        real=real,
        generator=generator,
        ema=copy.deepcopy(generator).requires_grad_(False),
        critic=critic,
        surrogate=surrogate,
        loss=make_loss(settings.loss),
        penalty=GradientPenalty() if settings.loss == "wgan-gp" else None,
        mmd=MMD(settings.mmd_bandwidths).to(device) if settings.mmd_weight > 0 else None,
        energy=MarginalEnergy(real.events) if settings.energy_weight > 0 else None,
        opt_g=torch.optim.Adam(generator.parameters(), lr=settings.lr_generator, betas=betas),
        opt_d=torch.optim.Adam(critic.parameters(), lr=settings.lr_discriminator, betas=betas),
        opt_s=torch.optim.Adam(surrogate.parameters(), lr=settings.lr_surrogate, betas=betas) if surrogate is not None else None,
        rng=make_generator(derive_seed(seed, "train"), device),
        n_events=n_events,
    )


# ------------------------------------------------------------------------------ one step
def set_loss(parts: Parts, fake: SetBatch, real: SetBatch) -> torch.Tensor:
    """The generator's per-set loss ``l(X_f) = l_G(D(X_f)) + lambda MMD^2(X_f, X_r) + mu n E(X_f)``: ``(B,)``.

    ``fake`` may hold more events than the discriminator's sets (``fake_events``); the critic
    and the MMD see the first ``n_events``, the marginal energy term all of them.
    """
    value = parts.loss.generator(parts.critic(fake.events[:, : parts.n_events], fake.norm))
    if parts.mmd is not None:
        value = value + parts.settings.mmd_weight * parts.mmd(mmd_rows(fake, parts.settings.mmd_events), mmd_rows(real, parts.settings.mmd_events))
    if parts.energy is not None:
        # n * E is O(1) for n fake events that match the observed ones, like the normalization
        # term; n = min(energy_events, n_obs) weighs the events as n observed events would.
        marginal = fake.events.shape[1] * parts.energy(fake.events)
        if fake.norm is not None:
            marginal = marginal + point_energy(fake.norm, real.norm[:1])
        value = value + parts.settings.energy_weight * marginal
    return value


def mmd_rows(sets: SetBatch, k: int) -> torch.Tensor:
    """The first ``k`` events of each set ``(B, k, F)``, each row extended by the set's normalization
    feature when there is one ``(B, k, F + T)``: the MMD then compares events and normalization jointly."""
    rows = sets.events[:, :k]
    if sets.norm is None:
        return rows
    return torch.cat([rows, sets.norm[:, None, :].expand(-1, rows.shape[1], -1)], dim=-1)


def fake_events(parts: Parts) -> int:
    """Events simulated per generated parameter vector for the generator's (and surrogate's) loss."""
    if parts.energy is None:
        return parts.n_events
    return max(parts.n_events, min(parts.settings.energy_events, parts.real.n_obs))


def discriminator_step(parts: Parts) -> float:
    """One update of ``D`` on real subsets vs sets simulated at generated parameters."""
    batch = parts.settings.batch_params
    with torch.no_grad():
        eta = parts.generator.sample(batch, parts.rng)
        fake = simulate_sets(parts.theory, parts.encoder, eta, parts.n_events, parts.rng)
    real = parts.real.draw(batch, parts.n_events, parts.rng)
    loss = parts.loss(parts.critic(real.events, real.norm), parts.critic(fake.events, fake.norm))
    if parts.penalty is not None:
        loss = loss + parts.settings.gp_weight * parts.penalty(parts.critic, real, fake, parts.rng)
    parts.opt_d.zero_grad(set_to_none=True)
    loss.backward()
    parts.opt_d.step()
    return float(loss.detach())


def surrogate_step(parts: Parts) -> float:
    """One regression step of ``S`` on fresh parameters and the (asinh of the) generator's loss of
    sets simulated there: jittered generator draws and a fraction ``surrogate_prior_fraction`` of
    prior draws."""
    assert parts.surrogate is not None and parts.opt_s is not None
    batch = parts.settings.batch_params
    with torch.no_grad():
        eta = parts.generator.sample(batch, parts.rng)
        jitter = torch.randn(eta.shape, generator=parts.rng, device=eta.device)
        eta = (eta + parts.settings.surrogate_noise * jitter).clamp(1e-4, 1 - 1e-4)
        n_prior = int(round(parts.settings.surrogate_prior_fraction * batch))
        if n_prior:  # some prior draws keep S honest away from the generator's support
            eta[:n_prior] = torch.rand((n_prior, eta.shape[1]), generator=parts.rng, device=eta.device, dtype=eta.dtype).clamp(1e-4, 1 - 1e-4)
        fake = simulate_sets(parts.theory, parts.encoder, eta, fake_events(parts), parts.rng)
        real = parts.real.draw(batch, parts.n_events, parts.rng)
        target = torch.asinh(set_loss(parts, fake, real))  # log-compressed: the loss spans decades over the prior
    loss = (parts.surrogate(eta) - target).pow(2).mean()
    parts.opt_s.zero_grad(set_to_none=True)
    loss.backward()
    parts.opt_s.step()
    return float(loss.detach())


def generator_step(parts: Parts) -> float:
    """One update of ``G``: through the reparameterized simulator or through the surrogate."""
    batch = parts.settings.batch_params
    eta = parts.generator.sample(batch, parts.rng)
    if parts.surrogate is not None:
        loss = parts.surrogate(eta).mean()
    else:
        fake = simulate_sets(parts.theory, parts.encoder, eta, fake_events(parts), parts.rng, differentiable=True)
        real = parts.real.draw(batch, parts.n_events, parts.rng)
        loss = set_loss(parts, fake, real).mean()
    parts.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    parts.opt_g.step()
    with torch.no_grad():
        decay = parts.settings.ema
        for p_ema, p in zip(parts.ema.parameters(), parts.generator.parameters()):
            p_ema.lerp_(p, 1.0 - decay)
    return float(loss.detach())


def check_finite(step: int, **losses: float) -> None:
    """Stop with a message naming the step and the loss when a loss is NaN or infinite."""
    for name, value in losses.items():
        if not math.isfinite(value):
            raise TrainingError(f"training diverged at step {step}: {name} = {value}; lower the learning rates or change the loss")


# ------------------------------------------------------------------------------ checkpoints
def _fingerprint(settings: Settings, seed: int, extra: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in settings.as_dict().items() if k not in RESUMABLE_CHANGES}
    return json.loads(json.dumps({**values, "seed": seed, **extra}, sort_keys=True, default=str))


def save_checkpoint(path: Path, parts: Parts, step: int, history: History, wall_time: float, fingerprint: dict[str, Any]) -> None:
    """Write the full training state atomically."""
    state = {
        "step": step,
        "wall_time": wall_time,
        "fingerprint": fingerprint,
        "history": dataclasses.asdict(history),
        "rng": parts.rng.get_state(),
        "models": {name: getattr(parts, name).state_dict() for name in ("generator", "ema", "critic", "surrogate") if getattr(parts, name) is not None},
        "optimizers": {name: getattr(parts, name).state_dict() for name in ("opt_g", "opt_d", "opt_s") if getattr(parts, name) is not None},
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, parts: Parts, fingerprint: dict[str, Any]) -> tuple[int, History, float] | None:
    """Restore ``parts`` from ``path``; ``None`` (start afresh) when it belongs to other settings."""
    try:
        state = torch.load(path, map_location=parts.rng.device, weights_only=False)
    except Exception as err:  # a truncated or foreign file
        raise DataError(f"{path}: cannot read the checkpoint ({err}); delete it to start afresh") from None
    if state.get("fingerprint") != fingerprint:
        old = state.get("fingerprint") or {}
        changed = sorted(k for k in set(old) | set(fingerprint) if old.get(k) != fingerprint.get(k))
        log.warning("%s: checkpoint was written with different settings (%s); starting afresh", path, ", ".join(changed))
        return None
    for name, weights in state["models"].items():
        getattr(parts, name).load_state_dict(weights)
    for name, opt_state in state["optimizers"].items():
        getattr(parts, name).load_state_dict(opt_state)
    parts.rng.set_state(state["rng"].cpu())  # generator states are CPU byte tensors, whatever the device
    return int(state["step"]), History(**state["history"]), float(state["wall_time"])


# ------------------------------------------------------------------------------ the loop
def train(
    theory: Theory,
    observation: Observation,
    settings: Settings,
    seed: int,
    device: torch.device | str = "cpu",
    checkpoint: str | Path | None = None,
    stop_after: int | None = None,
    show_progress: bool = True,
) -> Result:
    """Train the generator (and discriminator, surrogate) for ``settings.steps`` steps.

    Resumes from ``checkpoint`` when it exists and matches these settings, writes it every
    ``checkpoint_every`` steps and at the end. ``stop_after`` ends this call after that many
    steps (an interruption that a later call continues); ``Result.complete`` says whether the
    run reached ``settings.steps``.
    """
    settings.check()
    device = torch.device(device)
    parts = build_parts(settings, theory, observation, seed, device)
    fingerprint = _fingerprint(settings, seed, {"theory": theory.spec(), "n_obs": parts.real.n_obs, "normalization": observation.norm is not None})
    monitor_noise = torch.randn((MONITOR_DRAWS, settings.noise_dim), generator=make_generator(derive_seed(seed, "monitor"), device), device=device)
    step, history, wall_before = 0, History(), 0.0
    checkpoint = Path(checkpoint) if checkpoint else None
    if checkpoint is not None and checkpoint.exists():
        restored = load_checkpoint(checkpoint, parts, fingerprint)
        if restored is not None:
            step, history, wall_before = restored
            log.info("resumed from %s at step %d of %d", checkpoint, step, settings.steps)
    surrogate = parts.surrogate is not None
    last_stop = settings.steps if stop_after is None else min(settings.steps, step + stop_after)
    start = time.perf_counter()
    loss_s = float("nan")
    bar = progress(total=settings.steps, initial=step, desc=f"adversarial {settings.mode}", unit="step", disable=not show_progress)
    with bar:
        while step < last_stop:
            step += 1
            for _ in range(settings.d_steps):
                loss_d = discriminator_step(parts)
                if surrogate:
                    loss_s = float(np.mean([surrogate_step(parts) for _ in range(settings.surrogate_steps)]))
            warming_up = surrogate and step <= settings.surrogate_warmup
            loss_g = float("nan") if warming_up else generator_step(parts)
            check_finite(step, discriminator_loss=loss_d, **({} if warming_up else {"generator_loss": loss_g}), **({"surrogate_loss": loss_s} if surrogate else {}))
            bar.update(1)
            if step % settings.log_every == 0 or step == settings.steps:
                with torch.no_grad():
                    draws = parts.ema(monitor_noise).double()
                mean, std = draws.mean(0).cpu().tolist(), draws.std(0).cpu().tolist()
                history.step.append(step)
                history.wall_time.append(wall_before + time.perf_counter() - start)
                history.loss_d.append(loss_d)
                history.loss_g.append(loss_g)
                history.loss_s.append(loss_s)
                history.param_mean.append(mean)
                history.param_std.append(std)
                postfix = {"D": f"{loss_d:.3f}", "G": f"{loss_g:.3f}", **({"S": f"{loss_s:.3g}"} if surrogate else {})}
                bar.set_postfix(postfix, eta="(" + ", ".join(f"{m:.3f}" for m in mean) + ")", refresh=False)
            if checkpoint is not None and (step % settings.checkpoint_every == 0 or step == last_stop):
                save_checkpoint(checkpoint, parts, step, history, wall_before + time.perf_counter() - start, fingerprint)
    wall = wall_before + time.perf_counter() - start
    return Result(parts.ema, history, step, step >= settings.steps, wall)


def draw_parameters(generator: Generator, n: int, seed: int, chunk: int = 4096) -> np.ndarray:
    """``n`` draws ``(n, 6)`` (float64, normalized) of a trained generator."""
    device = next(generator.parameters()).device
    rng = make_generator(seed, device)
    out = []
    with torch.no_grad():
        for start in range(0, n, chunk):
            out.append(generator.sample(min(chunk, n - start), rng).double().cpu().numpy())
    return np.concatenate(out)


def generator_weights(generator: Generator) -> np.ndarray:
    """All generator weights as one flat float32 vector (state-dict order)."""
    return torch.nn.utils.parameters_to_vector(generator.parameters()).detach().cpu().float().numpy()


def load_generator(sample_set: Any) -> Generator:
    """Rebuild the trained generator from a samples file read with :func:`pdfinfer.io.read_samples`."""
    s = sample_set.settings
    generator = Generator(s["noise_dim"], s["generator_width"], s["generator_depth"])
    weights = torch.as_tensor(sample_set.extras["generator_weights"])
    n_params = sum(p.numel() for p in generator.parameters())
    if weights.numel() != n_params:
        raise DataError(f"{sample_set.path}: generator_weights has {weights.numel()} values, the generator in its settings needs {n_params}")
    torch.nn.utils.vector_to_parameters(weights, generator.parameters())
    return generator


# ------------------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pdfinfer.adversarial.train", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--observed", required=True, help="observed set (HDF5 event file, one set (N, F))")
    parser.add_argument("--out", required=True, help="samples file to write")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file (resumed from when it exists)")
    parser.add_argument("--replica", type=int, default=0, help="index of this independent run (the rule's seed wildcard)")
    parser.add_argument("--normalization", required=True, choices=["on", "off"], help="whether the discriminator also sees the normalization observable")
    parser.add_argument("--settings", default="{}", help="JSON object of training settings (the config section 'adversarial')")
    parser.add_argument("--stop-after", type=int, default=None, help="stop this call after that many steps (checkpointed; rerun to continue)")
    for f in dataclasses.fields(Settings):
        kind = f.type if f.type in ("int", "float", "str") else None
        if kind is not None:
            parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f"set_{f.name}", type={"int": int, "float": float, "str": str}[kind], default=None, help=f"override settings[{f.name!r}]")
    add_common_arguments(parser)
    return parser


def read_observation(path: str, normalization: bool) -> tuple[Theory, Observation, int]:
    """The observed set of ``path`` as the theory, an :class:`Observation` and its size."""
    observed = read_events(path, batched=False)
    norm = None
    if normalization:
        if observed.norm_rel_unc <= 0:
            raise DataError(f"{path}: --normalization on needs attribute norm_rel_unc > 0, got {observed.norm_rel_unc}")
        norm = observed.norm
    return make_theory(observed.theory), Observation(observed.events, norm, observed.norm_rel_unc), observed.n_events


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args)
    try:
        values = json.loads(args.settings)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--settings is not valid JSON: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"--settings must be a JSON object, got {args.settings!r}")
    values.update({k[4:]: v for k, v in vars(args).items() if k.startswith("set_") and v is not None})
    settings = Settings.from_mapping(values)
    device = resolve_device(args.device)
    normalization = args.normalization == "on"
    theory, observation, n_obs = read_observation(args.observed, normalization)
    seed = derive_seed(args.seed, "adversarial", n_obs, args.replica)
    log.info("%s mode, %d steps, %d observed events, normalization %s, device %s", settings.mode, settings.steps, n_obs, args.normalization, device)
    result = train(theory, observation, settings, seed, device, args.checkpoint, args.stop_after)
    if not result.complete:
        log.warning("stopped at step %d of %d (checkpoint %s); rerun to continue", result.step, settings.steps, args.checkpoint)
        return 3
    samples = draw_parameters(result.generator, settings.n_samples, derive_seed(seed, "draws"))
    mean, std = samples.mean(0), samples.std(0)
    log.info("trained %d steps in %.1f s; generated parameters: %s", result.step, result.wall_time,
             ", ".join(f"{n} {m:.4f}+-{s:.4f}" for n, m, s in zip(PARAM_NAMES, mean, std)))
    extras = {**result.history.arrays(settings.mode == "surrogate"), "generator_weights": generator_weights(result.generator)}
    write_samples(
        args.out, samples, "adversarial", {**settings.as_dict(), "normalization": normalization, "n_obs": n_obs},
        seed, theory.spec(), args.config_hash, extras,
        {"replica": args.replica, "steps_done": result.step, "train_wall_time": result.wall_time, "device": str(device), "observed": str(args.observed)},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
