# Databricks notebook source
# MAGIC %md
# MAGIC # Stage `report`
# MAGIC Write metrics.json and the self-contained report.html of the run.
# MAGIC Same as `synth report --config <yaml>` or `spark-submit jobs/report.py`.

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

summary = run_stages(params, ("report",))
print(summary.stages["report"])
