"""Item recommenders: popularity, Spark MLlib implicit ALS, item-kNN, EASE (a registry).

Every model is fitted on a user x item training matrix (implicit strengths) and scores users
from their history rows, so a model trained on synthetic users can score real ones:
- popularity: the summed strength per item, the same list for everyone;
- ALS: MLlib's implicit ALS learns the item factors; each scored user's factors are solved
  from their history against those item factors (the same normal equation MLlib solves:
  confidence ``1 + alpha * r``, regularisation scaled by the user's rated items);
- item-kNN: cosine similarity of item columns (shrunk by ``shrink``), ``neighbours`` kept per
  item; a user's score of an item sums its similarities to the items in the history;
- EASE: closed-form item-item regression weights on the head of the catalog (:class:`Ease`);
- SASRec: a causal transformer over each user's items in time order, trained by the ``train``
  stage's machinery on its backend (:mod:`synth.recommend.sequence`).

A fit gets a :class:`FitContext` (the session; the lakehouse and the ``train`` stage config for
models trained like the generators) and the variant's :class:`Training` matrices.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.ml.recommendation import ALS
from pyspark.sql import SparkSession

from synth.config.recommend import ModelsConfig
from synth.recommend.metrics import top_k, top_k_sparse

if TYPE_CHECKING:
    from synth.config.train import TrainStageConfig
    from synth.io.delta import Lakehouse

SPARSE_TOP_SHARE = 0.01  # item-kNN lists are ranked sparse below this share of scored items
FOLD_IN_CELLS = 1 << 24  # values of the per-item terms of one batch of ALS fold-in solves


@dataclass(frozen=True)
class FitContext:
    """What a fit may use besides its data.

    ``lakehouse`` and ``train`` (the ``train`` stage's config: backend, processes, cache files,
    resume) are needed by models trained with the generators' machinery (SASRec).
    """

    spark: SparkSession
    lakehouse: Lakehouse | None = None
    train: TrainStageConfig | None = None


@dataclass(frozen=True)
class Training:
    """A variant's training pairs as users x items matrices.

    ``strength``: the implicit strengths; ``order``: on the same pairs, each pair's last event
    time (what sequence models read).
    """

    strength: sp.csr_matrix
    order: sp.csr_matrix | None = None


class Recommender(ABC):
    """A fitted model: scores for history rows.

    ``ordered`` models read history rows holding each pair's last event time (the ``order``
    matrices) instead of its strength.
    """

    ordered: ClassVar[bool] = False

    @abstractmethod
    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """Dense ``(rows, items)`` scores of the users whose history rows are given."""

    def top(
        self,
        history: sp.csr_matrix,
        k: int,
        tiebreak: np.ndarray,
        rank: np.ndarray | None = None,
    ) -> np.ndarray:
        """Each history row's ``k`` best items (:func:`~synth.recommend.metrics.top_k`).

        ``rank``: ``tie_rank(tiebreak)`` when the caller has it (it ranks many blocks).
        """
        return top_k(self.scores(history), k, tiebreak, rank)


class Popularity(Recommender):
    """Summed training strength per item."""

    def __init__(self, train: sp.csr_matrix) -> None:
        self.popularity = np.asarray(train.sum(axis=0), dtype=np.float64).ravel()

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """The same scores for everyone."""
        return np.broadcast_to(self.popularity, (history.shape[0], len(self.popularity))).copy()

    def top(
        self,
        history: sp.csr_matrix,
        k: int,
        tiebreak: np.ndarray,
        rank: np.ndarray | None = None,
    ) -> np.ndarray:
        """One list, ranked once, for every row."""
        one = top_k(self.popularity[None, :], k, tiebreak, rank)
        return np.repeat(one, history.shape[0], axis=0)


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

    def top(
        self,
        history: sp.csr_matrix,
        k: int,
        tiebreak: np.ndarray,
        rank: np.ndarray | None = None,
    ) -> np.ndarray:
        """Ranked from the sparse product when it is sparse (strengths, similarities >= 0)."""
        product = (history @ self.similarity).tocsr()
        sparse = product.nnz <= SPARSE_TOP_SHARE * product.shape[0] * product.shape[1]
        if sparse and (not product.nnz or product.data.min() >= 0):
            return top_k_sparse(product, k, tiebreak, rank)
        return top_k(product.toarray(), k, tiebreak, rank)


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
        """Solve each user's factors against the item factors (zero for an empty history).

        Per row, ``A = Y'Y + sum_i c_i y_i y_i' + reg n I`` and ``b = sum_i (1 + c_i) y_i``
        over its ``n`` rated items (``c = alpha |r|``), solved in batches of rows whose
        ``n x rank x rank`` terms stay under :data:`FOLD_IN_CELLS` values.
        """
        rank = self.item_factors.shape[1]
        out = np.zeros((history.shape[0], rank))
        history = history.tocsr()
        lengths = np.diff(history.indptr)
        rated = np.flatnonzero(lengths)
        per_batch = max(1, FOLD_IN_CELLS // (rank * rank))
        ends = history.indptr[rated + 1]  # where each rated row's values end
        start = 0
        while start < len(rated):
            # rows up to per_batch stored values in all (at least one row)
            limit = history.indptr[rated[start]] + per_batch
            stop = max(start + 1, int(np.searchsorted(ends, limit, side="right")))
            rows = rated[start:stop]
            out[rows] = self._solve(history, rows, lengths[rows])
            start = stop
        return out

    def _solve(self, history: sp.csr_matrix, rows: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        rank = self.item_factors.shape[1]
        lo, hi = history.indptr[rows[0]], history.indptr[rows[-1] + 1]
        y = self.item_factors[history.indices[lo:hi]]
        conf = self.alpha * np.abs(history.data[lo:hi])  # c - 1
        starts = history.indptr[rows] - lo
        a = np.add.reduceat(np.einsum("n,ni,nj->nij", conf, y, y), starts, axis=0)
        a += self.gram[None, :, :]
        a += (self.reg * lengths)[:, None, None] * np.eye(rank)[None, :, :]
        b = np.add.reduceat(y * (1.0 + conf)[:, None], starts, axis=0)
        return np.linalg.solve(a, b[:, :, None])[:, :, 0]

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """User factors x item factors."""
        return self.user_factors(history) @ self.item_factors.T


class Ease(Recommender):
    """EASE: closed-form item-item weights (Steck, 2019), item-kNN beyond ``max_items``.

    On the catalog's ``max_items`` items with the most training users (all of it when smaller):
    ``P = (X'X + l2 I)^-1`` and ``B = -P / diag(P)`` column-wise with a zero diagonal; a user's
    scores are history x B. One dense inverse costs ``max_items^3``, so larger catalogs keep it
    to their head: the other items are scored by item-kNN (:class:`ItemKnn` cosine
    similarities, ``neighbours`` and ``shrink``) from the whole history, rescaled to EASE's
    magnitude: times the mean of the head items' ``neighbours`` largest positive weights over
    the mean kNN similarity into head items (measured where both exist; on the simulator's
    validation split this scored as well as the best of fixed scales 1, 0.1 and 0.01).
    """

    def __init__(
        self, train: sp.csr_matrix, l2: float, max_items: int, neighbours: int, shrink: float
    ) -> None:
        x = train.tocsc().astype(np.float64)
        n_items = x.shape[1]
        users_per_item = np.diff(x.indptr)
        if n_items <= max_items:
            self.head = np.arange(n_items)
        else:
            self.head = np.sort(np.argsort(-users_per_item, kind="stable")[:max_items])
        xh = x[:, self.head]
        gram = np.asarray((xh.T @ xh).todense(), dtype=np.float64)
        gram[np.diag_indices_from(gram)] += l2
        p = np.linalg.inv(gram)
        self.weights = -p / np.diag(p)[None, :]
        np.fill_diagonal(self.weights, 0.0)
        self.n_items = n_items
        self.rest = np.setdiff1d(np.arange(n_items), self.head)
        self.rest_similarity: sp.csr_matrix | None = None
        if len(self.rest):
            similarity = ItemKnn(train, neighbours, shrink).similarity.tocsc()
            self.rest_similarity = (
                similarity[:, self.rest] * self._scale(similarity[:, self.head], neighbours)
            ).tocsr()

    def _scale(self, head_similarity: sp.csc_matrix, neighbours: int) -> float:
        """EASE's typical weight over item-kNN's typical similarity, on the head items."""
        keep = min(neighbours, self.weights.shape[0])
        strongest = np.partition(self.weights, self.weights.shape[0] - keep, axis=0)[-keep:]
        positive = strongest[strongest > 0]
        if not len(positive) or not head_similarity.nnz or head_similarity.data.mean() <= 0:
            return 1.0
        return float(positive.mean() / head_similarity.data.mean())

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """History x B on the head; history x kNN similarity on the other items."""
        out = np.zeros((history.shape[0], self.n_items))
        out[:, self.head] = history[:, self.head] @ self.weights
        if self.rest_similarity is not None:
            out[:, self.rest] = (history @ self.rest_similarity).toarray()
        return out


Fit = Callable[[FitContext, Training, dict[str, Any], int], Recommender]


def _fit_popularity(
    context: FitContext, train: Training, params: dict[str, Any], seed: int
) -> Recommender:
    return Popularity(train.strength)


def _fit_knn(
    context: FitContext, train: Training, params: dict[str, Any], seed: int
) -> Recommender:
    return ItemKnn(train.strength, int(params["neighbours"]), float(params["shrink"]))


def _fit_als(
    context: FitContext, train: Training, params: dict[str, Any], seed: int
) -> Recommender:
    return Als.fit(
        context.spark,
        train.strength,
        rank=int(params["rank"]),
        max_iter=int(params["max_iter"]),
        reg=float(params["reg"]),
        alpha=float(params["alpha"]),
        seed=seed,
    )


def _fit_ease(
    context: FitContext, train: Training, params: dict[str, Any], seed: int
) -> Recommender:
    return Ease(
        train.strength,
        float(params["l2"]),
        int(params["max_items"]),
        int(params["neighbours"]),
        float(params["shrink"]),
    )


MODELS: dict[str, Fit] = {
    "popularity": _fit_popularity,
    "als": _fit_als,
    "item_knn": _fit_knn,
    "ease": _fit_ease,
}


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
    if cfg.ease.enabled:
        e = cfg.ease
        out["ease"] = [
            {"l2": v, "max_items": e.max_items, "neighbours": e.neighbours, "shrink": e.shrink}
            for v in e.l2
        ]
    if cfg.sasrec.enabled:
        fixed = cfg.sasrec.model_dump(mode="json", exclude={"enabled", "hidden"})
        out["sasrec"] = [{"hidden": h, **fixed} for h in cfg.sasrec.hidden]
    return out
