r"""Command line: posterior width and C2ST against the observed-set size ``n_obs``.

For each method and parameter the posterior standard deviation :math:`s(n)` (physical units) is
gathered over the sweep and set beside

* the :math:`1/\sqrt n` law anchored at the reference's width at the smallest ``n``,
  :math:`s_{ref}(n_0)\sqrt{n_0/n}`;
* the Cramér-Rao bound :math:`\sqrt{[(n I_1 + I_z)^{+}]_{ii}}` at :math:`\eta^*` (``null`` where the
  parameter is not identifiable);
* the fitted scaling exponent :math:`b` of :math:`\log s = a + b \log n` (least squares; ``-0.5``
  is the regular :math:`1/\sqrt n` rate; ``null`` with fewer than two sizes).

sweep.json keys: ``n_obs`` (sorted list), ``parameter_names``, ``cramer_rao`` ``{name: [per n]}``,
``sqrt_n_law`` ``{name: [per n]}``, ``methods`` ``{label: {"std": {name: [per n]},
"width_ratio": {name: [per n]}, "c2st": [per n], "event_c2st": [per n], "rel_l2_error": [per n],
"scaling_exponent": {name: b}}}``; a method missing at some ``n`` has ``null`` there.

Usage::

    python -m pdfinfer.compare.sweep --metrics R/compare/n256/metrics.json R/compare/n1024/metrics.json \
        --out R/compare/sweep.json
"""

from __future__ import annotations

import argparse
import logging
from typing import Any, Sequence

import numpy as np

from pdfinfer.errors import DataError
from pdfinfer.io import read_json, write_json
from pdfinfer.methods import REFERENCE, order
from pdfinfer.params import PARAM_NAMES
from pdfinfer.runtime import add_common_arguments, cli_main, setup

log = logging.getLogger("pdfinfer.compare")


def scaling_exponent(n_obs: Sequence[int], widths: Sequence[float | None]) -> float | None:
    """Slope of ``log width`` against ``log n`` over the sizes where the width is known."""
    points = [(n, w) for n, w in zip(n_obs, widths) if w is not None and w > 0]
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def gather(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The sweep summary (see the module docstring) from metrics reports of several ``n_obs``."""
    reports = sorted(reports, key=lambda r: r["n_obs"])
    sizes = [int(r["n_obs"]) for r in reports]
    if len(set(sizes)) != len(sizes):
        raise DataError(f"metrics files repeat an n_obs: {sizes}")
    labels = order({label for r in reports for label in r["methods"]})
    methods: dict[str, Any] = {}
    for label in labels:
        entries = [r["methods"].get(label) for r in reports]

        def per_n(key: str, entries: list = entries) -> list:
            return [e[key] if e is not None else None for e in entries]

        std = {n: [e["parameters"][n]["std"] if e is not None else None for e in entries] for n in PARAM_NAMES}
        methods[label] = {
            "std": std,
            "width_ratio": {
                n: [e["parameters"][n]["width_ratio"] if e is not None else None for e in entries] for n in PARAM_NAMES
            },
            "c2st": per_n("c2st"),
            "event_c2st": per_n("event_c2st"),
            "rel_l2_error": per_n("rel_l2_error"),
            "scaling_exponent": {n: scaling_exponent(sizes, std[n]) for n in PARAM_NAMES},
        }
    ref = methods.get(REFERENCE)
    if ref is None:
        raise DataError(f"no metrics file has a {REFERENCE!r} entry")
    anchor = {n: ref["std"][n][0] for n in PARAM_NAMES}
    return {
        "n_obs": sizes,
        "parameter_names": list(PARAM_NAMES),
        "cramer_rao": {n: [r["cramer_rao"].get(n) for r in reports] for n in PARAM_NAMES},
        "sqrt_n_law": {
            n: [anchor[n] * np.sqrt(sizes[0] / s) if anchor[n] is not None else None for s in sizes] for n in PARAM_NAMES
        },
        "methods": methods,
        "sources": [r.get("_path", "") for r in reports],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.compare.sweep",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--metrics", nargs="+", required=True, help="metrics.json of each n_obs (pdfinfer.compare.run)")
    parser.add_argument("--out", required=True)
    add_common_arguments(parser, seed=False, device=False)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup(args)
    reports = []
    for path in args.metrics:
        report = read_json(path)
        for key in ("n_obs", "methods", "cramer_rao"):
            if key not in report:
                raise DataError(f"{path}: missing key {key!r}; not a pdfinfer.compare metrics file")
        reports.append({**report, "_path": str(path)})
    summary = gather(reports)
    for label, m in summary["methods"].items():
        log.info(
            "%s: width exponents %s; C2ST %s",
            label,
            ", ".join(f"{n}={b:.2f}" if b is not None else f"{n}=-" for n, b in m["scaling_exponent"].items()),
            ", ".join("-" if c is None else f"{c:.3f}" for c in m["c2st"]),
        )
    write_json(args.out, summary)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
