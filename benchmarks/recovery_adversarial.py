"""Parameter recovery of adversarial learning on an identifiable problem (issue 12, "Must show").

Set-up as in the original study: the normalization observable on (all six parameters
identifiable), the WHOLE truth bank (102400 events at eta*) as the observed set, real sets of
``batch_events`` (1024) drawn from it. For each gradient mode (``reparam`` needs a
differentiable simulator; ``surrogate``, ``reinforce`` and the non-adversarial ``histogram`` only
sample it) it trains one run and reports

* the relative L2 error of the mean generated parameters to eta*, ``|mean - eta*| / |eta*|``;
* the distance of the mean to the exact maximum-likelihood estimate of this truth bank (events +
  the normalization measurement; :func:`pdfinfer.reference.likelihood.find_map`) in Laplace
  standard deviations (:func:`~pdfinfer.reference.likelihood.laplace_covariance`): the data's own
  fluctuation sets a floor on the error to eta*, the distance to the MLE in units of the Laplace
  std says whether the method is within the statistical error (aim: every parameter within 2);
* the training wall time and seconds per step (aim for the black-box modes: at most 10 minutes on CPU).

It ends with one summary table (one row per mode: error to eta*, max and per-parameter
(mean - MLE) / Laplace sd, training seconds, seconds per step).

    PYTHONPATH=src python benchmarks/recovery_adversarial.py                          # all modes
    PYTHONPATH=src python benchmarks/recovery_adversarial.py --modes reinforce --steps 800
    PYTHONPATH=src python benchmarks/recovery_adversarial.py --set '{"lr_generator": 0.002}'

Settings are the config's ``adversarial`` section (``--config``) with ``--steps``, ``--set`` and
``--set-MODE`` on top. Prints a table and writes it as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from pdfinfer.adversarial.loop import train
from pdfinfer.adversarial.observation import Observation
from pdfinfer.adversarial.settings import AdversarialSettings
from pdfinfer.adversarial.weights import draw_parameters
from pdfinfer.io import write_json
from pdfinfer.params import PARAM_NAMES, TRUTH
from pdfinfer.reference.likelihood import LogPosterior, find_map, laplace_covariance
from pdfinfer.runtime import derive_seed, make_generator, resolve_device
from pdfinfer.theory import make_theory

ROOT = Path(__file__).resolve().parents[1]
#: Settings per mode on top of the config section: the black-box modes evaluate their loss on more
#: simulated events (the signal of the energy term grows with them, its noise does not); the
#: surrogate modes use a wider design (sd 0.1) and fewer points per surrogate step.
MODE_DEFAULTS = {
    "reparam": {},
    "surrogate": {"energy_events": 32768, "surrogate_points": 8, "surrogate_noise": 0.1, "steps": 300},
    "reinforce": {"energy_events": 16384, "reinforce_batch": 16, "reinforce_antithetic": True},
    "histogram": {"surrogate_points": 8, "surrogate_noise": 0.1, "steps": 300},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--modes", nargs="+", default=list(MODE_DEFAULTS))
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    parser.add_argument("--set", default="{}", help="JSON object of further settings overrides (every mode)")
    for mode in MODE_DEFAULTS:
        parser.add_argument(f"--set-{mode}", default="{}", help=f"JSON overrides for {mode} only")
    parser.add_argument("--n-truth", type=int, default=102400)
    parser.add_argument("--rel-unc", type=float, default=0.02, help="relative uncertainty of the normalization observable")
    parser.add_argument("--seed", type=int, default=20241107)
    parser.add_argument("--run-seed", type=int, default=0, help="replica index of the training seed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cfg = yaml.safe_load(args.config.read_text())
    name = cfg["theory"]["name"]
    theory = make_theory({"name": name, **cfg["theory"].get(name, {})})
    g = make_generator(derive_seed(args.seed, "truth"))
    eta_star = torch.as_tensor(TRUTH)[None]
    bank = theory.sample(eta_star, args.n_truth, generator=g)[0].numpy()
    norm = theory.sample_norm(eta_star, args.rel_unc, generator=g)[0].numpy()
    observation = Observation(bank, norm, args.rel_unc)
    print(f"truth bank: {args.n_truth} events at eta*; measured normalization {norm} (rel. unc. {args.rel_unc})")

    posterior = LogPosterior(theory, bank, norm, args.rel_unc)
    mle = find_map(posterior, np.asarray(TRUTH)[None])
    mle_std = np.sqrt(np.diag(laplace_covariance(posterior, mle)))
    mle_err = float(np.linalg.norm(mle - TRUTH) / np.linalg.norm(TRUTH))
    print(f"exact MLE {np.round(mle, 4)} (Laplace std {np.round(mle_std, 4)}): relative L2 error to eta* {mle_err:.4f}")

    results = {
        "n_truth": args.n_truth,
        "rel_unc": args.rel_unc,
        "mle": mle,
        "mle_std": mle_std,
        "mle_rel_l2_error": mle_err,
        "modes": {},
    }
    for mode in args.modes:
        values = {
            **{k: v for k, v in cfg["adversarial"].items() if k not in AdversarialSettings.WORKFLOW_KEYS},
            **MODE_DEFAULTS[mode],
            **json.loads(args.set),
            **json.loads(getattr(args, f"set_{mode}")),
            "mode": mode,
        }
        if args.steps is not None:
            values["steps"] = args.steps
        settings = AdversarialSettings.from_config(values)
        seed = derive_seed(args.seed, "recovery", mode, args.run_seed)
        start, cpu_start = time.perf_counter(), time.process_time()
        result = train(theory, observation, settings, seed, resolve_device(args.device), show_progress=False)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        draws = draw_parameters(result.generator, settings.n_samples, derive_seed(seed, "draws"))
        mean, std = draws.mean(0), draws.std(0)
        rel_err = float(np.linalg.norm(mean - TRUTH) / np.linalg.norm(TRUTH))
        to_mle = (mean - mle) / mle_std
        curve = [
            (s, float(np.max(np.abs((np.array(m) - mle) / mle_std))))
            for s, m in zip(result.history.step, result.history.param_mean)
        ]
        results["modes"][mode] = {
            "steps": settings.steps,
            "selected_step": result.selected_step,
            "final_chi2_per_bin": result.history.chi2[-1] if result.history.chi2 else None,
            "train_wall_s": wall,
            "train_cpu_s": cpu,
            "s_per_step": wall / settings.steps,
            "rel_l2_error": rel_err,
            "mean": mean,
            "std": std,
            "mean_minus_mle_in_laplace_std": to_mle,
            "max_abs_laplace": float(np.abs(to_mle).max()),
            "max_laplace_curve": curve[:: max(1, len(curve) // 20)],
            "settings": settings.as_dict(),
        }
        print(
            f"\n== {mode}: {settings.steps} steps in {wall:.1f} s wall, {cpu:.1f} s CPU ({cpu / settings.steps:.3f} CPU s/step, "
            f"{args.threads} thread)"
        )
        print(
            f"relative L2 error of the mean to eta*: {rel_err:.4f} (MLE's own: {mle_err:.4f}); max |mean - MLE| / Laplace sd: "
            f"{np.abs(to_mle).max():.2f}"
        )
        print(f"{'param':6s} {'truth':>8s} {'MLE':>8s} {'laplace':>8s} {'mean':>8s} {'std':>8s} {'(mean-MLE)/laplace':>19s}")
        for i, p in enumerate(PARAM_NAMES):
            print(f"{p:6s} {TRUTH[i]:8.4f} {mle[i]:8.4f} {mle_std[i]:8.4f} {mean[i]:8.4f} {std[i]:8.4f} {to_mle[i]:19.2f}")
        print(
            "max |running mean - MLE| / Laplace sd: " + ", ".join(f"{s}:{e:.2f}" for s, e in curve[:: max(1, len(curve) // 10)])
        )
    print_summary(results, args.threads)
    if args.out:
        write_json(args.out, results)


def print_summary(results: dict, threads: int) -> None:
    """One row per mode: error to eta*, max and per-parameter pulls to the MLE, seconds."""
    print(f"\n== summary (CPU, {threads} thread; exact MLE's own error to eta* {results['mle_rel_l2_error']:.4f})")
    head = " | ".join(f"{p} sd" for p in PARAM_NAMES)
    print(f"| mode | steps | error to eta* | max sd | {head} | train s | s/step |")
    print("|" + " --- |" * (7 + len(PARAM_NAMES) - 1))
    for mode, r in results["modes"].items():
        pulls = " | ".join(f"{v:+.2f}" for v in r["mean_minus_mle_in_laplace_std"])
        print(
            f"| {mode} | {r['steps']} | {r['rel_l2_error']:.4f} | {r['max_abs_laplace']:.2f} | {pulls} | "
            f"{r['train_wall_s']:.0f} | {r['s_per_step']:.3f} |"
        )


if __name__ == "__main__":
    main()
