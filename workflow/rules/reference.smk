# The referee (docs/methods.md): MCMC on the exact likelihood of each observed set,
# with convergence diagnostics, and the Fisher information / Cramér-Rao bound at the truth.

REFERENCE = config["reference"]


rule reference:
    input:
        f"{RESULTS}/data/n{{n_obs}}/observed.h5",
    output:
        samples=f"{RESULTS}/reference/n{{n_obs}}/samples.h5",
        fisher=f"{RESULTS}/reference/n{{n_obs}}/fisher.json",
    log:
        log_path("reference", "n{n_obs}"),
    benchmark:
        benchmark_path("reference", "n{n_obs}")
    params:
        norm="on" if NORM["enabled"] else "off",
        n_chains=REFERENCE["n_chains"],
        n_walkers=REFERENCE["n_walkers"],
        n_burn=REFERENCE["n_burn"],
        n_steps=REFERENCE["n_steps"],
        max_steps=REFERENCE["max_steps"],
        n_samples=REFERENCE["n_samples"],
        rhat_max=REFERENCE["rhat_max"],
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "reference", "seed"),
    threads: 1
    resources:
        mem_mb=lambda wc: 1000 + int(wc.n_obs) * REFERENCE["n_chains"] * REFERENCE["n_walkers"] * 64 // 2**20,
        runtime=REFERENCE["runtime_minutes"],
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.reference.run --observed {input} --normalization {params.norm}"
        " --n-chains {params.n_chains} --n-walkers {params.n_walkers} --n-burn {params.n_burn}"
        " --n-steps {params.n_steps} --max-steps {params.max_steps} --n-samples {params.n_samples}"
        " --rhat-max {params.rhat_max} --seed {params.seed} --device {params.device} --threads {threads}"
        " --config-hash {params.hash} --out-samples {output.samples} --out-fisher {output.fisher} > {log} 2>&1"


TARGETS.extend(expand(f"{RESULTS}/reference/n{{n_obs}}/{{name}}", n_obs=SWEEP, name=["samples.h5", "fisher.json"]))
