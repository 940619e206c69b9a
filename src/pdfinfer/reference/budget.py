r"""The referee's convergence budget, stated as an effective sample size: one loop for every sampler.

A sampler hands :func:`sample_to_budget` two callables: ``extend(n)`` grows every chain to ``n``
kept draws (emcee: kept steps of every ensemble; NUTS: draws of every chain), and ``diagnose()``
returns per-parameter rank-normalized split R-hat, bulk and tail ESS (three ``(D,)`` arrays,
:mod:`pdfinfer.reference.diagnostics`). The loop

1. grows the chains to ``first`` draws;
2. stops as soon as every parameter has R-hat :math:`\le` ``rhat_max`` and
   :math:`\min(\mathrm{ESS_{bulk}}, \mathrm{ESS_{tail}}) \ge` ``ess_target``;
3. otherwise grows them by the factor the worst ESS falls short of the target
   (:math:`1.1\,\mathrm{target}/\mathrm{ESS_{min}}`, clipped to :math:`[1.25, 4]`; ESS grows
   linearly with the draws once the chains have mixed) up to ``maximum`` draws;
4. and at ``maximum`` raises a one-line :class:`~pdfinfer.reference.result.ConvergenceError`
   naming the worst parameter, its R-hat and its bulk and tail ESS.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np

from pdfinfer.reference.diagnostics import budget_shortfall
from pdfinfer.reference.result import ConvergenceError

log = logging.getLogger("pdfinfer.reference")

Diagnostics = tuple[np.ndarray, np.ndarray, np.ndarray]


def next_length(current: int, bulk: np.ndarray, tail: np.ndarray, ess_target: float, maximum: int) -> int:
    """Draws per chain for the next check: ``current`` grown by the factor the worst ESS falls short (1.25x to 4x)."""
    worst = float(np.nanmin(np.minimum(bulk, tail))) if np.any(np.isfinite(bulk)) else 0.0
    factor = 1.1 * ess_target / worst if worst > 0 else 4.0
    return min(maximum, math.ceil(current * min(max(factor, 1.25), 4.0)))


def sample_to_budget(
    extend: Callable[[int], None],
    diagnose: Callable[[], Diagnostics],
    names: tuple[str, ...],
    first: int,
    maximum: int,
    ess_target: float,
    rhat_max: float,
    sampler: str,
    limit_key: str,
    chains: str,
) -> tuple[int, Diagnostics]:
    """Run the chains until the budget is met (see the module docstring); returns the draws per
    chain and the final ``(rhat, bulk, tail)``.

    ``sampler``, ``limit_key`` (the config key of ``maximum``, e.g. ``"reference.emcee.max_steps"``)
    and ``chains`` (e.g. ``"4 chains"``) name the run in the error.
    """
    length = min(first, maximum)
    extend(length)
    while True:
        rhat, bulk, tail = diagnose()
        log.info(
            "after %d draws per chain: R-hat %s; bulk ESS %s; tail ESS %s",
            length,
            " ".join(f"{n}={r:.4f}" for n, r in zip(names, rhat)),
            " ".join(f"{n}={v:.0f}" for n, v in zip(names, bulk)),
            " ".join(f"{n}={v:.0f}" for n, v in zip(names, tail)),
        )
        shortfall = budget_shortfall(names, rhat, bulk, tail, ess_target, rhat_max)
        if shortfall is None:
            return length, (rhat, bulk, tail)
        if length >= maximum:
            raise ConvergenceError(
                f"reference: {sampler} not converged: {shortfall} after {length} draws x {chains} ({limit_key} = {maximum}; raise it)"
            )
        length = next_length(length, bulk, tail, ess_target, maximum)
        log.warning("%s: extending every chain to %d draws", shortfall, length)
        extend(length)
