"""Recommenders trained on real, fused and synthetic data, scored on held-out real events."""
