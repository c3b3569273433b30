# Databricks notebook source
# MAGIC %md
# MAGIC # Stage `ingest`
# MAGIC Ingest the source's raw files into the bronze Delta table (idempotent per file).
# MAGIC Same as `synth ingest --config <yaml>` or `spark-submit jobs/ingest.py`.

# COMMAND ----------

# Parameters: widgets on Databricks, defaults (or SYNTH_NB_<NAME> variables) elsewhere.
from synth.notebook import parameters

try:
    dbutils  # type: ignore[used-before-def]  # noqa: B018, F821 (defined on Databricks)
except NameError:
    dbutils = None
params = parameters(dbutils, {"config": "configs/simulator.yaml", "lakehouse": ""})

# COMMAND ----------

from synth.notebook import run_stages

summary = run_stages(params, ("ingest",))
print(summary.stages["ingest"])
