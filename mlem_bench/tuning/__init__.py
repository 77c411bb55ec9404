"""Tuning: the error model measured on a pilot (`calibrate`), configurations for a target
error (`configure`: water-filled probabilities, EM and ML-EM budgets), and the registry
of methods and baselines with their knobs and theory slopes (`methods`)."""
