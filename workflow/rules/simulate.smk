# Event generation (docs/pipeline.md): truth bank -> observed sets; prior-predictive training
# shards and the held-out calibration sets; posterior-predictive replicate sets per method.


rule simulate_truth:
    output:
        f"{RESULTS}/data/truth.h5",
    log:
        log_path("simulate_truth"),
    benchmark:
        benchmark_path("simulate_truth")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        theory=theory_spec(),
        n_events=config["observation"]["n_truth"],
        rel_unc=NORM["rel_unc"],
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "seed"),
    shell:
        "python -m pdfinfer.simulate truth --theory {params.theory:q} --n-events {params.n_events}"
        " --norm-rel-unc {params.rel_unc} --seed {params.seed} --device {params.device:q}"
        " --threads {threads} --config-hash {params.hash} --out {output:q} > {log:q} 2>&1"


rule observed_set:
    input:
        rules.simulate_truth.output,
    output:
        OBSERVED,
    log:
        log_path("observed_set", "n{n_obs}"),
    benchmark:
        benchmark_path("observed_set", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        hash=config_hash("theory", "observation", "seed"),
    shell:
        "python -m pdfinfer.simulate observed --truth {input:q} --n-obs {wildcards.n_obs}"
        " --config-hash {params.hash} --out {output:q} > {log:q} 2>&1"


rule simulate_training:
    output:
        f"{RESULTS}/data/n{{n_obs}}/train/shard{{shard}}.h5",
    log:
        log_path("simulate_training", "n{n_obs}/shard{shard}"),
    benchmark:
        benchmark_path("simulate_training", "n{n_obs}/shard{shard}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=lambda wc: 1000
        + shard_sizes()[int(wc.shard)] * int(wc.n_obs) * 40 // 2**20,
        runtime=30,
    params:
        theory=theory_spec(),
        n_sims=lambda wc: shard_sizes()[int(wc.shard)],
        rel_unc=NORM["rel_unc"],
        constraints=CONSTRAINTS,
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "seed"),
    shell:
        "python -m pdfinfer.simulate training --theory {params.theory:q} --n-sims {params.n_sims}"
        " --n-obs {wildcards.n_obs} --shard {wildcards.shard} --norm-rel-unc {params.rel_unc}"
        " --constraints {params.constraints:q}"
        " --seed {params.seed} --device {params.device:q} --threads {threads}"
        " --config-hash {params.hash} --out {output:q} > {log:q} 2>&1"


rule simulate_holdout:
    output:
        HOLDOUT,
    log:
        log_path("simulate_holdout", "n{n_obs}"),
    benchmark:
        benchmark_path("simulate_holdout", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=lambda wc: 1000
        + config["training_data"]["n_holdout"] * int(wc.n_obs) * 40 // 2**20,
        runtime=30,
    params:
        theory=theory_spec(),
        n_sims=config["training_data"]["n_holdout"],
        rel_unc=NORM["rel_unc"],
        constraints=CONSTRAINTS,
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "seed"),
    shell:
        "python -m pdfinfer.simulate holdout --theory {params.theory:q} --n-sims {params.n_sims}"
        " --n-obs {wildcards.n_obs} --norm-rel-unc {params.rel_unc}"
        " --constraints {params.constraints:q}"
        " --seed {params.seed} --device {params.device:q} --threads {threads}"
        " --config-hash {params.hash} --out {output:q} > {log:q} 2>&1"


rule predictive:
    input:
        predictive_source,
    output:
        PREDICTIVE,
    log:
        log_path("predictive", "n{n_obs}/{method}"),
    benchmark:
        benchmark_path("predictive", "n{n_obs}/{method}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=lambda wc: 1000
        + config["predictive"]["draws"] * int(wc.n_obs) * 40 // 2**20,
        runtime=10,
    params:
        source=lambda wc, input: (
            f"--samples {shlex.quote(input[0])}" if input else "--truth"
        ),
        theory=theory_spec(),
        draws=config["predictive"]["draws"],
        rel_unc=NORM["rel_unc"],
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "predictive", "seed"),
    shell:
        "python -m pdfinfer.predictive {params.source} --label {wildcards.method} --theory {params.theory:q}"
        " --draws {params.draws} --n-events {wildcards.n_obs} --rel-unc {params.rel_unc} --seed {params.seed}"
        " --device {params.device:q} --threads {threads} --config-hash {params.hash} --out {output:q} > {log:q} 2>&1"


TARGETS.extend(expand(OBSERVED, n_obs=SWEEP))
