"""pdfinfer: inference of parton-distribution parameters from simulated DIS events.

Three ways to quantify uncertainty on the same data are compared: adversarial parameter
learning, neural posterior estimation with ``sbi``, and the exact-likelihood posterior.
See ``README.md`` and ``docs/`` (``docs/physics.md``, ``docs/pipeline.md``) for the physics and the pipeline.
"""

__version__ = "0.1.0"
