# Adversarial parameter learning (DESIGN.md section 1, item 1): `seeds` independent training runs
# per observed-set size (wildcard `seed`, separate jobs), then one pooled ensemble.
# Checkpoints are not outputs, so a killed run resumes when the job is rerun.

ADV = config["adversarial"]
#: Training settings handed to pdfinfer.adversarial.train (workflow-only keys stay here).
ADV_SETTINGS = {k: v for k, v in ADV.items() if k not in ("seeds", "gpus", "threads", "runtime_minutes")}


rule adversarial:
    input:
        f"{RESULTS}/data/n{{n_obs}}/observed.h5",
    output:
        f"{RESULTS}/adversarial/n{{n_obs}}/seed{{seed}}.h5",
    log:
        log_path("adversarial", "n{n_obs}/seed{seed}"),
    benchmark:
        benchmark_path("adversarial", "n{n_obs}/seed{seed}")
    params:
        checkpoint=f"{RESULTS}/checkpoints/adversarial/n{{n_obs}}/seed{{seed}}.pt",
        norm="on" if NORM["enabled"] else "off",
        settings=shlex.quote(json.dumps(ADV_SETTINGS, sort_keys=True)),
        seed=config["seed"],
        device=config["device"],
        hash=config_hash("theory", "observation", "adversarial", "seed"),
    threads: ADV["threads"]
    resources:
        mem_mb=lambda wc: 1500 + ADV["batch_params"] * min(ADV["batch_events"], int(wc.n_obs)) * 4096 // 2**20,
        runtime=ADV["runtime_minutes"],
        gpu=ADV["gpus"],
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.adversarial.train --observed {input} --replica {wildcards.seed}"
        " --normalization {params.norm} --settings {params.settings} --checkpoint {params.checkpoint}"
        " --seed {params.seed} --device {params.device} --threads {threads} --config-hash {params.hash}"
        " --out {output} > {log} 2>&1"


rule adversarial_ensemble:
    input:
        expand(f"{RESULTS}/adversarial/n{{{{n_obs}}}}/seed{{seed}}.h5", seed=range(ADV["seeds"])),
    output:
        f"{RESULTS}/adversarial/n{{n_obs}}/pooled.h5",
    log:
        log_path("adversarial_ensemble", "n{n_obs}"),
    benchmark:
        benchmark_path("adversarial_ensemble", "n{n_obs}")
    params:
        hash=config_hash("theory", "observation", "adversarial", "seed"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        CONDA_ENV
    shell:
        "python -m pdfinfer.adversarial.pool --runs {input} --config-hash {params.hash} --out {output} > {log} 2>&1"


TARGETS.extend(expand(f"{RESULTS}/adversarial/n{{n_obs}}/seed{{seed}}.h5", n_obs=SWEEP, seed=range(ADV["seeds"])))
TARGETS.extend(expand(f"{RESULTS}/adversarial/n{{n_obs}}/pooled.h5", n_obs=SWEEP))
