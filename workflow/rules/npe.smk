# Neural posterior estimation with sbi (DESIGN.md section 1, item 2): train on the prior-predictive
# shards, draw from the posterior for the observed set, check calibration on held-out simulations
# (simulated inside npe_diagnostics from their own seed stream, never part of the training shards).

NPE = config["npe"]


# The normalization observable on/off, passed explicitly to every NPE module.
NPE_NORM = "on" if NORM["enabled"] else "off"
# Architecture and optimization options of pdfinfer.npe.train.
NPE_TRAIN_ARGS = " ".join(
    f"--{flag} {value}"
    for flag, value in (
        ("flow", NPE["flow"]),
        ("hidden-features", NPE["hidden_features"]),
        ("num-transforms", NPE["num_transforms"]),
        ("num-bins", NPE["num_bins"]),
        ("event-hidden", NPE["embedding"]["event_hidden"]),
        ("event-layers", NPE["embedding"]["event_layers"]),
        ("event-features", NPE["embedding"]["event_features"]),
        ("embed-hidden", NPE["embedding"]["hidden"]),
        ("embed-layers", NPE["embedding"]["layers"]),
        ("embed-dim", NPE["embedding"]["output_dim"]),
        ("batch-size", NPE["training"]["batch_size"]),
        ("learning-rate", NPE["training"]["learning_rate"]),
        ("max-epochs", NPE["training"]["max_epochs"]),
        ("stop-after-epochs", NPE["training"]["stop_after_epochs"]),
        ("validation-fraction", NPE["training"]["validation_fraction"]),
        ("clip-max-norm", NPE["training"]["clip_max_norm"]),
    )
)


rule npe_train:
    input:
        training_shards,
    output:
        f"{RESULTS}/npe/n{{n_obs}}/posterior.pt",
    log:
        log_path("npe_train", "n{n_obs}"),
    benchmark:
        benchmark_path("npe_train", "n{n_obs}")
    params:
        checkpoint=f"{RESULTS}/checkpoints/npe/n{{n_obs}}/train.pt",
        norm=NPE_NORM,
        args=NPE_TRAIN_ARGS,
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "npe", "seed"),
    threads: NPE["threads"]
    resources:
        mem_mb=lambda wc: 2000 + config["training_data"]["n_simulations"] * int(wc.n_obs) * 32 // 2**20,
        runtime=NPE["runtime_minutes"],
        gpu=NPE["gpus"],
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.npe.train --shards {input} --n-obs {wildcards.n_obs} --normalization {params.norm}"
        " {params.args} --checkpoint {params.checkpoint} --seed {params.seed} --device {params.device}"
        " --threads {threads} --config-hash {params.hash} --out {output} > {log} 2>&1"


rule npe_sample:
    input:
        model=rules.npe_train.output,
        observed=f"{RESULTS}/data/n{{n_obs}}/observed.h5",
    output:
        f"{RESULTS}/npe/n{{n_obs}}/samples.h5",
    log:
        log_path("npe_sample", "n{n_obs}"),
    benchmark:
        benchmark_path("npe_sample", "n{n_obs}")
    params:
        norm=NPE_NORM,
        n_samples=NPE["n_samples"],
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "npe", "seed"),
    threads: NPE["threads"]
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.npe.sample --model {input.model} --observed {input.observed} --normalization {params.norm}"
        " --n-samples {params.n_samples} --seed {params.seed} --device {params.device} --threads {threads}"
        " --config-hash {params.hash} --out {output} > {log} 2>&1"


rule npe_diagnostics:
    input:
        model=rules.npe_train.output,
    output:
        h5=f"{RESULTS}/npe/n{{n_obs}}/diagnostics.h5",
        json=f"{RESULTS}/npe/n{{n_obs}}/diagnostics.json",
    log:
        log_path("npe_diagnostics", "n{n_obs}"),
    benchmark:
        benchmark_path("npe_diagnostics", "n{n_obs}")
    params:
        norm=NPE_NORM,
        n_sims=NPE["diagnostics"]["n_sims"],
        n_post=NPE["diagnostics"]["n_posterior_samples"],
        c2st="--c2st" if NPE["diagnostics"]["c2st"] else "",
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "training_data", "npe", "seed"),
    threads: NPE["threads"]
    resources:
        mem_mb=lambda wc: 2000 + NPE["diagnostics"]["n_sims"] * int(wc.n_obs) * 64 // 2**20,
        runtime=20,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.npe.diagnostics --model {input.model} --normalization {params.norm}"
        " --n-sims {params.n_sims} --n-posterior-samples {params.n_post} {params.c2st} --seed {params.seed}"
        " --device {params.device} --threads {threads} --config-hash {params.hash}"
        " --out-h5 {output.h5} --out-json {output.json} > {log} 2>&1"


TARGETS.extend(expand(f"{RESULTS}/npe/n{{n_obs}}/samples.h5", n_obs=SWEEP))
TARGETS.extend(expand(f"{RESULTS}/npe/n{{n_obs}}/diagnostics.{{ext}}", n_obs=SWEEP, ext=["h5", "json"]))
