"""Generators for profile tables: reversible data encoding and its spans."""
