"""The valence sum-rule constraint (observation.constraints) and the prior-aware information bound."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from scipy.integrate import quad

from pdfinfer.config import check_config, load_schema, validate_schema
from pdfinfer.constraints.settings import ConstraintSettings, constraint_settings
from pdfinfer.constraints.sumrules import (
    HARD_VARIANCE,
    TARGETS,
    constraint_fisher,
    deviations,
    integrals,
    integrals_np,
    log_factor,
    sample_prior,
)
from pdfinfer.errors import ConfigError
from pdfinfer.params import THETA_MAX, THETA_MIN, TRUTH, TRUTH_PHYSICAL, to_physical
from pdfinfer.reference.fisher import PRIOR_STD, bayesian_bound, cramer_rao, prior_aware

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(ROOT / "config" / "config.schema.yaml")
CONFIG = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
SOFT = ConstraintSettings("sum_rules", "soft", 0.05)
HARD = ConstraintSettings("sum_rules", "hard", 0.05)


def with_constraints(**values):
    config = copy.deepcopy(CONFIG)
    config["observation"]["constraints"] = {**config["observation"]["constraints"], **values}
    return config


# ------------------------------------------------------------------ the integrals
def test_truth_satisfies_the_sum_rules_in_closed_form():
    # N B(a + 1, b + 1) with the complete beta function in Gamma functions, exactly as on paper
    from math import gamma

    n_u, a_u, b_u, n_d, a_d, b_d = TRUTH_PHYSICAL
    closed = [n * gamma(a + 1) * gamma(b + 1) / gamma(a + b + 2) for n, a, b in ((n_u, a_u, b_u), (n_d, a_d, b_d))]
    np.testing.assert_allclose(closed, [2.0, 8.0 / 9.0], rtol=1e-14)
    np.testing.assert_allclose(integrals_np(TRUTH_PHYSICAL), closed, rtol=1e-13)
    np.testing.assert_allclose(integrals(torch.as_tensor(TRUTH_PHYSICAL)).numpy(), closed, rtol=1e-13)
    # the normalized truth is rounded to 8 digits: its deviations are ~1e-8
    assert np.abs(deviations(torch.as_tensor(TRUTH)).numpy()).max() < 1e-7


def test_integrals_agree_with_quadrature_over_the_box():
    # QUADPACK's QAWS rule integrates N x^a (1-x)^b with the algebraic end-point weight exactly
    # (to its 1e-11 tolerance), independently of the beta function: rtol 1e-8 is generous.
    rng = np.random.default_rng(0)
    theta = THETA_MIN + rng.uniform(size=(12, 6)) * (THETA_MAX - THETA_MIN)
    theta[:, [1, 4]] = np.clip(theta[:, [1, 4]], -0.95, None)  # a = -1 is the (integrable-less) edge
    closed = integrals_np(theta)
    np.testing.assert_allclose(integrals(torch.as_tensor(theta)).numpy(), closed, rtol=1e-12)
    for row, (iu, idd) in zip(theta, closed):
        for (n, a, b), value in zip(((0, 1, 2), (3, 4, 5)), (iu, idd)):
            numeric, _ = quad(lambda x: row[n], 0.0, 1.0, weight="alg", wvar=(row[a], row[b]), epsabs=0, epsrel=1e-11)
            assert numeric == pytest.approx(value, rel=1e-8)


# ------------------------------------------------------------------ the factor
def test_log_factor_forms_and_the_default_is_zero():
    eta = torch.rand((64, 6), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.equal(log_factor(eta, ConstraintSettings()), torch.zeros(64, dtype=torch.float64))
    delta = integrals_np(to_physical(eta.numpy())) / np.asarray(TARGETS) - 1
    np.testing.assert_allclose(log_factor(eta, SOFT).numpy(), -0.5 * ((delta / 0.05) ** 2).sum(1), rtol=1e-10)
    np.testing.assert_allclose(log_factor(eta, HARD).numpy(), -0.5 * ((delta / 0.05) ** 8).sum(1), rtol=1e-10)
    # the hard band: f > 0.6 inside the tolerance, f < 1e-5 beyond 1.5 tolerances (one integral off)
    assert np.exp(-0.5 * 1.0**8) > 0.6 and np.exp(-0.5 * 1.5**8) < 1e-5


@pytest.mark.parametrize("settings,scale", [(SOFT, 1.0), (HARD, HARD_VARIANCE)])
def test_constraint_information_is_the_curvature_or_the_band_variance(settings, scale):
    point = torch.as_tensor(TRUTH)
    info = constraint_fisher(TRUTH, settings)
    if settings.form == "soft":  # at delta = 0 the Gaussian's information is minus its Hessian
        hessian = torch.autograd.functional.hessian(lambda e: log_factor(e, settings), point).numpy()
        np.testing.assert_allclose(info, -hessian, rtol=1e-5, atol=1e-6 * np.abs(hessian).max())
    jac = torch.autograd.functional.jacobian(deviations, point).numpy()
    np.testing.assert_allclose(info, jac.T @ jac / (scale * 0.05**2), rtol=1e-10)
    assert np.linalg.matrix_rank(info) == 2


# ------------------------------------------------------------------ the constrained prior
def test_prior_sampler_off_is_the_box_stream_bit_for_bit():
    draws = sample_prior(100, torch.Generator().manual_seed(5), ConstraintSettings())
    assert torch.equal(draws, torch.rand((100, 6), generator=torch.Generator().manual_seed(5), dtype=torch.float64))


@pytest.mark.parametrize("settings", [SOFT, HARD])
def test_constrained_prior_draws_satisfy_the_constraint_inside_the_box(settings):
    draws = sample_prior(2000, torch.Generator().manual_seed(3), settings)
    assert draws.shape == (2000, 6) and draws.min() >= 0 and draws.max() <= 1
    scaled = deviations(draws).numpy() / settings.tolerance
    if settings.form == "soft":
        # delta / t ~ N(0, 1), truncated a little by the box (N <= 3): with 2000 draws the sample
        # mean's standard error is 0.022 and the std's 0.016; 0.15 allows the truncation and 5 sigma
        assert np.abs(scaled.mean(0)).max() < 0.15 and np.abs(scaled.std(0) - 1).max() < 0.1
    else:
        # the band: P(|delta| > 1.5 t) = O(1e-5) per draw, so none of 4000 values beyond 1.5 t
        assert np.abs(scaled).max() < 1.5 and np.abs(scaled.std(0) - np.sqrt(HARD_VARIANCE)).max() < 0.05


def test_hopeless_tolerance_is_refused_naming_the_key():
    with pytest.raises(ConfigError) as err:
        sample_prior(10, torch.Generator().manual_seed(0), ConstraintSettings("sum_rules", "soft", 1e-7))
    message = str(err.value)
    assert "\n" not in message and message.startswith("observation.constraints.tolerance = 1e-07") and "acceptance" in message


# ------------------------------------------------------------------ config
def test_default_config_has_no_constraint():
    validate_schema(CONFIG, SCHEMA)
    assert constraint_settings(CONFIG) == ConstraintSettings() and not ConstraintSettings().enabled


@pytest.mark.parametrize(
    "values,pattern",
    [
        (
            {"kind": "sumrules"},
            r"^config: observation\.constraints\.kind = 'sumrules' is not allowed; allowed values: 'none', 'sum_rules'$",
        ),
        ({"kind": False}, r"^config: observation\.constraints\.kind = False has the wrong type"),  # YAML's bare `off`
        ({"form": "sharp"}, r"^config: observation\.constraints\.form = 'sharp' is not allowed; allowed values: 'soft', 'hard'$"),
        ({"tolerance": 0}, r"^config: observation\.constraints\.tolerance = 0: "),
        ({"tol": 0.1}, r"^config: unknown key observation\.constraints\.tol; allowed keys of observation\.constraints: "),
    ],
)
def test_bad_constraint_values_are_refused_in_one_line(values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        validate_schema(with_constraints(**values), SCHEMA)


@pytest.mark.parametrize(
    "values,pattern",
    [
        ({"kind": "off"}, r"^observation\.constraints\.kind = 'off' is not one of \['none', 'sum_rules'\]$"),
        ({"tolerance": 2.0}, r"^observation\.constraints\.tolerance = 2\.0 must lie in \[-inf, 1\.0\]$"),
        ({"tolerance": "5%"}, r"^observation\.constraints\.tolerance = '5%' must be a number in \(0, 1\]$"),
    ],
)
def test_settings_refuse_bad_values_without_the_schema(values, pattern):
    with pytest.raises(ConfigError, match=pattern):
        ConstraintSettings.from_config(values)


def test_every_method_accepts_the_constraint():
    """Every registered method applies the sum-rule prior factor, so a config with all of them and the
    constraint on passes the checks that run before any job."""
    from pdfinfer.methods import REGISTRY

    config = with_constraints(kind="sum_rules")
    config["methods"] = [m.label for m in REGISTRY.values() if m.label != "reference"]
    validate_schema(config, SCHEMA)
    assert check_config(config, SCHEMA)


def test_hard_band_with_nuts_is_refused():
    config = with_constraints(kind="sum_rules", form="hard")
    config["methods"], config["reference"] = [], {**config.get("reference", {}), "sampler": "nuts"}
    validate_schema(config, SCHEMA)
    with pytest.raises(ConfigError, match=r"^config: observation\.constraints\.form = 'hard' with reference\.sampler = 'nuts'"):
        check_config(config, SCHEMA)
    config["reference"]["sampler"] = "emcee"
    check_config(config, SCHEMA)
    # constraints off, but the constraint study's sum-rule case would run the hard band with NUTS
    config = with_constraints(kind="none", form="hard")
    config["methods"], config["reference"] = [], {"sampler": "nuts"}
    with pytest.raises(
        ConfigError, match=r"\(the referee of constraint_study's sum-rule case\).*constraint_study\.enabled: false$"
    ):
        check_config(config, SCHEMA)
    config["constraint_study"] = {"enabled": False}
    check_config(config, SCHEMA)


# ------------------------------------------------------------------ the exact posterior
def test_exact_posterior_widths_of_the_normalizations_shrink_under_the_sum_rules():
    """The exact posterior of (N_u, N_d) given 64 events at the truth, the shapes held at theta*, on
    a 121 x 121 grid over the box (deterministic quadrature, no Monte Carlo). Without the constraint
    the likelihood is flat along the ridge N_d / N_u = const, so N_u spreads over the whole box
    (sd ~ 0.8, the box's 3 / sqrt(12) = 0.87 less the ratio's pull); with the soft sum rules at 5 %
    each N is pinned to 5 % of its value: sd ~ 0.05 N* = 0.11 and 0.055. Asserted: both widths
    shrink by more than a factor 4 and the constrained ones lie within 25 % of 0.05 N* (the grid
    step, 0.025, resolves them; the 64 events' ratio information narrows them a little further).
    Measured: (0.76, 0.84) -> (0.109, 0.055), factors 7 and 15. The 6-parameter widths at n_obs = 1024 are benchmarks/constraints.py's."""
    from pdfinfer.reference.likelihood import LogPosterior, SubspacePosterior
    from pdfinfer.theory import make_theory

    theory = make_theory({"name": "proxy"})
    events = theory.sample(torch.as_tensor(TRUTH)[None], 64, generator=torch.Generator().manual_seed(1))[0].numpy()
    axis = np.linspace(0.0, 1.0, 121)[1:]
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    widths = {}
    for settings in (ConstraintSettings(), SOFT):
        posterior = SubspacePosterior(LogPosterior(theory, events, constraint=settings), [0, 3], TRUTH)
        log_p = posterior(grid)
        p = np.exp(log_p - log_p.max())
        p /= p.sum()
        mean = p @ grid
        widths[settings.kind] = np.sqrt(p @ (grid - mean) ** 2) * 3.0  # physical: the box width of N is 3
    ratio = widths["sum_rules"] / widths["none"]
    assert ratio.max() < 0.25, (widths, ratio)
    np.testing.assert_allclose(widths["sum_rules"], 0.05 * TRUTH_PHYSICAL[[0, 3]], rtol=0.25)


def test_log_posterior_adds_the_factor_and_is_unchanged_without_it():
    from pdfinfer.reference.likelihood import LogPosterior
    from pdfinfer.theory import make_theory

    theory = make_theory({"name": "proxy"})
    events = theory.sample(torch.as_tensor(TRUTH)[None], 32, generator=torch.Generator().manual_seed(4))[0].numpy()
    eta = np.random.default_rng(0).uniform(0.05, 0.95, size=(16, 6))
    plain = LogPosterior(theory, events)(eta)
    assert np.array_equal(LogPosterior(theory, events, constraint=ConstraintSettings())(eta), plain)
    constrained = LogPosterior(theory, events, constraint=SOFT)(eta)
    np.testing.assert_allclose(constrained - plain, log_factor(torch.as_tensor(eta), SOFT).numpy(), rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ the prior-aware bound
def test_van_trees_bound_is_exact_for_a_gaussian_mean():
    """n observations of N(mu, sigma^2), prior mu ~ N(0, tau^2): the posterior variance is
    1 / (n / sigma^2 + 1 / tau^2) exactly, and so is the Gaussian-prior van Trees bound."""
    n, sigma, tau = 25, 2.0, 0.3
    bound = bayesian_bound(np.array([[n / sigma**2]]), np.array([[tau**2]]))
    assert bound[0] == pytest.approx((n / sigma**2 + 1 / tau**2) ** -0.5, rel=1e-12)
    # independent directions: each its own 1-D case; a flat direction gets the prior's width
    fisher = np.diag([n / sigma**2, 0.0])
    np.testing.assert_allclose(bayesian_bound(fisher, np.eye(2) * tau**2), [(n / sigma**2 + 1 / tau**2) ** -0.5, tau])


def test_prior_limited_bounds_are_marked_and_the_bayesian_bound_stays_below_the_prior():
    # a flat direction (degenerate), a weak one (bound 1 > prior sd 0.289) and a strong one
    fisher = np.diag([0.0, 1.0, 1e4, 1e4, 1e4, 1e4])
    report = prior_aware(fisher, cramer_rao(fisher)["bounds"])
    assert report["prior_limited"] == ["N_u", "a_u"]
    sigma = np.array([report["bayesian_bound"][n]["normalized"] for n in ("N_u", "a_u", "b_u")])
    np.testing.assert_allclose(sigma, [PRIOR_STD, (1 + 12) ** -0.5, (1e4 + 12) ** -0.5])
    assert report["bayesian_bound"]["N_u"]["physical"] == pytest.approx(3 * PRIOR_STD)


# ------------------------------------------------------------------ every method sees it; off changes nothing
def test_training_shards_off_are_bit_for_bit_and_on_record_the_constrained_prior(tmp_path):
    from pdfinfer.io import read_events
    from pdfinfer.simulate import main

    base = ["training", "--theory", "proxy", "--n-sims", "5", "--n-obs", "16", "--seed", "2", "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "plain.h5")]) == 0
    assert main([*base, "--constraints", "{}", "--out", str(tmp_path / "none.h5")]) == 0
    assert main([*base, "--constraints", SOFT.to_json(), "--out", str(tmp_path / "soft.h5")]) == 0
    plain, none, soft = (read_events(tmp_path / f"{n}.h5", batched=True) for n in ("plain", "none", "soft"))
    assert np.array_equal(plain.params, none.params) and np.array_equal(plain.events, none.events)
    assert "constraints" not in none.attrs and soft.attrs["constraints"] == SOFT.as_dict()
    assert np.abs(deviations(torch.as_tensor(soft.params)).numpy()).max() < 5 * 0.05


def test_fisher_report_adds_the_constraint_and_marks_prior_limited_bounds():
    from pdfinfer.reference.job import fisher_report
    from pdfinfer.theory import make_theory

    theory = make_theory({"name": "proxy"})
    with torch.enable_grad():
        plain = fisher_report(theory, 1024, None, 8)
        soft = fisher_report(theory, 1024, None, 8, SOFT)
    np.testing.assert_array_equal(np.asarray(plain["fisher_total"]), 1024 * np.asarray(plain["fisher_per_event"]))
    assert plain["degenerate_parameters"] == ["N_u", "N_d"] and soft["degenerate_parameters"] == []
    # the events-only table's b_d bound (~4, prior sd 1.44) is the example of a prior-limited bound
    assert plain["prior_limited"] == ["N_u", "N_d", "b_d"] and plain["cramer_rao"]["b_d"]["physical"] > 3
    extra = np.asarray(soft["fisher_total"]) - np.asarray(plain["fisher_total"])
    np.testing.assert_allclose(extra, constraint_fisher(TRUTH, SOFT), rtol=1e-9, atol=1e-9)
    for report in (plain, soft):
        assert all(b["normalized"] <= PRIOR_STD for b in report["bayesian_bound"].values())


def test_adversarial_generator_pays_minus_log_f():
    from pdfinfer.adversarial.objective import PriorPenalty

    eta = torch.rand((8, 6), generator=torch.Generator().manual_seed(0), requires_grad=True)
    penalty = PriorPenalty(SOFT)(eta)
    assert penalty.shape == (8,) and torch.allclose(penalty, -log_factor(eta, SOFT)) and bool((penalty >= 0).all())
    penalty.sum().backward()
    assert torch.isfinite(eta.grad).all() and eta.grad.abs().sum() > 0


def test_constraints_figure_and_its_answer_come_from_the_numbers(tmp_path):
    from pdfinfer.constraints.study import answer
    from pdfinfer.plotting.constraints import plot_constraint_widths
    from pdfinfer.plotting.style import PlotStyle, save

    def case(n_u, n_d, a_u):
        std = {n: 1.0 for n in ("N_u", "a_u", "b_u", "N_d", "a_d", "b_d")} | {"N_u": n_u, "N_d": n_d, "a_u": a_u}
        return {"std": std, "bayesian_bound": {n: 0.9 * v for n, v in std.items()}}

    data = {"n_obs": 64, "rel_unc": 0.02, "tolerance": 0.05, "prior_std": {"N_u": 0.87}}
    data["cases"] = {"none": case(0.8, 0.8, 0.4), "normalization": case(0.6, 0.6, 0.3), "sum_rules": case(0.2, 0.4, 0.1)}
    text = answer(data)
    assert "N_u 0.25x, N_d 0.50x" in text and "N_u 0.75x, N_d 0.75x" in text and "the sum rules (prior) breaks" in text
    assert "of the shapes the sum rules narrow a_u most (0.25x, against 0.75x" in text
    data["cases"]["normalization"] = case(0.1, 0.1, 0.4)
    assert "the normalization observable breaks" in answer(data)
    paths = save(plot_constraint_widths(data, PlotStyle(formats=("png",))), tmp_path / "constraints", PlotStyle(formats=("png",)))
    assert [p.suffix for p in paths] == [".png"] and paths[0].stat().st_size > 1000


def test_npe_fresh_simulations_draw_from_the_shards_prior():
    from pdfinfer.npe.data import FreshSimulations

    spec = {"theory": {"name": "proxy"}, "n_events": 8, "normalization": False, "norm_rel_unc": 0.02}
    plain = FreshSimulations(spec, 50, 0, torch.device("cpu"))(0)[0]
    soft = FreshSimulations({**spec, "constraints": SOFT.as_dict()}, 50, 0, torch.device("cpu"))(0)[0]
    assert np.abs(deviations(plain.double()).numpy()).max() > 1  # the box: far from the sum rules
    assert np.abs(deviations(soft.double()).numpy()).max() < 5 * 0.05


def _fisher(normalization: bool, kind: str, n_obs: int = 64) -> dict:
    bound = {"normalized": 0.1, "physical": 0.2}
    names = ("N_u", "a_u", "b_u", "N_d", "a_d", "b_d")
    return {
        "n_obs": n_obs,
        "normalization": normalization,
        "norm_rel_unc": 0.02 if normalization else None,
        "constraints": {"kind": kind, "form": "soft", "tolerance": 0.05},
        "cramer_rao": {n: (None if n == "N_u" and not normalization else bound) for n in names},
        "bayesian_bound": {n: bound for n in names},
        "prior_std": {n: {"normalized": float(PRIOR_STD), "physical": float(PRIOR_STD) * 2} for n in names},
        "prior_limited": ["b_d"],
    }


def _study_files(tmp_path, scales: dict[str, float], wrong: str | None = None) -> list[str]:
    """Samples (normalized, sd = scale in every coordinate) and Fisher files of the three cases as --case arguments."""
    from pdfinfer.constraints.study import CASES
    from pdfinfer.io import write_json, write_samples

    args = []
    for k, (case, scale) in enumerate(scales.items()):
        normalization, rules = CASES[case if case != wrong else "none" if case != "none" else "normalization"]
        z = np.random.default_rng(k).standard_normal((2000, 6))
        draws = 0.5 + scale * (z - z.mean(0)) / z.std(0)
        samples, fisher = tmp_path / f"{case}.h5", tmp_path / f"{case}.json"
        write_samples(samples, draws, "reference", {}, 0, {"name": "proxy"}, attrs={"sampler": "emcee"})
        write_json(fisher, _fisher(normalization, "sum_rules" if rules else "none"))
        args += ["--case", case, str(samples), str(fisher)]
    return args


def test_constraint_study_reports_each_case_width_relative_to_the_events_alone(tmp_path):
    """Widths are the draws' sd in physical units (draws standardized to sd = scale exactly), the
    answer's ratios those of the scales."""
    from pdfinfer.constraints.gather import main
    from pdfinfer.io import read_json

    scales = {"none": 0.2, "normalization": 0.1, "sum_rules": 0.15}
    out = tmp_path / "constraints.json"
    assert main([*_study_files(tmp_path, scales), "--out", str(out)]) == 0
    data = read_json(out)
    assert data["n_obs"] == 64 and data["rel_unc"] == 0.02 and data["sampler"] == "emcee"
    widths = THETA_MAX - THETA_MIN
    for case, scale in scales.items():
        std = np.array(list(data["cases"][case]["std"].values()))
        names = list(data["cases"][case]["std"])
        expected = scale * widths[[["N_u", "a_u", "b_u", "N_d", "a_d", "b_d"].index(n) for n in names]]
        np.testing.assert_allclose(std, expected, rtol=1e-12)
        assert data["cases"][case]["prior_limited"] == ["b_d"]
    assert data["cases"]["none"]["cramer_rao"]["N_u"] is None and data["cases"]["normalization"]["cramer_rao"]["N_u"] == 0.2
    assert "N_u 0.75x, N_d 0.75x of the events-only widths" in data["answer"]
    assert "to N_u 0.50x, N_d 0.50x: the normalization observable breaks" in data["answer"]


def test_malformed_constraints_json_names_its_flag(tmp_path, capsys):
    """The referee's and the study's command lines name --constraints (not --settings) in a JSON error."""
    from pdfinfer.constraints import gather
    from pdfinfer.reference import run

    argv = {
        gather: ["--case", "none", "a.h5", "a.json"],
        run: ["--observed", "x.h5", "--normalization", "off", "--out-samples", "s.h5", "--out-fisher", "f.json"],
    }
    for module, args in argv.items():
        assert (
            module.main([*args, "--constraints", "{bad", *(["--out", str(tmp_path / "c.json")] if module is gather else [])]) == 1
        )
        assert capsys.readouterr().err.strip().startswith(f"error: {module.__name__}: --constraints: not valid JSON")


def test_constraint_study_refuses_a_file_of_the_wrong_case(tmp_path, capsys):
    from pdfinfer.constraints.gather import main

    args = _study_files(tmp_path, {"none": 0.2, "normalization": 0.1, "sum_rules": 0.15}, wrong="sum_rules")
    assert main([*args, "--out", str(tmp_path / "c.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "sum_rules.json: case 'sum_rules' needs normalization off and sum rules on, the file used normalization off and sum rules off"
    ), err
    assert [line for line in err.splitlines() if "error" in line.lower()] == [err.splitlines()[-1]]
    assert err.splitlines()[-1].startswith("error: ") and not (tmp_path / "c.json").exists()


def test_constraint_study_reuses_the_runs_own_referee_for_its_case(tmp_path):
    """With the normalization observable on, the run's referee is the `normalization` case; the other two are jobs."""
    from workflow_helpers import snakemake

    overlay = tmp_path / "norm.yaml"
    overlay.write_text(yaml.safe_dump({"results": str(tmp_path), "observation": {"normalization": {"enabled": True}}}))
    proc = snakemake(
        "-n", "--forceall", "--printshellcmds", "--cores", "1", "--configfile", "config/tiny.yaml", str(overlay)
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    commands = [line.strip() for line in out.splitlines() if "python -m pdfinfer" in line]
    studies = [c for c in commands if "pdfinfer.reference.run" in c and "/constraints/" in c]
    assert sorted("sum_rules" in c for c in studies) == [False, True], studies
    assert all("--normalization off" in c for c in studies)
    (gather,) = [c for c in commands if "pdfinfer.constraints.gather" in c]
    assert f"--case normalization {tmp_path}/reference/n128/samples.h5 {tmp_path}/reference/n128/fisher.json" in gather


def test_constraint_reaches_every_job_that_draws_or_weighs_parameters(tmp_path):
    """With observation.constraints on, the simulations, the referee, the adversarial runs and NLE's
    sampler and TSNPE all receive it (a dry run of the tiny config with NPE, NLE, TSNPE and the adversarial method)."""
    from workflow_helpers import snakemake

    overlay = tmp_path / "rules.yaml"
    constraint = {"kind": "sum_rules", "form": "soft", "tolerance": 0.05}
    overlay.write_text(
        yaml.safe_dump(
            {
                "results": str(tmp_path),
                "methods": ["npe", "nle", "tsnpe", "adversarial"],
                "observation": {"constraints": constraint},
            }
        )
    )
    proc = snakemake("-n", "--forceall", "--printshellcmds", "--cores", "1", "--configfile", "config/tiny.yaml", str(overlay))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    commands = [line.strip() for line in out.splitlines() if "python -m pdfinfer" in line]
    expected = ConstraintSettings.from_config(constraint).to_json()
    for module in ("simulate training", "simulate holdout", "reference.run", "adversarial.train", "nle.sample", "tsnpe.run"):
        chosen = [c for c in commands if f"pdfinfer.{module}" in c and "/constraints/" not in c]
        assert chosen, f"no {module} job in the dry run"
        assert all(f"--constraints '{expected}'" in c for c in chosen), (module, chosen[0])
