"""Benchmark: the contamination sweep over eps, directly from Python (no Snakemake), and its table.

For ``--sets`` observed sets at the truth, the clean set and every (kind, eps > 0) contaminated
copy (:mod:`pdfinfer.contamination.make`) are refitted by the exact reference and one learned
method (the registry's ``fit``, at reduced settings given below), and the study's summary
(:mod:`pdfinfer.contamination.study`) is printed: mean distance of the posterior mean from the
truth, the largest shift of the mean in clean exact-posterior sd (± se over sets), joint 68%/95%
coverage, then the answer sentence and the seconds per fit. Numbers on the shared development
machine are from a loaded machine (other jobs share its 2 cores).

Usage::

    python benchmarks/contamination.py --n-obs 256 --sets 2 --eps 0 0.02 0.05 0.1 --method adversarial
"""

from __future__ import annotations

import argparse
import json
import time

#: Reduced settings of each method for this benchmark (minutes, not hours, on 2 shared cores).
SMALL = {
    "reference": {"ess_target": 200, "n_samples": 2000, "emcee": {"n_burn": 400, "n_steps": 600, "max_steps": 4800}},
    "adversarial": {"steps": 200, "n_samples": 2000},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-obs", type=int, default=256)
    parser.add_argument("--sets", type=int, default=2)
    parser.add_argument("--eps", type=float, nargs="+", default=[0.0, 0.02, 0.05, 0.1])
    parser.add_argument("--kinds", nargs="+", default=["broad", "shifted"])
    parser.add_argument("--method", default="adversarial", help="the learned method (one with a registry fit)")
    parser.add_argument("--seed", type=int, default=20241107)
    parser.add_argument("--json", default=None, help="also write the summary here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from pdfinfer.contamination import study
    from pdfinfer.contamination.make import make_set
    from pdfinfer.contamination.settings import ContaminationSettings
    from pdfinfer.errors import PdfinferError
    from pdfinfer.methods import REFERENCE, method

    cfg = ContaminationSettings(enabled=True, eps=args.eps, kinds=args.kinds, sets=args.sets, n_obs=args.n_obs)
    cfg.check()
    labels = [REFERENCE, args.method]
    fits = {m: (method(m).fit_function(), method(m).settings_class().from_config(SMALL.get(m, {}))) for m in labels}
    records, seconds, failures = [], {m: [] for m in labels}, []
    for kind, eps in cfg.cells():
        for index in range(cfg.sets):
            observed = make_set({"name": "proxy"}, kind, eps, index, cfg.n_obs, 0.02, cfg.shift, args.seed, "cpu")
            for label, (fit, settings) in fits.items():
                tic = time.perf_counter()
                try:
                    samples = fit(settings, observed, False, args.seed, "cpu", None)
                except PdfinferError as err:  # e.g. the referee not converging: reported, the cell has one set fewer
                    failures.append({"method": label, "kind": kind, "eps": eps, "index": index, "error": str(err)})
                    samples = None
                seconds[label].append(time.perf_counter() - tic)
                if samples is not None:
                    records.append(study.record(label, kind, eps, index, samples, observed.params))
            print(f"  {kind} eps={eps:g} set {index}: " + ", ".join(f"{m} {seconds[m][-1]:.1f} s" for m in labels), flush=True)
    summary = study.summarize(records, cfg.kinds, failures)
    print(f"\nproxy theory, normalization off, n_obs = {cfg.n_obs}, {cfg.sets} sets, shift = {cfg.shift} (loaded machine)")
    print("\n".join(study.table(summary)))
    print("\n" + study.answer(summary, cfg.graceful_sd, failures))
    for f in failures:
        print(f"failed: {f['method']} on {f['kind']} eps={f['eps']:g} set {f['index']}: {f['error']}")
    for label in labels:
        print(f"{label}: {sum(seconds[label]) / len(seconds[label]):.1f} s per fit ({len(seconds[label])} fits)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"methods": summary, "settings": cfg.as_dict(), "records": records, "failures": failures}, handle)


if __name__ == "__main__":
    main()
