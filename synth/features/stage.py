"""Stage ``features``: silver -> the gold profile and interaction tables.

The work is :func:`synth.features.pipeline.build_features`; this is the stage's entry point.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from synth.config.job import JobConfig
from synth.features.pipeline import FeaturesReport, build_features
from synth.io.delta import Lakehouse


def run(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> FeaturesReport:
    """Run the stage: rebuild the gold tables unless already built from the current silver."""
    return build_features(spark, lakehouse, cfg.features)
