# Scoring every enabled method against the exact reference (docs/pipeline.md): per observed-set
# size, then the sample-size sweep. The methods come from the registry (common.smk: METHODS);
# each method's samples file carries its own wall time, its replicate sets come from `predictive`.


rule compare:
    input:
        unpack(compare_inputs),
    output:
        f"{RESULTS}/compare/n{{n_obs}}/metrics.json",
    log:
        log_path("compare", "n{n_obs}"),
    benchmark:
        benchmark_path("compare", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        methods=compare_arguments,
        settings=settings_json("compare"),
        seed=config["seed"],
        hash=config_hash("compare", "seed"),
    shell:
        "python -m pdfinfer.compare.run --observed {input.observed:q} --reference {input.referee:q}"
        " --fisher {input.fisher:q} --truth-predictive {input.truth_predictive:q} {params.methods}"
        " --settings {params.settings:q} --seed {params.seed} --threads {threads}"
        " --config-hash {params.hash} --out {output:q} > {log:q} 2>&1"


rule compare_sweep:
    input:
        expand(f"{RESULTS}/compare/n{{n_obs}}/metrics.json", n_obs=SWEEP),
    output:
        f"{RESULTS}/compare/sweep.json",
    log:
        log_path("compare_sweep"),
    benchmark:
        benchmark_path("compare_sweep")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "python -m pdfinfer.compare.sweep --metrics {input:q} --out {output:q} > {log:q} 2>&1"


TARGETS.extend(expand(f"{RESULTS}/compare/n{{n_obs}}/metrics.json", n_obs=SWEEP))
TARGETS.append(f"{RESULTS}/compare/sweep.json")
