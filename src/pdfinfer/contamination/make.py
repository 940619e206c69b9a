"""Command line: one contaminated observed set at the truth (:mod:`pdfinfer.contamination.model`).

The clean set is the coverage study's ``index``-th replicate at the truth
(:func:`pdfinfer.compare.replicas.replicate_observation`, same seed stream); a fraction ``eps`` of
its events is then replaced by outliers of ``kind`` from the stream ``("contamination", kind,
n_obs, index)``. Kind ``clean`` goes with ``eps = 0`` and writes the clean set unchanged. The file
is an event file (``docs/data-model.md``) with ``contamination_kind``, ``contamination_eps``,
``contamination_n`` and ``replicate_index`` in its attributes.

Usage::

    python -m pdfinfer.contamination.make --kind broad --eps 0.05 --index 0 --n-obs 256 \
        --theory '{"name": "proxy"}' --rel-unc 0.02 --settings '{"shift": 0.25}' --seed 1 --out set.h5
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence

from pdfinfer.contamination.settings import CLEAN, KINDS, ContaminationSettings
from pdfinfer.errors import ConfigError
from pdfinfer.runtime import add_common_arguments, cli_main, setup

log = logging.getLogger("pdfinfer.contamination.make")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.contamination.make",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--kind", required=True, choices=[CLEAN, *KINDS])
    parser.add_argument("--eps", type=float, required=True, help="fraction of the events replaced by outliers")
    parser.add_argument("--index", type=int, required=True, help="set number (the clean set's own seed stream)")
    parser.add_argument("--n-obs", type=int, required=True, help="events in the set")
    parser.add_argument("--theory", required=True, help="theory spec JSON")
    parser.add_argument("--rel-unc", type=float, default=0.02, help="relative uncertainty of the normalization measurement")
    parser.add_argument("--settings", default="{}", help="the contamination config section as JSON (shift is used)")
    parser.add_argument("--out", required=True)
    add_common_arguments(parser)
    return parser


def make_set(
    theory_spec: dict, kind: str, eps: float, index: int, n_obs: int, rel_unc: float, shift: float, seed: int, device: str
):
    """The contaminated set (an :class:`~pdfinfer.io.EventSet`, events ``(n_obs, F)``) of one study cell."""
    from pdfinfer.compare.replicas import replicate_observation
    from pdfinfer.contamination.model import contaminate
    from pdfinfer.runtime import derive_seed
    from pdfinfer.theory import make_theory

    if (kind == CLEAN) != (eps == 0):
        raise ConfigError(f"--kind {kind} goes with {'--eps 0' if kind == CLEAN else '--eps > 0'}, got --eps {eps:g}")
    if index < 0 or n_obs < 1:
        raise ConfigError(f"--index must be >= 0 and --n-obs >= 1, got {index} and {n_obs}")
    clean = replicate_observation(make_theory(theory_spec), n_obs, "truth", index, rel_unc, seed, device)
    if kind == CLEAN:
        return clean
    return contaminate(clean, eps, kind, derive_seed(seed, "contamination", kind, n_obs, index), shift, device)


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = ContaminationSettings.from_json(args.settings)
    setup(args)
    from pdfinfer.io import check_writable, write_events

    check_writable(args.out)
    observed = make_set(
        json.loads(args.theory), args.kind, args.eps, args.index, args.n_obs, args.rel_unc, settings.shift, args.seed, args.device
    )
    attrs = {
        **{k: v for k, v in observed.attrs.items() if k != "norm_rel_unc"},
        "contamination_kind": args.kind,
        "contamination_eps": float(args.eps),
        "contamination_n": int(observed.attrs.get("contamination_n", 0)),
        "replicate_index": args.index,
    }
    write_events(
        args.out,
        observed.events,
        observed.params,
        observed.norm,
        observed.theory,
        args.seed,
        args.rel_unc,
        args.config_hash,
        attrs,
    )
    log.info(
        "%s set %d, eps = %g: %d of %d events replaced -> %s",
        args.kind,
        args.index,
        args.eps,
        attrs["contamination_n"],
        args.n_obs,
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
