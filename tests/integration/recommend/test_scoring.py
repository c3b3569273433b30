"""Scoring in Spark tasks equals the driver evaluation it replaced; metrics equal MLlib's.

The reference below is the driver-side evaluation the ``recommend`` stage used before scoring
moved into ``mapInArrow`` (dense scores and relevance, 1,024 users at a time), kept here only
to pin the numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from pyspark.ml.evaluation import RankingEvaluator

from synth.config.recommend import RecommendConfig
from synth.config.train import TrainStageConfig
from synth.io.delta import Lakehouse
from synth.models.base import TrainConfig
from synth.models.sasrec import SasRecModel, empty_encoder
from synth.recommend import scoring
from synth.recommend.data import RecData
from synth.recommend.metrics import METRICS, SEGMENTS, hits, top_k, user_metrics
from synth.recommend.models import Als, Ease, FitContext, ItemKnn, Popularity, Recommender
from synth.recommend.scoring import Split, score, score_many, user_blocks
from synth.recommend.sequence import SasRec
from synth.recommend.stage import _fit_and_score, _split, tail_items

pytestmark = pytest.mark.spark

N_USERS, N_ITEMS, KS = 700, 2_700, (5, 10)  # more than 4 x 10 groups of LANES items: pre-selected


def _reference_top(scores: np.ndarray, k: int, tiebreak: np.ndarray) -> np.ndarray:
    k = min(k, scores.shape[1])
    span = np.abs(scores).max(axis=1, keepdims=True)
    rank = np.argsort(np.argsort(-tiebreak, kind="stable"), kind="stable")
    eps = np.maximum(span, 1.0) * 1e-9 / scores.shape[1]
    adjusted = scores - eps * rank[None, :]
    part = np.argpartition(-adjusted, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(adjusted, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _reference_metrics(
    top: np.ndarray, relevant: np.ndarray, n_relevant: np.ndarray, k: int
) -> dict[str, np.ndarray]:
    top = top[:, :k]
    hit = np.take_along_axis(relevant, top, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_relevant > 0, hit.sum(axis=1) / n_relevant, np.nan)
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = (hit * discounts[None, :]).sum(axis=1)
        ideal_n = np.minimum(n_relevant, k).astype(int)
        idcg = np.concatenate([[0.0], np.cumsum(discounts)])[ideal_n]
        ndcg = np.where(n_relevant > 0, dcg / np.where(idcg > 0, idcg, 1.0), np.nan)
        precision_at = np.cumsum(hit, axis=1) / np.arange(1, k + 1)[None, :]
        ap = (precision_at * hit).sum(axis=1) / np.maximum(ideal_n, 1)
        ap = np.where(n_relevant > 0, ap, np.nan)
    return {"recall": recall, "ndcg": ndcg, "map": ap}


def _reference(
    model: Recommender, history: sp.csr_matrix, split: Split, tiebreak: np.ndarray
) -> dict[str, dict[str, float]]:
    """The stage's evaluation before this change: dense blocks of 1,024 users on the driver."""
    kmax = max(KS)
    per: dict[tuple[str, str], list[np.ndarray]] = {}
    covered = {(seg, k): np.zeros(history.shape[1], dtype=bool) for seg in SEGMENTS for k in KS}
    for start in range(0, len(split.users), 1_024):
        sl = slice(start, start + 1_024)
        users = split.users[sl]
        top = _reference_top(model.scores(history[users]), kmax, tiebreak)
        masks = {seg: mask[sl] for seg, mask in split.masks().items()}
        dense = split.relevant[sl].toarray().astype(bool)
        dense_tail = split.tail_relevant[sl].toarray().astype(bool)
        for k in KS:
            full = _reference_metrics(top, dense, split.n_relevant[sl], k)
            tail = _reference_metrics(top, dense_tail, split.n_tail[sl], k)
            for seg in SEGMENTS:
                got = tail if seg == "long_tail" else full
                for name in METRICS:
                    per.setdefault((seg, f"{name}@{k}"), []).append(got[name][masks[seg]])
                covered[(seg, k)][np.unique(top[masks[seg], :k])] = True
    out: dict[str, dict[str, float]] = {seg: {} for seg in SEGMENTS}
    for (seg, metric), parts in per.items():
        values = np.concatenate(parts)
        out[seg][metric] = float(np.nanmean(values)) if np.isfinite(values).any() else math.nan
    for (seg, k), hit in covered.items():
        out[seg][f"coverage@{k}"] = float(hit.mean())
    for seg, mask in split.masks().items():
        out[seg]["users"] = float(mask.sum())
    return out


@pytest.fixture(scope="module")
def case() -> tuple[sp.csr_matrix, Split, np.ndarray]:
    """Skewed random implicit data: a train matrix, and 600 evaluated users' held-out items."""
    rng = np.random.default_rng(3)
    popularity = rng.pareto(1.2, N_ITEMS) + 0.05
    p = popularity / popularity.sum()
    rows, cols = [], []
    for u in range(N_USERS):
        n = int(rng.integers(0, 12))  # some users have no history at all
        rows += [u] * n
        cols += list(rng.choice(N_ITEMS, size=n, p=p))
    train = sp.csr_matrix(
        (rng.uniform(0.5, 5.0, len(rows)), (rows, cols)), shape=(N_USERS, N_ITEMS)
    )
    users = np.sort(rng.choice(N_USERS, 600, replace=False))
    held_rows, held_items = [], []
    n_relevant = np.zeros(len(users), dtype=np.int64)
    for r in range(len(users)):
        n = int(rng.integers(1, 6))
        items = np.unique(rng.choice(N_ITEMS, size=n, p=p))
        held_rows += [r] * len(items)
        held_items += list(items)
        n_relevant[r] = len(items) + int(rng.integers(0, 2))  # some held out off the catalog
    relevant = sp.csr_matrix(
        (np.ones(len(held_rows)), (held_rows, held_items)), shape=(len(users), N_ITEMS)
    )
    tail_items = np.argsort(-popularity)[180:]
    tail_relevant = relevant.multiply(np.isin(np.arange(N_ITEMS), tail_items)[None, :]).tocsr()
    tail_relevant.eliminate_zeros()
    split = Split(
        users=users,
        relevant=relevant,
        n_relevant=n_relevant,
        tail_relevant=tail_relevant,
        n_tail=np.diff(tail_relevant.indptr).astype(np.int64),
        cold=np.diff(train.indptr)[users] <= 3,
    )
    return train, split, np.asarray(train.sum(axis=0)).ravel()


def _models(train: sp.csr_matrix) -> dict[str, Recommender]:
    rng = np.random.default_rng(7)
    return {
        "popularity": Popularity(train),
        "als": Als(rng.normal(size=(N_ITEMS, 6)), reg=0.1, alpha=4.0),
        "item_knn": ItemKnn(train, neighbours=15, shrink=2.0),
        "ease": Ease(train, l2=20.0, max_items=N_ITEMS, neighbours=15, shrink=2.0),
        "ease_on_head": Ease(train, l2=20.0, max_items=300, neighbours=15, shrink=2.0),
    }


@pytest.mark.parametrize("name", ["popularity", "als", "item_knn", "ease", "ease_on_head"])
def test_spark_scoring_equals_the_driver_evaluation(spark, case, monkeypatch, name):
    train, split, tiebreak = case
    model = _models(train)[name]
    monkeypatch.setattr(scoring, "MAX_BLOCK_USERS", 64)  # many blocks per task
    monkeypatch.setattr(scoring, "BLOCK_CELLS", 64 * N_ITEMS)
    # Run: two tasks (local[2])
    blocks = user_blocks(spark, split, train, partitions=2)
    assert blocks.rdd.getNumPartitions() == 2
    got = score(spark, model, blocks, split, KS, tiebreak)
    # Assert
    want = _reference(model, train, split, tiebreak)
    assert got.keys() == want.keys()
    for seg in SEGMENTS:
        assert got[seg].keys() == want[seg].keys()
        for metric, value in want[seg].items():
            assert got[seg][metric] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), (
                seg,
                metric,
            )
    assert 0 < got["all"]["ndcg@10"] < 1 and got["long_tail"]["users"] < len(split.users)


def test_spark_scoring_of_a_sequence_model_reads_the_event_order(spark, case, monkeypatch):
    train, split, tiebreak = case
    order = train.copy()
    order.data = np.random.default_rng(5).uniform(1e15, 2e15, len(order.data))
    net = SasRecModel(TrainConfig(seed=3), n_items=N_ITEMS, max_len=8, hidden=16)
    model = SasRec.from_model(net.setup(empty_encoder()))  # type: ignore[arg-type]
    monkeypatch.setattr(scoring, "MAX_BLOCK_USERS", 64)
    monkeypatch.setattr(scoring, "BLOCK_CELLS", 64 * N_ITEMS)
    # Run
    got = score(spark, model, user_blocks(spark, split, train, 2, order), split, KS, tiebreak)
    # Assert: equal to ranking each user's items in time order on the driver
    want = _reference(model, order, split, tiebreak)
    for seg in SEGMENTS:
        for metric, value in want[seg].items():
            assert got[seg][metric] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True)
    # blocks without the order are refused, not scored by strength
    with pytest.raises(ValueError, match="event order"):
        score(spark, model, user_blocks(spark, split, train, 2), split, KS, tiebreak)


def test_one_pass_scores_every_model_as_it_scores_alone(spark, case, monkeypatch):
    train, split, tiebreak = case
    order = train.copy()
    order.data = np.random.default_rng(5).uniform(1e15, 2e15, len(order.data))
    net = SasRecModel(TrainConfig(seed=3), n_items=N_ITEMS, max_len=8, hidden=16)
    models = [
        *_models(train).values(),
        SasRec.from_model(net.setup(empty_encoder())),  # type: ignore[arg-type]
    ]
    monkeypatch.setattr(scoring, "MAX_BLOCK_USERS", 64)
    monkeypatch.setattr(scoring, "BLOCK_CELLS", 64 * N_ITEMS)
    blocks = user_blocks(spark, split, train, 2, order).persist()
    try:
        # Run: strength-scored and order-scored models in one pass, then each alone
        together = score_many(spark, models, blocks, split, KS, tiebreak)
        alone = [score(spark, m, blocks, split, KS, tiebreak) for m in models]
    finally:
        blocks.unpersist()
    # Assert: the same figures, model by model (NaN where a segment has no users)
    assert len(together) == len(models)
    for got, want in zip(together, alone, strict=True):
        assert got.keys() == want.keys()
        for seg in want:
            assert got[seg].keys() == want[seg].keys()
            for metric, value in want[seg].items():
                assert got[seg][metric] == value or (
                    math.isnan(value) and math.isnan(got[seg][metric])
                )
    assert len({round(t["all"]["ndcg@10"], 12) for t in together}) > 3  # models differ


def test_sparse_top_k_equals_dense_top_k(case):
    train, split, tiebreak = case
    knn = ItemKnn(train, neighbours=15, shrink=2.0)
    history = train[split.users]
    # Run / Assert: including k larger than some rows' stored scores and the whole catalog
    for k in (1, 10, N_ITEMS):
        assert np.array_equal(
            knn.top(history, k, tiebreak), top_k(knn.scores(history), k, tiebreak)
        )


def test_metrics_equal_mllib_ranking_evaluator(spark, case):
    train, split, tiebreak = case
    knn = ItemKnn(train, neighbours=15, shrink=2.0)
    k = 10
    top = knn.top(train[split.users], k, tiebreak)
    ours = user_metrics(hits(top, split.relevant), split.n_relevant, k)
    # held-out items off the catalog get ids no list can hold (MLlib sees the same |R|)
    labels = []
    for r in range(len(split.users)):
        on = split.relevant.indices[split.relevant.indptr[r] : split.relevant.indptr[r + 1]]
        off = -1.0 - np.arange(split.n_relevant[r] - len(on))
        labels.append([float(i) for i in on] + [float(i) for i in off])
    frame = spark.createDataFrame(
        [([float(i) for i in t], lab) for t, lab in zip(top, labels, strict=True)],
        "prediction array<double>, label array<double>",
    )
    # Run / Assert
    for ours_name, mllib_name in (
        ("ndcg", "ndcgAtK"),
        ("map", "meanAveragePrecisionAtK"),
        ("recall", "recallAtK"),
    ):
        evaluator = RankingEvaluator(metricName=mllib_name, k=k)
        mllib = evaluator.evaluate(frame)
        assert float(np.mean(getattr(ours, ours_name))) == pytest.approx(mllib, rel=1e-12)


def _rec_data() -> RecData:
    rng = np.random.default_rng(11)
    n_users, n_items = 260, 120

    def pairs(n: int, users: tuple[int, int], items: int) -> pd.DataFrame:
        frame = pd.DataFrame(
            {"u": rng.integers(*users, n), "i": (rng.pareto(1.0, n) * 8).astype(int) % items}
        ).drop_duplicates()
        return frame.assign(
            uid=frame["u"] + 1_000,
            pid=frame["i"] + 5_000,
            strength=rng.uniform(1, 4, len(frame)),
            last_us=rng.integers(10**15, 2 * 10**15, len(frame)),
        ).reset_index(drop=True)

    return RecData(
        items=np.arange(n_items),
        users=np.arange(n_users),
        real=pairs(1_500, (0, 200), n_items),
        synthetic_user=pairs(600, (200, 260), n_items),
        enrichment=pairs(50, (0, 40), n_items),
        validation=pairs(300, (0, 200), n_items)[["u", "i", "uid", "pid"]],
        test=pairs(300, (0, 200), n_items)[["u", "i", "uid", "pid"]],
        real_events=rng.integers(1, 10, n_users),
        item_events=rng.integers(0, 50, n_items),
        synthetic_weight=0.5,
        dropped_pairs={},
    )


def test_fitting_in_threads_gives_the_same_results(spark):
    data = _rec_data()
    base = RecommendConfig.model_validate(
        {
            "seeds": [0, 1],
            "k": [5],
            "models": {
                "als": {"rank": 4, "max_iter": 3, "reg_params": [0.1]},
                "item_knn": {"neighbours": [5, 20]},
                "ease": {"max_items": 60, "l2": [5.0, 50.0]},
            },
        }
    )
    tail = tail_items(data.item_events, base.head_share)
    validation = _split(data, data.validation, tail, base)
    test = _split(data, data.test, tail, base)
    variants = ("real", "fused", "synthetic")
    # Run: one fit at a time (the default), then three at once
    one = _fit_and_score(spark, data, validation, test, variants, base)
    three = _fit_and_score(
        spark, data, validation, test, variants, base.model_copy(update={"fit_threads": 3})
    )
    # Assert: the chosen parameters and every per-seed figure are identical
    assert one[0] == three[0] and one[2] == three[2]
    assert set(one[2]) == {"popularity", "als", "item_knn", "ease"}
    assert [t["params"] for t in one[1]["ease"]["real"]] == [
        t["params"] for t in three[1]["ease"]["real"]
    ]


def test_the_sequence_model_is_tuned_and_scored_per_variant_and_seed(spark, tmp_path):
    data = _rec_data()
    rc = RecommendConfig.model_validate(
        {
            "seeds": [0, 1],
            "k": [5],
            "models": {
                "popularity": {"enabled": False},
                "als": {"enabled": False},
                "item_knn": {"enabled": False},
                "ease": {"enabled": False},
                "sasrec": {"enabled": True, "hidden": [8, 16], "max_len": 5, "epochs": 2},
            },
        }
    )
    tail = tail_items(data.item_events, rc.head_share)
    validation = _split(data, data.validation, tail, rc)
    test = _split(data, data.test, tail, rc)
    context = FitContext(
        spark,
        Lakehouse(str(tmp_path / "lakehouse")),
        TrainStageConfig.model_validate({"cache_rows_per_file": 100}),
    )
    # Run
    chosen, tuning, results = _fit_and_score(
        spark, data, validation, test, ("real", "fused", "synthetic"), rc, context
    )
    # Assert: both sizes tried on validation per variant, the chosen one run per seed
    assert set(results) == {"sasrec"} and set(results["sasrec"]) == {"real", "fused", "synthetic"}
    for variant, tried in tuning["sasrec"].items():
        assert [t["params"]["hidden"] for t in tried] == [8, 16]
        assert chosen["sasrec"][variant]["hidden"] in (8, 16)
        ndcg = results["sasrec"][variant]["all"]["ndcg@5"]["seeds"]
        assert len(ndcg) == 2 and all(0 <= v <= 1 for v in ndcg)
    # one cache per (variant, seed), shared by the grid; one model per (variant, seed, size)
    lakehouse = tmp_path / "lakehouse"
    assert len(list((lakehouse / "_cache" / "train" / "recommend_sequences").iterdir())) == 6
    assert len(list((lakehouse / "_models" / "recommend_sequences").iterdir())) == 9


def test_a_split_without_users_scores_nothing(spark, case):
    train, split, tiebreak = case
    empty = Split(
        users=np.zeros(0, dtype=np.int64),
        relevant=sp.csr_matrix((0, N_ITEMS)),
        n_relevant=np.zeros(0, dtype=np.int64),
        tail_relevant=sp.csr_matrix((0, N_ITEMS)),
        n_tail=np.zeros(0, dtype=np.int64),
        cold=np.zeros(0, dtype=bool),
    )
    # Run
    got = score(spark, Popularity(train), user_blocks(spark, empty, train, 2), empty, KS, tiebreak)
    # Assert: no user, no mean, nothing covered
    assert got["all"]["users"] == 0 and math.isnan(got["all"]["ndcg@10"])
    assert got["cold"]["coverage@5"] == 0.0
