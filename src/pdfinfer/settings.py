"""Method settings: one dataclass per method, each default stated once (``docs/methods.md``).

A method's settings class derives from :class:`Settings`. It is built from the method's config
section with :meth:`Settings.from_config` (unknown keys and bad values raise a one-line
:class:`~pdfinfer.errors.ConfigError` naming the key), travels to the job as one JSON argument
(:meth:`Settings.to_json` / :meth:`Settings.from_json`) and is recorded in every output
(:meth:`Settings.as_dict`). Nested config sections are nested settings dataclasses.

The config schema keeps types, ranges and descriptions; its defaults must equal the dataclass
defaults (``tests/test_settings.py`` checks every registered method).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from pdfinfer.errors import ConfigError

S = TypeVar("S", bound="Settings")


@dataclasses.dataclass
class Settings:
    """Base of every method's settings dataclass.

    ``SECTION`` names the config section (for messages); ``WORKFLOW_KEYS`` are keys of that
    section that steer the workflow (threads, GPUs, time limits) and never reach the method.
    Subclasses override :meth:`check` for constraints the types cannot express.
    """

    SECTION: ClassVar[str] = ""
    WORKFLOW_KEYS: ClassVar[tuple[str, ...]] = ("threads", "gpus", "runtime_minutes")

    # ------------------------------------------------------------------ construction
    @classmethod
    def nested_types(cls) -> dict[str, type[Settings]]:
        """Fields whose type is itself a :class:`Settings` dataclass (nested config sections)."""
        hints = typing.get_type_hints(cls)
        return {
            f.name: hints[f.name]
            for f in dataclasses.fields(cls)
            if isinstance(hints[f.name], type) and issubclass(hints[f.name], Settings)
        }

    @classmethod
    def from_config(cls: type[S], section: Mapping[str, Any] | None, where: str | None = None) -> S:
        """Settings from a config section (missing keys take the defaults); validates every key."""
        where = where or cls.SECTION or cls.__name__
        section = dict(section or {})
        if not isinstance(section, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {type(section).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(section) - set(names) - set(cls.WORKFLOW_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(names)}")
        nested = cls.nested_types()
        values: dict[str, Any] = {}
        for name in names:
            if name not in section:
                continue
            value = section[name]
            if name in nested:
                value = nested[name].from_config(value, f"{where}.{name}")
            elif isinstance(value, list):
                value = list(value)
            values[name] = value
        try:
            settings = cls(**values)
        except TypeError as err:
            raise ConfigError(f"{where}: {err}") from None
        settings.check_all(where)
        return settings

    @classmethod
    def from_json(cls: type[S], text: str, where: str = "--settings") -> S:
        """Settings from the JSON text a rule passes (``--settings '{...}'``)."""
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{where}: not valid JSON ({err})") from None
        return cls.from_config(values, where=cls.SECTION or where)

    # ------------------------------------------------------------------ checks
    def check(self) -> None:
        """Refuse values the method cannot use (override; raise :class:`ConfigError` via the helpers)."""

    def check_all(self, where: str | None = None) -> None:
        """:meth:`check` this object and every nested settings object."""
        self.check()
        for name in self.nested_types():
            getattr(self, name).check_all()

    def require_choice(self, key: str, allowed: Sequence[Any]) -> None:
        """``self.<key>`` must be one of ``allowed``."""
        value = getattr(self, key)
        if value not in allowed:
            raise ConfigError(f"{self.SECTION}.{key} = {value!r} is not one of {list(allowed)}")

    def require_range(self, key: str, low: float | None = None, high: float | None = None, strict: bool = False) -> None:
        """``low <= self.<key> <= high`` (``<`` when ``strict``); ``None`` leaves a side open."""
        value = getattr(self, key)
        bad = (low is not None and (value <= low if strict else value < low)) or (
            high is not None and (value >= high if strict else value > high)
        )
        if bad:
            lo, hi = ("(" if strict else "["), (")" if strict else "]")
            raise ConfigError(
                f"{self.SECTION}.{key} = {value!r} must lie in {lo}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}{hi}"
            )

    # ------------------------------------------------------------------ output
    def as_dict(self) -> dict[str, Any]:
        """Plain dict (nested sections as dicts), as recorded in outputs and fingerprints."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): what a rule passes and what a fingerprint hashes."""
        return json.dumps(self.as_dict(), sort_keys=True)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The default settings as a plain dict."""
        return cls().as_dict()
