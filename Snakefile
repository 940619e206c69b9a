# pdfinfer: adversarial parameter learning vs sbi NPE vs the exact posterior, for PDF parameters.
# The Snakefile only wires things together: configuration and helpers live in
# workflow/rules/common.smk, each stage in its own rule file.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"


rule all:
    default_target: True
    input:
        all_targets(),
