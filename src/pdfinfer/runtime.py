"""Run-time plumbing shared by the command-line modules: devices, seeds, progress, errors.

Every module's ``main`` is wrapped by :func:`cli_main`, which turns a
:class:`pdfinfer.errors.PdfinferError` (and the few library errors we translate) into one line
on stderr and exit status 1, so a rule's log ends with what went wrong and where.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import functools
import io
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from pdfinfer import __version__
from pdfinfer.errors import ConfigError, PdfinferError

if TYPE_CHECKING:  # imported where used: `--help` and argument errors must not wait for torch
    import torch
    from tqdm import tqdm

log = logging.getLogger("pdfinfer")

#: glibc malloc thresholds that :func:`tune_allocator` sets: blocks below 16 MB come from the heap,
#: whose top is returned to the system only beyond 64 MB free. With glibc's adaptive defaults, some
#: processes mapped and unmapped each of torch's temporaries of a few MB afresh (page faults
#: included): the generator then ran at half speed at 64 x 1024 events, depending on what the
#: process had allocated before (benchmarks/README.md, round 7).
MALLOC_MMAP_THRESHOLD = 16 << 20
MALLOC_TRIM_THRESHOLD = 64 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)


def resolve_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:N"`` as given.

    Asking for CUDA where there is none is an error, not a silent fallback.
    """
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} is not understood; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available here; use --device auto or cpu")
    return device


def derive_seed(base: int, *keys: int | str) -> int:
    """A 63-bit seed for a named stream (e.g. ``("train", n_obs, shard)``) derived from ``base``.

    Streams with different keys are statistically independent (numpy ``SeedSequence``).
    """
    import numpy as np

    entropy = [int(base)] + [int(k) if isinstance(k, int) else int.from_bytes(k.encode(), "little") % (1 << 63) for k in keys]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A seeded ``torch.Generator`` on ``device``."""
    import torch

    return torch.Generator(device=device).manual_seed(int(seed))


class _LineStream(io.TextIOBase):
    """Turns tqdm's carriage-return refreshes into separate lines for log files."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        for part in text.replace("\r", "\n").split("\n"):
            if part.strip():
                self._stream.write(part.rstrip() + "\n")
        self._stream.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()


def progress(
    iterable: Iterable[Any] | None = None, total: int | None = None, desc: str = "", unit: str = "it", **kwargs: Any
) -> tqdm:
    """A tqdm progress bar with rate and ETA; in a log file (not a TTY) it prints a line every 15 s."""
    from tqdm import tqdm

    interactive = sys.stderr.isatty()
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr if interactive else _LineStream(sys.stderr),
        mininterval=0.2 if interactive else 15.0,
        maxinterval=15.0 if interactive else 60.0,
        dynamic_ncols=interactive,
        ascii=not interactive,
        **kwargs,
    )


def parse_on_off(text: str) -> bool:
    """``on``/``off`` (also true/false, yes/no, 1/0) -> bool, for flags like ``--normalization``."""
    value = text.strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")


def add_common_arguments(parser: argparse.ArgumentParser, seed: bool = True, device: bool = True) -> None:
    """``--device``, ``--seed``, ``--threads``, ``--config-hash`` and ``--log-level``."""
    if device:
        parser.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N")
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--config-hash", default="", help="hash of the config section that produced this output (provenance)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


_THREAD_LIMITS: list[Any] = []


def process_age() -> float | None:
    """Seconds since this process started (Linux ``/proc``; ``None`` elsewhere): its start-up cost."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            return float(uptime.read().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def tune_allocator() -> bool:
    """Set glibc's malloc thresholds (:data:`MALLOC_MMAP_THRESHOLD`, :data:`MALLOC_TRIM_THRESHOLD`) for
    this process; ``False`` (and nothing changed) where the C library has no ``mallopt`` (not glibc)."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD))


def setup(args: argparse.Namespace) -> None:
    """Configure logging, tune glibc's allocator (:func:`tune_allocator`), and limit torch and
    BLAS/OpenMP threads (numpy, scikit-learn) to ``--threads``.

    torch is not imported here (plotting and comparison jobs never need it): the thread count goes
    to ``OMP_NUM_THREADS``, which torch reads when it is imported later, and to torch directly when
    it is already loaded. The first log line states the job's start-up seconds (interpreter and
    imports before this call), which ``benchmarks/rule_times.py`` sums over a run.
    """
    from threadpoolctl import threadpool_limits

    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True
    )
    tune_allocator()
    threads = int(getattr(args, "threads", 0) or 0)
    if threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        _THREAD_LIMITS.append(threadpool_limits(threads))  # kept alive for the process
    torch = sys.modules.get("torch")
    age = process_age()
    log.info(
        "pdfinfer %s%s, start-up %s, argv: %s",
        __version__,
        f", torch {torch.__version__}" if torch is not None else "",
        "unknown" if age is None else f"{age:.2f} s",
        " ".join(sys.argv[1:]),
    )


def cli_main(func: Callable[[Sequence[str] | None], int | None]) -> Callable[[Sequence[str] | None], int]:
    """Wrap a module's ``main(argv)``: one-line errors on stderr, exit status 1, timing in the log."""

    @functools.wraps(func)
    def wrapper(argv: Sequence[str] | None = None) -> int:
        start = time.perf_counter()
        prog = func.__module__
        if prog == "__main__":
            spec = getattr(sys.modules["__main__"], "__spec__", None)
            prog = spec.name if spec is not None else os.path.basename(sys.argv[0])
        try:
            status = func(argv) or 0
        except PdfinferError as err:
            print(f"error: {prog}: {err}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"error: {prog}: interrupted", file=sys.stderr)
            return 130
        log.info("done in %.1f s", time.perf_counter() - start)
        return int(status)

    return wrapper
