r"""The NPE density estimator: build it from settings, save it, reload it on any device.

Neural posterior estimation fits a conditional density :math:`q_\psi(\eta \mid s(x))` to
prior-predictive pairs :math:`(\eta_i, x_i)`, :math:`\eta_i \sim U[0,1]^6`, by maximum likelihood,

.. math:: \psi^* = \arg\min_\psi\ -\frac1S \sum_{i=1}^S \log q_\psi(\eta_i \mid s(x_i)),

which for a flexible enough :math:`q` and :math:`S \to \infty` gives the Bayesian posterior
:math:`p(\eta \mid x)` for every :math:`x` at once (amortized). :math:`q` is an ``sbi``
normalizing flow (``nsf`` or ``maf``, built by :func:`sbi.neural_nets.posterior_nn`) conditioned
on the permutation-invariant summary :math:`s` of :mod:`pdfinfer.npe.embedding`; the posterior
is ``sbi``'s :class:`~sbi.inference.DirectPosterior` with the prior ``BoxUniform([0,1]^6)``, which
rejects the flow's mass outside the box.

A saved model (``posterior.pt``) is a plain dictionary: the estimator's ``state_dict`` on CPU, the
JSON-able ``settings`` that rebuild the architecture (including the feature standardization
fitted on the training data), the training history and the ``sbi``/``torch``/``pdfinfer``
versions. It holds no pickled module, so it loads with ``torch.load(weights_only=True)`` on a
CPU-only machine whatever device trained it.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any, Mapping

import sbi
import torch
from sbi.inference import DirectPosterior
from sbi.neural_nets import posterior_nn
from sbi.utils import BoxUniform

from pdfinfer import __version__
from pdfinfer.errors import ConfigError, DataError
from pdfinfer.io import atomic_path
from pdfinfer.npe.embedding import SetEmbedding
from pdfinfer.params import N_PARAMS

log = logging.getLogger("pdfinfer.npe")

MODEL_FORMAT = "pdfinfer-npe"
MODEL_FORMAT_VERSION = 1
FLOWS = ("nsf", "maf")


def quiet_library_warnings() -> None:
    """Silence two harmless warnings that would fill every log: nflows' use of the deprecated
    ``torch.triangular_solve`` and sbi's note that it caps its sampling batch size."""
    warnings.filterwarnings("ignore", message=r"torch\.triangular_solve is deprecated", category=UserWarning)
    warnings.filterwarnings("ignore", message=r"Capping max_sampling_batch_size", category=UserWarning)


def make_prior(device: torch.device | str = "cpu") -> BoxUniform:
    """The prior: uniform on the normalized box ``[0, 1]^6``."""
    return BoxUniform(torch.zeros(N_PARAMS, device=device), torch.ones(N_PARAMS, device=device), device=str(device))


def make_embedding(settings: Mapping[str, Any]) -> SetEmbedding:
    """The set embedding described by ``settings`` (see :func:`pdfinfer.npe.train.build_settings`)."""
    emb = settings["embedding"]
    return SetEmbedding(
        n_events=settings["n_events"],
        n_features=settings["n_features"],
        n_norm=settings["n_norm"],
        log_features=settings["log_features"],
        feature_mean=settings["feature_mean"],
        feature_std=settings["feature_std"],
        norm_mean=settings.get("norm_mean", []),
        norm_std=settings.get("norm_std", []),
        event_hidden=emb["event_hidden"],
        event_layers=emb["event_layers"],
        event_features=emb["event_features"],
        hidden=emb["hidden"],
        layers=emb["layers"],
        output_dim=emb["output_dim"],
    )


def build_estimator(settings: Mapping[str, Any], theta: torch.Tensor | None = None, x: torch.Tensor | None = None) -> torch.nn.Module:
    """``sbi`` conditional flow :math:`q(\\eta \\mid s(x))` for ``settings``.

    ``theta`` ``(B, 6)`` and ``x`` ``(B, N*F + T)`` are a batch of training data: ``sbi`` sizes
    the flow from them and z-scores :math:`\\eta` with their mean and standard deviation (stored
    as buffers, so a rebuilt estimator gets them back from the state dict). Without them, a
    placeholder batch is used, which is right only when a state dict is loaded afterwards.
    """
    flow = settings["flow"]
    if flow["model"] not in FLOWS:
        raise ConfigError(f"npe flow model {flow['model']!r} is not supported; use one of {FLOWS}")
    embedding = make_embedding(settings)
    if theta is None or x is None:
        theta = torch.linspace(0.1, 0.9, 4)[:, None].repeat(1, N_PARAMS)
        x = torch.ones(4, embedding.width)
    build = posterior_nn(
        model=flow["model"],
        z_score_theta="independent",
        z_score_x="none",  # the embedding standardizes events itself (log where flagged)
        hidden_features=flow["hidden_features"],
        num_transforms=flow["num_transforms"],
        num_bins=flow["num_bins"],
        embedding_net=embedding,
    )
    return build(theta[:16].float().cpu(), x[:16].float().cpu())


def make_posterior(estimator: torch.nn.Module, device: torch.device | str = "cpu") -> DirectPosterior:
    """``sbi``'s direct posterior (rejection of mass outside the prior box) around ``estimator``."""
    estimator = estimator.to(device).eval()
    return DirectPosterior(estimator, make_prior(device), device=str(device))


def versions() -> dict[str, str]:
    """Package versions recorded in saved models."""
    return {"sbi": str(sbi.__version__), "torch": str(torch.__version__), "pdfinfer": str(__version__)}


def save_model(path: str | os.PathLike[str], estimator: torch.nn.Module, settings: Mapping[str, Any], history: Mapping[str, Any]) -> None:
    """Write the estimator's CPU state dict, ``settings``, ``history`` and versions atomically."""
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "state_dict": {k: v.detach().cpu().clone() for k, v in estimator.state_dict().items()},
        "settings": dict(settings),
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
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise DataError(f"{path}: not a readable NPE model ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise DataError(f"{path}: not a pdfinfer NPE model (written by pdfinfer.npe.train?)")
    if payload.get("format_version") != MODEL_FORMAT_VERSION:
        raise DataError(f"{path}: NPE model format version {payload.get('format_version')} is not supported (this pdfinfer reads {MODEL_FORMAT_VERSION})")
    return payload


def load_model(path: str | os.PathLike[str], device: torch.device | str = "cpu") -> tuple[DirectPosterior, torch.nn.Module, dict[str, Any]]:
    """Rebuild the estimator from a saved model on ``device``; returns ``(posterior, estimator, payload)``."""
    payload = read_model(path)
    saved = payload["versions"]
    if saved.get("sbi") != sbi.__version__:
        log.warning("%s was trained with sbi %s, loading with sbi %s", path, saved.get("sbi"), sbi.__version__)
    estimator = build_estimator(payload["settings"])
    try:
        estimator.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise DataError(f"{path}: the saved weights do not fit the architecture in its settings: {str(err).splitlines()[0]}") from None
    return make_posterior(estimator, device), estimator, payload
