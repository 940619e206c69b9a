"""The trained GATSBI model: building its networks, the ``generator.pt`` file, and its checks.

``generator.pt`` (``torch.save``, read back with ``weights_only=True``) holds ``format``
(``"pdfinfer-gatsbi"``), ``format_version``, ``settings`` (:class:`GATSBISettings` as a dict),
``meta`` (theory spec, events per set, feature width, which features are momentum fractions,
normalization on/off and the fitted standardization), the state dicts of the generator's ``embedding`` and of the (EMA) ``generator``,
the training ``history`` and ``train_seconds``. A model is refused, with one line naming the
file, for an observed set of another theory, feature width or set size.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from pdfinfer import __version__
from pdfinfer.errors import ConfigError, DataError
from pdfinfer.gatsbi.networks import Discriminator, Generator, SetEmbedding
from pdfinfer.gatsbi.settings import GATSBISettings
from pdfinfer.io import EventSet, atomic_path

FORMAT = "pdfinfer-gatsbi"
FORMAT_VERSION = 2  # 2: summaries by fixed moments or a learned embedding (meta x_features, x_hi)


def build_embedding(meta: Mapping[str, Any], settings: GATSBISettings) -> SetEmbedding:
    """The set embedding for the data described by ``meta``."""
    return SetEmbedding(
        meta["n_features"],
        meta["n_norm"],
        meta["log_features"],
        meta["feature_mean"],
        meta["feature_std"],
        meta["norm_mean"],
        meta["norm_std"],
        x_features=meta["x_features"],
        x_hi=meta["x_hi"],
        **settings.embedding.as_dict(),
    )


def build_generator(summary_dim: int, settings: GATSBISettings) -> Generator:
    return Generator(settings.noise_dim, summary_dim, settings.generator_width, settings.generator_depth)


def build_discriminator(summary_dim: int, settings: GATSBISettings) -> Discriminator:
    return Discriminator(summary_dim, settings.discriminator_width, settings.discriminator_depth, settings.spectral_norm)


class GATSBIPosterior(nn.Module):
    """Amortized posterior: event sets -> draws ``G(z, s(x))``."""

    def __init__(self, embedding: SetEmbedding, generator: Generator) -> None:
        super().__init__()
        self.embedding, self.generator = embedding, generator

    @torch.no_grad()
    def draw(self, events: torch.Tensor, norm: torch.Tensor | None, n: int, seed: int) -> torch.Tensor:
        """``n`` draws ``(B, n, 6)`` for sets ``(B, N, F)`` (normalization ``(B, T)`` or None), reproducible for ``seed``."""
        device = next(self.generator.parameters()).device
        s = self.embedding(events.to(device), None if norm is None else norm.to(device))
        g = torch.Generator(device=device).manual_seed(int(seed))
        return self.generator.sample(s, n, generator=g).double().cpu()


def save_model(
    path: str | os.PathLike[str],
    settings: GATSBISettings,
    meta: Mapping[str, Any],
    embedding: nn.Module,
    generator: nn.Module,
    history: Mapping[str, Any],
    train_seconds: float,
    seed: int,
) -> None:
    """Write ``generator.pt`` atomically (CPU tensors, plain containers)."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "settings": settings.as_dict(),
        "meta": dict(meta),
        "embedding": {k: v.detach().cpu() for k, v in embedding.state_dict().items()},
        "generator": {k: v.detach().cpu() for k, v in generator.state_dict().items()},
        "history": {k: list(v) for k, v in history.items()},
        "train_seconds": float(train_seconds),
        "seed": int(seed),
        "versions": {"pdfinfer": str(__version__), "torch": str(torch.__version__)},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_model(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> tuple[GATSBIPosterior, dict[str, Any]]:
    """The posterior of ``generator.pt`` on ``device`` and the file's payload; one-line errors otherwise."""
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (corrupt, truncated or pickled-code files raise many types)
        raise DataError(f"{path}: not a readable GATSBI model ({type(err).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(
            f"{path}: not a GATSBI model file (format {payload.get('format') if isinstance(payload, dict) else None!r})"
        )
    if payload.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{path}: GATSBI model format {payload.get('format_version')} is not supported (this pdfinfer reads {FORMAT_VERSION})"
        )
    settings = GATSBISettings.from_config(payload["settings"])
    meta = payload["meta"]
    embedding = build_embedding(meta, settings)
    generator = build_generator(embedding.output_dim, settings)
    try:
        embedding.load_state_dict(payload["embedding"])
        generator.load_state_dict(payload["generator"])
    except RuntimeError as err:
        raise DataError(f"{path}: weights do not fit the stored settings: {str(err).splitlines()[0]}") from None
    return GATSBIPosterior(embedding, generator).to(device).eval(), payload


def check_compatible(
    meta: Mapping[str, Any], data: EventSet, model_path: str | os.PathLike[str], use_norm: bool | None = None
) -> None:
    """Refuse ``data`` (observed or hold-out sets) the model at ``model_path`` was not trained for."""
    if dict(data.theory) != dict(meta["theory"]):
        raise DataError(f"{model_path}: trained on theory {meta['theory']}, but {data.path} holds events of theory {data.theory}")
    if data.n_features != meta["n_features"]:
        raise DataError(
            f"{model_path}: trained on {meta['n_features']} features per event, but {data.path} has {data.n_features}"
        )
    if data.n_events != meta["n_events"]:
        raise DataError(
            f"{model_path}: trained on sets of {meta['n_events']} events, but {data.path} has {data.n_events} per set"
        )
    if use_norm is not None and bool(use_norm) != bool(meta["normalization"]):
        trained = "on" if meta["normalization"] else "off"
        raise ConfigError(
            f"{model_path}: trained with the normalization observable {trained}, but --normalization is {'on' if use_norm else 'off'}"
        )


def as_tensors(data: EventSet, meta: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Events ``(B, N, F)`` and (when the model uses it) normalization ``(B, T)`` of ``data``, batched."""
    events = torch.as_tensor(np.asarray(data.events, dtype=np.float32))
    norm = torch.as_tensor(np.asarray(data.norm, dtype=np.float32)) if meta["normalization"] else None
    if events.ndim == 2:
        events, norm = events[None], None if norm is None else norm[None]
    return events, norm
