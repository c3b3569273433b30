"""Fixtures of the integration tests: small simulated lakehouses with gold tables, built once."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable

import pytest

from synth.config.job import JobConfig
from synth.pipeline import run
from tests.once import exclusive, shared_temp

UP_TO_GOLD = ("simulate", "ingest", "clean", "features")


@pytest.fixture(scope="session")
def gold_lakehouse(
    spark: object, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[JobConfig], JobConfig]:
    """Fill a job's lakehouse with what simulate -> features make of its config; return the job.

    Modules that ask for the same source, cleaning and features get copies of one lakehouse,
    built the first time by whichever test worker asks first (the others wait for it; Delta
    tables keep relative paths, so a copy is a lakehouse of its own). The job's lakehouse folder
    must not exist yet.
    """
    shared = shared_temp(tmp_path_factory)

    def fill(cfg: JobConfig) -> JobConfig:
        key = json.dumps(cfg.model_dump(mode="json", include={"source", "clean", "features"}))
        built = shared / f"gold-{hashlib.sha256(key.encode()).hexdigest()[:16]}"
        with exclusive(built.with_suffix(".lock")):
            if not (built / "done").is_file():
                shutil.rmtree(built, ignore_errors=True)  # a build that failed part-way
                root = built / "lake"
                run(spark, cfg.model_copy(update={"lakehouse": str(root)}), stages=UP_TO_GOLD)  # type: ignore[arg-type]
                (built / "done").write_text(key, encoding="utf-8")
        shutil.copytree(built / "lake", cfg.lakehouse)
        return cfg

    return fill
