"""Stage ``ingest``: the job's new source files appended to bronze (:mod:`synth.ingest.bronze`).

A simulator source is read from its landing folder as the REES46 multi-category format it writes
(:func:`ingest_source`); every other source is read as configured.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from synth.config.ingest import Rees46MultiCategorySource, SourceConfig
from synth.config.job import JobConfig, SimulatorSource
from synth.ingest.bronze import IngestReport, ingest
from synth.io.delta import Lakehouse


def ingest_source(source: SimulatorSource | SourceConfig, lakehouse: Lakehouse) -> SourceConfig:
    """Return the source config ingestion reads (the simulator's files read as REES46)."""
    if isinstance(source, SimulatorSource):
        return Rees46MultiCategorySource(
            name=source.resolved_name(), paths=[lakehouse.landing_dir(source)]
        )
    return source


def run(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> IngestReport:
    """Run the stage: append the source's new files to its bronze table."""
    return ingest(spark, ingest_source(cfg.source, lakehouse), lakehouse)
