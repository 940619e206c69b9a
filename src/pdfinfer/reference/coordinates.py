r"""Sampling coordinates for the referee's ensemble sampler: the box itself, or one that straightens the normalization ridge.

Both theories' integrated cross sections are linear in the two normalizations (their lower
bounds are 0, so :math:`N = 3\eta_N`): with the four shape parameters :math:`s = (a_u, b_u, a_d, b_d)`,

.. math:: Z_t(\eta) = \eta_{N_u} A_t(s) + \eta_{N_d} B_t(s), \qquad t = 1, 2,

:math:`A_t(s) = Z_t(\eta_{N_u}{=}1, \eta_{N_d}{=}0, s)` and :math:`B_t` likewise. The
:class:`NormalizationCoordinates` sample :math:`y = (\log Z_1, \log Z_2, s)` instead of
:math:`\eta`. Back in the box, :math:`(\eta_{N_u}, \eta_{N_d}) = M(s)^{-1} Z` with
:math:`M = [A\ B]` (a 2x2 solve), and the target density picks up the Jacobian

.. math:: \log \pi_y(y) = \log \pi(\eta(y) \mid x) + \log \frac{Z_1 Z_2}{|\det M(s)|},

with :math:`-\infty` where :math:`\eta(y)` leaves the box. Why: with the normalization observable
on, :math:`Z` is measured to ``rel_unc`` and the events fix the shapes, so in :math:`\eta` the
posterior is a thin curved surface (:math:`N_u` against :math:`a_u, b_u`, :math:`N_d` against
:math:`a_d, b_d`), which differential-evolution moves cross slowly (dis, tiny: integrated
autocorrelation time ~190 steps, acceptance 0.12); in :math:`y` it is close to a product of a
narrow Gaussian in :math:`\log Z` and the shape posterior (~23 steps, acceptance 0.32). With the
normalization off the flat overall scale becomes :math:`\log Z_1 + \log Z_2`, but it meets a
shape-dependent box edge there, so ``"auto"`` (the default) keeps the box for that case
(:func:`make_coordinates`). The likelihood uses :math:`Z = e^{y_{1,2}}`
directly (:meth:`~pdfinfer.reference.likelihood.LogPosterior.torch_log_prob`'s ``log_z``), so
the extra cost is one normalizer evaluation of two basis rows per row.

:class:`BoxCoordinates` is the identity (:math:`y = \eta`), for posteriors that have no theory
(e.g. NLE's learned likelihood).
"""

from __future__ import annotations

import numpy as np
import torch

from pdfinfer.errors import ConfigError
from pdfinfer.reference.likelihood import LogPosterior

NORMS = (0, 3)  # N_u, N_d in the parameter order (N_u, a_u, b_u, N_d, a_d, b_d)
SHAPES = (1, 2, 4, 5)


class BoxCoordinates:
    """Identity coordinates: the sampler moves in the box, ``y = eta`` ``(B, D)``."""

    name = "box"

    def __init__(self, posterior) -> None:
        self.posterior = posterior

    def to_y(self, eta: np.ndarray) -> np.ndarray:
        return np.asarray(eta, dtype=np.float64)

    def to_eta(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64)

    def log_jacobian(self, y: np.ndarray) -> np.ndarray:
        """``log|d eta / d y|`` ``(B,)``: zero."""
        return np.zeros(len(np.atleast_2d(y)))

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return self.posterior(y)


class NormalizationCoordinates:
    """``y = (log Z_1, log Z_2, a_u, b_u, a_d, b_d)`` for a :class:`LogPosterior` of a two-target theory."""

    name = "normalization"

    def __init__(self, posterior: LogPosterior) -> None:
        theory = getattr(posterior, "theory", None)
        if theory is None or theory.n_targets != 2 or posterior.dim != 6:
            raise ConfigError(
                "reference.emcee.coordinates 'normalization' needs the full 6-parameter posterior of a two-target theory"
            )
        self.posterior = posterior
        self.theory = theory
        self.device = posterior.device

    def _basis(self, shapes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``A(s)``, ``B(s)``: the normalizers ``(B, 2)`` at unit ``eta_N_u`` / unit ``eta_N_d``."""
        rows = torch.zeros(2 * len(shapes), 6, dtype=torch.float64, device=self.device)
        rows[:, SHAPES] = shapes.repeat(2, 1)
        rows[: len(shapes), NORMS[0]] = 1.0
        rows[len(shapes) :, NORMS[1]] = 1.0
        z = self.theory.normalizers(rows)
        return z[: len(shapes)], z[len(shapes) :]

    def to_y(self, eta: np.ndarray) -> np.ndarray:
        """``(B, 6)`` box rows -> ``(B, 6)`` coordinates (both normalizations must not vanish together)."""
        eta = np.atleast_2d(np.asarray(eta, dtype=np.float64))
        with torch.no_grad():
            z = self.theory.normalizers(torch.as_tensor(eta, device=self.device)).cpu().numpy()
        return np.concatenate([np.log(z), eta[:, SHAPES]], axis=1)

    def _solve(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box rows ``(B, 6)`` and ``log|d eta / d y|`` ``(B,)`` of coordinates ``(B, 6)`` whose shapes are in ``[0, 1]``."""
        a, b = self._basis(y[:, 2:])
        z = torch.exp(y[:, :2])
        det = a[:, 0] * b[:, 1] - b[:, 0] * a[:, 1]
        eta = torch.empty_like(y)
        eta[:, SHAPES] = y[:, 2:]
        eta[:, NORMS[0]] = (z[:, 0] * b[:, 1] - b[:, 0] * z[:, 1]) / det
        eta[:, NORMS[1]] = (a[:, 0] * z[:, 1] - z[:, 0] * a[:, 1]) / det
        return eta, y[:, 0] + y[:, 1] - torch.log(torch.abs(det))

    def to_eta(self, y: np.ndarray) -> np.ndarray:
        """``(*, 6)`` coordinates -> box rows ``(*, 6)`` (NaN where the shapes leave ``[0, 1]``)."""
        y = np.asarray(y, dtype=np.float64)
        flat = y.reshape(-1, 6)
        out = np.full_like(flat, np.nan)
        inside = np.all((flat[:, 2:] >= 0.0) & (flat[:, 2:] <= 1.0), axis=1)
        if inside.any():
            with torch.no_grad():
                out[inside] = self._solve(torch.as_tensor(flat[inside], device=self.device))[0].cpu().numpy()
        return out.reshape(y.shape)

    def log_jacobian(self, y: np.ndarray) -> np.ndarray:
        """``log|d eta / d y|`` ``(B,)`` of coordinates ``(B, 6)`` whose shapes are in ``[0, 1]``."""
        with torch.no_grad():
            rows = torch.as_tensor(np.atleast_2d(np.asarray(y, dtype=np.float64)), device=self.device)
            return self._solve(rows)[1].cpu().numpy()

    def __call__(self, y: np.ndarray) -> np.ndarray:
        """Log-density ``(B,)`` of coordinates ``(B, 6)`` (Jacobian included); ``-inf`` outside the box."""
        y = np.atleast_2d(np.asarray(y, dtype=np.float64))
        out = np.full(len(y), -np.inf)
        inside = np.all((y[:, 2:] >= 0.0) & (y[:, 2:] <= 1.0), axis=1) & np.all(np.isfinite(y), axis=1)
        if inside.any():
            with torch.no_grad():
                rows = torch.as_tensor(y[inside], device=self.device)
                eta, log_jac = self._solve(rows)
                in_box = torch.all((eta >= 0.0) & (eta <= 1.0), dim=1)
                values = torch.full_like(log_jac, -torch.inf)
                if bool(in_box.any()):
                    values[in_box] = self.posterior.torch_log_prob(eta[in_box], log_z=rows[in_box, :2]) + log_jac[in_box]
            out[inside] = np.where(np.isfinite(values.cpu().numpy()), values.cpu().numpy(), -np.inf)
        self.posterior.n_calls += 1
        return out


COORDINATES = {"box": BoxCoordinates, "normalization": NormalizationCoordinates}


def make_coordinates(name: str, posterior):
    """The coordinates named ``name`` (``reference.emcee.coordinates``) around ``posterior``.

    ``"auto"``: :class:`NormalizationCoordinates` when the posterior includes the normalization
    observable, else :class:`BoxCoordinates` (on the normalization-off ridge the box mixes better:
    dis, tiny, integrated autocorrelation time ~55 steps in the box against ~85 in ``y``, where the
    flat overall scale meets a shape-dependent box edge with the density :math:`Z_1 Z_2` rising towards it).
    A posterior without a theory to map through (``theory`` None, e.g. an NLE posterior built
    without one) gets the box under ``"auto"``.
    """
    if name == "auto":
        theory = getattr(posterior, "theory", None)
        ridge = getattr(posterior, "norm", None) is not None and posterior.dim == 6
        name = "normalization" if ridge and theory is not None and theory.n_targets == 2 else "box"
    return COORDINATES[name](posterior)
