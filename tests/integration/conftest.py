"""Fixtures of the integration tests: small simulated lakehouses with gold tables, built once."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from synth.config.job import JobConfig
from synth.pipeline import run

UP_TO_GOLD = ("simulate", "ingest", "clean", "features")


@pytest.fixture(scope="session")
def gold_lakehouse(
    spark: object, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[JobConfig], JobConfig]:
    """Fill a job's lakehouse with what simulate -> features make of its config; return the job.

    Modules that ask for the same source, cleaning and features get copies of one lakehouse,
    built the first time (Delta tables keep relative paths, so a copy is a lakehouse of its own).
    The job's lakehouse folder must not exist yet.
    """
    built: dict[str, Path] = {}

    def fill(cfg: JobConfig) -> JobConfig:
        key = json.dumps(cfg.model_dump(mode="json", include={"source", "clean", "features"}))
        if key not in built:
            root = tmp_path_factory.mktemp("gold") / "lake"
            run(spark, cfg.model_copy(update={"lakehouse": str(root)}), stages=UP_TO_GOLD)  # type: ignore[arg-type]
            built[key] = root
        shutil.copytree(built[key], cfg.lakehouse)
        return cfg

    return fill
