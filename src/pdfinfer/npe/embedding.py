r"""Permutation-invariant embedding of an event set (Deep Sets with pooled statistics).

An observation is a set :math:`\{e_i\}_{i=1}^N` of exchangeable events :math:`e_i \in \mathbb R^F`
and, when the normalization observable is on, a measurement :math:`z \in \mathbb R^T`. The
embedding is

.. math::
    s(x) = \Big[\rho\big(\mathrm{pool}_{i}\,\phi(\tilde e_i)\big),\ \tilde z\Big],
    \qquad \tilde e_{ij} = \frac{\ell_j(e_{ij}) - \mu_j}{\sigma_j},\quad
    \tilde z_t = \frac{\log z_t - \mu^z_t}{\sigma^z_t},

with :math:`\ell_j = \log` for the features the theory flags (``Theory.log_features``) and the
identity otherwise, :math:`(\mu, \sigma)` fitted on the training simulations and stored as
buffers, :math:`\phi` a per-event MLP ``(B, N, F) -> (B, N, D)`` and :math:`\rho` an MLP head.
``pool`` is the mean over events (``pooling: mean``, the Deep Sets sum statistic) or the mean
and the standard deviation of each of the :math:`D` features (``pooling: mean_std``,
``(B, 2D)``): both are symmetric functions of the events, so :math:`s` is invariant to their
order by construction. For iid events the mean of :math:`\phi` is a learned estimate of a
sufficient statistic; the spread adds a second moment at no extra per-event cost.

``sbi`` conditions on flat tensors, so an observation travels as one row
``x = [events.reshape(N * F), z]`` of width ``N * F + T`` (``T = 0`` when the normalization
observable is off); :func:`flatten_observation` builds it and :class:`SetEmbedding` unpacks it.
The sizes come from :class:`pdfinfer.npe.settings.EmbeddingSettings` (no defaults here).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from pdfinfer.errors import DataError
from pdfinfer.npe.settings import EmbeddingSettings
from pdfinfer.theory import log_flagged


def flatten_observation(events: np.ndarray | torch.Tensor, norm: np.ndarray | torch.Tensor | None) -> torch.Tensor:
    """Pack events ``(B, N, F)`` and normalization ``(B, T)`` (or None) into ``x`` ``(B, N*F + T)`` float32."""
    events = torch.as_tensor(events, dtype=torch.float32)
    if events.ndim != 3:
        raise DataError(f"events must have shape (B, N, F), got {tuple(events.shape)}")
    flat = events.reshape(events.shape[0], -1)
    if norm is None:
        return flat
    norm = torch.as_tensor(norm, dtype=torch.float32, device=events.device)
    if norm.shape[0] != events.shape[0] or norm.ndim != 2:
        raise DataError(f"normalization must have shape ({events.shape[0]}, T), got {tuple(norm.shape)}")
    return torch.cat([flat, norm], dim=1)


class EventLinear(nn.Module):
    """``(*, F) -> (*, H)`` affine map with the weight stored as ``(F, H)``.

    The same function as :class:`torch.nn.Linear`; the layout makes the weight gradient over
    ``B * N`` events one well-shaped product ``e^T g`` (``(F, BN) @ (BN, H)``) instead of
    ``g^T e``, which is several times slower on CPU for ``F = 2``.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        reference = nn.Linear(in_features, out_features)  # the same initialization as nn.Linear
        self.weight = nn.Parameter(reference.weight.detach().t().contiguous())
        self.bias = nn.Parameter(reference.bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


def mlp(sizes: Sequence[int], first: type[nn.Module] = nn.Linear) -> nn.Sequential:
    """Linear layers between consecutive ``sizes`` with SiLU between them (none after the last)."""
    modules: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        modules.append((first if i == 0 else nn.Linear)(a, b))
        if i < len(sizes) - 2:
            modules.append(nn.SiLU())
    return nn.Sequential(*modules)


class SetEmbedding(nn.Module):
    """Observation ``x`` ``(B, N*F + T)`` -> summary ``(B, output_dim + T)``, invariant to event order.

    Args:
        settings: sizes and pooling of the embedding.
        n_events, n_features: ``N`` and ``F`` of one observation.
        n_norm: ``T`` when the normalization observable is used, else 0.
        log_features: per feature (length ``F``), whether to take its log first.
        feature_mean, feature_std: ``(F,)`` standardization of the (logged) features.
        norm_mean, norm_std: ``(T,)`` standardization of ``log z`` (empty when ``n_norm = 0``).
    """

    def __init__(
        self,
        settings: EmbeddingSettings,
        n_events: int,
        n_features: int,
        n_norm: int,
        log_features: Sequence[bool],
        feature_mean: Sequence[float],
        feature_std: Sequence[float],
        norm_mean: Sequence[float],
        norm_std: Sequence[float],
    ) -> None:
        super().__init__()
        if len(log_features) != n_features or len(feature_mean) != n_features or len(feature_std) != n_features:
            raise DataError(
                f"embedding: need {n_features} log flags / means / stds, got {len(log_features)}/{len(feature_mean)}/{len(feature_std)}"
            )
        if n_norm and (len(norm_mean) != n_norm or len(norm_std) != n_norm):
            raise DataError(f"embedding: need {n_norm} normalization means / stds, got {len(norm_mean)}/{len(norm_std)}")
        self.n_events, self.n_features, self.n_norm = int(n_events), int(n_features), int(n_norm)
        self.pooling = settings.pooling
        self.register_buffer("log_mask", torch.as_tensor(list(log_features), dtype=torch.bool))
        self.register_buffer("feature_mean", torch.as_tensor(list(feature_mean), dtype=torch.float32))
        self.register_buffer("feature_std", torch.as_tensor(list(feature_std), dtype=torch.float32))
        self.register_buffer("norm_mean", torch.as_tensor(list(norm_mean) if n_norm else [], dtype=torch.float32))
        self.register_buffer("norm_std", torch.as_tensor(list(norm_std) if n_norm else [], dtype=torch.float32))
        d = settings.event_features
        self.phi = mlp([n_features] + [settings.event_hidden] * settings.event_layers + [d], first=EventLinear)
        pooled = 2 * d if self.pooling == "mean_std" else d
        self.rho = mlp([pooled] + [settings.hidden] * (settings.layers - 1) + [settings.output_dim])
        self.output_dim = int(settings.output_dim) + self.n_norm

    @property
    def width(self) -> int:
        """Width ``N*F + T`` of the flat observation this embedding expects."""
        return self.n_events * self.n_features + self.n_norm

    def standardize_events(self, events: torch.Tensor) -> torch.Tensor:
        """``(*, N, F)`` raw events -> standardized (logged where flagged) events, same shape."""
        return (log_flagged(events, self.log_mask) - self.feature_mean) / self.feature_std

    def pool(self, events: torch.Tensor) -> torch.Tensor:
        r"""Standardized events ``(B, N, F)`` -> pooled features ``(B, D)`` (mean) or ``(B, 2D)`` (mean_std).

        The last layer of :math:`\phi` is linear, so for the mean it commutes with pooling:
        :math:`\frac1N\sum_i (W h_i + b) = W (\frac1N \sum_i h_i) + b`. It is applied after
        pooling, once per set instead of once per event (the same function, several times cheaper).
        """
        body, last = self.phi[:-1], self.phi[-1]
        if self.pooling == "mean":
            return last(body(events).sum(dim=1) / events.shape[1])  # sum, then divide: a cheaper backward than mean
        var, mean = torch.var_mean(last(body(events)), dim=1, correction=0)
        return torch.cat([mean, torch.sqrt(var + 1e-6)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N*F + T)`` -> ``(B, output_dim + T)``."""
        if x.shape[-1] != self.width:
            raise DataError(
                f"NPE embedding expects observations of {self.n_events} events x {self.n_features} features"
                f"{f' + {self.n_norm} normalization values' if self.n_norm else ''} (width {self.width}), got width {x.shape[-1]}"
            )
        if not self.training and x.shape[0] > 1 and bool((x == x[:1]).all()):
            # sbi repeats the observation once per parameter value when it evaluates log q(theta | x):
            # embed it once (this turns K set embeddings into one).
            return self.forward(x[:1]).expand(x.shape[0], -1)
        events = x[:, : self.n_events * self.n_features].reshape(-1, self.n_events, self.n_features)
        summary = self.rho(self.pool(self.standardize_events(events)))
        if not self.n_norm:
            return summary
        z = (torch.log(x[:, -self.n_norm :].clamp_min(1e-30)) - self.norm_mean) / self.norm_std
        return torch.cat([summary, z], dim=1)
