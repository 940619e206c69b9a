"""The run-time environment: the conda environment file for `--sdm conda` agrees with the package's requirements, and glibc's malloc is tuned."""

import platform
import re

import pytest
import tomllib
import yaml
from workflow_helpers import ROOT

# The rules' environment runs the package; Snakemake and its executor plugin run outside it.
WORKFLOW_ONLY = {"snakemake", "snakemake-executor-plugin-slurm"}
CONDA_NAMES = {"torch": "pytorch"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", requirement.strip())
    assert match, requirement
    return match.group(1).lower(), match.group(2).replace(" ", "")


def test_conda_environment_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = dict(_split(r) for r in project["dependencies"])
    env = yaml.safe_load((ROOT / "envs/pdfinfer.yaml").read_text())
    listed = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            listed.update(_split(p) for p in dep["pip"])
        else:
            listed.update([_split(dep)])
    for name, bound in required.items():
        if name in WORKFLOW_ONLY:
            continue
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in listed, f"{name} is required by pyproject.toml but missing from envs/pdfinfer.yaml"
        assert listed[conda_name] == bound, (
            f"{name}: pyproject.toml says {bound!r}, envs/pdfinfer.yaml says {listed[conda_name]!r}"
        )
    assert "python" in listed and listed["python"] == project["requires-python"].replace(" ", "")


def test_every_rule_uses_the_conda_environment():
    for rule_file in (ROOT / "workflow/rules").glob("*.smk"):
        text = rule_file.read_text()
        rules = re.findall(r"^rule (\w+):", text, flags=re.M)
        assert text.count("CONDA_ENV") >= len(rules), f"{rule_file.name}: every rule needs `conda: CONDA_ENV`"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_every_job_tunes_glibc_malloc():
    """setup() (every command-line module) sets glibc's malloc thresholds; mallopt returns 0 for a
    parameter number or value it rejects, which tune_allocator reports as False."""
    from pdfinfer.runtime import tune_allocator

    assert tune_allocator() is True
