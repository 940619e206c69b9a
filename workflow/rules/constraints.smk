# Physics constraints? (pdfinfer.constraints.study): the referee samples the observed set of
# `constraint_study.n_obs` events with the events alone, with the normalization observable and with
# the valence sum rules; the run's own `reference` job serves the case whose information it has,
# `constraint_reference` samples the others; `constraint_study` gathers the widths and bounds.


wildcard_constraints:
    case="|".join(STUDY_CASES) or "(?!x)x",


rule constraint_reference:
    input:
        observed=OBSERVED,
    output:
        samples=f"{RESULTS}/constraints/n{{n_obs}}/{{case}}/samples.h5",
        fisher=f"{RESULTS}/constraints/n{{n_obs}}/{{case}}/fisher.json",
    log:
        log_path("constraint_reference", "n{n_obs}/{case}"),
    benchmark:
        benchmark_path("constraint_reference", "n{n_obs}/{case}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=lambda wc: reference_mem_mb(wc, CONSTRAINT_CASES[wc.case][0]),
        runtime=config["reference"].get("runtime_minutes", 30),
    params:
        norm=lambda wc: "on" if CONSTRAINT_CASES[wc.case][0] else "off",
        constraints=lambda wc: case_constraint(
            wc.case, constraint_settings(config)
        ).to_json(),
        settings=settings_json("reference"),
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "reference", "seed"),
    shell:
        REFERENCE_COMMAND


rule constraint_study:
    input:
        lambda wc: [
            p for pair in constraint_case_files(wc.n_obs).values() for p in pair
        ],
    output:
        f"{RESULTS}/constraints/n{{n_obs}}/constraints.json",
    log:
        log_path("constraint_study", "n{n_obs}"),
    benchmark:
        benchmark_path("constraint_study", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        cases=lambda wc: " ".join(
            "--case " + " ".join(map(shlex.quote, (case, *pair)))
            for case, pair in constraint_case_files(wc.n_obs).items()
        ),
        constraints=CONSTRAINTS,
    shell:
        "python -m pdfinfer.constraints.gather {params.cases} --constraints {params.constraints:q} --out {output:q} > {log:q} 2>&1"


rule plot_constraints:
    input:
        rules.constraint_study.output,
    output:
        figure=figure_report(
            "constraints",
            "constraints",
            "Physics constraints",
            "exact-posterior widths: events only, normalization, sum rules",
            methods=REGISTRY[REFERENCE].title,
        ),
        other=other_formats("constraints"),
    log:
        log_path("plot_constraints", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_constraints", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        style=PLOT_STYLE,
    shell:
        "python -m pdfinfer.plotting.cli constraints --constraints {input:q} --n-obs {wildcards.n_obs:q} {params.style}"
        " --threads {threads:q} --out {output.figure:q} > {log:q} 2>&1"


if CONSTRAINT_STUDY.enabled:
    TARGETS.append(f"{PLOT_DIR}/n{CONSTRAINT_STUDY_N}/constraints.png")
