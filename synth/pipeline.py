"""The pipeline's stages, from simulate / ingest to the report (:data:`STAGES`).

The simulator is the embedded default source; ingestion writes bronze, cleaning silver, and
featurization the gold profile and interaction tables, and training a generator of one gold
table into the model store (``<lakehouse>/_models``). Synthesis samples it at Spark scale,
filtering flags rows for validity, realism and privacy, and fusion writes behaviour events and
the fused real + synthetic profile tables (:mod:`synth.generate.stage`). The verdict stages
train recommenders on real, fused and synthetic data and score them on held-out real events
(:mod:`synth.recommend.stage`), measure fidelity, utility and privacy
(:mod:`synth.evaluate.stage`), and write ``metrics.json`` and ``report.html``
(:mod:`synth.report.stage`).

Each stage is a function of ``(spark, config, lakehouse)``; :func:`run` chains them with progress
logging and returns a summary that the CLI prints and writes as JSON.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession

from synth.clean.pipeline import CleanReport, clean
from synth.config.ingest import Rees46MultiCategorySource, SourceConfig
from synth.config.job import JobConfig, SimulatorSource
from synth.errors import InputError
from synth.features.pipeline import build_features
from synth.ingest.bronze import IngestReport, ingest
from synth.io.delta import Lakehouse, write_json

log = logging.getLogger(__name__)

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
_SIM_MARKER = "_synth_simulator.json"


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


def landing_dir(source: SimulatorSource, lakehouse: Lakehouse) -> str:
    """Where the simulator's CSV files go."""
    return source.landing or f"{lakehouse.root.rstrip('/')}/landing/{source.resolved_name()}"


def simulate_to_landing(
    spark: SparkSession, source: SimulatorSource, lakehouse: Lakehouse
) -> dict[str, object]:
    """Write the simulated CSV files, unless the landing folder already holds these settings."""
    from synth.simulate import simulate_events, write_event_csv

    target = landing_dir(source, lakehouse)
    marker = Path(target.removeprefix("file:")) / _SIM_MARKER
    settings = source.settings_hash()
    if marker.is_file() and json.loads(marker.read_text()).get("settings_hash") == settings:
        log.info("simulate: %s already holds these settings (%s); reusing it", target, settings)
        return {"landing": target, "settings_hash": settings, "reused": True}
    ours = marker.is_file() or source.landing is None  # default folders belong to the job
    if not ours and marker.parent.exists() and any(marker.parent.iterdir()):
        raise InputError(
            f"landing folder {target} is not empty and was not written by the simulator; "
            "pick an empty `source.landing` folder or remove that setting"
        )
    compression = None if source.compression == "none" else source.compression
    log.info("simulate: ~%s events -> %s", f"{source.simulator.events:,}", target)
    write_event_csv(simulate_events(spark, source.simulator), target, compression=compression)
    write_json(
        str(marker),
        {"settings_hash": settings, "simulator": source.simulator.model_dump(mode="json")},
    )
    return {"landing": target, "settings_hash": settings, "reused": False}


def ingest_source(source: SimulatorSource | SourceConfig, lakehouse: Lakehouse) -> SourceConfig:
    """Return the source config ingestion reads (the simulator's files read as REES46)."""
    if isinstance(source, SimulatorSource):
        return Rees46MultiCategorySource(
            name=source.resolved_name(), paths=[landing_dir(source, lakehouse)]
        )
    return source


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
        stages: The stages to run (a subsequence of :data:`STAGES`).
        progress: Called with one line per stage start / end (the CLI prints them).
    """
    say = progress or log.info
    lakehouse = Lakehouse(cfg.lakehouse)
    lakehouse.check_writable()
    source = ingest_source(cfg.source, lakehouse)
    summary = RunSummary(lakehouse=lakehouse.root, source=source.name or source.kind)
    for stage in STAGES:
        if stage not in stages:
            continue
        if stage == "simulate" and not isinstance(cfg.source, SimulatorSource):
            continue
        if stage == "recommend" and not cfg.recommend.enabled:
            say("[recommend] skipped (recommend.enabled is false)")
            continue
        say(f"[{stage}] started")
        start = time.perf_counter()
        result: dict[str, object]
        if stage == "simulate":
            assert isinstance(cfg.source, SimulatorSource)
            result = simulate_to_landing(spark, cfg.source, lakehouse)
        elif stage == "ingest":
            report: IngestReport = ingest(spark, source, lakehouse)
            result = report.to_dict()
        elif stage == "clean":
            creport: CleanReport = clean(
                spark,
                source,
                cfg.clean,
                lakehouse,
                event_types=cfg.features.interactions.event_types(),
            )
            result = creport.to_dict()
            for line in creport.summary().splitlines():
                say(f"[clean] {line}")
        elif stage == "features":
            freport = build_features(spark, lakehouse, cfg.features)
            result = freport.to_dict()
            for line in freport.summary().splitlines():
                say(f"[features] {line}")
        elif stage == "train":
            from synth.train.stage import train

            treport = train(spark, lakehouse, cfg.train)
            result = treport.to_dict()
            for line in treport.summary().splitlines():
                say(f"[train] {line}")
        else:
            from synth.evaluate.stage import evaluate
            from synth.generate.stage import GENERATE_STAGES, StageReport
            from synth.recommend.stage import recommend
            from synth.report.stage import report as write_report

            later: dict[str, Callable[[SparkSession, Lakehouse, JobConfig], StageReport]] = {
                **GENERATE_STAGES, "recommend": recommend, "evaluate": evaluate,
                "report": write_report,
            }  # fmt: skip
            greport = later[stage](spark, lakehouse, cfg)
            result = greport.to_dict()
            for line in greport.summary().splitlines():
                say(f"[{stage}] {line}")
        summary.seconds[stage] = round(time.perf_counter() - start, 2)
        summary.stages[stage] = result
        say(f"[{stage}] done in {summary.seconds[stage]:.1f}s")
    write_json(f"{lakehouse.reports_dir()}/run_summary.json", summary.to_dict())
    return summary
