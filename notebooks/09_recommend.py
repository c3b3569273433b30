# Databricks notebook source
# MAGIC %md
# MAGIC # Stage `recommend`
# MAGIC Train recommenders on real, fused and synthetic data; score them on held-out real events.
# MAGIC Same as `synth recommend --config <yaml>` or `spark-submit jobs/recommend.py`.

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

summary = run_stages(params, ("recommend",))
print(summary.stages["recommend"])
