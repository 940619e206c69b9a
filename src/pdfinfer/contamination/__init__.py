"""Contaminated observed sets: how each method's answer degrades when a fraction of the events are outliers.

Torch-free at import (Snakemake imports :mod:`pdfinfer.contamination.settings`). The outlier model is
:mod:`pdfinfer.contamination.model`; one job (a method on one contaminated set) is
:mod:`pdfinfer.contamination.run`; the summary over sets is :mod:`pdfinfer.contamination.summary`.
"""
