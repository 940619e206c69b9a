r"""Calibration of the NPE posterior on held-out simulations, with ``sbi``'s diagnostics.

Held-out pairs :math:`(\eta_j, x_j)`, :math:`\eta_j \sim U[0,1]^6`, :math:`j = 1..M`, are simulated
here from their own seed stream (``derive_seed(seed, "npe", "holdout", N)``), so they are never
part of the training shards (stream ``"train"``). For each :math:`x_j`, :math:`L` posterior draws
:math:`\eta_j^{(l)}` are compared with the truth:

* **SBC** (Talts et al. 2018, ``sbi.diagnostics.run_sbc``): the rank
  :math:`r_{jk} = \#\{l : \eta^{(l)}_{jk} < \eta_{jk}\}` of each parameter is uniform on
  :math:`\{0..L\}` for a calibrated posterior; the KS p-value of that uniformity per parameter
  (``check_uniformity_frequentist``), and with ``--c2st`` also ``check_sbc``'s classifier (C2ST)
  scores for the ranks and for the data-averaged posterior vs the prior (slow: 12 classifiers).
* **Expected coverage** (Deistler et al. 2022): ``run_sbc`` with the posterior log density as the
  reduction ranks :math:`\log q(\eta_j \mid x_j)` among :math:`\log q(\eta^{(l)}_j \mid x_j)`;
  the truth lies in the highest-density region of credibility :math:`\alpha` iff
  :math:`r_j \ge (1 - \alpha) L`, so the empirical coverage at level :math:`\alpha` is
  :math:`\hat c(\alpha) = \frac1M \sum_j 1[r_j \ge (1-\alpha) L]` (diagonal = calibrated, below =
  overconfident). Marginal central-interval coverage per parameter comes from the SBC ranks:
  :math:`|r_{jk}/L - 1/2| \le \alpha/2`.
* **TARP** (Lemos et al. 2023, ``run_tarp``/``check_tarp``): expected coverage probability of
  random-reference balls, its area-to-curve statistic ATC (> 0 underconfident, < 0
  overconfident) and a KS p-value against the diagonal.

Results: ``diagnostics.h5`` (plain arrays, see :func:`run_diagnostics`) and ``diagnostics.json``.

Usage::

    python -m pdfinfer.npe.diagnostics --model posterior.pt --normalization off --n-sims 200 \
        --n-posterior-samples 1000 --out-h5 diagnostics.h5 --out-json diagnostics.json
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from typing import Any, Callable, Sequence

import numpy as np
import torch
from sbi.diagnostics import check_sbc, check_tarp, run_sbc, run_tarp
from sbi.diagnostics.sbc import check_uniformity_frequentist

from pdfinfer.errors import ConfigError
from pdfinfer.io import write_h5, write_json
from pdfinfer.npe.embedding import flatten_observation
from pdfinfer.npe.model import load_model, make_prior, quiet_library_warnings
from pdfinfer.npe.sample import check_normalization_flag
from pdfinfer.npe.train import parse_on_off
from pdfinfer.params import PARAM_NAMES
from pdfinfer.runtime import add_common_arguments, cli_main, derive_seed, make_generator, resolve_device, setup
from pdfinfer.simulate import simulate_sets
from pdfinfer.theory import make_theory

log = logging.getLogger("pdfinfer.npe.diagnostics")

#: Credibility levels at which coverage is reported.
LEVELS = np.round(np.linspace(0.0, 1.0, 21), 10)


def holdout_set(settings: dict[str, Any], n_sims: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_sims`` fresh prior-predictive pairs: ``theta`` ``(M, 6)`` and flat ``x`` ``(M, N*F + T)``."""
    theory = make_theory(settings["theory"])
    generator = make_generator(derive_seed(seed, "npe", "holdout", settings["n_events"]), device)
    eta = torch.rand((n_sims, 6), generator=generator, dtype=torch.float64, device=device)
    events, norm = simulate_sets(theory, eta, settings["n_events"], settings["norm_rel_unc"], generator, desc="held-out sets")
    x = flatten_observation(events, norm if settings["normalization"] else None)
    return eta.float().cpu(), x


def coverage_from_ranks(ranks: np.ndarray, n_samples: int, levels: np.ndarray = LEVELS) -> np.ndarray:
    """Highest-density coverage :math:`\\hat c(\\alpha)` ``(len(levels),)`` from log-density ranks ``(M,)``."""
    frac = np.asarray(ranks, dtype=np.float64)[:, None] / n_samples
    return (frac >= (1.0 - levels[None, :]) - 1e-12).mean(0)


def marginal_coverage(ranks: np.ndarray, n_samples: int, levels: np.ndarray = LEVELS) -> np.ndarray:
    """Central-interval coverage per parameter, ``(len(levels), 6)``, from SBC ranks ``(M, 6)``."""
    frac = np.asarray(ranks, dtype=np.float64) / n_samples
    return (np.abs(frac[None, :, :] - 0.5) <= levels[:, None, None] / 2 + 1e-12).mean(1)


def _log_density(posterior: Any) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``(theta (K, 6), x (1, D)) -> log q(theta | x)`` without sbi's leakage normalization (a constant
    per ``x``, which does not change ranks, and costs 10^4 draws per call)."""

    def log_density(theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return posterior.log_prob(theta, x=x, norm_posterior=False)

    return log_density


def run_diagnostics(posterior: Any, theta: torch.Tensor, x: torch.Tensor, n_samples: int, seed: int, device: torch.device, c2st: bool = False) -> dict[str, np.ndarray | float]:
    """SBC ranks and checks, expected coverage and TARP for held-out ``theta`` ``(M, 6)``, ``x`` ``(M, D)``.

    Returns plain arrays: ``sbc_ranks`` ``(M, 6)``, ``sbc_ks_pvalues`` ``(6,)`` (and with ``c2st``
    ``sbc_c2st_ranks``/``sbc_c2st_dap`` ``(6,)``), ``coverage_levels``/``coverage_empirical``/``coverage_stderr`` ``(21,)``,
    ``coverage_ranks`` ``(M,)``, ``marginal_coverage`` ``(21, 6)``, ``tarp_alpha``/``tarp_ecp``,
    and the scalars ``tarp_atc``, ``tarp_ks_pvalue``, ``coverage_max_deviation``.
    """
    theta, x = theta.to(device), x.to(device)
    torch.manual_seed(seed)
    timings: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*on the order of 100s.*")
        warnings.filterwarnings("ignore", message=".*less than 100 samples.*")
        tic = time.perf_counter()
        ranks, dap = run_sbc(theta, x, posterior, num_posterior_samples=n_samples, show_progress_bar=False)
        if c2st:
            checks = check_sbc(ranks, make_prior(device).sample((len(theta),)).cpu(), dap.cpu(), num_posterior_samples=n_samples)
        else:
            checks = {"ks_pvals": check_uniformity_frequentist(ranks.cpu(), n_samples)}
        timings["sbc"] = time.perf_counter() - tic

        tic = time.perf_counter()
        ranks_lp, _ = run_sbc(theta, x, posterior, num_posterior_samples=n_samples, reduce_fns=_log_density(posterior), show_progress_bar=False)
        timings["coverage"] = time.perf_counter() - tic

        tic = time.perf_counter()
        ecp, alpha = run_tarp(theta, x, posterior, num_posterior_samples=n_samples, show_progress_bar=False)
        atc, tarp_ks = check_tarp(ecp.cpu(), alpha.cpu())
        timings["tarp"] = time.perf_counter() - tic
    coverage = coverage_from_ranks(ranks_lp[:, 0].cpu().numpy(), n_samples)
    return {
        "theta": theta.cpu().numpy(),
        "sbc_ranks": ranks.cpu().numpy(),
        "sbc_ks_pvalues": checks["ks_pvals"].cpu().numpy().astype(np.float64),
        "coverage_levels": LEVELS,
        "coverage_empirical": coverage,
        "coverage_stderr": np.sqrt(np.clip(LEVELS * (1 - LEVELS), 0, None) / len(theta)),
        "coverage_ranks": ranks_lp[:, 0].cpu().numpy(),
        "coverage_max_deviation": float(np.max(np.abs(coverage - LEVELS))),
        "marginal_coverage": marginal_coverage(ranks.cpu().numpy(), n_samples),
        "tarp_alpha": alpha.cpu().numpy().astype(np.float64),
        "tarp_ecp": ecp.cpu().numpy().astype(np.float64),
        "tarp_atc": float(atc),
        "tarp_ks_pvalue": float(tarp_ks),
        "seconds": timings,
        **({"sbc_c2st_ranks": checks["c2st_ranks"].cpu().numpy().astype(np.float64),
            "sbc_c2st_dap": checks["c2st_dap"].cpu().numpy().astype(np.float64)} if c2st else {}),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pdfinfer.npe.diagnostics", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="trained model (posterior.pt)")
    parser.add_argument("--normalization", type=parse_on_off, required=True, help="use the normalization observable: on or off (must match training)")
    parser.add_argument("--n-sims", type=int, default=200, help="held-out simulations M")
    parser.add_argument("--n-posterior-samples", type=int, default=1000, help="posterior draws L per held-out simulation")
    parser.add_argument("--c2st", action="store_true", help="also run sbi's classifier checks (C2ST) of the SBC ranks and data-averaged posterior (slow)")
    parser.add_argument("--out-h5", required=True)
    parser.add_argument("--out-json", required=True)
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.n_sims < 2 or args.n_posterior_samples < 2:
        raise ConfigError(f"--n-sims and --n-posterior-samples must be at least 2, got {args.n_sims} and {args.n_posterior_samples}")
    setup(args)
    quiet_library_warnings()
    device = resolve_device(args.device)
    posterior, _, payload = load_model(args.model, device)
    settings = payload["settings"]
    check_normalization_flag(settings, args.normalization, args.model)
    theta, x = holdout_set(settings, args.n_sims, args.seed, device)
    result = run_diagnostics(posterior, theta, x, args.n_posterior_samples, derive_seed(args.seed, "npe", "diagnostics", settings["n_events"]), device, args.c2st)
    seconds = result.pop("seconds")
    scalars = {k: v for k, v in result.items() if isinstance(v, float)}
    arrays = {k: v for k, v in result.items() if not isinstance(v, float)}
    for k, name in enumerate(PARAM_NAMES):
        extra = f", C2ST(ranks) {result['sbc_c2st_ranks'][k]:.3f}" if args.c2st else ""
        log.info("SBC %-4s: KS p-value %.3f%s", name, result["sbc_ks_pvalues"][k], extra)
    log.info("expected coverage: max |empirical - nominal| = %.3f over levels %s", scalars["coverage_max_deviation"], LEVELS.tolist())
    log.info("TARP: ATC %.4f, KS p-value %.3f; seconds %s", scalars["tarp_atc"], scalars["tarp_ks_pvalue"], {k: round(v, 1) for k, v in seconds.items()})
    meta = {
        "method": "npe", "n_obs": settings["n_events"], "n_sims": args.n_sims, "n_posterior_samples": args.n_posterior_samples,
        "param_names": list(PARAM_NAMES), "theory": settings["theory"], "normalization": settings["normalization"],
        "seed": args.seed, "config_hash": args.config_hash, "model": str(args.model), "holdout_stream": ["npe", "holdout", settings["n_events"]],
    }
    write_h5(args.out_h5, "npe_diagnostics", arrays, {**meta, **scalars, "seconds": seconds})
    write_json(args.out_json, {**meta, **scalars, **arrays, "seconds": seconds})
    log.info("wrote %s and %s", args.out_h5, args.out_json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
