r"""The NPE density estimator and its objective: build from settings, save, reload on any device.

Neural posterior estimation fits a conditional density :math:`q_\psi(\eta \mid s(x))` to
prior-predictive pairs :math:`(\eta_i, x_i)`, :math:`\eta_i \sim U[0,1]^6`, by maximum likelihood,

.. math:: \psi^* = \arg\min_\psi\ -\frac1S \sum_{i=1}^S \log q_\psi(\eta_i \mid s(x_i)),

which for a flexible enough :math:`q` and :math:`S \to \infty` gives the Bayesian posterior
:math:`p(\eta \mid x)` for every :math:`x` at once (amortized). :math:`q` is an ``sbi``
normalizing flow (``nsf`` or ``maf``, built by :func:`sbi.neural_nets.posterior_nn`) conditioned
on the permutation-invariant summary :math:`s` of :mod:`pdfinfer.npe.embedding`; the posterior
is ``sbi``'s :class:`~sbi.inference.DirectPosterior` with the prior ``BoxUniform([0,1]^6)``, which
rejects the flow's mass outside the box. With ``logit_transform`` (``nsf``/``maf``) the flow models
:math:`u = \operatorname{logit}\eta` and the density is carried back with the Jacobian
(:class:`BoxLogit`), :math:`\log q(\eta) = \log q_u(u) - \sum_j \log[\eta_j(1-\eta_j)]`: all its mass
lies in the box, and posteriors that reach the box edges (the :math:`N_u`/:math:`N_d` ridge) need no
shape the flow cannot make. :class:`NPELoss` is the objective (lampe's ``NPELoss``).

A saved model (``posterior.pt``) is a plain dictionary: the estimator's ``state_dict`` on CPU, the
method ``settings`` (:class:`~pdfinfer.npe.settings.NPESettings` as a dict), the ``data`` spec
(theory, sizes, the feature standardization fitted on the training data), the training history,
``wall_time_s`` and the ``sbi``/``torch``/``pdfinfer`` versions. It holds no pickled module, so it
loads with ``torch.load(weights_only=True)`` on a CPU-only machine whatever device trained it.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from typing import Any, Protocol

import sbi
import torch
from nflows.transforms import CompositeTransform, Transform
from sbi.inference import DirectPosterior
from sbi.neural_nets import posterior_nn
from sbi.utils import BoxUniform
from torch import nn

from pdfinfer import __version__
from pdfinfer.errors import DataError
from pdfinfer.io import EventSet, atomic_path
from pdfinfer.npe.embedding import SetEmbedding, flatten_observation
from pdfinfer.npe.settings import NPESettings
from pdfinfer.params import N_PARAMS

log = logging.getLogger("pdfinfer.npe")

MODEL_FORMAT = "pdfinfer-npe"


class Architecture(Protocol):
    """What the estimator is built from: :class:`~pdfinfer.npe.settings.NPESettings` or TSNPE's settings."""

    flow: str
    hidden_features: int
    num_transforms: int
    num_bins: int
    embedding: Any


MODEL_FORMAT_VERSION = 3


def quiet_library_warnings() -> None:
    """Silence two harmless warnings that would fill every log: nflows' use of the deprecated
    ``torch.triangular_solve`` and sbi's note that it caps its sampling batch size."""
    warnings.filterwarnings("ignore", message=r"torch\.triangular_solve is deprecated", category=UserWarning)
    warnings.filterwarnings("ignore", message=r"Capping max_sampling_batch_size", category=UserWarning)


class BoxLogit(Transform):
    """nflows transform ``eta (B, 6) in (0, 1)^6 -> logit(eta)`` with its log-determinant ``(B,)``.

    Inputs are clamped into ``[eps, 1 - eps]`` (no error outside the box: sbi evaluates densities
    there and masks them with the prior).
    """

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, inputs: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        eta = inputs.clamp(self.eps, 1.0 - self.eps)
        return torch.log(eta) - torch.log1p(-eta), -(torch.log(eta) + torch.log1p(-eta)).sum(dim=-1)

    def inverse(self, inputs: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        eta = torch.sigmoid(inputs)
        return eta, (torch.nn.functional.logsigmoid(inputs) + torch.nn.functional.logsigmoid(-inputs)).sum(dim=-1)


def logit(eta: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``logit`` of ``eta`` ``(*, 6)`` clamped into ``[eps, 1 - eps]`` (the map of :class:`BoxLogit`)."""
    eta = eta.clamp(eps, 1.0 - eps)
    return torch.log(eta) - torch.log1p(-eta)


def make_prior(device: torch.device | str = "cpu") -> BoxUniform:
    """The prior: uniform on the normalized box ``[0, 1]^6``."""
    return BoxUniform(torch.zeros(N_PARAMS, device=device), torch.ones(N_PARAMS, device=device), device=str(device))


def make_embedding(settings: Architecture, data: Mapping[str, Any]) -> SetEmbedding:
    """The set embedding for ``settings`` and the data spec (sizes, standardization)."""
    return SetEmbedding(
        settings.embedding,
        data["n_events"],
        data["n_features"],
        data["n_norm"],
        data["log_features"],
        data["feature_mean"],
        data["feature_std"],
        data["norm_mean"],
        data["norm_std"],
        x_features=data.get("x_features"),
        x_hi=data.get("x_hi", 1.0),
        moment_mean=data.get("moment_mean"),
        moment_std=data.get("moment_std"),
    )


def build_estimator(
    settings: Architecture, data: Mapping[str, Any], theta: torch.Tensor | None = None, x: torch.Tensor | None = None
) -> nn.Module:
    """``sbi`` conditional flow :math:`q(\\eta \\mid s(x))`.

    ``theta`` ``(B, 6)`` and ``x`` ``(B, N*F + T)`` are a batch of training data: ``sbi`` sizes
    the flow from them and z-scores :math:`\\eta` with their mean and standard deviation (stored
    as buffers, so a rebuilt estimator gets them back from the state dict). Without them, a
    placeholder batch is used, which is right only when a state dict is loaded afterwards.
    """
    embedding = make_embedding(settings, data)
    if theta is None or x is None:
        theta = torch.linspace(0.1, 0.9, 4)[:, None].repeat(1, N_PARAMS)
        x = torch.ones(4, embedding.width)
    build = posterior_nn(
        model=settings.flow,
        z_score_theta="independent",
        z_score_x="none",  # the embedding standardizes events itself (log where flagged)
        hidden_features=settings.hidden_features,
        num_transforms=settings.num_transforms,
        num_bins=settings.num_bins,
        embedding_net=embedding,
    )
    bounded = bool(getattr(settings, "logit_transform", False))
    theta = theta[:4096].float().cpu()  # the z-scoring of eta: its mean and std over up to 4096 sets
    embedding.eval()  # sbi probes the embedding with one set: batch normalization needs eval mode for that
    estimator = build(logit(theta) if bounded else theta, x[:16].float().cpu())
    if bounded:
        if not hasattr(estimator, "net") or not hasattr(estimator.net, "_transform"):
            raise DataError(f"npe: logit_transform needs an nflows flow (nsf or maf), not {settings.flow!r}")
        estimator.net._transform = CompositeTransform([BoxLogit(), estimator.net._transform])
    return estimator.train()


class NPELoss(nn.Module):
    """The NPE objective: mean of :math:`-\\log q(\\eta \\mid s(x))` over a batch ``theta (B, 6)``, ``x (B, D)``."""

    def __init__(self, estimator: nn.Module) -> None:
        super().__init__()
        self.estimator = estimator

    def forward(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.estimator.loss(theta, x).mean()


def make_posterior(estimator: nn.Module, device: torch.device | str = "cpu") -> DirectPosterior:
    """``sbi``'s direct posterior (rejection of mass outside the prior box) around ``estimator``."""
    estimator = estimator.to(device).eval()
    return DirectPosterior(estimator, make_prior(device), device=str(device))


def versions() -> dict[str, str]:
    """Package versions recorded in saved models."""
    return {"sbi": str(sbi.__version__), "torch": str(torch.__version__), "pdfinfer": str(__version__)}


def save_model(
    path: str | os.PathLike[str],
    estimator: nn.Module,
    settings: NPESettings,
    data: Mapping[str, Any],
    history: Mapping[str, Any],
    **info: Any,
) -> None:
    """Write the estimator's CPU state dict, settings, data spec, history, versions and ``info`` (seed, wall_time_s, ...)."""
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "state_dict": {k: v.detach().cpu().clone() for k, v in estimator.state_dict().items()},
        "settings": settings.as_dict(),
        "data": dict(data),
        "history": dict(history),
        "versions": versions(),
        **info,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_model(path: str | os.PathLike[str], fmt: str = MODEL_FORMAT) -> dict[str, Any]:
    """The raw saved dictionary (on CPU, ``weights_only=True``), with a one-line :class:`DataError` for anything wrong."""
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- torch raises several types for corrupt or foreign files
        raise DataError(
            f"{path}: not a readable model file ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise DataError(f"{path}: not a pdfinfer {fmt} model")
    if payload.get("format_version") != MODEL_FORMAT_VERSION:
        raise DataError(
            f"{path}: model format version {payload.get('format_version')} is not supported "
            f"(this pdfinfer reads {MODEL_FORMAT_VERSION}); retrain"
        )
    return payload


def check_fits(path: str | os.PathLike[str], data: Mapping[str, Any], observed: EventSet, use_norm: bool | None = None) -> None:
    """Refuse (one line naming ``path``) an observation of another theory, feature width, size or normalization flag."""
    if dict(observed.theory) != dict(data["theory"]):
        raise DataError(f"{path}: model trained on theory {data['theory']}, but {observed.path} has theory {observed.theory}")
    if observed.n_features != data["n_features"]:
        raise DataError(
            f"{path}: model trained on {data['n_features']} features per event, but {observed.path} has {observed.n_features}"
        )
    if observed.n_events != data["n_events"]:
        raise DataError(
            f"{path}: model trained on sets of {data['n_events']} events, but {observed.path} has {observed.n_events}"
        )
    if use_norm is not None and bool(use_norm) != bool(data["normalization"]):
        raise DataError(
            f"{path}: model trained with the normalization observable {'on' if data['normalization'] else 'off'}, "
            f"but it is {'on' if use_norm else 'off'} here; retrain"
        )


def observation_tensor(observed: EventSet, data: Mapping[str, Any]) -> torch.Tensor:
    """Observed sets as flat rows ``(B, N*F + T)`` (``(1, ...)`` for one set ``(N, F)``)."""
    events = observed.events if observed.batched else observed.events[None]
    norm = observed.norm if observed.batched else observed.norm[None]
    return flatten_observation(events, norm if data["normalization"] else None)


def load_model(
    path: str | os.PathLike[str], device: torch.device | str = "cpu", fmt: str = MODEL_FORMAT
) -> tuple[DirectPosterior, nn.Module, dict[str, Any]]:
    """Rebuild the estimator from a saved model on ``device``; returns ``(posterior, estimator, payload)``."""
    payload = read_model(path, fmt)
    saved = payload["versions"]
    if saved.get("sbi") != sbi.__version__:
        log.warning("%s was trained with sbi %s, loading with sbi %s", path, saved.get("sbi"), sbi.__version__)
    settings = NPESettings.from_config(payload["settings"], where=f"{path}: settings")
    estimator = build_estimator(settings, payload["data"])
    try:
        estimator.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise DataError(
            f"{path}: the saved weights do not fit the architecture in its settings: {str(err).splitlines()[0]}"
        ) from None
    return make_posterior(estimator, device), estimator, payload
