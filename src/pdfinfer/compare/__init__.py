"""Scoring the methods against the exact reference: per-n_obs metrics and the sample-size sweep."""
