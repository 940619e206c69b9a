r"""The outlier model: a fraction :math:`\epsilon` of an observed set's events replaced by outliers.

Given a clean observed set :math:`x_{1..N}` (events ``(N, F)``) and :math:`\epsilon`,
:math:`m = \mathrm{round}(\epsilon N)` positions are chosen uniformly without replacement (the
first :math:`m` of a seeded random permutation) and their events replaced by draws of one kind:

* ``broad``: per target, :math:`x \sim U[x_{lo}, x_{hi})` over the whole support of the theory's
  ``x`` feature (``docs/data-model.md``, ``docs/physics.md``); further features of a target (the
  ``dis`` theory's :math:`Q^2`) come from the theory's parameter-free conditional given ``x``, so
  every outlier lies inside the support;
* ``shifted``: events simulated at a distant point,
  :math:`\eta_{out} = \mathrm{clip}(\eta^* + s\,\mathbf 1, 0, 1)` with the offset :math:`s`
  (``contamination.shift``, normalized units) — a second, mis-modelled source.

The positions and the outlier pool depend only on the seed (not on :math:`\epsilon`), so sets at
increasing :math:`\epsilon` are nested: each contains the outliers of the smaller ones. The
normalization measurement and the true parameters (``params``) stay those of the clean set. At
:math:`\epsilon = 0` the clean set itself is returned, bit for bit.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from pdfinfer.contamination.settings import KINDS
from pdfinfer.errors import ConfigError
from pdfinfer.io import EventSet


def n_outliers(n_events: int, eps: float) -> int:
    """Events replaced in a set of ``n_events`` at fraction ``eps``: ``round(eps * n_events)``."""
    if not 0 <= eps <= 1:
        raise ConfigError(f"contamination fraction eps = {eps!r} must lie in [0, 1]")
    return int(round(eps * n_events))


def shifted_eta(eta: np.ndarray, shift: float) -> np.ndarray:
    """The outliers' parameters ``(6,)``: ``eta + shift`` in every coordinate, clipped to the box."""
    return np.clip(np.asarray(eta, dtype=np.float64) + shift, 0.0, 1.0)


def outlier_events(theory: Any, kind: str, n: int, eta: np.ndarray, shift: float, generator: Any) -> np.ndarray:
    """``n`` outlier events ``(n, F)`` float32 of ``kind`` for a set at ``eta`` ``(6,)`` (torch ``generator``)."""
    import torch

    if kind == "broad":
        u = theory.draw_uniforms(1, n, generator)  # (1, n, T, k)
        x = theory.x_lo + u[..., 0] * (theory.x_hi - theory.x_lo)  # (1, n, T)
        parts = [x.unsqueeze(-1)]
        if theory.draws_per_target > 1:
            parts.append(theory.conditional_sample(u[..., 1:], x))
        events = torch.cat(parts, dim=-1).reshape(1, n, theory.n_features)
        return theory.clamp_to_support(events.to(torch.float32))[0].cpu().numpy()
    if kind == "shifted":
        far = torch.as_tensor(shifted_eta(eta, shift), dtype=torch.float64, device=generator.device)[None]
        return theory.sample(far, n, generator=generator)[0].cpu().numpy()
    raise ConfigError(f"contamination kind {kind!r} is not one of {list(KINDS)}")


def contaminate(observed: EventSet, eps: float, kind: str, seed: int, shift: float = 0.25, device: str = "cpu") -> EventSet:
    """``observed`` (events ``(N, F)``) with ``round(eps * N)`` events replaced by outliers of ``kind``.

    Reproducible for ``seed`` (positions and outliers from one stream); ``eps = 0`` returns
    ``observed`` itself. The result's attributes record ``contamination_kind``,
    ``contamination_eps``, ``contamination_n`` and, for ``shifted``, ``outlier_params``.
    """
    import torch

    from pdfinfer.runtime import make_generator, resolve_device
    from pdfinfer.theory import make_theory

    if observed.batched:
        raise ConfigError(f"{observed.path}: contamination takes one observed set (N, F), got a batch")
    if kind not in KINDS:
        raise ConfigError(f"contamination kind {kind!r} is not one of {list(KINDS)}")
    m = n_outliers(observed.n_events, eps)
    if eps == 0:
        return observed
    theory = make_theory(observed.theory)
    generator = make_generator(seed, resolve_device(device))
    positions = torch.randperm(observed.n_events, generator=generator, device=generator.device)[:m].cpu().numpy()
    pool = outlier_events(theory, kind, observed.n_events, observed.params, shift, generator)
    events = observed.events.copy()
    events[positions] = pool[:m]
    attrs = {**observed.attrs, "contamination_kind": kind, "contamination_eps": float(eps), "contamination_n": m}
    if kind == "shifted":
        attrs["outlier_params"] = shifted_eta(observed.params, shift).tolist()
    return dataclasses.replace(observed, events=events, attrs=attrs, path=f"{observed.path} ({kind} eps={eps:g})")
