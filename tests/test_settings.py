"""Settings stated once: every settings dataclass agrees with the config schema and config.yaml."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from pdfinfer.config import STAGE_SETTINGS, settings_class
from pdfinfer.errors import ConfigError
from pdfinfer.methods import REGISTRY
from pdfinfer.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config" / "config.schema.yaml").read_text())
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
SECTIONS = sorted({m.section for m in REGISTRY.values()} | set(STAGE_SETTINGS))


def schema_defaults(node: dict) -> dict:
    """The defaults a schema object declares, nested objects as nested dicts."""
    out = {}
    for key, prop in node.get("properties", {}).items():
        if prop.get("type") == "object" and "properties" in prop:
            out[key] = schema_defaults(prop)
        else:
            assert "default" in prop, f"schema key {key!r} has no default"
            out[key] = prop["default"]
    return out


def without(values: dict, keys: tuple[str, ...]) -> dict:
    return {k: v for k, v in values.items() if k not in keys}


@pytest.mark.parametrize("section", SECTIONS)
def test_schema_defaults_equal_dataclass_defaults(section):
    cls = settings_class(section)
    assert section in SCHEMA["properties"], f"config section {section!r} is missing from the schema"
    from_schema = without(schema_defaults(SCHEMA["properties"][section]), cls.WORKFLOW_KEYS)
    # JSON round trip: tuples and lists compare alike, as they do once written to a file.
    assert json.loads(json.dumps(from_schema)) == cls.defaults(), f"{section}: schema defaults differ from {cls.__name__}"


@pytest.mark.parametrize("section", SECTIONS)
def test_config_yaml_shows_the_defaults(section):
    """config/config.yaml builds the default settings (it documents them; it must not change them)."""
    cls = settings_class(section)
    assert cls.from_config(CONFIG.get(section, {})).as_dict() == cls.defaults()


def test_default_methods_are_registered_and_have_rule_files():
    assert set(CONFIG["methods"]) <= set(REGISTRY)
    for m in REGISTRY.values():
        assert (ROOT / m.rule_file).exists(), f"{m.label}: no rule file {m.rule_file}"


@dataclasses.dataclass
class _Inner(Settings):
    SECTION = "toy.inner"
    width: int = 4


@dataclasses.dataclass
class _Toy(Settings):
    SECTION = "toy"
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    rate: float = 0.1
    mode: str = "a"

    def check(self) -> None:
        self.require_range("rate", 0.0, 1.0, strict=True)
        self.require_choice("mode", ("a", "b"))


def test_settings_round_trip_and_nesting():
    s = _Toy.from_config({"inner": {"width": 8}, "rate": 0.5, "threads": 3})
    assert s.inner.width == 8 and s.rate == 0.5
    assert _Toy.from_json(s.to_json()) == s
    assert _Toy.from_config({}) == _Toy()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"rat": 0.5}, "toy: unknown key(s) ['rat']; allowed: ['inner', 'mode', 'rate']"),
        ({"inner": {"widht": 2}}, "toy.inner: unknown key(s) ['widht']; allowed: ['width']"),
        ({"rate": 1.0}, "toy.rate = 1.0 must lie in (0.0, 1.0)"),
        ({"mode": "c"}, "toy.mode = 'c' is not one of ['a', 'b']"),
    ],
)
def test_settings_errors_name_the_key(section, message):
    with pytest.raises(ConfigError) as err:
        _Toy.from_config(section)
    assert str(err.value) == message


def test_settings_json_error_is_one_line():
    with pytest.raises(ConfigError, match=r"^--settings: not valid JSON"):
        _Toy.from_json("{rate: 1")
