"""HDF5 storage: round trips, provenance, atomic writes and one-line errors for bad files."""

import subprocess
import sys

import h5py
import numpy as np
import pytest

from pdfinfer import __version__
from pdfinfer.errors import DataError, ParameterError
from pdfinfer.io import (
    FORMAT_VERSION,
    atomic_path,
    count_event_sets,
    open_event_shards,
    read_event_rows,
    read_event_shards,
    read_events,
    read_samples,
    write_events,
    write_samples,
)
from pdfinfer.params import TRUTH

PROXY = {"name": "proxy", "x_min": 0.1}


def _events(tmp_path, name="ev.h5", shape=(3, 50, 2), seed=1, **kw):
    rng = np.random.default_rng(seed)
    events = rng.uniform(0.1, 1, size=shape).astype(np.float32)
    lead = shape[:-2]
    params = rng.uniform(size=(*lead, 6))
    norm = rng.uniform(1, 2, size=(*lead, 2))
    path = tmp_path / name
    write_events(path, events, params, norm, kw.pop("theory", PROXY), seed=seed, norm_rel_unc=0.02, config_hash="abc", **kw)
    return path, events, params, norm


def test_event_round_trip_with_provenance(tmp_path):
    path, events, params, norm = _events(tmp_path)
    got = read_events(path, batched=True, n_events=50, n_features=2)
    np.testing.assert_array_equal(got.events, events)
    np.testing.assert_array_equal(got.params, params)
    np.testing.assert_array_equal(got.norm, norm)
    assert got.theory == PROXY and got.norm_rel_unc == 0.02
    assert got.attrs["format_version"] == FORMAT_VERSION and got.attrs["package_version"] == __version__
    assert got.attrs["config_hash"] == "abc" and got.attrs["seed"] == 1 and "created" in got.attrs
    with h5py.File(path) as h5:
        assert h5["events"].compression == "gzip" and h5["events"].chunks is not None
        assert h5["events"].dtype == np.float32


def test_samples_round_trip_with_extras(tmp_path):
    samples = np.random.default_rng(0).uniform(size=(100, 6))
    write_samples(
        tmp_path / "s.h5", samples, "npe", {"flow": "nsf"}, seed=3, theory=PROXY, extras={"history_loss": np.arange(5.0)}
    )
    got = read_samples(tmp_path / "s.h5")
    np.testing.assert_array_equal(got.samples, samples)
    assert got.method == "npe" and got.settings == {"flow": "nsf"}
    np.testing.assert_array_equal(got.extras["history_loss"], np.arange(5.0))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.h5: file not found"):
        read_events(tmp_path / "nope.h5")


def test_corrupt_and_truncated_files(tmp_path):
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not hdf5" * 100)
    with pytest.raises(DataError, match=r"garbage\.h5: not a readable HDF5 file"):
        read_events(garbage)
    path, *_ = _events(tmp_path, shape=(4, 5000, 2))
    data = path.read_bytes()
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"truncated\.h5: (not a readable HDF5 file|dataset 'events' cannot be read)"):
        read_events(truncated)


def test_wrong_format_version_and_kind(tmp_path):
    path, *_ = _events(tmp_path)
    with h5py.File(path, "a") as h5:
        h5.attrs["format_version"] = 99
    with pytest.raises(DataError, match=r"format version 99 is not supported \(this pdfinfer reads version 1\)"):
        read_events(path)
    write_samples(tmp_path / "s.h5", np.full((2, 6), 0.5), "npe", {}, 0, PROXY)
    with pytest.raises(DataError, match=r"holds 'samples' data, expected 'events'"):
        read_events(tmp_path / "s.h5")


def test_wrong_shapes_are_refused_with_the_file_name(tmp_path):
    path, *_ = _events(tmp_path)
    with pytest.raises(DataError, match=r"ev\.h5: expected 100 events per set, got 50"):
        read_events(path, n_events=100)
    with pytest.raises(DataError, match=r"ev\.h5: expected one event set \(N, F\)"):
        read_events(path, batched=False)
    with h5py.File(path, "a") as h5:
        del h5["events"]
        h5["events"] = np.zeros((3, 50, 3), dtype=np.float32)
    with pytest.raises(DataError, match=r"ev\.h5: 'events' must have shape \(N, 2\) or \(B, N, 2\) for theory 'proxy'"):
        read_events(path)
    with h5py.File(path, "a") as h5:
        del h5["norm"]
    with pytest.raises(DataError, match=r"ev\.h5: missing dataset 'norm'"):
        read_events(path)


def test_out_of_box_parameters_in_a_file_are_refused(tmp_path):
    path, *_ = _events(tmp_path)
    with h5py.File(path, "a") as h5:
        h5["params"][1, 2] = 1.5
    with pytest.raises(ParameterError, match=r"ev\.h5: 'params': normalized b_u = 1\.5 at index \(1, 2\)"):
        read_events(path)


def test_shards_must_agree(tmp_path):
    a, *_ = _events(tmp_path, "a.h5", seed=1)
    b, *_ = _events(tmp_path, "b.h5", seed=2, shape=(2, 50, 2))
    c, *_ = _events(tmp_path, "c.h5", seed=3, shape=(2, 40, 2))
    merged = read_event_shards([a, b])
    assert merged.events.shape == (5, 50, 2) and merged.params.shape == (5, 6)
    with pytest.raises(DataError, match=r"c\.h5: expected 50 events per set, got 40"):
        read_event_shards([a, c], n_events=50)
    with pytest.raises(DataError, match=r"c\.h5: events per set 40 differs from .*a\.h5 \(50\)"):
        read_event_shards([a, c])


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.h5"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError):  # NaNs are refused before anything is written
        write_events(target, np.full((5, 2), np.nan), TRUTH, np.ones(2), PROXY, 0, 0.02)
    assert not target.exists()


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n" + b"0" * 300)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pdfinfer.simulate",
            "observed",
            "--truth",
            str(bad),
            "--n-obs",
            "10",
            "--out",
            str(tmp_path / "o.h5"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: pdfinfer.simulate: ") and "bad.h5: not a readable HDF5 file" in last
    assert not (tmp_path / "o.h5").exists()


def test_events_outside_the_support_are_refused_naming_file_set_row_and_value(tmp_path):
    # issue 15.4: x = 5.0 and x = -0.3 used to be read without complaint
    path, events, params, norm = _events(tmp_path)
    events[1, 7, 0] = 5.0
    write_events(path, events, params, norm, PROXY, seed=1, norm_rel_unc=0.02)
    with pytest.raises(
        DataError, match=r"ev\.h5: set 1, event 7 \(x_p = 5\) lies outside the support of theory 'proxy' \(x in \[0\.1, 1\]\)"
    ):
        read_events(path)
    single = tmp_path / "single.h5"
    write_events(
        single, np.array([[0.5, 0.5], [0.5, -0.3]], dtype=np.float32), TRUTH, np.ones(2), PROXY, seed=1, norm_rel_unc=0.02
    )
    with pytest.raises(DataError, match=r"single\.h5: event 1 \(x_n = -0\.3\) lies outside the support"):
        read_events(single)
    good, *_ = _events(tmp_path, "good.h5")
    with pytest.raises(DataError, match=r"ev\.h5: set 1, event 7"):
        read_event_shards([good, path])
    dis = tmp_path / "dis.h5"
    q2_too_high = np.array([[0.3, 5.0, 0.3, 5.0], [0.3, 5.0, 0.3, 1e6]], dtype=np.float32)
    write_events(dis, q2_too_high, TRUTH, np.ones(2), {"name": "dis"}, seed=1, norm_rel_unc=0.02)
    with pytest.raises(
        DataError,
        match=r"dis\.h5: event 1 \(x_n = 0\.3, Q2_n = 1e\+06\) lies outside the support of theory 'dis' \(x in .* <= Q2 <=",
    ):
        read_events(dis)


def test_a_write_removes_stale_temporaries_of_the_same_output_only(tmp_path):
    # issue 15.6: .<name>.<random>.part files left by a SIGKILL were never cleaned
    stale = [tmp_path / ".out.h5.k3j2.part", tmp_path / ".out.h5.zz_9.part"]
    other = tmp_path / ".other.h5.k3j2.part"
    for p in [*stale, other]:
        p.write_bytes(b"half-written")
    _events(tmp_path, "out.h5")
    assert not any(p.exists() for p in stale) and other.exists()
    assert read_events(tmp_path / "out.h5").n_events == 50


def test_unwritable_output_folder_is_one_line_naming_the_path(tmp_path):
    # issue 15.7: a bare FileNotFoundError / NotADirectoryError traceback before; a regular file as
    # the "folder" fails for root too (permission bits do not)
    blocker = tmp_path / "plain_file"
    blocker.write_text("not a folder")
    with pytest.raises(DataError, match=r"plain_file/sub/ev\.h5: cannot create the output folder"):
        _events(tmp_path, "plain_file/sub/ev.h5")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pdfinfer.simulate",
            "truth",
            "--theory",
            "proxy",
            "--n-events",
            "10",
            "--device",
            "cpu",
            "--out",
            str(blocker / "t.h5"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "plain_file/t.h5: cannot create the output folder" in proc.stderr.strip().splitlines()[-1]


# ----------------------------------------------------------------------------- row subsets (npe_train reads only some rows)
def test_row_reader_returns_exactly_the_rows_of_a_full_read(tmp_path):
    a, *_ = _events(tmp_path, "a.h5", seed=1)
    b, *_ = _events(tmp_path, "b.h5", seed=2, shape=(4, 50, 2))
    full = read_event_shards([a, b], n_events=50)
    shards = open_event_shards([a, b], n_events=50)
    assert shards.sizes == (3, 4) and shards.n_sets == 7 and count_event_sets(b) == 4
    for rows in ([0, 2, 4, 6], [3], list(range(7)), [1, 2]):
        got = shards.rows(rows)
        for name in ("events", "params", "norm"):
            np.testing.assert_array_equal(getattr(got, name), getattr(full, name)[rows])
        assert got.theory == full.theory and got.norm_rel_unc == full.norm_rel_unc
    one = read_events(b)
    got = read_event_rows(b, [2, 0, 2], n_events=50)  # any order, repeats allowed
    np.testing.assert_array_equal(got.events, one.events[[2, 0, 2]])
    np.testing.assert_array_equal(got.norm, one.norm[[2, 0, 2]])
    assert read_event_rows(b, []).events.shape == (0, 50, 2)
    np.testing.assert_array_equal(full.rows([5, 1]).events, full.events[[5, 1]])  # the in-memory counterpart


def _one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_row_reader_refuses_out_of_range_rows_and_corrupt_files_in_one_line(tmp_path):
    a, *_ = _events(tmp_path, "a.h5", seed=1)
    b, *_ = _events(tmp_path, "b.h5", seed=2, shape=(4, 50, 2))
    with pytest.raises(DataError, match=r"a\.h5: row 3 is out of range \(the file holds 3 sets\)") as err:
        read_event_rows(a, [0, 3])
    _one_line(err)
    with pytest.raises(DataError, match=r"a\.h5,.*b\.h5: row 7 is out of range \(the shards hold 7 sets\)") as err:
        open_event_shards([a, b]).rows([1, 7])
    _one_line(err)
    with pytest.raises(DataError, match=r"a\.h5: expected 40 events per set, got 50"):
        read_event_rows(a, [0], n_events=40)
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataError, match=r"garbage\.h5: not a readable HDF5 file") as err:
        read_event_rows(garbage, [0])
    _one_line(err)
    with pytest.raises(DataError, match=r"garbage\.h5: not a readable HDF5 file"):
        open_event_shards([a, garbage])
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(b.read_bytes()[:2000])
    with pytest.raises(DataError, match=r"truncated\.h5: ") as err:
        read_event_rows(truncated, [1])
    _one_line(err)


def test_row_reader_checks_the_support_of_the_rows_it_reads_naming_the_file_row(tmp_path):
    path, events, params, norm = _events(tmp_path, shape=(4, 50, 2))
    events[2, 7, 0] = 5.0
    write_events(path, events, params, norm, PROXY, seed=1, norm_rel_unc=0.02)
    assert read_event_rows(path, [0, 1, 3]).events.shape == (3, 50, 2)  # the bad set is not read
    with pytest.raises(DataError, match=r"ev\.h5: set 2, event 7 \(x_p = 5\) lies outside the support") as err:
        read_event_rows(path, [0, 2])
    _one_line(err)
