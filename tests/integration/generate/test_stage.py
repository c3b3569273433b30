"""Synthesize -> filter -> fuse on local Spark: determinism, conditions, accounting, MERGE."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import functions as F

from synth.config.job import JobConfig
from synth.errors import InputError, InvalidDataError
from synth.evaluate import stage as evaluate_stage
from synth.generate import stage as gstage
from synth.generate.filters import Reason
from synth.generate.sampler import ModelBlob, sample_flat, synthetic_id
from synth.generate.stage import run_filter, run_fuse, run_synthesize
from synth.io.delta import Lakehouse, read_table, table_version
from synth.models.encoding import TableEncoder
from synth.pipeline import run
from synth.recommend import stage as recommend_stage
from synth.refs import resolve_model, resolve_run_id
from synth.schema import FUSED_PROVENANCE, REJECTED_REASON, ROW, RUN_ID, USER_PROFILE_SCHEMA

pytestmark = pytest.mark.spark

ROWS, NEW_ROWS = 1_500, 120


@pytest.fixture(scope="module")
def job(spark, gold_lakehouse, tmp_path_factory):  # noqa: ANN001, ANN201
    """A small simulated lakehouse with a (barely) trained user-profile VAE."""
    root = tmp_path_factory.mktemp("generate") / "lake"
    cfg = JobConfig.model_validate(
        {
            "lakehouse": str(root),
            "source": {"kind": "simulator", "simulator": {"seed": 5, "events": 20_000, "days": 10}},
            "features": {"embedding": {"enabled": False}},
            "train": {
                "train": {
                    "epochs": 3,
                    "batch_size": 100,
                    "seed": 0,
                    "patience": 0,
                    "validation_fraction": 0.0,
                },
                "vae": {"latent": 8, "hidden": [32]},
                "encoder_sample_rows": 2_000,
                "cache_rows_per_file": 500,
                "sample_rows": 300,
            },
            "synthesize": {
                "run_id": "t1",
                "rows": ROWS,
                "block_rows": 400,
                "conditions": [{"where": {"lifecycle": "new"}, "rows": NEW_ROWS}],
                "filters": {
                    "realism": {"sample_rows": 500, "quality_rows": 300, "threshold": 0.999},
                    "privacy": {"reference_rows": 300, "holdout_rows": 100},
                },
            },
        }
    )
    gold_lakehouse(cfg)  # simulate -> features (tests/integration/conftest.py)
    run(spark, cfg, stages=("train",))
    return cfg


def _flat(spark, cfg: JobConfig, partitions: int, seed: int = 0) -> pd.DataFrame:  # noqa: ANN001
    ref = resolve_model(spark, Lakehouse(cfg.lakehouse), cfg)
    blob = ModelBlob.from_dir(ref.model_dir)
    encoder = TableEncoder.from_json(blob.files["encoder.json"].decode())
    df = sample_flat(
        spark,
        blob,
        encoder,
        USER_PROFILE_SCHEMA,
        groups=[700, 50],
        conditions=[{}, {"lifecycle": "new"}],
        seed=seed,
        block_rows=100,
        partitions=partitions,
        array_lengths={"hour_shares": 24, "weekday_shares": 7},
    )
    frame = df.toPandas().sort_values(ROW).reset_index(drop=True)
    frame["category_shares"] = frame["category_shares"].map(
        lambda v: sorted(v) if v is not None else None
    )
    for column in ("hour_shares", "weekday_shares"):
        assert frame[column].map(len).eq(24 if column == "hour_shares" else 7).all()
        frame[column] = frame[column].map(list)
    return frame


class TestSampling:
    def test_output_is_the_same_for_any_number_of_partitions(self, spark, job):
        # Run
        one, five = _flat(spark, job, 1), _flat(spark, job, 5)
        other_seed = _flat(spark, job, 2, seed=1)
        # Assert
        assert list(one[ROW]) == list(range(750))
        pd.testing.assert_frame_equal(one, five)
        assert not one["n_events"].equals(other_seed["n_events"])
        assert (one[ROW] >= 700).sum() == 50 and (
            one.loc[one[ROW] >= 700, "lifecycle"] == "new"
        ).all()

    def test_synthesize_writes_conditions_and_non_colliding_ids(self, spark, job):
        lakehouse = Lakehouse(job.lakehouse)
        # Run
        report = run_synthesize(spark, lakehouse, job)
        # Assert
        raw = read_table(spark, lakehouse.synthetic_table("user_profiles_raw")).toPandas()
        assert report.rows == len(raw) == ROWS + NEW_ROWS and report.run_id == "t1"
        assert (raw.loc[raw[ROW] >= ROWS, "lifecycle"] == "new").all()
        assert (raw["user_id"] < 0).all() and raw["user_id"].is_unique
        expected = [synthetic_id("t1", r) for r in range(ROWS + NEW_ROWS)]
        assert list(raw.sort_values(ROW)["user_id"]) == expected
        # derived columns follow their definitions
        kinds = ["n_view", "n_cart", "n_remove_from_cart", "n_purchase"]
        assert (raw[kinds].sum(axis=1) == raw["n_events"]).all()
        assert (raw["first_seen"] <= raw["last_seen"]).all()
        # gold schema (with its comments) plus the run columns
        table = read_table(spark, lakehouse.synthetic_table("user_profiles_raw"))
        for field in USER_PROFILE_SCHEMA.fields:
            assert table.schema[field.name].dataType == field.dataType

    def test_rerunning_a_run_id_replaces_its_rows(self, spark, job):
        lakehouse = Lakehouse(job.lakehouse)
        path = lakehouse.synthetic_table("user_profiles_raw")
        before = read_table(spark, path).orderBy(ROW).toPandas()
        # Run
        run_synthesize(spark, lakehouse, job)
        # Assert: same rows, not twice as many
        after = read_table(spark, path).orderBy(ROW).toPandas()
        pd.testing.assert_frame_equal(
            before.drop(
                columns=[
                    "category_shares",
                    "hour_shares",
                    "weekday_shares",
                    "top_categories",
                    "top_brands",
                ]
            ),
            after.drop(
                columns=[
                    "category_shares",
                    "hour_shares",
                    "weekday_shares",
                    "top_categories",
                    "top_brands",
                ]
            ),
        )


class TestConditionTable:
    def test_a_delta_condition_table_adds_rows_per_condition(self, spark, job, tmp_path):
        # Setup: two conditions
        path = str(tmp_path / "conditions")
        spark.createDataFrame(
            [("new", 40), ("active", 30)], "lifecycle string, rows long"
        ).write.format("delta").save(path)
        data = job.model_dump(mode="json")
        data["synthesize"].update(run_id="ct", rows=0, conditions=[], conditions_table=path)
        cfg = JobConfig.model_validate(data)
        lakehouse = Lakehouse(cfg.lakehouse)
        # Run
        report = run_synthesize(spark, lakehouse, cfg)
        # Assert: sorted order (active first), each group's rows meet its condition
        raw = (
            read_table(spark, lakehouse.synthetic_table("user_profiles_raw"))
            .where(F.col(RUN_ID) == "ct")
            .toPandas()
        )
        assert report.groups == [0, 30, 40] and len(raw) == 70
        assert (raw.loc[raw[ROW] < 30, "lifecycle"] == "active").all()
        assert (raw.loc[raw[ROW] >= 30, "lifecycle"] == "new").all()

    def test_a_condition_table_without_rows_is_refused(self, spark, job, tmp_path):
        path = str(tmp_path / "bad_conditions")
        spark.createDataFrame([("new",)], "lifecycle string").write.format("delta").save(path)
        data = job.model_dump(mode="json")
        data["synthesize"].update(run_id="ct2", conditions_table=path)
        with pytest.raises(InvalidDataError, match="no `rows` column"):
            run_synthesize(spark, Lakehouse(job.lakehouse), JobConfig.model_validate(data))


class TestFilter:
    def test_every_raw_row_is_kept_or_has_a_reason(self, spark, job):
        lakehouse = Lakehouse(job.lakehouse)
        run_synthesize(spark, lakehouse, job)
        # Run
        report = run_filter(spark, lakehouse, job)
        # Assert
        assert report.raw_rows == ROWS + NEW_ROWS
        assert report.kept_rows + sum(report.removed.values()) == report.raw_rows
        table = read_table(spark, lakehouse.synthetic_table("user_profiles"))
        table = table.where(F.col(RUN_ID) == "t1")
        reasons = {r[0] for r in table.select(REJECTED_REASON).distinct().collect()} - {None}
        known = {v for k, v in vars(Reason).items() if not k.startswith("_")}
        assert reasons <= known
        assert report.constraints and any("<=" in c for c in report.constraints)
        assert report.privacy["threshold"] is not None and report.privacy["threshold"] > 0
        assert set(report.realism) >= {"threshold", "quality_before", "quality_after"}
        kept = table.where(F.col(REJECTED_REASON).isNull()).toPandas()
        assert len(kept) == report.kept_rows
        assert kept["realism_score"].le(job.synthesize.filters.realism.threshold).all()
        assert kept["dcr"].ge(report.privacy["threshold"]).all()

    def test_copies_of_training_rows_are_removed_as_exact_copies(self, spark, job):
        lakehouse = Lakehouse(job.lakehouse)
        ref = resolve_model(spark, lakehouse, job)
        real, _ = gstage.real_split(spark, ref)
        copies = real.orderBy("user_id").limit(5)
        # a raw partition of five verbatim training rows, under its own run id
        rows = copies.select(
            *USER_PROFILE_SCHEMA.names,
            F.monotonically_increasing_id().alias(ROW),
            F.lit("copies").alias(RUN_ID),
            F.lit(ref.model_id).alias("model_id"),
        )
        raw = read_table(spark, lakehouse.synthetic_table("user_profiles_raw"))
        target = lakehouse.synthetic_table("user_profiles_raw")
        writer = rows.select(*raw.columns).write.format("delta").mode("overwrite")
        writer.option("replaceWhere", "run_id = 'copies'").save(target)
        cfg = job.model_copy(
            update={"synthesize": job.synthesize.model_copy(update={"run_id": "copies"})}
        )
        # Run
        report = run_filter(spark, lakehouse, cfg)
        # Assert
        assert report.kept_rows == 0 and report.removed == {Reason.EXACT_COPY: 5}


class TestFuse:
    def test_fused_tables_are_idempotent_per_run_and_keep_provenance(self, spark, job):
        lakehouse = Lakehouse(job.lakehouse)
        run_synthesize(spark, lakehouse, job)
        filtered = run_filter(spark, lakehouse, job)
        # Run
        report = run_fuse(spark, lakehouse, job)
        # Assert: provenance and counts
        users = (
            read_table(spark, lakehouse.fused_table("user_profiles"))
            .where(F.col(RUN_ID) == "t1")
            .toPandas()
        )
        fused_schema = read_table(spark, lakehouse.fused_table("user_profiles")).schema
        assert fused_schema.names == USER_PROFILE_SCHEMA.names + FUSED_PROVENANCE.names
        for field in [*USER_PROFILE_SCHEMA.fields, *FUSED_PROVENANCE.fields]:
            assert fused_schema[field.name].dataType == field.dataType
        gold_users = read_table(spark, lakehouse.gold_table("user_profiles")).count()
        assert (~users["is_synthetic"]).sum() == gold_users
        assert users["is_synthetic"].sum() == filtered.kept_rows == report.synthetic_rows > 0
        synthetic = users[users["is_synthetic"]]
        assert (synthetic["user_id"] < 0).all() and (synthetic["model_id"].notna()).all()
        enriched = users[users["enriched"]]
        assert len(enriched) == report.enriched_users > 0
        assert (enriched["n_events"] == job.synthesize.fusion.enrich.target_events).all()
        assert users.loc[~users["is_synthetic"] & ~users["enriched"], "model_id"].isna().all()
        events = read_table(spark, lakehouse.synthetic_table("events")).where(F.col(RUN_ID) == "t1")
        item_ids = read_table(spark, lakehouse.gold_table("item_profiles")).select("product_id")
        assert events.join(item_ids, "product_id", "left_anti").count() == 0
        origins = {r[0]: r[1] for r in events.groupBy("origin").count().collect()}
        assert origins == report.events
        assert (
            events.where((F.col("origin") == "synthetic_user") & (F.col("user_id") >= 0)).count()
            == 0
        )
        # Run again: the same state
        path = lakehouse.fused_table("user_profiles")
        before = users.sort_values("user_id").reset_index(drop=True)
        run_fuse(spark, lakehouse, job)
        again = read_table(spark, path).where(F.col(RUN_ID) == "t1").toPandas()
        again = again.sort_values("user_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(
            before.drop(columns=["category_shares"]), again.drop(columns=["category_shares"])
        )

    def test_a_failed_fuse_leaves_the_previous_state(self, spark, job, monkeypatch):
        lakehouse = Lakehouse(job.lakehouse)
        path = lakehouse.fused_table("user_profiles")
        if not Path(path, "_delta_log").exists():
            run_synthesize(spark, lakehouse, job)
            run_filter(spark, lakehouse, job)
            run_fuse(spark, lakehouse, job)
        version = table_version(spark, path)
        rows = read_table(spark, path).count()
        real_provenance = gstage._provenance

        def failing(df, **kwargs):  # noqa: ANN001, ANN003, ANN202
            out = real_provenance(df, **kwargs)
            boom = F.raise_error(F.lit("injected failure"))
            return out.withColumn("weight", F.when(F.col("weight") >= 0, boom))

        monkeypatch.setattr(gstage, "_provenance", failing)
        # Run
        with pytest.raises(Exception, match="injected failure"):
            run_fuse(spark, lakehouse, job)
        # Assert
        assert table_version(spark, path) == version
        assert read_table(spark, path).count() == rows


class TestBadInputs:
    def test_no_trained_model_names_the_folder(self, spark, job, tmp_path):
        cfg = job.model_copy(
            update={
                "synthesize": job.synthesize.model_copy(
                    update={"model_dir": str(tmp_path / "nowhere")}
                )
            }
        )
        with pytest.raises(InputError, match="nowhere.*run the `train` stage"):
            run_synthesize(spark, Lakehouse(job.lakehouse), cfg)

    def test_a_condition_on_a_continuous_column_is_refused(self, spark, job):
        data = job.model_dump(mode="json")
        data["synthesize"]["conditions"] = [{"where": {"monetary": 1.0}, "rows": 5}]
        cfg = JobConfig.model_validate(data)
        with pytest.raises(InvalidDataError, match="monetary.*continuous"):
            run_synthesize(spark, Lakehouse(job.lakehouse), cfg)

    def test_an_impossible_condition_is_refused_on_the_driver(self, spark, job):
        data = job.model_dump(mode="json")
        data["synthesize"]["conditions"] = [{"where": {"lifecycle": "never"}, "rows": 5}]
        with pytest.raises(InvalidDataError, match=r"lifecycle.*never.*0\.00% of 2,000"):
            run_synthesize(spark, Lakehouse(job.lakehouse), JobConfig.model_validate(data))

    def test_each_stage_names_the_stage_to_run_first(self, spark, job, tmp_path):
        # the trained model, but a lakehouse without synthetic tables
        model_dir = resolve_model(spark, Lakehouse(job.lakehouse), job).model_dir
        data = job.model_dump(mode="json")
        data["lakehouse"] = str(tmp_path / "other")
        data["synthesize"]["model_dir"] = model_dir
        cfg = JobConfig.model_validate(data)
        with pytest.raises(InputError, match="user_profiles_raw does not exist.*`synthesize`"):
            run_filter(spark, Lakehouse(cfg.lakehouse), cfg)
        with pytest.raises(InputError, match="user_profiles does not exist.*`filter`"):
            run_fuse(spark, Lakehouse(cfg.lakehouse), cfg)
        with pytest.raises(InputError, match="silver/events does not exist.*`clean`"):
            recommend_stage.run(spark, Lakehouse(cfg.lakehouse), cfg)
        with pytest.raises(InputError, match="user_profiles does not exist.*`filter`"):
            evaluate_stage.run(spark, Lakehouse(cfg.lakehouse), cfg)

    def test_verdict_stages_of_a_run_without_rows_name_the_stage(self, spark, job, tmp_path):
        # the lakehouse has synthetic tables (run t1, re-run here: same rows), none of this run id
        run_synthesize(spark, Lakehouse(job.lakehouse), job)
        run_filter(spark, Lakehouse(job.lakehouse), job)
        cfg = job.model_copy(
            update={"synthesize": job.synthesize.model_copy(update={"run_id": "never-run"})}
        )
        with pytest.raises(InputError, match="run 'never-run'.*`filter` stage"):
            evaluate_stage.run(spark, Lakehouse(cfg.lakehouse), cfg)
        with pytest.raises(InputError, match="run the `fuse` stage"):
            recommend_stage.run(spark, Lakehouse(cfg.lakehouse), cfg)
        # a model trained without a holdout: no real rows it never saw to measure privacy on
        model_dir = tmp_path / "no_holdout"
        shutil.copytree(resolve_model(spark, Lakehouse(job.lakehouse), job).model_dir, model_dir)
        artifact = json.loads((model_dir / "artifact.json").read_text())
        artifact["config"]["holdout_fraction"] = 0.0
        (model_dir / "artifact.json").write_text(json.dumps(artifact))
        cfg = job.model_copy(
            update={"synthesize": job.synthesize.model_copy(update={"model_dir": str(model_dir)})}
        )
        with pytest.raises(InputError, match="trained without a holdout.*retrain with a holdout"):
            evaluate_stage.run(spark, Lakehouse(cfg.lakehouse), cfg)

    def test_condition_table_rows_are_checked(self, spark, job, tmp_path):
        data = job.model_dump(mode="json")
        data["synthesize"].update(run_id="ct3", conditions_table=str(tmp_path / "absent"))
        with pytest.raises(InputError, match="absent is not a Delta table"):
            run_synthesize(spark, Lakehouse(job.lakehouse), JobConfig.model_validate(data))
        path = str(tmp_path / "zero_rows")
        spark.createDataFrame([("new", 0)], "lifecycle string, rows long").write.format(
            "delta"
        ).save(path)
        data["synthesize"]["conditions_table"] = path
        with pytest.raises(InvalidDataError, match="row 0 .*needs rows >= 1"):
            run_synthesize(spark, Lakehouse(job.lakehouse), JobConfig.model_validate(data))

    def test_filter_before_synthesize_says_what_to_run(self, spark, job, tmp_path):
        cfg = job.model_copy(update={"lakehouse": str(tmp_path / "empty")})
        with pytest.raises(InputError, match="features"):
            run_filter(spark, Lakehouse(cfg.lakehouse), cfg)

    def test_default_run_id_names_the_model_and_seed(self, spark, job):
        cfg = job.model_copy(
            update={"synthesize": job.synthesize.model_copy(update={"run_id": None})}
        )
        ref = resolve_model(spark, Lakehouse(job.lakehouse), cfg)
        assert resolve_run_id(cfg, ref) == f"{ref.model_id}-s0"


class TestItemModel:
    def test_an_item_model_adds_synthetic_items_to_the_fused_catalog(self, spark, job):
        # Setup: an item-profile model on the same lakehouse
        from synth.train.stage import train

        data = job.model_dump(mode="json")
        data["train"]["table"] = "item_profiles"
        data["synthesize"].update(run_id="items", rows=300, conditions=[])
        cfg = JobConfig.model_validate(data)
        lakehouse = Lakehouse(cfg.lakehouse)
        train(spark, lakehouse, cfg.train)
        # Run
        run_synthesize(spark, lakehouse, cfg)
        filtered = run_filter(spark, lakehouse, cfg)
        run_fuse(spark, lakehouse, cfg)
        # Assert
        items = (
            read_table(spark, lakehouse.fused_table("item_profiles"))
            .where(F.col(RUN_ID) == "items")
            .toPandas()
        )
        synthetic = items[items["is_synthetic"]]
        assert len(synthetic) == filtered.kept_rows
        assert (synthetic["product_id"] < 0).all() and synthetic["item_text"].str.len().gt(0).all()
        assert (synthetic["price_min"] <= synthetic["price_max"]).all()
        gold_items = read_table(spark, lakehouse.gold_table("item_profiles")).count()
        assert (~items["is_synthetic"]).sum() == gold_items
