"""Start-up cost of the pipeline's processes: what a job pays before it does any work.

    python benchmarks/bench_startup.py [--repeats 3]

Prints the median wall seconds (over ``--repeats`` fresh interpreters) of the import stacks the
jobs use (bare interpreter, numpy + h5py, torch, torch + sbi's neural nets, matplotlib) and of
``--help`` for every command-line module the workflow runs (``tests/test_startup.py`` asserts that
none of them imports a heavy library before parsing its arguments). A finished run's own start-up
total, per rule, is printed by ``benchmarks/rule_times.py`` (every job logs its start-up seconds).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STACKS = {
    "bare interpreter": "pass",
    "numpy + h5py": "import numpy, h5py",
    "pdfinfer.io (numpy, h5py)": "import pdfinfer.io",
    "torch": "import torch",
    "torch + sbi.neural_nets": "import torch, sbi.neural_nets",
    "matplotlib (Agg)": "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot",
}


def seconds(command: list[str], repeats: int) -> float:
    """Median wall seconds of ``command`` over ``repeats`` runs."""
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def workflow_modules() -> list[str]:
    """Every ``python -m pdfinfer...`` module named in the workflow's rule files."""
    found: set[str] = set()
    for path in (ROOT / "workflow" / "rules").glob("*.smk"):
        found.update(re.findall(r"python -m (pdfinfer(?:\.\w+)+)", path.read_text()))
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh interpreters per figure (the median is printed)")
    args = parser.parse_args()
    print(f"{'import stack':<34} {'seconds':>8}")
    for name, code in STACKS.items():
        print(f"{name:<34} {seconds([sys.executable, '-c', code], args.repeats):>8.2f}")
    print(f"\n{'--help of':<34} {'seconds':>8}")
    total = 0.0
    for module in workflow_modules():
        value = seconds([sys.executable, "-m", module, "--help"], args.repeats)
        total += value
        print(f"{module:<34} {value:>8.2f}")
    print(f"{'(all modules, summed)':<34} {total:>8.2f}")


if __name__ == "__main__":
    main()
