"""Data: datasets, fixed splits, competitions and their manifests (no labels of query or gallery leave here)."""
