r"""Gradients for the generator when the simulator is a black box (``surrogate`` and ``reinforce``).

The simulator is only *sampled*: events :math:`X \sim p(\cdot\mid\eta)` carry no gradient.

**Surrogate** (local response surface with a trust region; modes ``surrogate`` and
``histogram``, which differ only in the target). Each surrogate step evaluates the target
:math:`\ell` (the per-set loss, or the binned chi2 to the observed set of
:mod:`pdfinfer.adversarial.histogram`) at a local design around the generator's support,
:math:`\tilde\eta = \mathrm{clip}(G(z) + \sigma\xi)`, and appends :math:`(\tilde\eta, \ell)`
(:func:`surrogate_target`) to a FIFO :class:`ReplayBuffer` of the last ``surrogate_buffer``
points. An ensemble of ``K`` surrogates is refitted on bootstrap resamples of the buffer, each
point weighted by its recency :math:`\delta^{\,t - t_i}` (``surrogate_decay``): quadratic
members by weighted least squares in closed form, their Hessian projected onto the convex
cone (:class:`~pdfinfer.adversarial.networks.QuadraticSurrogate`), MLP members by Adam. The
generator minimizes

.. math:: \mathbb E_z\Big[\bar S(G(z)) + \kappa\, \mathrm{sd}_k\, S_k(G(z))\Big],

the disagreement term acting as a soft trust region: where the buffer holds no points the members
extrapolate apart and the penalty grows; a hard one (:class:`LocalDesign`) keeps the generated
parameters within ``surrogate_trust`` design standard deviations of the newest design points,
and the design may be shaped by the members' curvature, wide along a likelihood ridge.

**REINFORCE** (the score-function gradient of adversarial variational optimization, Louppe &
Cranmer 2017, arXiv:1707.07113). For a generator with a tractable density :math:`q_\psi`,

.. math:: \nabla_\psi \mathbb E_{q_\psi}[\ell(\eta)] = \mathbb E_{q_\psi}\big[(\ell(\eta) - b)\,\nabla_\psi \log q_\psi(\eta)\big]

for any baseline :math:`b` independent of :math:`\eta`. With :math:`B` draws, the leave-one-out
mean :math:`b_i = \frac{1}{B-1}\sum_{j\ne i}\ell_j` keeps the estimator unbiased and removes most of
its variance (:func:`score_function_objective`). With ``reinforce_antithetic`` the draws come in
pairs :math:`\mu \pm Lz` (the linear part of the loss cancels within a pair) and each baseline
leaves its own pair out, so the estimator stays unbiased. With ``reinforce_common_noise`` every
draw of a step is simulated from the same random numbers (the black box run with one seed at each
draw's parameters, :func:`~pdfinfer.adversarial.sets.simulate_common`) and compared with the same
real subset: common random numbers. Given that noise the baseline is still independent of each
draw, so the estimator stays unbiased, and the part of the loss's noise shared by the batch cancels
against the baseline (tested on a toy). On the recovery problem it did not help (three seeds each,
benchmarks/README.md), so it is off by default. The set loss is heavy-tailed over a wide
generator (it spans decades over the prior), so the losses may first be shaped
(``reinforce_shaping``): ``asinh`` compresses them monotonically, ``ranks`` replaces them by their
centred ranks in the batch (fitness shaping of evolution strategies; Wierstra et al. 2014). Both
keep the minimizer of a point-mass generator but are no longer unbiased for
:math:`\nabla\mathbb E[\ell]`; ``none`` is the unbiased estimator.
"""

from __future__ import annotations

import torch

from pdfinfer.adversarial.networks import SurrogateEnsemble


class ReplayBuffer:
    """The last ``capacity`` surrogate training points: parameters ``(M, 6)``, targets ``(M,)`` and the
    training step each was evaluated at ``(M,)`` (for the recency weights)."""

    def __init__(self, capacity: int, device: torch.device) -> None:
        self.capacity = int(capacity)
        self.eta = torch.empty((0, 6), dtype=torch.float64, device=device)
        self.target = torch.empty((0,), dtype=torch.float64, device=device)
        self.step = torch.empty((0,), dtype=torch.float64, device=device)

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def add(self, eta: torch.Tensor, target: torch.Tensor, step: int = 0) -> None:
        """Append points ``(P, 6)`` and targets ``(P,)`` of training step ``step``, dropping the oldest beyond the capacity."""
        self.eta = torch.cat([self.eta, eta.detach().double()])[-self.capacity :]
        self.target = torch.cat([self.target, target.detach().double()])[-self.capacity :]
        self.step = torch.cat([self.step, torch.full_like(target.detach().double(), float(step))])[-self.capacity :]

    def weights(self, step: int, decay: float) -> torch.Tensor:
        """Recency weights ``decay ** (step - step_i)`` ``(M,)``: the loss of the adversarial mode drifts
        with the critic, and older points lie farther from the generator's support."""
        return torch.as_tensor(decay, dtype=torch.float64).pow(step - self.step)

    def state(self) -> dict[str, torch.Tensor]:
        return {"eta": self.eta, "target": self.target, "step": self.step}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        device = self.eta.device
        self.eta, self.target, self.step = (state[k].to(device) for k in ("eta", "target", "step"))


def surrogate_target(loss: torch.Tensor, kind: str) -> torch.Tensor:
    """What the members regress ``(P,)``: the loss itself for quadratic members (a smooth loss is
    quadratic near its minimum; a compressed one is not, and a fit to it may turn concave), its
    ``asinh`` for MLP members (the loss spans decades over the prior)."""
    return loss if kind == "quadratic" else torch.asinh(loss)


def fit_surrogates(
    ensemble: SurrogateEnsemble,
    buffer: ReplayBuffer,
    weight: torch.Tensor,
    rng: torch.Generator,
    optimizer: torch.optim.Optimizer | None,
    batch: int,
) -> float:
    """Refit every member on a bootstrap resample of ``buffer`` with the point weights ``(M,)``; the
    weighted mean squared residual of the ensemble mean."""
    n = len(buffer)
    device = buffer.eta.device
    if ensemble.kind == "quadratic":
        for member in ensemble.members:
            counts = torch.bincount(torch.randint(n, (n,), generator=rng, device=device), minlength=n)
            member.fit(buffer.eta, buffer.target, counts * weight)
    else:
        assert optimizer is not None
        rows = torch.multinomial(weight.float().expand(len(ensemble.members), -1), min(batch, n), True, generator=rng)
        pred = torch.stack([m(buffer.eta[r].float()) for m, r in zip(ensemble.members, rows)])
        loss = (pred - buffer.target[rows].float()).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        residual = (ensemble(buffer.eta.float()).mean(0).double() - buffer.target).pow(2)
        return float((weight * residual).sum() / weight.sum())


class LocalDesign:
    r"""Where the target is evaluated: :math:`\tilde\eta = G(z) + L\xi`, :math:`\xi \sim \mathcal N(0, I)`,
    and the trust region of the generator around the newest design points.

    :math:`L L^\top = \sigma^2 I` (``surrogate_noise``; ``surrogate_design: isotropic``). With
    ``curvature`` and quadratic members it follows the inverse of their mean Hessian :math:`H` (in :math:`\eta`): the design is stretched along
    the directions the target hardly changes in (a likelihood ridge) and shrunk along the steep ones,
    each direction's standard deviation clipped to :math:`[\sigma/10, 4\sigma]` around a geometric mean
    of :math:`\sigma`, and smoothed over steps. Trust region: the penalty
    :math:`w\,\mathrm{relu}(\lVert L^{-1}(\eta - c)\rVert/\sqrt 6 - r)^2` (:math:`r` = ``surrogate_trust``,
    :math:`w` = :data:`TRUST_WEIGHT`, :math:`c` the centre of the newest design points) keeps each
    generator update within about :math:`r` design standard deviations of where the target was last evaluated.
    """

    def __init__(self, noise: float, trust: float, device: torch.device, shaped: bool = False) -> None:
        self.noise, self.trust, self.shaped = float(noise), float(trust), bool(shaped)
        self.scale_tril = noise * torch.eye(6, dtype=torch.float64, device=device)
        self.centre: torch.Tensor | None = None

    def sample(self, eta: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """Design points ``(P, 6)`` around generated ``eta`` ``(P, 6)``, inside the prior box."""
        xi = torch.randn(eta.shape, generator=rng, device=eta.device, dtype=torch.float64)
        return (eta.double() + xi @ self.scale_tril.T).clamp(1e-4, 1 - 1e-4).to(eta.dtype)

    def update(self, ensemble: SurrogateEnsemble, buffer: ReplayBuffer, weight: torch.Tensor, smoothing: float = 0.9) -> None:
        """Re-centre on the newest design points; reshape along the quadratic members' mean inverse Hessian."""
        self.centre = buffer.eta[buffer.step == buffer.step.max()].mean(0)
        if not self.shaped or ensemble.kind != "quadratic":
            return
        hessian = torch.stack([m.hessian() / torch.outer(m.spread, m.spread) for m in ensemble.members]).mean(0)
        values, vectors = torch.linalg.eigh(hessian)
        values = values.clamp_min(values.max().clamp_min(1e-12) * 1e-6)
        sd = values.rsqrt()
        sd = (sd * self.noise / sd.log().mean().exp()).clamp(self.noise / 10, 4 * self.noise)
        cov = (vectors * sd**2) @ vectors.T
        old = self.scale_tril @ self.scale_tril.T
        self.scale_tril = torch.linalg.cholesky(smoothing * old + (1 - smoothing) * cov)

    def penalty(self, eta: torch.Tensor) -> torch.Tensor:
        """The trust-region penalty ``(B,)`` of generated ``eta`` ``(B, 6)`` (zero before the first fit or with ``trust = 0``)."""
        if self.centre is None or self.trust <= 0:
            return torch.zeros(eta.shape[0], dtype=eta.dtype, device=eta.device)
        offset = (eta.double() - self.centre).T
        d = torch.linalg.solve_triangular(self.scale_tril, offset, upper=False).T.norm(dim=-1) / 6**0.5
        return (TRUST_WEIGHT * torch.relu(d - self.trust) ** 2).to(eta.dtype)

    def state(self) -> dict[str, torch.Tensor]:
        return {"scale_tril": self.scale_tril, "centre": self.centre if self.centre is not None else torch.empty(0)}

    def load(self, state: dict[str, torch.Tensor]) -> None:
        self.scale_tril = state["scale_tril"].to(self.scale_tril.device)
        centre = state["centre"].to(self.scale_tril.device)
        self.centre = centre if centre.numel() else None


#: Weight of the trust-region penalty (per squared design standard deviation beyond the radius).
TRUST_WEIGHT = 10.0


def surrogate_objective(
    ensemble: SurrogateEnsemble, eta: torch.Tensor, disagreement: float, design: LocalDesign | None = None
) -> torch.Tensor:
    """``mean_b [mean_k S_k(eta_b) + kappa sd_k S_k(eta_b) + trust penalty]`` for generated ``eta`` ``(B, 6)``: a scalar."""
    pred = ensemble(eta)  # (K, B)
    value = pred.mean(0)
    if disagreement > 0 and pred.shape[0] > 1:
        value = value + disagreement * pred.std(0)
    if design is not None:
        value = value + design.penalty(eta)
    return value.mean()


def leave_one_out_baseline(losses: torch.Tensor) -> torch.Tensor:
    """``b_i = mean_{j != i} l_j`` ``(B,)`` of losses ``(B,)`` (B >= 2)."""
    return (losses.sum() - losses) / (losses.shape[0] - 1)


def shape_losses(losses: torch.Tensor, shaping: str) -> torch.Tensor:
    """Losses ``(B,)`` as the estimator weighs them: raw (``none``), ``asinh``, or centred ranks in ``[-1/2, 1/2]``."""
    if shaping == "asinh":
        return torch.asinh(losses)
    if shaping == "ranks":
        ranks = torch.argsort(torch.argsort(losses)).to(losses.dtype)
        return ranks / (losses.shape[0] - 1) - 0.5
    return losses


def leave_one_pair_out_baseline(losses: torch.Tensor) -> torch.Tensor:
    """``b_i`` ``(B,)`` for antithetic pairs ``(i, i + B/2)``: the mean loss of the *other* pairs (B/2 >= 2)."""
    half = losses.shape[0] // 2
    pair = losses[:half] + losses[half:]
    baseline = (pair.sum() - pair) / (2 * (half - 1))
    return torch.cat([baseline, baseline])


def score_function_objective(log_prob: torch.Tensor, losses: torch.Tensor, antithetic: bool = False) -> torch.Tensor:
    """A scalar whose gradient is the REINFORCE estimate of ``grad E_q[l]``.

    ``log_prob`` ``(B,)``: :math:`\\log q_\\psi` of the draws (differentiable in :math:`\\psi`);
    ``losses`` ``(B,)``: their losses (no gradient). Unbiased: each draw's baseline is the mean
    loss of the draws independent of it, the *other* draws (independent draws), or the other pairs
    (``antithetic``: draws ``i`` and ``i + B/2`` share one noise vector with opposite signs).
    """
    losses = losses.detach()
    baseline = leave_one_pair_out_baseline(losses) if antithetic else leave_one_out_baseline(losses)
    return ((losses - baseline) * log_prob).mean()
