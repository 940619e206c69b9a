# Contaminated observed sets (the outlier study, pdfinfer.contamination): `contamination.sets`
# sets at the truth, a fraction eps of the events replaced by outliers of each kind; every enabled
# method with a registry `fit` is refitted on each, every amortized method samples its trained
# model on it; rule `contamination` gathers bias and coverage against eps.


wildcard_constraints:
    ckind="clean|broad|shifted",
    eps=r"[0-9.e-]+",


rule contaminated_set:
    output:
        CONTAMINATED_SET,
    log:
        log_path("contaminated_set", "n{n_obs}/{ckind}_eps{eps}_set{index}"),
    benchmark:
        benchmark_path("contaminated_set", "n{n_obs}/{ckind}_eps{eps}_set{index}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        settings=settings_json("contamination"),
        theory=theory_spec(),
        rel_unc=NORM["rel_unc"],
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "contamination", "seed"),
    shell:
        "python -m pdfinfer.contamination.make --kind {wildcards.ckind:q} --eps {wildcards.eps:q} --index {wildcards.index:q}"
        " --n-obs {wildcards.n_obs:q} --theory {params.theory:q} --rel-unc {params.rel_unc:q} --settings {params.settings:q}"
        " --seed {params.seed:q} --device {params.device:q} --threads {threads:q} --config-hash {params.hash:q}"
        " --out {output:q} > {log:q} 2>&1"


rule contamination_fit:
    input:
        observed=CONTAMINATED_SET,
        model=replica_model,
    output:
        CONTAMINATED,
    log:
        log_path("contamination_fit", "n{n_obs}/{method}/{ckind}_eps{eps}_set{index}"),
    benchmark:
        benchmark_path(
            "contamination_fit", "n{n_obs}/{method}/{ckind}_eps{eps}_set{index}"
        )
    wildcard_constraints:
        method="|".join(m.label for m in CONTAMINATION_FIT) or "(?!x)x",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=lambda wc: settings_json(REGISTRY[wc.method].section),
        model=lambda wc, input: (
            f"--model {shlex.quote(input.model[0])}" if input.model else ""
        ),
        norm=NORM_FLAG,
        seed=config["seed"],
        device=config["device"],
        hash=lambda wc: config_hash(
            "theory",
            "observation",
            REGISTRY[wc.method].section,
            "contamination",
            "seed",
        ),
    shell:
        "python -m pdfinfer.contamination.fit --method {wildcards.method:q} --observed {input.observed:q}"
        " --normalization {params.norm:q} --settings {params.settings:q} {params.model} --seed {params.seed:q}"
        " --device {params.device:q} --threads {threads:q} --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"


rule contamination_sample:
    input:
        observed=CONTAMINATED_SET,
        model=lambda wc: REGISTRY[wc.method].path("model", RESULTS, wc.n_obs),
    output:
        CONTAMINATED,
    log:
        log_path(
            "contamination_sample", "n{n_obs}/{method}/{ckind}_eps{eps}_set{index}"
        ),
    benchmark:
        benchmark_path(
            "contamination_sample", "n{n_obs}/{method}/{ckind}_eps{eps}_set{index}"
        )
    wildcard_constraints:
        method="|".join(m.label for m in CONTAMINATION_SAMPLED) or "(?!x)x",
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        sampler=lambda wc: REGISTRY[wc.method].sampler,
        norm=NORM_FLAG,
        seed=config["seed"],
        device=config["device"],
        hash=lambda wc: config_hash(
            "theory",
            "observation",
            REGISTRY[wc.method].section,
            "contamination",
            "seed",
        ),
    shell:
        "python -m {params.sampler:q} --model {input.model:q} --observed {input.observed:q} --normalization {params.norm:q}"
        " --seed {params.seed:q} --device {params.device:q} --threads {threads:q} --config-hash {params.hash:q}"
        " --out {output:q} > {log:q} 2>&1"


rule contamination:
    input:
        lambda wc: [p for _, s, r in contamination_runs(wc.n_obs) for p in (s, r)],
    output:
        f"{RESULTS}/contamination/n{{n_obs}}/contamination.json",
    log:
        log_path("contamination", "n{n_obs}"),
    benchmark:
        benchmark_path("contamination", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        runs=lambda wc: " ".join(
            "--run " + " ".join(map(shlex.quote, run))
            for run in contamination_runs(wc.n_obs)
        ),
        settings=settings_json("contamination"),
    shell:
        "python -m pdfinfer.contamination.gather {params.runs} --settings {params.settings:q} --out {output:q} > {log:q} 2>&1"


rule plot_contamination:
    input:
        rules.contamination.output,
    output:
        figure=figure_report(
            "contamination",
            "contamination",
            "Outliers",
            "bias and coverage against the contaminated fraction",
            methods=", ".join(
                m.title for m in CONTAMINATION_FIT + CONTAMINATION_SAMPLED
            ),
        ),
        other=other_formats("contamination"),
    log:
        log_path("plot_contamination", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_contamination", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        style=PLOT_STYLE,
    shell:
        "python -m pdfinfer.plotting.cli contamination --contamination {input:q} --n-obs {wildcards.n_obs:q} {params.style}"
        " --threads {threads:q} --out {output.figure:q} > {log:q} 2>&1"


if CONTAMINATION.enabled:
    TARGETS.append(f"{PLOT_DIR}/n{CONTAMINATION_N}/contamination.png")
