r"""Binned distances between event sets: the chi2 per bin of the training monitor and the target of
the ``histogram`` mode (the seed study's "surrogate mapping to a histogramming-based distance").

Bins: equal-probability bins of each marginal of the observed set (:func:`chi2_edges`). Between
samples :math:`a` (:math:`N_a` events) and :math:`b` (:math:`N_b`) with counts :math:`n_a, n_b` per bin,

.. math:: \chi^2 = \sum_\text{bins} \frac{(\sqrt{N_b/N_a}\,n_a - \sqrt{N_a/N_b}\,n_b)^2}{n_a + n_b}

(:func:`two_sample_chi2`, divided by the number of bins: about :math:`(K-1)/K` for one distribution).
For a set simulated at :math:`\eta` against the observed set it grows like
:math:`\frac{N_a}{N_a + N_b}\,(-2\Delta\log L)` of the binned likelihood, so the histogram mode's
target (:class:`HistogramDistance`) adds the normalization measurement on the same scale,

.. math:: t(\eta) = \frac{1}{K_\text{tot}}\Big[\chi^2_\text{total} + \frac{N_a}{N_a + N_b}\sum_T z_f^2\Big],

:math:`z_f` the simulated normalization in units of its uncertainty around the observed value
(the encoded feature of :class:`~pdfinfer.adversarial.sets.SetEncoder`). Its minimizer over
:math:`\eta` is a binned maximum-likelihood estimate; it does not depend on any discriminator.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pdfinfer.adversarial.losses import SetBatch

#: Equal-probability bins per event feature of the logged chi2/bins.
CHI2_BINS = 20


def chi2_edges(events: torch.Tensor, bins: int = CHI2_BINS) -> torch.Tensor:
    """Interior edges ``(F, bins - 1)`` of equal-probability bins of each feature of ``events`` ``(N, F)``."""
    q = torch.linspace(0, 1, bins + 1, dtype=torch.float64, device=events.device)[1:-1]
    return torch.quantile(events.double(), q, dim=0).T.contiguous()


def bin_counts(events: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Counts ``(F, K)`` of ``events`` ``(N, F)`` in each feature's bins (interior edges ``(F, K - 1)``)."""
    k = edges.shape[1] + 1
    return torch.stack(
        [torch.bincount(torch.bucketize(events[:, f].contiguous(), edges[f]), minlength=k) for f in range(edges.shape[0])]
    ).double()


def chi2_from_counts(na: torch.Tensor, nb: torch.Tensor, n_a: int, n_b: int) -> float:
    """The two-sample chi2 per bin from counts ``(F, K)`` of samples of sizes ``n_a`` and ``n_b``."""
    ra, rb = math.sqrt(n_b / n_a), math.sqrt(n_a / n_b)
    both = (na + nb) > 0
    return float(((ra * na - rb * nb)[both] ** 2 / (na + nb)[both]).sum()) / na.numel()


def two_sample_chi2(a: torch.Tensor, b: torch.Tensor, edges: torch.Tensor) -> float:
    """Binned chi2 per bin between event samples ``a`` ``(N_a, F)`` and ``b`` ``(N_b, F)`` on each
    feature's bins (interior edges ``(F, K - 1)``); see the module docstring."""
    return chi2_from_counts(bin_counts(a, edges), bin_counts(b, edges), a.shape[0], b.shape[0])


class HistogramDistance(nn.Module):
    """The histogram mode's target ``t`` ``(B,)`` of fake sets ``(B, N_a, F)`` (normalization ``(B, T)``)
    against the whole observed set ``(N_b, F)`` on ``bins`` equal-probability bins per feature."""

    def __init__(self, observed: torch.Tensor, bins: int) -> None:
        super().__init__()
        self.edges = chi2_edges(observed, bins)
        self.observed_counts = bin_counts(observed.double(), self.edges)
        self.n_obs = int(observed.shape[0])

    def forward(self, fake: SetBatch) -> torch.Tensor:
        n_a = fake.events.shape[1]
        chi2 = [chi2_from_counts(bin_counts(x.double(), self.edges), self.observed_counts, n_a, self.n_obs) for x in fake.events]
        value = torch.tensor(chi2, dtype=torch.float64, device=fake.events.device)
        if fake.norm is not None:
            value = value + n_a / (n_a + self.n_obs) * fake.norm.double().pow(2).sum(-1) / self.observed_counts.numel()
        return value
