r"""Pool the parameter draws of R independent adversarial runs into one ensemble.

The pooled sample is the equal-weight mixture of the runs' generated distributions,

.. math:: q_{pool}(\eta) = \frac1R \sum_{r=1}^R q_{\psi_r}(\eta),

so its spread contains the seed-to-seed variation of the training as well as each generator's
own spread. Output: ``samples`` ``(sum_r K_r, 6)`` (method ``adversarial``, the registry label), ``replica``
``(sum_r K_r,)`` (which run each draw came from), ``run_mean`` and ``run_std`` ``(R, 6)``.

With ``--estimates`` (the bootstrap ensemble, :mod:`pdfinfer.adversarial.bootstrap`) the pooled
samples are instead the runs' point estimates, their generator means ``(R, 6)``, under the
method label given by ``--method``.

Usage::

    python -m pdfinfer.adversarial.pool --runs results/adversarial/n1024/seed0.h5 \
        results/adversarial/n1024/seed1.h5 --out results/adversarial/n1024/pooled.h5
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

import numpy as np

from pdfinfer.errors import DataError
from pdfinfer.io import SampleSet, read_samples, write_samples
from pdfinfer.params import PARAM_NAMES
from pdfinfer.runtime import add_common_arguments, cli_main, setup

log = logging.getLogger("pdfinfer.adversarial.pool")


def check_runs(runs: Sequence[SampleSet], method: str) -> None:
    """The runs must be samples of ``method`` of the same theory, observed-set size and observable."""
    if not runs:
        raise DataError(f"no {method} runs to pool")
    first = runs[0]
    for run in runs:
        if run.method != method:
            raise DataError(f"{run.path}: holds method {run.method!r}, expected {method!r}")
        for key in ("theory",):
            if run.attrs.get(key) != first.attrs.get(key):
                raise DataError(f"{run.path}: {key} {run.attrs.get(key)!r} differs from {first.path} ({first.attrs.get(key)!r})")
        for key in ("n_obs", "normalization"):
            if run.settings.get(key) != first.settings.get(key):
                raise DataError(
                    f"{run.path}: setting {key} = {run.settings.get(key)!r} differs from {first.path} ({first.settings.get(key)!r})"
                )


def pool_runs(runs: Sequence[SampleSet], method: str = "adversarial") -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the draws of ``runs``: samples ``(sum K, 6)`` and the run index of each ``(sum K,)``."""
    check_runs(runs, method)
    samples = np.concatenate([run.samples for run in runs])
    replica = np.concatenate([np.full(len(run.samples), i, dtype=np.int64) for i, run in enumerate(runs)])
    return samples, replica


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.adversarial.pool",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", nargs="+", required=True, help="samples files of the single runs")
    parser.add_argument("--method", default="adversarial", help="method label of the runs and of the pooled file")
    parser.add_argument(
        "--estimates", action="store_true", help="pool the runs' point estimates (generator means), not their draws"
    )
    parser.add_argument("--out", required=True, help="pooled samples file to write")
    add_common_arguments(parser, seed=False, device=False)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args)
    runs = [read_samples(path) for path in args.runs]
    samples, replica = pool_runs(runs, args.method)
    run_mean = np.stack([run.samples.mean(0) for run in runs])
    if args.estimates:
        samples, replica = run_mean, np.arange(len(runs), dtype=np.int64)
    run_std = np.stack([run.samples.std(0) for run in runs])
    for i, run in enumerate(runs):
        log.info("run %d (%s): mean %s", i, run.path, ", ".join(f"{n} {m:.4f}" for n, m in zip(PARAM_NAMES, run_mean[i])))
    first = runs[0]
    settings = {**first.settings, "runs": [run.path for run in runs], "seeds": [int(run.attrs.get("seed", -1)) for run in runs]}
    write_samples(
        args.out,
        samples,
        args.method,
        settings,
        int(first.attrs.get("seed", 0)),
        first.attrs["theory"],
        args.config_hash,
        {"replica": replica, "run_mean": run_mean, "run_std": run_std},
        {
            "n_runs": len(runs),
            "estimates": bool(args.estimates),
            "wall_time_s": float(sum(float(run.attrs.get("wall_time_s", 0.0)) for run in runs)),
        },
    )
    log.info("pooled %d draws of %d runs into %s", len(samples), len(runs), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
