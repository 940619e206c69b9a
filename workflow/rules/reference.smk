# The referee (docs/methods.md): MCMC on the exact likelihood of each observed set, sampled until
# every parameter reaches the ESS / R-hat budget, and the Fisher information / Cramér-Rao bound.
# Settings: the config section `reference`, validated by pdfinfer.reference.settings.ReferenceSettings.


rule reference:
    input:
        observed=OBSERVED,
    output:
        samples=method_path("reference", "samples"),
        fisher=REFERENCE_FISHER,
    log:
        log_path("reference", "n{n_obs}"),
    benchmark:
        benchmark_path("reference", "n{n_obs}")
    conda:
        CONDA_ENV
    threads: 1
    resources:
        mem_mb=reference_mem_mb,
        runtime=config["reference"].get("runtime_minutes", 30),
    params:
        norm=NORM_FLAG,
        constraints=CONSTRAINTS,
        settings=settings_json("reference"),
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "reference", "seed"),
    shell:
        REFERENCE_COMMAND


TARGETS.extend(expand(REFERENCE_FISHER, n_obs=SWEEP))
