"""The plotting command line on synthetic pipeline outputs written in the shared file layout
(events and samples files through pdfinfer.io, the adversarial/NPE history datasets, the NPE
diagnostics file), including its one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from pdfinfer.io import write_events, write_h5, write_samples
from pdfinfer.params import TRUTH
from pdfinfer.plotting.cli import main
from pdfinfer.theory import make_theory

METHODS = {"reference": 0.03, "npe": 0.04, "adversarial": 0.02}
STYLE_ARGS = ["--dpi", "30", "--formats", "png", "--font-size", "7"]


def write_fake_outputs(results: Path, n_obs: int = 64, seeds: int = 2, n_samples: int = 300) -> dict[str, Path]:
    """Pipeline outputs for one ``n_obs`` in the contract layout under ``results``, from fixed seeds.

    Returns the paths by role. (The comparison JSON is written by :func:`write_fake_comparison`.)
    """
    theory = make_theory("proxy")
    rng = np.random.default_rng(n_obs)
    gen = torch.Generator().manual_seed(n_obs)
    paths: dict[str, Path] = {}
    events = theory.sample(torch.as_tensor(TRUTH[None]), n_obs, generator=gen)[0].numpy()
    paths["observed"] = results / f"data/n{n_obs}/observed.h5"
    write_events(paths["observed"], events, TRUTH, np.array([3.27, 1.87]), theory.spec(), seed=1, norm_rel_unc=0.02)

    def draws(scale: float) -> np.ndarray:
        return np.clip(TRUTH + scale * rng.standard_normal((n_samples, 6)), 0, 1)

    paths["reference"] = results / f"reference/n{n_obs}/samples.h5"
    write_samples(paths["reference"], draws(METHODS["reference"]), "reference", {}, 1, theory.spec())
    n_epochs = 15
    paths["npe"] = results / f"npe/n{n_obs}/samples.h5"
    write_samples(
        paths["npe"],
        draws(METHODS["npe"]),
        "npe",
        {},
        1,
        theory.spec(),
        extras={
            "history_train_loss": np.linspace(4, 0, n_epochs),
            "history_val_loss": np.linspace(4.2, 0.5, n_epochs),
            "history_epoch_seconds": np.ones(n_epochs),
        },
    )
    paths["adversarial"] = results / f"adversarial/n{n_obs}/pooled.h5"
    write_samples(paths["adversarial"], draws(METHODS["adversarial"]), "adversarial", {}, 1, theory.spec())
    for method, scale in METHODS.items():  # replicate sets as pdfinfer.predictive writes them
        eta = draws(scale)[:4]
        replicates = theory.sample(torch.as_tensor(eta), n_obs, generator=gen).numpy()
        paths[f"predictive_{method}"] = results / f"predictive/n{n_obs}/{method}.h5"
        write_events(
            paths[f"predictive_{method}"],
            replicates,
            eta,
            np.tile([3.27, 1.87], (4, 1)),
            theory.spec(),
            seed=2,
            norm_rel_unc=0.02,
        )
    steps = np.arange(10, 310, 10)
    for seed in range(seeds):
        path = results / f"adversarial/n{n_obs}/seed{seed}.h5"
        write_samples(
            path,
            draws(0.02),
            "adversarial",
            {},
            seed,
            theory.spec(),
            extras={
                "history_step": steps,
                "history_wall_time": steps * 0.1,
                "history_loss_d": 1.3 + 0.1 * rng.standard_normal(len(steps)),
                "history_loss_g": 0.7 + 0.1 * rng.standard_normal(len(steps)),
                "history_loss_s": np.exp(-steps / 100.0),
                "history_param_mean": TRUTH + 0.2 * np.exp(-steps / 100.0)[:, None] * rng.standard_normal(6),
                "history_param_std": np.full((len(steps), 6), 0.02),
            },
            attrs={"replica": seed},
        )
        paths[f"seed{seed}"] = path
    n_sims, n_post = 40, 50
    levels = np.linspace(0, 1, 21)
    paths["diagnostics"] = results / f"npe/n{n_obs}/diagnostics.h5"
    write_h5(
        paths["diagnostics"],
        "npe_diagnostics",
        {
            "sbc_ranks": rng.integers(0, n_post + 1, (n_sims, 6)),
            "sbc_ks_pvalues": rng.random(6),
            "coverage_levels": levels,
            "coverage_empirical": np.clip(levels + 0.05 * rng.standard_normal(21), 0, 1),
            "tarp_alpha": levels,
            "tarp_ecp": levels**1.1,
        },
        {"n_sims": n_sims, "n_posterior_samples": n_post, "tarp_atc": 0.01, "tarp_ks_pvalue": 0.6},
    )
    return paths


def write_fake_comparison(results: Path, n_obs_values: list[int], seeds: int = 2) -> list[Path]:
    """``compare/n{n}/metrics.json`` per n_obs with the keys pdfinfer.compare.run documents, and
    ``compare/sweep.json`` from them (pdfinfer.compare.sweep).

    Widths shrink like 1/sqrt(n); N_u and N_d have no Cramér–Rao bound (the ridge).
    """
    from pdfinfer.io import read_json, write_json
    from pdfinfer.params import PARAM_NAMES, TRUTH_PHYSICAL

    paths = []
    for n in n_obs_values:
        scale = np.sqrt(1024 / n)
        labels = {"reference": 1.0, "npe": 1.2, "adversarial": 0.5}
        methods = {}
        for label, ratio in labels.items():
            params = {
                name: {
                    "mean": float(t),
                    "std": 0.05 * scale * ratio,
                    "median": float(t),
                    "ci68": [t - 0.05, t + 0.05],
                    "ci95": [t - 0.1, t + 0.1],
                    "pull": 0.3,
                    "width_ratio": ratio,
                    "covered68": True,
                    "covered95": True,
                    "cramer_rao_ratio": None,
                }
                for name, t in zip(PARAM_NAMES, TRUTH_PHYSICAL)
            }
            methods[label] = {
                "method": label,
                "family": {"reference": "reference", "npe": "sbi"}.get(label, "adversarial"),
                "path": "x.h5",
                "n_samples": 300,
                "parameters": params,
                "joint_credibility_of_truth": 0.4,
                "covered68_joint": True,
                "covered95_joint": True,
                "rel_l2_error": 0.02,
                "c2st": 0.5 + 0.4 * abs(1 - ratio),
                "event_c2st": 0.52,
                "event_quantile_mse": 1e-4,
                "wall_time_s": 12.0 if label != "reference" else None,
                "amplification": {"effective_events": 4000.0 * ratio, "bound": None, "factor": 4000.0 * ratio / n},
            }
        bounds = {name: (None if name in ("N_u", "N_d") else 0.04 * scale) for name in PARAM_NAMES}
        path = results / f"compare/n{n}/metrics.json"
        write_json(
            path,
            {
                "n_obs": n,
                "theory": {"name": "proxy", "x_min": 0.1},
                "normalization": False,
                "parameter_names": list(PARAM_NAMES),
                "truth": {"normalized": TRUTH.tolist(), "physical": dict(zip(PARAM_NAMES, TRUTH_PHYSICAL.tolist()))},
                "cramer_rao": bounds,
                "degenerate_directions": ["0.79 N_u + 0.61 N_d"],
                "methods": methods,
                "baselines": {"truth_events": {"event_c2st": 0.51, "event_quantile_mse": 8e-5}},
                "amplification": {
                    "n_quantiles": 20,
                    "bin_events": 32768,
                    "sizes": [32, 320, 3200, 32000],
                    "measured_mse": [1.5e-3, 1.5e-4, 1.6e-5, 2.9e-6],
                    "expected_mse": [1.5e-3, 1.5e-4, 1.5e-5, 2.9e-6],
                },
            },
        )
        paths.append(path)
    from pdfinfer.compare.sweep import gather  # the comparison's own sweep summary of these files

    write_json(results / "compare/sweep.json", gather([{**read_json(p), "_path": str(p)} for p in paths]))
    return paths


def png_size(path: Path) -> tuple[int, int]:
    image = imread(path)
    assert image[..., :3].std() > 0.05, f"{path} is blank"
    return image.shape[1], image.shape[0]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    return write_fake_outputs(tmp_path_factory.mktemp("results"))


def samples_args(paths):
    return ["--samples", *[f"{m}={paths[m]}" for m in METHODS]]


def test_posteriors_command(outputs, tmp_path):
    out = {name: tmp_path / f"{name}.png" for name in ("corner", "marginals", "pdfs")}
    status = main(
        [
            "posteriors",
            "--observed",
            str(outputs["observed"]),
            *samples_args(outputs),
            "--max-draws",
            "100",
            *STYLE_ARGS,
            *[a for name, p in out.items() for a in (f"--out-{name}", str(p))],
        ]
    )
    assert status == 0
    assert png_size(out["corner"]) == (270, 282)  # 9.0 x 9.4 in at 30 dpi
    assert png_size(out["pdfs"]) == (372, 138)  # (3.0 * 4 curves + 0.4) x 4.6 in
    assert png_size(out["marginals"]) == (300, 168)


def test_events_command(outputs, tmp_path):
    out = tmp_path / "events.png"
    predictive = [f"{m}={outputs[f'predictive_{m}']}" for m in METHODS]
    assert (
        main(
            [
                "events",
                "--observed",
                str(outputs["observed"]),
                "--predictive",
                *predictive,
                "--bins",
                "8",
                "--formats",
                "png",
                "--dpi",
                "30",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert png_size(out) == (216, 132)  # (3.4 * 2 features + 0.4) x 4.4 in at 30 dpi
    assert not out.with_suffix(".pdf").exists()  # only the requested formats


def test_training_and_calibration_commands(outputs, tmp_path):
    style = ["--n-obs", "64", "--dpi", "30", "--formats", "png", "pdf"]
    assert (
        main(
            [
                "training",
                "--method",
                "adversarial",
                "--files",
                str(outputs["seed0"]),
                str(outputs["seed1"]),
                *style,
                "--out",
                str(tmp_path / "adv.png"),
            ]
        )
        == 0
    )
    assert main(["training", "--method", "npe", "--files", str(outputs["npe"]), *style, "--out", str(tmp_path / "npe.png")]) == 0
    assert png_size(tmp_path / "adv.png") == (300, 228)
    assert png_size(tmp_path / "npe.png") == (165, 120)
    for name in ("adv", "npe"):
        assert (tmp_path / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    out = {name: tmp_path / f"{name}.png" for name in ("coverage", "sbc", "tarp")}
    assert (
        main(
            [
                "calibration",
                "--method",
                "npe",
                "--diagnostics",
                str(outputs["diagnostics"]),
                *STYLE_ARGS,
                *[a for name, p in out.items() for a in (f"--out-{name}", str(p))],
            ]
        )
        == 0
    )
    assert png_size(out["sbc"]) == (270, 162)
    assert png_size(out["coverage"]) == png_size(out["tarp"]) == (138, 138)


def test_missing_history_is_a_one_line_error(outputs, tmp_path, capsys):
    status = main(["training", "--method", "adversarial", "--files", str(outputs["reference"]), "--out", str(tmp_path / "a.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert (
        err[-1].startswith("error: pdfinfer.plotting.cli: ")
        and str(outputs["reference"]) in err[-1]
        and "'history_step'" in err[-1]
    )
    assert not (tmp_path / "a.png").exists()


def test_missing_file_and_bad_samples_argument(outputs, tmp_path, capsys):
    predictive = [f"npe={outputs['predictive_npe']}"]
    assert (
        main(["events", "--observed", str(tmp_path / "nope.h5"), "--predictive", *predictive, "--out", str(tmp_path / "e.png")])
        == 1
    )
    assert "nope.h5: file not found" in capsys.readouterr().err
    assert main(["events", "--observed", str(outputs["observed"]), "--predictive", "npe", "--out", str(tmp_path / "e.png")]) == 1
    assert "expected METHOD=PATH, got 'npe'" in capsys.readouterr().err


def test_table_and_sweep_commands(tmp_path):
    metrics = write_fake_comparison(tmp_path / "results", [64, 256])
    out = tmp_path / "table.png"
    assert (
        main(
            [
                "table",
                "--metrics",
                str(metrics[1]),
                "--n-obs",
                "256",
                *STYLE_ARGS,
                "--out-png",
                str(out),
                "--out-html",
                str(tmp_path / "t.html"),
            ]
        )
        == 0
    )
    page = (tmp_path / "t.html").read_text()
    assert (
        page.count("<table>") == 3
        and "Adversarial (pooled seeds)" in page
        and "none (degenerate)" in page
        and "0.79 N_u + 0.61 N_d" in page
    )
    width, height = png_size(out)
    assert width > 200 and height > 150
    assert (
        main(
            ["sweep", "--sweep", str(tmp_path / "results/compare/sweep.json"), *STYLE_ARGS, "--out", str(tmp_path / "sweep.png")]
        )
        == 0
    )
    assert png_size(tmp_path / "sweep.png") == (330, 186)  # 11 x (5.6 + 0.2 per method answer line: 3) in


def test_sweep_arrays_from_metrics(tmp_path):
    from pdfinfer.plotting.load import sweep_arrays

    write_fake_comparison(tmp_path, [256, 64])
    data = sweep_arrays(tmp_path / "compare/sweep.json")
    np.testing.assert_array_equal(data["n_obs"], [64, 256])  # sorted
    assert list(data["widths"]) == ["reference", "npe", "adversarial"]  # registry order
    np.testing.assert_allclose(data["widths"]["reference"][:, 2], 0.05 * np.sqrt(1024 / np.array([64, 256])))
    assert np.isnan(data["cramer_rao"][:, 0]).all() and np.isfinite(data["cramer_rao"][:, 1]).all()
    np.testing.assert_allclose(data["exponents"]["npe"], -0.5)  # widths written as 1/sqrt(n)


def test_levels_command_writes_both_figures_with_the_runs_answer(tmp_path):
    from pdfinfer.io import read_json
    from pdfinfer.plotting.levels import levels_answer

    metrics = write_fake_comparison(tmp_path / "results", [256])[0]
    out = {name: tmp_path / f"{name}.png" for name in ("levels", "amplification")}
    assert (
        main(
            ["levels", "--metrics", str(metrics), *STYLE_ARGS, *[a for name, p in out.items() for a in (f"--out-{name}", str(p))]]
        )
        == 0
    )
    assert png_size(out["levels"]) == (270, 132) and png_size(out["amplification"]) == (180, 132)
    # The fake adversarial method (width ratio 0.5) has C2ST 0.70, NPE (1.2) 0.58, both at event C2ST 0.52.
    answer = levels_answer(read_json(metrics))
    assert "from 0.58 (NPE (sbi)) to 0.70 (Adversarial (pooled seeds))" in answer and "do not imply correct parameters" in answer
    floor = read_json(metrics)["baselines"]["truth_events"]["event_c2st"]
    assert f"Every learned method's event C2ST lies within {abs(0.52 - floor):.3f} of the perfect model's {floor:.3f}" in answer
