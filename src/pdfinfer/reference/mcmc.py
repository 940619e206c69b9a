r"""The reference posterior: emcee's ensemble sampler (differential-evolution moves) on the exact likelihood.

Target: :math:`\pi(\eta \mid x) \propto \prod_i p(x_i \mid \eta)\,[\mathcal N(z; Z(\eta), (rZ)^2)]\,
\mathbb 1[\eta \in [0,1]^6]` (:class:`pdfinfer.reference.likelihood.LogPosterior`).
Moves are emcee's differential-evolution moves (ter Braak 2006; ter Braak & Vrugt 2008),
80% ``DEMove`` and 20% ``DESnookerMove``: walker :math:`k` proposes
:math:`Y = X_k + \gamma (X_i - X_j)` with :math:`X_i, X_j` from the complementary part of its
ensemble and :math:`\gamma = 2.38/\sqrt{2D}` (Metropolis acceptance
:math:`\min(1, \pi(Y)/\pi(X_k))`); on this posterior they decorrelate 3-4x faster than the
stretch move. emcee is run with ``vectorize=True``.

**Coordinates** (``reference.emcee.coordinates``, :mod:`pdfinfer.reference.coordinates`): by
default the walkers move in :math:`y = (\log Z_1, \log Z_2, a_u, b_u, a_d, b_d)`, the two
integrated cross sections instead of the two normalizations (Jacobian included), which
straightens the curved surface the normalization observable leaves and turns the
normalization-off ridge into one coordinate; ``box`` moves them in :math:`\eta` itself. The
diagnostics and the written draws are always in :math:`\eta`.

**Independent chains in one batched call.** The walkers form ``n_chains`` independent ensembles
of ``n_walkers`` each (:class:`GroupedMove`: proposals only use walkers of the same ensemble), all
advanced by the same emcee sampler, so each half-step is ONE batched likelihood call for every
proposing walker of every ensemble. Each ensemble starts from its own L-BFGS optimum (optimizers
started at different prior draws; on the normalization ridge they stop at different points).
The split R-hat is computed with the ensembles as chains (each ensemble's draws pooled per step),
the bulk and tail ESS with the walkers as chains. Settings: ``reference.emcee`` and the common
``reference`` keys (:class:`pdfinfer.reference.settings.ReferenceSettings`).

Procedure (:func:`run_mcmc`):

1. one L-BFGS-B run per ensemble from a prior draw; each ensemble's walkers are drawn from the
   Laplace approximation at its optimum (standard deviations capped at 0.3; a far worse local
   optimum is replaced by the best one);
2. ``n_burn`` burn-in steps (discarded);
3. ``n_steps`` kept steps; per-parameter rank-normalized split R-hat and bulk/tail ESS
   (:mod:`pdfinfer.reference.diagnostics`);
4. while some R-hat exceeds ``rhat_max`` or some ESS is below ``ess_target`` the run is extended
   up to ``max_steps`` kept steps (:func:`pdfinfer.reference.budget.sample_to_budget`, the loop
   shared with NUTS); if it still fails, :class:`~pdfinfer.reference.result.ConvergenceError`
   names the parameter, its R-hat and ESS;
5. the kept chain ``(steps, walkers, 6)`` is thinned to ``n_samples`` draws (every ``thin``-th
   step, the last ``n_samples`` rows of the thinned flat chain).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import emcee
import numpy as np

from pdfinfer.reference.budget import sample_to_budget
from pdfinfer.reference.coordinates import make_coordinates
from pdfinfer.reference.diagnostics import summarize_chains
from pdfinfer.reference.likelihood import LogPosterior, find_map, laplace_covariance
from pdfinfer.reference.result import ConvergenceError, SamplerResult
from pdfinfer.reference.settings import EmceeSettings, ReferenceSettings
from pdfinfer.runtime import progress

log = logging.getLogger("pdfinfer.reference")


__all__ = ["ConvergenceError", "GroupedMove", "MCMCResult", "MCMCSettings", "run_mcmc"]


class GroupedMove(emcee.moves.RedBlueMove):
    """An emcee red-blue move applied to ``n_groups`` independent ensembles at once.

    Walkers ``[g W, (g+1) W)`` form ensemble ``g``. Each ensemble is split into ``base.nsplits``
    sets; ``base.get_proposal`` draws proposals for a set from the complementary sets of the same
    ensemble only, so the ensembles never exchange information, and the proposals of all
    ensembles are evaluated in one call of the log-probability.
    """

    def __init__(self, base: emcee.moves.RedBlueMove, n_groups: int) -> None:
        super().__init__(nsplits=base.nsplits, randomize_split=base.randomize_split, live_dangerously=True)
        self.base = base
        self.n_groups = int(n_groups)

    def propose(self, model, state):  # emcee's interface
        n_walkers = state.coords.shape[0]
        per_group = n_walkers // self.n_groups
        self.base.setup(state.coords)
        split_of = np.arange(n_walkers) % per_group % self.nsplits
        if self.randomize_split:
            for g in range(self.n_groups):
                model.random.shuffle(split_of[g * per_group : (g + 1) * per_group])
        group_of = np.arange(n_walkers) // per_group
        accepted = np.zeros(n_walkers, dtype=bool)
        for split in range(self.nsplits):
            subset = split_of == split
            proposals = np.empty((int(subset.sum()), state.coords.shape[1]))
            factors = np.empty(len(proposals))
            row = 0
            for g in range(self.n_groups):
                mine = group_of == g
                s = state.coords[subset & mine]
                c = [state.coords[(split_of == j) & mine] for j in range(self.nsplits) if j != split]
                q, f = self.base.get_proposal(s, c, model.random)
                proposals[row : row + len(q)], factors[row : row + len(q)] = q, f
                row += len(q)
            new_log_probs, new_blobs = model.compute_log_prob_fn(proposals)
            log_u = np.log(model.random.rand(len(proposals)))
            accepted[subset] = factors + new_log_probs - state.log_prob[subset] > log_u
            state = self.update(state, emcee.State(proposals, log_prob=new_log_probs, blobs=new_blobs), accepted, subset)
        return state, accepted


@dataclass
class MCMCSettings:
    """Flat emcee settings for callers that sample a posterior of their own (e.g. NLE's learned one);
    convergence on R-hat alone unless ``ess_target`` is given."""

    n_chains: int = 4
    n_walkers: int = 16
    n_burn: int = 500
    n_steps: int = 1000
    max_steps: int = 8000
    n_samples: int = 10000
    rhat_max: float = 1.01
    ess_target: int = 1
    coordinates: str = "box"

    def to_reference(self) -> ReferenceSettings:
        """The equivalent :class:`ReferenceSettings` (sampler emcee); validated."""
        emcee_settings = EmceeSettings(
            n_walkers=self.n_walkers,
            n_burn=self.n_burn,
            n_steps=self.n_steps,
            max_steps=self.max_steps,
            coordinates=self.coordinates,
        )
        settings = ReferenceSettings(
            sampler="emcee",
            n_chains=self.n_chains,
            ess_target=self.ess_target,
            rhat_max=self.rhat_max,
            n_samples=self.n_samples,
            emcee=emcee_settings,
        )
        settings.check_all()
        return settings


#: Result of :func:`run_mcmc` (kept name for callers outside the referee).
MCMCResult = SamplerResult


def initial_walkers(posterior: LogPosterior, centers: np.ndarray, n_walkers: int, rng: np.random.Generator) -> np.ndarray:
    """Walkers ``(C * W, D)``: for each center ``(C, D)``, ``W`` draws of its Laplace approximation
    (:func:`laplace_covariance`) clipped into the box."""
    blocks = []
    for center in centers:
        cov = laplace_covariance(posterior, center)
        blocks.append(rng.multivariate_normal(center, cov, size=n_walkers, method="eigh"))
    return np.clip(np.concatenate(blocks), 1e-6, 1 - 1e-6)


#: Optima this many nats below the best one are local modes not worth starting a chain in: a mode
#: whose maximum lies 10 nats lower holds under e^-10 (5e-5) of the best mode's mass unless it is
#: e^10 times broader. An NLE posterior (normalization on, default problem) had such a spurious
#: corner mode 23 nats down (N_u = N_d = 0); a chain started there never left it (R-hat 1.53).
START_TOLERANCE = 10.0


def chain_starts(
    posterior: LogPosterior, n_chains: int, rng: np.random.Generator, tolerance: float = START_TOLERANCE
) -> np.ndarray:
    """One L-BFGS optimum per chain ``(C, D)`` from prior draws; optima more than ``tolerance``
    nats below the best are replaced by the best (logged)."""
    optima = [find_map(posterior, rng.uniform(0.05, 0.95, size=(1, posterior.dim))) for _ in range(n_chains)]
    values = posterior(np.array(optima))
    best = int(np.argmax(values))
    for c in range(n_chains):
        if values[c] < values[best] - tolerance:
            log.warning(
                "chain %d: optimizer stopped %.1f nats below the best optimum; starting it at the best one",
                c,
                values[best] - values[c],
            )
            optima[c] = optima[best]
    return np.array(optima)


def _advance(
    sampler: emcee.EnsembleSampler, state: emcee.State | np.ndarray, steps: int, desc: str, store: bool = True
) -> emcee.State:
    with progress(total=steps, desc=desc, unit="step") as bar:
        current = state
        for current in sampler.sample(state, iterations=steps, store=store):
            bar.update(1)
    return current


def run_mcmc(posterior: LogPosterior, settings: ReferenceSettings | MCMCSettings, seed: int) -> SamplerResult:
    """Sample the exact posterior with emcee (see the module docstring); raises :class:`ConvergenceError`."""
    settings = settings.to_reference() if isinstance(settings, MCMCSettings) else settings
    settings.check_all()
    e = settings.emcee
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    starts = chain_starts(posterior, settings.n_chains, rng)
    walkers = initial_walkers(posterior, starts, e.n_walkers, rng)
    if not np.all(np.isfinite(posterior(walkers))):
        raise ConvergenceError("reference: some initial walkers have zero posterior density around the optimum")

    n_total = settings.n_chains * e.n_walkers
    moves = [
        (GroupedMove(emcee.moves.DEMove(), settings.n_chains), 0.8),
        (GroupedMove(emcee.moves.DESnookerMove(), settings.n_chains), 0.2),
    ]
    coords = make_coordinates(e.coordinates, posterior)
    sampler = emcee.EnsembleSampler(n_total, posterior.dim, coords, vectorize=True, moves=moves)
    sampler.random_state = np.random.RandomState(int(rng.integers(2**32))).get_state()
    walkers = coords.to_y(walkers)
    state = _advance(sampler, walkers, e.n_burn, "burn-in", store=False) if e.n_burn else walkers
    sampler.reset()

    def extend(length: int) -> None:
        nonlocal state
        state = _advance(sampler, state, length - sampler.iteration, "sampling")

    n_steps, (rhat, bulk, tail) = sample_to_budget(
        extend,
        lambda: summarize_chains(coords.to_eta(sampler.get_chain()), settings.n_chains),
        posterior.names,
        e.n_steps,
        e.max_steps,
        settings.ess_target,
        settings.rhat_max,
        "emcee",
        "reference.emcee.max_steps",
        f"{settings.n_chains} ensembles of {e.n_walkers} walkers",
    )
    thin = max(1, n_steps // -(-settings.n_samples // n_total))  # keeps >= ceil(K / walkers) steps
    # The chain's own log-densities (in y) less the Jacobian: no second pass of the likelihood
    # over the K draws (for NLE at 1024 events that pass cost as much as the sampling).
    flat_y = sampler.get_chain(thin=thin, flat=True)[-settings.n_samples :]
    flat = coords.to_eta(flat_y)
    flat_lp = sampler.get_log_prob(thin=thin, flat=True)[-settings.n_samples :] - coords.log_jacobian(flat_y)
    return SamplerResult(
        sampler="emcee",
        samples=flat,
        log_prob=flat_lp,
        rhat=rhat,
        ess_bulk=bulk,
        ess_tail=tail,
        map_eta=starts[int(np.argmax(posterior(starts)))],
        n_draws=n_steps,
        seconds=time.perf_counter() - start,
        extras={
            "autocorr_time": np.asarray(sampler.get_autocorr_time(quiet=True, tol=0), dtype=np.float64),
            "acceptance": np.asarray(sampler.acceptance_fraction),
        },
        info={
            "n_steps_run": n_steps,
            "thin": thin,
            "moves": "GroupedMove(DEMove 0.8, DESnookerMove 0.2)",
            "coordinates": coords.name,
        },
    )
