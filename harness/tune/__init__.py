"""Tuning: an Optuna study over a method's search space, scored on the validation split only."""
