r"""The training loop of one adversarial run: the step functions and the visible loop.

One training step is

1. ``d_steps`` times: update :math:`D` on real subsets and sets simulated at generated
   parameters with :class:`~pdfinfer.adversarial.objective.DiscriminatorLoss` (not in the
   non-adversarial ``histogram`` mode); in ``surrogate`` and ``histogram`` mode follow each with
   ``surrogate_steps`` evaluations of the target (the set loss, or the binned chi2 to the observed
   set) at a local design and refits of the surrogate ensemble (see :func:`surrogate_step`);
2. one update of :math:`G` on :math:`\mathbb E_z\,\ell(X_f(G(z)))` with the per-set loss
   :class:`~pdfinfer.adversarial.objective.SetLoss`, the gradient flowing through the
   differentiable inverse-CDF sampler (``reparam``), through the surrogate ensemble
   (``surrogate``, ``histogram``; the first ``surrogate_warmup`` steps train only D and S) or by the
   score-function estimator (``reinforce``, a Gaussian generator in logit space); see
   :mod:`pdfinfer.adversarial.blackbox` for the two black-box routes. In the black-box modes the
   generator's learning rate follows a cosine schedule down to ``lr_final_fraction`` (``lr_schedule``);
3. an exponential moving average of the generator weights (``ema``), whose draws are the output.

Every ``log_every`` steps the history records the losses, the mean and spread of the generated
parameters and the chi2 per bin of the generator's predictive events against the observed set
(equal-probability bins of each observed marginal; :func:`two_sample_chi2`), a stopping figure
that does not depend on the discriminator. With ``select: best_chi2`` the output is the EMA
generator at the lowest logged chi2/bins (:class:`Selection`) instead of the last one.

Checkpoints (:class:`pdfinfer.checkpoint.Checkpoint`) hold the whole state, so an interrupted
run continues into the result of an uninterrupted one; the fingerprint covers the settings,
the seed, the theory and the content of the observed events and normalization.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pdfinfer.adversarial.blackbox import (
    LocalDesign,
    ReplayBuffer,
    fit_surrogates,
    score_function_objective,
    shape_losses,
    surrogate_objective,
    surrogate_target,
)
from pdfinfer.adversarial.histogram import HistogramDistance, chi2_edges, two_sample_chi2
from pdfinfer.adversarial.losses import SetBatch
from pdfinfer.adversarial.networks import GaussianGenerator, Generator, SurrogateEnsemble, build_discriminator
from pdfinfer.adversarial.objective import DiscriminatorLoss, PriorPenalty, SetLoss
from pdfinfer.adversarial.observation import Observation
from pdfinfer.adversarial.sets import RealSets, SetEncoder, simulate_common, simulate_sets
from pdfinfer.adversarial.settings import AdversarialSettings
from pdfinfer.checkpoint import Checkpoint, content_hash, fingerprint
from pdfinfer.errors import TrainingError
from pdfinfer.runtime import derive_seed, make_generator, progress
from pdfinfer.theory import Theory

log = logging.getLogger("pdfinfer.adversarial")

#: Generated parameter vectors used for the logged mean/std.
MONITOR_DRAWS = 512
#: Simulated events for the logged chi2/bins.
CHI2_EVENTS = 8192
#: Version of this loop's checkpoint state (bump when its layout changes).
STATE_VERSION = 3


@dataclass
class Run:
    """What one training step touches: models, objectives, optimizers, data and the random stream."""

    settings: AdversarialSettings
    theory: Theory
    encoder: SetEncoder
    real: RealSets
    models: nn.ModuleDict  # generator, ema, critic (, surrogate)
    set_loss: SetLoss
    d_loss: DiscriminatorLoss
    optimizers: dict[str, torch.optim.Optimizer]
    rng: torch.Generator
    n_events: int  # events per set seen by the critic
    n_fake: int  # events simulated per generated vector for the generator's loss
    buffer: ReplayBuffer | None = None  # surrogate modes: the points the surrogates are fitted on
    penalty: PriorPenalty | None = None  # the sum-rule constraint's -log f on generated parameters (when on)
    histogram: HistogramDistance | None = None  # histogram mode: the surrogates' target
    design: LocalDesign | None = None  # surrogate modes: the design and trust region

    @property
    def generator(self) -> Generator:
        return self.models["generator"]


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
    chi2: list[float] = field(default_factory=list)

    def arrays(self, surrogate: bool, adversarial: bool = True) -> dict[str, np.ndarray]:
        """Flat datasets ``history_*`` for the samples file (the discriminator's loss only when there is one)."""
        out = {
            "history_step": np.asarray(self.step, dtype=np.int64),
            "history_wall_time": np.asarray(self.wall_time, dtype=np.float64),
            "history_loss_g": np.asarray(self.loss_g, dtype=np.float64),
            "history_param_mean": np.asarray(self.param_mean, dtype=np.float64).reshape(-1, 6),
            "history_param_std": np.asarray(self.param_std, dtype=np.float64).reshape(-1, 6),
            "history_chi2": np.asarray(self.chi2, dtype=np.float64),
        }
        if adversarial:
            out["history_loss_d"] = np.asarray(self.loss_d, dtype=np.float64)
        if surrogate:
            out["history_loss_s"] = np.asarray(self.loss_s, dtype=np.float64)
        return out


@dataclass
class Result:
    """What :func:`train` returns: the (EMA) generator (the selected one), the history and how far it got."""

    generator: Generator
    history: History
    step: int
    complete: bool
    wall_time: float
    selected_step: int = 0  # the step whose generator state is the output


@dataclass
class Selection:
    """The EMA generator's state at the lowest chi2/bins offered so far (``select: best_chi2``)."""

    chi2: float = math.inf
    step: int = 0
    state: dict[str, torch.Tensor] | None = None

    def offer(self, step: int, chi2: float, module: nn.Module) -> None:
        """Keep a copy of ``module``'s weights when ``chi2`` is the lowest yet (ties keep the earlier)."""
        if chi2 < self.chi2:
            self.chi2, self.step = float(chi2), int(step)
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    def as_state(self) -> dict:
        return {"chi2": self.chi2, "step": self.step, "state": self.state or {}}

    @classmethod
    def from_state(cls, state: dict) -> Selection:
        return cls(float(state["chi2"]), int(state["step"]), state["state"] or None)


# ------------------------------------------------------------------------------ building
def build_run(settings: AdversarialSettings, theory: Theory, observation: Observation, seed: int, device: torch.device) -> Run:
    """Models, objectives, optimizers, data and the random stream of one run, on ``device``."""
    torch.manual_seed(derive_seed(seed, "init"))  # network initialization
    encoder = SetEncoder(theory, observation.events, observation.norm, observation.rel_unc).to(device)
    real = RealSets(encoder, observation.events, observation.norm, device)
    n_events = min(settings.batch_events, real.n_obs)
    if settings.mode == "reinforce":
        generator = GaussianGenerator(settings.reinforce_init_scale, settings.reinforce_min_scale).to(device)
    else:
        generator = Generator(settings.noise_dim, settings.generator_width, settings.generator_depth).to(device)
    critic = build_discriminator(
        settings.discriminator,
        theory.n_features,
        encoder.n_norm,
        width=settings.discriminator_width,
        depth=settings.discriminator_depth,
        pooling=settings.pooling,
        heads=settings.attention_heads,
        n_inducing=settings.attention_inducing,
    ).to(device)
    models = nn.ModuleDict({"generator": generator, "ema": copy.deepcopy(generator).requires_grad_(False), "critic": critic})
    betas = (settings.beta1, settings.beta2)
    optimizers = {
        "generator": torch.optim.Adam(generator.parameters(), lr=generator_lr(settings), betas=betas),
        "critic": torch.optim.Adam(critic.parameters(), lr=settings.lr_discriminator, betas=betas),
    }
    buffer = None
    if settings.uses_surrogate:
        ensemble = SurrogateEnsemble(
            settings.surrogate_model, settings.surrogate_members, settings.surrogate_width, settings.surrogate_depth
        )
        models["surrogate"] = ensemble.to(device)
        if settings.surrogate_model == "mlp":
            optimizers["surrogate"] = torch.optim.Adam(ensemble.parameters(), lr=settings.lr_surrogate, betas=betas)
        buffer = ReplayBuffer(settings.surrogate_buffer, device)
    set_loss = SetLoss(settings, critic, real.events, n_events)
    n_fake = n_events if set_loss.energy is None else max(n_events, min(settings.energy_events, real.n_obs))
    return Run(
        settings,
        theory,
        encoder,
        real,
        models,
        set_loss,
        DiscriminatorLoss(settings, critic),
        optimizers,
        make_generator(derive_seed(seed, "train"), device),
        n_events,
        n_fake,
        buffer,
        PriorPenalty(observation.constraint) if observation.constraint.enabled else None,
        HistogramDistance(real.events, settings.histogram_bins) if settings.mode == "histogram" else None,
        LocalDesign(settings.surrogate_noise, settings.surrogate_trust, device, settings.surrogate_design == "curvature")
        if settings.uses_surrogate
        else None,
    )


def generator_lr(settings: AdversarialSettings) -> float:
    """Base learning rate of the generator: ``lr_reinforce`` for the Gaussian generator (its parameters
    are the logit-space location and Cholesky factor themselves), ``lr_generator`` for the MLP."""
    return settings.lr_reinforce if settings.mode == "reinforce" else settings.lr_generator


def update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """One optimizer step on ``loss``; its value."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


# ------------------------------------------------------------------------------ one step
def discriminator_step(run: Run) -> float:
    """One update of ``D`` on real subsets vs sets simulated (black box) at generated parameters."""
    batch = run.settings.batch_params
    with torch.no_grad():
        eta = run.generator.sample(batch, run.rng)
        fake = simulate_sets(run.theory, run.encoder, eta, run.n_events, run.rng)
    real = run.real.draw(batch, run.n_events, run.rng)
    return update(run.optimizers["critic"], run.d_loss(real, fake, run.rng))


def surrogate_step(run: Run, step: int) -> float:
    r"""Evaluate the target at ``surrogate_points`` design points, add them to the replay buffer and
    refit the surrogate ensemble on it (recency weights); the ensemble's weighted mean squared residual.

    Design: :class:`~pdfinfer.adversarial.blackbox.LocalDesign` around generated parameters (a
    fraction ``surrogate_prior_fraction`` of prior draws instead); it is re-centred and reshaped after the fit. Target:
    the set loss (``surrogate``) or the histogram distance of ``histogram_events`` events to the
    observed set (``histogram``), through :func:`~pdfinfer.adversarial.blackbox.surrogate_target`.
    The simulator is sampled only.
    """
    s = run.settings
    with torch.no_grad():
        eta = run.design.sample(run.generator.sample(s.surrogate_points, run.rng), run.rng)
        n_prior = round(s.surrogate_prior_fraction * s.surrogate_points)
        if n_prior:  # some prior draws keep S honest away from the generator's support
            eta[:n_prior] = torch.rand((n_prior, eta.shape[1]), generator=run.rng, device=eta.device, dtype=eta.dtype).clamp(
                1e-4, 1 - 1e-4
            )
        if run.histogram is not None:
            loss = run.histogram(simulate_sets(run.theory, run.encoder, eta, s.histogram_events, run.rng))
        else:
            fake = simulate_sets(run.theory, run.encoder, eta, run.n_fake, run.rng)
            loss = run.set_loss(fake, run.real.draw(s.surrogate_points, run.n_events, run.rng))
        run.buffer.add(eta, surrogate_target(loss, s.surrogate_model), step)
    weight = run.buffer.weights(step, s.surrogate_decay)
    ensemble = run.models["surrogate"]
    residual = fit_surrogates(ensemble, run.buffer, weight, run.rng, run.optimizers.get("surrogate"), 4 * s.surrogate_points)
    run.design.update(ensemble, run.buffer, weight)
    return residual


def reinforce_loss(run: Run) -> tuple[torch.Tensor, float]:
    """The score-function objective of ``reinforce_batch`` draws (black-box sets) and their mean loss.

    With ``reinforce_common_noise`` all draws of the step share the simulator's random numbers and one
    real subset (:func:`~pdfinfer.adversarial.sets.simulate_common`), so the simulation noise common to
    the batch cancels against the baseline.
    """
    batch, antithetic = run.settings.reinforce_batch, run.settings.reinforce_antithetic
    with torch.no_grad():
        z = torch.randn((batch // 2 if antithetic else batch, run.generator.noise_dim), generator=run.rng, device=run.rng.device)
        if antithetic:
            z = torch.cat([z, -z])
        u = run.generator.latent(z)
        if run.settings.reinforce_common_noise:
            fake = simulate_common(run.theory, run.encoder, torch.sigmoid(u), run.n_fake, run.rng)
            one = run.real.draw(1, run.n_events, run.rng)
            real = SetBatch(one.events.expand(batch, -1, -1), None if one.norm is None else one.norm.expand(batch, -1))
        else:
            fake = simulate_sets(run.theory, run.encoder, torch.sigmoid(u), run.n_fake, run.rng)
            real = run.real.draw(batch, run.n_events, run.rng)
        losses = run.set_loss(fake, real)
        if run.penalty is not None:
            losses = losses + run.penalty(torch.sigmoid(u))
    shaped = shape_losses(losses, run.settings.reinforce_shaping)
    return score_function_objective(run.generator.log_prob_latent(u), shaped, antithetic), float(losses.mean())


def generator_step(run: Run) -> float:
    """One update of ``G`` (reparameterized, through the surrogates or by REINFORCE); its loss."""
    batch = run.settings.batch_params
    if run.settings.mode == "reinforce":
        loss, value = reinforce_loss(run)
        update(run.optimizers["generator"], loss)
    else:
        eta = run.generator.sample(batch, run.rng)
        if run.settings.uses_surrogate:
            loss = surrogate_objective(run.models["surrogate"], eta, run.settings.surrogate_disagreement, run.design)
        else:
            fake = simulate_sets(run.theory, run.encoder, eta, run.n_fake, run.rng, differentiable=True)
            real = run.real.draw(batch, run.n_events, run.rng)
            loss = run.set_loss(fake, real).mean()
        if run.penalty is not None:
            loss = loss + run.penalty(eta).mean()
        value = update(run.optimizers["generator"], loss)
    with torch.no_grad():
        for p_ema, p in zip(run.models["ema"].parameters(), run.generator.parameters()):
            p_ema.lerp_(p, 1.0 - run.settings.ema)
    return value


def set_learning_rate(run: Run, step: int) -> None:
    """The generator's learning rate at ``step`` (1-based) of the cosine schedule (no-op when constant)."""
    s = run.settings
    if s.schedule == "constant":
        return
    progress_ = (step - 1) / max(s.steps - 1, 1)
    factor = s.lr_final_fraction + (1 - s.lr_final_fraction) * 0.5 * (1 + math.cos(math.pi * progress_))
    for group in run.optimizers["generator"].param_groups:
        group["lr"] = generator_lr(s) * factor


def check_finite(step: int, **losses: float) -> None:
    """Stop with a message naming the step and the loss when a loss is NaN or infinite."""
    for name, value in losses.items():
        if not math.isfinite(value):
            raise TrainingError(
                f"training diverged at step {step}: {name} = {value}; lower the learning rates or change the loss"
            )


# ------------------------------------------------------------------------------ checkpoints
def run_fingerprint(settings: AdversarialSettings, theory: Theory, observation: Observation, seed: int) -> str:
    """Everything the result depends on: settings (steps included), seed, theory, data content, format."""
    data = content_hash(observation.events, observation.norm, np.asarray([observation.rel_unc]))
    return fingerprint(
        method="adversarial",
        state_version=STATE_VERSION,
        settings=settings.as_dict(),
        seed=int(seed),
        theory=theory.spec(),
        data=data,
        **({"constraints": observation.constraint.as_dict()} if observation.constraint.enabled else {}),
    )


def state_of(run: Run, step: int, history: History, wall_time: float, selection: Selection) -> dict:
    """The full training state as tensors, numbers and containers (weights-only loadable)."""
    return {
        "step": step,
        "wall_time": wall_time,
        "history": dataclasses.asdict(history),
        "rng": run.rng.get_state(),
        "models": {name: m.state_dict() for name, m in run.models.items()},
        "optimizers": {name: opt.state_dict() for name, opt in run.optimizers.items()},
        "buffer": run.buffer.state() if run.buffer is not None else {},
        "design": run.design.state() if run.design is not None else {},
        "selection": selection.as_state(),
    }


def restore(run: Run, state: dict) -> tuple[int, History, float, Selection]:
    """Load ``state`` into ``run``; the step, history, wall time and selection to continue from."""
    for name, weights in state["models"].items():
        run.models[name].load_state_dict(weights)
    for name, opt_state in state["optimizers"].items():
        run.optimizers[name].load_state_dict(opt_state)
    if run.buffer is not None:
        run.buffer.load(state["buffer"])
        run.design.load(state["design"])
    run.rng.set_state(state["rng"].cpu())  # generator states are CPU byte tensors, whatever the device
    return int(state["step"]), History(**state["history"]), float(state["wall_time"]), Selection.from_state(state["selection"])


# ------------------------------------------------------------------------------ monitoring
def predictive_chi2(run: Run, edges: torch.Tensor, seed: int) -> float:
    """chi2/bins of events simulated at EMA-generator draws (16 draws, ``CHI2_EVENTS`` events in all)
    against the whole observed set; its own random stream per ``seed`` (the training stream is untouched)."""
    rng = make_generator(seed, run.rng.device)
    n_draws = 16
    with torch.no_grad():
        eta = run.models["ema"].sample(n_draws, rng)
        per = max(1, min(CHI2_EVENTS, run.real.n_obs) // n_draws)
        fake = simulate_sets(run.theory, run.encoder, eta, per, rng).events.reshape(-1, run.real.events.shape[1])
    return two_sample_chi2(fake.double(), run.real.events.double(), edges)


# ------------------------------------------------------------------------------ the loop
def log_entry(
    run: Run, history: History, step: int, wall: float, losses: tuple[float, float, float], noise: torch.Tensor, chi2: float
) -> list[float]:
    """Append one history entry (losses, mean and std of EMA draws, predictive chi2/bins); the mean ``(6,)``."""
    with torch.no_grad():
        draws = run.models["ema"](noise).double()
    mean = draws.mean(0).cpu().tolist()
    history.chi2.append(chi2)
    history.step.append(step)
    history.wall_time.append(wall)
    history.loss_d.append(losses[0])
    history.loss_g.append(losses[1])
    history.loss_s.append(losses[2])
    history.param_mean.append(mean)
    history.param_std.append(draws.std(0).cpu().tolist())
    return mean


def train(
    theory: Theory,
    observation: Observation,
    settings: AdversarialSettings,
    seed: int,
    device: torch.device | str = "cpu",
    checkpoint: str | Path | None = None,
    stop_after: int | None = None,
    show_progress: bool = True,
) -> Result:
    """Train for ``settings.steps`` steps, resuming from ``checkpoint`` when it matches.

    The checkpoint is written every ``checkpoint_every`` steps and where this call stops;
    ``stop_after`` ends this call after that many steps (an interruption a later call continues).
    ``Result.complete`` says whether the run reached ``settings.steps``.
    """
    settings.check()
    device = torch.device(device)
    run = build_run(settings, theory, observation, seed, device)
    store = Checkpoint(checkpoint, run_fingerprint(settings, theory, observation, seed))
    noise = torch.randn(
        (MONITOR_DRAWS, run.generator.noise_dim), generator=make_generator(derive_seed(seed, "monitor"), device), device=device
    )
    edges = chi2_edges(run.real.events)
    step, history, wall_before, selection = 0, History(), 0.0, Selection()
    state = store.load(device)
    if state is not None:
        step, history, wall_before, selection = restore(run, state)
        log.info("resumed from %s at step %d of %d", checkpoint, step, settings.steps)
    adversarial, surrogate = settings.mode != "histogram", settings.uses_surrogate
    last = settings.steps if stop_after is None else min(settings.steps, step + stop_after)
    start, loss_d, loss_s = time.perf_counter(), float("nan"), float("nan")
    with progress(
        total=settings.steps, initial=step, desc=f"adversarial {settings.mode}", unit="step", disable=not show_progress
    ) as bar:
        while step < last:
            step += 1
            for _ in range(settings.d_steps):
                if adversarial:
                    loss_d = discriminator_step(run)
                if surrogate:
                    loss_s = float(np.mean([surrogate_step(run, step) for _ in range(settings.surrogate_steps)]))
            warming_up = surrogate and step <= settings.surrogate_warmup
            if not warming_up:
                set_learning_rate(run, step)
            loss_g = float("nan") if warming_up else generator_step(run)
            check_finite(
                step,
                **({"discriminator_loss": loss_d} if adversarial else {}),
                **({} if warming_up else {"generator_loss": loss_g}),
                **({"surrogate_loss": loss_s} if surrogate else {}),
            )
            bar.update(1)
            if step % settings.log_every == 0 or step == settings.steps:
                chi2 = predictive_chi2(run, edges, derive_seed(seed, "chi2", step))
                mean = log_entry(
                    run, history, step, wall_before + time.perf_counter() - start, (loss_d, loss_g, loss_s), noise, chi2
                )
                if not warming_up:
                    selection.offer(step, chi2, run.models["ema"])
                bar.set_postfix(
                    {"D": f"{loss_d:.3f}", "G": f"{loss_g:.3f}", "chi2/bin": f"{chi2:.2f}"},
                    eta="(" + ", ".join(f"{m:.3f}" for m in mean) + ")",
                    refresh=False,
                )
            if step % settings.checkpoint_every == 0 or step == last:
                store.save(state_of(run, step, history, wall_before + time.perf_counter() - start, selection))
    return finish(run, history, step, wall_before + time.perf_counter() - start, selection)


def finish(run: Run, history: History, step: int, wall_time: float, selection: Selection) -> Result:
    """The result: the last EMA generator, or (``select: best_chi2``, once the run is complete) a copy
    holding the state at the lowest logged chi2/bins."""
    complete = step >= run.settings.steps
    generator, selected = run.models["ema"], step
    if complete and run.settings.select == "best_chi2" and selection.state is not None:
        generator = copy.deepcopy(generator)
        generator.load_state_dict(selection.state)
        selected = selection.step
    return Result(generator, history, step, complete, wall_time, selected)
