"""Observation models ("theories"): the physics, in one place.

>>> from pdfinfer.theory import make_theory
>>> th = make_theory("proxy")
>>> th.n_features
2
"""

from __future__ import annotations

from typing import Any

from pdfinfer.errors import ConfigError
from pdfinfer.theory.base import Theory, log_flagged
from pdfinfer.theory.dis import DISTheory
from pdfinfer.theory.proxy import ProxyTheory

THEORIES: dict[str, type[Theory]] = {"proxy": ProxyTheory, "dis": DISTheory}

__all__ = ["THEORIES", "DISTheory", "ProxyTheory", "Theory", "log_flagged", "make_theory"]


def make_theory(name: str | dict[str, Any], **settings: Any) -> Theory:
    """Build a theory by name (``"proxy"`` or ``"dis"``) with its settings.

    Also accepts a spec dict ``{"name": ..., **settings}`` as stored in HDF5 attributes.
    """
    if isinstance(name, dict):
        spec = dict(name)
        name = spec.pop("name")
        settings = {**spec, **settings}
    if name not in THEORIES:
        raise ConfigError(f"unknown theory {name!r}; allowed: {sorted(THEORIES)}")
    try:
        return THEORIES[name](**settings)
    except TypeError as err:
        raise ConfigError(f"theory {name!r}: {err}") from None
    except ValueError as err:
        raise ConfigError(str(err)) from None
