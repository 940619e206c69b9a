# pdfinfer: inference methods for PDF parameters scored against the exact posterior.
# The Snakefile only includes (docs/pipeline.md): configuration, validation and helpers live in
# workflow/rules/common.smk, each stage in its own rule file, and every registered method's
# rule file (src/pdfinfer/methods.py) is included from the registry.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"


for method_rules in METHOD_RULE_FILES:

    include: method_rules


include: "workflow/rules/compare.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/coverage.smk"
include: "workflow/rules/contamination.smk"
include: "workflow/rules/constraints.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        all_targets(),
