# Databricks notebook source
# MAGIC %md
# MAGIC # Stage `filter`
# MAGIC Flag synthetic rows for validity, realism and privacy.
# MAGIC Same as `synth filter --config <yaml>` or `spark-submit jobs/filter.py`.

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

summary = run_stages(params, ("filter",))
print(summary.stages["filter"])
