"""What every pipeline stage shares: the stage names, the report base class, the entry type.

Each stage package exposes ``stage.run(spark, lakehouse, cfg)`` (a :data:`StageRun`) returning a
:class:`StageReport`: the pipeline (:mod:`synth.pipeline`) records its :meth:`~StageReport.to_dict`
in ``run_summary.json`` and prints its :meth:`~StageReport.summary` lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pyspark.sql import SparkSession

from synth.config.job import JobConfig
from synth.io.delta import Lakehouse

STAGES: tuple[str, ...] = (
    "simulate",
    "ingest",
    "clean",
    "features",
    "train",
    "synthesize",
    "filter",
    "fuse",
    "recommend",
    "evaluate",
    "report",
)
"""The pipeline's stages, in the order they run."""


@dataclass
class StageReport:
    """What one stage did; every stage's report is a dataclass deriving from this one."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the report's fields."""
        return asdict(self)

    def summary(self) -> str:
        """Human-readable lines for the progress log (none by default)."""
        return ""


StageRun = Callable[[SparkSession, Lakehouse, JobConfig], StageReport]
"""A stage's entry point: ``run(spark, lakehouse, cfg)``."""
