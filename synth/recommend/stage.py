"""Stage ``recommend``: does the run's synthetic data help a recommender on held-out real data?

Protocol (``recommend`` config):
1. Data (:mod:`synth.recommend.data`): real train pairs, the run's synthetic pairs, held-out
   real validation and test pairs of the silver per-user temporal split. Only real users' real
   held-out items are ever scored.
2. Per model (popularity, ALS, item-kNN, EASE; SASRec when enabled) and variant (real /
   fused / synthetic): every parameter set of the model's grid is trained with the first seed
   and scored on the *validation* split (NDCG at the first cut-off, all users); the best is
   kept. Then one training run per seed (the seed draws the training-pair subsample and the
   model's own seed) is scored on the *test* split. Models are fitted on the driver (MLlib for
   ALS; SASRec on the ``train`` stage's backend, :mod:`synth.recommend.sequence`) and scored
   in Spark tasks over blocks of users (:mod:`synth.recommend.scoring`): all candidates of a
   variant in one validation pass, all chosen models of a (variant, seed) in one test pass.
3. Per segment (all, cold / sparse users, long-tail items): Recall / NDCG / MAP@K and coverage,
   mean and spread over seeds; real vs fused compared per seed (paired) with a verdict: a lift
   not larger than the seed spread is ``no lift``.
4. Interest prediction: each user's top-k interest tags (categories) from the real and the
   fused profile against the categories of their held-out test events.

Writes ``<lakehouse>/_reports/<run id>/recommend.json``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synth.config.job import JobConfig
from synth.config.recommend import RecommendConfig, Variant
from synth.errors import InputError
from synth.io.delta import Lakehouse, read_table, table_exists, write_json
from synth.recommend import sequence as _sequence  # noqa: F401  (registers the sasrec fit)
from synth.recommend.data import RecData, load
from synth.recommend.metrics import SEGMENTS, paired_test, summarise
from synth.recommend.models import MODELS, Fit, FitContext, Recommender, Training, grids
from synth.recommend.scoring import Split, score_many, user_blocks
from synth.refs import resolve_model, resolve_run_id
from synth.schema import CATEGORY_ID, REJECTED_REASON, RUN_ID, SPLIT, SPLIT_TEST, USER_ID
from synth.stages import StageReport
from synth.stats.hashing import hash_uniform

log = logging.getLogger(__name__)

_EVAL_PURPOSE = 72


def _indicator(rows: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A 0/1 users x items matrix with ones at (rows, items)."""
    return sp.csr_matrix((np.ones(len(rows)), (rows, items)), shape=shape)


def _split(data: RecData, pairs: pd.DataFrame, tail: np.ndarray, cfg: RecommendConfig) -> Split:
    uids = np.unique(pairs["u"].to_numpy())
    if len(uids) > cfg.max_eval_users:
        draw = hash_uniform(cfg.seeds[0], _EVAL_PURPOSE, data.users[uids].astype(np.int64))
        uids = np.sort(uids[np.argsort(draw, kind="stable")[: cfg.max_eval_users]])
    row = pd.Index(uids).get_indexer(pairs["u"].to_numpy())
    inside = row >= 0
    rows, items = row[inside], pairs["i"].to_numpy()[inside]
    n_relevant = np.bincount(rows, minlength=len(uids))
    on = items >= 0
    is_tail = on.copy()
    is_tail[on] = tail[items[on]]
    shape = (len(uids), data.n_items)
    relevant = _indicator(rows[on], items[on], shape)  # pairs are distinct: no sums above 1
    tail_relevant = _indicator(rows[is_tail], items[is_tail], shape)
    n_tail = np.bincount(rows[is_tail], minlength=len(uids))
    return Split(
        users=uids,
        relevant=relevant,
        n_relevant=n_relevant,
        tail_relevant=tail_relevant,
        n_tail=n_tail,
        cold=data.real_events[uids] <= cfg.cold_max_events,
    )


def tail_items(item_events: np.ndarray, head_share: float) -> np.ndarray:
    """Boolean per item: outside the head (the ``head_share`` most popular items)."""
    head = math.ceil(head_share * len(item_events))
    order = np.lexsort((np.arange(len(item_events)), -item_events))
    tail = np.ones(len(item_events), dtype=bool)
    tail[order[:head]] = False
    return tail


@dataclass
class RecommendReport(StageReport):
    """What the ``recommend`` stage measured (``results``: see :func:`run`)."""

    run_id: str
    path: str
    data: dict[str, Any]
    chosen: dict[str, dict[str, Any]]
    tuning: dict[str, dict[str, list[dict[str, Any]]]]
    results: dict[str, dict[str, dict[str, dict[str, Any]]]]
    comparisons: dict[str, dict[str, dict[str, Any]]]
    interest: dict[str, dict[str, dict[str, float]]]
    settings: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line per model: the headline comparison."""
        k = self.settings["k"][0]
        lines = []
        for model, segs in self.comparisons.items():
            parts = []
            for seg in ("all", "cold"):
                c = segs.get(seg)
                if c:
                    pct = "n/a" if c["lift_pct"] is None else f"{c['lift_pct']:+.1f}%"
                    parts.append(
                        f"{seg} NDCG@{k} {c['real_mean']:.4f} -> {c['fused_mean']:.4f} "
                        f"({pct}, {c['verdict']})"
                    )
            lines.append(f"{model}: " + "; ".join(parts))
        return "\n".join(lines) + f"\n-> {self.path}"


def _interest(
    spark: SparkSession,
    lakehouse: Lakehouse,
    run: str,
    data: RecData,
    split: Split,
    k: int,
    synthetic_table_name: str | None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Top-k interest tags vs the categories of each user's held-out test events."""
    ids = pd.DataFrame({USER_ID: data.users[split.users].astype(np.int64)})
    wanted = spark.createDataFrame(ids)
    truth = (
        read_table(spark, lakehouse.silver_table())
        .where(F.col(SPLIT) == SPLIT_TEST)
        .join(F.broadcast(wanted), USER_ID, "left_semi")
        .groupBy(USER_ID)
        .agg(F.collect_set(CATEGORY_ID).alias("truth"))
        .toPandas()
    )
    truth_of = dict(zip(truth[USER_ID], truth["truth"], strict=True))

    def tags(path: str, where: F.Column | None = None) -> dict[int, list[int]]:
        df = read_table(spark, path)
        if where is not None:
            df = df.where(where)
        got = (
            df.join(F.broadcast(wanted), USER_ID, "left_semi")
            .select(USER_ID, "top_categories")
            .toPandas()
        )
        return {
            int(u): list(t)[:k] for u, t in zip(got[USER_ID], got["top_categories"], strict=True)
        }

    predictions: dict[str, Callable[[int], list[int]]] = {}
    # users made sparse: tags of the profile of their kept (and enrichment) events
    real_tags = {**tags(lakehouse.gold_table("user_profiles")), **data.cold_tags.get("real", {})}
    predictions["real"] = lambda u: real_tags.get(u, [])
    fused_path = lakehouse.fused_table("user_profiles")
    if table_exists(spark, fused_path):
        fused_tags = {
            **tags(fused_path, F.col(RUN_ID) == F.lit(run)),
            **data.cold_tags.get("fused", {}),
        }
        predictions["fused"] = lambda u: fused_tags.get(u, [])
    if synthetic_table_name == "user_profiles":
        syn = (
            read_table(spark, lakehouse.synthetic_table("user_profiles"))
            .where((F.col(RUN_ID) == F.lit(run)) & F.col(REJECTED_REASON).isNull())
            .select(F.explode("top_categories").alias("c"))
            .groupBy("c")
            .count()
            .orderBy(F.desc("count"), "c")
            .limit(k)
            .toPandas()
        )
        population = [int(c) for c in syn["c"]]
        predictions["synthetic"] = lambda u: population
    out: dict[str, dict[str, dict[str, float]]] = {}
    users = data.users[split.users].astype(np.int64)
    for variant, predict in predictions.items():
        precision, recall = np.zeros(len(users)), np.zeros(len(users))
        for n, user in enumerate(users):
            truth_set = set(truth_of.get(int(user), []))
            pred = predict(int(user))
            hits = len(truth_set.intersection(pred))
            precision[n] = hits / k
            recall[n] = hits / len(truth_set) if truth_set else math.nan
        masks = split.masks()
        for seg in ("all", "cold"):
            mask = masks[seg]
            out.setdefault(variant, {})[seg] = {
                f"precision@{k}": float(np.nanmean(precision[mask])) if mask.any() else math.nan,
                f"recall@{k}": float(np.nanmean(recall[mask])) if mask.any() else math.nan,
                "users": float(mask.sum()),
            }
    return out


Scored = dict[str, dict[str, float]]
Fitted = tuple[Recommender, float]  # a model and its fit's wall seconds


def _fits(
    pool: ThreadPoolExecutor,
    context: FitContext,
    jobs: list[tuple[Fit, Training, dict[str, Any], int]],
) -> list[Future[Fitted]]:
    """Each ``fit`` on its (train, params, seed), up to the pool's threads at once.

    The caller scores the models as soon as they are fitted, while the next ones fit.
    """

    def timed(fit: Fit, train: Training, params: dict[str, Any], seed: int) -> Fitted:
        t0 = time.perf_counter()
        return fit(context, train, params, seed), time.perf_counter() - t0

    return [pool.submit(timed, *job) for job in jobs]


def _fit_and_score(
    spark: SparkSession,
    data: RecData,
    validation: Split,
    test: Split,
    variants: tuple[Variant, ...],
    rc: RecommendConfig,
    context: FitContext | None = None,
) -> tuple[
    dict[str, dict[str, Any]],
    dict[str, dict[str, list[dict[str, Any]]]],
    dict[str, dict[str, dict[str, dict[str, Any]]]],
]:
    """Steps 2 and 3 of the protocol: ``(chosen, tuning, results)``.

    Per variant: every model's grid is fitted with the first seed and all candidates are
    scored on validation in one pass; then per seed, the chosen models are scored on test in
    one pass (:func:`~synth.recommend.scoring.score_many`). The matrices and the scored users'
    blocks of a (variant, seed) are built once and shared by every model; the blocks are cached
    in Spark until the end. ``context`` (default: the session alone) gives models trained by
    the ``train`` stage's machinery what they need.
    """
    k0 = rc.k[0]
    context = context or FitContext(spark)
    partitions = spark.sparkContext.defaultParallelism
    built: dict[tuple[str, int], tuple[Training, sp.csr_matrix, sp.csr_matrix, np.ndarray]] = {}
    cached: dict[tuple[str, int, str], DataFrame] = {}

    def matrices(
        variant: Variant, seed: int
    ) -> tuple[Training, sp.csr_matrix, sp.csr_matrix, np.ndarray]:
        """(train, history, history order, popularity tie-break) of a variant and seed.

        Built once, shared by the models.
        """
        if (variant, seed) not in built:
            train, history, train_order, history_order = data.variant_and_orders(
                variant, seed, rc.subsample
            )
            built[(variant, seed)] = (
                Training(train, train_order),
                history,
                history_order,
                np.asarray(train.sum(axis=0)).ravel(),
            )
        return built[(variant, seed)]

    splits = {"validation": validation, "test": test}

    def measured(
        models: list[Recommender], variant: Variant, seed: int, which: str, ks: tuple[int, ...]
    ) -> list[Scored]:
        _, history, order, tiebreak = matrices(variant, seed)
        split = splits[which]
        # the synthetic variant scores real users from the real history of the same seed
        key = ("real" if variant == "synthetic" else variant, seed, which)
        if key not in cached:
            cached[key] = user_blocks(spark, split, history, partitions, order).persist()
        return score_many(spark, models, cached[key], split, ks, tiebreak)

    model_grids = grids(rc.models)
    chosen: dict[str, dict[str, Any]] = {}
    tuning: dict[str, dict[str, list[dict[str, Any]]]] = {}
    results: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    pool = ThreadPoolExecutor(max_workers=rc.fit_threads, thread_name_prefix="recommend-fit")
    try:
        for variant in variants:
            for seed in rc.seeds:  # built on this thread: the fits run in others
                matrices(variant, seed)
            first_seed = rc.seeds[0]
            train0 = matrices(variant, first_seed)[0]
            candidates = {
                name: _fits(pool, context, [(MODELS[name], train0, p, first_seed) for p in grid])
                for name, grid in model_grids.items()
            }
            t0 = time.perf_counter()
            fitted = {name: [f.result() for f in got] for name, got in candidates.items()}
            log.info(
                "recommend: %s: %d tuning candidates fitted in %.1fs",
                variant,
                sum(len(got) for got in fitted.values()),
                time.perf_counter() - t0,
            )
            tuned = [name for name, grid in model_grids.items() if len(grid) > 1]
            t0 = time.perf_counter()
            scored = measured(
                [m for name in tuned for m, _ in fitted[name]],
                variant,
                first_seed,
                "validation",
                (k0,),
            )
            pass_s = round(time.perf_counter() - t0, 2)
            log.info("recommend: %s: validation pass %.1fs", variant, pass_s)
            best: dict[str, int] = {}
            for name, grid in model_grids.items():
                ndcgs = (
                    [scored.pop(0)["all"][f"ndcg@{k0}"] for _ in grid]
                    if name in tuned
                    else [math.nan]
                )
                best[name] = _best(ndcgs)
                tuning.setdefault(name, {})[variant] = [
                    {
                        "params": params,
                        f"validation_ndcg@{k0}": ndcg,
                        "fit_seconds": round(fit_s, 2),
                        "validation_pass_seconds": pass_s if name in tuned else 0.0,
                    }
                    for params, ndcg, (_, fit_s) in zip(grid, ndcgs, fitted[name], strict=True)
                ]
                chosen.setdefault(name, {})[variant] = grid[best[name]]
            # the other seeds' fits start now, seed by seed, while the first seed is scored
            jobs = [
                (MODELS[name], matrices(variant, seed)[0], chosen[name][variant], seed)
                for seed in rc.seeds[1:]
                for name in model_grids
            ]
            pending = iter(_fits(pool, context, jobs))
            others = {seed: {name: next(pending) for name in model_grids} for seed in rc.seeds[1:]}
            firsts = {name: fitted[name][best[name]] for name in model_grids}
            del fitted  # the other grid models are not needed any more
            per_seed: dict[str, dict[str, dict[str, list[float]]]] = {}
            for n, seed in enumerate(rc.seeds):
                models = {
                    name: firsts[name] if n == 0 else others[seed][name].result()
                    for name in model_grids
                }
                t0 = time.perf_counter()
                got = measured([m for m, _ in models.values()], variant, seed, "test", rc.k)
                pass_s = time.perf_counter() - t0
                for (name, (_, fit_s)), scored_one in zip(models.items(), got, strict=True):
                    for seg, metrics in scored_one.items():
                        for metric, value in metrics.items():
                            per_seed.setdefault(name, {}).setdefault(seg, {}).setdefault(
                                metric, []
                            ).append(value)
                    log.info(
                        "recommend: %s / %s / seed %d: NDCG@%d all %.4f cold %.4f (fit %.1fs)",
                        name,
                        variant,
                        seed,
                        k0,
                        scored_one["all"][f"ndcg@{k0}"],
                        scored_one["cold"][f"ndcg@{k0}"],
                        fit_s,
                    )
                log.info(
                    "recommend: %s / seed %d: %d models scored in one pass, %.1fs",
                    variant,
                    seed,
                    len(models),
                    pass_s,
                )
            for name in model_grids:
                results.setdefault(name, {})[variant] = {
                    seg: {
                        metric: {"seeds": values, **summarise(values)}
                        for metric, values in metrics.items()
                    }
                    for seg, metrics in per_seed[name].items()
                }
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for df in cached.values():
            df.unpersist()
    return chosen, tuning, results


def _best(ndcgs: list[float]) -> int:
    """The first candidate with the largest validation NDCG (the first when none is finite)."""
    best = 0
    for n, value in enumerate(ndcgs):
        if value > ndcgs[best]:
            best = n
    return best


def run(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> RecommendReport:
    """Run the stage (see the module docstring)."""
    began = time.perf_counter()
    rc = cfg.recommend
    ref = resolve_model(spark, lakehouse, cfg)
    run = resolve_run_id(cfg, ref)
    data = load(spark, lakehouse, cfg, run, ref.model_id)
    log.info(
        "recommend: data read in %.1fs: %d users, %d items, %d real train pairs",
        time.perf_counter() - began,
        data.n_users,
        data.n_items,
        len(data.real),
    )
    if data.test.empty or data.validation.empty:
        raise InputError(
            "the silver table has no validation or test events: the temporal split needs users "
            "with enough events (clean.split.min_events_for_holdout); nothing can be scored"
        )
    tail = tail_items(data.item_events, rc.head_share)
    validation = _split(data, data.validation, tail, rc)
    test = _split(data, data.test, tail, rc)
    notes: list[str] = []
    variants: tuple[Variant, ...] = rc.variants
    if data.synthetic_user.empty and "synthetic" in variants:
        variants = tuple(v for v in variants if v != "synthetic")
        notes.append("the run has no synthetic users (an item model): no synthetic-only variant")
    k0 = rc.k[0]
    context = FitContext(spark, lakehouse, cfg.train)
    chosen, tuning, results = _fit_and_score(spark, data, validation, test, variants, rc, context)
    comparisons: dict[str, dict[str, dict[str, Any]]] = {}
    if "real" in variants and "fused" in variants:
        for model_name, by_variant in results.items():
            for seg in SEGMENTS:
                real = by_variant["real"][seg][f"ndcg@{k0}"]["seeds"]
                fused = by_variant["fused"][seg][f"ndcg@{k0}"]["seeds"]
                if not all(map(math.isfinite, real + fused)):
                    continue
                test_ = paired_test(real, fused)
                comparisons.setdefault(model_name, {})[seg] = {
                    "metric": f"ndcg@{k0}",
                    "real_mean": float(np.mean(real)),
                    "fused_mean": float(np.mean(fused)),
                    **test_,
                    "significant": _significant(test_["p_value"], rc.alpha),
                }
    t0 = time.perf_counter()
    interest = _interest(
        spark, lakehouse, run, data, test, cfg.features.profiles.top_k_categories, ref.table
    )
    log.info("recommend: interest tags scored in %.1fs", time.perf_counter() - t0)
    path = lakehouse.run_file(run, "recommend.json")
    report = RecommendReport(
        run_id=run,
        path=path,
        data={
            "users": data.n_users,
            "items": data.n_items,
            "real_pairs": len(data.real),
            "synthetic_user_pairs": len(data.synthetic_user),
            "enrichment_pairs": len(data.enrichment),
            "dropped_pairs": data.dropped_pairs,
            "validation_users": len(validation.users),
            "test_users": len(test.users),
            "test_cold_users": int(test.cold.sum()),
            "test_long_tail_users": int((test.n_tail > 0).sum()),
            "tail_items": int(tail.sum()),
        },
        chosen=chosen,
        tuning=tuning,
        results=results,
        comparisons=comparisons,
        interest=interest,
        settings=rc.model_dump(mode="json"),
        seconds=round(time.perf_counter() - began, 2),
        notes=notes,
    )
    write_json(path, report.to_dict())
    return report


def _significant(p_value: object, alpha: float) -> bool:
    """Whether the paired test's p-value is below ``alpha`` (a p-value of 0 is)."""
    return isinstance(p_value, float) and p_value < alpha
