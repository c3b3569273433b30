"""Cleaning bronze events into silver, with quarantine and accounting."""
