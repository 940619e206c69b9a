r"""The valence sum rules as a prior factor: closed-form integrals, log factor, information, sampler.

With :math:`u(x) = N_u x^{a_u}(1-x)^{b_u}` and :math:`d(x) = N_d x^{a_d}(1-x)^{b_d}`,

.. math:: I_u(\theta) = \int_0^1 u\,dx = N_u\,B(a_u + 1, b_u + 1), \qquad
          I_d(\theta) = \int_0^1 d\,dx = N_d\,B(a_d + 1, b_d + 1)

(complete beta function; finite on the whole box except at :math:`a = -1`, where it diverges).
The reference truth gives :math:`I_u = 2` and :math:`I_d = 8/9` (``docs/physics.md``), the
targets :math:`T = (2, 8/9)`. With the relative deviations :math:`\delta_k = I_k / T_k - 1` and the
tolerance :math:`t`, the constrained prior is the box prior times the factor :math:`f(\eta) \le 1`,

.. math:: \log f_{soft} = -\tfrac12 \sum_k (\delta_k / t)^2, \qquad
          \log f_{hard} = -\tfrac12 \sum_k (\delta_k / t)^8 ,

``soft`` a Gaussian measurement of each integral with relative standard deviation :math:`t`,
``hard`` a flat-topped band: :math:`f > 0.6` for :math:`|\delta| \le t`, :math:`f < 10^{-5}` beyond
:math:`1.5\,t`, smooth everywhere (gradient samplers, the optimizer and the adversarial generator
need a gradient; an indicator has none). Every method sees the same :math:`f`:

* the exact posterior adds :math:`\log f` to its log-density and :func:`constraint_fisher` to its
  Fisher information (:mod:`pdfinfer.reference`);
* amortized methods train on :func:`sample_prior` draws (exact rejection sampling: a box draw is
  kept with probability :math:`f(\eta)`), the one place training parameters are drawn;
* adversarial generators pay the penalty :math:`-\log f` on their draws.

Information of the constraint at :math:`\eta^*` (where :math:`\delta = 0`): soft, the Gaussian
measurement's :math:`\sum_k \nabla\delta_k \nabla\delta_k^\top / t^2`; hard, the same with the
band's variance :math:`v\,t^2` in place of :math:`t^2`, :math:`v = 2^{1/4}\Gamma(3/8)/\Gamma(1/8)
\approx 0.374` (the variance of :math:`\delta` under :math:`e^{-\delta^8/2t^8}`), since the band's
own curvature at its centre is zero.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import betaln

from pdfinfer.constraints.settings import ConstraintSettings
from pdfinfer.errors import ConfigError
from pdfinfer.params import THETA_MAX, THETA_MIN, to_physical

#: Targets of (int u, int d) over (0, 1): what the reference truth satisfies.
TARGETS = (2.0, 8.0 / 9.0)
#: Exponent p of the hard band, log f = -(delta / t)^p / 2.
HARD_POWER = 8
#: Variance of delta / t under exp(-(delta/t)^8 / 2).
HARD_VARIANCE = 2.0 ** (2.0 / HARD_POWER) * math.gamma(3.0 / HARD_POWER) / math.gamma(1.0 / HARD_POWER)
#: Below this acceptance of the box prior, sample_prior refuses (the tolerance is too tight).
MIN_ACCEPTANCE = 1e-5
#: Box draws per rejection round (bounds the memory: 6 doubles each).
ROUND_DRAWS = 1 << 18

_INDEX = ((0, 1, 2), (3, 4, 5))  # (N, a, b) of u and of d


def integrals_np(theta: np.ndarray) -> np.ndarray:
    """``(int u, int d)`` ``(*, 2)`` over (0, 1) for physical parameters ``theta`` ``(*, 6)`` (numpy)."""
    theta = np.asarray(theta, dtype=np.float64)
    out = [theta[..., n] * np.exp(betaln(theta[..., a] + 1.0, theta[..., b] + 1.0)) for n, a, b in _INDEX]
    return np.stack(out, axis=-1)


def _integral(n: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``n B(a + 1, b + 1)`` elementwise (torch, differentiable)."""
    return n * torch.exp(torch.lgamma(a + 1.0) + torch.lgamma(b + 1.0) - torch.lgamma(a + b + 2.0))


def integrals(theta: torch.Tensor) -> torch.Tensor:
    """``(int u, int d)`` ``(*, 2)`` over (0, 1) for physical parameters ``theta`` ``(*, 6)`` (torch, differentiable)."""
    return torch.stack([_integral(theta[..., n], theta[..., a], theta[..., b]) for n, a, b in _INDEX], dim=-1)


def deviations(eta: torch.Tensor) -> torch.Tensor:
    """Relative deviations ``I / T - 1`` ``(*, 2)`` of normalized parameters ``eta`` ``(*, 6)``."""
    target = torch.as_tensor(TARGETS, dtype=eta.dtype, device=eta.device)
    return integrals(to_physical(eta)) / target - 1.0


def _log_terms(delta: torch.Tensor, settings: ConstraintSettings) -> torch.Tensor:
    """``-(delta / t)^p / 2`` elementwise, ``-inf`` where ``delta`` is not a number."""
    power = 2 if settings.form == "soft" else HARD_POWER
    value = -0.5 * (delta / settings.tolerance).pow(power)
    return torch.where(torch.isnan(value), torch.full_like(value, -math.inf), value)


def log_factor(eta: torch.Tensor, settings: ConstraintSettings) -> torch.Tensor:
    """``log f(eta)`` ``(*,)`` for ``eta`` ``(*, 6)``: zeros when the constraint is off (differentiable)."""
    if not settings.enabled:
        return torch.zeros(eta.shape[:-1], dtype=eta.dtype, device=eta.device)
    return _log_terms(deviations(eta), settings).sum(-1)


def constraint_fisher(eta: np.ndarray, settings: ConstraintSettings) -> np.ndarray:
    """Information ``(6, 6)`` of the constraint at ``eta`` ``(6,)`` in normalized units (zeros when off)."""
    if not settings.enabled:
        return np.zeros((6, 6))
    point = torch.as_tensor(np.asarray(eta, dtype=np.float64))
    jac = torch.autograd.functional.jacobian(deviations, point).numpy()  # (2, 6)
    variance = settings.tolerance**2 * (1.0 if settings.form == "soft" else HARD_VARIANCE)
    return jac.T @ jac / variance


def _sample_block(
    k: int, n: int, generator: torch.Generator, settings: ConstraintSettings, device: torch.device | str
) -> torch.Tensor:
    """``n`` draws ``(n, 3)`` of the normalized (N, a, b) of PDF ``k`` (0: u, 1: d) under box x ``f_k``."""
    cols = list(_INDEX[k])
    lo = torch.as_tensor(THETA_MIN[cols], dtype=torch.float64, device=device)
    width = torch.as_tensor(THETA_MAX[cols] - THETA_MIN[cols], dtype=torch.float64, device=device)
    kept: list[torch.Tensor] = []
    have, drawn = 0, 0
    while have < n:
        eta = torch.rand((ROUND_DRAWS, 3), generator=generator, dtype=torch.float64, device=device)
        u = torch.rand(ROUND_DRAWS, generator=generator, dtype=torch.float64, device=device)
        theta = lo + eta * width
        delta = _integral(theta[:, 0], theta[:, 1], theta[:, 2]) / TARGETS[k] - 1.0
        keep = torch.log(u) < _log_terms(delta, settings)
        drawn += ROUND_DRAWS
        kept.append(eta[keep])
        have += int(keep.sum())
        if drawn == ROUND_DRAWS and have < MIN_ACCEPTANCE * ROUND_DRAWS:
            raise ConfigError(
                f"{settings.SECTION}.tolerance = {settings.tolerance}: the {settings.form} sum rule of {'ud'[k]} keeps "
                f"{have} of {drawn} prior draws (acceptance below {MIN_ACCEPTANCE:g}); use a larger tolerance"
            )
    return torch.cat(kept)[:n]


def sample_prior(
    n: int,
    generator: torch.Generator,
    settings: ConstraintSettings,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """``n`` draws ``(n, 6)`` of the (constrained) prior in normalized units, from ``generator``.

    Off: exactly ``torch.rand((n, 6), generator=generator, ...)`` (the same stream, bit for bit).
    On: the box prior and ``f = f_u f_d`` both factorize into the (N_u, a_u, b_u) and
    (N_d, a_d, b_d) blocks, so each block is drawn on its own by exact rejection (a box draw kept
    with probability ``f_k``; about 2% kept per block at tolerance 0.05, against 0.05% jointly).
    Refuses with a one-line :class:`ConfigError` when a first round keeps fewer than
    :data:`MIN_ACCEPTANCE` of its draws.
    """
    device = generator.device if device is None else device
    if not settings.enabled:
        return torch.rand((n, 6), generator=generator, dtype=dtype, device=device)
    blocks = [_sample_block(k, n, generator, settings, device) for k in range(2)]
    return torch.cat(blocks, dim=1).to(dtype)


def acceptance(settings: ConstraintSettings, n: int = 100_000, seed: int = 0) -> float:
    """Fraction of box-prior mass the constraint keeps, ``E_box[f]`` (Monte Carlo, ``n`` draws)."""
    eta = torch.rand((n, 6), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return float(torch.exp(log_factor(eta, settings)).mean())
