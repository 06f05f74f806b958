"""Frozen-feature evaluation: linear probes, kNN, t-SNE, fine-tuning."""
