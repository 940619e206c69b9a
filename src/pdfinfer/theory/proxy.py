r"""The QuantOm proxy theory (the default observation model).

.. math::
    \sigma_p(x) = 4 u(x) + d(x), \qquad \sigma_n(x) = 4 d(x) + u(x), \qquad x \in [0.1, 1).

An event is a pair :math:`(x_p, x_n)` of independent draws from the normalized
:math:`\sigma_p` and :math:`\sigma_n`. The normalizers are
:math:`Z_p = 4 U + D`, :math:`Z_n = 4 D + U` with
:math:`\int_{x_0}^1 x^a (1-x)^b\,dx = B(a+1, b+1)\,(1 - I_{x_0}(a+1, b+1))`; at
:math:`\theta^*`, :math:`Z_p = 3.268460`, :math:`Z_n = 1.872591`.
"""

from __future__ import annotations

from typing import Any

import torch

from pdfinfer.theory.base import Theory, pdf_pair

#: Isospin weights: sigma_t = W[t, 0] u + W[t, 1] d.
PROXY_WEIGHTS = ((4.0, 1.0), (1.0, 4.0))


class ProxyTheory(Theory):
    """Proton-like and neutron-like x-distributions; features ``(x_p, x_n)``."""

    name = "proxy"
    target_names = ("p", "n")
    norm_unit = "arb."

    def __init__(self, x_min: float = 0.1) -> None:
        if not 0.0 < x_min < 1.0:
            raise ValueError(f"proxy theory: x_min must lie in (0, 1), got {x_min}")
        self.x_min = float(x_min)
        super().__init__(self.x_min, 1.0)
        self._weights = torch.tensor(PROXY_WEIGHTS, dtype=torch.float64)

    def settings(self) -> dict[str, Any]:
        return {"x_min": self.x_min}

    def x_density(self, x: torch.Tensor, dist_hi: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        u, d = pdf_pair(x, dist_hi, eta)
        w = self._weights.to(eta.device)
        return w[:, 0, None] * u + w[:, 1, None] * d
