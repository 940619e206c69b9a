# Event generation: truth bank -> observed sets; prior-predictive training shards.


rule simulate_truth:
    output:
        f"{RESULTS}/data/truth.h5",
    log:
        log_path("simulate_truth"),
    benchmark:
        benchmark_path("simulate_truth")
    params:
        theory=theory_spec(),
        n_events=config["observation"]["n_truth"],
        rel_unc=NORM["rel_unc"],
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "seed"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.simulate truth --theory {params.theory} --n-events {params.n_events}"
        " --norm-rel-unc {params.rel_unc} --seed {params.seed} --device {params.device}"
        " --threads {threads} --config-hash {params.hash} --out {output} > {log} 2>&1"


rule observed_set:
    input:
        rules.simulate_truth.output,
    output:
        f"{RESULTS}/data/n{{n_obs}}/observed.h5",
    log:
        log_path("observed_set", "n{n_obs}"),
    benchmark:
        benchmark_path("observed_set", "n{n_obs}")
    params:
        hash=config_hash("theory", "observation", "seed"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.simulate observed --truth {input} --n-obs {wildcards.n_obs}"
        " --config-hash {params.hash} --out {output} > {log} 2>&1"


rule simulate_training:
    output:
        f"{RESULTS}/data/n{{n_obs}}/train/shard{{shard}}.h5",
    log:
        log_path("simulate_training", "n{n_obs}/shard{shard}"),
    benchmark:
        benchmark_path("simulate_training", "n{n_obs}/shard{shard}")
    params:
        theory=theory_spec(),
        n_sims=lambda wc: shard_sizes()[int(wc.shard)],
        rel_unc=NORM["rel_unc"],
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "seed"),
    threads: 1
    resources:
        mem_mb=lambda wc: 1000 + shard_sizes()[int(wc.shard)] * int(wc.n_obs) * 40 // 2**20,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.simulate training --theory {params.theory} --n-sims {params.n_sims}"
        " --n-obs {wildcards.n_obs} --shard {wildcards.shard} --norm-rel-unc {params.rel_unc}"
        " --seed {params.seed} --device {params.device} --threads {threads}"
        " --config-hash {params.hash} --out {output} > {log} 2>&1"


TARGETS.extend(expand(f"{RESULTS}/data/n{{n_obs}}/observed.h5", n_obs=SWEEP))
TARGETS.extend(
    expand(
        f"{RESULTS}/data/n{{n_obs}}/train/shard{{shard}}.h5",
        n_obs=SWEEP,
        shard=range(config["training_data"]["n_shards"]),
    )
)
