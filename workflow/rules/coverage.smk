# Coverage over replicated observed sets (docs/pipeline.md): every enabled method that declares a
# `fit` in the registry is refitted on `coverage.sets` sets at the truth and as many at prior
# draws (one job each), at one observed-set size; the referee's coverage tests the machinery.


wildcard_constraints:
    kind="truth|prior",
    index=r"\d+",


rule replica_fit:
    input:
        replica_model,
    output:
        REPLICA,
    log:
        log_path("replica_fit", "n{n_obs}/{method}/{kind}{index}"),
    benchmark:
        benchmark_path("replica_fit", "n{n_obs}/{method}/{kind}{index}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        settings=lambda wc: settings_json(REGISTRY[wc.method].section),
        model=lambda wc, input: f"--model {shlex.quote(input[0])}" if input else "",
        theory=theory_spec(),
        rel_unc=NORM["rel_unc"],
        norm=NORM_FLAG,
        seed=config["seed"],
        device=config["device"],
        hash=lambda wc: config_hash(
            "theory", "observation", REGISTRY[wc.method].section, "coverage", "seed"
        ),
    shell:
        "python -m pdfinfer.compare.replica --method {wildcards.method} --kind {wildcards.kind} --index {wildcards.index}"
        " --n-obs {wildcards.n_obs} --theory {params.theory:q} --rel-unc {params.rel_unc} --normalization {params.norm}"
        " --settings {params.settings:q} {params.model} --seed {params.seed} --device {params.device:q} --threads {threads}"
        " --config-hash {params.hash} --out {output:q} > {log:q} 2>&1"


rule coverage:
    input:
        lambda wc: [p for paths in replica_files(wc.n_obs).values() for p in paths],
    output:
        f"{RESULTS}/coverage/n{{n_obs}}/coverage.json",
    log:
        log_path("coverage", "n{n_obs}"),
    benchmark:
        benchmark_path("coverage", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        replicas=lambda wc: " ".join(
            shlex.quote(f"{label}={p}")
            for label, paths in replica_files(wc.n_obs).items()
            for p in paths
        ),
    shell:
        "python -m pdfinfer.compare.coverage --replicas {params.replicas} --out {output:q} > {log:q} 2>&1"


rule plot_coverage:
    input:
        rules.coverage.output,
    output:
        figure=report(
            f"{RESULTS}/plots/n{{n_obs}}/coverage.png",
            caption="../report/coverage.rst",
            category="Calibration",
            subcategory="n_obs = {n_obs}",
            labels={
                "figure": "coverage over replicated observed sets",
                "methods": ", ".join(m.title for m in REFITTED),
                "n_obs": "{n_obs}",
            },
        ),
        other=expand(
            f"{RESULTS}/plots/n{{{{n_obs}}}}/coverage.{{fmt}}",
            fmt=[f for f in config["plots"]["formats"] if f != "png"],
        ),
    log:
        log_path("plot_coverage", "n{n_obs}"),
    benchmark:
        benchmark_path("plot_coverage", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        style=PLOT_STYLE,
    shell:
        "python -m pdfinfer.plotting.cli coverage --coverage {input:q} --n-obs {wildcards.n_obs} {params.style}"
        " --threads {threads} --out {output.figure:q} > {log:q} 2>&1"


if COVERAGE.sets and REFITTED:
    TARGETS.append(f"{RESULTS}/plots/n{COVERAGE_N}/coverage.png")
