"""Stage ``report``: the run's ``metrics.json`` and ``report.html`` (``_reports/<run id>/``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pyspark.sql import SparkSession

from synth.config.job import JobConfig
from synth.errors import InvalidDataError
from synth.io import files
from synth.io.delta import Lakehouse, finite_json, json_text, write_text
from synth.refs import resolve_model, resolve_run_id
from synth.report.html import render, stray_numbers
from synth.report.metrics import assemble
from synth.stages import StageReport


@dataclass
class PublishReport(StageReport):
    """Where the report went, and its verdict."""

    run_id: str
    metrics_json: str
    report_html: str
    headline: str
    targets_met: int
    targets_total: int

    def summary(self) -> str:
        """The verdict and the paths."""
        return (
            f"{self.headline}\ntargets met: {self.targets_met} of {self.targets_total}\n"
            f"-> {self.report_html}\n-> {self.metrics_json}"
        )


def run(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> PublishReport:
    """Assemble ``metrics.json`` from the run's stage outputs and render ``report.html``.

    The page is checked (every number it shows is in ``metrics.json``) before either file is
    written; then both are published, each replaced atomically.
    """
    ref = resolve_model(spark, lakehouse, cfg)
    run = resolve_run_id(cfg, ref)
    metrics = finite_json(assemble(lakehouse, run, ref.model_dir))
    assert isinstance(metrics, dict)
    folder = lakehouse.run_dir(run)
    # rendered from the JSON text as it will be written (what a reader of metrics.json sees)
    text_json = json_text(metrics)
    written = json.loads(text_json)
    page = files.join(folder, "report.html")
    text = render(written)
    stray = stray_numbers(text, written)
    if stray:  # a rendering bug: never publish a number that metrics.json does not hold
        raise InvalidDataError(
            f"report.html would show numbers not in metrics.json: {stray[:10]}; nothing was "
            f"written to {folder} (an earlier report there is left as it was)"
        )
    # published together, after the check: each file replaced atomically, one right after
    # the other (only a crash between the two renames leaves the new page beside the old JSON)
    write_text(page, text)
    write_text(lakehouse.run_file(run, "metrics.json"), text_json)
    return PublishReport(
        run_id=run,
        metrics_json=lakehouse.run_file(run, "metrics.json"),
        report_html=page,
        headline=written["verdict"]["headline"],
        targets_met=int(written["targets_met"]),
        targets_total=int(written["targets_total"]),
    )
