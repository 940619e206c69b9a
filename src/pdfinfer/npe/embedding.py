r"""Permutation-invariant embedding of an event set (Deep Sets with pooled statistics).

An observation is a set :math:`\{e_i\}_{i=1}^N` of exchangeable events :math:`e_i \in \mathbb R^F`
and, when the normalization observable is on, a measurement :math:`z \in \mathbb R^T`. The
embedding is

.. math::
    s(x) = \Big[\rho\big(P(x)\big),\ \tilde z\Big], \qquad
    \tilde e_{ij} = \frac{\ell_j(e_{ij}) - \mu_j}{\sigma_j},\quad
    \tilde z_t = \frac{\log z_t - \mu^z_t}{\sigma^z_t},

with :math:`\ell_j = \log` for the features the theory flags (``Theory.log_features``) and the
identity otherwise, :math:`(\mu, \sigma)` fitted on the training simulations and stored as
buffers, and :math:`\rho` an MLP head. The pooled statistics :math:`P(x)` are (``statistics``)

* ``learned``: :math:`\mathrm{pool}_i\,\phi(\tilde e_i)`, a per-event MLP :math:`\phi`
  ``(B, N, F) -> (B, N, D)`` pooled by the mean (``pooling: mean``, the Deep Sets sum statistic)
  or by the mean and standard deviation of each of the :math:`D` features (``mean_std``, ``(B, 2D)``);
  with ``normalize`` the pooled features pass a batch normalization (no affine part), so that
  their tiny spread across sets (a mean over :math:`N` events) reaches the head at unit scale;
* ``moments``: the fixed moments :math:`m(x) = \frac1N\sum_i b(e_i)` of the basis
  :math:`b(e) = [\tilde e_j^k]_{j \le F, k \le 4}` plus :math:`[\log x, \log(x_{hi} - x)]` of each
  momentum-fraction feature (the sufficient statistics of a beta density, the PDFs' form),
  standardized across sets, :math:`(m - \mu^m)/\sigma^m`, with :math:`(\mu^m, \sigma^m)` fitted on the
  training simulations (``(B, 4F + 2T)``). No parameters touch the events, so the cost per event is a
  few element-wise operations and the backward pass never visits them;
* ``both``: the two concatenated.

Every statistic is a symmetric function of the events, so :math:`s` is invariant to their order by
construction. For iid events a mean over events estimates an expectation at :math:`\eta`; the
posterior at :math:`N = 1024` is narrow, so the summary must resolve differences of order
:math:`1/\sqrt N` between sets, which is what the standardization across sets is for.

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
from pdfinfer.theory.base import LOG_FLOOR


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


#: Powers of each standardized feature among the fixed moments.
MOMENT_POWERS = 4


def moment_width(n_features: int, x_features: Sequence[bool]) -> int:
    """Number of fixed moments: ``MOMENT_POWERS`` per feature plus two per momentum-fraction feature."""
    return MOMENT_POWERS * n_features + 2 * sum(bool(f) for f in x_features)


def moments(standardized: torch.Tensor, raw: torch.Tensor, x_columns: Sequence[int], x_hi: float) -> torch.Tensor:
    """Fixed moments ``(B, M)`` of events ``(B, N, F)`` (standardized and raw), ``M = moment_width``.

    Column order: powers ``1..4`` of the standardized features (``(B, F)`` per power), then
    ``log x`` and ``log(x_hi - x)`` of each raw momentum-fraction feature (``x_columns``).
    """
    square = standardized * standardized
    out = [standardized.mean(dim=1), square.mean(dim=1), (square * standardized).mean(dim=1), (square * square).mean(dim=1)]
    for j in x_columns:  # x_hi - x is exact in float32 for x >= x_hi / 2 (Sterbenz), so no float64 is needed
        x = raw[..., j]
        out.append(
            torch.stack([torch.log(x.clamp_min(1e-30)).mean(dim=1), torch.log((x_hi - x).clamp_min(1e-12)).mean(dim=1)], 1)
        )
    return torch.cat(out, dim=1)


class SetEmbedding(nn.Module):
    """Observation ``x`` ``(B, N*F + T)`` -> summary ``(B, output_dim + T)``, invariant to event order.

    Args:
        settings: sizes and pooling of the embedding.
        n_events, n_features: ``N`` and ``F`` of one observation.
        n_norm: ``T`` when the normalization observable is used, else 0.
        log_features: per feature (length ``F``), whether to take its log first.
        feature_mean, feature_std: ``(F,)`` standardization of the (logged) features.
        norm_mean, norm_std: ``(T,)`` standardization of ``log z`` (empty when ``n_norm = 0``).
        x_features: per feature, whether it is a momentum fraction in ``(x_lo, x_hi)`` (fixed moments
            ``log x``, ``log(x_hi - x)``); None: no feature is.
        x_hi: upper edge of the momentum fractions.
        moment_mean, moment_std: ``(M,)`` standardization of the fixed moments across sets (None:
            zero and one, i.e. unstandardized).
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
        x_features: Sequence[bool] | None = None,
        x_hi: float = 1.0,
        moment_mean: Sequence[float] | None = None,
        moment_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if len(log_features) != n_features or len(feature_mean) != n_features or len(feature_std) != n_features:
            raise DataError(
                f"embedding: need {n_features} log flags / means / stds, "
                f"got {len(log_features)}/{len(feature_mean)}/{len(feature_std)}"
            )
        if n_norm and (len(norm_mean) != n_norm or len(norm_std) != n_norm):
            raise DataError(f"embedding: need {n_norm} normalization means / stds, got {len(norm_mean)}/{len(norm_std)}")
        self.n_events, self.n_features, self.n_norm = int(n_events), int(n_features), int(n_norm)
        self.pooling, self.statistics, self.x_hi = settings.pooling, settings.statistics, float(x_hi)
        x_features = [False] * n_features if x_features is None else list(x_features)
        n_moments = moment_width(n_features, x_features) if self.statistics != "learned" else 0
        moment_mean = [0.0] * n_moments if moment_mean is None or not n_moments else list(moment_mean)
        moment_std = [1.0] * n_moments if moment_std is None or not n_moments else list(moment_std)
        if len(x_features) != n_features or len(moment_mean) != n_moments or len(moment_std) != n_moments:
            raise DataError(
                f"embedding: need {n_features} x-feature flags and {n_moments} moment means / stds, "
                f"got {len(x_features)}/{len(moment_mean)}/{len(moment_std)}"
            )
        self.x_columns = [j for j, flag in enumerate(x_features) if flag]
        self.log_columns = [bool(flag) for flag in log_features]
        self.register_buffer("moment_mean", torch.as_tensor(moment_mean, dtype=torch.float32))
        self.register_buffer("moment_std", torch.as_tensor(moment_std, dtype=torch.float32))
        self.register_buffer("log_mask", torch.as_tensor(list(log_features), dtype=torch.bool))
        self.register_buffer("feature_mean", torch.as_tensor(list(feature_mean), dtype=torch.float32))
        self.register_buffer("feature_std", torch.as_tensor(list(feature_std), dtype=torch.float32))
        self.register_buffer("norm_mean", torch.as_tensor(list(norm_mean) if n_norm else [], dtype=torch.float32))
        self.register_buffer("norm_std", torch.as_tensor(list(norm_std) if n_norm else [], dtype=torch.float32))
        pooled = n_moments
        self.phi: nn.Sequential | None = None
        self.batch_norm: nn.Module = nn.Identity()
        if self.statistics != "moments":
            d = settings.event_features
            self.phi = mlp([n_features] + [settings.event_hidden] * settings.event_layers + [d], first=EventLinear)
            learned = 2 * d if self.pooling == "mean_std" else d
            if settings.normalize:
                self.batch_norm = nn.BatchNorm1d(learned, affine=False)
            pooled += learned
        self.rho = mlp([pooled] + [settings.hidden] * (settings.layers - 1) + [settings.output_dim])
        self.output_dim = int(settings.output_dim) + self.n_norm

    @property
    def width(self) -> int:
        """Width ``N*F + T`` of the flat observation this embedding expects."""
        return self.n_events * self.n_features + self.n_norm

    def standardize_events(self, events: torch.Tensor) -> torch.Tensor:
        """``(*, N, F)`` raw events -> standardized (logged where flagged) events, same shape."""
        if not any(self.log_columns):
            return (events - self.feature_mean) / self.feature_std
        # column by column: cheaper than log_flagged's masked where over all features (F is small)
        cols = [
            torch.log(events[..., j].clamp_min(LOG_FLOOR)) if flag else events[..., j] for j, flag in enumerate(self.log_columns)
        ]
        return (torch.stack(cols, dim=-1) - self.feature_mean) / self.feature_std

    def pool(self, events: torch.Tensor) -> torch.Tensor:
        r"""Standardized events ``(B, N, F)`` -> pooled features ``(B, D)`` (mean) or ``(B, 2D)`` (mean_std).

        The last layer of :math:`\phi` is linear, so for the mean it commutes with pooling:
        :math:`\frac1N\sum_i (W h_i + b) = W (\frac1N \sum_i h_i) + b`. It is applied after
        pooling, once per set instead of once per event (the same function, several times cheaper).
        """
        assert self.phi is not None
        body, last = self.phi[:-1], self.phi[-1]
        if self.pooling == "mean":
            return last(body(events).sum(dim=1) / events.shape[1])  # sum, then divide: a cheaper backward than mean
        var, mean = torch.var_mean(last(body(events)), dim=1, correction=0)
        return torch.cat([mean, torch.sqrt(var + 1e-6)], dim=1)

    def raw_moments(self, events: torch.Tensor) -> torch.Tensor:
        """Raw events ``(B, N, F)`` -> unstandardized fixed moments ``(B, M)``."""
        return moments(self.standardize_events(events), events, self.x_columns, self.x_hi)

    def statistics_of(self, events: torch.Tensor) -> torch.Tensor:
        """Raw events ``(B, N, F)`` -> pooled statistics ``(B, M + D)`` (standardized moments, then learned)."""
        standardized = self.standardize_events(events)
        parts = []
        if self.statistics != "learned":
            parts.append((moments(standardized, events, self.x_columns, self.x_hi) - self.moment_mean) / self.moment_std)
        if self.phi is not None:
            parts.append(self.batch_norm(self.pool(standardized)))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

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
        summary = self.rho(self.statistics_of(events))
        if not self.n_norm:
            return summary
        z = (torch.log(x[:, -self.n_norm :].clamp_min(1e-30)) - self.norm_mean) / self.norm_std
        return torch.cat([summary, z], dim=1)
