# pdfinfer: adversarial parameter learning vs sbi NPE vs the exact posterior, for PDF parameters.
# The Snakefile only wires things together: configuration and helpers live in
# workflow/rules/common.smk, each stage in its own rule file.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/npe.smk"
include: "workflow/rules/adversarial.smk"
include: "workflow/rules/gatsbi.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/plots.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
