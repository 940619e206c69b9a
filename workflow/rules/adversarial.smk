# Adversarial parameter learning (docs/methods.md): `adversarial.seeds` independent training runs
# per observed-set size (wildcard `replica`, separate jobs), then one pooled ensemble (registry
# label "adversarial"); and the bootstrap ensemble (label "adversarial_bootstrap", below).
# Checkpoints are not outputs: a killed run resumes when the job is rerun, and a finished run
# removes its checkpoint. common.smk requests the samples of every enabled method.

ADV = config["adversarial"]


rule adversarial:
    input:
        observed=OBSERVED,
    output:
        method_path("adversarial", "replica_samples"),
    log:
        log_path("adversarial", "n{n_obs}/seed{replica}"),
    benchmark:
        benchmark_path("adversarial", "n{n_obs}/seed{replica}")
    wildcard_constraints:
        replica=r"\d+",
    conda:
        CONDA_ENV
    threads: ADV.get("threads", 1)
    resources:
        mem_mb=lambda wc: 1500
        + ADV.get("batch_params", 8)
        * min(ADV.get("batch_events", 1024), int(wc.n_obs))
        * 4096
        // 2**20,
        runtime=ADV.get("runtime_minutes", 30),
        gpu=ADV.get("gpus", 0),
    params:
        checkpoint=f"{RESULTS}/checkpoints/adversarial/n{{n_obs}}/seed{{replica}}.pt",
        norm=NORM_FLAG,
        constraints=CONSTRAINTS,
        settings=settings_json("adversarial"),
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "adversarial", "seed"),
    shell:
        "python -m pdfinfer.adversarial.train --observed {input.observed:q} --replica {wildcards.replica:q}"
        " --normalization {params.norm:q} --constraints {params.constraints:q} --settings {params.settings:q} --checkpoint {params.checkpoint:q}"
        " --seed {params.seed:q} --device {params.device:q} --threads {threads} --config-hash {params.hash:q}"
        " --out {output:q} > {log:q} 2>&1"


rule adversarial_ensemble:
    input:
        expand(
            method_path("adversarial", "replica_samples", n_obs="{{n_obs}}"),
            replica=range(ADV.get("seeds", 2)),
        ),
    output:
        method_path("adversarial", "samples"),
    log:
        log_path("adversarial_ensemble", "n{n_obs}"),
    benchmark:
        benchmark_path("adversarial_ensemble", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        hash=config_hash("theory", "observation", "adversarial", "seed"),
    shell:
        "python -m pdfinfer.adversarial.pool --runs {input:q} --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"


# Bootstrap ensemble (docs/methods.md): `adversarial_bootstrap.replicas` runs with the adversarial
# settings, each on a resample of the observed data (separate jobs), pooled as point estimates.
BOOT = config.get("adversarial_bootstrap", {})


rule adversarial_bootstrap:
    input:
        observed=OBSERVED,
    output:
        method_path("adversarial_bootstrap", "replica_samples"),
    log:
        log_path("adversarial_bootstrap", "n{n_obs}/replica{replica}"),
    benchmark:
        benchmark_path("adversarial_bootstrap", "n{n_obs}/replica{replica}")
    wildcard_constraints:
        replica=r"\d+",
    conda:
        CONDA_ENV
    threads: BOOT.get("threads", 1)
    resources:
        mem_mb=lambda wc: 1500
        + ADV.get("batch_params", 8)
        * min(ADV.get("batch_events", 1024), int(wc.n_obs))
        * 4096
        // 2**20,
        runtime=BOOT.get("runtime_minutes", 30),
        gpu=BOOT.get("gpus", 0),
    params:
        checkpoint=f"{RESULTS}/checkpoints/adversarial_bootstrap/n{{n_obs}}/replica{{replica}}.pt",
        norm=NORM_FLAG,
        constraints=CONSTRAINTS,
        settings=settings_json("adversarial"),
        bootstrap=settings_json("adversarial_bootstrap"),
        seed=config["seed"],
        device=config["device"],
        hash=config_hash(
            "theory", "observation", "adversarial", "adversarial_bootstrap", "seed"
        ),
    shell:
        "python -m pdfinfer.adversarial.bootstrap --observed {input.observed:q} --replica {wildcards.replica:q}"
        " --normalization {params.norm:q} --constraints {params.constraints:q} --settings {params.settings:q} --bootstrap-settings {params.bootstrap:q}"
        " --checkpoint {params.checkpoint:q} --seed {params.seed:q} --device {params.device:q} --threads {threads}"
        " --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"


rule adversarial_bootstrap_pool:
    input:
        expand(
            method_path("adversarial_bootstrap", "replica_samples", n_obs="{{n_obs}}"),
            replica=range(BOOT.get("replicas", 8)),
        ),
    output:
        method_path("adversarial_bootstrap", "samples"),
    log:
        log_path("adversarial_bootstrap_pool", "n{n_obs}"),
    benchmark:
        benchmark_path("adversarial_bootstrap_pool", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        hash=config_hash(
            "theory", "observation", "adversarial", "adversarial_bootstrap", "seed"
        ),
    shell:
        "python -m pdfinfer.adversarial.pool --runs {input:q} --method adversarial_bootstrap --estimates"
        " --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"
