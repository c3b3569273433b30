# Databricks notebook source
# MAGIC %md
# MAGIC # Stage `fuse`
# MAGIC Draw behaviour events and write the fused real + synthetic profile tables.
# MAGIC Same as `synth fuse --config <yaml>` or `spark-submit jobs/fuse.py`.

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

summary = run_stages(params, ("fuse",))
print(summary.stages["fuse"])
