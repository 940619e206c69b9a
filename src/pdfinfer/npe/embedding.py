r"""Permutation-invariant embedding of an event set (Deep Sets with mean pooling).

An observation is a set :math:`\{e_i\}_{i=1}^N` of exchangeable events :math:`e_i \in \mathbb R^F`
and, when the normalization observable is on, a measurement :math:`z \in \mathbb R^T`. The
embedding is

.. math::
    s(x) = \Big[\rho\Big(\tfrac1N \sum_{i=1}^N \phi(\tilde e_i)\Big),\ \tilde z\Big],
    \qquad \tilde e_{ij} = \frac{\ell_j(e_{ij}) - \mu_j}{\sigma_j},\quad
    \tilde z_t = \frac{\log z_t - \mu^z_t}{\sigma^z_t},

with :math:`\ell_j = \log` for the features the theory flags (``Theory.log_features``) and the
identity otherwise, :math:`(\mu, \sigma)` fitted on the training simulations and stored as
buffers, :math:`\phi` a per-event MLP and :math:`\rho` the fully connected head of ``sbi``'s
:class:`~sbi.neural_nets.embedding_nets.PermutationInvariantEmbedding` (mean aggregation).
Mean pooling makes :math:`s` invariant to permutations of the events by construction.

``sbi`` conditions on flat tensors, so an observation travels as one row
``x = [events.reshape(N * F), z]`` of width ``N * F + T`` (``T = 0`` when the normalization
observable is off); :func:`flatten_observation` builds it and :class:`SetEmbedding` unpacks it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from sbi.neural_nets.embedding_nets import PermutationInvariantEmbedding
from torch import nn

from pdfinfer.errors import DataError
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


class EventMLP(nn.Sequential):
    """Per-event network :math:`\\phi`: ``(*, F) -> (*, D)``, ``layers`` hidden layers of ``hidden`` units (SiLU)."""

    def __init__(self, n_features: int, hidden: int, layers: int, out_features: int) -> None:
        sizes = [n_features] + [hidden] * layers
        modules: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            modules += [nn.Linear(a, b), nn.SiLU()]
        modules.append(nn.Linear(sizes[-1], out_features))
        super().__init__(*modules)


class SetEmbedding(nn.Module):
    """Observation ``x`` ``(B, N*F + T)`` -> summary ``(B, output_dim + T)``, invariant to event order.

    Args:
        n_events, n_features: ``N`` and ``F`` of one observation.
        n_norm: ``T`` when the normalization observable is used, else 0.
        log_features: per feature (length ``F``), whether to take its log first.
        feature_mean, feature_std: ``(F,)`` standardization of the (logged) features.
        norm_mean, norm_std: ``(T,)`` standardization of ``log z`` (ignored when ``n_norm = 0``).
        event_hidden, event_layers, event_features: the per-event MLP.
        hidden, layers, output_dim: ``sbi``'s fully connected head after pooling.
    """

    def __init__(
        self,
        n_events: int,
        n_features: int,
        n_norm: int,
        log_features: Sequence[bool],
        feature_mean: Sequence[float],
        feature_std: Sequence[float],
        norm_mean: Sequence[float] = (),
        norm_std: Sequence[float] = (),
        event_hidden: int = 64,
        event_layers: int = 2,
        event_features: int = 32,
        hidden: int = 64,
        layers: int = 2,
        output_dim: int = 32,
    ) -> None:
        super().__init__()
        if len(log_features) != n_features or len(feature_mean) != n_features or len(feature_std) != n_features:
            raise DataError(f"embedding: need {n_features} log flags / means / stds, got {len(log_features)}/{len(feature_mean)}/{len(feature_std)}")
        if n_norm and (len(norm_mean) != n_norm or len(norm_std) != n_norm):
            raise DataError(f"embedding: need {n_norm} normalization means / stds, got {len(norm_mean)}/{len(norm_std)}")
        self.n_events, self.n_features, self.n_norm = int(n_events), int(n_features), int(n_norm)
        self.register_buffer("log_mask", torch.as_tensor(list(log_features), dtype=torch.bool))
        self.register_buffer("feature_mean", torch.as_tensor(list(feature_mean), dtype=torch.float32))
        self.register_buffer("feature_std", torch.as_tensor(list(feature_std), dtype=torch.float32))
        self.register_buffer("norm_mean", torch.as_tensor(list(norm_mean) if n_norm else [], dtype=torch.float32))
        self.register_buffer("norm_std", torch.as_tensor(list(norm_std) if n_norm else [], dtype=torch.float32))
        self.pool = PermutationInvariantEmbedding(
            EventMLP(n_features, event_hidden, event_layers, event_features),
            trial_net_output_dim=event_features,
            aggregation_fn="mean",
            num_hiddens=hidden,
            num_layers=layers,
            output_dim=output_dim,
        )
        # sbi appends the number of events N to the pooled features (it supports sets of varying
        # size). Here N is fixed, so that input is a constant of size ~N that would only act as a
        # fast-moving bias; zero its weights and keep them at zero.
        first = self.pool.fc_subnet.net[0]
        with torch.no_grad():
            first.weight[:, -1] = 0.0
        first.weight.register_hook(_zero_last_column)
        self.output_dim = int(output_dim) + self.n_norm

    @property
    def width(self) -> int:
        """Width ``N*F + T`` of the flat observation this embedding expects."""
        return self.n_events * self.n_features + self.n_norm

    def standardize_events(self, events: torch.Tensor) -> torch.Tensor:
        """``(*, N, F)`` raw events -> standardized (logged where flagged) events, same shape."""
        logged = log_flagged(events, self.log_mask)
        return (logged - self.feature_mean) / self.feature_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N*F + T)`` -> ``(B, output_dim + T)``."""
        if x.shape[-1] != self.width:
            raise DataError(
                f"NPE embedding expects observations of {self.n_events} events x {self.n_features} features"
                f"{f' + {self.n_norm} normalization values' if self.n_norm else ''} (width {self.width}), got width {x.shape[-1]}"
            )
        if not self.training and x.shape[0] > 1:
            # sbi repeats the observation once per parameter value when it evaluates log q(theta | x);
            # embed each distinct observation once (this turns K set embeddings into one).
            if bool((x == x[:1]).all()):
                return self.forward(x[:1]).expand(x.shape[0], -1)
            distinct, inverse = torch.unique(x, dim=0, return_inverse=True)
            if len(distinct) < len(x):
                return self.forward(distinct)[inverse]
        events = x[:, : self.n_events * self.n_features].reshape(-1, self.n_events, self.n_features)
        summary = self.pool(self.standardize_events(events))
        if not self.n_norm:
            return summary
        z = (torch.log(x[:, -self.n_norm :].clamp_min(1e-30)) - self.norm_mean) / self.norm_std
        return torch.cat([summary, z], dim=1)


def _zero_last_column(grad: torch.Tensor) -> torch.Tensor:
    grad = grad.clone()
    grad[:, -1] = 0.0
    return grad
