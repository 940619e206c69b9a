r"""Common machinery of the observation models ("theories").

A theory observes ``T`` targets. For each target an event carries ``k`` features whose first is
Bjorken :math:`x`; the x-marginal density of target :math:`t` is

.. math:: p_t(x \mid \eta) = \frac{g_t(x; \eta)}{Z_t(\eta)}, \qquad Z_t(\eta) = \int g_t(x; \eta)\,dx,

with :math:`g_t` built from the PDFs :math:`u, d`. A theory with more features per target adds a
parameter-free conditional :math:`p(\text{rest} \mid x)` (for ``dis``: :math:`Q^2 \mid x`).
Draws for different targets are independent, so

.. math:: \log p(\text{event} \mid \eta) = \sum_t \big[\log g_t(x_t) - \log Z_t + \log p(\text{rest}_t \mid x_t)\big].

Sampling is inverse-CDF on a table (:mod:`pdfinfer.theory.quadrature`) driven by explicit
uniforms ``(B, N, T, k)``; with the uniforms fixed the events are differentiable in :math:`\eta`
(:meth:`Theory.sample_reparam`), which is what the reparameterized adversarial mode uses.

The normalization observable is :math:`z_t = Z_t(\eta)\,(1 + r\,\epsilon_t)`,
:math:`\epsilon_t \sim \mathcal N(0, 1)`, with relative uncertainty :math:`r`.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from pdfinfer.errors import DataError, ParameterError
from pdfinfer.memory import check_memory
from pdfinfer.params import N_PARAMS, THETA_MAX, THETA_MIN, check_params
from pdfinfer.theory.quadrature import Nodes, invert_table, simpson_cdf, table_nodes, tanh_sinh_nodes

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)
#: Floor applied before taking the log of a flagged feature (see :func:`log_flagged`).
LOG_FLOOR = 1e-30
#: ``method="auto"`` uses the O(1) guide-table lookup from this many events per parameter row and
#: ``GUIDE_MIN_DRAWS`` x-draws per call on; below, the guide's fixed cost of about twenty small tensor
#: operations exceeds what it saves over the binary search (both give the same events).
GUIDE_MIN_EVENTS = 256
GUIDE_MIN_DRAWS = 1 << 16
#: :meth:`Theory.sample` inverts the parameter rows in blocks of about this many x-draws, so that a
#: block's CDF tables and cell lookups stay in cache (1.5x for proxy, 1.7x for dis at 512 x 1024
#: against one block, benchmarks/README.md); the uniforms are drawn first, so the events are the same.
SAMPLE_BLOCK_DRAWS = 1 << 17


def physical(eta: torch.Tensor) -> torch.Tensor:
    """Physical parameters ``(B, 6)`` in float64 from normalized ``eta`` ``(B, 6)``."""
    lo = torch.as_tensor(THETA_MIN, dtype=torch.float64, device=eta.device)
    hi = torch.as_tensor(THETA_MAX, dtype=torch.float64, device=eta.device)
    return lo + eta.to(torch.float64) * (hi - lo)


def log_flagged(events: ArrayT, log_features: Sequence[bool] | torch.Tensor) -> ArrayT:
    """Events ``(*, F)`` with the features flagged in ``log_features`` (length ``F``, e.g.
    :attr:`Theory.log_features`) replaced by their log: the scale networks and tests see them on.

    Works on numpy arrays and torch tensors. Flagged values are floored at 1e-30 before the log;
    unflagged features pass through untouched (and keep finite gradients).
    """
    if isinstance(events, torch.Tensor):
        mask = torch.as_tensor(log_features, dtype=torch.bool, device=events.device)
        safe = torch.where(mask, events.clamp_min(LOG_FLOOR), torch.ones_like(events))
        return torch.where(mask, torch.log(safe), events)
    mask = np.asarray(log_features, dtype=bool)
    return np.where(mask, np.log(np.where(mask, np.maximum(events, LOG_FLOOR), 1.0)), events)


def pdf_pair(x: torch.Tensor, dist_one: torch.Tensor, eta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The PDFs ``u(x), d(x)``.

    Args:
        x: momentum fractions, any shape broadcastable against ``(B, 1, 1)``.
        dist_one: ``1 - x`` computed without cancellation, same shape as ``x``.
        eta: normalized parameters ``(B, 6)``.

    Returns:
        ``u`` and ``d``, each of the broadcast shape of ``x`` with ``(B, 1, 1)``.
    """
    theta = physical(eta)[:, :, None, None]
    log_x = torch.log(x)
    # (1-x)^b at x = 1 (a table node) is 0 for b > 0 and 1 for b = 0; take the log only where
    # 1-x > 0 so that the gradient in b there is 0, not 0 * log(0) = NaN (double-where trick).
    positive = dist_one > 0
    log_dist = torch.log(torch.where(positive, dist_one, torch.ones_like(dist_one)))

    def dist_power(b: torch.Tensor) -> torch.Tensor:
        edge = torch.where(b == 0, 0.0, -torch.inf)
        return torch.where(positive, b * log_dist, edge)

    u = theta[:, 0] * torch.exp(theta[:, 1] * log_x + dist_power(theta[:, 2]))
    d = theta[:, 3] * torch.exp(theta[:, 4] * log_x + dist_power(theta[:, 5]))
    return u, d


class Theory(ABC):
    """An observation model: batched densities, normalizers, sampling and exact log-likelihood.

    Subclasses define the x-range, the per-target x-density ``g_t`` and, when events carry more
    than ``x``, a parameter-free conditional for the other features.
    """

    name: str = ""
    #: Names of the targets, length ``T``.
    target_names: tuple[str, ...] = ()
    #: Features of one target's draw; the first is always ``x``.
    target_features: tuple[str, ...] = ("x",)
    #: Features (per target) that networks should see on a log scale.
    target_log_features: tuple[bool, ...] = (False,)
    #: Unit of the normalization observable.
    norm_unit: str = ""
    #: ``u, d`` weights ``(T, 2)`` float64 of the targets' densities (set by each theory).
    _weights: torch.Tensor

    def __init__(self, x_lo: float, x_hi: float, breakpoints: tuple[float, ...] = ()) -> None:
        self.x_lo = float(x_lo)
        self.x_hi = float(x_hi)
        self._table = table_nodes(self.x_lo, self.x_hi)
        mids_dist = 0.5 * (self._table.dist_hi[:-1] + self._table.dist_hi[1:])
        self._table_mid = Nodes(self.x_hi - mids_dist, mids_dist)
        cuts = [self.x_lo, *sorted(b for b in breakpoints if self.x_lo < b < self.x_hi), self.x_hi]
        pieces = [tanh_sinh_nodes(a, b) for a, b in itertools.pairwise(cuts)]
        self._quad = Nodes(
            torch.cat([p.x for p in pieces]),
            torch.cat([p.dist_hi + (self.x_hi - b) for p, b in zip(pieces, cuts[1:])]),
            torch.cat([p.weights for p in pieces]),
        )
        self._device_cache: dict[torch.device, tuple[Nodes, Nodes, Nodes]] = {}
        self._points_cache: dict[torch.device, Nodes] = {}
        self._weights_cache: dict[torch.device, torch.Tensor] = {}

    # ------------------------------------------------------------------ description
    @property
    def n_targets(self) -> int:
        """Number of targets ``T``."""
        return len(self.target_names)

    @property
    def draws_per_target(self) -> int:
        """Features per target ``k``."""
        return len(self.target_features)

    @property
    def n_features(self) -> int:
        """Features per event ``F = T * k``."""
        return self.n_targets * self.draws_per_target

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names of the ``F`` event features, e.g. ``("x_p", "x_n")``."""
        return tuple(f"{f}_{t}" for t in self.target_names for f in self.target_features)

    @property
    def log_features(self) -> tuple[bool, ...]:
        """For each of the ``F`` features, whether it is best seen on a log scale."""
        return tuple(flag for _ in self.target_names for flag in self.target_log_features)

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """JSON-serializable settings; ``make_theory(self.name, **self.settings())`` rebuilds it."""

    def spec(self) -> dict[str, Any]:
        """``{"name": ..., **settings}``, the form stored in files and passed on command lines."""
        return {"name": self.name, **self.settings()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ physics hooks
    @abstractmethod
    def x_density(self, x: torch.Tensor, dist_hi: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        """Unnormalized x-density ``g_t`` of each target.

        Args:
            x: momentum fractions inside ``[x_lo, x_hi]``, ``(B or 1, T or 1, M)``, float64.
            dist_hi: ``x_hi - x`` without cancellation, same shape.
            eta: normalized parameters ``(B, 6)``.

        Returns:
            ``(B, T, M)`` float64.
        """

    def conditional_sample(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Other features of a target given ``x`` from uniforms ``u`` ``(..., k - 1)``; ``(..., k - 1)``."""
        return x.new_empty(x.shape + (0,))

    def isospin_weights(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Weights ``(T, 2)`` of ``u`` and ``d`` in each target's density: ``g_t ∝ w_t0 u + w_t1 d`` (float64)."""
        key = torch.device(device)
        if key not in self._weights_cache:
            self._weights_cache[key] = self._weights.to(key)
        return self._weights_cache[key]

    def fixed_log_density(self, per_target: torch.Tensor) -> torch.Tensor:
        """The parameter-free part of each target's log density, ``-inf`` outside the support.

        ``log_density = log(w_t0 u(x) + w_t1 d(x)) + fixed_log_density``. Here: 0 for ``x`` in
        ``[x_lo, x_hi]``; theories with more features add their conditional's shape.

        Args:
            per_target: events split by target, ``(B, N, T, k)`` float64.

        Returns:
            ``(B, N, T)`` float64.
        """
        x = per_target[..., 0]
        inside = (x >= self.x_lo) & (x <= self.x_hi)
        return torch.where(inside, 0.0, -math.inf).to(x.dtype)

    def describe_support(self) -> str:
        """The support in words, for error messages."""
        return f"x in [{self.x_lo:.6g}, {self.x_hi:.6g}]"

    def check_support(self, events: np.ndarray | torch.Tensor, where: str, chunk: int = 1 << 16) -> None:
        """Raise a one-line :class:`DataError` naming ``where``, the first event (its index in
        ``events`` ``(..., F)``), its features and values if any event lies outside the support."""
        flat = torch.as_tensor(np.asarray(events) if not isinstance(events, torch.Tensor) else events).reshape(
            -1, self.n_features
        )
        for start in range(0, flat.shape[0], chunk):
            block = flat[start : start + chunk].to(torch.float64)
            bad = ~torch.isfinite(self.fixed_log_density(self._split(block[None]))[0])  # (n, T)
            if bool(bad.any()):
                row, target = (int(i) for i in torch.nonzero(bad)[0])
                index = tuple(int(i) for i in np.unravel_index(start + row, tuple(events.shape[:-1])))
                k = self.draws_per_target
                names = self.feature_names[target * k : (target + 1) * k]
                values = ", ".join(f"{n} = {float(v):.6g}" for n, v in zip(names, block[row, target * k : (target + 1) * k]))
                label = f"event {index[0]}" if len(index) == 1 else f"set {index[0]}, event {index[1]}"
                raise DataError(
                    f"{where}: {label} ({values}) lies outside the support of theory {self.name!r} ({self.describe_support()})"
                )

    def log_density(self, per_target: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        """Unnormalized log density of each target's draw, ``-inf`` outside the support.

        Args:
            per_target: events split by target, ``(B, N, T, k)`` float64 (``(1, N, T, k)`` broadcasts).
            eta: normalized parameters ``(B, 6)``.

        Returns:
            ``(B, N, T)``; ``log_prob`` subtracts ``log Z_t``.
        """
        fixed = self.fixed_log_density(per_target)
        inside = torch.isfinite(fixed)
        x = per_target[..., 0]
        x_safe = torch.where(inside, x, torch.full_like(x, 0.5 * (self.x_lo + self.x_hi))).transpose(1, 2)  # (B, T, N)
        u, d = pdf_pair(x_safe, 1.0 - x_safe, eta)
        w = self.isospin_weights(eta.device)
        value = torch.log(w[:, 0, None] * u + w[:, 1, None] * d).transpose(1, 2) + torch.where(inside, fixed, 0.0)
        return torch.where(inside, value, torch.full_like(value, -math.inf))

    # ------------------------------------------------------------------ normalizers
    def _nodes(self, device: torch.device) -> tuple[Nodes, Nodes, Nodes]:
        if device not in self._device_cache:
            self._device_cache[device] = (self._table.to(device), self._table_mid.to(device), self._quad.to(device))
        return self._device_cache[device]

    def normalizers(self, eta: torch.Tensor) -> torch.Tensor:
        """Integrated x-densities ``Z_t(eta)``, ``(B, T)`` float64, differentiable in ``eta`` ``(B, 6)``."""
        eta = self._check_eta(eta)
        _, _, quad = self._nodes(eta.device)
        g = self.x_density(quad.x[None, None, :], quad.dist_hi[None, None, :], eta)
        return (g * quad.weights).sum(-1)

    def _check_eta(self, eta: torch.Tensor, where: str = "parameters") -> torch.Tensor:
        if not isinstance(eta, torch.Tensor):
            eta = torch.as_tensor(eta, dtype=torch.float64)
        if eta.ndim != 2 or eta.shape[-1] != N_PARAMS:
            raise ParameterError(f"{where}: expected normalized parameters of shape (B, {N_PARAMS}), got {tuple(eta.shape)}")
        check_params(eta, where)
        return eta

    # ------------------------------------------------------------------ likelihood
    def _split(self, events: torch.Tensor) -> torch.Tensor:
        if events.ndim != 3 or events.shape[-1] != self.n_features:
            raise DataError(
                f"{self.name} events must have shape (B, N, {self.n_features}) with features "
                f"{self.feature_names}, got {tuple(events.shape)}"
            )
        return events.reshape(*events.shape[:2], self.n_targets, self.draws_per_target)

    def log_prob(self, events: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        """Exact per-event log density ``log p(event | eta)``, ``(B, N)``; ``-inf`` outside the support.

        Args:
            events: ``(B, N, F)`` (or ``(1, N, F)`` to share one event set across all ``B``).
            eta: normalized parameters ``(B, 6)``; differentiable.
        """
        eta = self._check_eta(eta)
        per_target = self._split(events).to(device=eta.device, dtype=torch.float64)
        log_z = torch.log(self.normalizers(eta))[:, None, :]
        return (self.log_density(per_target, eta) - log_z).sum(-1)

    # ------------------------------------------------------------------ sampling
    def draw_uniforms(
        self, batch: int, n_events: int, generator: torch.Generator | None = None, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """Uniforms ``(B, N, T, k)`` in float64 that drive :meth:`sample_reparam`."""
        if generator is not None:
            device = generator.device
        shape = (batch, n_events, self.n_targets, self.draws_per_target)
        return torch.rand(shape, generator=generator, dtype=torch.float64, device=device)

    def _table_points(self, device: torch.device) -> Nodes:
        """Table nodes ``(G,)`` followed by the cell midpoints ``(G - 1,)``: one density call per table."""
        key = torch.device(device)
        if key not in self._points_cache:
            nodes, mids, _ = self._nodes(key)
            self._points_cache[key] = Nodes(torch.cat([nodes.x, mids.x]), torch.cat([nodes.dist_hi, mids.dist_hi]))
        return self._points_cache[key]

    def x_cdf_table(self, eta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Tabulated x-CDF of each target, ``(B, T, G)``, and the table nodes ``(G,)``."""
        nodes, _, _ = self._nodes(eta.device)
        points = self._table_points(eta.device)
        n_nodes = nodes.x.shape[0]
        f_all = self.x_density(points.x[None, None, :], points.dist_hi[None, None, :], eta)
        cdf, total = simpson_cdf(f_all[..., :n_nodes], f_all[..., n_nodes:], self._widths(eta.device))
        if not bool(torch.all(total > 0)):
            bad = int(torch.nonzero(~(total > 0))[0, 0])
            raise ParameterError(f"{self.name}: the cross section vanishes at parameter row {bad} (N_u = N_d = 0?)")
        return cdf, nodes.x

    def _widths(self, device: torch.device) -> torch.Tensor:
        nodes, _, _ = self._nodes(device)
        return nodes.x[1:] - nodes.x[:-1]

    def sample_reparam(self, eta: torch.Tensor, uniforms: torch.Tensor, method: str = "auto") -> torch.Tensor:
        """Events ``(B, N, F)`` float64 as a differentiable function of ``eta`` ``(B, 6)``
        for fixed ``uniforms`` ``(B, N, T, k)`` (from :meth:`draw_uniforms`).

        ``method`` picks the table-cell lookup (see :func:`pdfinfer.theory.quadrature.invert_table`):
        ``"guide"`` (O(1) per event), ``"search"`` (binary search, the reference) or ``"auto"``
        (guide for large requests, see ``GUIDE_MIN_EVENTS``). All give the same events and gradients.
        """
        eta = self._check_eta(eta)
        batch, n_events = uniforms.shape[:2]
        x = self._invert_x(eta, uniforms, method)  # (B, N, T)
        if self.draws_per_target == 1:
            return x.reshape(batch, n_events, self.n_features)
        rest = self.conditional_sample(uniforms[..., 1:], x)
        return torch.cat([x.unsqueeze(-1), rest], dim=-1).reshape(batch, n_events, self.n_features)

    def _invert_x(self, eta: torch.Tensor, uniforms: torch.Tensor, method: str) -> torch.Tensor:
        """x of every draw, ``(B, N, T)`` float64, from the x-uniforms ``uniforms[..., 0]``."""
        if method == "auto":
            draws = uniforms.shape[0] * uniforms.shape[1] * uniforms.shape[2]
            method = "guide" if uniforms.shape[1] >= GUIDE_MIN_EVENTS and draws >= GUIDE_MIN_DRAWS else "search"
        cdf, x_nodes = self.x_cdf_table(eta)  # (B, T, G)
        u_x = uniforms[..., 0].transpose(1, 2)  # (B, T, N)
        return invert_table(cdf, x_nodes, u_x.contiguous(), method).transpose(1, 2)

    def sample(
        self,
        eta: torch.Tensor,
        n_events: int,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        method: str = "auto",
    ) -> torch.Tensor:
        """Draw ``n_events`` events for each parameter row: ``(B, 6) -> (B, N, F)``.

        Uses ``generator`` (and its device) when given; the result is bit-reproducible for a
        given generator state and device. Events are clamped inside the support in ``dtype``.
        ``method``: the table-cell lookup, as in :meth:`sample_reparam` (same events for all).
        """
        eta = self._check_eta(eta)
        n_events = self._check_n_events(n_events)
        check_memory(
            self.sample_bytes(eta.shape[0], n_events, dtype), f"{self.name}: sampling {eta.shape[0]} x {n_events} events"
        )
        device = generator.device if generator is not None else eta.device
        eta = eta.to(device)
        rows = max(1, SAMPLE_BLOCK_DRAWS // (n_events * self.n_targets))
        with torch.no_grad():
            uniforms = self.draw_uniforms(eta.shape[0], n_events, generator, device)
            blocks = [self.sample_reparam(eta[i : i + rows], uniforms[i : i + rows], method) for i in range(0, len(eta), rows)]
        return self.clamp_to_support(torch.cat(blocks).to(dtype) if len(blocks) > 1 else blocks[0].to(dtype))

    def sample_bytes(self, batch: int, n_events: int, dtype: torch.dtype = torch.float32) -> int:
        """Estimated peak memory of :meth:`sample` in bytes: the float64 uniforms and about four
        float64/int64 temporaries per draw (x, cell, lookups), plus the result in ``dtype``."""
        draws = batch * n_events * self.n_targets
        item = torch.empty((), dtype=dtype).element_size()
        return (
            draws * 8 * (self.draws_per_target + 4 + 2 * (self.draws_per_target - 1)) + batch * n_events * self.n_features * item
        )

    def _check_n_events(self, n_events: object) -> int:
        if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) or n_events < 1:
            raise ParameterError(f"{self.name}: the number of events must be a positive integer, got {n_events!r}")
        return int(n_events)

    def clamp_to_support(self, events: torch.Tensor) -> torch.Tensor:
        """Keep ``x`` strictly below ``x_hi`` (and not below ``x_lo``) after rounding to the events' dtype."""
        lo, top = self._x_bounds(events.dtype)
        if self.draws_per_target == 1:
            return events.clamp(lo, top)
        per_target = events.reshape(*events.shape[:-1], self.n_targets, self.draws_per_target).clone()
        per_target[..., 0].clamp_(lo, top)
        return per_target.reshape(events.shape)

    def _x_bounds(self, dtype: torch.dtype) -> tuple[float, float]:
        """The smallest and largest ``x`` of ``dtype`` inside ``[x_lo, x_hi)``."""
        top = torch.nextafter(torch.tensor(self.x_hi, dtype=dtype), torch.tensor(0.0, dtype=dtype))
        lo = torch.tensor(self.x_lo, dtype=dtype)
        if lo < self.x_lo:
            lo = torch.nextafter(lo, torch.tensor(1.0, dtype=dtype))
        return lo.item(), top.item()

    # ------------------------------------------------------------------ normalization observable
    def sample_norm(self, eta: torch.Tensor, rel_unc: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """Measured normalization ``z = Z (1 + r eps)``, ``(B, T)`` float64."""
        eta = self._check_eta(eta)
        device = generator.device if generator is not None else eta.device
        with torch.no_grad():
            z = self.normalizers(eta.to(device))
            eps = torch.randn(z.shape, generator=generator, dtype=torch.float64, device=device)
        return z * (1.0 + rel_unc * eps)

    def norm_log_prob(
        self, z_obs: torch.Tensor, eta: torch.Tensor, rel_unc: float, z: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Gaussian log-likelihood of measured normalizations ``z_obs`` ``(B or 1, T)``; ``(B,)``.

        ``z``: the normalizers ``Z_t(eta)`` ``(B, T)`` when already computed.
        """
        z = self.normalizers(eta) if z is None else z
        sigma = rel_unc * z
        resid = (z_obs.to(z) - z) / sigma
        return (-0.5 * resid**2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(-1)

    def pdfs(self, x: torch.Tensor, eta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``u(x)`` and ``d(x)`` on points ``x`` ``(M,)`` for parameters ``(B, 6)``: each ``(B, M)``."""
        eta = self._check_eta(eta)
        x = torch.as_tensor(x, dtype=torch.float64, device=eta.device)
        u, d = pdf_pair(x[None, None, :], (1.0 - x)[None, None, :], eta)
        return u[:, 0], d[:, 0]
