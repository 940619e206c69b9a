"""Independent numpy/scipy implementations of docs/physics.md, used only as test oracles.

Nothing here imports the package's physics: the tests compare the package against these.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, special

ALPHA = 1.0 / 137.035999
GEV2_NB = 0.3893794e6


def phys(eta: np.ndarray) -> np.ndarray:
    lo = np.array([0.0, -1.0, 0.0, 0.0, -1.0, 0.0])
    hi = np.array([3.0, 1.0, 5.0, 3.0, 1.0, 5.0])
    return lo + np.asarray(eta, dtype=float) * (hi - lo)


def beta_tail(a: float, b: float, x0: float, x: float | np.ndarray = 1.0) -> np.ndarray:
    """Closed form of the integral of t^a (1-t)^b over [x0, x] (regularized incomplete beta)."""
    full = special.beta(a + 1, b + 1)
    return full * (special.betainc(a + 1, b + 1, x) - special.betainc(a + 1, b + 1, x0))


def proxy_weights(target: str) -> tuple[float, float]:
    return {"p": (4.0, 1.0), "n": (1.0, 4.0)}[target]


def proxy_norm(eta: np.ndarray, target: str, x0: float = 0.1) -> float:
    t = phys(eta)
    wu, wd = proxy_weights(target)
    return wu * t[0] * beta_tail(t[1], t[2], x0) + wd * t[3] * beta_tail(t[4], t[5], x0)


def proxy_cdf(x: np.ndarray, eta: np.ndarray, target: str, x0: float = 0.1) -> np.ndarray:
    t = phys(eta)
    wu, wd = proxy_weights(target)
    part = wu * t[0] * beta_tail(t[1], t[2], x0, x) + wd * t[3] * beta_tail(t[4], t[5], x0, x)
    return part / proxy_norm(eta, target, x0)


def proxy_density(x: float, eta: np.ndarray, target: str) -> float:
    t = phys(eta)
    wu, wd = proxy_weights(target)
    return wu * t[0] * x ** t[1] * (1 - x) ** t[2] + wd * t[3] * x ** t[4] * (1 - x) ** t[5]


class DIS:
    """Leading-order DIS cross section and phase space, written from docs/physics.md."""

    def __init__(self, sqrt_s=140.0, x_min=0.1, q2_min=1.0, y_max=0.95, w2_min=10.0, mass=0.938):
        self.s_eff = sqrt_s**2 - mass**2
        self.x_min, self.q2_min, self.y_max, self.w2_min, self.m2 = x_min, q2_min, y_max, w2_min, mass**2

    def q2_limits(self, x: float) -> tuple[float, float]:
        lo = max(self.q2_min, (self.w2_min - self.m2) * x / (1 - x))
        return lo, self.y_max * x * self.s_eff

    def x_max(self) -> float:
        return 1 - (self.w2_min - self.m2) / (self.y_max * self.s_eff)

    def xsec(self, x: float, q2: float, eta: np.ndarray, target: str) -> float:
        t = phys(eta)
        wu, wd = {"p": (4 / 9, 1 / 9), "n": (1 / 9, 4 / 9)}[target]
        u = t[0] * x ** t[1] * (1 - x) ** t[2]
        d = t[3] * x ** t[4] * (1 - x) ** t[5]
        y = q2 / (x * self.s_eff)
        return 2 * np.pi * ALPHA**2 * GEV2_NB / (x * q2**2) * (1 + (1 - y) ** 2) * x * (wu * u + wd * d)

    def q2_integral(self, x: float, eta: np.ndarray, target: str, q_lo: float | None = None, q_hi: float | None = None) -> float:
        """Numerical integral over Q^2 in [q_lo, q_hi] clipped to the phase space at x."""
        lo, hi = self.q2_limits(x)
        a = lo if q_lo is None else max(lo, q_lo)
        b = hi if q_hi is None else min(hi, q_hi)
        if b <= a:
            return 0.0

        # integrate in log Q^2 for accuracy
        def f(lq):
            return self.xsec(x, np.exp(lq), eta, target) * np.exp(lq)

        return integrate.quad(f, np.log(a), np.log(b), epsabs=0, epsrel=1e-12, limit=200)[0]

    def x_marginal_integral(self, eta: np.ndarray, target: str, x_a: float, x_b: float, **q2_kw) -> float:
        def f(x):
            return self.q2_integral(x, eta, target, **q2_kw)

        return integrate.quad(f, x_a, x_b, epsabs=0, epsrel=1e-11, limit=200)[0]

    def norm(self, eta: np.ndarray, target: str) -> float:
        return self.x_marginal_integral(eta, target, self.x_min, self.x_max())
