"""Numeric building blocks shared by the stages (a leaf: numpy, pandas, scipy, torch, pyspark).

* :mod:`~synth.stats.auc`: ROC AUC from the rank statistic.
* :mod:`~synth.stats.logistic`: an L2-regularised logistic regression (torch L-BFGS).
* :mod:`~synth.stats.distance`: nearest-row Euclidean distances.
* :mod:`~synth.stats.fidelity`: SDMetrics' quality-report definitions (column shapes, pair
  trends, the KS statistic) on pandas tables.
* :mod:`~synth.stats.hashing`: seeded hash draws and samples (numpy and Spark).
"""
