"""Parameter recovery of adversarial learning on an identifiable problem (issue 3, "Must show").

Set-up as in the original study: the normalization observable on (all six parameters
identifiable), the WHOLE truth bank (102400 events at eta*) as the observed set, real sets of
``batch_events`` (1024) drawn from it. For each gradient mode it trains one run and reports

* the relative L2 error of the mean generated parameters to eta* in normalized space,
  ``|mean - eta*| / |eta*|`` (aim: < 5 % reparam, < 10 % surrogate);
* per-parameter pulls ``(mean - eta*) / std`` with the generated spread ``std``;
* the same against the exact maximum-likelihood estimate of this truth bank (events + the
  normalization measurement, L-BFGS on the exact log-likelihood) with Laplace standard
  deviations: the data's own fluctuation sets a floor on the error to eta*, and the distance to
  the MLE in units of the Laplace std says whether the method is within the statistical error;
* a classifier two-sample test (sbi's ``c2st``, random forest, 5-fold) between events simulated
  from generated parameters (one event per draw, so the parameter spread enters) and observed
  events; 0.5 = indistinguishable. As a yardstick the same test between fresh events at eta*
  and the observed events, which differs from 0.5 only by the test's own noise.

    PYTHONPATH=src python benchmarks/recovery_adversarial.py                      # both modes
    PYTHONPATH=src python benchmarks/recovery_adversarial.py --modes reparam --steps 1500
    PYTHONPATH=src python benchmarks/recovery_adversarial.py --set '{"lr_generator": 0.002}'

Settings are the config's ``adversarial`` section (``--config``) with ``--steps`` and ``--set``
on top. Prints a table and writes it as JSON with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import yaml
from sbi.utils.metrics import c2st

from pdfinfer.adversarial import train as adv
from pdfinfer.io import write_json
from pdfinfer.params import PARAM_NAMES, TRUTH
from pdfinfer.runtime import derive_seed, make_generator, resolve_device
from pdfinfer.theory import make_theory

ROOT = Path(__file__).resolve().parents[1]


def c2st_accuracy(a: np.ndarray, b: np.ndarray, seed: int) -> float:
    """Random-forest C2ST accuracy between two event samples ``(n, F)``."""
    return float(c2st(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32), seed=seed))


def exact_mle(theory, events: torch.Tensor, norm: torch.Tensor, rel_unc: float) -> tuple[np.ndarray, np.ndarray, Callable[[torch.Tensor], torch.Tensor]]:
    """Maximum-likelihood eta of events ``(N, F)`` and normalization ``(T,)``, its Laplace std ``(6,)`` and the NLL."""

    def nll(eta: torch.Tensor) -> torch.Tensor:
        return -(theory.log_prob(events[None], eta[None]).sum() + theory.norm_log_prob(norm[None], eta[None], rel_unc).sum())

    logit = torch.logit(torch.as_tensor(TRUTH)).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([logit], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = nll(torch.sigmoid(logit))
        value.backward()
        return value

    opt.step(closure)
    mle = torch.sigmoid(logit).detach()
    cov = torch.linalg.inv(torch.autograd.functional.hessian(nll, mle))
    return mle.numpy(), cov.diag().sqrt().numpy(), nll


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--modes", nargs="+", default=["reparam", "surrogate"])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    parser.add_argument("--set", default="{}", help="JSON object of further settings overrides")
    parser.add_argument("--n-truth", type=int, default=102400)
    parser.add_argument("--rel-unc", type=float, default=0.02, help="relative uncertainty of the normalization observable")
    parser.add_argument("--c2st-events", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=20241107)
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
    observation = adv.Observation(bank, norm, args.rel_unc)
    z_star = theory.normalizers(eta_star)[0].numpy()
    print(f"truth bank: {args.n_truth} events at eta*; measured normalization {norm} (Z(eta*) = {z_star}, rel. unc. {args.rel_unc})")

    mle, mle_std, nll = exact_mle(theory, torch.as_tensor(bank, dtype=torch.float64), torch.as_tensor(norm), args.rel_unc)
    mle_err = float(np.linalg.norm(mle - TRUTH) / np.linalg.norm(TRUTH))
    print(f"exact MLE {np.round(mle, 4)} (Laplace std {np.round(mle_std, 4)}): relative L2 error to eta* {mle_err:.4f}")

    rng = np.random.default_rng(args.seed)
    observed_rows = bank[rng.choice(len(bank), args.c2st_events, replace=False)]
    fresh = theory.sample(eta_star, args.c2st_events, generator=make_generator(derive_seed(args.seed, "fresh")))[0].numpy()
    yardstick = c2st_accuracy(fresh, observed_rows, args.seed)
    print(f"C2ST yardstick (fresh events at eta* vs observed): {yardstick:.4f}")

    results = {"n_truth": args.n_truth, "rel_unc": args.rel_unc, "c2st_yardstick": yardstick, "mle": mle, "mle_std": mle_std,
               "mle_rel_l2_error": mle_err, "modes": {}}
    for mode in args.modes:
        values = {**cfg["adversarial"], **json.loads(args.set), "mode": mode}
        if args.steps is not None:
            values["steps"] = args.steps
        settings = adv.Settings.from_mapping(values)
        seed = derive_seed(args.seed, "recovery", mode)
        start = time.perf_counter()
        result = adv.train(theory, observation, settings, seed, resolve_device(args.device), show_progress=True)
        wall = time.perf_counter() - start
        draws = adv.draw_parameters(result.generator, settings.n_samples, derive_seed(seed, "draws"))
        mean, std = draws.mean(0), draws.std(0)
        rel_err = float(np.linalg.norm(mean - TRUTH) / np.linalg.norm(TRUTH))
        pulls = (mean - TRUTH) / std
        to_mle = (mean - mle) / mle_std
        delta_nll = float(nll(torch.as_tensor(mean)) - nll(torch.as_tensor(mle)))
        sim_eta = torch.as_tensor(draws[: args.c2st_events])
        simulated = theory.sample(sim_eta, 1, generator=make_generator(derive_seed(seed, "c2st")))[:, 0].numpy()
        accuracy = c2st_accuracy(simulated, observed_rows, args.seed)
        history = result.history
        curve = [(s, float(np.linalg.norm(np.array(m) - TRUTH) / np.linalg.norm(TRUTH))) for s, m in zip(history.step, history.param_mean)]
        results["modes"][mode] = {
            "steps": settings.steps, "train_wall_s": wall, "s_per_step": wall / settings.steps, "rel_l2_error": rel_err,
            "mean": mean, "std": std, "pull": pulls, "c2st": accuracy, "rel_l2_error_to_mle": float(np.linalg.norm(mean - mle) / np.linalg.norm(TRUTH)),
            "mean_minus_mle_in_laplace_std": to_mle, "delta_nll_mean_vs_mle": delta_nll, "rel_error_curve": curve[:: max(1, len(curve) // 20)],
            "settings": settings.as_dict(),
        }
        print(f"\n== {mode}: {settings.steps} steps in {wall:.1f} s ({wall / settings.steps:.3f} s/step, 1 thread)")
        print(f"relative L2 error of the mean: {rel_err:.4f}   C2ST accuracy: {accuracy:.4f} (yardstick {yardstick:.4f})")
        print(f"relative L2 distance to the MLE: {np.linalg.norm(mean - mle) / np.linalg.norm(TRUTH):.4f}; NLL(mean) - NLL(MLE) = {delta_nll:.2f}")
        print(f"{'param':6s} {'truth':>8s} {'mean':>8s} {'std':>8s} {'pull':>7s} {'MLE':>8s} {'(mean-MLE)/laplace':>19s}")
        for i, p in enumerate(PARAM_NAMES):
            print(f"{p:6s} {TRUTH[i]:8.4f} {mean[i]:8.4f} {std[i]:8.4f} {pulls[i]:7.2f} {mle[i]:8.4f} {to_mle[i]:19.2f}")
        print("relative error of the running mean: " + ", ".join(f"{s}:{e:.3f}" for s, e in curve[:: max(1, len(curve) // 10)]))
    if args.out:
        write_json(args.out, results)


if __name__ == "__main__":
    main()
