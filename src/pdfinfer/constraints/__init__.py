"""Physics constraints on the parameters: the valence sum rules as a prior-side factor (``docs/physics.md``).

* :mod:`pdfinfer.constraints.settings` — the config section ``observation.constraints`` (torch-free).
* :mod:`pdfinfer.constraints.sumrules` — the closed-form valence integrals (numpy and torch), the
  log prior factor, its Fisher information and the sampler of the constrained prior.
* :mod:`pdfinfer.constraints.study` — the "physics constraints?" study: exact-posterior widths with
  the events alone, the normalization observable and the sum rules, and its answer sentence;
  :mod:`pdfinfer.constraints.gather` its command line.

Imports nothing heavy: Snakemake reads the settings at parse time.
"""
