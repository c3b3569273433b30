"""Stage ``simulate``: the embedded default source's CSV files, written to the landing folder.

The landing folder is ``source.landing`` or ``<lakehouse>/landing/<name>``
(:meth:`synth.io.delta.Lakehouse.landing_dir`); a marker file there records the simulator
settings, so a folder already holding these settings is reused, not written again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession

from synth.config.job import JobConfig, SimulatorSource
from synth.errors import InputError
from synth.io import files
from synth.io.delta import Lakehouse, write_json
from synth.simulate.simulator import simulate_events
from synth.simulate.writer import write_event_csv
from synth.stages import StageReport

log = logging.getLogger(__name__)

SIM_MARKER = "_synth_simulator.json"


@dataclass
class SimulateReport(StageReport):
    """Where the simulated files are, and whether an earlier run's files were reused."""

    landing: str
    settings_hash: str
    reused: bool


def simulate_to_landing(
    spark: SparkSession, source: SimulatorSource, lakehouse: Lakehouse
) -> SimulateReport:
    """Write the simulated CSV files, unless the landing folder already holds these settings."""
    target = lakehouse.landing_dir(source)
    marker = files.join(target, SIM_MARKER)
    settings = source.settings_hash()
    recorded = _recorded_settings(marker)
    if recorded == settings:
        log.info("simulate: %s already holds these settings (%s); reusing it", target, settings)
        return SimulateReport(landing=target, settings_hash=settings, reused=True)
    ours = recorded is not None or source.landing is None  # default folders belong to the job
    if not ours and files.list_names(target):
        raise InputError(
            f"landing folder {target} is not empty and was not written by the simulator; "
            "pick an empty `source.landing` folder or remove that setting"
        )
    compression = None if source.compression == "none" else source.compression
    log.info("simulate: ~%s events -> %s", f"{source.simulator.events:,}", target)
    write_event_csv(simulate_events(spark, source.simulator), target, compression=compression)
    write_json(
        marker,
        {"settings_hash": settings, "simulator": source.simulator.model_dump(mode="json")},
    )
    return SimulateReport(landing=target, settings_hash=settings, reused=False)


def _recorded_settings(marker: str) -> str | None:
    """The settings hash in the landing folder's marker; None when there is no marker."""
    try:
        return str(files.read_json(marker).get("settings_hash"))
    except FileNotFoundError:
        return None


def run(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> SimulateReport:
    """Run the stage: the job's simulator source into its landing folder.

    Raises:
        InputError: The job's source is not the simulator (the pipeline passes over this stage
            then).
    """
    if not isinstance(cfg.source, SimulatorSource):
        raise InputError(
            f"the simulate stage needs `source.kind: simulator`; this job reads {cfg.source.kind!r}"
        )
    return simulate_to_landing(spark, cfg.source, lakehouse)
