r"""The log-likelihood of one observed event set, with everything that does not depend on the
parameters computed once.

Both theories have per-target densities :math:`g_t(x) = c_{tu} x^{a_u}(1-x)^{b_u} + c_{td} x^{a_d}(1-x)^{b_d}`
times a parameter-free factor, with :math:`c_{tu} = w_{t0} N_u`, :math:`c_{td} = w_{t1} N_d`. Taking out
the larger of the two terms' prefactors (the pivot, here ``u``),

.. math::
    \sum_n \log g_t(x_n) = N \log c_{tu} + a_u \sum_n \ell_n + b_u \sum_n \bar\ell_n
        + \sum_n \log\big(1 + e^{\alpha \ell_n + \beta \bar\ell_n + \gamma}\big),

with :math:`\ell = \log x`, :math:`\bar\ell = \log(1-x)`, :math:`\alpha = a_d - a_u`, :math:`\beta = b_d - b_u`,
:math:`\gamma = \log c_{td} - \log c_{tu} \le 0`. So per event and target the cost is one
``(3,) . (3,)`` product (a batched matrix product over all walkers), one ``exp`` and one ``log``;
:math:`\ell, \bar\ell`, their sums, the parameter-free part and the support check are done once per set.
The exponent stays below about 100 (``|alpha| <= 2``, ``|beta| <= 5``, ``1 - x >= 6e-8`` in float32),
so ``exp`` cannot overflow in float64. Then

.. math:: \log L(\eta) = \sum_t \Big[\sum_n \log g_t(x_{nt}) - N \log Z_t(\eta)\Big] + \sum_{n,t} \log h_t(\text{event}_{nt}).

Everything is torch (CPU and CUDA alike) and differentiable (``autograd`` gradients and Hessians);
without gradients the event loop runs in place on one reused buffer per chunk of events.
"""

from __future__ import annotations

import math

import torch

from pdfinfer.errors import DataError
from pdfinfer.theory.base import Theory, physical

#: Elements ``T * B * chunk`` of one event chunk's work buffer on CPU (2 MB of float64: cache-sized).
CPU_CHUNK_ELEMENTS = 1 << 18


class ObservedLikelihood:
    """``eta (B, 6) -> (B,)``: the summed exact log-likelihood ``sum_n log p(event_n | eta)`` of one set.

    Args:
        theory: the observation model.
        events: observed events ``(N, F)`` (any float dtype; evaluated in float64).
        device: where the per-event tables live and the evaluation runs.
        where: named in the error for events outside the support (e.g. the file).
    """

    def __init__(
        self, theory: Theory, events: torch.Tensor, device: torch.device | str = "cpu", where: str = "observed events"
    ) -> None:
        self.theory = theory
        self.device = torch.device(device)
        events = torch.as_tensor(events, dtype=torch.float64, device=self.device)
        per_target = theory._split(events[None])[0]  # (N, T, k)
        fixed = theory.fixed_log_density(per_target[None])[0]  # (N, T)
        outside = ~torch.isfinite(fixed)
        #: Index of the first event outside the support, or ``None``; if set the likelihood is ``-inf``.
        self.first_outside = int(torch.nonzero(outside.any(-1))[0, 0]) if bool(outside.any()) else None
        self.where = where
        self.n_events = events.shape[0]
        x = torch.where(outside, 0.5, per_target[..., 0]).transpose(0, 1)  # (T, N)
        log_x, log_1mx = torch.log(x), torch.log(1.0 - x)
        self.table = torch.stack([log_x, log_1mx, torch.ones_like(log_x)], dim=1).contiguous()  # (T, 3, N)
        self.sum_log_x, self.sum_log_1mx = log_x.sum(-1), log_1mx.sum(-1)  # (T,)
        self.fixed_sum = float(torch.where(outside, 0.0, fixed).sum())
        self.weights = theory.isospin_weights(self.device)  # (T, 2)

    def coefficients(self, eta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-target pivot terms ``(B, T)`` and exponent coefficients ``(T, B, 3)`` (see the module docstring)."""
        theta = physical(eta)
        n_u, a_u, b_u, n_d, a_d, b_d = (theta[:, i, None] for i in range(6))  # each (B, 1)
        log_cu = _safe_log(n_u) + torch.log(self.weights[:, 0])  # (B, T); -inf where N_u = 0
        log_cd = _safe_log(n_d) + torch.log(self.weights[:, 1])
        swap = (log_cd > log_cu).detach()  # pivot on d where its prefactor is the larger
        alpha = torch.where(swap, a_u - a_d, a_d - a_u)
        beta = torch.where(swap, b_u - b_d, b_d - b_u)
        gamma = torch.where(swap, _diff(log_cu, log_cd), _diff(log_cd, log_cu))
        pivot_u = self.n_events * log_cu + a_u * self.sum_log_x + b_u * self.sum_log_1mx
        pivot_d = self.n_events * log_cd + a_d * self.sum_log_x + b_d * self.sum_log_1mx
        pivot = torch.where(swap, pivot_d, pivot_u)
        return pivot, torch.stack([alpha, beta, gamma], dim=-1).transpose(0, 1).contiguous()

    def event_sum(self, coef: torch.Tensor) -> torch.Tensor:
        """``sum_n log(1 + exp(coef . (log x, log(1-x), 1)))`` per target and row, ``(T, B)``."""
        n_targets, batch, _ = coef.shape
        if self.device.type == "cpu":
            chunk = max(256, CPU_CHUNK_ELEMENTS // (n_targets * batch))
        else:
            chunk = self.n_events
        if torch.is_grad_enabled() and coef.requires_grad:
            parts = [
                torch.log(1.0 + torch.exp(torch.bmm(coef, self.table[:, :, s : s + chunk]))).sum(-1)
                for s in range(0, self.n_events, chunk)
            ]
            return torch.stack(parts).sum(0)
        total = torch.zeros((n_targets, batch), dtype=torch.float64, device=self.device)
        buffer = torch.empty((n_targets, batch, min(chunk, self.n_events)), dtype=torch.float64, device=self.device)
        for start in range(0, self.n_events, chunk):
            block = self.table[:, :, start : start + chunk]
            work = buffer[..., : block.shape[-1]]
            torch.bmm(coef, block, out=work)
            torch.exp(work, out=work)
            work.add_(1.0).log_()
            total += work.sum(-1)
        return total

    def __call__(self, eta: torch.Tensor, log_z: torch.Tensor | None = None) -> torch.Tensor:
        """Summed log-likelihood ``(B,)`` for ``eta`` ``(B, 6)`` (differentiable); ``log_z``: ``log Z_t`` ``(B, T)`` if known."""
        if self.first_outside is not None:
            return torch.full((eta.shape[0],), -math.inf, dtype=torch.float64, device=eta.device)
        if log_z is None:
            log_z = torch.log(self.theory.normalizers(eta))
        pivot, coef = self.coefficients(eta)
        per_target = pivot + self.event_sum(coef).transpose(0, 1) - self.n_events * log_z  # (B, T)
        return per_target.sum(-1) + self.fixed_sum

    def check_support(self) -> None:
        """Raise a one-line :class:`DataError` naming the first event outside the theory's support."""
        if self.first_outside is not None:
            raise DataError(f"{self.where}: event {self.first_outside} lies outside the support of theory {self.theory.name!r}")


def _safe_log(value: torch.Tensor) -> torch.Tensor:
    """``log(value)`` with ``-inf`` (and a zero, not NaN, gradient) at ``value == 0``."""
    positive = value > 0
    return torch.where(positive, torch.log(torch.where(positive, value, torch.ones_like(value))), -math.inf)


def _diff(small: torch.Tensor, large: torch.Tensor) -> torch.Tensor:
    """``small - large`` for log prefactors, ``-inf`` (zero gradient) where ``small`` is ``-inf``."""
    finite = torch.isfinite(small)
    return torch.where(finite, torch.where(finite, small, torch.zeros_like(small)) - large, -math.inf)
