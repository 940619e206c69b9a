"""Comparison metrics: C2ST calibration, exact values of the summaries, the metrics JSON, the sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pdfinfer.compare import run as compare_run
from pdfinfer.compare import score
from pdfinfer.compare import sweep as compare_sweep
from pdfinfer.compare.metrics import c2st, joint_credibility, parameter_summary, quantile_mse, relative_l2_error
from pdfinfer.errors import DataError
from pdfinfer.io import write_events, write_json, write_samples
from pdfinfer.params import PARAM_NAMES, THETA_MAX, THETA_MIN, TRUTH, TRUTH_PHYSICAL, to_normalized
from pdfinfer.reference.job import fisher_report
from pdfinfer.theory import make_theory


# ------------------------------------------------------------------ C2ST
@pytest.mark.slow
def test_c2st_same_distribution_is_chance_and_different_is_near_one():
    """1000 draws per side, 6-D standard normals. Same law: accuracy within 0.5 +- 0.05 (its 5-fold
    standard error is about 0.011); means 4 apart in one coordinate (Bayes accuracy 0.977): > 0.9."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((1000, 6)), rng.standard_normal((1000, 6))
    assert abs(c2st(x, y, max_samples=1000, seed=1) - 0.5) < 0.05
    shifted = y.copy()
    shifted[:, 0] += 4.0
    assert c2st(x, shifted, max_samples=1000, seed=1) > 0.9


def test_c2st_needs_enough_rows():
    with pytest.raises(DataError, match="at least 10 rows"):
        c2st(np.zeros((5, 2)), np.zeros((5, 2)))


# ------------------------------------------------------------------ exact values
def test_quantile_mse_exact_value():
    observed = np.arange(100.0)[:, None]  # quartile edges 24.75, 49.5, 74.25
    all_low = np.full((40, 1), 3.0)  # every predicted event in the first bin
    # fractions (1, 0, 0, 0) against 1/4 each: ((3/4)^2 + 3 (1/4)^2) / 4 = 0.1875
    assert quantile_mse(observed, all_low, 4)[0] == pytest.approx(0.1875)
    assert quantile_mse(observed, observed, 4)[0] == pytest.approx(0.0)


def test_parameter_summary_pull_coverage_and_width_ratio():
    rng = np.random.default_rng(2)
    theta = TRUTH_PHYSICAL + 0.05 * rng.standard_normal((20000, 6))
    theta[:, 1] += 0.075  # a_u: the truth sits 1.5 sigma below the mean
    samples = to_normalized(theta)
    ref_std = np.full(6, 0.1)
    summary = parameter_summary(samples, TRUTH, ref_std)
    a_u = summary["a_u"]
    assert a_u["mean"] == pytest.approx(theta[:, 1].mean(), rel=1e-12)
    assert a_u["std"] == pytest.approx(theta[:, 1].std(ddof=1), rel=1e-12)
    assert a_u["pull"] == pytest.approx((theta[:, 1].mean() - TRUTH_PHYSICAL[1]) / theta[:, 1].std(ddof=1))
    assert a_u["covered68"] is False and a_u["covered95"] is True  # 1.5 sigma: outside 68%, inside 95%
    assert summary["N_u"]["covered68"] is True
    assert summary["b_d"]["width_ratio"] == pytest.approx(summary["b_d"]["std"] / 0.1)
    assert set(summary["N_u"]) == set(score.PARAMETER_KEYS) - {"cramer_rao_ratio"}


def test_joint_credibility_and_relative_error():
    rng = np.random.default_rng(3)
    samples = TRUTH + 0.01 * rng.standard_normal((5000, 6))
    centred = samples - samples.mean(axis=0) + TRUTH
    assert joint_credibility(centred, TRUTH) == 0.0
    assert joint_credibility(samples, TRUTH + 0.2) == 1.0
    # Chi-square with 6 dof: the credibility of a point at squared distance 7.23 is about 0.70.
    offset = TRUTH + 0.01 * np.sqrt(7.23 / 6)
    assert joint_credibility(centred, offset) == pytest.approx(0.70, abs=0.03)
    assert relative_l2_error(np.tile(TRUTH * 1.1, (3, 1)), TRUTH) == pytest.approx(0.1)


# ------------------------------------------------------------------ the metrics JSON
def write_replicates(path, theory, eta, n_events, seed):
    """Replicate sets as pdfinfer.predictive writes them: events (D, n, F) at the draws eta (D, 6)."""
    generator = torch.Generator().manual_seed(seed)
    events = theory.sample(torch.as_tensor(eta), n_events, generator=generator).numpy()
    norm = theory.normalizers(torch.as_tensor(eta)).numpy()
    write_events(path, events, eta, norm, theory.spec(), seed=seed, norm_rel_unc=0.02)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    """A compare run on synthetic inputs: 256 observed events, a Gaussian 'reference' and two methods."""
    tmp = tmp_path_factory.mktemp("compare")
    theory = make_theory("proxy")
    generator = torch.Generator().manual_seed(5)
    events = theory.sample(torch.as_tensor(TRUTH)[None], 256, generator=generator)[0].numpy()
    norm = theory.normalizers(torch.as_tensor(TRUTH)[None])[0].numpy()
    write_events(tmp / "observed.h5", events, TRUTH, norm, theory.spec(), seed=5, norm_rel_unc=0.02)
    rng = np.random.default_rng(6)
    reference = np.clip(TRUTH + 0.03 * rng.standard_normal((2000, 6)), 0, 1)
    extras = {"rhat": np.full(6, 1.001), "ess_bulk": np.full(6, 1500.0)}
    write_samples(tmp / "reference.h5", reference, "reference", {}, 0, theory.spec(), extras=extras)
    good = np.clip(TRUTH + 0.03 * rng.standard_normal((2000, 6)), 0, 1)
    write_samples(tmp / "good.h5", good, "npe", {}, 0, theory.spec(), attrs={"wall_time_s": 42.0})
    shift = np.array([0.0, 0.25, 0.0, 0.0, 0.0, 0.0])  # a_u = 0 instead of -0.5: far fewer low-x events
    bad = np.clip(TRUTH + shift + 0.01 * rng.standard_normal((2000, 6)), 0, 1)
    write_samples(tmp / "bad.h5", bad, "adversarial", {}, 0, theory.spec())
    for name, draws, seed in (
        ("reference", reference, 1),
        ("good", good, 2),
        ("bad", bad, 3),
        ("truth", np.tile(TRUTH, (8, 1)), 4),
    ):
        write_replicates(tmp / f"pred_{name}.h5", theory, draws[:8], 256, seed)
    write_json(tmp / "fisher.json", fisher_report(theory, 256, None, 16))
    out = tmp / "metrics.json"
    settings = json.dumps({"c2st_max_samples": 300, "event_max_events": 256, "n_quantiles": 8})
    args = [
        "--observed",
        str(tmp / "observed.h5"),
        "--reference",
        str(tmp / "reference.h5"),
        "--fisher",
        str(tmp / "fisher.json"),
        "--samples",
        f"npe={tmp / 'good.h5'}",
        "--samples",
        f"adversarial={tmp / 'bad.h5'}",
        "--predictive",
        f"reference={tmp / 'pred_reference.h5'}",
        "--predictive",
        f"npe={tmp / 'pred_good.h5'}",
        "--predictive",
        f"adversarial={tmp / 'pred_bad.h5'}",
        "--truth-predictive",
        str(tmp / "pred_truth.h5"),
        "--settings",
        settings,
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    assert compare_run.main(args) == 0
    return json.loads(out.read_text())


def test_compare_refuses_a_method_without_replicate_sets(tmp_path, capsys):
    args = [
        "--observed",
        "o.h5",
        "--reference",
        "r.h5",
        "--fisher",
        "f.json",
        "--samples",
        "npe=n.h5",
        "--predictive",
        "reference=p.h5",
        "--truth-predictive",
        "t.h5",
        "--out",
        str(tmp_path / "m.json"),
    ]
    assert compare_run.main(args) == 1
    assert "--predictive: no replicate sets for ['npe']" in capsys.readouterr().err


@pytest.mark.slow
def test_metrics_json_has_the_documented_keys(comparison):
    doc = score.__doc__
    for group in (score.METRICS_KEYS, score.METHOD_KEYS, score.PARAMETER_KEYS, score.TABLE_KEYS):
        for key in group:
            assert f"``{key}``" in doc or f"{key}," in doc or f"{key}:" in doc or f" {key}" in doc, f"key {key!r} not documented"
    assert set(comparison) == set(score.METRICS_KEYS)
    assert set(comparison["methods"]) == {"reference", "npe", "adversarial"}
    for method in comparison["methods"].values():
        assert set(method) == set(score.METHOD_KEYS)
        assert set(method["parameters"]) == set(PARAM_NAMES)
        for stats in method["parameters"].values():
            assert set(stats) == set(score.PARAMETER_KEYS)
    assert all(set(row) == set(score.TABLE_KEYS) for row in comparison["table"])
    assert comparison["settings"]["c2st_samples_used"] == 300
    assert comparison["cramer_rao"]["N_u"] is None and comparison["cramer_rao"]["a_u"] > 0


@pytest.mark.slow
def test_metrics_values_separate_good_and_bad_methods(comparison):
    good, bad = comparison["methods"]["npe"], comparison["methods"]["adversarial"]
    assert good["c2st"] < 0.6 < 0.9 < bad["c2st"]
    assert good["covered95_joint"] and not bad["covered95_joint"]
    assert good["wall_time_s"] == pytest.approx(42.0) and bad["wall_time_s"] is None
    assert bad["event_quantile_mse"] > good["event_quantile_mse"]
    assert abs(good["parameters"]["a_u"]["width_ratio"] - 1.0) < 0.1
    # The truth sits 0.25 (normalized) = 0.25 * (THETA_MAX - THETA_MIN) physical below the bad method's mean.
    expected_pull = 0.25 * (THETA_MAX[1] - THETA_MIN[1]) / bad["parameters"]["a_u"]["std"]
    assert bad["parameters"]["a_u"]["pull"] == pytest.approx(expected_pull, rel=0.05)


# ------------------------------------------------------------------ sweep
def fake_report(n_obs, width):
    params = {n: {"std": width, "width_ratio": 1.0} for n in PARAM_NAMES}
    method = {"parameters": params, "c2st": 0.5, "event_c2st": 0.5, "rel_l2_error": 0.1}
    return {"n_obs": n_obs, "methods": {"reference": method, "npe": method}, "cramer_rao": {n: 0.9 * width for n in PARAM_NAMES}}


def test_sweep_recovers_the_inverse_sqrt_law(tmp_path):
    paths = []
    for n in (256, 1024, 4096):
        paths.append(tmp_path / f"n{n}.json")
        write_json(paths[-1], fake_report(n, 0.3 / np.sqrt(n)))
    out = tmp_path / "sweep.json"
    assert compare_sweep.main(["--metrics", *map(str, paths), "--out", str(out)]) == 0
    sweep = json.loads(out.read_text())
    assert sweep["n_obs"] == [256, 1024, 4096]
    assert sweep["methods"]["npe"]["scaling_exponent"]["a_u"] == pytest.approx(-0.5, abs=1e-9)
    np.testing.assert_allclose(sweep["sqrt_n_law"]["b_d"], 0.3 / np.sqrt([256, 1024, 4096]), rtol=1e-12)
    assert sweep["cramer_rao"]["N_u"][0] == pytest.approx(0.9 * 0.3 / 16)


def test_sweep_rejects_repeated_sizes(tmp_path, capsys):
    for name in ("a", "b"):
        write_json(tmp_path / f"{name}.json", fake_report(256, 0.1))
    assert (
        compare_sweep.main(["--metrics", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--out", str(tmp_path / "s.json")])
        == 1
    )
    assert "repeat an n_obs" in capsys.readouterr().err


# ------------------------------------------------------------------ amplification (GANplifying)
def test_amplification_of_an_exact_sampler_is_its_own_size():
    """n true events scored against bins of M other true events have n_eff = n on average.

    One MSE of F = 2 features and Q = 20 bins has relative sd about sqrt(2 / (F (Q - 1))) = 0.23;
    the mean of 60 repeats has sd 0.03, so 0.12 is a 4-sd tolerance on the inverted n_eff.
    """
    from pdfinfer.compare.metrics import amplification, binned_mse, equal_probability_edges

    rng = np.random.default_rng(9)
    q, m, n = 20, 200_000, 2000
    edges = equal_probability_edges(rng.standard_normal((m, 2)), q)
    mse = np.mean([binned_mse(edges, rng.standard_normal((n, 2))) for _ in range(60)])
    result = amplification(float(mse), q, m)
    assert result["bound"] is None
    assert result["effective_events"] == pytest.approx(n, rel=0.12)


def test_amplification_bounds_and_measured_curve():
    from pdfinfer.compare.metrics import amplification, equal_probability_edges, expected_quantile_mse, quantile_mse_curve

    q, m = 10, 50_000
    floor = expected_quantile_mse(np.inf, q, m)
    assert amplification(floor, q, m) == {"effective_events": float(m), "bound": "lower"}
    rng = np.random.default_rng(2)
    edges = equal_probability_edges(rng.uniform(size=(m, 1)), q)
    sizes = [100, 1000, 10000]
    measured = quantile_mse_curve(edges, rng.uniform(size=(m, 1)), sizes, 40, rng)
    # 40 repeats of a 9-dof statistic: relative sd sqrt(2 / 9 / 40) = 0.075; tolerance 4 sd.
    np.testing.assert_allclose(measured, expected_quantile_mse(np.array(sizes), q, m), rtol=0.3)
