"""What the Databricks-source notebooks (``notebooks/``) call: parameters and one stage run.

A notebook's first cell reads its parameters with :func:`parameters`: as widgets when the
notebook runs on Databricks (``dbutils`` exists; the widgets are created with the defaults), as
the defaults elsewhere, each overridable by an environment variable ``SYNTH_NB_<NAME>`` (how the
tests and a plain ``python notebooks/<n>.py`` run point them at another config). Then it calls
:func:`run_stages`, which uses the notebook's active session when there is one (Databricks, or
a test's) and builds one from the config's Spark profile otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pyspark.sql import SparkSession

from synth.config.job import load_job_config
from synth.pipeline import RunSummary, run
from synth.spark import build_session
from synth.stages import STAGES


def parameters(dbutils: Any, defaults: Mapping[str, str]) -> dict[str, str]:
    """The notebook's parameters: widgets on Databricks, else defaults / ``SYNTH_NB_<NAME>``."""
    if dbutils is not None:
        for name, value in defaults.items():
            dbutils.widgets.text(name, value)
        return {name: str(dbutils.widgets.get(name)) for name in defaults}
    return {
        name: os.environ.get(f"SYNTH_NB_{name.upper()}", value) for name, value in defaults.items()
    }


def run_stages(params: Mapping[str, str], stages: tuple[str, ...] | None = None) -> RunSummary:
    """Run ``stages`` (default: ``from_stage`` .. ``to_stage`` of ``params``) of the config.

    ``params``: ``config`` (a YAML path), optional ``lakehouse`` (overrides the config's when not
    empty), ``from_stage`` / ``to_stage``.
    """
    overrides: dict[str, object] = {}
    if params.get("lakehouse"):
        overrides["lakehouse"] = params["lakehouse"]
    cfg = load_job_config(params["config"], overrides=overrides)
    if stages is None:
        lo = STAGES.index(params.get("from_stage") or STAGES[0])
        hi = STAGES.index(params.get("to_stage") or STAGES[-1])
        stages = STAGES[lo : hi + 1]
    spark = SparkSession.getActiveSession() or build_session(
        cfg.spark_profile, app_name="synth-notebook"
    )
    return run(spark, cfg, stages=stages, progress=print)
