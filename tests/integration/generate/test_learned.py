"""Learned behaviour through fuse: the sequence model writes the synthetic and enrichment events
(profile counts kept, sessions, window, prefix continued), the same events on any partitioning,
and a model trained on other gold versions is refused with a clear message."""

from __future__ import annotations

import pandas as pd
import pytest
from pyspark.sql import functions as F

from synth.config.job import JobConfig
from synth.errors import InputError
from synth.generate.learned import learned_events, resolve_sequence_model
from synth.generate.sampler import ModelBlob
from synth.generate.stage import BehaviourInputs, run_fuse
from synth.io.delta import Lakehouse, read_table
from synth.pipeline import run
from synth.schema import (
    COUNT_COLUMNS,
    ENRICHMENT,
    ORIGIN,
    RUN_ID,
    SYNTHETIC_USER,
    USER_PROFILE_SCHEMA,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def job(spark, gold_lakehouse, tmp_path_factory):  # noqa: ANN001, ANN201
    """A small simulated lakehouse, a VAE and a sequence model, filtered synthetic profiles."""
    root = tmp_path_factory.mktemp("learned") / "lake"
    cfg = JobConfig.model_validate(
        {
            "lakehouse": str(root),
            "source": {"kind": "simulator", "simulator": {"seed": 5, "events": 15_000, "days": 10}},
            "features": {"embedding": {"dim": 8, "pca_sample": 500}},
            "train": {
                "train": {"epochs": 2, "batch_size": 100, "patience": 0},
                "vae": {"latent": 8, "hidden": [32]},
                "encoder_sample_rows": 2_000,
                "cache_rows_per_file": 500,
                "sample_rows": 300,
                "sequence": {
                    "train": {"epochs": 3, "batch_size": 64, "patience": 0},
                    "params": {"max_len": 16, "hidden": 32, "item_dim": 8, "negatives": 8},
                    "holdout_rows": 100,
                },
            },
            "synthesize": {
                "run_id": "l1",
                "rows": 400,
                "block_rows": 200,
                # the filters are tested elsewhere: here every sampled profile gets events
                "filters": {
                    "validity": {"enabled": False},
                    "realism": {"enabled": False},
                    "privacy": {"enabled": False},
                },
                "fusion": {"behaviour": {"model": "learned"}},
            },
        }
    )
    gold_lakehouse(cfg)  # simulate -> features (tests/integration/conftest.py)
    run(spark, cfg, stages=("train", "synthesize", "filter"))
    return cfg


def test_fuse_writes_learned_events_that_keep_each_profile(spark, job) -> None:  # noqa: ANN001
    lakehouse = Lakehouse(job.lakehouse)
    report = run_fuse(spark, lakehouse, job)
    assert report.behaviour == "learned" and report.sequence_model_id.startswith("user_seq")
    assert report.events.get(SYNTHETIC_USER, 0) > 0, report.summary()
    assert report.events.get(ENRICHMENT, 0) > 0, report.summary()
    # the copied-run check ran, calibrated on the holdout users
    assert report.copies["holdout_users"] > 0 and report.copies["holdout_shares"]
    if report.copies["length"] is not None:
        assert 0 <= report.copies["synthetic_share"] <= 1
    assert set(report.rejected_events) <= {"outside_real_window", "copied_run"}
    events = read_table(spark, lakehouse.synthetic_table("events")).where(F.col(RUN_ID) == "l1")
    synthetic = events.where(F.col(ORIGIN) == SYNTHETIC_USER)
    kept = read_table(spark, lakehouse.synthetic_table("user_profiles")).where(
        (F.col(RUN_ID) == "l1") & F.col("rejected_reason").isNull()
    )
    # each synthetic user has exactly its profile's views and carts among the events drawn
    # (kept, or rejected for a time outside the real window: nothing is lost)
    rejected_events = read_table(spark, lakehouse.synthetic_table("events_rejected"))
    drawn = synthetic.select("user_id", "event_type", "event_time", "user_session").unionByName(
        rejected_events.where((F.col(RUN_ID) == "l1") & (F.col(ORIGIN) == SYNTHETIC_USER)).select(
            "user_id", "event_type", "event_time", "user_session"
        )
    )
    counts = (
        drawn.groupBy("user_id")
        .agg(
            F.count_if(F.col("event_type") == "view").alias("v"),
            F.count_if(F.col("event_type") == "cart").alias("c"),
            F.countDistinct("user_session").alias("s"),
            F.min("event_time").alias("t0"),
            F.max("event_time").alias("t1"),
        )
        .toPandas()
    )
    profiles = kept.select(
        "user_id",
        "n_view",
        "n_cart",
        (sum(F.col(c) for c in COUNT_COLUMNS)).alias("total"),
        "n_sessions",
        "first_seen",
        "last_seen",
    )
    both = profiles.toPandas().merge(counts, on="user_id", how="left")
    has = both["total"] > 0
    assert (both.loc[has, "v"] == both.loc[has, "n_view"]).all()
    assert (both.loc[has, "c"] == both.loc[has, "n_cart"]).all()
    sessions = both["n_sessions"].clip(lower=1, upper=both["total"])
    assert (both.loc[has, "s"] == sessions[has]).all()
    assert (both.loc[has, "t0"] == both.loc[has, "first_seen"]).mean() > 0.95
    assert (both.loc[has, "t1"] <= both.loc[has, "last_seen"]).mean() > 0.95
    # enrichment: every sparse user is brought to the target with continued events
    target = job.synthesize.fusion.enrich.target_events
    enriched = events.where(F.col(ORIGIN) == ENRICHMENT).groupBy("user_id").count().toPandas()
    gold = read_table(spark, lakehouse.gold_table("user_profiles")).select("user_id", "n_events")
    sparse = gold.where(F.col("n_events") <= 3).toPandas().merge(enriched, on="user_id")
    assert len(sparse) > 0 and (sparse["n_events"] + sparse["count"] == target).mean() > 0.95


def _events(spark, job, partitions: int) -> pd.DataFrame:  # noqa: ANN001
    lakehouse = Lakehouse(job.lakehouse)
    ref = resolve_sequence_model(spark, lakehouse, job)
    inputs = BehaviourInputs.read(spark, lakehouse, job)
    users = read_table(spark, lakehouse.gold_table("user_profiles")).select(
        *USER_PROFILE_SCHEMA.names
    )
    df = learned_events(
        users.limit(700),
        ModelBlob.from_dir(ref.model_dir),
        inputs.catalog,
        seed=3,
        source="s",
        source_file="f",
        enrich=False,
        window_hi_ns=0,
        partitions=partitions,
        block_users=100,  # 7 blocks: spread over 1 or 4 partitions
    )
    return df.toPandas().sort_values(["user_id", "event_time", "product_id"]).reset_index(drop=True)


def test_the_same_events_on_any_partitioning(spark, job) -> None:  # noqa: ANN001
    one, four = _events(spark, job, 1), _events(spark, job, 4)
    assert len(one) > 0
    pd.testing.assert_frame_equal(one, four)


def test_a_model_for_other_gold_versions_is_refused(spark, job) -> None:  # noqa: ANN001
    lakehouse = Lakehouse(job.lakehouse)
    changed = job.model_copy(
        update={
            "train": job.train.model_copy(
                update={"sequence": job.train.sequence.model_copy(update={"holdout_rows": 101})}
            )
        }
    )
    with pytest.raises(InputError, match=r"no sequence model trained on the current gold"):
        resolve_sequence_model(spark, lakehouse, changed)
