"""Item recommenders: popularity, Spark MLlib implicit ALS, item-kNN (a registry).

Every model is fitted on a user x item training matrix (implicit strengths) and scores users
from their history rows, so a model trained on synthetic users can score real ones:
- popularity: the summed strength per item, the same list for everyone;
- ALS: MLlib's implicit ALS learns the item factors; each scored user's factors are solved
  from their history against those item factors (the same normal equation MLlib solves:
  confidence ``1 + alpha * r``, regularisation scaled by the user's rated items);
- item-kNN: cosine similarity of item columns (shrunk by ``shrink``), ``neighbours`` kept per
  item; a user's score of an item sums its similarities to the items in the history.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.ml.recommendation import ALS
from pyspark.sql import SparkSession

from synth.config.recommend import ModelsConfig


class Recommender(ABC):
    """A fitted model: scores for history rows."""

    same_for_all: bool = False  # True: scores do not depend on the history (one list)

    @abstractmethod
    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """Dense ``(rows, items)`` scores of the users whose history rows are given."""


class Popularity(Recommender):
    """Summed training strength per item."""

    same_for_all = True

    def __init__(self, train: sp.csr_matrix) -> None:
        self.popularity = np.asarray(train.sum(axis=0), dtype=np.float64).ravel()

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """The same scores for everyone."""
        return np.broadcast_to(self.popularity, (history.shape[0], len(self.popularity))).copy()


class ItemKnn(Recommender):
    """Cosine item-item similarity, top ``neighbours`` per item."""

    def __init__(self, train: sp.csr_matrix, neighbours: int, shrink: float) -> None:
        x = train.tocsc().astype(np.float64)
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        gram = (x.T @ x).tocsr()
        gram.setdiag(0.0)
        gram.eliminate_zeros()
        coo = gram.tocoo()
        coo.data = coo.data / (norms[coo.row] * norms[coo.col] + shrink)
        self.similarity = _top_per_row(coo.tocsr(), neighbours).T.tocsr()  # item j -> its rows

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """History x similarity."""
        return np.asarray((history @ self.similarity).todense(), dtype=np.float64)


def _top_per_row(matrix: sp.csr_matrix, keep: int) -> sp.csr_matrix:
    """Each row's ``keep`` largest entries."""
    matrix.sort_indices()
    lengths = np.diff(matrix.indptr)
    if lengths.max(initial=0) <= keep:
        return matrix
    mask = np.ones(len(matrix.data), dtype=bool)
    for row in np.flatnonzero(lengths > keep):
        lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
        values = matrix.data[lo:hi]
        drop = np.argpartition(-values, keep)[keep:]
        mask[lo + drop] = False
    rows = np.repeat(np.arange(matrix.shape[0]), lengths)[mask]
    return sp.csr_matrix((matrix.data[mask], (rows, matrix.indices[mask])), shape=matrix.shape)


class Als(Recommender):
    """Item factors from MLlib implicit ALS; user factors solved from the history."""

    def __init__(self, item_factors: np.ndarray, reg: float, alpha: float) -> None:
        self.item_factors = item_factors
        self.reg = reg
        self.alpha = alpha
        self.gram = item_factors.T @ item_factors

    @classmethod
    def fit(
        cls,
        spark: SparkSession,
        train: sp.csr_matrix,
        *,
        rank: int,
        max_iter: int,
        reg: float,
        alpha: float,
        seed: int,
    ) -> Als:
        """Train MLlib ALS on the non-zero entries of ``train``."""
        coo = train.tocoo()
        frame = pd.DataFrame(
            {
                "u": coo.row.astype(np.int32),
                "i": coo.col.astype(np.int32),
                "r": coo.data.astype(np.float32),
            }
        )
        df = spark.createDataFrame(frame)
        blocks = max(2, spark.sparkContext.defaultParallelism)
        als = ALS(
            rank=rank,
            maxIter=max_iter,
            regParam=reg,
            alpha=alpha,
            implicitPrefs=True,
            numUserBlocks=blocks,
            numItemBlocks=blocks,
            userCol="u",
            itemCol="i",
            ratingCol="r",
            seed=seed,
            nonnegative=False,
            coldStartStrategy="drop",
            intermediateStorageLevel="MEMORY_ONLY",
            finalStorageLevel="MEMORY_ONLY",
        )
        model = als.fit(df)
        factors = model.itemFactors.toPandas()
        items = np.zeros((train.shape[1], rank), dtype=np.float64)
        if len(factors):
            items[factors["id"].to_numpy()] = np.stack(list(factors["features"]))
        return cls(items, reg, alpha)

    def user_factors(self, history: sp.csr_matrix) -> np.ndarray:
        """Solve each user's factors against the item factors (zero for an empty history)."""
        rank = self.item_factors.shape[1]
        out = np.zeros((history.shape[0], rank))
        for row in range(history.shape[0]):
            lo, hi = history.indptr[row], history.indptr[row + 1]
            if lo == hi:
                continue
            cols = history.indices[lo:hi]
            conf = self.alpha * np.abs(history.data[lo:hi])  # c - 1
            y = self.item_factors[cols]
            a = self.gram + (y.T * conf) @ y + self.reg * (hi - lo) * np.eye(rank)
            b = y.T @ (1.0 + conf)
            out[row] = np.linalg.solve(a, b)
        return out

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """User factors x item factors."""
        return self.user_factors(history) @ self.item_factors.T


Fit = Callable[[SparkSession, sp.csr_matrix, dict[str, Any], int], Recommender]


def _fit_popularity(
    spark: SparkSession, train: sp.csr_matrix, params: dict[str, Any], seed: int
) -> Recommender:
    return Popularity(train)


def _fit_knn(
    spark: SparkSession, train: sp.csr_matrix, params: dict[str, Any], seed: int
) -> Recommender:
    return ItemKnn(train, int(params["neighbours"]), float(params["shrink"]))


def _fit_als(
    spark: SparkSession, train: sp.csr_matrix, params: dict[str, Any], seed: int
) -> Recommender:
    return Als.fit(
        spark,
        train,
        rank=int(params["rank"]),
        max_iter=int(params["max_iter"]),
        reg=float(params["reg"]),
        alpha=float(params["alpha"]),
        seed=seed,
    )


MODELS: dict[str, Fit] = {"popularity": _fit_popularity, "als": _fit_als, "item_knn": _fit_knn}


def grids(cfg: ModelsConfig) -> dict[str, list[dict[str, Any]]]:
    """The enabled models and the parameter sets tried on the validation split for each."""
    out: dict[str, list[dict[str, Any]]] = {}
    if cfg.popularity.enabled:
        out["popularity"] = [{}]
    if cfg.als.enabled:
        a = cfg.als
        out["als"] = [
            {"rank": a.rank, "max_iter": a.max_iter, "reg": r, "alpha": a.alpha}
            for r in a.reg_params
        ]
    if cfg.item_knn.enabled:
        out["item_knn"] = [
            {"neighbours": n, "shrink": cfg.item_knn.shrink} for n in cfg.item_knn.neighbours
        ]
    return out
