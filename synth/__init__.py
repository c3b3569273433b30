"""synth: Spark-native synthetic data for e-commerce search and recommendation."""

__version__ = "0.1.0"
