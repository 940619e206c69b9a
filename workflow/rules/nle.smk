# Neural likelihood estimation over iid events (pdfinfer.nle): learn q(event | eta) (and q(z | eta)
# when the normalization observable is on) from single (eta, event) pairs of the prior-predictive
# shards, then sample the observed set's posterior by MCMC on sum_i log q(event_i | eta).
# Not amortized: scored like the referee (samples only). Helpers (settings_json, method_path,
# NORM_FLAG, OBSERVED, training_shards, ...) come from common.smk.

NLE = config["nle"]


rule nle_train:
    input:
        training_shards,
    output:
        method_path("nle", "model"),
    log:
        log_path("nle_train", "n{n_obs}"),
    benchmark:
        benchmark_path("nle_train", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: NLE["threads"]
    resources:
        mem_mb=lambda wc: 2000
        + config["training_data"]["n_simulations"] * int(wc.n_obs) * 24 // 2**20,
        runtime=NLE["runtime_minutes"],
        gpu=NLE["gpus"],
    params:
        settings=settings_json("nle"),
        norm=NORM_FLAG,
        checkpoint=f"{RESULTS}/checkpoints/nle/n{{n_obs}}/train.pt",
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "nle", "seed"),
    shell:
        "python -m pdfinfer.nle.train --shards {input:q} --normalization {params.norm:q} --settings {params.settings:q}"
        " --checkpoint {params.checkpoint:q} --seed {params.seed:q} --device {params.device:q} --threads {threads:q}"
        " --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"


rule nle_sample:
    input:
        model=rules.nle_train.output,
        observed=OBSERVED,
    output:
        method_path("nle", "samples"),
    log:
        log_path("nle_sample", "n{n_obs}"),
    benchmark:
        benchmark_path("nle_sample", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: NLE["threads"]
    resources:
        mem_mb=lambda wc: 1500 + int(wc.n_obs) * 64 * 64 // 2**20,
        runtime=NLE["runtime_minutes"],
        gpu=NLE["gpus"],
    params:
        settings=settings_json("nle"),
        norm=NORM_FLAG,
        constraints=CONSTRAINTS,
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "nle", "seed"),
    shell:
        "python -m pdfinfer.nle.sample --model {input.model:q} --observed {input.observed:q} --normalization {params.norm:q}"
        " --constraints {params.constraints:q} --settings {params.settings:q} --seed {params.seed:q} --device {params.device:q} --threads {threads:q}"
        " --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"
