"""Command line: refit one method (the registry's ``fit``) on one contaminated set file.

Writes the method's draws in the common samples layout with the set's ``contamination_kind``,
``contamination_eps``, ``replicate_index`` and true parameters (``truth``) in the attributes.
A fit that fails for a reason of the method (the referee's chains not converging, a training
run diverging: a :class:`~pdfinfer.errors.PdfinferError` other than a config or data error) is
itself a result of the study: the output is then a ``fit_failure`` file (no draws; the message
in ``error``) that the summary counts. Amortized methods are not refitted: the workflow samples their trained model on the set file
with their own sampling command (the registry's ``sampler``).

Usage::

    python -m pdfinfer.contamination.fit --method reference --observed set.h5 --normalization off \
        --settings '{...}' --seed 1 --out samples.h5
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence

from pdfinfer.errors import ConfigError, DataError, PdfinferError
from pdfinfer.runtime import add_common_arguments, cli_main, parse_on_off, setup

#: File kind of a failed fit (no draws).
FAILURE_KIND = "fit_failure"

log = logging.getLogger("pdfinfer.contamination.fit")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pdfinfer.contamination.fit",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--method", required=True, help="registered method label (with a fit function)")
    parser.add_argument("--observed", required=True, help="contaminated set (pdfinfer.contamination.make)")
    parser.add_argument("--normalization", type=parse_on_off, required=True, help="use the normalization observable: on or off")
    parser.add_argument("--settings", default="{}", help="the method's settings as JSON")
    parser.add_argument("--model", default=None, help="the method's trained model file, when it has one")
    parser.add_argument("--out", required=True)
    add_common_arguments(parser)
    return parser


@cli_main
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pdfinfer import methods

    method = methods.method(args.method)
    settings = method.settings_class().from_json(args.settings)
    fit = method.fit_function()
    setup(args)
    from pdfinfer.io import check_writable, read_events, write_h5, write_samples

    check_writable(args.out)
    observed = read_events(args.observed, batched=False)
    attrs = {
        key: observed.attrs[key] for key in ("contamination_kind", "contamination_eps", "contamination_n", "replicate_index")
    }
    attrs.update(truth=observed.params.tolist(), n_obs=observed.n_events, observed=str(args.observed))
    start = time.perf_counter()
    try:
        samples = fit(settings, observed, args.normalization, args.seed, args.device, args.model)
    except (ConfigError, DataError):
        raise
    except PdfinferError as err:
        attrs.update(method=method.label, error=str(err), wall_time_s=time.perf_counter() - start, seed=args.seed)
        write_h5(args.out, FAILURE_KIND, {}, {**attrs, "config_hash": args.config_hash})
        log.warning("%s failed on %s: %s (recorded in %s)", method.label, args.observed, err, args.out)
        return 0
    wall = time.perf_counter() - start
    attrs["wall_time_s"] = wall
    write_samples(args.out, samples, method.label, settings.as_dict(), args.seed, observed.theory, args.config_hash, attrs=attrs)
    log.info("%s on %s in %.1f s -> %s", method.label, args.observed, wall, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
