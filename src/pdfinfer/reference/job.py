r"""The referee job: the exact-likelihood reference posterior of one observed set, and its Fisher bound.

Samples :math:`\pi(\eta \mid x_{1..N}) \propto \prod_i p(x_i \mid \eta)\,[\mathcal N(z; Z(\eta), (rZ)^2)]\,[f(\eta)]`
on the prior box with the configured sampler (:func:`pdfinfer.reference.mcmc.run_mcmc`, default,
or :func:`pdfinfer.reference.nuts.run_nuts`) and writes

* ``--out-samples``: ``samples`` ``(K, 6)`` normalized (method ``"reference"``), extras ``rhat``,
  ``ess_bulk``, ``ess_tail`` (per parameter), ``map_eta``, ``log_prob`` ``(K,)`` and the sampler's
  own (NUTS: per-chain ``step_size``, ``acceptance``, ``divergences``; emcee: ``autocorr_time``,
  per-walker ``acceptance``); attributes ``sampler`` and ``wall_time_s``;
* ``--out-fisher``: JSON with the per-event and total Fisher matrices at :math:`\eta^*` (normalized
  parameters), the Cramér-Rao bound per parameter (normalized and physical units, ``null`` where
  the parameter is not identifiable), the degenerate directions, the prior-aware bounds
  (``prior_limited``, the van Trees ``bayesian_bound``; :func:`pdfinfer.reference.fisher.prior_aware`),
  the sum-rule constraint's information (``fisher_constraint``) and the posterior's MCMC
  diagnostics for the record.

The command line is :mod:`pdfinfer.reference.run`; :func:`reference` is the job itself.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.errors import ConfigError
from pdfinfer.io import read_events, write_json, write_samples
from pdfinfer.params import PARAM_NAMES, TRUTH
from pdfinfer.reference.fisher import cramer_rao, event_fisher, norm_fisher, prior_aware
from pdfinfer.reference.likelihood import LogPosterior
from pdfinfer.reference.result import SamplerResult
from pdfinfer.reference.settings import ReferenceSettings
from pdfinfer.runtime import derive_seed, resolve_device
from pdfinfer.theory import Theory, make_theory

log = logging.getLogger("pdfinfer.reference")


def fisher_report(
    theory: Theory, n_obs: int, rel_unc: float | None, panels: int, constraint: ConstraintSettings | None = None
) -> dict:
    """Fisher matrices, Cramér-Rao and van Trees bounds at eta* for ``n_obs`` events (+ normalization, + constraint)."""
    from pdfinfer.constraints.sumrules import constraint_fisher

    constraint = constraint or ConstraintSettings()
    per_event, check = event_fisher(theory, TRUTH, panels)
    total = n_obs * per_event
    norm = np.zeros_like(per_event)
    if rel_unc is not None:
        norm = norm_fisher(theory, TRUTH, rel_unc)
        total = total + norm
    sum_rules = constraint_fisher(TRUTH, constraint)
    total = total + sum_rules
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
        "constraints": constraint.as_dict(),
        "fisher_constraint": sum_rules.tolist(),
        **prior_aware(total, bounds["bounds"]),
    }


def sample_posterior(posterior: LogPosterior, settings: ReferenceSettings, seed: int) -> SamplerResult:
    """Run the configured sampler on ``posterior`` (torch and pyro/emcee imported here)."""
    if settings.sampler == "nuts":
        from pdfinfer.reference.nuts import run_nuts

        return run_nuts(posterior, settings, seed)
    from pdfinfer.reference.mcmc import run_mcmc

    return run_mcmc(posterior, settings, seed)


def reference(
    settings: ReferenceSettings,
    observed_path: str | Path,
    normalization: bool,
    out_samples: str | Path,
    out_fisher: str | Path,
    seed: int = 0,
    device: str = "auto",
    config_hash: str = "",
    constraint: ConstraintSettings | None = None,
) -> SamplerResult:
    """Sample the reference posterior of one observed set and write the samples file and the Fisher report
    (``constraint``: the prior's sum-rule factor, default none)."""
    settings.check_all()
    constraint = constraint or ConstraintSettings()
    start = time.perf_counter()
    observed = read_events(observed_path, batched=False)
    theory = make_theory(observed.theory)
    rel_unc = observed.norm_rel_unc if normalization else None
    if rel_unc is not None and not rel_unc > 0:
        raise ConfigError(f"{observed_path}: normalization requested but the file's norm_rel_unc is {rel_unc}")
    torch_device = resolve_device(device)
    posterior = LogPosterior(theory, observed.events, observed.norm, rel_unc, torch_device, constraint=constraint)
    run_seed = derive_seed(seed, "reference", observed.n_events)
    log.info(
        "reference posterior (%s): %d events of %s, normalization %s, device %s",
        settings.sampler,
        observed.n_events,
        observed_path,
        normalization,
        torch_device,
    )
    result = sample_posterior(posterior, settings, run_seed)
    log.info(
        "%s: %d draws per chain in %.1f s; %d likelihood calls", result.sampler, result.n_draws, result.seconds, posterior.n_calls
    )
    run_settings = {
        **settings.as_dict(),
        **result.info,
        "normalization": rel_unc is not None,
        **({"constraints": constraint.as_dict()} if constraint.enabled else {}),
        "n_obs": observed.n_events,
        "observed": str(observed_path),
        "device": str(torch_device),
    }
    with torch.enable_grad():
        report = fisher_report(theory, observed.n_events, rel_unc, settings.fisher_panels, constraint)
    wall = time.perf_counter() - start
    write_samples(
        out_samples,
        result.samples,
        "reference",
        run_settings,
        run_seed,
        observed.theory,
        config_hash,
        extras={
            "rhat": result.rhat,
            "ess_bulk": result.ess_bulk,
            "ess_tail": result.ess_tail,
            "map_eta": result.map_eta,
            "log_prob": result.log_prob,
            **result.extras,
        },
        attrs={"sampler": result.sampler, "wall_time_s": wall},
    )
    report["mcmc"] = {
        "sampler": result.sampler,
        "rhat": dict(zip(PARAM_NAMES, result.rhat.tolist())),
        "ess_bulk": dict(zip(PARAM_NAMES, result.ess_bulk.tolist())),
        "ess_tail": dict(zip(PARAM_NAMES, result.ess_tail.tolist())),
        "n_draws": result.n_draws,
        "n_samples": len(result.samples),
        "seconds": result.seconds,
        **{k: v for k, v in result.info.items() if isinstance(v, (int, float, str))},
    }
    write_json(out_fisher, report)
    log.info("wrote %s and %s", out_samples, out_fisher)
    return result
