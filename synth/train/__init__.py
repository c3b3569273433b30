"""Distributed generator training: Delta snapshot -> encoded Petastorm cache -> one shared loop."""
