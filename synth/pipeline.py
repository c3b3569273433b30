"""The pipeline's stages, from simulate / ingest to the report (:data:`~synth.stages.STAGES`).

The simulator is the embedded default source; ingestion writes bronze, cleaning silver, and
featurization the gold profile and interaction tables, and training a generator of one gold
table into the model store (``<lakehouse>/_models``). Synthesis samples it at Spark scale,
filtering flags rows for validity, realism and privacy, and fusion writes behaviour events and
the fused real + synthetic profile tables (:mod:`synth.generate.stage`). The verdict stages
train recommenders on real, fused and synthetic data and score them on held-out real events
(:mod:`synth.recommend.stage`), measure fidelity, utility and privacy
(:mod:`synth.evaluate.stage`), and write ``metrics.json`` and ``report.html``
(:mod:`synth.report.stage`).

Each stage is a :data:`~synth.stages.StageRun` (``stage.run(spark, lakehouse, cfg)`` of its
package) registered in :data:`REGISTRY` with when it applies and when it is skipped, by module
path: a stage's modules are imported when it runs. :func:`run` chains them with progress logging
and returns a summary that the CLI prints and writes as JSON.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from pyspark.sql import SparkSession

from synth.config.job import JobConfig, SimulatorSource
from synth.ingest import stage as ingest_stage
from synth.io.delta import Lakehouse, connect_store, single_driver_log_store, write_json
from synth.io.lock import SINGLE_DRIVER_NOTE, RunLock
from synth.stages import STAGES, StageRun

log = logging.getLogger(__name__)

RUN_SUMMARY = "run_summary.json"


@dataclass
class RunSummary:
    """What a run did, stage by stage."""

    lakehouse: str
    source: str
    stages: dict[str, dict[str, object]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {
            "lakehouse": self.lakehouse,
            "source": self.source,
            "stages": self.stages,
            "seconds": self.seconds,
        }

    def path(self) -> str:
        """Where the run writes this summary (``<lakehouse>/_reports/run_summary.json``)."""
        return Lakehouse(self.lakehouse).report_file(RUN_SUMMARY)


def _always(cfg: JobConfig) -> bool:
    return True


def _never(cfg: JobConfig) -> str | None:
    return None


def _simulator_source(cfg: JobConfig) -> bool:
    return isinstance(cfg.source, SimulatorSource)


def _recommend_disabled(cfg: JobConfig) -> str | None:
    return None if cfg.recommend.enabled else "recommend.enabled is false"


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: its entry point, whether it belongs to a job, and why it is skipped.

    A stage that does not ``apply`` to a job (``simulate`` for a source that is not the
    simulator) is passed over silently; one whose ``skip`` gives a reason is announced as
    ``[<stage>] skipped (<reason>)``.
    """

    entry: StageRun | str
    applies: Callable[[JobConfig], bool] = _always
    skip: Callable[[JobConfig], str | None] = _never

    @property
    def run(self) -> StageRun:
        """The entry point; a ``"module:function"`` entry is imported when first asked for.

        So a process that runs one stage (each spark-submit job of ``jobs/``, the CLI's
        stage commands) imports only that stage's modules: torch, Spark ML and the models load
        in the stages that use them, not in ``simulate``, ``ingest``, ``clean`` or ``report``.
        """
        if not isinstance(self.entry, str):
            return self.entry
        module, _, name = self.entry.partition(":")
        return cast(StageRun, getattr(importlib.import_module(module), name))


REGISTRY: dict[str, Stage] = {
    "simulate": Stage("synth.simulate.stage:run", applies=_simulator_source),
    "ingest": Stage(ingest_stage.run),
    "clean": Stage("synth.clean.stage:run"),
    "features": Stage("synth.features.stage:run"),
    "train": Stage("synth.train.stage:run"),
    "synthesize": Stage("synth.generate.stage:run_synthesize"),
    "filter": Stage("synth.generate.stage:run_filter"),
    "fuse": Stage("synth.generate.stage:run_fuse"),
    "recommend": Stage("synth.recommend.stage:run", skip=_recommend_disabled),
    "evaluate": Stage("synth.evaluate.stage:run"),
    "report": Stage("synth.report.stage:run"),
}
"""Every stage of :data:`~synth.stages.STAGES` by name."""


def run(
    spark: SparkSession,
    cfg: JobConfig,
    *,
    stages: tuple[str, ...] = STAGES,
    progress: Callable[[str], None] | None = None,
) -> RunSummary:
    """Run the selected stages in order and return their summary.

    Args:
        spark: The session.
        cfg: The validated job config.
        stages: The stages to run (a subsequence of :data:`~synth.stages.STAGES`).
        progress: Called with one line per stage start / end (the CLI prints them).
    """
    say = progress or log.info
    lakehouse = Lakehouse(cfg.lakehouse)
    lakehouse.check_writable()
    connect_store(spark, lakehouse)  # a store that cannot be used fails here, cause named
    chosen = [s for s in STAGES if s in stages]
    what = f"synth run ({chosen[0]} to {chosen[-1]})" if chosen else "synth run"
    note = SINGLE_DRIVER_NOTE if single_driver_log_store(spark, lakehouse.root) else ""
    # one run at a time per lakehouse (synth.io.lock)
    with RunLock(lakehouse, command=what, note=note):
        source = ingest_stage.ingest_source(cfg.source, lakehouse)
        summary = RunSummary(lakehouse=lakehouse.root, source=source.name or source.kind)
        _run_stages(spark, cfg, lakehouse, stages, summary, say)
    return summary


def _run_stages(
    spark: SparkSession,
    cfg: JobConfig,
    lakehouse: Lakehouse,
    stages: tuple[str, ...],
    summary: RunSummary,
    say: Callable[[str], None],
) -> None:
    for name in STAGES:
        stage = REGISTRY[name]
        if name not in stages or not stage.applies(cfg):
            continue
        reason = stage.skip(cfg)
        if reason is not None:
            say(f"[{name}] skipped ({reason})")
            continue
        say(f"[{name}] started")
        start = time.perf_counter()
        report = stage.run(spark, lakehouse, cfg)
        for line in report.summary().splitlines():
            say(f"[{name}] {line}")
        summary.seconds[name] = round(time.perf_counter() - start, 2)
        summary.stages[name] = report.to_dict()
        say(f"[{name}] done in {summary.seconds[name]:.1f}s")
    write_json(summary.path(), summary.to_dict())
