"""Airflow DAG ``synth_pipeline``: one spark-submit job per pipeline stage, chained in order.

Each task runs ``spark-submit jobs/<stage>.py --config <config>`` through the Spark provider's
SparkSubmitOperator (apache-airflow-providers-apache-spark), with synth shipped as the wheel
``bin/package`` builds (``--py-files``) and the cached Delta jars (``--jars``). A failed stage
stops the chain; re-running it from the failed task resumes the pipeline there (every stage
reads the Delta tables its predecessor wrote).

Set up, on the Airflow workers:

- a checkout of this repository (or the container image's /opt/synth) with ``bin/bootstrap`` run
  and ``bin/package`` built: ``SYNTH_HOME`` (environment, default /opt/synth) points at it;
- an Airflow connection ``synth_spark`` of type Spark whose host is the master
  (``yarn``, ``spark://host:7077`` or ``k8s://https://...``) and whose extra sets the deploy mode;
- the config the jobs run, ``SYNTH_CONFIG`` (default configs/cluster.yaml under SYNTH_HOME),
  whose lakehouse every node can reach;
- optionally ``SYNTH_WHEEL`` (default ``$SYNTH_HOME/dist/synth-<version>-py3-none-any.whl``) and
  ``SYNTH_TASK_RETRIES`` (default 1, 5 minutes apart).

Written for Airflow 3 (``airflow.sdk``). ``tests/infra`` loads this file with the locked Airflow
(``.cache/venv-infra``) and checks the tasks against ``synth.stages.STAGES`` and the
repository's jobs/ and configs/.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, chain

# synth.stages.STAGES (the Airflow environment does not import synth; tests/infra compares them)
STAGES = (
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
VERSION = "0.1.0"  # synth's version: the wheel's name

SYNTH_HOME = os.environ.get("SYNTH_HOME", "/opt/synth")
CONFIG = os.environ.get("SYNTH_CONFIG", f"{SYNTH_HOME}/configs/cluster.yaml")
WHEEL = os.environ.get("SYNTH_WHEEL", f"{SYNTH_HOME}/dist/synth-{VERSION}-py3-none-any.whl")
RETRIES = int(os.environ.get("SYNTH_TASK_RETRIES", "1"))  # a failed stage is retried once
DELTA_JARS = ",".join(
    f"{SYNTH_HOME}/.cache/jars/{name}-4.0.1.jar" for name in ("delta-spark_2.13", "delta-storage")
)
PYTHON = f"{SYNTH_HOME}/.venv/bin/python"

# Executor sizing per stage; `train` runs horovod.spark.run with 2 processes (2 task slots).
EXECUTORS = {
    "features": {"num_executors": 3, "executor_cores": 2, "executor_memory": "8g"},
    "train": {"num_executors": 2, "executor_cores": 1, "executor_memory": "8g"},
    "synthesize": {"num_executors": 3, "executor_cores": 2, "executor_memory": "8g"},
    "recommend": {"num_executors": 2, "executor_cores": 2, "executor_memory": "10g"},
}
DEFAULT_EXECUTOR = {"num_executors": 2, "executor_cores": 2, "executor_memory": "6g"}

with DAG(
    dag_id="synth_pipeline",
    description="synth: simulate / ingest -> ... -> report, one spark-submit job per stage",
    schedule=None,  # triggered (a new dataset, a new config); set a cron to run it regularly
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # the stages of two runs would write the same Delta tables
    default_args={"retries": RETRIES, "retry_delay": timedelta(minutes=5), "owner": "synth"},
    tags=["synth", "spark"],
) as dag:
    tasks = [
        SparkSubmitOperator(
            task_id=stage,
            conn_id="synth_spark",
            application=f"{SYNTH_HOME}/jobs/{stage}.py",
            application_args=["--config", CONFIG],
            name=f"synth-{stage}",
            py_files=WHEEL,
            jars=DELTA_JARS,
            driver_memory="4g",
            env_vars={
                "PYSPARK_PYTHON": PYTHON,
                "PYSPARK_DRIVER_PYTHON": PYTHON,
                # the jobs' Spark profiles (the driver runs in the Airflow worker's folder)
                "SYNTH_SPARK_CONF_DIR": f"{SYNTH_HOME}/spark_conf",
            },
            conf={"spark.sql.session.timeZone": "UTC"},
            execution_timeout=timedelta(hours=4 if stage == "train" else 2),
            **EXECUTORS.get(stage, DEFAULT_EXECUTOR),
        )
        for stage in STAGES
    ]
    chain(*tasks)
