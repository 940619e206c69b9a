"""Wall time per rule of a finished pipeline run, from Snakemake's benchmark files.

    python benchmarks/rule_times.py [results]      # default: results

Prints, per rule, the number of jobs, total and maximum wall seconds and peak memory (max RSS),
read from ``<results>/benchmarks/<rule>/...tsv`` (each rule declares ``benchmark:``).
"""

from __future__ import annotations

import csv
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
                rows[rule].append({"s": float(row["s"]), "max_rss": float(row.get("max_rss") or "nan")})
    return rows


def main() -> None:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    rows = collect(results)
    print(f"{'rule':<24} {'jobs':>4} {'total s':>9} {'max s':>8} {'max RSS MB':>11}")
    grand = 0.0
    for rule, entries in sorted(rows.items(), key=lambda kv: -sum(e["s"] for e in kv[1])):
        total = sum(e["s"] for e in entries)
        grand += total
        rss = max(e["max_rss"] for e in entries)
        print(f"{rule:<24} {len(entries):>4} {total:>9.1f} {max(e['s'] for e in entries):>8.1f} {rss:>11.0f}")
    print(f"{'all jobs (CPU-serial sum)':<29} {grand:>9.1f}")


if __name__ == "__main__":
    main()
