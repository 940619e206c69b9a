r"""The six PDF parameters, their prior box and the reference truth.

Physical parameters :math:`\theta = (N_u, a_u, b_u, N_d, a_d, b_d)` enter

.. math:: u(x) = N_u x^{a_u} (1-x)^{b_u}, \qquad d(x) = N_d x^{a_d} (1-x)^{b_d}.

Networks and files use normalized parameters :math:`\eta \in [0, 1]^6`,

.. math:: \theta = \theta_{min} + \eta\,(\theta_{max} - \theta_{min}),

and the prior is uniform on that box. Physical values are for people (plots, tables).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from pdfinfer.errors import ParameterError

if TYPE_CHECKING:
    import torch

PARAM_NAMES: tuple[str, ...] = ("N_u", "a_u", "b_u", "N_d", "a_d", "b_d")
PARAM_LABELS: tuple[str, ...] = (r"$N_u$", r"$a_u$", r"$b_u$", r"$N_d$", r"$a_d$", r"$b_d$")
N_PARAMS = 6

THETA_MIN = np.array([0.0, -1.0, 0.0, 0.0, -1.0, 0.0])
THETA_MAX = np.array([3.0, 1.0, 5.0, 3.0, 1.0, 5.0])
#: Width of the prior box per parameter (physical units per normalized unit).
WIDTHS = THETA_MAX - THETA_MIN

#: Reference truth, normalized (the QuantOm toolkit's eta*).
TRUTH = np.array([0.72916667, 0.25, 0.6, 0.36458333, 0.25, 0.8])
#: Reference truth in physical units, theta* = (2.1875, -0.5, 3.0, 1.09375, -0.5, 4.0).
TRUTH_PHYSICAL = np.array([2.1875, -0.5, 3.0, 1.09375, -0.5, 4.0])

Array = TypeVar("Array", np.ndarray, "torch.Tensor")


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch (jobs that never use it stay light)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _bounds_like(x: Array) -> tuple[Array, Array]:
    if is_tensor(x):
        import torch

        dtype = x.dtype if x.is_floating_point() else torch.float64
        lo = torch.as_tensor(THETA_MIN, dtype=dtype, device=x.device)
        hi = torch.as_tensor(THETA_MAX, dtype=dtype, device=x.device)
        return lo, hi
    return THETA_MIN, THETA_MAX


def to_physical(eta: Array) -> Array:
    """Map normalized parameters ``(*, 6)`` to physical ones ``(*, 6)`` (numpy or torch)."""
    lo, hi = _bounds_like(eta)
    return lo + eta * (hi - lo)


def to_normalized(theta: Array) -> Array:
    """Map physical parameters ``(*, 6)`` to normalized ones ``(*, 6)`` (numpy or torch)."""
    lo, hi = _bounds_like(theta)
    return (theta - lo) / (hi - lo)


def check_params(eta: Array, where: str = "parameters", atol: float = 1e-9) -> Array:
    """Check that ``eta`` has shape ``(*, 6)``, is finite and lies in the prior box.

    Raises :class:`ParameterError` naming ``where`` and the first offending entry.
    """
    shape = tuple(eta.shape)
    if len(shape) == 0 or shape[-1] != N_PARAMS:
        raise ParameterError(f"{where}: expected shape (..., {N_PARAMS}) of normalized parameters, got {shape}")
    values = eta.detach().cpu().numpy() if is_tensor(eta) else np.asarray(eta)
    bad = ~np.isfinite(values) | (values < -atol) | (values > 1 + atol)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        name = PARAM_NAMES[index[-1]]
        raise ParameterError(
            f"{where}: normalized {name} = {float(values[index]):.6g} at index {index} is outside the prior box [0, 1] "
            f"(physical range [{THETA_MIN[index[-1]]}, {THETA_MAX[index[-1]]}])"
        )
    return eta
