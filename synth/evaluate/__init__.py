"""Fidelity, privacy and utility metrics of synthetic tables against real ones."""
