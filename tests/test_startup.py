"""Start-up: every command-line module the workflow runs answers ``--help`` without importing the
heavy libraries (torch, sbi, matplotlib, scipy, ...), so argument errors and ``--help`` are instant
and a job's own imports are the only start-up it pays (``benchmarks/bench_startup.py`` times them)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sbi", "matplotlib", "scipy", "sklearn", "pyro", "emcee", "zuko")
#: Runs ``<module> --help`` in this interpreter and prints which HEAVY modules it loaded.
PROBE = """
import json, runpy, sys
sys.argv = [sys.argv[1], "--help"]
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
print(json.dumps([name for name in {heavy} if name in sys.modules]))
"""


def workflow_modules() -> list[str]:
    """Every ``python -m pdfinfer...`` module named in the workflow's rule files."""
    found = set()
    for path in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        found.update(re.findall(r"python -m (pdfinfer(?:\.\w+)+)", path.read_text()))
    return sorted(found)


def test_the_workflow_runs_at_least_the_known_entry_points():
    modules = workflow_modules()
    assert {"pdfinfer.simulate", "pdfinfer.reference.run", "pdfinfer.compare.run", "pdfinfer.plotting.cli"} <= set(modules)


@pytest.mark.parametrize("module", workflow_modules())
def test_help_imports_no_heavy_library(module):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), module], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "usage:" in proc.stdout
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == [], f"{module} --help imports {loaded}: import them after the arguments are parsed"
