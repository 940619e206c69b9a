r"""Leading-order inclusive deep-inelastic scattering, events :math:`(x, Q^2)` per target.

.. math::
    \frac{d^2\sigma}{dx\,dQ^2} = \frac{2\pi\alpha^2}{x Q^4}\,[1 + (1-y)^2]\,F_2(x),
    \qquad y = \frac{Q^2}{x (s - M^2)},

with :math:`F_2^p = x(\tfrac49 u + \tfrac19 d)` and :math:`F_2^n = x(\tfrac49 d + \tfrac19 u)`,
inside :math:`x \ge x_{min}`, :math:`Q^2 \ge Q^2_{min}`, :math:`y \le y_{max}` and
:math:`W^2 = M^2 + Q^2 (1-x)/x \ge W^2_{min}`. For fixed :math:`x` the allowed range is
:math:`q_{lo}(x) = \max(Q^2_{min}, (W^2_{min} - M^2)\,x/(1-x)) \le Q^2 \le q_{hi}(x) = y_{max}\,c`,
:math:`c = x (s - M^2)`, and the :math:`Q^2` integral is analytic:

.. math::
    \int \frac{1 + (1 - q/c)^2}{q^2}\,dq = G(q) = -\frac{2}{q} - \frac{2}{c}\ln q + \frac{q}{c^2},
    \qquad K(x) = G(q_{hi}) - G(q_{lo}).

So the x-marginal is :math:`g(x) = 2\pi\alpha^2 (\tfrac49 u + \tfrac19 d)(x)\,K(x)` (in nb), which
vanishes at :math:`x_{max}` where :math:`q_{lo} = q_{hi}`, and :math:`Q^2 \mid x` has the
parameter-free CDF :math:`(G(q) - G(q_{lo}))/K(x)`, inverted by safeguarded Newton steps.
The PDFs do not evolve with :math:`Q^2` (no scaling violations).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from pdfinfer.theory.base import Theory, pdf_pair

ALPHA_EM = 1.0 / 137.035999
#: Conversion of GeV^-2 to nanobarn.
GEV2_TO_NB = 0.3893794e6
TARGET_WEIGHTS = {"p": (4.0 / 9.0, 1.0 / 9.0), "n": (1.0 / 9.0, 4.0 / 9.0)}
NEWTON_STEPS = 12
#: Newton on Q2 | x stops once no point moves by more than this relative amount (it converges
#: quadratically: about 6 steps from the 1/q^2 start reach 1e-14).
NEWTON_RTOL = 1e-13
#: Relative slack on the phase-space edges in log_density (float32 rounding is 6e-8).
BOUNDARY_SLACK = 1e-6


class DISTheory(Theory):
    """Inclusive DIS on proton and/or neutron targets; features ``(x_t, Q2_t)`` for each target."""

    name = "dis"
    target_features = ("x", "Q2")
    target_log_features = (False, True)
    norm_unit = "nb"

    def __init__(
        self,
        sqrt_s: float = 140.0,
        x_min: float = 0.1,
        q2_min: float = 1.0,
        y_max: float = 0.95,
        w2_min: float = 10.0,
        mass: float = 0.938,
        targets: tuple[str, ...] | list[str] = ("p", "n"),
    ) -> None:
        targets = tuple(targets)
        if not targets or any(t not in TARGET_WEIGHTS for t in targets) or len(set(targets)) != len(targets):
            raise ValueError(f"dis theory: targets must be distinct values from {sorted(TARGET_WEIGHTS)}, got {list(targets)}")
        self.sqrt_s, self.x_min, self.q2_min = float(sqrt_s), float(x_min), float(q2_min)
        self.y_max, self.w2_min, self.mass = float(y_max), float(w2_min), float(mass)
        self.target_names = targets
        self.s_eff = self.sqrt_s**2 - self.mass**2
        w_term = self.w2_min - self.mass**2
        if not (
            self.sqrt_s > 0 and 0 < self.x_min < 1 and self.q2_min > 0 and 0 < self.y_max <= 1 and w_term > 0 and self.s_eff > 0
        ):
            raise ValueError(f"dis theory: inconsistent kinematics {self.settings()}")
        x_max = 1.0 - w_term / (self.y_max * self.s_eff)
        x_switch = self.q2_min / (w_term + self.q2_min)  # below: Q2_min bounds, above: W2_min bounds
        x_q2 = self.q2_min / (self.y_max * self.s_eff)  # below: no phase space at all
        if x_max <= self.x_min or x_q2 >= x_max:
            raise ValueError(f"dis theory: empty phase space for {self.settings()}")
        self._w_term = w_term
        self._weights = torch.tensor([TARGET_WEIGHTS[t] for t in targets], dtype=torch.float64)
        super().__init__(max(self.x_min, x_q2), x_max, breakpoints=(x_switch,))

    def settings(self) -> dict[str, Any]:
        return {
            "sqrt_s": self.sqrt_s,
            "x_min": self.x_min,
            "q2_min": self.q2_min,
            "y_max": self.y_max,
            "w2_min": self.w2_min,
            "mass": self.mass,
            "targets": list(self.target_names),
        }

    # ---------------------------------------------------------------- kinematics
    def q2_range(self, x: torch.Tensor, dist_one: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Allowed ``(Q2_lo, Q2_hi)`` at each ``x`` (same shape)."""
        dist_one = 1.0 - x if dist_one is None else dist_one
        q_lo = torch.clamp(self._w_term * x / dist_one, min=self.q2_min)
        q_hi = self.y_max * self.s_eff * x
        return q_lo, q_hi

    def _antiderivative(self, q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return -2.0 / q - 2.0 / c * torch.log(q) + q / c**2

    def _q2_density(self, q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        y = q / c
        return (1.0 + (1.0 - y) ** 2) / q**2

    def x_density(self, x: torch.Tensor, dist_hi: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        dist_one = (1.0 - self.x_hi) + dist_hi
        u, d = pdf_pair(x, dist_one, eta)
        w = self._weights.to(eta.device)
        q_lo, q_hi = self.q2_range(x, dist_one)
        c = self.s_eff * x
        k = (self._antiderivative(q_hi, c) - self._antiderivative(q_lo, c)).clamp_min(0.0)
        return (2.0 * math.pi * ALPHA_EM**2 * GEV2_TO_NB) * (w[:, 0, None] * u + w[:, 1, None] * d) * k

    # ---------------------------------------------------------------- Q2 | x
    def conditional_sample(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        u = u[..., 0]
        q_lo, q_hi = self.q2_range(x)
        c = self.s_eff * x
        g_lo = self._antiderivative(q_lo, c)
        k = self._antiderivative(q_hi, c) - g_lo
        target = g_lo + u * k
        with torch.no_grad():
            # Start from the dominant 1/q^2 term, then safeguarded Newton on G(q) = target.
            ql, qh, tgt, cc = q_lo.detach(), q_hi.detach(), target.detach(), c.detach()
            q = 1.0 / (1.0 / ql - u * (1.0 / ql - 1.0 / qh))
            for _ in range(NEWTON_STEPS):
                step = (self._antiderivative(q, cc) - tgt) / self._q2_density(q, cc)
                q_new = torch.minimum(torch.maximum(q - step, ql), qh)
                moved = bool(((q_new - q).abs() > NEWTON_RTOL * q).any())
                q = q_new
                if not moved:
                    break
        # One Newton step with gradients attached gives dQ2/dx by the implicit-function theorem.
        q = q - (self._antiderivative(q, c) - target) / self._q2_density(q, c)
        q = torch.minimum(torch.maximum(q, q_lo), q_hi)
        return q.unsqueeze(-1)

    def describe_support(self) -> str:
        return (
            f"x in [{self.x_lo:.6g}, {self.x_hi:.6g}] and max({self.q2_min:g}, {self._w_term:.6g} x/(1-x)) <= Q2 <= "
            f"{self.y_max * self.s_eff:.6g} x GeV^2"
        )

    def fixed_log_density(self, per_target: torch.Tensor) -> torch.Tensor:
        """``log(2 pi alpha^2 [1 + (1-y)^2] / Q^4)`` in nb per target, ``(B, N, T)``, ``-inf`` outside the phase space.

        With :meth:`Theory.log_density` this is ``log d2sigma/dx dQ2`` (the ``x F_2 / x`` cancels).
        The phase-space edges are tested with a relative slack of ``BOUNDARY_SLACK`` in ``x`` and
        ``Q^2``, so events rounded to float32 on the edge still count as inside.
        """
        x, q = per_target[..., 0], per_target[..., 1]
        lo_x, hi_x = x * (1.0 - BOUNDARY_SLACK), x * (1.0 + BOUNDARY_SLACK)
        q_lo = self.q2_range(lo_x.clamp(max=self.x_hi))[0] * (1.0 - BOUNDARY_SLACK)
        q_hi = self.q2_range(hi_x)[1] * (1.0 + BOUNDARY_SLACK)
        inside = (x >= self.x_lo * (1.0 - BOUNDARY_SLACK)) & (x <= self.x_hi) & (q >= q_lo) & (q <= q_hi)
        x_safe = torch.where(inside, x, torch.full_like(x, 0.5 * (self.x_lo + self.x_hi)))
        q_safe = torch.where(inside, q, torch.full_like(q, self.q2_min))
        value = math.log(2.0 * math.pi * ALPHA_EM**2 * GEV2_TO_NB) + torch.log(self._q2_density(q_safe, self.s_eff * x_safe))
        return torch.where(inside, value, torch.full_like(value, -math.inf))

    def cross_section(self, x: torch.Tensor, q2: torch.Tensor, eta: torch.Tensor, target: str = "p") -> torch.Tensor:
        """Differential cross section ``d2sigma/dx dQ2`` in nb/GeV^2 at points ``(M,)`` for ``(B, 6)``: ``(B, M)``;
        zero outside the phase space. For tests and plots."""
        x = torch.as_tensor(x, dtype=torch.float64, device=eta.device)
        q2 = torch.as_tensor(q2, dtype=torch.float64, device=eta.device)
        u, d = pdf_pair(x[None, None, :], (1.0 - x)[None, None, :], eta)
        wu, wd = TARGET_WEIGHTS[target]
        c = self.s_eff * x
        y = q2 / c
        f2 = x * (wu * u[:, 0] + wd * d[:, 0])
        value = 2.0 * math.pi * ALPHA_EM**2 * GEV2_TO_NB / (x * q2**2) * (1.0 + (1.0 - y) ** 2) * f2
        q_lo, q_hi = self.q2_range(x)
        inside = (x >= self.x_min) & (q2 >= q_lo) & (q2 <= q_hi)
        return torch.where(inside, value, torch.zeros_like(value))
