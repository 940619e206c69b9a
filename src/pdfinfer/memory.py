"""Memory bounds for large requests: refuse up front, with the bytes a request would need.

The bound is the environment variable ``PDFINFER_MAX_BYTES`` when set (a stated cap, e.g. for a
cluster job's memory limit), else the ``MemAvailable`` figure of ``/proc/meminfo`` (what the
operating system can hand out without swapping), else no bound.
"""

from __future__ import annotations

import os

from pdfinfer.errors import ConfigError

ENV_VAR = "PDFINFER_MAX_BYTES"
#: Requests up to this size are never checked (no /proc read on every small call).
ALWAYS_ALLOWED_BYTES = 1 << 26


def available_bytes() -> int | None:
    """The memory bound in bytes (see the module docstring), or ``None`` where none is known."""
    cap = os.environ.get(ENV_VAR, "").strip()
    if cap:
        try:
            return int(float(cap))
        except ValueError:
            raise ConfigError(f"{ENV_VAR} must be a number of bytes, got {cap!r}") from None
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def human(n_bytes: float) -> str:
    """``1.5 GB``-style size (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n_bytes) < 1000 or unit == "TB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1000
    return f"{n_bytes:.1f} TB"


def check_memory(needed: int, what: str) -> None:
    """Raise a one-line :class:`ConfigError` if ``needed`` bytes exceed :func:`available_bytes`."""
    if needed <= ALWAYS_ALLOWED_BYTES:
        return
    bound = available_bytes()
    if bound is not None and needed > bound:
        source = f"the cap {ENV_VAR}" if os.environ.get(ENV_VAR, "").strip() else "the available memory"
        raise ConfigError(
            f"{what} would need about {human(needed)} ({needed} bytes), more than {source} ({human(bound)}, {bound} bytes)"
        )
