# Figures and tables for the report (DESIGN.md section 5: compare -> plots -> report).
# Every rule reads only HDF5/JSON outputs and its params depend only on config["plots"] (and the
# wildcards), so changing a plot setting reruns these rules and never a training job.
# `snakemake --report results/report.html` collects every output marked report() below.

PLOTS = config["plots"]
PLOT_DIR = f"{RESULTS}/plots"
# Samples files of the methods overlaid in the figures (per-seed adversarial runs: training figure).
PLOT_METHODS = {
    "reference": f"{RESULTS}/reference/n{{n_obs}}/samples.h5",
    "npe": f"{RESULTS}/npe/n{{n_obs}}/samples.h5",
    "adversarial_pooled": f"{RESULTS}/adversarial/n{{n_obs}}/pooled.h5",
}


#: Style options shared by every plotting command (config["plots"] only).
PLOT_STYLE = f"--dpi {PLOTS['dpi']} --formats {' '.join(PLOTS['formats'])} --font-size {PLOTS['font_size']}"
#: Formats written beside each PNG (the report embeds the PNG; PDF/SVG are for papers).
OTHER_FORMATS = [fmt for fmt in PLOTS["formats"] if fmt != "png"]
PLOTTED = "reference, NPE, adversarial (pooled)"


rule plot_parameters:
    input:
        observed=f"{RESULTS}/data/n{{n_obs}}/observed.h5",
        **PLOT_METHODS,
    output:
        corner=report(
            f"{PLOT_DIR}/n{{n_obs}}/posterior_corner.png",
            caption="../report/posterior_corner.rst",
            category="Parameters",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "corner plot", "methods": PLOTTED, "n_obs": "{n_obs}"},
        ),
        marginals=report(
            f"{PLOT_DIR}/n{{n_obs}}/posterior_marginals.png",
            caption="../report/posterior_marginals.rst",
            category="Parameters",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "1-D marginals", "methods": PLOTTED, "n_obs": "{n_obs}"},
        ),
        pdfs=report(
            f"{PLOT_DIR}/n{{n_obs}}/pdf_bands.png",
            caption="../report/pdf_bands.rst",
            category="PDFs",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "u, d and target x-densities", "methods": PLOTTED, "n_obs": "{n_obs}"},
        ),
        other=expand(f"{PLOT_DIR}/n{{{{n_obs}}}}/{{name}}.{{fmt}}", name=["posterior_corner", "posterior_marginals", "pdf_bands"], fmt=OTHER_FORMATS),
    log:
        log_path("plot_parameters", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_parameters", "n{n_obs}")
    params:
        samples=lambda wildcards, input: " ".join(f"{method}={getattr(input, method)}" for method in PLOT_METHODS),
        style=PLOT_STYLE,
        max_draws=PLOTS["pdf_draws"],
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.plotting.cli posteriors --observed {input.observed} --samples {params.samples}"
        " --max-draws {params.max_draws} --seed {params.seed} {params.style} --threads {threads}"
        " --out-corner {output.corner} --out-marginals {output.marginals} --out-pdfs {output.pdfs} > {log} 2>&1"


rule plot_events:
    input:
        observed=f"{RESULTS}/data/n{{n_obs}}/observed.h5",
        **PLOT_METHODS,
    output:
        events=report(
            f"{PLOT_DIR}/n{{n_obs}}/events.png",
            caption="../report/events.rst",
            category="Events",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "observed vs generated events", "methods": PLOTTED, "n_obs": "{n_obs}"},
        ),
        other=expand(f"{PLOT_DIR}/n{{{{n_obs}}}}/events.{{fmt}}", fmt=OTHER_FORMATS),
    log:
        log_path("plot_events", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_events", "n{n_obs}")
    params:
        samples=lambda wildcards, input: " ".join(f"{method}={getattr(input, method)}" for method in PLOT_METHODS),
        style=PLOT_STYLE,
        draws=PLOTS["predictive_draws"],
        bins=PLOTS["event_bins"],
        seed=config["seed"],
    threads: 1
    resources:
        mem_mb=lambda wc: 2000 + PLOTS["predictive_draws"] * int(wc.n_obs) * 3 * 40 // 2**20,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.plotting.cli events --observed {input.observed} --samples {params.samples}"
        " --draws {params.draws} --bins {params.bins} --seed {params.seed} {params.style} --threads {threads}"
        " --out {output.events} > {log} 2>&1"


rule plot_training:
    input:
        adversarial=expand(f"{RESULTS}/adversarial/n{{{{n_obs}}}}/seed{{seed}}.h5", seed=range(ADV["seeds"])),
        npe=f"{RESULTS}/npe/n{{n_obs}}/samples.h5",
    output:
        adversarial=report(
            f"{PLOT_DIR}/n{{n_obs}}/training_adversarial.png",
            caption="../report/training_adversarial.rst",
            category="Training",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "losses and generated parameters", "method": "adversarial", "seed": "all (overlaid)", "n_obs": "{n_obs}"},
        ),
        npe=report(
            f"{PLOT_DIR}/n{{n_obs}}/training_npe.png",
            caption="../report/training_npe.rst",
            category="Training",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "training and validation loss", "method": "NPE", "seed": "-", "n_obs": "{n_obs}"},
        ),
        other=expand(f"{PLOT_DIR}/n{{{{n_obs}}}}/{{name}}.{{fmt}}", name=["training_adversarial", "training_npe"], fmt=OTHER_FORMATS),
    log:
        log_path("plot_training", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_training", "n{n_obs}")
    params:
        style=PLOT_STYLE,
    threads: 1
    resources:
        mem_mb=1500,
        runtime=5,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.plotting.cli training --adversarial {input.adversarial} --npe {input.npe}"
        " --n-obs {wildcards.n_obs} {params.style} --threads {threads}"
        " --out-adversarial {output.adversarial} --out-npe {output.npe} > {log} 2>&1"


rule plot_calibration:
    input:
        f"{RESULTS}/npe/n{{n_obs}}/diagnostics.h5",
    output:
        coverage=report(
            f"{PLOT_DIR}/n{{n_obs}}/calibration_coverage.png",
            caption="../report/calibration_coverage.rst",
            category="Calibration",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "expected coverage", "method": "NPE", "n_obs": "{n_obs}"},
        ),
        sbc=report(
            f"{PLOT_DIR}/n{{n_obs}}/calibration_sbc.png",
            caption="../report/calibration_sbc.rst",
            category="Calibration",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "SBC rank histograms", "method": "NPE", "n_obs": "{n_obs}"},
        ),
        tarp=report(
            f"{PLOT_DIR}/n{{n_obs}}/calibration_tarp.png",
            caption="../report/calibration_tarp.rst",
            category="Calibration",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "TARP", "method": "NPE", "n_obs": "{n_obs}"},
        ),
        other=expand(f"{PLOT_DIR}/n{{{{n_obs}}}}/calibration_{{name}}.{{fmt}}", name=["coverage", "sbc", "tarp"], fmt=OTHER_FORMATS),
    log:
        log_path("plot_calibration", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_calibration", "n{n_obs}")
    params:
        style=PLOT_STYLE,
        bins=PLOTS["sbc_bins"],
    threads: 1
    resources:
        mem_mb=1500,
        runtime=5,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.plotting.cli calibration --diagnostics {input} --bins {params.bins}"
        " --n-obs {wildcards.n_obs} {params.style} --threads {threads}"
        " --out-coverage {output.coverage} --out-sbc {output.sbc} --out-tarp {output.tarp} > {log} 2>&1"


rule plot_summary:
    input:
        f"{RESULTS}/compare/n{{n_obs}}/metrics.json",
    output:
        png=report(
            f"{PLOT_DIR}/n{{n_obs}}/summary_table.png",
            caption="../report/summary_table.rst",
            category="Parameters",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "comparison table (image)", "methods": "all vs reference", "n_obs": "{n_obs}"},
        ),
        html=report(
            f"{PLOT_DIR}/n{{n_obs}}/summary_table.html",
            caption="../report/summary_table.rst",
            category="Parameters",
            subcategory="n_obs = {n_obs}",
            labels={"figure": "comparison table (HTML)", "methods": "all vs reference", "n_obs": "{n_obs}"},
        ),
        other=expand(f"{PLOT_DIR}/n{{{{n_obs}}}}/summary_table.{{fmt}}", fmt=OTHER_FORMATS),
    log:
        log_path("plot_summary", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_summary", "n{n_obs}")
    params:
        style=PLOT_STYLE,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.plotting.cli table --metrics {input} --n-obs {wildcards.n_obs} {params.style}"
        " --threads {threads} --out-png {output.png} --out-html {output.html} > {log} 2>&1"


rule plot_sweep:
    input:
        f"{RESULTS}/compare/sweep.json",
    output:
        sweep=report(
            f"{PLOT_DIR}/sweep.png",
            caption="../report/sweep.rst",
            category="Sweep",
            labels={"figure": "posterior width and C2ST vs n_obs", "methods": "all", "n_obs": ", ".join(map(str, SWEEP))},
        ),
        other=expand(f"{PLOT_DIR}/sweep.{{fmt}}", fmt=OTHER_FORMATS),
    log:
        log_path("plot_sweep"),
    benchmark:
        benchmark_path("plot_sweep")
    params:
        style=PLOT_STYLE,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.plotting.cli sweep --sweep {input} {params.style} --threads {threads}"
        " --out {output.sweep} > {log} 2>&1"


TARGETS.extend(
    expand(
        f"{PLOT_DIR}/n{{n_obs}}/{{name}}.png",
        n_obs=SWEEP,
        name=[
            "posterior_corner",
            "posterior_marginals",
            "pdf_bands",
            "events",
            "training_adversarial",
            "training_npe",
            "calibration_coverage",
            "calibration_sbc",
            "calibration_tarp",
            "summary_table",
        ],
    )
)
TARGETS.append(f"{PLOT_DIR}/sweep.png")
