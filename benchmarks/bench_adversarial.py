"""Seconds per adversarial training step (D + S + G) for each mode, on CPU and on CUDA when present.

One step is what the training loop does once: ``d_steps`` discriminator updates (each followed
by ``surrogate_steps`` surrogate updates in surrogate mode) and one generator update. Settings are
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
import statistics
import time
from pathlib import Path

import torch
import yaml

from pdfinfer.adversarial import train as adv
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


def time_steps(parts: adv.Parts, warmup: int, repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` full training steps after ``warmup`` untimed ones."""
    device = parts.rng.device
    times = []
    for i in range(warmup + repeats):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(parts.settings.d_steps):
            adv.discriminator_step(parts)
            if parts.surrogate is not None:
                for _ in range(parts.settings.surrogate_steps):
                    adv.surrogate_step(parts)
        adv.generator_step(parts)
        synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--override", type=Path, action="append", default=[], help="config file layered on top (e.g. config/tiny.yaml)")
    parser.add_argument("--n-obs", type=int, default=1024)
    parser.add_argument("--normalization", choices=["on", "off"], default="off")
    parser.add_argument("--modes", nargs="+", default=["reparam", "surrogate"])
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
    observation = adv.Observation(events, norm, 0.02)
    print(f"theory {theory.name}, n_obs {args.n_obs}, normalization {args.normalization}, torch threads {torch.get_num_threads()}")
    for device_name in args.devices:
        if device_name.startswith("cuda") and not torch.cuda.is_available():
            print(f"{device_name}: not available, skipped")
            continue
        device = torch.device(device_name)
        for mode in args.modes:
            settings = adv.Settings.from_mapping({**section, "mode": mode})
            parts = adv.build_parts(settings, theory, observation, seed=1, device=device)
            times = time_steps(parts, args.warmup, args.repeats)
            per_step = statistics.median(times)
            print(
                f"{device_name:6s} {mode:9s} {per_step:.4f} s/step (min {min(times):.4f}, max {max(times):.4f});"
                f" {settings.steps} steps -> {per_step * settings.steps:.1f} s training"
                f" [batch_params {settings.batch_params}, set {parts.n_events} events, G-loss sets {adv.fake_events(parts)} events]"
            )


if __name__ == "__main__":
    main()
