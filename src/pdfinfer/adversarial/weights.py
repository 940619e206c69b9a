"""Generator weights in and out of samples files, and parameter draws of a trained generator."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from pdfinfer.adversarial.networks import GaussianGenerator, Generator
from pdfinfer.errors import DataError
from pdfinfer.runtime import make_generator


def draw_parameters(generator: Generator, n: int, seed: int, chunk: int = 4096) -> np.ndarray:
    """``n`` draws ``(n, 6)`` (float64, normalized) of a trained generator."""
    device = next(generator.parameters()).device
    rng = make_generator(seed, device)
    out = []
    with torch.no_grad():
        for start in range(0, n, chunk):
            out.append(generator.sample(min(chunk, n - start), rng).double().cpu().numpy())
    return np.concatenate(out)


def generator_weights(generator: Generator) -> np.ndarray:
    """All generator weights as one flat float32 vector (state-dict order)."""
    return torch.nn.utils.parameters_to_vector(generator.parameters()).detach().cpu().float().numpy()


def build_generator(settings: dict[str, Any]) -> nn.Module:
    """An untrained generator of the architecture in ``settings`` (a recorded settings dict)."""
    if settings.get("mode") == "reinforce":
        return GaussianGenerator(settings["reinforce_init_scale"], settings["reinforce_min_scale"])
    return Generator(settings["noise_dim"], settings["generator_width"], settings["generator_depth"])


def load_generator(sample_set: Any) -> nn.Module:
    """Rebuild the trained generator from a samples file read with :func:`pdfinfer.io.read_samples`."""
    generator = build_generator(sample_set.settings)
    weights = torch.as_tensor(sample_set.extras["generator_weights"])
    n_params = sum(p.numel() for p in generator.parameters())
    if weights.numel() != n_params:
        raise DataError(
            f"{sample_set.path}: generator_weights has {weights.numel()} values, the generator in its settings needs {n_params}"
        )
    torch.nn.utils.vector_to_parameters(weights, generator.parameters())
    return generator
