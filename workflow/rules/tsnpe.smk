# Truncated sequential NPE (docs/methods.md): rounds of simulations from the prior truncated to
# the current posterior's high-density region around the observed set; not amortized. It
# simulates its own rounds (no training shards). Settings: the validated `tsnpe` section as JSON.


rule tsnpe:
    input:
        observed=OBSERVED,
    output:
        method_path("tsnpe", "samples"),
    log:
        log_path("tsnpe", "n{n_obs}"),
    benchmark:
        benchmark_path("tsnpe", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: config["tsnpe"]["threads"]
    resources:
        mem_mb=lambda wc: 2000
        + config["tsnpe"]["rounds"]
        * config["tsnpe"]["simulations_per_round"]
        * int(wc.n_obs)
        * 32
        // 2**20,
        runtime=config["tsnpe"]["runtime_minutes"],
    params:
        settings=settings_json("tsnpe"),
        checkpoint=f"{RESULTS}/checkpoints/tsnpe/n{{n_obs}}/rounds.pt",
        norm=NORM_FLAG,
        constraints=CONSTRAINTS,
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "tsnpe", "seed"),
    shell:
        "python -m pdfinfer.tsnpe.run --observed {input.observed:q} --normalization {params.norm:q}"
        " --constraints {params.constraints:q} --settings {params.settings:q}"
        " --checkpoint {params.checkpoint:q} --seed {params.seed:q} --device {params.device:q} --threads {threads:q}"
        " --config-hash {params.hash:q} --out {output:q} > {log:q} 2>&1"
