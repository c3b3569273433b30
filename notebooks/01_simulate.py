# Databricks notebook source
# MAGIC %md
# MAGIC # Stage `simulate`
# MAGIC Simulate REES46-format events (the embedded default source) into the landing folder.
# MAGIC Same as `synth simulate --config <yaml>` or `spark-submit jobs/simulate.py`.

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

summary = run_stages(params, ("simulate",))
print(summary.stages["simulate"])
