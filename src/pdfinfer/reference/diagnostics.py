r"""Convergence diagnostics of MCMC chains: rank-normalized split R-hat, bulk and tail ESS.

Follows Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), *Rank-normalization, folding, and
localization: an improved R-hat*. For draws :math:`\theta_{mn}` of :math:`M` chains of length
:math:`N`, each chain is split in halves (so :math:`2M` chains of :math:`N/2`), the pooled draws
are replaced by their normal scores :math:`z = \Phi^{-1}((r - 3/8) / (S + 1/4))` (rank :math:`r`
among all :math:`S` draws), and

.. math::
    W = \frac{1}{M}\sum_m s_m^2, \qquad
    \widehat{\mathrm{var}}^+ = \frac{N-1}{N} W + \frac{1}{N}B, \qquad
    \hat R = \sqrt{\widehat{\mathrm{var}}^+ / W},

with :math:`B/N` the variance of the chain means. The reported R-hat is the larger of the one on
:math:`z` (location) and the one on the normal scores of :math:`|\theta - \mathrm{median}|`
(scale). The bulk effective sample size is :math:`S / \hat\tau` with

.. math:: \hat\tau = -1 + 2 \sum_{t=0}^{2K+1} \hat\rho_t, \qquad
          \hat\rho_t = 1 - \frac{W - \frac{1}{M}\sum_m \hat\gamma_{m,t}}{\widehat{\mathrm{var}}^+},

truncated by Geyer's initial positive sequence and made monotone (the same estimator as Stan
and ArviZ). The tail ESS is the smaller of the ESS of the indicators
:math:`\mathbb 1[\theta \le q_{0.05}]` and :math:`\mathbb 1[\theta \le q_{0.95}]` on the split chains
(how well the 5% and 95% quantiles are estimated). For an ensemble sampler, :func:`summarize_chains` takes the independent ensembles as
the chains of R-hat (an ensemble's draws pooled step by step, so splitting halves the steps) and
the walkers as the chains of the ESS (the autocorrelation lives along each walker's path).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata


def _as_chains(draws: np.ndarray) -> np.ndarray:
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim != 2 or draws.shape[1] < 4:
        raise ValueError(f"chains must have shape (n_chains, n_draws >= 4), got {draws.shape}")
    return draws


def split_chains(draws: np.ndarray) -> np.ndarray:
    """``(M, N)`` -> ``(2M, N // 2)``: each chain cut into its first and second half (odd middle draw dropped)."""
    draws = _as_chains(draws)
    half = draws.shape[1] // 2
    return np.concatenate([draws[:, :half], draws[:, -half:]], axis=0)


def rank_normalize(draws: np.ndarray) -> np.ndarray:
    """Normal scores of the pooled ranks (average ranks for ties), same shape as ``draws``."""
    ranks = rankdata(draws, method="average").reshape(draws.shape)
    return ndtri((ranks - 0.375) / (draws.size + 0.25))


def _rhat_basic(chains: np.ndarray) -> float:
    n = chains.shape[1]
    within = chains.var(axis=1, ddof=1).mean()
    between_over_n = chains.mean(axis=1).var(ddof=1)
    if within <= 0:
        return float("nan") if between_over_n <= 0 else float("inf")
    var_plus = (n - 1) / n * within + between_over_n
    return float(np.sqrt(var_plus / within))


def split_rhat(draws: np.ndarray) -> float:
    """Rank-normalized split R-hat of one parameter, chains ``(M, N)``: max of bulk and folded."""
    chains = split_chains(draws)
    bulk = _rhat_basic(rank_normalize(chains))
    folded = _rhat_basic(rank_normalize(np.abs(chains - np.median(chains))))
    return max(bulk, folded)


def _autocovariance(chains: np.ndarray) -> np.ndarray:
    """Biased autocovariance of each chain ``(M, N)`` at lags ``0..N-1`` via FFT."""
    n = chains.shape[1]
    centred = chains - chains.mean(axis=1, keepdims=True)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(centred, n=size, axis=1)
    return np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=1)[:, :n] / n


def ess(draws: np.ndarray) -> float:
    """Multi-chain effective sample size of chains ``(M, N)`` (no splitting or ranking)."""
    chains = _as_chains(draws)
    n_chain, n = chains.shape
    acov = _autocovariance(chains)
    mean_var = acov[:, 0].mean() * n / (n - 1.0)  # W
    var_plus = mean_var * (n - 1.0) / n + (chains.mean(axis=1).var(ddof=1) if n_chain > 1 else 0.0)
    if var_plus <= 0:
        return float("nan")
    rho = 1.0 - (mean_var - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    # Geyer's initial positive sequence: sum pairs (rho_2k + rho_2k+1) while positive.
    pair_sums = rho[: n - n % 2].reshape(-1, 2).sum(axis=1)
    positive = np.flatnonzero(pair_sums <= 0)
    n_pairs = int(positive[0]) if positive.size else len(pair_sums)
    pair_sums = pair_sums[:n_pairs]
    # Initial monotone sequence.
    pair_sums = np.minimum.accumulate(pair_sums) if n_pairs else pair_sums
    tau = -1.0 + 2.0 * pair_sums.sum()
    total = n_chain * n
    tau = max(tau, 1.0 / np.log10(total))
    return float(total / tau)


def ess_bulk(draws: np.ndarray) -> float:
    """Rank-normalized split bulk ESS of one parameter, chains ``(M, N)``."""
    return ess(rank_normalize(split_chains(draws)))


def ess_tail(draws: np.ndarray, prob: float = 0.05) -> float:
    """Tail ESS of one parameter, chains ``(M, N)``: min ESS of the ``prob`` and ``1 - prob`` quantile indicators."""
    chains = split_chains(draws)
    values = []
    for q in (prob, 1.0 - prob):
        indicator = (chains <= np.quantile(chains, q)).astype(np.float64)
        values.append(ess(indicator))
    return float(np.nanmin(values)) if not np.all(np.isnan(values)) else float("nan")


def chain_diagnostics(chains: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R-hat, bulk ESS and tail ESS per parameter (three ``(D,)`` arrays) of chains ``(M, N, D)``."""
    chains = np.asarray(chains, dtype=np.float64)
    dim = chains.shape[-1]
    rhat = np.array([split_rhat(chains[:, :, i]) for i in range(dim)])
    bulk = np.array([ess_bulk(chains[:, :, i]) for i in range(dim)])
    tail = np.array([ess_tail(chains[:, :, i]) for i in range(dim)])
    return rhat, bulk, tail


def budget_shortfall(
    names: tuple[str, ...], rhat: np.ndarray, bulk: np.ndarray, tail: np.ndarray, ess_target: float, rhat_max: float
) -> str | None:
    """``None`` when every parameter has R-hat <= ``rhat_max`` and bulk and tail ESS >= ``ess_target``;
    otherwise a short text naming the worst parameter and its figures."""
    ess_min = np.minimum(bulk, tail)
    bad_rhat = np.where(np.isfinite(rhat), rhat, np.inf) > rhat_max
    bad_ess = np.where(np.isfinite(ess_min), ess_min, 0.0) < ess_target
    if not (bad_rhat.any() or bad_ess.any()):
        return None
    worst = (
        int(np.argmax(np.where(np.isfinite(rhat), rhat, np.inf))) if bad_rhat.any() else int(np.argmin(np.nan_to_num(ess_min)))
    )
    return f"{names[worst]} has R-hat {rhat[worst]:.4f} (max {rhat_max}), bulk ESS {bulk[worst]:.0f}, tail ESS {tail[worst]:.0f} (target {ess_target:g})"


def summarize_chains(chain: np.ndarray, n_chains: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R-hat, bulk ESS and tail ESS per parameter of an ensemble run: three ``(D,)`` arrays.

    Args:
        chain: emcee chain ``(n_steps, n_chains * n_walkers, D)``; walkers ``[c W, (c+1) W)``
            form independent ensemble ``c``.
        n_chains: number of independent ensembles.
    """
    chain = np.asarray(chain)
    steps, walkers, dim = chain.shape
    if walkers % n_chains:
        raise ValueError(f"{walkers} walkers cannot be split into {n_chains} ensembles of equal size")
    # (steps, C, W, D) -> per ensemble a step-major sequence of steps * W draws.
    pooled = chain.reshape(steps, n_chains, walkers // n_chains, dim).transpose(1, 0, 2, 3).reshape(n_chains, -1, dim)
    rhat = np.array([split_rhat(pooled[:, :, i]) if n_chains > 1 else split_rhat(chain[:, :, i].T) for i in range(dim)])
    bulk = np.array([ess_bulk(chain[:, :, i].T) for i in range(dim)])
    tail = np.array([ess_tail(chain[:, :, i].T) for i in range(dim)])
    return rhat, bulk, tail
