r"""Command line: the exact-likelihood reference posterior of one observed set, and its Fisher bound.

Samples :math:`\pi(\eta \mid x_{1..N}) \propto \prod_i p(x_i \mid \eta)\,[\mathcal N(z; Z(\eta), (rZ)^2)]`
on the prior box with :func:`pdfinfer.reference.mcmc.run_mcmc` and writes

* ``--out-samples``: ``samples`` ``(K, 6)`` normalized (method ``"reference"``), extras ``rhat``,
  ``ess_bulk``, ``autocorr_time`` (per parameter, emcee's integrated autocorrelation time in steps),
  ``acceptance`` (per walker), ``map_eta``, ``log_prob`` ``(K,)``;
* ``--out-fisher``: JSON with the per-event and total Fisher matrices at :math:`\eta^*` (normalized
  parameters), the Cramér-Rao bound per parameter (normalized and physical units, ``null`` where
  the parameter is not identifiable), the degenerate directions, and the posterior's MCMC
  diagnostics for the record.

Usage::

    python -m pdfinfer.reference.run --observed R/data/n1024/observed.h5 --normalization off \
        --out-samples R/reference/n1024/samples.h5 --out-fisher R/reference/n1024/fisher.json
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import fields
from typing import Sequence

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from pdfinfer.errors import ConfigError
from pdfinfer.io import read_events, write_json, write_samples
from pdfinfer.params import PARAM_NAMES, TRUTH
from pdfinfer.reference.fisher import cramer_rao, event_fisher, norm_fisher
from pdfinfer.reference.likelihood import LogPosterior
from pdfinfer.reference.mcmc import MCMCSettings, run_mcmc
from pdfinfer.runtime import add_common_arguments, cli_main, derive_seed, resolve_device, setup
from pdfinfer.theory import make_theory

log = logging.getLogger("pdfinfer.reference")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pdfinfer.reference.run", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--observed", required=True, help="observed set (EventSet HDF5, events (N, F))")
    parser.add_argument("--normalization", choices=["on", "off"], required=True, help="use the normalization observable")
    defaults = MCMCSettings()
    for f in fields(MCMCSettings):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(getattr(defaults, f.name)), default=getattr(defaults, f.name))
    parser.add_argument("--fisher-panels", type=int, default=16, help="panels of the composite quadrature for the expected log-likelihood")
    parser.add_argument("--out-samples", required=True)
    parser.add_argument("--out-fisher", required=True)
    add_common_arguments(parser)
    return parser


def fisher_report(theory, n_obs: int, rel_unc: float | None, panels: int) -> dict:  # noqa: ANN001
    """Fisher matrices and Cramér-Rao bounds at eta* for ``n_obs`` events (+ normalization)."""
    per_event, check = event_fisher(theory, TRUTH, panels)
    total = n_obs * per_event
    norm = np.zeros_like(per_event)
    if rel_unc is not None:
        norm = norm_fisher(theory, TRUTH, rel_unc)
        total = total + norm
    bounds = cramer_rao(total)
    for direction in bounds["degenerate_directions"]:
        log.warning("degenerate direction (no information from the data): %s", direction["direction"])
    return {
        "n_obs": n_obs,
        "normalization": rel_unc is not None,
        "norm_rel_unc": rel_unc,
        "eta": TRUTH.tolist(),
        "parameter_names": list(PARAM_NAMES),
        "fisher_per_event": per_event.tolist(),
        "fisher_normalization": norm.tolist(),
        "fisher_total": total.tolist(),
        "quadrature_check": check,
        "cramer_rao": bounds["bounds"],
        "degenerate_parameters": bounds["degenerate_parameters"],
        "degenerate_directions": bounds["degenerate_directions"],
        "eigenvalues": bounds["eigenvalues"],
    }


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args)
    with threadpool_limits(limits=max(1, args.threads)):
        return reference(args)


def reference(args: argparse.Namespace) -> int:
    """Sample the reference posterior and write samples and the Fisher report."""
    settings = MCMCSettings(**{f.name: getattr(args, f.name) for f in fields(MCMCSettings)})
    settings.check()
    if args.fisher_panels < 1:
        raise ConfigError(f"--fisher-panels must be at least 1, got {args.fisher_panels}")
    observed = read_events(args.observed, batched=False)
    theory = make_theory(observed.theory)
    rel_unc = observed.norm_rel_unc if args.normalization == "on" else None
    if rel_unc is not None and not rel_unc > 0:
        raise ConfigError(f"{args.observed}: normalization requested but the file's norm_rel_unc is {rel_unc}")
    device = resolve_device(args.device)
    posterior = LogPosterior(theory, observed.events, observed.norm, rel_unc, device)
    seed = derive_seed(args.seed, "reference", observed.n_events)
    log.info("reference posterior: %d events of %s, normalization %s, device %s", observed.n_events, args.observed, args.normalization, device)
    result = run_mcmc(posterior, settings, seed)
    log.info(
        "%d steps x %d walkers in %.1f s (%d batched likelihood calls, %.1f ms each); thin %d; acceptance %.3f",
        result.n_steps, settings.n_chains * settings.n_walkers, result.seconds, result.n_evaluations,
        1e3 * result.seconds / max(result.n_evaluations, 1), result.thin, result.acceptance.mean(),
    )
    run_settings = {
        **result.settings, "normalization": rel_unc is not None, "n_obs": observed.n_events, "observed": str(args.observed),
        "n_steps_run": result.n_steps, "thin": result.thin, "seconds": result.seconds, "device": str(device),
        "moves": "GroupedMove(DEMove 0.8, DESnookerMove 0.2)",
    }
    write_samples(
        args.out_samples, result.samples, "reference", run_settings, seed, observed.theory, args.config_hash,
        extras={
            "rhat": result.rhat, "ess_bulk": result.ess_bulk, "autocorr_time": result.autocorr_time,
            "acceptance": result.acceptance, "map_eta": result.map_eta, "log_prob": result.log_prob,
        },
    )
    with torch.enable_grad():
        report = fisher_report(theory, observed.n_events, rel_unc, args.fisher_panels)
    report["mcmc"] = {
        "rhat": dict(zip(PARAM_NAMES, result.rhat.tolist())),
        "ess_bulk": dict(zip(PARAM_NAMES, result.ess_bulk.tolist())),
        "autocorr_time": dict(zip(PARAM_NAMES, result.autocorr_time.tolist())),
        "n_steps": result.n_steps, "thin": result.thin, "n_samples": len(result.samples), "seconds": result.seconds,
    }
    write_json(args.out_fisher, report)
    log.info("wrote %s and %s", args.out_samples, args.out_fisher)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
