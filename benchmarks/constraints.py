"""Physics constraints? Exact-posterior widths of N_u, N_d: events only, + normalization, + sum rules.

For one observed set of ``--n-obs`` events simulated at eta* (proxy theory), samples the exact
posterior with the referee's emcee sampler (``pdfinfer.reference.mcmc.run_mcmc``, small settings:
``--chains`` x 16 walkers, ``--ess`` bulk ESS per parameter) three times:

* ``none``: events only (the N_u/N_d ridge);
* ``normalization``: events and the normalization observable (``--rel-unc``, 0.02);
* ``sum_rules``: events, the box prior times the soft sum-rule factor (``--tolerance``, 0.05).

Prints per case the posterior sd of every parameter (physical), the Cramér-Rao and van Trees
bounds at eta* (``pdfinfer.reference.run.fisher_report``), the wall time; writes
``<out>/constraints.json`` and the figure ``<out>/constraints.{png,pdf}``
(``pdfinfer.plotting.constraints``) and prints the answer sentence generated from the numbers
(:mod:`pdfinfer.constraints.study`, the functions of the pipeline's ``constraint_study`` rule).

    PYTHONPATH=src python benchmarks/constraints.py                 # n_obs 1024, ~2-4 min on 1 loaded core
    PYTHONPATH=src python benchmarks/constraints.py --n-obs 256 --out /tmp/constraints
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.constraints.study import CASES, case_constraint, case_summary, study
from pdfinfer.io import write_json
from pdfinfer.params import PARAM_NAMES, TRUTH
from pdfinfer.plotting.constraints import plot_constraint_widths
from pdfinfer.plotting.style import PlotStyle, save
from pdfinfer.reference.job import fisher_report
from pdfinfer.reference.likelihood import LogPosterior
from pdfinfer.reference.mcmc import run_mcmc
from pdfinfer.reference.settings import ReferenceSettings
from pdfinfer.theory import make_theory


def one_case(theory, events, norm, rel_unc, constraint, settings, seed) -> dict:
    """Exact-posterior sd (physical) and the bounds of one case."""
    start = time.perf_counter()
    posterior = LogPosterior(theory, events, norm, rel_unc, constraint=constraint)
    result = run_mcmc(posterior, settings, seed)
    with torch.enable_grad():
        report = fisher_report(theory, len(events), rel_unc, 16, constraint)
    entry = case_summary(result.samples, report, np.asarray(result.rhat), np.asarray(result.ess_bulk))
    return {**entry, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-obs", type=int, default=1024)
    parser.add_argument("--rel-unc", type=float, default=0.02)
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--ess", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/benchmarks/constraints")
    args = parser.parse_args()
    torch.set_num_threads(1)
    theory = make_theory({"name": "proxy"})
    generator = torch.Generator().manual_seed(args.seed)
    truth = torch.as_tensor(TRUTH)[None]
    events = theory.sample(truth, args.n_obs, generator=generator)[0].numpy()
    norm = theory.sample_norm(truth, args.rel_unc, generator=generator)[0].numpy()
    settings = ReferenceSettings.from_config(
        {
            "sampler": "emcee",
            "n_chains": args.chains,
            "ess_target": args.ess,
            "n_samples": 4000,
            "emcee": {"n_burn": 300, "n_steps": 600},
        }
    )
    soft = ConstraintSettings("sum_rules", "soft", args.tolerance)
    cases = {}
    for name, (normalization, _) in CASES.items():
        rel_unc = args.rel_unc if normalization else None
        entry = one_case(theory, events, norm if rel_unc else None, rel_unc, case_constraint(name, soft), settings, args.seed)
        cases[name] = entry
        print(
            f"{name:>13}: sd "
            + " ".join(f"{n} {entry['std'][n]:.3f}" for n in PARAM_NAMES)
            + f" | CR N_u {entry['cramer_rao']['N_u']} | van Trees N_u {entry['bayesian_bound']['N_u']:.3f}"
            + f" N_d {entry['bayesian_bound']['N_d']:.3f} | min ESS {min(entry['ess_bulk'].values()):.0f} | {entry['seconds']:.1f} s",
            flush=True,
        )
    data = study(cases, args.n_obs, args.rel_unc, args.tolerance, soft.form, "emcee")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "constraints.json", data)
    save(plot_constraint_widths(data, PlotStyle()), out / "constraints", PlotStyle())
    print(data["answer"])
    print(json.dumps({"written": [str(out / "constraints.json"), str(out / "constraints.png")]}))


if __name__ == "__main__":
    main()
