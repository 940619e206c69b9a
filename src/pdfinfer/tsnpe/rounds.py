r"""The rounds of truncated sequential NPE (Deistler et al. 2022).

Round :math:`r = 0` simulates :math:`S` sets from the prior :math:`p(\eta)` (the box :math:`U[0,1]^6`,
times the sum-rule factor :math:`f(\eta)` when ``observation.constraints`` is on). After each
round the estimator :math:`q_r(\eta \mid s(x))` (NPE's flow and set embedding, trained on *all*
sets so far with NPE's loss and early stopping, continuing from the previous round's weights)
defines the truncated prior

.. math:: \tilde p_{r+1}(\eta) \propto p(\eta)\, 1\big[q_r(\eta \mid x_o) \ge \tau_r\big],

with :math:`\tau_r` the :math:`\epsilon`-quantile (``truncation_quantile``) of
:math:`\log q_r(\eta \mid x_o)` under :math:`q_r` (sbi's ``get_density_thresholder``), sampled by
rejection from the box (sbi's ``RestrictedPrior``), each draw then kept with probability
:math:`f(\eta)` when the constraint is on (exact rejection from the constrained prior cut to the
region, :func:`propose`). Because :math:`\tilde p` is the prior
restricted to a region that holds all but :math:`\epsilon` of the posterior mass, the plain NPE
loss on all rounds' sets stays consistent for :math:`x_o` (no atomic correction): the result is
:math:`p(\eta \mid x_o)` within the support (the paper's argument). Not amortized: the rounds
target the one observed set, so it is scored like the other per-observation methods.

Seeds: round :math:`r` draws its parameters from stream ``("tsnpe", "proposal", r)`` and its events
from ``("tsnpe", "simulate", r)``; a resumed run re-simulates the stored parameters bit for bit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from pdfinfer.checkpoint import Checkpoint, content_hash, fingerprint
from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.constraints.sumrules import MIN_ACCEPTANCE, log_factor, sample_prior
from pdfinfer.errors import ConfigError
from pdfinfer.io import EventSet
from pdfinfer.npe.data import data_spec, split_indices
from pdfinfer.npe.embedding import flatten_observation
from pdfinfer.npe.loop import fit
from pdfinfer.npe.model import build_estimator, make_posterior, make_prior
from pdfinfer.params import N_PARAMS
from pdfinfer.runtime import derive_seed, make_generator
from pdfinfer.theory import make_theory
from pdfinfer.tsnpe.settings import TSNPESettings

log = logging.getLogger("pdfinfer.tsnpe")


@dataclass
class RoundsResult:
    """The final estimator, its data spec, the per-round records (acceptance, val_loss, epochs, seconds), the checkpoint."""

    estimator: nn.Module
    spec: dict[str, Any]
    history: dict[str, list[Any]] = field(default_factory=dict)
    checkpoint: Checkpoint | None = None


def simulate(spec: dict[str, Any], theta: torch.Tensor, seed: int, r: int, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Events ``(S, N, F)`` and normalization ``(S, T)`` for ``theta`` ``(S, 6)`` (round ``r``'s stream)."""
    theory = make_theory(spec["theory"])
    generator = make_generator(derive_seed(seed, "tsnpe", "simulate", r))
    events, norms = [], []
    for part in theta.double().split(chunk):
        events.append(theory.sample(part, spec["n_events"], generator=generator).numpy())
        norms.append(theory.sample_norm(part, spec["norm_rel_unc"], generator=generator).numpy())
    return np.concatenate(events), np.concatenate(norms)


def truncated_prior(estimator: nn.Module, x_o: torch.Tensor, settings: TSNPESettings) -> Any:
    """sbi's ``RestrictedPrior``: the prior cut to :math:`\\{q(\\eta \\mid x_o) \\ge \\tau\\}`."""
    from sbi.utils import RestrictedPrior, get_density_thresholder

    posterior = make_posterior(estimator).set_default_x(x_o)
    with torch.no_grad():
        accept = get_density_thresholder(
            posterior, quantile=settings.truncation_quantile, num_samples_to_estimate_support=settings.support_samples
        )
    return RestrictedPrior(make_prior(), accept, sample_with="rejection")


def propose(proposal: Any, n: int, seed: int, r: int, constraint: ConstraintSettings | None = None) -> tuple[torch.Tensor, float]:
    r"""``n`` parameters ``(n, 6)`` from ``proposal`` (the prior in round 0) and the acceptance rate.

    With the sum-rule ``constraint`` on, round 0 draws the constrained prior
    (:func:`~pdfinfer.constraints.sumrules.sample_prior`) and later rounds keep each truncated-box
    draw with probability :math:`f(\eta)`; off, the draws are the plain box's.
    """
    constraint = constraint or ConstraintSettings()
    torch.manual_seed(derive_seed(seed, "tsnpe", "proposal", r))
    if proposal is None:
        if not constraint.enabled:
            return torch.rand((n, N_PARAMS)), 1.0
        return sample_prior(n, torch.Generator().manual_seed(derive_seed(seed, "tsnpe", "proposal", r)), constraint).float(), 1.0
    with torch.no_grad():
        if not constraint.enabled:
            theta = proposal.sample((n,), save_acceptance_rate=True, print_rejected_frac=False)
            return theta.float(), float(proposal.acceptance_rate)
        kept, drawn, count, box_rate = [], 0, 0, 1.0
        while count < n:
            theta = proposal.sample((2 * n,), save_acceptance_rate=True, print_rejected_frac=False)
            box_rate = float(proposal.acceptance_rate)
            keep = torch.rand(len(theta)) < torch.exp(log_factor(theta.double(), constraint))
            kept.append(theta[keep])
            drawn, count = drawn + len(theta), count + int(keep.sum())
            if count < MIN_ACCEPTANCE * drawn:
                raise ConfigError(
                    f"tsnpe round {r}: the sum-rule factor keeps {count} of {drawn} truncated-prior draws; "
                    f"observation.constraints.tolerance = {constraint.tolerance} is too tight for this posterior"
                )
    return torch.cat(kept)[:n].float(), box_rate * count / drawn


def _fixed(theta: torch.Tensor, x: torch.Tensor) -> Callable[[int], tuple[torch.Tensor, torch.Tensor]]:
    """The same training pairs every epoch."""
    return lambda epoch: (theta, x)


def run_rounds(
    settings: TSNPESettings,
    observed: EventSet,
    use_norm: bool,
    seed: int,
    checkpoint_path: str | None = None,
    constraint: ConstraintSettings | None = None,
) -> RoundsResult:
    """All rounds for the observed set ``(N, F)`` under the prior (``constraint``: its sum-rule factor);
    resumes after the last finished round from ``checkpoint_path``."""
    constraint = constraint or ConstraintSettings()
    base = {"n_events": observed.n_events, "theory": dict(observed.theory), "norm_rel_unc": observed.norm_rel_unc}
    checkpoint = Checkpoint(
        checkpoint_path,
        fingerprint(
            settings=settings.as_dict(),
            seed=int(seed),
            normalization=bool(use_norm),
            data=content_hash(observed.events, observed.norm),
            **({"constraints": constraint.as_dict()} if constraint.enabled else {}),
        ),
    )
    state = checkpoint.load() or {"thetas": [], "acceptance": [], "model": None, "val_loss": [], "epochs": [], "seconds": []}
    x_o = flatten_observation(observed.events[None], observed.norm[None] if use_norm else None)
    thetas: list[torch.Tensor] = []
    events: list[np.ndarray] = []
    norms: list[np.ndarray] = []
    for r, theta in enumerate(state["thetas"]):  # re-simulate the finished rounds (deterministic)
        ev, nm = simulate(base, theta, seed, r)
        thetas.append(theta), events.append(ev), norms.append(nm)
    done = len(state["thetas"])
    estimator, spec, proposal = None, None, None
    for r in range(settings.rounds):
        tic = time.perf_counter()
        if r >= done:
            theta, rate = propose(proposal, settings.simulations_per_round, seed, r, constraint)
            ev, nm = simulate(base, theta, seed, r)
            thetas.append(theta), events.append(ev), norms.append(nm)
            state["acceptance"].append(rate)
        if spec is None:  # the standardization of the prior-predictive round 0
            round0 = EventSet(
                events[0], thetas[0].double().numpy(), norms[0], base["theory"], {"norm_rel_unc": base["norm_rel_unc"]}
            )
            spec = data_spec(round0, use_norm, torch.arange(len(thetas[0])))
        if r < done:
            if r == done - 1:
                estimator = build_estimator(settings, spec)
                estimator.load_state_dict(state["model"])
                log.info("resumed after round %d from %s", r, checkpoint.path)
                proposal = truncated_prior(estimator, x_o, settings) if r + 1 < settings.rounds else None
            continue
        theta_all = torch.cat(thetas)
        x_all = flatten_observation(np.concatenate(events), np.concatenate(norms) if use_norm else None)
        train_idx, val_idx = split_indices(
            len(theta_all), settings.training.validation_fraction, derive_seed(seed, "tsnpe", "round", r)
        )
        if estimator is None:
            torch.manual_seed(derive_seed(seed, "tsnpe", "init"))
            estimator = build_estimator(settings, spec, theta_all[train_idx], x_all[train_idx])
        history = fit(
            estimator,
            _fixed(theta_all[train_idx], x_all[train_idx]),
            (theta_all[val_idx], x_all[val_idx]),
            settings.training,
            derive_seed(seed, "tsnpe", "fit", r),
            Checkpoint(None, ""),
        )
        state["val_loss"].append(history["best_val_loss"]), state["epochs"].append(history["epochs"])
        state["seconds"].append(time.perf_counter() - tic)
        log.info(
            "round %d: %d sets (acceptance %.3g), %d epochs, validation loss %.4f, %.1f s",
            r,
            len(theta_all),
            state["acceptance"][r],
            history["epochs"],
            history["best_val_loss"],
            state["seconds"][-1],
        )
        state["thetas"], state["model"] = list(thetas), estimator.state_dict()
        checkpoint.save(state)
        if r + 1 < settings.rounds:
            proposal = truncated_prior(estimator, x_o, settings)
    spec.update(n_simulations=int(sum(len(t) for t in thetas)))
    records = {k: list(state[k]) for k in ("acceptance", "val_loss", "epochs", "seconds")}
    return RoundsResult(estimator.cpu(), spec, records, checkpoint)
