# Scoring every method against the exact reference (issue 5): per observed-set size, then the
# sample-size sweep. Inputs follow the shared samples contract; wall times come from the
# Snakemake benchmark files of each method's rules.

COMPARE = config["compare"]
BENCH = f"{RESULTS}/benchmarks"
# Adversarial runs: config adversarial.seeds, a count or a list of indices.
_SEEDS = config.get("adversarial", {}).get("seeds", 0)
COMPARE_SEEDS = list(range(_SEEDS)) if isinstance(_SEEDS, int) else list(_SEEDS)
# {label: (samples file pattern, [benchmark TSV globs of the rules that produced it])}
COMPARE_METHODS = {
    **{
        f"adversarial_seed{s}": (
            f"{RESULTS}/adversarial/n{{n_obs}}/seed{s}.h5",
            [f"{BENCH}/adversarial/n{{n_obs}}/seed{s}.tsv"],
        )
        for s in COMPARE_SEEDS
    },
    **(
        {
            "adversarial_pooled": (
                f"{RESULTS}/adversarial/n{{n_obs}}/pooled.h5",
                [f"{BENCH}/adversarial/n{{n_obs}}/seed*.tsv", f"{BENCH}/adversarial_ensemble/n{{n_obs}}.tsv"],
            )
        }
        if COMPARE_SEEDS
        else {}
    ),
    **(
        {
            "npe": (
                f"{RESULTS}/npe/n{{n_obs}}/samples.h5",
                [f"{BENCH}/npe_train/n{{n_obs}}.tsv", f"{BENCH}/npe_sample/n{{n_obs}}.tsv"],
            )
        }
        if "npe" in config
        else {}
    ),
}
COMPARE_WALL = {
    "reference": [f"{BENCH}/reference/n{{n_obs}}.tsv"],
    **{label: benches for label, (_, benches) in COMPARE_METHODS.items()},
}


rule compare:
    input:
        observed=f"{RESULTS}/data/n{{n_obs}}/observed.h5",
        reference=rules.reference.output.samples,
        fisher=rules.reference.output.fisher,
        **{label: path for label, (path, _) in COMPARE_METHODS.items()},
    output:
        f"{RESULTS}/compare/n{{n_obs}}/metrics.json",
    log:
        log_path("compare", "n{n_obs}"),
    benchmark:
        benchmark_path("compare", "n{n_obs}")
    params:
        samples=lambda wc, input: " ".join(f"--samples {label}={input[label]}" for label in COMPARE_METHODS),
        wall=lambda wc: " ".join(
            f"--wall-time {shlex.quote(label)}={shlex.quote(','.join(g.format(n_obs=wc.n_obs) for g in globs))}"
            for label, globs in COMPARE_WALL.items()
        ),
        c2st=COMPARE["c2st_max_samples"],
        folds=COMPARE["c2st_folds"],
        events=COMPARE["event_max_events"],
        predictive=COMPARE["predictive_events"],
        quantiles=COMPARE["n_quantiles"],
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("compare", "seed"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.compare.run --observed {input.observed} --reference {input.reference}"
        " --fisher {input.fisher} {params.samples} {params.wall} --c2st-max-samples {params.c2st}"
        " --c2st-folds {params.folds} --event-max-events {params.events} --predictive-events {params.predictive}"
        " --n-quantiles {params.quantiles} --seed {params.seed} --device {params.device} --threads {threads}"
        " --config-hash {params.hash} --out {output} > {log} 2>&1"


rule compare_sweep:
    input:
        expand(f"{RESULTS}/compare/n{{n_obs}}/metrics.json", n_obs=SWEEP),
    output:
        f"{RESULTS}/compare/sweep.json",
    log:
        log_path("compare_sweep"),
    benchmark:
        benchmark_path("compare_sweep")
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.compare.sweep --metrics {input} --out {output} > {log} 2>&1"


TARGETS.extend(expand(f"{RESULTS}/compare/n{{n_obs}}/metrics.json", n_obs=SWEEP))
TARGETS.append(f"{RESULTS}/compare/sweep.json")
