"""The simulate module: truth bank, observed set, training shards; bit-for-bit reproducibility."""

import subprocess
import sys

import numpy as np
import pytest

from pdfinfer.io import read_events
from pdfinfer.params import TRUTH
from pdfinfer.simulate import main
from pdfinfer.theory import make_theory


def run(*args):
    assert main([str(a) for a in args]) == 0


def test_truth_observed_and_training_files(tmp_path):
    theory = '{"name": "dis", "targets": ["p"]}'
    run("truth", "--theory", theory, "--n-events", 500, "--seed", 3, "--out", tmp_path / "truth.h5", "--device", "cpu")
    run("observed", "--truth", tmp_path / "truth.h5", "--n-obs", 100, "--out", tmp_path / "obs.h5")
    run(
        "training",
        "--theory",
        theory,
        "--n-sims",
        7,
        "--n-obs",
        100,
        "--shard",
        1,
        "--seed",
        3,
        "--out",
        tmp_path / "s1.h5",
        "--device",
        "cpu",
    )
    truth = read_events(tmp_path / "truth.h5", batched=False, n_events=500, n_features=2)
    obs = read_events(tmp_path / "obs.h5", batched=False, n_events=100)
    shard = read_events(tmp_path / "s1.h5", batched=True, n_events=100, n_features=2)
    np.testing.assert_array_equal(obs.events, truth.events[:100])
    np.testing.assert_array_equal(obs.norm, truth.norm)
    np.testing.assert_allclose(truth.params, TRUTH)
    assert make_theory(truth.theory).settings() == make_theory("dis", targets=["p"]).settings()
    assert shard.params.shape == (7, 6) and shard.norm.shape == (7, 1) and shard.attrs["shard"] == 1
    # the normalization measurement scatters around Z(eta) with the configured 2 %
    z = make_theory(shard.theory).normalizers(__import__("torch").as_tensor(shard.params)).numpy()
    pulls = (shard.norm / z - 1) / 0.02
    assert np.all(np.abs(pulls) < 5)


def test_same_seed_gives_bit_identical_datasets_and_shards_differ(tmp_path):
    for name in ("a", "b"):
        run(
            "training",
            "--theory",
            "proxy",
            "--n-sims",
            5,
            "--n-obs",
            64,
            "--shard",
            0,
            "--seed",
            11,
            "--out",
            tmp_path / f"{name}.h5",
            "--device",
            "cpu",
        )
    run(
        "training",
        "--theory",
        "proxy",
        "--n-sims",
        5,
        "--n-obs",
        64,
        "--shard",
        1,
        "--seed",
        11,
        "--out",
        tmp_path / "c.h5",
        "--device",
        "cpu",
    )
    a, b, c = (read_events(tmp_path / f"{n}.h5") for n in "abc")
    for key in ("events", "params", "norm"):
        assert getattr(a, key).tobytes() == getattr(b, key).tobytes()
    assert not np.array_equal(a.params, c.params) and not np.array_equal(a.events, c.events)


def test_observed_set_larger_than_truth_bank_is_refused(tmp_path, capsys):
    run("truth", "--theory", "proxy", "--n-events", 50, "--out", tmp_path / "truth.h5", "--device", "cpu")
    assert main(["observed", "--truth", str(tmp_path / "truth.h5"), "--n-obs", "80", "--out", str(tmp_path / "o.h5")]) == 1
    assert "holds 50 events, fewer than n_obs = 80" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args, message",
    [
        (["truth", "--theory", "qcd", "--out", "x.h5"], "unknown theory 'qcd'; allowed: ['dis', 'proxy']"),
        (["truth", "--theory", '{"name": "dis", "sqrt_s": -1}', "--out", "x.h5"], "dis theory: inconsistent kinematics"),
        (["training", "--theory", "proxy", "--n-sims", "0", "--n-obs", "5", "--out", "x.h5"], "--n-sims must be at least 1"),
        (
            ["truth", "--theory", "proxy", "--device", "cuda:7", "--out", "x.h5"],
            "device 'cuda:7' requested but CUDA is not available",
        ),
    ],
)
def test_bad_arguments_give_one_line_errors(tmp_path, args, message):
    import torch

    if "cuda" in message and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = subprocess.run(
        [sys.executable, "-m", "pdfinfer.simulate", *args], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert message in proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("n", [-3, 0, 2.5, "10", True])
def test_sample_refuses_event_counts_that_are_not_positive_integers(n):
    # issue 15.7: raw torch errors before
    from pdfinfer.errors import ParameterError

    th = make_theory("proxy")
    with pytest.raises(ParameterError, match=r"proxy: the number of events must be a positive integer, got"):
        th.sample(__import__("torch").as_tensor(TRUTH)[None], n)


def test_sample_refuses_requests_above_the_memory_bound_with_the_bytes_needed(monkeypatch):
    # issue 15.7: sample(eta, 1e9) asked for 16 GB unchecked; the estimate is 88 bytes per proxy event
    from pdfinfer.errors import ConfigError

    monkeypatch.setenv("PDFINFER_MAX_BYTES", str(10**9))
    th = make_theory("proxy")
    with pytest.raises(
        ConfigError, match=r"sampling 1 x 1000000000 events would need about 88\.0 GB \(88000000000 bytes\), more than the cap"
    ):
        th.sample(__import__("torch").as_tensor(TRUTH)[None], 10**9)


def test_a_billion_event_truth_bank_ends_in_one_line(tmp_path):
    # issue 15.7: a numpy MemoryError traceback before; the cap makes the test independent of the machine
    env = {**__import__("os").environ, "PDFINFER_MAX_BYTES": str(4 * 10**9)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pdfinfer.simulate",
            "truth",
            "--theory",
            "proxy",
            "--n-events",
            "1000000000",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "t.h5"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        last.startswith("error: pdfinfer.simulate: simulating 1 x 1000000000 proxy events would need about") and "bytes" in last
    )
    assert not list(tmp_path.iterdir())


def test_holdout_sets_are_reproducible_in_the_shard_layout_and_differ_from_training(tmp_path):
    from pdfinfer.runtime import derive_seed

    common = ["--theory", "proxy", "--n-sims", 4, "--seed", 5, "--device", "cpu"]
    for name in ("h1", "h2"):
        run("holdout", *common, "--n-events", 64, "--normalization", "off", "--rel-unc", 0.05, "--out", tmp_path / f"{name}.h5")
    run("training", *common, "--n-obs", 64, "--shard", 0, "--norm-rel-unc", 0.05, "--out", tmp_path / "s0.h5")
    h1, h2 = (read_events(tmp_path / f"{n}.h5", batched=True, n_events=64, n_features=2) for n in ("h1", "h2"))
    shard = read_events(tmp_path / "s0.h5")
    for key in ("events", "params", "norm"):
        assert getattr(h1, key).tobytes() == getattr(h2, key).tobytes()
        assert getattr(h1, key).shape == getattr(shard, key).shape
    assert not np.array_equal(h1.params, shard.params) and not np.array_equal(h1.events, shard.events)
    assert h1.attrs["stream"] == "holdout" and h1.attrs["normalization"] == "off" and h1.norm_rel_unc == 0.05
    assert h1.attrs["seed"] == derive_seed(5, "holdout", 64) != shard.attrs["seed"]


def test_help_imports_neither_torch_nor_numpy():
    # issue 14 start-up: `--help` must not wait for torch (about 3 s); no timing, the imports are the cause
    code = (
        "import sys\nfrom pdfinfer.simulate import main\n"
        "try:\n    main(['holdout', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('torch', 'numpy', 'h5py', 'scipy') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "--normalization" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"
