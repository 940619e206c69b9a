r"""The learned likelihoods of NLE: per-event :math:`q_\psi(x \mid \eta)` and :math:`q_\phi(z \mid \eta)`.

**Per-event density.** An event :math:`x \in \mathcal X \subset \mathbb R^F` (the theory's support)
is mapped to :math:`y = T(x) \in \mathbb R^F` by a fixed bijection (:class:`EventTransform`):
each target's Bjorken :math:`x`, bounded to :math:`(x_{lo}, x_{hi})`, by a logit
:math:`\log t - \log(1 - t)`, :math:`t = (x - x_{lo}) / (x_{hi} - x_{lo})`; the features the theory
flags (:func:`pdfinfer.theory.log_flagged`, e.g. :math:`Q^2`) by a log; then every feature is
standardized with the training statistics. An ``sbi`` flow (``nsf`` or ``maf``, built by
:func:`sbi.neural_nets.likelihood_nn`) models :math:`y` given :math:`\eta`, and

.. math:: \log q(x \mid \eta) = \log q_{\text{flow}}(T(x) \mid \eta) + \log \lvert \det \partial T / \partial x \rvert,

a density of the ORIGINAL features: it integrates to 1 over :math:`\mathcal X` (the logit maps the
x-range onto the real line, so no mass is lost outside it; ``tests/test_nle.py`` checks it by
quadrature).

**Normalization observable.** :math:`q_\phi(z \mid \eta)` (:class:`NormLikelihood`) is a Gaussian
on :math:`s = (\log z - m) / s_0` (per target, standardized) with mean and log-standard deviation
from a small MLP of :math:`\eta`, including the Jacobian :math:`-\sum_t \log(s_{0,t} z_t)`. It is
learned from the shards' :math:`(\eta, z)` pairs; the exact :math:`Z(\eta)` formula is never used.

A saved model (``likelihood.pt``) is a plain dictionary (the state dict on CPU, the settings that
rebuild the architecture, the ``spec`` of the data it was trained on, the history and versions);
it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import sbi
import torch
from sbi.neural_nets import likelihood_nn
from torch import nn

from pdfinfer import __version__
from pdfinfer.errors import DataError
from pdfinfer.io import atomic_path

log = logging.getLogger("pdfinfer.nle")

MODEL_FORMAT = "pdfinfer-nle"
MODEL_FORMAT_VERSION = 1
#: Logit inputs are kept this far inside (0, 1) (events clamped onto the support's edge).
LOGIT_EPS = 1e-12


def quiet_library_warnings() -> None:
    """Silence nflows' harmless deprecation warning of ``torch.triangular_solve`` (fills every log)."""
    warnings.filterwarnings("ignore", message=r"torch\.triangular_solve is deprecated", category=UserWarning)


class EventTransform(nn.Module):
    """Fixed bijection ``T`` from the support to ``R^F``: logit (bounded), log (flagged), standardize.

    Args:
        lower, upper: ``(F,)`` bounds of the bounded features (ignored elsewhere).
        bounded, logged: ``(F,)`` flags; a feature is at most one of them.
        mean, std: ``(F,)`` statistics of the transformed training features (set by :meth:`fit`).
    """

    def __init__(self, lower: Sequence[float], upper: Sequence[float], bounded: Sequence[bool], logged: Sequence[bool]) -> None:
        super().__init__()
        f = len(bounded)
        self.register_buffer("lower", torch.as_tensor(lower, dtype=torch.float64))
        self.register_buffer("upper", torch.as_tensor(upper, dtype=torch.float64))
        self.register_buffer("bounded", torch.as_tensor(bounded, dtype=torch.bool))
        self.register_buffer("logged", torch.as_tensor(logged, dtype=torch.bool) & ~self.bounded)
        self.register_buffer("mean", torch.zeros(f, dtype=torch.float64))
        self.register_buffer("std", torch.ones(f, dtype=torch.float64))

    def unscaled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logit/log step only: ``(*, F) -> (*, F)`` and its log-Jacobian ``(*,)`` (float64)."""
        x = x.to(torch.float64)
        t = ((x - self.lower) / (self.upper - self.lower)).clamp(LOGIT_EPS, 1 - LOGIT_EPS)
        safe = torch.where(self.logged, x.clamp_min(1e-300), torch.ones_like(x))
        y = torch.where(self.bounded, torch.log(t) - torch.log1p(-t), torch.where(self.logged, torch.log(safe), x))
        jac = torch.where(
            self.bounded,
            -torch.log(self.upper - self.lower) - torch.log(t) - torch.log1p(-t),
            torch.where(self.logged, -torch.log(safe), torch.zeros_like(x)),
        )
        return y, jac.sum(-1)

    def fit(self, x: torch.Tensor) -> None:
        """Set ``mean`` and ``std`` from training events ``(M, F)``."""
        y, _ = self.unscaled(x)
        self.mean.copy_(y.mean(0))
        self.std.copy_(y.std(0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``y = T(x)`` ``(*, F)`` float64 and ``log |det dT/dx|`` ``(*,)``."""
        y, jac = self.unscaled(x)
        return (y - self.mean) / self.std, jac - torch.log(self.std).sum()


class EventLikelihood(nn.Module):
    """``log q(x | eta)`` of single events: ``transform`` then the ``sbi`` flow ``flow``."""

    def __init__(self, transform: EventTransform, flow: nn.Module) -> None:
        super().__init__()
        self.transform = transform
        self.flow = flow

    def flow_log_prob(self, y: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        """Flow density of transformed events ``y`` ``(M, F)`` at ``eta`` ``(M, D)``; ``(M,)`` float64."""
        return self.flow.log_prob(y.float()[None], eta.float())[0].to(torch.float64)

    def forward(self, x: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        """``log q(x_m | eta_m)`` for pairs ``x`` ``(M, F)``, ``eta`` ``(M, D)``: ``(M,)`` float64."""
        y, jac = self.transform(x)
        return self.flow_log_prob(y, eta) + jac


class NormLikelihood(nn.Module):
    """``log q(z | eta)``: a Gaussian on standardized ``log z`` ``(T,)`` with mean and scale from an MLP of ``eta``."""

    def __init__(self, n_params: int, n_norm: int, hidden: int, layers: int) -> None:
        super().__init__()
        widths = [n_params] + [hidden] * layers
        body: list[nn.Module] = []
        for a, b in itertools.pairwise(widths):
            body += [nn.Linear(a, b), nn.SiLU()]
        self.net = nn.Sequential(*body, nn.Linear(widths[-1], 2 * n_norm))
        self.register_buffer("log_mean", torch.zeros(n_norm, dtype=torch.float64))
        self.register_buffer("log_std", torch.ones(n_norm, dtype=torch.float64))

    def fit(self, z: torch.Tensor) -> None:
        """Set the standardization of ``log z`` from training values ``(M, T)``."""
        lz = torch.log(z.to(torch.float64).clamp_min(1e-300))
        self.log_mean.copy_(lz.mean(0))
        self.log_std.copy_(lz.std(0).clamp_min(1e-6))

    def forward(self, z: torch.Tensor, eta: torch.Tensor) -> torch.Tensor:
        """``log q(z | eta)`` for ``z`` ``(B or 1, T)`` and ``eta`` ``(B, D)``: ``(B,)`` float64."""
        z = z.to(torch.float64).clamp_min(1e-300)
        s = (torch.log(z) - self.log_mean) / self.log_std
        mu, log_sigma = self.net(2.0 * eta.float() - 1.0).to(torch.float64).chunk(2, dim=-1)
        resid = (s - mu) * torch.exp(-log_sigma)
        per_target = -0.5 * resid**2 - log_sigma - 0.5 * math.log(2 * math.pi) - torch.log(self.log_std) - torch.log(z)
        return per_target.sum(-1)


class NLEModel(nn.Module):
    """The two learned likelihoods of one training run (``norm`` is ``None`` when it is off)."""

    def __init__(self, events: EventLikelihood, norm: NormLikelihood | None) -> None:
        super().__init__()
        self.events = events
        self.norm = norm


def build_flow(settings: Mapping[str, Any], eta: torch.Tensor, y: torch.Tensor) -> nn.Module:
    """``sbi`` flow ``q(y | eta)`` sized from a batch ``eta`` ``(S, D)``, ``y`` ``(S, F)`` (z-scores ``eta`` with it)."""
    build = likelihood_nn(
        model=settings["flow"],
        z_score_theta="independent",
        z_score_x="none",  # EventTransform standardizes (and logit/log-transforms) the events itself
        hidden_features=settings["hidden_features"],
        num_transforms=settings["num_transforms"],
        num_bins=settings["num_bins"],
    )
    return build(eta.float().cpu(), y.float().cpu())


def build_model(
    settings: Mapping[str, Any], spec: Mapping[str, Any], eta: torch.Tensor | None = None, x: torch.Tensor | None = None
) -> NLEModel:
    """The model for ``settings`` (:class:`~pdfinfer.nle.settings.NLESettings` as a dict) and data ``spec``.

    With training pairs ``eta`` ``(S, D)``, ``x`` ``(S, F)`` the standardizations are fitted to them;
    without, placeholders are used, right only when a state dict is loaded afterwards.
    """
    transform = EventTransform(spec["lower"], spec["upper"], spec["bounded"], spec["logged"])
    d, f = int(spec["n_params"]), int(spec["n_features"])
    if eta is None or x is None:
        eta = torch.rand(16, d, generator=torch.Generator().manual_seed(0))
        y = torch.randn(16, f, generator=torch.Generator().manual_seed(1))
    else:
        transform.fit(x)
        y = transform(x)[0]
    norm = None
    if spec["n_norm"]:
        n = settings["norm"]
        norm = NormLikelihood(d, int(spec["n_norm"]), n["hidden"], n["layers"])
    return NLEModel(EventLikelihood(transform, build_flow(settings, eta, y)), norm)


def versions() -> dict[str, str]:
    """Package versions recorded in saved models."""
    return {"sbi": str(sbi.__version__), "torch": str(torch.__version__), "pdfinfer": str(__version__)}


def save_model(
    path: str | os.PathLike[str],
    model: NLEModel,
    settings: Mapping[str, Any],
    spec: Mapping[str, Any],
    history: Mapping[str, Any],
) -> None:
    """Write the model's CPU state dict with ``settings``, data ``spec``, ``history`` and versions, atomically."""
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "settings": dict(settings),
        "spec": dict(spec),
        "history": dict(history),
        "versions": versions(),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The raw saved dictionary (on CPU), with a one-line :class:`DataError` for anything wrong."""
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (torch raises several types for corrupt or foreign files)
        first = str(err).splitlines()[0] if str(err) else ""
        raise DataError(f"{path}: not a readable NLE model ({type(err).__name__}: {first})") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise DataError(f"{path}: not a pdfinfer NLE model (written by pdfinfer.nle.train?)")
    if payload.get("format_version") != MODEL_FORMAT_VERSION:
        raise DataError(
            f"{path}: NLE model format version {payload.get('format_version')} is not supported (this pdfinfer reads {MODEL_FORMAT_VERSION})"
        )
    return payload


def check_compatible(
    path: str | os.PathLike[str], spec: Mapping[str, Any], theory: Mapping[str, Any], n_features: int, use_norm: bool
) -> None:
    """Refuse (one line naming ``path``) a model trained on another theory, feature width or normalization flag."""
    if dict(spec["theory"]) != dict(theory) or int(spec["n_features"]) != int(n_features):
        raise DataError(
            f"{path}: NLE model trained for theory {spec['theory']} with {spec['n_features']} event features, "
            f"but the observed set has theory {dict(theory)} with {n_features}; retrain it on matching shards"
        )
    if bool(spec["n_norm"]) != bool(use_norm):
        trained = "on" if spec["n_norm"] else "off"
        raise DataError(
            f"{path}: NLE model trained with the normalization observable {trained}, but it is {'on' if use_norm else 'off'} here; retrain"
        )


def load_model(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> tuple[NLEModel, dict[str, Any]]:
    """Rebuild a saved model on ``device`` (eval mode); returns ``(model, payload)``."""
    payload = read_model(path)
    if payload["versions"].get("sbi") != sbi.__version__:
        log.warning("%s was trained with sbi %s, loading with sbi %s", path, payload["versions"].get("sbi"), sbi.__version__)
    model = build_model(payload["settings"], payload["spec"])
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise DataError(
            f"{path}: the saved weights do not fit the architecture in its settings: {str(err).splitlines()[0]}"
        ) from None
    return model.to(device).eval(), payload
