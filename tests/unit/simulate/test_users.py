"""User segments and the user / session id columns."""

from __future__ import annotations

import re

import pytest
from pyspark.sql import functions as F

from synth.simulate.catalog import CATEGORY_TREE
from synth.simulate.users import (
    SEGMENTS,
    USER_ID_BASE,
    fit_segment_weights,
    plan_users,
    session_uuid,
)

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class TestFitSegmentWeights:
    def test_mixture_matches_the_tree_shares(self):
        # Run
        weights = fit_segment_weights(CATEGORY_TREE, SEGMENTS)
        # Assert: mixing the segments by user share gives back the category shares
        total = sum(c.share for c in CATEGORY_TREE)
        seg_total = sum(s.share for s in SEGMENTS)
        for i, c in enumerate(CATEGORY_TREE):
            mix = sum(s.share / seg_total * w[i] for s, w in zip(SEGMENTS, weights, strict=True))
            assert mix == pytest.approx(c.share / total, rel=1e-3)

    def test_segments_prefer_their_groups(self):
        weights = fit_segment_weights(CATEGORY_TREE, SEGMENTS)
        names = [s.name for s in SEGMENTS]
        tech, casual = weights[names.index("tech")], weights[names.index("casual")]
        electronics = [i for i, c in enumerate(CATEGORY_TREE) if c.group == "computers"]
        assert sum(tech[i] for i in electronics) > 1.5 * sum(casual[i] for i in electronics)


@pytest.mark.spark
class TestUserColumns:
    def test_user_ids_are_unique_nine_digit(self, spark):
        model = plan_users(5, CATEGORY_TREE)
        ids = [r[0] for r in spark.range(5000).select(model.user_id(F.col("id"))).collect()]
        assert len(set(ids)) == len(ids)
        assert all(USER_ID_BASE <= i < USER_ID_BASE + 100_000_000 for i in ids)

    def test_session_uuid_is_uuid4_like_and_unique(self, spark):
        df = (
            spark.range(300)
            .select(F.col("id").alias("u"))
            .crossJoin(spark.range(3).select(F.col("id").alias("s")))
        )
        values = [r[0] for r in df.select(session_uuid(1, F.col("u"), F.col("s"))).collect()]
        assert all(UUID4.match(v) for v in values)
        assert len(set(values)) == len(values)
