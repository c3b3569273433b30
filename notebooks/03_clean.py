# Databricks notebook source
# MAGIC %md
# MAGIC # Stage `clean`
# MAGIC Clean bronze into silver (typed events, per-user temporal split) and the quarantine table.
# MAGIC Same as `synth clean --config <yaml>` or `spark-submit jobs/clean.py`.

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

summary = run_stages(params, ("clean",))
print(summary.stages["clean"])
