"""HDF5 storage: the one format between rules (``docs/data-model.md``).

Every file carries the attributes ``format_version``, ``kind`` (``"events"``, ``"samples"`` or
a module's own kind such as ``"adversarial"``), ``package_version``, ``created``, ``seed``,
``config_hash`` and, for anything derived from events, ``theory`` (a JSON spec that
:func:`pdfinfer.theory.make_theory` rebuilds). Datasets:

``events``  ``(N, F)`` or ``(B, N, F)`` float32, chunked and gzip-compressed
``params``  ``(6,)`` or ``(B, 6)`` normalized parameters the events were simulated at
``norm``    ``(T,)`` or ``(B, T)`` measured normalization observable (always stored)
``samples`` ``(K, 6)`` normalized parameter draws of a method

Writes go to a temporary name beside the target and are renamed when complete, so a killed job
never leaves a half-written file. Readers raise :class:`pdfinfer.errors.DataError` with a
one-line message naming the file for anything missing, corrupt or mis-shaped.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pdfinfer import __version__
from pdfinfer.errors import DataError
from pdfinfer.params import N_PARAMS, check_params

FORMAT_VERSION = 1
EVENT_CHUNK_ROWS = 4096


def _prepare_folder(target: Path) -> None:
    """Create ``target``'s folder; a one-line :class:`DataError` naming the path if that fails."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"{target}: cannot create the output folder {target.parent} ({err.strerror or err})") from None


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete ``.<name>.*.part`` files beside ``path`` left by a killed write of the same output; returns them."""
    target = Path(path)
    removed = []
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
        try:
            stale.unlink()
            removed.append(stale)
        except FileNotFoundError:
            pass
    return removed


def check_writable(path: str | os.PathLike[str]) -> Path:
    """Fail early (before any expensive work) with a one-line :class:`DataError` if ``path`` cannot be written."""
    target = Path(path)
    _prepare_folder(target)
    if target.is_dir():
        raise DataError(f"{target}: is a folder, expected a file path")
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise DataError(f"{target}: the output folder {target.parent} is not writable")
    return target


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    Stale temporaries of the same output (``.<name>.*.part``, left by a killed earlier write) are
    removed first; an unwritable folder raises a one-line :class:`DataError` naming the path.
    """
    target = Path(path)
    _prepare_folder(target)
    remove_stale_temporaries(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    except OSError as err:
        raise DataError(f"{target}: cannot write in {target.parent} ({err.strerror or err})") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except IsADirectoryError:
        raise DataError(f"{target}: is a folder, expected a file path") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _attr_value(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)) and not isinstance(value, np.ndarray):
        return json.dumps(value, sort_keys=True)
    if value is None:
        return "null"
    return value


def _chunks(shape: tuple[int, ...]) -> tuple[int, ...] | None:
    if len(shape) == 0 or int(np.prod(shape)) < 1024:
        return None
    lead = shape[:-2]
    rows = min(shape[-2], EVENT_CHUNK_ROWS) if len(shape) >= 2 else min(shape[0], 1 << 16)
    if len(shape) == 1:
        return (rows,)
    return (*([1] * len(lead)), rows, shape[-1])


def write_h5(
    path: str | os.PathLike[str],
    kind: str,
    datasets: Mapping[str, np.ndarray],
    attrs: Mapping[str, Any] | None = None,
    compress: Sequence[str] = ("events",),
) -> None:
    """Write ``datasets`` and provenance ``attrs`` atomically to ``path``.

    Dict/list attributes are stored as JSON strings (see :func:`read_h5`, which decodes them).
    Datasets named in ``compress`` are chunked and gzip-compressed with the shuffle filter.
    """
    base = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "package_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    reserved = sorted(set(base) & set(attrs or {}))
    if reserved:
        raise DataError(f"{path}: attribute(s) {reserved} are reserved for the file's own provenance; use other names")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        for key, value in {**base, **(attrs or {})}.items():
            h5.attrs[key] = _attr_value(value)
        for name, data in datasets.items():
            data = np.asarray(data)
            if name in compress and data.size > 0:
                h5.create_dataset(
                    name, data=data, chunks=_chunks(data.shape), compression="gzip", compression_opts=4, shuffle=True
                )
            else:
                h5.create_dataset(name, data=data)


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{" or value == "null":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value


@contextmanager
def _open_checked(
    path: str | os.PathLike[str], kind: str | None = None, required: Sequence[str] = (), required_attrs: Sequence[str] = ()
) -> Iterator[tuple[h5py.File, dict[str, Any]]]:
    """Open a pdfinfer HDF5 file for reading and check it (see :func:`read_h5`); yields ``(file, attrs)``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        h5 = h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: not a readable HDF5 file (corrupt or truncated?): {err}") from None
    with h5:
        attrs = {k: _decode(v) for k, v in h5.attrs.items()}
        if "format_version" not in attrs:
            raise DataError(f"{path}: no 'format_version' attribute; not written by pdfinfer")
        if attrs["format_version"] != FORMAT_VERSION:
            raise DataError(
                f"{path}: format version {attrs['format_version']} is not supported (this pdfinfer reads version {FORMAT_VERSION})"
            )
        if kind is not None and attrs.get("kind") != kind:
            raise DataError(f"{path}: holds {attrs.get('kind')!r} data, expected {kind!r}")
        for name in required_attrs:
            if name not in attrs:
                raise DataError(f"{path}: missing attribute {name!r}")
        for name in required:
            if name not in h5:
                raise DataError(f"{path}: missing dataset {name!r} (has: {sorted(h5.keys())})")
        yield h5, attrs


def _read_dataset(path: str | os.PathLike[str], h5: h5py.File, name: str, rows: np.ndarray | None = None) -> np.ndarray:
    """Dataset ``name`` whole (``rows`` None) or its rows ``rows`` (sorted, unique) along the first axis."""
    try:
        if rows is None:
            return h5[name][()]
        if len(rows) == 0:
            return np.empty((0, *h5[name].shape[1:]), dtype=h5[name].dtype)
        return h5[name][rows]
    except (OSError, RuntimeError) as err:
        raise DataError(f"{path}: dataset {name!r} cannot be read (corrupt or truncated?): {err}") from None


def read_h5(
    path: str | os.PathLike[str],
    kind: str | None = None,
    required: Sequence[str] = (),
    optional: Sequence[str] = (),
    required_attrs: Sequence[str] = (),
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read named datasets and all attributes of a pdfinfer HDF5 file.

    Checks that the file exists, opens as HDF5, has this package's ``format_version``, the
    expected ``kind`` and every ``required`` dataset and attribute.
    Returns ``(datasets, attrs)``; JSON attributes come back decoded.
    """
    with _open_checked(path, kind, required, required_attrs) as (h5, attrs):
        data = {name: _read_dataset(path, h5, name) for name in list(required) + list(optional) if name in h5}
    return data, attrs


# ---------------------------------------------------------------------------------- events
@dataclass
class EventSet:
    """Events with the parameters they were simulated at, read from or written to HDF5.

    ``events`` is ``(N, F)`` for one observation or ``(B, N, F)`` for a batch; ``params``
    ``(6,)`` / ``(B, 6)``; ``norm`` ``(T,)`` / ``(B, T)``.
    """

    events: np.ndarray
    params: np.ndarray
    norm: np.ndarray
    theory: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def batched(self) -> bool:
        return self.events.ndim == 3

    @property
    def n_events(self) -> int:
        return int(self.events.shape[-2])

    @property
    def n_features(self) -> int:
        return int(self.events.shape[-1])

    @property
    def norm_rel_unc(self) -> float:
        return float(self.attrs.get("norm_rel_unc", 0.0))

    @property
    def n_sets(self) -> int:
        """Sets ``B`` of a batch (1 for one observation)."""
        return int(self.events.shape[0]) if self.batched else 1

    def read(self) -> EventSet:
        """Itself (the in-memory counterpart of :meth:`EventShards.read`)."""
        return self

    def rows(self, rows: Sequence[int] | np.ndarray) -> EventSet:
        """Sets ``rows`` of a batch, ``(R, N, F)`` (copies; the in-memory counterpart of :meth:`EventShards.rows`)."""
        if not self.batched:
            raise DataError(f"{self.path}: rows of one event set (N, F) requested; rows exist only in a batch (B, N, F)")
        idx = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < 0 or idx.max() >= self.n_sets):
            bad = int(idx.min() if idx.min() < 0 else idx.max())
            raise DataError(f"{self.path}: row {bad} is out of range (the set holds {self.n_sets} sets)")
        return EventSet(self.events[idx], self.params[idx], self.norm[idx], self.theory, self.attrs, self.path)


def write_events(
    path: str | os.PathLike[str],
    events: np.ndarray,
    params: np.ndarray,
    norm: np.ndarray,
    theory: Mapping[str, Any],
    seed: int,
    norm_rel_unc: float,
    config_hash: str = "",
    attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write an event set (one observation ``(N, F)`` or a batch ``(B, N, F)``) with provenance."""
    events = np.asarray(events, dtype=np.float32)
    params = np.asarray(params, dtype=np.float64)
    norm = np.asarray(norm, dtype=np.float64)
    _check_event_shapes(str(path), events, params, norm, theory)
    write_h5(
        path,
        "events",
        {"events": events, "params": params, "norm": norm},
        {
            "theory": dict(theory),
            "seed": int(seed),
            "norm_rel_unc": float(norm_rel_unc),
            "config_hash": config_hash,
            "feature_names": json.dumps(_feature_names(theory, events.shape[-1])),
            **(attrs or {}),
        },
    )


def _feature_names(theory: Mapping[str, Any], n_features: int) -> list[str]:
    from pdfinfer.theory import make_theory

    names = list(make_theory(dict(theory)).feature_names)
    return names if len(names) == n_features else [f"f{i}" for i in range(n_features)]


def _check_event_shapes(where: str, events: np.ndarray, params: np.ndarray, norm: np.ndarray, theory: Mapping[str, Any]) -> None:
    from pdfinfer.theory import make_theory

    th = make_theory(dict(theory))
    if events.ndim not in (2, 3) or events.shape[-1] != th.n_features:
        raise DataError(
            f"{where}: 'events' must have shape (N, {th.n_features}) or (B, N, {th.n_features}) for theory {th.name!r}, got {events.shape}"
        )
    lead = events.shape[:-2]
    if params.shape != (*lead, N_PARAMS):
        raise DataError(
            f"{where}: 'params' must have shape {(*lead, N_PARAMS)} to match events {events.shape}, got {params.shape}"
        )
    if norm.shape != (*lead, th.n_targets):
        raise DataError(
            f"{where}: 'norm' must have shape {(*lead, th.n_targets)} to match events {events.shape}, got {norm.shape}"
        )
    if not np.all(np.isfinite(events)):
        raise DataError(f"{where}: 'events' contains NaN or inf")
    check_params(params, f"{where}: 'params'")


def _check_support(where: str, events: np.ndarray, theory: Mapping[str, Any]) -> None:
    from pdfinfer.theory import make_theory

    make_theory(dict(theory)).check_support(events, where)


def _check_event_sizes(
    where: str, shape: tuple[int, ...], batched: bool | None, n_events: int | None, n_features: int | None
) -> None:
    """``events`` of ``shape``: a batch or one set as ``batched`` asks, ``n_events`` and ``n_features`` wide."""
    if batched is not None and (len(shape) == 3) != batched:
        want = "a batch (B, N, F) of event sets" if batched else "one event set (N, F)"
        raise DataError(f"{where}: expected {want}, got events of shape {shape}")
    if n_events is not None and shape[-2] != n_events:
        raise DataError(f"{where}: expected {n_events} events per set, got {shape[-2]} (events shape {shape})")
    if n_features is not None and shape[-1] != n_features:
        raise DataError(f"{where}: expected {n_features} features per event, got {shape[-1]} (events shape {shape})")


def read_events(
    path: str | os.PathLike[str],
    batched: bool | None = None,
    n_events: int | None = None,
    n_features: int | None = None,
) -> EventSet:
    """Read an event file written by :func:`write_events` and check its shapes and every event
    against the theory's support (e.g. ``x`` in its range, ``Q2`` inside the phase space).

    ``batched``: require ``(B, N, F)`` (True) or ``(N, F)`` (False); ``n_events`` and
    ``n_features``: require those sizes. Any mismatch raises a one-line :class:`DataError`
    naming the file (and, for an impossible event, its set and row, the features and values).
    """
    data, attrs = read_h5(path, kind="events", required=("events", "params", "norm"), required_attrs=("theory", "seed"))
    events, params, norm = data["events"], data["params"], data["norm"]
    where = str(path)
    _check_event_shapes(where, events, params, norm, attrs["theory"])
    _check_support(where, events, attrs["theory"])
    _check_event_sizes(where, events.shape, batched, n_events, n_features)
    return EventSet(events, params, norm, attrs["theory"], attrs, where)


def count_event_sets(path: str | os.PathLike[str], n_events: int | None = None) -> int:
    """Number of sets ``B`` of a batched event file ``(B, N, F)``, from its metadata alone (no events read).

    Checks the file as :func:`read_events` does, except the events' values (one-line :class:`DataError`).
    """
    with _open_checked(path, "events", ("events", "params", "norm"), ("theory", "seed")) as (h5, _):
        shape = tuple(h5["events"].shape)
    _check_event_sizes(str(path), shape, True, n_events, None)
    return int(shape[0])


def read_event_rows(path: str | os.PathLike[str], rows: Sequence[int] | np.ndarray, n_events: int | None = None) -> EventSet:
    """Rows ``rows`` of a batched event file: events ``(R, N, F)``, params ``(R, 6)``, norm ``(R, T)``.

    Reads only those rows from disk (HDF5 selection, the gzip chunks of one set hold no other
    set's events), in the order of ``rows`` (repeats allowed), and checks them as
    :func:`read_events` checks a whole file: shapes, every event against the theory's support,
    ``n_events``. A row outside ``0 .. B-1`` or a corrupt file raises a one-line :class:`DataError` naming the file.
    """
    where = str(path)
    wanted = np.asarray(rows, dtype=np.int64).reshape(-1)
    unique, order = np.unique(wanted, return_inverse=True)
    with _open_checked(path, "events", ("events", "params", "norm"), ("theory", "seed")) as (h5, attrs):
        shape = tuple(h5["events"].shape)
        _check_event_sizes(where, shape, True, n_events, None)
        if len(unique) and (unique[0] < 0 or unique[-1] >= shape[0]):
            bad = int(unique[0] if unique[0] < 0 else unique[-1])
            raise DataError(f"{where}: row {bad} is out of range (the file holds {shape[0]} sets)")
        events, params, norm = (_read_dataset(where, h5, name, unique) for name in ("events", "params", "norm"))
    if not np.array_equal(unique, wanted):
        events, params, norm = events[order], params[order], norm[order]
    _check_event_shapes(where, events, params, norm, attrs["theory"])
    _check_rows_support(where, events, wanted, attrs["theory"])
    return EventSet(events, params, norm, attrs["theory"], attrs, where)


def _check_rows_support(where: str, events: np.ndarray, rows: np.ndarray, theory: Mapping[str, Any]) -> None:
    """:func:`_check_support` of the sets ``events`` ``(R, N, F)`` read from the file rows ``rows``; the error names the file's row."""
    try:
        _check_support(where, events, theory)
    except DataError:
        for i, row in enumerate(rows):
            try:
                _check_support(where, events[i : i + 1], theory)
            except DataError as err:
                raise DataError(str(err).replace(f"{where}: set 0, ", f"{where}: set {row}, ", 1)) from None
        raise


def _check_shards_agree(shards: Sequence[EventSet]) -> None:
    """All shards share theory, event count, feature width and normalization uncertainty."""
    first = shards[0]
    for shard in shards[1:]:
        for what, a, b in (
            ("theory", first.theory, shard.theory),
            ("events per set", first.n_events, shard.n_events),
            ("features", first.n_features, shard.n_features),
            ("norm_rel_unc", first.norm_rel_unc, shard.norm_rel_unc),
        ):
            if a != b:
                raise DataError(f"{shard.path}: {what} {b!r} differs from {first.path} ({a!r})")


def _merge_shards(shards: Sequence[EventSet]) -> EventSet:
    """The shards concatenated along the batch axis (after :func:`_check_shards_agree`)."""
    _check_shards_agree(shards)
    first = shards[0]
    return EventSet(
        np.concatenate([s.events for s in shards]),
        np.concatenate([s.params for s in shards]),
        np.concatenate([s.norm for s in shards]),
        first.theory,
        {**first.attrs, "shards": [s.path for s in shards]},
        ",".join(s.path for s in shards),
    )


def read_event_shards(paths: Sequence[str | os.PathLike[str]], n_events: int | None = None) -> EventSet:
    """Read training shards ``(B_i, N, F)`` and concatenate them along the batch axis.

    All shards must share theory, event count, feature width and normalization uncertainty.
    Memory: every event of every shard, ``sum B_i x N x F x 4`` bytes.
    """
    if not paths:
        raise DataError("no training shards given")
    return _merge_shards([read_events(p, batched=True, n_events=n_events) for p in paths])


@dataclass(frozen=True)
class EventShards:
    """Training shards on disk, read on demand: :meth:`rows` reads some sets, :meth:`read` all of them.

    ``sizes[i]`` is the number of sets ``B_i`` of ``paths[i]``; rows are numbered across the
    shards in order (row ``r`` of shard 1 is ``B_0 + r``), as in :func:`read_event_shards`.
    Open with :func:`open_event_shards`.
    """

    paths: tuple[str, ...]
    sizes: tuple[int, ...]
    n_events: int | None = None

    @property
    def n_sets(self) -> int:
        """Sets of all shards, ``sum B_i``."""
        return int(sum(self.sizes))

    def read(self) -> EventSet:
        """Every set of every shard (:func:`read_event_shards`)."""
        return read_event_shards(self.paths, n_events=self.n_events)

    def rows(self, rows: Sequence[int] | np.ndarray) -> EventSet:
        """Sets ``rows`` (numbered across the shards, sorted and unique) ``(R, N, F)``, read from disk alone.

        Memory: ``R x N x F x 4`` bytes. Shards are checked to agree as by :meth:`read`.
        """
        wanted = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(wanted) and (np.any(np.diff(wanted) <= 0) or wanted[0] < 0 or wanted[-1] >= self.n_sets):
            bad = [int(r) for r in wanted if not 0 <= r < self.n_sets]
            problem = (
                f"row {bad[0]} is out of range (the shards hold {self.n_sets} sets)" if bad else "rows must be sorted and unique"
            )
            raise DataError(f"{','.join(self.paths)}: {problem}")
        edges = np.cumsum([0, *self.sizes])
        parts = [
            read_event_rows(path, wanted[(wanted >= lo) & (wanted < hi)] - lo, n_events=self.n_events)
            for path, lo, hi in zip(self.paths, edges[:-1], edges[1:])
        ]
        return _merge_shards(parts)


def open_event_shards(paths: Sequence[str | os.PathLike[str]], n_events: int | None = None) -> EventShards:
    """The training shards ``(B_i, N, F)`` with their sizes, read from the files' metadata alone."""
    if not paths:
        raise DataError("no training shards given")
    names = tuple(str(p) for p in paths)
    return EventShards(names, tuple(count_event_sets(p, n_events) for p in names), n_events)


# ---------------------------------------------------------------------------------- samples
@dataclass
class SampleSet:
    """Parameter draws of one method, ``samples`` ``(K, 6)`` normalized, with its settings.

    ``extras`` holds any further datasets of the file (histories, diagnostics, weights).
    """

    samples: np.ndarray
    method: str
    settings: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    path: str = ""


def write_samples(
    path: str | os.PathLike[str],
    samples: np.ndarray,
    method: str,
    settings: Mapping[str, Any],
    seed: int,
    theory: Mapping[str, Any],
    config_hash: str = "",
    extras: Mapping[str, np.ndarray] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> None:
    """Write ``samples`` ``(K, 6)`` (normalized) of ``method`` in the common samples layout."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != N_PARAMS:
        raise DataError(f"{path}: 'samples' must have shape (K, {N_PARAMS}), got {samples.shape}")
    if not np.all(np.isfinite(samples)):
        raise DataError(f"{path}: 'samples' of method {method!r} contain NaN or inf")
    datasets = {"samples": samples, **{k: np.asarray(v) for k, v in (extras or {}).items()}}
    write_h5(
        path,
        "samples",
        datasets,
        {
            "method": method,
            "settings": dict(settings),
            "seed": int(seed),
            "theory": dict(theory),
            "config_hash": config_hash,
            **(attrs or {}),
        },
    )


def read_samples(path: str | os.PathLike[str]) -> SampleSet:
    """Read a samples file written by :func:`write_samples`; extra datasets land in ``extras``."""
    path = Path(path)
    data, attrs = read_h5(path, kind="samples", required=("samples",), required_attrs=("method", "settings"))
    samples = data["samples"]
    if samples.ndim != 2 or samples.shape[1] != N_PARAMS:
        raise DataError(f"{path}: 'samples' must have shape (K, {N_PARAMS}), got {samples.shape}")
    with h5py.File(path, "r") as h5:
        names = [k for k in h5 if k != "samples" and isinstance(h5[k], h5py.Dataset)]
    extras, _ = read_h5(path, optional=names)
    return SampleSet(samples, str(attrs["method"]), dict(attrs["settings"]), attrs, extras, str(path))


def write_json(path: str | os.PathLike[str], payload: Any) -> None:
    """Write JSON atomically (sorted keys, indented, NaN rendered as null)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, np.ndarray):
            return clean(value.tolist())
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not np.isfinite(value):
            return None
        return value

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(clean(payload), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read JSON with a one-line :class:`DataError` for missing or malformed files."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: malformed JSON: {err}") from None
