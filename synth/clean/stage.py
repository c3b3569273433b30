"""Stage ``clean``: bronze -> silver and quarantine, every row accounted for.

The work is :func:`synth.clean.pipeline.clean`; this is the stage's entry point.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from synth.clean.pipeline import CleanReport, clean
from synth.config.job import JobConfig
from synth.ingest.stage import ingest_source
from synth.io.delta import Lakehouse


def run(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> CleanReport:
    """Run the stage: rebuild silver and quarantine from the job's source's bronze table."""
    return clean(
        spark,
        ingest_source(cfg.source, lakehouse),
        cfg.clean,
        lakehouse,
        event_types=cfg.features.interactions.event_types(),
    )
