"""The contamination study: the outlier model, its settings, the summary numbers and the figure."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kstest

from pdfinfer.compare.replicas import replicate_observation
from pdfinfer.contamination.model import contaminate, n_outliers, shifted_eta
from pdfinfer.contamination.settings import ContaminationSettings
from pdfinfer.contamination.study import answer, record, summarize
from pdfinfer.errors import ConfigError
from pdfinfer.params import TRUTH
from pdfinfer.theory import make_theory

PROXY = make_theory("proxy")


@pytest.fixture(scope="module")
def clean():
    """A clean replicate at the truth, 200 events (the coverage study's set 0 of seed 3)."""
    return replicate_observation(PROXY, 200, "truth", 0, 0.02, 3)


def changed_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.flatnonzero((a != b).any(axis=1))


def test_eps_zero_returns_the_clean_set_bit_for_bit(clean):
    for kind in ("broad", "shifted"):
        same = contaminate(clean, 0.0, kind, seed=1)
        assert same.events.tobytes() == clean.events.tobytes()
        assert np.array_equal(same.params, clean.params) and np.array_equal(same.norm, clean.norm)


@pytest.mark.parametrize("kind", ["broad", "shifted"])
@pytest.mark.parametrize("eps", [0.004, 0.01, 0.05, 0.1, 0.333])
def test_exactly_round_eps_n_events_are_replaced(clean, kind, eps):
    out = contaminate(clean, eps, kind, seed=2)
    # A replaced float32 event equal to the clean one has probability ~0; the count is exact.
    assert len(changed_rows(out.events, clean.events)) == round(eps * clean.n_events) == n_outliers(200, eps)
    assert out.attrs["contamination_n"] == round(eps * 200)
    assert np.array_equal(out.params, clean.params) and np.array_equal(out.norm, clean.norm)  # truth and norm stay clean


def test_same_seed_same_set_and_sets_are_nested_in_eps(clean):
    a, b = contaminate(clean, 0.1, "broad", seed=7), contaminate(clean, 0.1, "broad", seed=7)
    assert a.events.tobytes() == b.events.tobytes()
    other = contaminate(clean, 0.1, "broad", seed=8)
    assert not np.array_equal(other.events, a.events)
    small = contaminate(clean, 0.05, "broad", seed=7)
    rows = changed_rows(small.events, clean.events)
    assert np.array_equal(small.events[rows], a.events[rows])  # the outliers of eps=0.05 are among those of 0.1


@pytest.mark.parametrize("theory", ["proxy", "dis"])
def test_broad_outliers_lie_in_the_support_and_are_uniform_in_x(theory):
    th = make_theory(theory)
    base = replicate_observation(th, 2000, "truth", 1, 0.02, 5)
    out = contaminate(base, 0.5, "broad", seed=4)
    th.check_support(out.events, "broad outliers")  # raises outside the support
    rows = changed_rows(out.events, base.events)
    x = out.events[rows][:, 0].astype(float)  # x of the first target
    # 1000 outliers: KS against U[x_lo, x_hi) at the 1e-3 level (the clean x, peaked near x_lo, fails it by far).
    assert kstest((x - th.x_lo) / (th.x_hi - th.x_lo), "uniform").pvalue > 1e-3
    assert kstest((base.events[:, 0] - th.x_lo) / (th.x_hi - th.x_lo), "uniform").pvalue < 1e-6


def test_shifted_outliers_come_from_the_shifted_point(clean):
    out = contaminate(clean, 0.5, "shifted", seed=4, shift=0.25)
    far = shifted_eta(TRUTH, 0.25)
    assert np.allclose(out.attrs["outlier_params"], far) and far.max() == 1.0 and np.allclose(far[1], TRUTH[1] + 0.25)
    rows = changed_rows(out.events, clean.events)
    sim = PROXY.log_prob  # the outliers are far likelier under the shifted point than under the truth
    import torch

    ev = torch.as_tensor(out.events[rows], dtype=torch.float64)[None]
    gain = sim(ev, torch.as_tensor(far)[None]).sum() - sim(ev, torch.as_tensor(TRUTH)[None]).sum()
    assert float(gain) > 0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"eps": [0.0, 0.7]}, "contamination.eps"),
        ({"kinds": ["wide"]}, "contamination.kinds"),
        ({"sets": 0}, "contamination.sets"),
        ({"shift": 1.5}, "contamination.shift"),
        ({"graceful": 1}, "unknown key"),
    ],
)
def test_wrong_settings_are_refused_in_one_line(section, message):
    with pytest.raises(ConfigError) as err:
        ContaminationSettings.from_config(section)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("section", "message"), [({"kinds": ["wide"]}, "contamination.kinds.0"), ({"sets": "2"}, "wrong type")])
def test_wrong_config_value_is_refused_by_the_schema(repo_root, section, message):
    import yaml

    from pdfinfer.config import load_schema, validate_schema

    config = {**yaml.safe_load((repo_root / "config" / "config.yaml").read_text()), "contamination": section}
    with pytest.raises(ConfigError) as err:
        validate_schema(config, load_schema(repo_root / "config" / "config.schema.yaml"))
    assert message in str(err.value) and "\n" not in str(err.value)


def synthetic_records(shift_sd: float) -> list[dict]:
    """Records of the referee (unmoved) and a method whose mean moves by ``shift_sd`` clean sd at eps = 0.1."""
    rng = np.random.default_rng(0)
    out = []
    for index in range(3):
        ref = rng.normal(TRUTH, 0.02, size=(400, 6))
        for kind, eps in (("clean", 0.0), ("broad", 0.1)):
            out.append(record("reference", kind, eps, index, ref, TRUTH))
            moved = ref + (shift_sd * ref.std(0, ddof=1) if eps else 0.0)
            out.append(record("adversarial", kind, eps, index, moved, TRUTH))
    return out


def test_summary_measures_the_shift_in_clean_sd_and_the_answer_says_who_degrades():
    summary = summarize(synthetic_records(3.0), ["broad"])
    clean, dirty = summary["adversarial"]["broad"]
    assert clean["eps"] == 0 and clean["max_shift_sd"] == 0
    assert dirty["max_shift_sd"] == pytest.approx(3.0, rel=1e-9)  # shifted by exactly 3 of the referee's sd
    assert summary["reference"]["broad"][1]["max_shift_sd"] == 0
    assert dirty["coverage95"]["joint"]["n"] == 3
    sentence = answer(summary, graceful_sd=1.0)
    assert "gracefully (at most 1 sd for every kind): Exact posterior (MCMC); not: Adversarial" in sentence
    assert "Adversarial (pooled seeds) 3.00" in sentence


def test_plot_runs_on_a_tiny_synthetic_summary():
    from pdfinfer.plotting.contamination import plot_contamination
    from pdfinfer.plotting.style import PlotStyle

    data = {"methods": summarize(synthetic_records(0.5), ["broad"]), "settings": {"graceful_sd": 1.0}}
    fig = plot_contamination(data, PlotStyle(dpi=40, formats=("png",)))
    assert "gracefully" in fig._suptitle.get_text() and "not:" not in fig._suptitle.get_text()
    assert len(fig.axes) == 3


#: The tiny config's adversarial settings, fewer steps: a refit of a few seconds.
TINY_ADVERSARIAL = (
    '{"steps": 2, "batch_params": 2, "noise_dim": 4, "generator_width": 8, "discriminator_width": 8, "discriminator_depth": 1,'
    ' "mmd_events": 16, "checkpoint_every": 4, "log_every": 1, "n_samples": 100}'
)


def test_clean_cell_reproduces_the_coverage_replica_run_exactly(tmp_path):
    """eps = 0: the set file is the coverage study's replicate at the truth, and the refit on it its replica fit."""
    from pdfinfer.compare import replica
    from pdfinfer.contamination import fit, make
    from pdfinfer.io import read_events, read_samples

    theory, common = '{"name": "proxy"}', ["--seed", "11", "--device", "cpu", "--threads", "1"]
    set_path, ours, theirs = tmp_path / "clean.h5", tmp_path / "ours.h5", tmp_path / "replica.h5"
    make_args = ["--kind", "clean", "--eps", "0", "--index", "1", "--n-obs", "48", "--theory", theory, "--out", str(set_path)]
    assert make.main(make_args + common) == 0
    clean = replicate_observation(PROXY, 48, "truth", 1, 0.02, 11)
    assert read_events(set_path).events.tobytes() == clean.events.tobytes()
    method = ["--method", "adversarial", "--normalization", "off", "--settings", TINY_ADVERSARIAL]
    assert fit.main(method + ["--observed", str(set_path), "--out", str(ours)] + common) == 0
    replica_args = ["--kind", "truth", "--index", "1", "--n-obs", "48", "--theory", theory, "--out", str(theirs)]
    assert replica.main(method + replica_args + common) == 0
    assert read_samples(ours).samples.tobytes() == read_samples(theirs).samples.tobytes()
    assert read_samples(ours).attrs["contamination_eps"] == 0.0


@pytest.mark.slow
def test_enabled_study_adds_its_jobs_to_the_dag_with_quoted_paths(tmp_path):
    """Dry run of the tiny config with the study on (off in tiny.yaml: its refits would cost minutes)."""
    import re
    import shlex

    import yaml
    from workflow_helpers import snakemake

    on = tmp_path / "on.yaml"
    on.write_text(yaml.safe_dump({"contamination": {"enabled": True, "sets": 2, "eps": [0.0, 0.05, 0.1], "kinds": ["broad"]}}))
    target = tmp_path / "out;echo HACKED"
    proc = snakemake("-n", "-p", "--cores", "1", "--configfile", "config/tiny.yaml", str(on), "--config", f"results={target}")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    jobs = re.findall(r"^\s*(?:local)?rule (\w+):", out, flags=re.MULTILINE)
    cells = 2 * (1 + 2)  # sets x (clean + broad at 0.05 and 0.1)
    refitted, sampled = 2, 2  # tiny.yaml: reference and adversarial have a fit; npe and gatsbi a sampler
    reused = 1  # tiny.yaml's coverage study has 1 set at the truth: the clean set 0's refits are its replicas
    assert jobs.count("contaminated_set") == cells
    assert (
        jobs.count("contamination_fit") == refitted * (cells - reused) and jobs.count("contamination_sample") == sampled * cells
    )
    (gather,) = [line for line in out.splitlines() if "pdfinfer.contamination.gather" in line]
    for label in ("reference", "adversarial"):
        assert f"{target}/coverage/n128/{label}/truth0.h5" in shlex.split(gather.split("; ", 2)[-1]), gather
        assert f"{target}/contamination/n128/{label}/clean_eps0_set1.h5" in shlex.split(gather.split("; ", 2)[-1])
    assert jobs.count("contamination") == 1 and jobs.count("plot_contamination") == 1
    commands = [line for line in out.splitlines() if "pdfinfer.contamination" in line or "plotting.cli contamination" in line]
    assert len(commands) >= cells + refitted * (cells - reused) + 2
    for line in commands:
        words = shlex.split(line.split("; ", 2)[-1])
        assert "HACKED" not in [w.strip(";") for w in words], line


def test_a_failed_fit_is_recorded_and_counted_not_fatal(tmp_path, monkeypatch):
    """The referee not converging on a contaminated set is a result: a fit_failure file, counted by the summary."""
    import pdfinfer.reference.fit as reference_fit
    from pdfinfer.contamination import fit, gather, make
    from pdfinfer.io import read_json, write_samples
    from pdfinfer.reference.result import ConvergenceError

    common = ["--seed", "5", "--device", "cpu", "--threads", "1"]
    sets = {}
    for kind, eps in (("clean", "0"), ("broad", "0.1")):
        sets[kind] = tmp_path / f"{kind}.h5"
        args = ["--kind", kind, "--eps", eps, "--index", "0", "--n-obs", "40", "--theory", '{"name": "proxy"}']
        assert make.main(args + ["--out", str(sets[kind])] + common) == 0
    clean_draws = tmp_path / "ref_clean.h5"
    draws = np.random.default_rng(1).normal(TRUTH, 0.02, size=(300, 6)).clip(0, 1)
    write_samples(clean_draws, draws, "reference", {}, 5, {"name": "proxy"}, "")

    def diverge(*args, **kwargs):
        raise ConvergenceError("reference: b_d has R-hat 1.7 (max 1.01)")

    monkeypatch.setattr(reference_fit, "fit", diverge)
    failed = tmp_path / "ref_broad.h5"
    args = ["--method", "reference", "--observed", str(sets["broad"]), "--normalization", "off", "--out", str(failed)]
    assert fit.main(args + common) == 0
    out = tmp_path / "contamination.json"
    runs = ["--run", "reference", str(sets["clean"]), str(clean_draws), "--run", "reference", str(sets["broad"]), str(failed)]
    assert gather.main(runs + ["--settings", '{"kinds": ["broad"], "eps": [0, 0.1]}', "--out", str(out)]) == 0
    payload = read_json(out)
    assert [f["error"] for f in payload["failures"]] == ["reference: b_d has R-hat 1.7 (max 1.01)"]
    assert [c["eps"] for c in payload["methods"]["reference"]["broad"]] == [0.0]  # the failed cell is not scored
    assert "Exact posterior (MCMC) failed" in payload["answer"] and "not: Exact posterior (MCMC)" in payload["answer"]
    assert "Fits that failed (not scored): Exact posterior (MCMC) 1." in payload["answer"]
