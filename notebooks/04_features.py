# Databricks notebook source
# MAGIC %md
# MAGIC # Stage `features`
# MAGIC Build the gold user profiles, item profiles (text embeddings) and interactions.
# MAGIC Same as `synth features --config <yaml>` or `spark-submit jobs/features.py`.

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

summary = run_stages(params, ("features",))
print(summary.stages["features"])
