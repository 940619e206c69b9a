# The referee (docs/methods.md): MCMC on the exact likelihood of each observed set, sampled until
# every parameter reaches the ESS / R-hat budget, and the Fisher information / Cramér-Rao bound.
# Settings: the config section `reference`, validated by pdfinfer.reference.settings.ReferenceSettings.


rule reference:
    input:
        observed=OBSERVED,
    output:
        samples=method_path("reference", "samples"),
        fisher=f"{RESULTS}/reference/n{{n_obs}}/fisher.json",
    log:
        log_path("reference", "n{n_obs}"),
    benchmark:
        benchmark_path("reference", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=lambda wc: 1000
        + int(wc.n_obs) * config["reference"].get("n_chains", 4) * 16 * 64 // 2**20,
        runtime=config["reference"].get("runtime_minutes", 30),
    params:
        norm=NORM_FLAG,
        constraints=CONSTRAINTS,
        settings=settings_json("reference"),
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "reference", "seed"),
    shell:
        "python -m pdfinfer.reference.run --observed {input.observed:q} --normalization {params.norm:q}"
        " --constraints {params.constraints:q}"
        " --settings {params.settings:q} --seed {params.seed:q} --device {params.device:q} --threads {threads:q}"
        " --config-hash {params.hash:q} --out-samples {output.samples:q} --out-fisher {output.fisher:q} > {log:q} 2>&1"


TARGETS.extend(expand(f"{RESULTS}/reference/n{{n_obs}}/fisher.json", n_obs=SWEEP))
