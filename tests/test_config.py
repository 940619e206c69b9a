"""Config checks before any job runs: one line naming the key and what is allowed."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from pdfinfer.config import check_sizes, load_schema, validate_schema
from pdfinfer.errors import ConfigError
from pdfinfer.methods import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(ROOT / "config" / "config.schema.yaml")
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def changed(path: str, value):
    config = copy.deepcopy(CONFIG)
    *head, last = path.split(".")
    node = config
    for key in head:
        node = node[key]
    node[last] = value
    return config


def test_default_config_is_valid():
    validate_schema(CONFIG, SCHEMA)
    check_sizes(CONFIG)


def test_misspelt_top_level_key_is_one_line_with_the_allowed_keys():
    config = {**CONFIG, "resutls": "x"}
    with pytest.raises(ConfigError) as err:
        validate_schema(config, SCHEMA)
    message = str(err.value)
    assert "\n" not in message and len(message) < 400
    assert message.startswith("config: unknown key resutls; allowed keys: ") and "results" in message


def test_misspelt_nested_key_names_its_path():
    config = copy.deepcopy(CONFIG)
    config["observation"]["normalisation"] = {}
    with pytest.raises(ConfigError, match=r"^config: unknown key observation\.normalisation; allowed keys of observation: "):
        validate_schema(config, SCHEMA)


def test_bad_enum_value_lists_the_allowed_values():
    with pytest.raises(ConfigError, match=r"^config: theory\.name = 'dsi' is not allowed; allowed values: 'proxy', 'dis'$"):
        validate_schema(changed("theory.name", "dsi"), SCHEMA)


def test_unknown_method_is_refused_naming_the_registry():
    from pdfinfer.methods import enabled

    with pytest.raises(ConfigError, match=r"^config: methods: unknown method\(s\) \['nple'\]; registered methods: \["):
        enabled(["nple", "npe"])


@pytest.mark.parametrize("results", ["", "/"])
def test_results_must_be_a_real_directory(results):
    with pytest.raises(ConfigError, match="results"):
        validate_schema({**CONFIG, "results": results}, SCHEMA)
        check_sizes({**CONFIG, "results": results})


def test_observed_size_beyond_the_truth_bank_is_refused():
    with pytest.raises(ConfigError, match=r"observed-set size 4096 .* exceeds observation.n_truth = 2048"):
        check_sizes(changed("observation.n_truth", 2048) | {"sweep": {"n_obs": [4096]}})


# --------------------------------------------------------------------------- the registry in use
#: Shared code that must iterate over the registry instead of naming methods.
SHARED = [
    *sorted((ROOT / "src" / "pdfinfer" / "compare").glob("*.py")),
    *sorted((ROOT / "src" / "pdfinfer" / "plotting").glob("*.py")),
    ROOT / "src" / "pdfinfer" / "predictive.py",
    *(ROOT / "workflow" / "rules" / f"{name}.smk" for name in ("common", "compare", "plots", "simulate")),
    ROOT / "Snakefile",
]


@pytest.mark.parametrize("path", SHARED, ids=lambda p: p.name)
def test_no_method_label_is_a_literal_in_shared_code(path):
    text = path.read_text()
    for label in REGISTRY:
        assert not re.search(rf"[\"']{re.escape(label)}[\"'_]", text), (
            f"{path.relative_to(ROOT)} names method {label!r}; use the registry"
        )
