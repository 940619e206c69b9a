"""Run Snakemake on this checkout from tests, with this interpreter's environment first on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def snakemake(*args: str, timeout: float = 900, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``snakemake <args>`` in the repository root; the rules' ``python`` is this interpreter."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
