"""The referee: the exact-likelihood posterior (MCMC), its diagnostics and the Fisher/Cramér-Rao bound.

>>> from pdfinfer.reference.likelihood import LogPosterior
>>> from pdfinfer.reference.nuts import run_nuts
"""
