"""Ingestion: source adapters and bronze tables."""
