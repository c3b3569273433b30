# Databricks notebook source
# MAGIC %md
# MAGIC # Stage `evaluate`
# MAGIC Fidelity, train-on-synthetic utility and privacy of the released synthetic rows.
# MAGIC Same as `synth evaluate --config <yaml>` or `spark-submit jobs/evaluate.py`.

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

summary = run_stages(params, ("evaluate",))
print(summary.stages["evaluate"])
