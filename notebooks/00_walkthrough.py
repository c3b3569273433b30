# Databricks notebook source
# MAGIC %md
# MAGIC # Walkthrough: from raw events to the verdict
# MAGIC Runs the pipeline stage by stage (`from_stage` .. `to_stage`), then shows where the tables
# MAGIC are and the run's verdict. Each stage also has its own notebook (`01_simulate` ..
# MAGIC `11_report`).

# COMMAND ----------

# Parameters: widgets on Databricks, defaults (or SYNTH_NB_<NAME> variables) elsewhere.
from synth.notebook import parameters

try:
    dbutils  # type: ignore[used-before-def]  # noqa: B018, F821 (defined on Databricks)
except NameError:
    dbutils = None
params = parameters(
    dbutils,
    {
        "config": "configs/simulator.yaml",
        "lakehouse": "",
        "from_stage": "simulate",
        "to_stage": "report",
        "inspect_path": "tests/data/generic_events.csv",
    },
)

# COMMAND ----------

from synth.notebook import run_stages

summary = run_stages(params)
print(summary.seconds)

# COMMAND ----------

# MAGIC %md
# MAGIC ## The verdict
# MAGIC `report.html` is one self-contained file: open it in a browser (or `displayHTML` it).

# COMMAND ----------

report = summary.stages.get("report", {})
if report:
    print(report["headline"])
    print("report:", report["report_html"])
    print("metrics:", report["metrics_json"])

# COMMAND ----------

# Your own event log: `synth inspect <path>` reads a sample of it (a file, folder or glob) and
# proposes a commented `generic` source config to start a job config from. Skipped when
# `inspect_path` is empty.
from synth.inspect import inspect_source

if params["inspect_path"]:
    proposal = inspect_source(params["inspect_path"])
    print(proposal.to_yaml())
