"""The Airflow DAG, run: `airflow dags test` in the infra environment, every task a real
spark-submit of jobs/<stage>.py to local[2], on a small simulated job.

A failure is injected in `train` (its driver exits 137 right after the first checkpoint). The run
fails there, its upstream stages done and its downstream ones not run; the failed task is then
cleared and the DAG run again from it (the stages before it marked done, as a scheduler leaves
them), and it ends with the report, without re-running the stages before `train`.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from synth.stages import STAGES
from synth.train.loop import STOP_AFTER_ENV
from tests.factories import SMALL_PIPELINE_JOB
from tests.jobs.submit import submit_env

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
INFRA_BIN = ROOT / ".cache" / "venv-infra" / "bin"
LOGICAL_DATE = "2026-12-05"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An Airflow home with its database, the synth wheel, the job config: the environment."""
    if not (INFRA_BIN / "airflow").exists():
        pytest.skip(f"{INFRA_BIN / 'airflow'} is absent: run bin/bootstrap (bin/test does)")
    folder = tmp_path_factory.mktemp("airflow")
    built = subprocess.run(
        [str(ROOT / "bin" / "package"), "--out", str(folder / "dist")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (folder / "dist").glob("synth-*.whl")
    config = folder / "job.yaml"
    config.write_text(SMALL_PIPELINE_JOB.format(lakehouse=folder / "lakehouse"), encoding="utf-8")
    # a user's shell for spark-submit (the tests' JVM options kept), without Airflow settings
    env = {k: v for k, v in submit_env().items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(folder / "home"),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "infra" / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        # the DAG's Spark connection: local mode on this machine
        AIRFLOW_CONN_SYNTH_SPARK='{"conn_type": "spark", "host": "local[2]"}',
        SYNTH_HOME=str(ROOT),
        SYNTH_CONFIG=str(config),
        SYNTH_WHEEL=str(wheel),
        SYNTH_TASK_RETRIES="0",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # spark-submit
        SPARK_LOCAL_IP="127.0.0.1",
    )
    migrated = _airflow(env, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return {**env, "LAKEHOUSE": str(folder / "lakehouse")}


def _airflow(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INFRA_BIN / "airflow"), *args],
        cwd=Path(env["AIRFLOW_HOME"]).parent,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )


def _states(env: dict[str, str]) -> dict[str, str | None]:
    """The state of each task of the DAG's last run, from Airflow's database."""
    with sqlite3.connect(Path(env["AIRFLOW_HOME"]) / "airflow.db") as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = 'synth_pipeline' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        rows = db.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = 'synth_pipeline' "
            "AND run_id = ?",
            (run_id,),
        ).fetchall()
    return dict(rows)


def _commits(table: Path) -> int:
    return len(list((table / "_delta_log").glob("*.json")))


@pytest.mark.timeout(2400)
def test_the_dag_runs_fails_in_train_and_resumes_there_after_a_clear(airflow):
    lakehouse = Path(airflow["LAKEHOUSE"])
    # Run: the DAG with a failure injected in train
    failed = _airflow(
        airflow, "dags", "test", "synth_pipeline", LOGICAL_DATE, **{STOP_AFTER_ENV: "1"}
    )
    assert failed.returncode != 0, failed.stdout[-3000:]
    states = _states(airflow)
    before, after = STAGES[: STAGES.index("train")], STAGES[STAGES.index("train") + 1 :]
    assert {s: states[s] for s in before} == dict.fromkeys(before, "success"), states
    assert states["train"] == "failed", states
    assert {states[s] for s in after} == {"upstream_failed"}, states
    silver = _commits(lakehouse / "silver" / "events")
    assert (lakehouse / "_models" / "user_profiles").is_dir()  # train got to its checkpoint
    # Run: the failed task cleared (with what follows it), then the DAG again from there; the
    # stages before it stay done (marked success, as the scheduler keeps them after a clear)
    cleared = _airflow(
        airflow,
        "tasks",
        "clear",
        "synth_pipeline",
        "--task-regex",
        "^train$",
        "--downstream",
        "--yes",
        "--start-date",
        LOGICAL_DATE,
        "--end-date",
        LOGICAL_DATE,
    )
    assert cleared.returncode == 0, cleared.stderr[-3000:]
    done = "^(" + "|".join(before) + ")$"
    resumed = _airflow(
        airflow, "dags", "test", "synth_pipeline", LOGICAL_DATE, "--mark-success-pattern", done
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    # Assert: every task succeeded, the stages before train did not run again, the report is there
    assert set(_states(airflow).values()) == {"success"}
    assert _commits(lakehouse / "silver" / "events") == silver
    reports = sorted((lakehouse / "_reports").glob("*/report.html"))
    assert reports, sorted(p.name for p in (lakehouse / "_reports").iterdir())
    assert (reports[0].parent / "metrics.json").is_file()
    output = resumed.stdout + resumed.stderr
    assert "spark-submit" in output
    # each stage's driver imported synth from the wheel the DAG shipped, not from the checkout
    assert f"synth 0.1.0 from {airflow['SYNTH_WHEEL']}/synth" in output, output[-3000:]
