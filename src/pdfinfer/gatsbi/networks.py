r"""Networks of GATSBI: a set embedding, a conditional generator and a discriminator.

* :class:`SetEmbedding` :math:`s(x) = [m(x),\ \tilde z]`, with :math:`m` (``statistics``) either NPE's
  fixed moments of the standardized (logged where the theory flags it) events :math:`\tilde e_i`
  (:func:`pdfinfer.npe.embedding.moments`: powers 1-4 of each feature, and :math:`\log x`,
  :math:`\log(x_{hi} - x)` of each momentum fraction, the beta densities' sufficient statistics;
  no parameters) or a Deep Sets embedding :math:`\rho(\frac1N \sum_i \phi(\tilde e_i))` (learned
  by the warm start), standardized across the training sets; the standardized log normalization
  measurement :math:`\tilde z` is appended when it is observed. The events are put in a canonical
  (lexicographic) order first, in evaluation mode, so there :math:`s` is invariant to their order
  bit for bit, not only up to float rounding (training skips the sort: the mean is the same up to rounding).
* :class:`Generator` :math:`G(z, s) = \sigma(\mathrm{MLP}([z, s])) \in (0, 1)^6`, :math:`z \sim \mathcal N(0, I)`.
* :class:`Discriminator` :math:`D(\eta, s) = \mathrm{MLP}([2\eta - 1, s])`, a logit
  (optionally spectrally normalized).
* :class:`RegressionHead`: the warm start's Gaussian head on :math:`s` (mean and log-std of
  :math:`\eta`), discarded after pre-training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pdfinfer.errors import DataError
from pdfinfer.npe.embedding import moment_width, moments
from pdfinfer.params import N_PARAMS
from pdfinfer.theory import log_flagged


def mlp(n_in: int, n_out: int, width: int, depth: int, spectral: bool = False) -> nn.Sequential:
    """``depth`` hidden layers of ``width`` SiLU units: ``(*, n_in) -> (*, n_out)``."""
    wrap = nn.utils.parametrizations.spectral_norm if spectral else (lambda m: m)
    layers: list[nn.Module] = []
    size = n_in
    for _ in range(depth):
        layers += [wrap(nn.Linear(size, width)), nn.SiLU()]
        size = width
    layers.append(wrap(nn.Linear(size, n_out)))
    return nn.Sequential(*layers)


def canonical_order(events: torch.Tensor) -> torch.Tensor:
    """Events ``(B, N, F)`` sorted lexicographically by their features (a canonical set order)."""
    out = events
    for f in reversed(range(events.shape[-1])):
        idx = torch.sort(out[..., f], dim=-1, stable=True).indices
        out = torch.gather(out, -2, idx[..., None].expand_as(out))
    return out


class SetEmbedding(nn.Module):
    """Event set ``(B, N, F)`` (+ normalization ``(B, T)``) -> summary ``(B, output_dim + T)``.

    The standardization (``feature_mean``/``feature_std`` of the logged features, ``norm_mean``/
    ``norm_std`` of ``log z``) is fitted on the training sets and kept as buffers.
    """

    def __init__(
        self,
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
        output_dim: int = 16,
        statistics: str = "learned",
        x_features: Sequence[bool] = (),
        x_hi: float = 1.0,
    ) -> None:
        super().__init__()
        self.n_features, self.n_norm = int(n_features), int(n_norm)
        self.statistics, self.x_hi = statistics, float(x_hi)
        self.x_columns = [j for j, flag in enumerate(x_features) if flag]
        self.register_buffer("log_mask", torch.as_tensor(list(log_features), dtype=torch.bool))
        self.register_buffer("feature_mean", torch.as_tensor(list(feature_mean), dtype=torch.float32))
        self.register_buffer("feature_std", torch.as_tensor(list(feature_std), dtype=torch.float32))
        self.register_buffer("norm_mean", torch.as_tensor(list(norm_mean)[: self.n_norm], dtype=torch.float32))
        self.register_buffer("norm_std", torch.as_tensor(list(norm_std)[: self.n_norm], dtype=torch.float32))
        if statistics == "moments":
            self.phi = self.rho = None
            output_dim = moment_width(n_features, [j in self.x_columns for j in range(n_features)])
        else:
            self.phi = mlp(n_features, event_features, event_hidden, event_layers)
            self.rho = mlp(event_features, output_dim, hidden, 1)
        self.register_buffer("summary_mean", torch.zeros(int(output_dim)))
        self.register_buffer("summary_std", torch.ones(int(output_dim)))
        self.output_dim = int(output_dim) + self.n_norm

    @torch.no_grad()
    def standardize_output(self, summaries: torch.Tensor) -> None:
        """Fix the learned summaries' scale: ``(M, output_dim + T)`` summaries of the training sets -> zero mean, unit std."""
        learned = summaries[:, : len(self.summary_mean)]
        self.summary_mean += self.summary_std * learned.mean(0)
        self.summary_std *= learned.std(0).clamp_min(1e-6)

    def forward(self, events: torch.Tensor, norm: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, N, F)``, ``(B, T)`` or None -> ``(B, output_dim + T)``."""
        if events.ndim != 3 or events.shape[-1] != self.n_features:
            raise DataError(f"GATSBI embedding expects events (B, N, {self.n_features}), got {tuple(events.shape)}")
        events = events.float() if self.training else canonical_order(events.float())  # same sum, fixed rounding
        e = (log_flagged(events, self.log_mask) - self.feature_mean) / self.feature_std
        pooled = moments(e, events, self.x_columns, self.x_hi) if self.rho is None else self.rho(self.phi(e).mean(dim=-2))
        summary = (pooled - self.summary_mean) / self.summary_std
        if not self.n_norm:
            return summary
        if norm is None or norm.shape[-1] != self.n_norm:
            raise DataError(
                f"GATSBI embedding expects a normalization measurement of {self.n_norm} values, got {None if norm is None else tuple(norm.shape)}"
            )
        z = (torch.log(norm.float().clamp_min(1e-30)) - self.norm_mean) / self.norm_std
        return torch.cat([summary, z], dim=-1)


class Generator(nn.Module):
    """``z`` ``(B, noise_dim)`` and summary ``s`` ``(B, S)`` -> normalized parameters ``(B, 6)`` in ``(0, 1)``."""

    def __init__(self, noise_dim: int, summary_dim: int, width: int, depth: int) -> None:
        super().__init__()
        self.noise_dim = int(noise_dim)
        self.net = mlp(noise_dim + summary_dim, N_PARAMS, width, depth)

    def forward(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(torch.cat([z, s], dim=-1)))

    def sample(self, s: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` draws per summary row: ``s`` ``(B, S)`` -> ``(B, n, 6)``."""
        z = torch.randn((s.shape[0], n, self.noise_dim), generator=generator, device=s.device, dtype=s.dtype)
        return self(z, s[:, None, :].expand(-1, n, -1))


class Discriminator(nn.Module):
    """``eta`` ``(*, 6)`` and summary ``s`` ``(*, S)`` -> logit ``(*,)`` of "a real prior-predictive pair"."""

    def __init__(self, summary_dim: int, width: int, depth: int, spectral: bool = False) -> None:
        super().__init__()
        self.net = mlp(N_PARAMS + summary_dim, 1, width, depth, spectral)

    def forward(self, eta: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([2.0 * eta - 1.0, s], dim=-1))[..., 0]


class RegressionHead(nn.Module):
    """Summary ``(B, S)`` -> Gaussian mean and log-std of ``eta``, each ``(B, 6)`` (warm start only)."""

    def __init__(self, summary_dim: int, width: int) -> None:
        super().__init__()
        self.net = mlp(summary_dim, 2 * N_PARAMS, width, 1)

    def forward(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(s).chunk(2, dim=-1)
        return mean, log_std.clamp(-7.0, 2.0)
