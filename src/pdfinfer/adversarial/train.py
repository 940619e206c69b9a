"""Train one adversarial run and write its parameter draws (the command line).

Outputs (``--out``): ``samples`` ``(K, 6)`` normalized draws of the (EMA) generator, the history
(``history_step``, ``history_wall_time``, ``history_loss_d``, ``history_loss_g``,
``history_loss_s`` in the surrogate modes, ``history_param_mean`` and ``history_param_std``
``(n_logged, 6)``, ``history_chi2``; no ``history_loss_d`` in the non-adversarial histogram mode),
the attribute ``selected_step`` (the step whose generator the draws come from: the last, or the
lowest chi2/bins with ``select: best_chi2``) and the final generator weights as one flat vector ``generator_weights``
(rebuild with :func:`pdfinfer.adversarial.weights.load_generator`). Checkpoints
(``--checkpoint``) are written every ``checkpoint_every`` steps; rerunning the same command
continues from the last one, and the checkpoint is removed once the output is written.

Usage::

    python -m pdfinfer.adversarial.train --observed results/data/n1024/observed.h5 \\
        --out results/adversarial/n1024/seed0.h5 --checkpoint results/checkpoints/adversarial/n1024/seed0.pt \\
        --replica 0 --normalization on --settings '{"mode": "reparam", "steps": 600}'
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pdfinfer.runtime import add_common_arguments, cli_main, setup

if TYPE_CHECKING:  # torch-heavy types, for annotations only
    from pdfinfer.adversarial.observation import Observation
    from pdfinfer.adversarial.settings import AdversarialSettings
    from pdfinfer.theory import Theory

log = logging.getLogger("pdfinfer.adversarial")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.adversarial.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--observed", required=True, help="observed set (HDF5 event file, one set (N, F))")
    parser.add_argument("--out", required=True, help="samples file to write")
    parser.add_argument("--checkpoint", default=None, help="checkpoint file (resumed from when it exists and matches)")
    parser.add_argument("--replica", type=int, default=0, help="index of this independent run (the rule's replica wildcard)")
    parser.add_argument(
        "--normalization",
        required=True,
        choices=["on", "off"],
        help="whether the discriminator also sees the normalization observable",
    )
    parser.add_argument("--settings", default="{}", help="JSON object of training settings (the config section 'adversarial')")
    parser.add_argument(
        "--constraints", default="{}", help="the config section 'observation.constraints' as JSON: the generator pays -log f"
    )
    parser.add_argument(
        "--stop-after", type=int, default=None, help="stop this call after that many steps (checkpointed; rerun to continue)"
    )
    add_common_arguments(parser)
    return parser


def run_and_write(
    args: argparse.Namespace,
    settings: AdversarialSettings,
    theory: Theory,
    observation: Observation,
    seed: int,
    method: str,
    attrs: dict[str, Any],
    extras: dict[str, Any] | None = None,
) -> int:
    """Train (resuming from ``args.checkpoint``), write the samples file, discard the checkpoint; the exit code."""
    from pdfinfer.adversarial.loop import train
    from pdfinfer.adversarial.weights import draw_parameters, generator_weights
    from pdfinfer.checkpoint import Checkpoint
    from pdfinfer.io import write_samples
    from pdfinfer.params import PARAM_NAMES
    from pdfinfer.runtime import derive_seed, resolve_device

    device = resolve_device(args.device)
    n_obs = len(observation.events)
    log.info(
        "%s mode, %d steps, %d observed events, normalization %s, device %s",
        settings.mode,
        settings.steps,
        n_obs,
        args.normalization,
        device,
    )
    result = train(theory, observation, settings, seed, device, args.checkpoint, args.stop_after)
    if not result.complete:
        log.warning("stopped at step %d of %d (checkpoint %s); rerun to continue", result.step, settings.steps, args.checkpoint)
        return 3
    samples = draw_parameters(result.generator, settings.n_samples, derive_seed(seed, "draws"))
    mean, std = samples.mean(0), samples.std(0)
    log.info(
        "trained %d steps in %.1f s; generated parameters: %s",
        result.step,
        result.wall_time,
        ", ".join(f"{n} {m:.4f}+-{s:.4f}" for n, m, s in zip(PARAM_NAMES, mean, std)),
    )
    write_samples(
        args.out,
        samples,
        method,
        {
            **settings.as_dict(),
            "normalization": observation.norm is not None,
            "n_obs": n_obs,
            **({"constraints": observation.constraint.as_dict()} if observation.constraint.enabled else {}),
        },
        seed,
        theory.spec(),
        args.config_hash,
        {
            **result.history.arrays(settings.uses_surrogate, settings.mode != "histogram"),
            "generator_weights": generator_weights(result.generator),
            **(extras or {}),
        },
        {
            "replica": args.replica,
            "steps_done": result.step,
            "selected_step": result.selected_step,
            "wall_time_s": result.wall_time,
            "device": str(device),
            "observed": str(args.observed),
            **attrs,
        },
    )
    Checkpoint(args.checkpoint, "").discard()
    return 0


def constraint_arg(args: argparse.Namespace) -> Any:
    """The sum-rule constraint of ``--constraints`` (a :class:`~pdfinfer.constraints.settings.ConstraintSettings`)."""
    from pdfinfer.constraints.settings import ConstraintSettings

    return ConstraintSettings.from_json(args.constraints, "--constraints")


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args)
    from pdfinfer.adversarial.observation import read_observation
    from pdfinfer.adversarial.settings import AdversarialSettings
    from pdfinfer.runtime import derive_seed

    settings = AdversarialSettings.from_json(args.settings)
    theory, observation = read_observation(args.observed, args.normalization == "on", constraint_arg(args))
    seed = derive_seed(args.seed, "adversarial", len(observation.events), args.replica)
    return run_and_write(args, settings, theory, observation, seed, "adversarial", {})


if __name__ == "__main__":
    raise SystemExit(main())
