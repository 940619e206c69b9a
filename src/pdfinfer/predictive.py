r"""Posterior-predictive replicate sets: one simulation per method and ``n_obs``, read by every consumer.

For a method's draws :math:`\eta_k \sim q(\eta \mid x_{obs})`, ``k = 1..K``, this module picks
``D`` of them (a seeded subset without replacement) and simulates a replicate observed set of
``n_events`` events at each,

.. math:: x^{rep}_d \sim p(x \mid \eta_d), \qquad d = 1..D,

plus the normalization measurement when it is observed. The file is an event batch in the
layout of a training shard (``events`` ``(D, n_events, F)``, ``params`` ``(D, 6)``, ``norm``
``(D, T)``; :func:`pdfinfer.io.write_events`), with the method label in its attributes. The
comparison's event-level scores and the event figure both read it, so they describe the same
sample (``docs/pipeline.md``). ``--truth`` simulates at :math:`\eta^*` instead: the perfect
model, the floor of every event-level score.

Usage::

    python -m pdfinfer.predictive --samples results/npe/n1024/samples.h5 --label npe \
        --draws 64 --n-events 1024 --seed 1 --out results/predictive/n1024/npe.h5
    python -m pdfinfer.predictive --truth --theory '{"name": "proxy"}' --draws 64 --n-events 1024 ...
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any, Sequence

import numpy as np

from pdfinfer.errors import ConfigError
from pdfinfer.runtime import add_common_arguments, cli_main, setup

log = logging.getLogger("pdfinfer.predictive")

#: Label of the replicate sets simulated at the truth (the perfect-model floor).
TRUTH_LABEL = "truth"
#: Draws are kept this far inside the box: at N_u = N_d = 0 there is no cross section to sample.
EDGE = 1e-9


def choose_draws(samples: np.ndarray, n_draws: int, seed: int) -> np.ndarray:
    """``min(n_draws, K)`` rows of ``samples`` ``(K, 6)``, a seeded subset in file order, kept inside the box."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(samples), size=min(n_draws, len(samples)), replace=False))
    return np.clip(np.asarray(samples, dtype=np.float64)[rows], EDGE, 1.0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.predictive",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--samples", help="a method's samples file (pdfinfer.io samples layout)")
    source.add_argument("--truth", action="store_true", help="simulate at the reference truth eta* (needs --theory)")
    parser.add_argument("--label", default="", help="method label recorded in the file (default: the samples' method)")
    parser.add_argument("--theory", default="", help="theory spec JSON (with --truth; else taken from the samples file)")
    parser.add_argument("--rel-unc", type=float, default=0.0, help="relative uncertainty of the normalization measurement")
    parser.add_argument("--draws", type=int, required=True, help="replicate sets D (parameter draws)")
    parser.add_argument("--n-events", type=int, required=True, help="events per replicate set")
    parser.add_argument("--out", required=True, help="replicate sets to write (event batch HDF5)")
    add_common_arguments(parser)
    return parser


def _source(args: argparse.Namespace) -> tuple[np.ndarray, dict[str, Any], str]:
    """Parameter draws ``(D, 6)``, theory spec and label of the replicates to simulate."""
    from pdfinfer.io import read_samples
    from pdfinfer.params import TRUTH

    if args.truth:
        if not args.theory:
            raise ConfigError("--truth needs --theory (the theory spec JSON)")
        try:
            theory = json.loads(args.theory)
        except json.JSONDecodeError as err:
            raise ConfigError(f"--theory: not valid JSON ({err})") from None
        return np.repeat(TRUTH[None, :], args.draws, axis=0), theory, TRUTH_LABEL
    sample_set = read_samples(args.samples)
    label = args.label or sample_set.method
    return choose_draws(sample_set.samples, args.draws, args.seed), dict(sample_set.attrs["theory"]), label


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("draws", "n_events"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    setup(args)
    import torch

    from pdfinfer.io import write_events
    from pdfinfer.runtime import derive_seed, make_generator, resolve_device
    from pdfinfer.simulate import simulate_sets
    from pdfinfer.theory import make_theory

    eta, spec, label = _source(args)
    theory = make_theory(spec)
    device = resolve_device(args.device)
    seed = derive_seed(args.seed, "predictive", label, args.n_events)
    generator = make_generator(seed, device)
    events, norm = simulate_sets(theory, torch.as_tensor(eta), args.n_events, args.rel_unc, generator, desc=f"predictive {label}")
    attrs = {"stream": "predictive", "method": label, "source": args.samples or "truth", "device": str(device)}
    write_events(args.out, events, eta, norm, theory.spec(), seed, args.rel_unc, args.config_hash, attrs)
    log.info("%d replicate sets x %d events of %s -> %s", len(eta), args.n_events, label, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
