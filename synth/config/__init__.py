"""Strict configuration models, one per stage, and the job config."""
