# GATSBI, the amortized adversarial posterior (pdfinfer.gatsbi): a conditional GAN G(z, s(x)) vs
# D(eta, s(x)) trained on the prior-predictive shards; draws for the observed set; SBC, expected
# coverage and TARP on the shared hold-out sets. Targets come from the registry (common.smk).

from pdfinfer.gatsbi.settings import train_memory_bytes as gatsbi_memory_bytes

GATSBI = config.get("gatsbi", {})
#: gatsbi_train asks for 2000 MB (libraries) + its bound (pdfinfer.gatsbi.settings.train_memory_bytes:
#: one chunk of sets read or simulated, the summaries of all pairs).
GATSBI_SETTINGS = section_settings(config, "gatsbi")


rule gatsbi_train:
    input:
        training_shards,
    output:
        f"{RESULTS}/gatsbi/n{{n_obs}}/generator.pt",
    log:
        log_path("gatsbi_train", "n{n_obs}"),
    benchmark:
        benchmark_path("gatsbi_train", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: GATSBI.get("threads", 1)
    resources:
        mem_mb=lambda wc: 2000
        + gatsbi_memory_bytes(
            GATSBI_SETTINGS, config["training_data"]["n_simulations"], int(wc.n_obs)
        )
        // 2**20,
        runtime=GATSBI.get("runtime_minutes", 60),
        gpu=GATSBI.get("gpus", 0),
    params:
        settings=settings_json("gatsbi"),
        norm=NORM_FLAG,
        checkpoint=f"{RESULTS}/checkpoints/gatsbi/n{{n_obs}}/train.pt",
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "gatsbi", "seed"),
    shell:
        "python -m pdfinfer.gatsbi.train --shards {input:q} --normalization {params.norm:q}"
        " --settings {params.settings:q} --checkpoint {params.checkpoint:q} --seed {params.seed:q}"
        " --device {params.device:q} --threads {threads} --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"


rule gatsbi_sample:
    input:
        model=rules.gatsbi_train.output,
        observed=OBSERVED,
    output:
        f"{RESULTS}/gatsbi/n{{n_obs}}/samples.h5",
    log:
        log_path("gatsbi_sample", "n{n_obs}"),
    benchmark:
        benchmark_path("gatsbi_sample", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: GATSBI.get("threads", 1)
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        norm=NORM_FLAG,
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "gatsbi", "seed"),
    shell:
        "python -m pdfinfer.gatsbi.sample --model {input.model:q} --observed {input.observed:q}"
        " --normalization {params.norm:q} --seed {params.seed:q} --device {params.device:q} --threads {threads}"
        " --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"


rule gatsbi_diagnostics:
    input:
        model=rules.gatsbi_train.output,
        holdout=HOLDOUT,
    output:
        h5=f"{RESULTS}/gatsbi/n{{n_obs}}/diagnostics.h5",
        json=f"{RESULTS}/gatsbi/n{{n_obs}}/diagnostics.json",
    log:
        log_path("gatsbi_diagnostics", "n{n_obs}"),
    benchmark:
        benchmark_path("gatsbi_diagnostics", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: GATSBI.get("threads", 1)
    resources:
        mem_mb=lambda wc: 2000 + 1000 * int(wc.n_obs) * 24 // 2**20,
        runtime=20,
    params:
        norm=NORM_FLAG,
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "gatsbi", "seed"),
    shell:
        "python -m pdfinfer.gatsbi.diagnostics --model {input.model:q} --holdout {input.holdout:q}"
        " --normalization {params.norm:q} --seed {params.seed:q} --device {params.device:q} --threads {threads}"
        " --config-hash {params.hash:q} --out-h5 {output.h5:q} --out-json {output.json:q} > {log:q} 2>&1"
