r"""Real and fake event sets as the discriminator sees them.

Events are standardized with statistics of the observed set: features flagged by
``theory.log_features`` are logged first, then each feature :math:`f` becomes
:math:`(f - \bar f_{obs}) / s_{obs}`. The normalization observable :math:`z` (one value per
target) enters as :math:`\operatorname{asinh}\big((\log z - \log z_{obs}) / r\big)`: in units of its
relative uncertainty :math:`r` near the observed value, compressed logarithmically far from it so
that the prior's wide range of cross sections does not swamp the network.

* **Real sets**: random subsets (without replacement) of ``n_events`` rows of the observed set,
  with the observed normalization.
* **Fake sets**: ``n_events`` events simulated at each generated parameter vector, with their own
  normalization measurement :math:`z = Z(\eta)(1 + r\epsilon)`. With ``differentiable=True``
  the events come from the inverse-CDF sampler at fixed uniforms and :math:`\epsilon` is fixed,
  so both are differentiable in :math:`\eta` (reparameterized mode); otherwise the simulator is
  a black box (no gradient).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pdfinfer.adversarial.losses import SetBatch
from pdfinfer.errors import DataError
from pdfinfer.theory import Theory, log_flagged


class SetEncoder(nn.Module):
    """Standardizes events ``(B, N, F)`` (float64 or float32 in, ``dtype`` out, float32 by default) and
    normalization measurements ``(B, T)`` with the observed set's statistics."""

    def __init__(self, theory: Theory, observed: np.ndarray, observed_norm: np.ndarray | None, rel_unc: float) -> None:
        super().__init__()
        #: dtype of the encoded sets (float64 for gradient checks).
        self.dtype = torch.float32
        observed = np.asarray(observed, dtype=np.float64)
        if observed.ndim != 2 or observed.shape[1] != theory.n_features:
            raise DataError(
                f"observed set: expected events (N, {theory.n_features}) for theory {theory.name!r}, got {observed.shape}"
            )
        if observed.shape[0] < 2:
            raise DataError(f"observed set: need at least 2 events to standardize features, got {observed.shape[0]}")
        log_mask = np.array(theory.log_features, dtype=bool)
        feats = log_flagged(observed, log_mask)
        std = feats.std(axis=0)
        self.register_buffer("log_mask", torch.as_tensor(log_mask))
        self.register_buffer("mean", torch.as_tensor(feats.mean(axis=0)))
        self.register_buffer("scale", torch.as_tensor(np.where(std > 0, std, 1.0)))
        self.n_norm = 0 if observed_norm is None else theory.n_targets
        if observed_norm is not None:
            if rel_unc <= 0:
                raise DataError(
                    f"observed set: the normalization observable needs a positive relative uncertainty, got {rel_unc}"
                )
            self.register_buffer("log_z_obs", torch.log(torch.as_tensor(np.asarray(observed_norm, dtype=np.float64))))
            self.rel_unc = float(rel_unc)

    def events(self, events: torch.Tensor) -> torch.Tensor:
        """``(B, N, F) -> (B, N, F)`` float32."""
        events = events.to(self.mean.dtype)
        feats = log_flagged(events, self.log_mask)
        return ((feats - self.mean) / self.scale).to(self.dtype)

    def norm(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, T) -> (B, T)`` float32."""
        return torch.asinh((torch.log(z.to(self.log_z_obs.dtype)) - self.log_z_obs) / self.rel_unc).to(self.dtype)


class RealSets:
    """Draws batches of random subsets of the (standardized) observed set."""

    def __init__(self, encoder: SetEncoder, observed: np.ndarray, observed_norm: np.ndarray | None, device: torch.device) -> None:
        events = torch.as_tensor(np.asarray(observed, dtype=np.float64), device=device)
        self.events = encoder.events(events[None])[0]  # (N_obs, F)
        self.norm = None
        if observed_norm is not None:
            self.norm = encoder.norm(torch.as_tensor(np.asarray(observed_norm, dtype=np.float64), device=device)[None])  # (1, T)

    @property
    def n_obs(self) -> int:
        return int(self.events.shape[0])

    def draw(self, batch: int, n_events: int, generator: torch.Generator) -> SetBatch:
        """``batch`` subsets of ``n_events`` rows: events ``(batch, n_events, F)``."""
        rows = torch.stack(
            [torch.randperm(self.n_obs, generator=generator, device=self.events.device)[:n_events] for _ in range(batch)]
        )
        norm = None if self.norm is None else self.norm.expand(batch, -1)
        return SetBatch(self.events[rows], norm)


def simulate_sets(
    theory: Theory,
    encoder: SetEncoder,
    eta: torch.Tensor,
    n_events: int,
    generator: torch.Generator,
    differentiable: bool = False,
) -> SetBatch:
    """Fake sets: ``n_events`` events at each row of ``eta`` ``(B, 6)``, standardized.

    With ``differentiable`` the result carries gradients to ``eta`` (reparameterized sampler);
    otherwise ``eta`` is detached and the simulator is used as a black box.
    """
    eta = eta.to(torch.float64)
    device = generator.device
    if differentiable:
        uniforms = theory.draw_uniforms(eta.shape[0], n_events, generator, device)
        events = theory.sample_reparam(eta, uniforms)
    else:
        eta = eta.detach()
        events = theory.sample(eta, n_events, generator=generator, dtype=torch.float64)
    norm = None
    if encoder.n_norm:
        if differentiable:
            eps = torch.randn((eta.shape[0], theory.n_targets), generator=generator, dtype=torch.float64, device=device)
            z = theory.normalizers(eta) * (1.0 + encoder.rel_unc * eps)
        else:
            z = theory.sample_norm(eta, encoder.rel_unc, generator=generator)
        norm = encoder.norm(z.clamp_min(torch.finfo(torch.float64).tiny))
    return SetBatch(encoder.events(events), norm)


def simulate_common(
    theory: Theory, encoder: SetEncoder, eta: torch.Tensor, n_events: int, generator: torch.Generator
) -> SetBatch:
    """Fake sets ``(B, n_events, F)`` at each row of ``eta`` ``(B, 6)``, every row from the same random numbers.

    Common random numbers: the simulator runs once per row, as a black box (``sample`` only), each time
    from the same state of ``generator``, as a simulator run with one seed at ``B`` parameter points. The
    sets then differ through their parameters only, which is what a comparison of their losses measures.
    """
    state = generator.get_state()
    parts = []
    for row in eta:
        generator.set_state(state)
        parts.append(simulate_sets(theory, encoder, row[None], n_events, generator))
    norm = None if parts[0].norm is None else torch.cat([part.norm for part in parts])
    return SetBatch(torch.cat([part.events for part in parts]), norm)
