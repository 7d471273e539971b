"""Training: model assembly, the training loop, embedding, devices."""
