"""Wall time per rule of a finished pipeline run, from Snakemake's benchmark files.

    python benchmarks/rule_times.py [results]      # default: results

Prints, per rule, the number of jobs, total and maximum wall seconds, total CPU seconds (user +
system: on a shared machine wall seconds include waiting for a core, CPU seconds do not), peak memory (max RSS),
read from ``<results>/benchmarks/<rule>/...tsv`` (each rule declares ``benchmark:``), and the
jobs' summed start-up seconds (interpreter and imports before the work), read from the first line
of each job's log (``pdfinfer.runtime.setup`` writes it).
"""

from __future__ import annotations

import csv
import re
import sys
from collections import defaultdict
from pathlib import Path


def collect(results: Path) -> dict[str, list[dict[str, float]]]:
    """Rows of every benchmark file under ``results/benchmarks``, grouped by rule name."""
    root = results / "benchmarks"
    if not root.is_dir():
        raise SystemExit(f"error: {root}: no benchmark files (has the pipeline run with results={results}?)")
    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    for path in sorted(root.rglob("*.tsv")):
        rule = path.relative_to(root).parts[0].removesuffix(".tsv")
        with path.open() as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                rows[rule].append(
                    {
                        "s": float(row["s"]),
                        "cpu": float(row.get("cpu_time") or "nan"),
                        "max_rss": float(row.get("max_rss") or "nan"),
                    }
                )
    return rows


STARTUP = re.compile(r"start-up ([0-9.]+) s")


def startup_seconds(results: Path) -> dict[str, float]:
    """Summed start-up seconds of each rule's jobs, from the ``start-up`` entry of their logs."""
    totals: dict[str, float] = defaultdict(float)
    for path in sorted((results / "logs").rglob("*.log")):
        rule = path.relative_to(results / "logs").parts[0].removesuffix(".log")
        with path.open(errors="replace") as handle:
            match = STARTUP.search(handle.read(4000))
        if match:
            totals[rule] += float(match.group(1))
    return totals


def main() -> None:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    rows = collect(results)
    startup = startup_seconds(results)
    print(f"{'rule':<24} {'jobs':>4} {'total s':>9} {'max s':>8} {'CPU s':>8} {'max RSS MB':>11} {'start-up s':>11}")
    grand = grand_cpu = 0.0
    for rule, entries in sorted(rows.items(), key=lambda kv: -sum(e["s"] for e in kv[1])):
        total = sum(e["s"] for e in entries)
        cpu = sum(e["cpu"] for e in entries)
        grand += total
        grand_cpu += cpu
        rss = max(e["max_rss"] for e in entries)
        start = f"{startup[rule]:>11.1f}" if rule in startup else f"{'-':>11}"
        print(f"{rule:<24} {len(entries):>4} {total:>9.1f} {max(e['s'] for e in entries):>8.1f} {cpu:>8.1f} {rss:>11.0f} {start}")
    print(f"{'all jobs (summed)':<29} {grand:>9.1f} {'':>8} {grand_cpu:>8.1f} {'':>11} {sum(startup.values()):>11.1f}")


if __name__ == "__main__":
    main()
