# Figures and tables for the report (docs/pipeline.md: compare -> plots -> report).
# Every rule reads only HDF5/JSON outputs and its params depend only on config["plots"] (and the
# wildcards), so changing a plot setting reruns these rules and never a training job. The methods
# drawn come from the registry (common.smk: METHODS); `snakemake --report results/report.html`
# collects every output marked report() below.


rule plot_parameters:
    input:
        observed=OBSERVED,
        samples=[method_path(m.label) for m in METHODS],
    output:
        corner=figure_report(
            "posterior_corner", "posterior_corner", "Parameters", "corner plot"
        ),
        marginals=figure_report(
            "posterior_marginals", "posterior_marginals", "Parameters", "1-D marginals"
        ),
        pdfs=figure_report(
            "pdf_bands", "pdf_bands", "PDFs", "u, d and target x-densities"
        ),
        other=other_formats("posterior_corner", "posterior_marginals", "pdf_bands"),
    log:
        log_path("plot_parameters", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_parameters", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        samples=lambda wc, input: labelled(
            {m.label: path for m, path in zip(METHODS, input.samples)}
        ),
        style=PLOT_STYLE,
        max_draws=PLOTS["pdf_draws"],
        seed=config["seed"],
    shell:
        "python -m pdfinfer.plotting.cli posteriors --observed {input.observed:q} --samples {params.samples}"
        " --max-draws {params.max_draws} --seed {params.seed} {params.style} --threads {threads}"
        " --out-corner {output.corner:q} --out-marginals {output.marginals:q} --out-pdfs {output.pdfs:q} > {log:q} 2>&1"


rule plot_events:
    input:
        observed=OBSERVED,
        predictive=[PREDICTIVE.replace("{method}", m.label) for m in METHODS],
    output:
        events=figure_report(
            "events", "events", "Events", "observed vs posterior-predictive events"
        ),
        other=other_formats("events"),
    log:
        log_path("plot_events", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_events", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=lambda wc: 2000
        + config["predictive"]["draws"] * int(wc.n_obs) * len(METHODS) * 40 // 2**20,
        runtime=10,
    params:
        predictive=lambda wc, input: labelled(
            {m.label: path for m, path in zip(METHODS, input.predictive)}
        ),
        style=PLOT_STYLE,
        bins=PLOTS["event_bins"],
    shell:
        "python -m pdfinfer.plotting.cli events --observed {input.observed:q} --predictive {params.predictive}"
        " --bins {params.bins} {params.style} --threads {threads} --out {output.events:q} > {log:q} 2>&1"


rule plot_training:
    input:
        history_files,
    output:
        figure=report(
            f"{PLOT_DIR}/n{{n_obs}}/training_{{method}}.png",
            caption="../report/training.rst",
            category="Training",
            subcategory="n_obs = {n_obs}",
            labels={
                "figure": "training history",
                "methods": "{method}",
                "n_obs": "{n_obs}",
            },
        ),
        other=expand(
            f"{PLOT_DIR}/n{{{{n_obs}}}}/training_{{{{method}}}}.{{fmt}}",
            fmt=OTHER_FORMATS,
        ),
    log:
        log_path("plot_training", "n{n_obs}/{method}"),
    benchmark:
        benchmark_path("plot_training", "n{n_obs}/{method}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1500,
        runtime=5,
    params:
        style=PLOT_STYLE,
    shell:
        "python -m pdfinfer.plotting.cli training --method {wildcards.method} --files {input:q}"
        " --n-obs {wildcards.n_obs} {params.style} --threads {threads} --out {output.figure:q} > {log:q} 2>&1"


rule plot_calibration:
    input:
        lambda wc: method_path(wc.method, "diagnostics_h5", wc.n_obs),
    output:
        coverage=calibration_output("coverage", "expected coverage"),
        sbc=calibration_output("sbc", "SBC rank histograms"),
        tarp=calibration_output("tarp", "TARP"),
        other=expand(
            f"{PLOT_DIR}/n{{{{n_obs}}}}/calibration_{{{{method}}}}_{{kind}}.{{fmt}}",
            kind=["coverage", "sbc", "tarp"],
            fmt=OTHER_FORMATS,
        ),
    log:
        log_path("plot_calibration", "n{n_obs}/{method}"),
    benchmark:
        benchmark_path("plot_calibration", "n{n_obs}/{method}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1500,
        runtime=5,
    params:
        style=PLOT_STYLE,
        bins=PLOTS["sbc_bins"],
    shell:
        "python -m pdfinfer.plotting.cli calibration --method {wildcards.method} --diagnostics {input:q} --bins {params.bins}"
        " --n-obs {wildcards.n_obs} {params.style} --threads {threads}"
        " --out-coverage {output.coverage:q} --out-sbc {output.sbc:q} --out-tarp {output.tarp:q} > {log:q} 2>&1"


rule plot_summary:
    input:
        f"{RESULTS}/compare/n{{n_obs}}/metrics.json",
    output:
        png=figure_report(
            "summary_table",
            "summary_table",
            "Parameters",
            "comparison table (image)",
            methods="all vs reference",
        ),
        html=report(
            f"{PLOT_DIR}/n{{n_obs}}/summary_table.html",
            caption="../report/summary_table.rst",
            category="Parameters",
            subcategory="n_obs = {n_obs}",
            labels={
                "figure": "comparison table (HTML)",
                "methods": "all vs reference",
                "n_obs": "{n_obs}",
            },
        ),
        other=other_formats("summary_table"),
    log:
        log_path("plot_summary", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_summary", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        style=PLOT_STYLE,
    shell:
        "python -m pdfinfer.plotting.cli table --metrics {input:q} --n-obs {wildcards.n_obs} {params.style}"
        " --threads {threads} --out-png {output.png:q} --out-html {output.html:q} > {log:q} 2>&1"


rule plot_sweep:
    input:
        f"{RESULTS}/compare/sweep.json",
    output:
        sweep=report(
            f"{PLOT_DIR}/sweep.png",
            caption="../report/sweep.rst",
            category="Sweep",
            labels={
                "figure": "posterior width and C2ST vs n_obs",
                "methods": "all",
                "n_obs": ", ".join(map(str, SWEEP)),
            },
        ),
        other=expand(f"{PLOT_DIR}/sweep.{{fmt}}", fmt=OTHER_FORMATS),
    log:
        log_path("plot_sweep"),
    benchmark:
        benchmark_path("plot_sweep")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        style=PLOT_STYLE,
    shell:
        "python -m pdfinfer.plotting.cli sweep --sweep {input:q} {params.style} --threads {threads}"
        " --out {output.sweep:q} > {log:q} 2>&1"


TARGETS.extend(
    expand(
        f"{PLOT_DIR}/n{{n_obs}}/{{name}}.png",
        n_obs=SWEEP,
        name=[
            "posterior_corner",
            "posterior_marginals",
            "pdf_bands",
            "events",
            "summary_table",
        ],
    )
)
TARGETS.extend(
    expand(
        f"{PLOT_DIR}/n{{n_obs}}/training_{{method}}.png",
        n_obs=SWEEP,
        method=[m.label for m in TRAINED],
    )
)
TARGETS.extend(
    expand(
        f"{PLOT_DIR}/n{{n_obs}}/calibration_{{method}}_{{kind}}.png",
        n_obs=SWEEP,
        method=[m.label for m in AMORTIZED],
        kind=["coverage", "sbc", "tarp"],
    )
)
TARGETS.append(f"{PLOT_DIR}/sweep.png")


rule plot_levels:
    input:
        f"{RESULTS}/compare/n{{n_obs}}/metrics.json",
    output:
        levels=figure_report(
            "levels", "levels", "Events", "event level vs parameter level"
        ),
        amplification=figure_report(
            "amplification",
            "amplification",
            "Events",
            "amplification factor (GANplifying)",
        ),
        other=other_formats("levels", "amplification"),
    log:
        log_path("plot_levels", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_levels", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        style=PLOT_STYLE,
    shell:
        "python -m pdfinfer.plotting.cli levels --metrics {input:q} --n-obs {wildcards.n_obs} {params.style}"
        " --threads {threads} --out-levels {output.levels:q} --out-amplification {output.amplification:q} > {log:q} 2>&1"


TARGETS.extend(
    expand(
        f"{PLOT_DIR}/n{{n_obs}}/{{name}}.png",
        n_obs=SWEEP,
        name=["levels", "amplification"],
    )
)
