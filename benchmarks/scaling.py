"""Cost versus work for every stage: power-law exponents, paper-config extrapolation, NPE memory, a figure.

    PYTHONPATH=src python benchmarks/scaling.py [--threads 1] [--repeats 3] [--out benchmarks/scaling.png]

Each stage's unit of work is timed at 3-4 sizes growing geometrically (small enough for a laptop),
best of ``--repeats`` (or of the epochs/steps run), and a power law ``seconds = a * work^b`` is fitted
by least squares in log-log (``numpy.polyfit``). Stages reuse the other benchmark scripts' functions:

* simulation: ``Theory.sample`` (proxy and dis), seconds vs events (``bench_simulation.measure``);
* exact likelihood: one batched 32-row log-likelihood call vs n_obs (``bench_reference.best_times``);
* NPE epoch: seconds per training epoch (``pdfinfer.npe.loop.train_npe``, fresh simulations) vs
  n_obs and vs simulations per epoch, at the paper's network sizes;
* NPE draws: seconds per 1000 flow draws for one observed set vs n_obs (barely trained flow, no rejection);
* adversarial: seconds per training step (``bench_adversarial.time_steps``) vs n_obs, paper settings;
* NLE: seconds per 32-walker learned-likelihood call (``bench_nle.call_seconds``) vs n_obs, an
  untrained flow at the paper's sizes (the cost does not depend on the weights).

Prints the measurement table (stage, work unit, sizes, seconds, exponent b), the extrapolated CPU
cost per job of ``config/paper.yaml`` (layered on ``config/config.yaml``) at each sweep size, the
peak resident memory of one epoch's fresh NPE simulations (a subprocess per size) with the
paper-size figure from the array sizes, and saves a log-log figure (one panel per work axis).
Numbers are from whatever machine runs it; on a shared machine they are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_adversarial import time_steps  # noqa: E402
from bench_nle import call_seconds, mcmc_calls  # noqa: E402
from bench_reference import best_times  # noqa: E402
from bench_simulation import measure  # noqa: E402

from pdfinfer.io import EventSet  # noqa: E402
from pdfinfer.params import TRUTH  # noqa: E402
from pdfinfer.theory import make_theory  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


@dataclass
class Stage:
    """One stage's measurements: ``seconds[i]`` of one unit of work at ``sizes[i]`` on ``axis``."""

    name: str
    axis: str  # "events" or "simulations"
    unit: str  # what one timed unit of work is
    sizes: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def fit(self) -> tuple[float, float]:
        """``(a, b)`` of ``seconds = a * size^b`` (least squares in log-log)."""
        b, log_a = np.polyfit(np.log(self.sizes), np.log(self.seconds), 1)
        return float(np.exp(log_a)), float(b)

    def predict(self, size: float) -> float:
        a, b = self.fit()
        return a * size**b


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` layered on ``base``, nested mappings merged (what Snakemake does with ``--configfile``)."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def paper_config() -> dict[str, Any]:
    """``config/config.yaml`` with ``config/paper.yaml`` layered on top."""
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    return merge(base, yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()))


def event_set(theory: str, n_sets: int, n_events: int, seed: int = 0) -> EventSet:
    """``n_sets`` prior-predictive sets of ``n_events`` events (batched) as an in-memory EventSet."""
    th = make_theory(theory)
    gen = torch.Generator().manual_seed(seed)
    eta = torch.rand((n_sets, 6), generator=gen, dtype=torch.float64)
    events = th.sample(eta, n_events, generator=gen).numpy()
    norm = th.sample_norm(eta, 0.02, generator=gen).numpy()
    return EventSet(events, eta.numpy(), norm, {"name": theory}, {"norm_rel_unc": 0.02})


def truth_events(theory: str, n_obs: int) -> np.ndarray:
    """``n_obs`` events ``(N, F)`` at eta*."""
    gen = torch.Generator().manual_seed(1)
    return make_theory(theory).sample(torch.as_tensor(TRUTH)[None], n_obs, generator=gen)[0].numpy()


# ------------------------------------------------------------------------------ stages
def simulation(theory: str, repeats: int) -> Stage:
    stage = Stage(f"simulation ({theory})", "events", "Theory.sample of 8 sets")
    for n in (2048, 8192, 32768):
        rate = measure(theory, "prior", 8, n, CPU, repeats, ["auto"])["auto"]
        stage.sizes.append(8 * n)
        stage.seconds.append(8 * n / rate)
    return stage


def exact_likelihood(theory: str, repeats: int) -> Stage:
    from pdfinfer.reference.likelihood import LogPosterior

    stage = Stage("exact likelihood", "events", "one 32-row log-likelihood call")
    rows = np.clip(TRUTH + 0.01 * np.random.default_rng(0).standard_normal((32, 6)), 0, 1)
    for n in (1024, 4096, 16384):
        post = LogPosterior(make_theory(theory), truth_events(theory, n), None, None, CPU)
        with torch.no_grad():
            stage.seconds.append(best_times({"call": lambda: post(rows)}, repeats, CPU)["call"])
        stage.sizes.append(n)
    return stage


def npe_epoch_seconds(section: dict[str, Any], theory: str, n_sims: int, n_obs: int, epochs: int) -> tuple[float, Any]:
    """Best seconds of ``epochs`` NPE epochs on ``n_sims`` fresh sets of ``n_obs`` events, and the estimator."""
    from pdfinfer.npe.loop import train_npe
    from pdfinfer.npe.settings import NPESettings

    training = {**section["training"], "max_epochs": epochs, "fresh_simulations": n_sims}
    settings = NPESettings.from_config({**section, "training": training})
    estimator, _, history, _ = train_npe(settings, event_set(theory, 16, n_obs), False, 1, CPU)
    return min(history["epoch_seconds"]), estimator


def npe(section: dict[str, Any], theory: str, repeats: int) -> tuple[Stage, Stage, Stage]:
    from pdfinfer.npe.embedding import flatten_observation
    from pdfinfer.npe.model import quiet_library_warnings

    quiet_library_warnings()
    by_sims = Stage("NPE epoch", "simulations", "one training epoch (n_obs 1024)")
    by_obs = Stage("NPE epoch", "events", "one training epoch (256 simulations)")
    draws = Stage("NPE draws", "events", "1000 posterior draws")
    for n_sims in (128, 256, 512):
        by_sims.sizes.append(n_sims)
        by_sims.seconds.append(npe_epoch_seconds(section, theory, n_sims, 1024, 2)[0])
    for n_obs in (256, 1024, 4096):
        seconds, estimator = npe_epoch_seconds(section, theory, 256, n_obs, 2)
        by_obs.sizes.append(n_obs)
        by_obs.seconds.append(seconds)
        # the flow's own draws: sbi's rejection of mass outside the prior box stalls on a barely trained
        # flow (a trained one near eta* rejects little), so it is left out
        x = flatten_observation(truth_events(theory, n_obs)[None], None)
        estimator.eval()
        times = []
        for _ in range(repeats):
            tic = time.perf_counter()
            with torch.no_grad():
                estimator.sample(torch.Size((1000,)), condition=x)
            times.append(time.perf_counter() - tic)
        draws.sizes.append(n_obs)
        draws.seconds.append(min(times))
    return by_sims, by_obs, draws


def adversarial(section: dict[str, Any], theory: str, repeats: int) -> Stage:
    from pdfinfer.adversarial.loop import build_run
    from pdfinfer.adversarial.observation import Observation
    from pdfinfer.adversarial.settings import AdversarialSettings

    settings = AdversarialSettings.from_config(section)
    stage = Stage("adversarial", "events", f"one training step ({settings.mode})")
    for n in (256, 1024, 4096):
        run = build_run(settings, make_theory(theory), Observation(truth_events(theory, n), None, 0.02), seed=1, device=CPU)
        walls, _ = time_steps(run, 1, repeats)
        stage.sizes.append(n)
        stage.seconds.append(min(walls))
    return stage


def nle(section: dict[str, Any], theory: str) -> Stage:
    from pdfinfer.nle.loop import data_spec
    from pdfinfer.nle.model import build_model, quiet_library_warnings
    from pdfinfer.nle.settings import NLESettings

    quiet_library_warnings()
    settings = NLESettings.from_config(section)
    model = build_model(settings.as_dict(), data_spec(event_set(theory, 4, 64), False))
    stage = Stage("NLE", "events", "one 32-walker learned-likelihood call")
    events = truth_events(theory, 4096)
    for n in (1024, 2048, 4096):
        stage.sizes.append(n)
        stage.seconds.append(call_seconds(model, events[:n], settings))
    return stage


# ------------------------------------------------------------------------------ memory
def memory_child(n_sims: int, n_obs: int, theory: str) -> None:
    """Print the peak-RSS growth (MB) of streaming one epoch of fresh NPE simulations in batches, as training
    does (run in a subprocess; ``benchmarks/train_memory.py`` measures the whole of ``train_npe``)."""
    from pdfinfer.npe.data import FreshSimulations, data_spec

    data = event_set(theory, 4, n_obs)
    spec = data_spec(data, False, torch.arange(4))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in FreshSimulations(spec, n_sims, 0, CPU).batches(0, 64):
        pass
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mb": (after - before) / 1024}))


def fresh_memory(theory: str, n_sims: int, n_features: int) -> tuple[list[int], list[float], list[float]]:
    """Peak-RSS growth (MB) of one epoch's fresh simulations at several n_obs, and the size of its ``x`` array (MB)."""
    sizes, peaks, arrays = [], [], []
    for n_obs in (1024, 4096):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(n_sims), str(n_obs), "--theory", theory],
            capture_output=True,
            text=True,
            check=True,
        )
        sizes.append(n_obs)
        peaks.append(json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"])
        arrays.append(n_sims * n_obs * n_features * 4 / 2**20)
    return sizes, peaks, arrays


# ------------------------------------------------------------------------------ report
def fmt_seconds(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.3g} s"


def extrapolations(cfg: dict[str, Any], stages: dict[str, Stage]) -> list[tuple[str, str, Callable[[int], float]]]:
    """(stage, job, CPU seconds of one job at sweep size n) for the paper config."""
    from pdfinfer.nle.settings import NLESettings
    from pdfinfer.npe.settings import NPESettings

    data, ref, adv = cfg["training_data"], cfg["reference"], cfg["adversarial"]
    npe_settings = NPESettings.from_config(cfg["npe"])
    sims = data["n_simulations"] + data["n_holdout"]
    ref_evals = (ref["emcee"]["n_burn"] + ref["emcee"]["n_steps"]) * ref["n_chains"] * ref["emcee"]["n_walkers"]
    epochs, fresh = npe_settings.training.max_epochs, npe_settings.training.fresh_simulations
    diagnostics = npe_settings.diagnostics
    n_draws = npe_settings.n_samples + diagnostics.n_sims * diagnostics.n_posterior_samples
    by_sims, b_obs = stages["npe_sims"], stages["npe_obs"].fit()[1]

    def npe_epoch(n: int) -> float:
        """by_sims is measured at n_obs 1024; scaled to ``n`` with the exponent of the n_obs series."""
        return by_sims.predict(fresh) * (n / 1024) ** b_obs

    nle_calls = mcmc_calls(NLESettings.from_config(cfg["nle"]))
    return [
        (stages["sim"].name, f"simulate {sims} sets (training shards + holdout)", lambda n: stages["sim"].predict(sims * n)),
        (
            "exact likelihood",
            f"reference MCMC, {ref_evals} walker evaluations (min. steps)",
            lambda n: stages["ref"].predict(n) * ref_evals / 32,
        ),
        ("NPE epoch", f"npe_train, {epochs} epochs x {fresh} fresh sets", lambda n: epochs * npe_epoch(n)),
        ("NPE draws", f"npe_sample + diagnostics, {n_draws} draws", lambda n: stages["draws"].predict(n) * n_draws / 1000),
        (
            "adversarial",
            f"adversarial, {adv['steps']} steps x {adv['seeds']} seeds",
            lambda n: stages["adv"].predict(min(n, 32768)) * adv["steps"] * adv["seeds"],
        ),
        ("NLE", f"NLE MCMC, {nle_calls} calls of 32 walkers", lambda n: stages["nle"].predict(n) * nle_calls),
    ]


def plot(stages: list[Stage], memory: tuple[list[int], list[float], list[float]], out: Path) -> None:
    from pdfinfer.plotting.style import PlotStyle, figure, save, styled

    style = PlotStyle(dpi=120, formats=("png",))
    with styled(style):
        fig = figure(12.0, 4.0, style)
        axes = fig.subplots(1, 3)
        for ax, axis, label in zip(
            axes[:2], ("events", "simulations"), ("events (n_obs, or events simulated)", "training simulations per epoch")
        ):
            for stage in (s for s in stages if s.axis == axis):
                a, b = stage.fit()
                x = np.asarray(stage.sizes, dtype=float)
                (line,) = ax.plot(x, stage.seconds, "o", label=f"{stage.name}: b = {b:.2f}")
                grid = np.geomspace(x[0], x[-1], 32)
                ax.plot(grid, a * grid**b, "-", color=line.get_color(), lw=1)
            ax.set(xscale="log", yscale="log", xlabel=label, ylabel="seconds per unit of work (CPU)")
            ax.legend(fontsize="small")
        sizes, peaks, arrays = memory
        axes[0].set_title("cost vs events")
        axes[1].set_title("cost vs simulations (n_obs 1024)")
        axes[2].plot(sizes, peaks, "o-", label="peak RSS growth, fresh epoch (256 sets)")
        axes[2].plot(sizes, arrays, "--", label="x array: sets x n_obs x F x 4 B")
        axes[2].set(
            xscale="log", yscale="log", xlabel="events per set (n_obs)", ylabel="memory [MB]", title="NPE fresh-simulation memory"
        )
        axes[2].legend(fontsize="small")
        save(fig, out, style)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--theory", default="proxy")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "scaling.png")
    parser.add_argument("--memory-child", type=int, nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(*args.memory_child, args.theory)
        return
    from pdfinfer.npe.settings import NPESettings, train_memory_bytes

    cfg = paper_config()
    tic = time.perf_counter()
    stages: dict[str, Stage] = {"sim": simulation(args.theory, args.repeats), "sim_dis": simulation("dis", args.repeats)}
    stages["ref"] = exact_likelihood(args.theory, args.repeats)
    stages["npe_sims"], stages["npe_obs"], stages["draws"] = npe(cfg["npe"], args.theory, args.repeats)
    stages["adv"] = adversarial(cfg["adversarial"], args.theory, args.repeats)
    stages["nle"] = nle(cfg["nle"], args.theory)
    print(f"stages timed in {time.perf_counter() - tic:.0f} s", file=sys.stderr, flush=True)
    n_feat = make_theory(args.theory).n_features
    memory = fresh_memory(args.theory, 256, n_feat)
    print(
        f"torch {torch.__version__}, {args.threads} CPU thread(s), best of {args.repeats}; theory {args.theory}; {time.perf_counter() - tic:.0f} s"
    )
    print("\n| stage | work unit | sizes | seconds | exponent b |\n| --- | --- | --- | --- | --- |")
    for s in stages.values():
        sizes = ", ".join(str(n) for n in s.sizes)
        secs = ", ".join(f"{t:.3g}" for t in s.seconds)
        print(f"| {s.name} | {s.unit} vs {s.axis} | {sizes} | {secs} | {s.fit()[1]:.2f} |")
    sweep = cfg["sweep"]["n_obs"]
    print(f"\nExtrapolated CPU cost per job of config/paper.yaml (1 thread), at sweep n_obs {sweep}:")
    print("| stage | job | " + " | ".join(f"n_obs {n}" for n in sweep) + " | sweep total |")
    print("| --- | --- | " + " | ".join("---" for _ in sweep) + " | --- |")
    for name, job, cost in extrapolations(cfg, stages):
        costs = [cost(n) for n in sweep]
        print(f"| {name} | {job} | " + " | ".join(fmt_seconds(c) for c in costs) + f" | {fmt_seconds(sum(costs))} |")
    sizes, peaks, arrays = memory
    ratio = float(np.median(np.asarray(peaks) / np.asarray(arrays)))
    training = NPESettings.from_config(cfg["npe"]).training
    fresh, batch_size = training.fresh_simulations, training.batch_size
    n_sims, n_max = cfg["training_data"]["n_simulations"], max(sweep)
    x_gb = fresh * n_max * n_feat * 4 / 1e9
    shards_gb = n_sims * n_max * n_feat * 4 / 1e9
    batch_mb = batch_size * n_max * n_feat * 4 / 1e6
    print(
        "\nNPE fresh-simulation memory (256 sets per epoch streamed in batches; peak RSS growth of a subprocess vs the x array):"
    )
    for n, p, a in zip(sizes, peaks, arrays):
        print(f"  n_obs {n:6d}: peak {p:8.0f} MB, x array {a:7.0f} MB, ratio {p / a:.2f}")
    bound_gb = train_memory_bytes(training, n_sims, n_max, n_features=n_feat) / 1e9
    print(
        f"  paper: an epoch of {fresh} fresh sets would be x = {x_gb:.1f} GB at {n_max} events, but it is streamed"
        f" {training.fresh_chunk_sets} sets at a time; the shards ({shards_gb:.1f} GB) are read only for their validation"
        f" and standardization rows. npe_train's bound (train_memory_bytes, F = {n_feat}): {bound_gb:.1f} GB;"
        f" one batch ({batch_size} sets) is {batch_mb:.0f} MB (measured ratio {ratio:.2f}: benchmarks/train_memory.py)"
    )
    plot([s for k, s in stages.items() if k != "sim_dis"] + [stages["sim_dis"]], memory, args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
