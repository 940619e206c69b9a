r"""One replica of the bootstrap ensemble of adversarial runs (the command line).

Replica :math:`b` trains the adversarial method (the ``adversarial`` settings) on a resample of
the observed data: the :math:`N` events drawn with replacement from the :math:`N` observed ones
(nonparametric bootstrap), and the normalization measurement redrawn within its error,
:math:`z^*_b \sim \mathcal N(z_{obs}, (r z_{obs})^2)` per target (parametric bootstrap; ``r`` the
relative uncertainty). Its point estimate is the mean of its generator,
:math:`\hat\eta_b = \mathbb E_{G_b}[\eta]`. The pooled file (:mod:`pdfinfer.adversarial.pool`,
``--estimates``) holds the :math:`B` point estimates as its samples ``(B, 6)``.

What the spread of :math:`\{\hat\eta_b\}` is: the bootstrap approximation of the *sampling
distribution of the estimator* :math:`\hat\eta` under repeated experiments, so that percentile
regions of it are approximate frequentist confidence regions for :math:`\eta` (asymptotically
nominal when the estimator is smooth and consistent and every run converges). It also holds
the training noise of each run (replicas differ in their training seed too), which widens it.

What it is not: a posterior (no prior enters; in a direction the data do not fix, such as the
:math:`N_u/N_d` ridge without the normalization observable, the estimator is not consistent and
the spread says little); with few replicas its quantiles are themselves noisy (a 95 % region from
:math:`B = 8` points is a rough guess); and a biased estimator gives a region around the wrong
centre (the bootstrap does not remove bias).

Usage::

    python -m pdfinfer.adversarial.bootstrap --observed results/data/n1024/observed.h5 \
        --out results/adversarial_bootstrap/n1024/replica0.h5 --replica 0 --normalization on \
        --settings '{"steps": 600}' --bootstrap-settings '{"resample_events": true}'
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pdfinfer.runtime import cli_main, setup

if TYPE_CHECKING:
    from pdfinfer.adversarial.observation import Observation
    from pdfinfer.adversarial.settings import AdversarialBootstrapSettings

log = logging.getLogger("pdfinfer.adversarial.bootstrap")

#: The registry label of the bootstrap ensemble.
LABEL = "adversarial_bootstrap"


def resample(observation: Observation, settings: AdversarialBootstrapSettings, seed: int) -> Observation:
    """The bootstrap resample of ``observation`` (an :class:`~pdfinfer.adversarial.observation.Observation`)
    for one replica, reproducible from ``seed``: events ``(N, F)`` with replacement, ``z* ~ N(z, (r z)^2)``."""
    from pdfinfer.adversarial.observation import Observation

    rng = np.random.default_rng(seed)
    events = observation.events
    rows = rng.integers(0, len(events), len(events)) if settings.resample_events else np.arange(len(events))
    norm = observation.norm
    if norm is not None and settings.resample_norm:
        norm = np.asarray(norm, dtype=np.float64)
        norm = np.abs(
            norm + observation.rel_unc * norm * rng.standard_normal(norm.shape)
        )  # |.|: a 50-sigma guard, never hit at r <= 2 %
    return Observation(events[rows], norm, observation.rel_unc, observation.constraint)


def build_parser() -> argparse.ArgumentParser:
    from pdfinfer.adversarial.train import build_parser as train_parser

    parser = train_parser()
    parser.prog = "python -m pdfinfer.adversarial.bootstrap"
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--bootstrap-settings", default="{}", help="JSON object of the config section 'adversarial_bootstrap'")
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args)
    from pdfinfer.adversarial.observation import read_observation
    from pdfinfer.adversarial.settings import AdversarialBootstrapSettings, AdversarialSettings
    from pdfinfer.adversarial.train import constraint_arg, run_and_write
    from pdfinfer.runtime import derive_seed

    settings = AdversarialSettings.from_json(args.settings)
    boot = AdversarialBootstrapSettings.from_json(args.bootstrap_settings, where="--bootstrap-settings")
    theory, observation = read_observation(args.observed, args.normalization == "on", constraint_arg(args))
    seed = derive_seed(args.seed, LABEL, len(observation.events), args.replica)
    resampled = resample(observation, boot, derive_seed(seed, "resample"))
    log.info(
        "replica %d: %d events resampled (%s), normalization %s",
        args.replica,
        len(resampled.events),
        "with replacement" if boot.resample_events else "as observed",
        "none" if resampled.norm is None else np.array2string(resampled.norm, precision=4),
    )
    extras = {"bootstrap_norm": resampled.norm} if resampled.norm is not None else {}
    return run_and_write(args, settings, theory, resampled, seed, LABEL, {"bootstrap": boot.to_json()}, extras)


if __name__ == "__main__":
    raise SystemExit(main())
