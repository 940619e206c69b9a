"""Seconds per adversarial training step (D + S + G) for each mode, on CPU and on CUDA when present.

One step is what the training loop does once: ``d_steps`` discriminator updates (each followed
by ``surrogate_steps`` surrogate evaluations and refits in surrogate mode) and one generator update
(reparam, surrogate or reinforce). Seconds are wall time and process CPU time (the CPU figure is
the one to trust on a loaded machine). Settings are
the ``adversarial`` section of the config (default config/config.yaml); the observed set is
``n_obs`` events simulated at eta*.

    PYTHONPATH=src python benchmarks/bench_adversarial.py                       # default config, 1 thread
    PYTHONPATH=src python benchmarks/bench_adversarial.py --n-obs 102400 --normalization on
    PYTHONPATH=src python benchmarks/bench_adversarial.py --config config/paper.yaml --devices cuda

Prints one line per (device, mode): median seconds per step over ``--repeats`` timed steps after
``--warmup`` steps, and the implied training wall time for ``steps`` steps.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import yaml

from pdfinfer.adversarial.loop import Run, build_run, discriminator_step, generator_step, surrogate_step
from pdfinfer.adversarial.observation import Observation
from pdfinfer.adversarial.settings import AdversarialSettings
from pdfinfer.params import TRUTH
from pdfinfer.theory import make_theory

ROOT = Path(__file__).resolve().parents[1]


def load_settings(config: Path, overrides: list[Path]) -> tuple[dict, dict]:
    """The adversarial section and the theory spec of a config (plus override files, merged)."""
    cfg = yaml.safe_load(config.read_text())
    for path in overrides:
        extra = yaml.safe_load(path.read_text())
        for key, value in extra.items():
            cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    theory = cfg.get("theory", {}).get("name", "proxy")
    return cfg["adversarial"], {"name": theory, **cfg.get("theory", {}).get(theory, {})}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(run: Run, warmup: int, repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of ``repeats`` full training steps after ``warmup`` untimed ones."""
    device = run.rng.device
    walls, cpus = [], []
    for i in range(warmup + repeats):
        synchronize(device)
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(run.settings.d_steps):
            discriminator_step(run)
            if run.settings.mode == "surrogate":
                for _ in range(run.settings.surrogate_steps):
                    surrogate_step(run)
        generator_step(run)
        synchronize(device)
        if i >= warmup:
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument(
        "--override", type=Path, action="append", default=[], help="config file layered on top (e.g. config/tiny.yaml)"
    )
    parser.add_argument("--n-obs", type=int, default=1024)
    parser.add_argument("--normalization", choices=["on", "off"], default="off")
    parser.add_argument("--modes", nargs="+", default=["reparam", "surrogate", "reinforce"])
    parser.add_argument("--set", default="{}", help="JSON object of settings overrides")
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"], help="cuda is skipped when not available")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    section, spec = load_settings(args.config, args.override)
    theory = make_theory(spec)
    g = torch.Generator().manual_seed(0)
    eta = torch.as_tensor(TRUTH)[None]
    events = theory.sample(eta, args.n_obs, generator=g)[0].numpy()
    norm = theory.sample_norm(eta, 0.02, generator=g)[0].numpy() if args.normalization == "on" else None
    observation = Observation(events, norm, 0.02)
    print(
        f"theory {theory.name}, n_obs {args.n_obs}, normalization {args.normalization}, torch threads {torch.get_num_threads()}"
    )
    for device_name in args.devices:
        if device_name.startswith("cuda") and not torch.cuda.is_available():
            print(f"{device_name}: not available, skipped")
            continue
        device = torch.device(device_name)
        for mode in args.modes:
            values = {k: v for k, v in section.items() if k not in AdversarialSettings.WORKFLOW_KEYS}
            settings = AdversarialSettings.from_config({**values, **json.loads(args.set), "mode": mode})
            run = build_run(settings, theory, observation, seed=1, device=device)
            walls, cpus = time_steps(run, args.warmup, args.repeats)
            per_step, cpu_step = statistics.median(walls), statistics.median(cpus)
            draws = {
                "reparam": settings.batch_params,
                "surrogate": settings.surrogate_steps * settings.surrogate_points,
                "reinforce": settings.reinforce_batch,
            }[mode]
            print(
                f"{device_name:6s} {mode:9s} {per_step:.4f} s/step wall, {cpu_step:.4f} s/step CPU (wall min {min(walls):.4f});"
                f" {settings.steps} steps -> {cpu_step * settings.steps:.1f} CPU s training"
                f" [D: {settings.batch_params} sets x {run.n_events} events; loss evaluations per step {draws} x {run.n_fake} events]"
            )


if __name__ == "__main__":
    main()
