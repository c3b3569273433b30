# Databricks notebook source
# MAGIC %md
# MAGIC # Stage `train`
# MAGIC Train the generator (VAE / GAN; local, Horovod or TorchDistributor backend).
# MAGIC Same as `synth train --config <yaml>` or `spark-submit jobs/train.py`.

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

summary = run_stages(params, ("train",))
print(summary.stages["train"])
