# Neural posterior estimation with sbi (docs/methods.md): train on the prior-predictive shards,
# draw from the posterior for the observed set, check calibration on the held-out sets of
# rule simulate_holdout (HOLDOUT, never part of the training shards). The settings travel as
# the validated `npe` config section in one JSON argument.

from pdfinfer.npe.settings import train_memory_bytes

NPE = config["npe"]
NPE_HASH = config_hash("theory", "observation", "training_data", "npe", "seed")

#: The npe section as settings: npe_train asks for 2000 MB (libraries) + their memory bound
#: (pdfinfer.npe.settings.train_memory_bytes: fresh simulations hold the validation and
#: standardization rows and one chunk of fresh sets; fixed shards hold every row).
NPE_TRAINING = section_settings(config, "npe").training


rule npe_train:
    input:
        training_shards,
    output:
        method_path("npe", "model"),
    log:
        log_path("npe_train", "n{n_obs}"),
    benchmark:
        benchmark_path("npe_train", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: NPE["threads"]
    resources:
        mem_mb=lambda wc: 2000
        + train_memory_bytes(
            NPE_TRAINING, config["training_data"]["n_simulations"], int(wc.n_obs)
        )
        // 2**20,
        runtime=NPE["runtime_minutes"],
        gpu=NPE["gpus"],
    params:
        settings=settings_json("npe"),
        checkpoint=f"{RESULTS}/checkpoints/npe/n{{n_obs}}/train.pt",
        norm=NORM_FLAG,
        seed=config["seed"],
        device=config["device"],
        hash=NPE_HASH,
    shell:
        "python -m pdfinfer.npe.train --shards {input:q} --n-obs {wildcards.n_obs:q} --normalization {params.norm:q}"
        " --settings {params.settings:q} --checkpoint {params.checkpoint:q} --seed {params.seed:q} --device {params.device:q}"
        " --threads {threads:q} --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"


rule npe_sample:
    input:
        model=method_path("npe", "model"),
        observed=OBSERVED,
    output:
        method_path("npe", "samples"),
    log:
        log_path("npe_sample", "n{n_obs}"),
    benchmark:
        benchmark_path("npe_sample", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: NPE["threads"]
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        settings=settings_json("npe"),
        norm=NORM_FLAG,
        seed=config["seed"],
        device=config["device"],
        hash=NPE_HASH,
    shell:
        "python -m pdfinfer.npe.sample --model {input.model:q} --observed {input.observed:q} --normalization {params.norm:q}"
        " --settings {params.settings:q} --seed {params.seed:q} --device {params.device:q} --threads {threads:q}"
        " --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"


rule npe_diagnostics:
    input:
        model=method_path("npe", "model"),
        holdout=HOLDOUT,
    output:
        h5=method_path("npe", "diagnostics_h5"),
        json=method_path("npe", "diagnostics"),
    log:
        log_path("npe_diagnostics", "n{n_obs}"),
    benchmark:
        benchmark_path("npe_diagnostics", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: NPE["threads"]
    resources:
        mem_mb=lambda wc: 2000
        + NPE["diagnostics"]["n_sims"] * int(wc.n_obs) * 64 // 2**20,
        runtime=20,
    params:
        settings=settings_json("npe"),
        norm=NORM_FLAG,
        seed=config["seed"],
        device=config["device"],
        hash=NPE_HASH,
    shell:
        "python -m pdfinfer.npe.diagnostics --model {input.model:q} --holdout {input.holdout:q} --normalization {params.norm:q}"
        " --settings {params.settings:q} --seed {params.seed:q} --device {params.device:q} --threads {threads:q}"
        " --config-hash {params.hash:q} --out-h5 {output.h5:q} --out-json {output.json:q} > {log:q} 2>&1"
