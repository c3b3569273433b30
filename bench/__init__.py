"""Benchmarks of the project against explicit targets; run each as ``python -m bench.<name>``."""
