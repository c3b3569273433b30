"""Silver -> gold end to end: on the simulator and on both real REES46 samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from synth.clean.pipeline import clean
from synth.config.clean import CleanConfig
from synth.config.features import EmbeddingConfig, FeaturesConfig
from synth.config.ingest import Rees46CosmeticsSource, Rees46MultiCategorySource
from synth.config.job import JobConfig, SimulatorSource
from synth.config.simulate import SimulatorConfig
from synth.errors import InputError
from synth.features.pipeline import (
    PROP_FINGERPRINT,
    PROP_SILVER_VERSION,
    build_features,
    features_fingerprint,
)
from synth.ingest.bronze import ingest
from synth.io.delta import read_table, table_properties
from synth.pipeline import run
from synth.schema import GOLD_SCHEMAS, schema_mismatches
from tests.conftest import shared_data

pytestmark = pytest.mark.spark

SMALL = FeaturesConfig(embedding=EmbeddingConfig(dim=8, pca_sample=500))
NO_EMBEDDING = FeaturesConfig(embedding=EmbeddingConfig(enabled=False))


def _check_gold(spark, lakehouse, cfg: FeaturesConfig) -> dict[str, object]:  # noqa: ANN001
    """Invariants every gold build must satisfy; returns a few numbers for the caller."""
    silver = read_table(spark, lakehouse.silver_table())
    train = silver.where(F.col("split") == "train")
    users = read_table(spark, lakehouse.gold_table("user_profiles"))
    items = read_table(spark, lakehouse.gold_table("item_profiles"))
    inter = read_table(spark, lakehouse.gold_table("interactions"))
    sequences = read_table(spark, lakehouse.gold_table("user_sequences"))
    tables = {
        "user_profiles": users,
        "item_profiles": items,
        "interactions": inter,
        "user_sequences": sequences,
    }
    for name, df in tables.items():
        assert schema_mismatches(df.schema, GOLD_SCHEMAS[name]) == [], name
        required = [f.name for f in GOLD_SCHEMAS[name].fields if not f.nullable]
        nulls = df.agg(*[F.count_if(F.col(c).isNull()).alias(c) for c in required]).first()
        assert all(nulls[c] == 0 for c in required), (name, nulls)
    # every train event is counted once in the profiles; every silver event in the interactions
    n_train = train.count()
    assert users.agg(F.sum("n_events")).first()[0] == n_train
    assert items.agg(F.sum("n_events")).first()[0] == n_train
    per_type = inter.agg(
        *[F.sum(f"n_{t}") for t in ("view", "cart", "remove_from_cart", "purchase")]
    ).first()
    assert sum(per_type) == silver.count()
    assert users.count() == train.select("user_id").distinct().count()
    # every train event is in its user's sequence once
    assert sequences.agg(F.sum("length")).first()[0] == n_train
    assert sequences.count() == users.count()
    assert sequences.where(F.size("product_ids") != F.col("length")).count() == 0
    assert items.count() == train.select("product_id").distinct().count()
    dims = {r[0] for r in items.select(F.size("text_embedding")).distinct().collect()}
    assert dims == ({cfg.embedding.dim} if cfg.embedding.enabled else {None})
    shares = users.select(
        F.aggregate(F.map_values("category_shares"), F.lit(0.0), lambda a, v: a + v).alias("s")
    )
    assert shares.where(F.abs(F.col("s") - 1.0) > 1e-9).count() == 0
    return {"users": users.count(), "items": items.count()}


class TestSimulator:
    def test_build_rebuild_and_skip(self, spark, tmp_path):
        # Setup: simulate -> ingest -> clean a small volume
        cfg = JobConfig(
            lakehouse=str(tmp_path / "lake"),
            source=SimulatorSource(simulator=SimulatorConfig(seed=3, events=20_000, days=10)),
            features=SMALL,
        )
        run(spark, cfg, stages=("simulate", "ingest", "clean"))
        from synth.io.delta import Lakehouse

        lakehouse = Lakehouse(cfg.lakehouse)
        # Run
        first = build_features(spark, lakehouse, SMALL)
        # Assert: tables, lineage properties, report, projection artifact
        assert first.rebuilt and first.silver_version == 0
        _check_gold(spark, lakehouse, SMALL)
        for name in GOLD_SCHEMAS:
            props = table_properties(spark, lakehouse.gold_table(name))
            assert props[PROP_SILVER_VERSION] == "0"
            assert props[PROP_FINGERPRINT] == features_fingerprint(SMALL)
        assert first.embedding["texts"] > 0 and first.embedding["dim"] == 8
        projection = json.loads(Path(lakehouse.text_projection_path()).read_text())
        assert len(projection["components"]) == 8
        users_before = sorted(read_table(spark, lakehouse.gold_table("user_profiles")).collect())
        # A second run with the same silver version and config rebuilds nothing
        again = build_features(spark, lakehouse, SMALL)
        assert not again.rebuilt and again.tables == first.tables
        # Forced, it rebuilds the same content
        forced = build_features(spark, lakehouse, SMALL, force=True)
        assert forced.rebuilt
        users_after = sorted(read_table(spark, lakehouse.gold_table("user_profiles")).collect())
        assert users_after == users_before
        # Another config (embeddings off) is a rebuild, recorded in the properties
        off = build_features(spark, lakehouse, NO_EMBEDDING)
        assert off.rebuilt and not off.embedding
        _check_gold(spark, lakehouse, NO_EMBEDDING)

    def test_without_silver_is_a_clear_error(self, spark, lakehouse):
        with pytest.raises(InputError, match="no silver table .* run the clean stage first"):
            build_features(spark, lakehouse, SMALL)


@pytest.mark.data
class TestRealRees46:
    def test_multi_category_sample(self, spark, lakehouse):
        source = Rees46MultiCategorySource(paths=[str(shared_data("rees46-multi-category-store"))])
        ingest(spark, source, lakehouse)
        clean(spark, source, CleanConfig(), lakehouse)
        report = build_features(spark, lakehouse, SMALL)
        seen = _check_gold(spark, lakehouse, SMALL)
        assert seen["users"] > 1_000 and seen["items"] > 1_000
        assert report.items_without_train_events >= 0

    def test_cosmetics_samples_no_category_codes(self, spark, lakehouse):
        source = Rees46CosmeticsSource(paths=[str(shared_data("rees46-cosmetics-shop"))])
        ingest(spark, source, lakehouse)
        clean(spark, source, CleanConfig(), lakehouse)
        build_features(spark, lakehouse, SMALL)
        _check_gold(spark, lakehouse, SMALL)
        items = read_table(spark, lakehouse.gold_table("item_profiles"))
        # the store has few category codes: most items' levels are unknown, and their texts are
        # the brand alone or "product"
        unknown = items.where(F.col("category_l1") == "unknown")
        assert unknown.count() > 0.5 * items.count()
        assert unknown.where(F.col("item_text").contains(" ")).count() < 0.1 * unknown.count()
        known = items.where(F.col("category_l1") != "unknown")
        assert known.where(~F.col("item_text").startswith(F.col("category_l1"))).count() == 0
