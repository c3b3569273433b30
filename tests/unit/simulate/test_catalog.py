"""The hand-written category tree and the catalog plan (pure Python, then tiny Spark)."""

from __future__ import annotations

import math

import pytest
from pyspark.sql import functions as F

from synth.simulate.catalog import CATEGORY_TREE, GROUPS, _category_id, plan_catalog


class TestCategoryTree:
    def test_codes_are_rees46_style_and_unique(self):
        codes = [c.code for c in CATEGORY_TREE if c.code]
        assert len(codes) == len(set(codes))
        assert all(code == code.lower() and 2 <= len(code.split(".")) <= 4 for code in codes)
        assert {"electronics.smartphone", "computers.notebook", "apparel.shoes"} <= set(codes)
        assert "appliances.kitchen.refrigerators" in codes

    def test_a_third_of_traffic_is_uncoded(self):
        total = sum(c.share for c in CATEGORY_TREE)
        uncoded = sum(c.share for c in CATEGORY_TREE if c.code is None) / total
        assert 0.28 < uncoded < 0.38

    def test_expected_missing_brand_share_is_realistic(self):
        total = sum(c.share for c in CATEGORY_TREE)
        missing = sum(c.share * c.no_brand for c in CATEGORY_TREE) / total
        assert 0.10 < missing < 0.18  # real multi-category sample: 14%

    def test_prices_and_brands_are_well_formed(self):
        for c in CATEGORY_TREE:
            assert c.median_price > 0 and 0 < c.price_sigma <= 2, c.name
            assert 0.0 <= c.no_brand <= 1.0, c.name
            assert all("," not in b and b == b.lower() for b in c.brands), c.name
            assert c.group in GROUPS

    def test_category_ids_are_19_digits_and_unique(self):
        ids = [_category_id(c.name) for c in CATEGORY_TREE]
        assert all(len(i) == 19 and i.isdigit() for i in ids)
        assert len(set(ids)) == len(ids)


class TestPlanCatalog:
    def test_sizes_add_up_and_ids_fit(self):
        # Run
        plan = plan_catalog(seed=1, items=50_000)
        # Assert
        assert plan.items == pytest.approx(50_000, rel=0.02)
        assert min(plan.items_per_category) >= 3
        assert plan.id_stride > max(plan.items_per_category)
        assert len(plan._brand_table) == len(plan._brand_premium)

    def test_stride_grows_for_huge_catalogs(self):
        plan = plan_catalog(seed=1, items=5_000_000)
        assert plan.id_stride == 10 ** math.ceil(math.log10(max(plan.items_per_category) + 1))

    def test_brand_premiums_are_centred_per_category(self):
        plan = plan_catalog(seed=1, items=1_000)
        slots = 256
        for index, c in enumerate(plan.categories):
            block = plan._brand_premium[index * slots : (index + 1) * slots]
            assert (1.0 - c.no_brand) * sum(block) / slots == pytest.approx(0.0, abs=1e-3)


@pytest.mark.spark
class TestCatalogColumns:
    def test_products_are_consistent_and_distinct(self, spark):
        # Setup: every (category, rank) of a small catalog
        plan = plan_catalog(seed=9, items=2_000)
        pairs = [(c, r) for c, n in enumerate(plan.items_per_category) for r in range(n)]
        df = spark.createDataFrame(pairs, "c long, r long")
        # Run
        rows = df.select(
            "c",
            plan.product_id(F.col("c"), F.col("r")).alias("pid"),
            plan.price(F.col("c"), F.col("r")).alias("price"),
            plan.brand(F.col("c"), F.col("r")).alias("brand"),
            plan.category_id(F.col("c")).alias("cid"),
            plan.category_code(F.col("c")).alias("code"),
        ).collect()
        # Assert: one id per product, 7-8 digits; prices positive with two decimals
        pids = [r["pid"] for r in rows]
        assert len(set(pids)) == len(pids)
        assert all(1_000_000 <= p < 100_000_000 for p in pids)
        assert all(float(r["price"]) > 0 and len(r["price"].split(".")[1]) == 2 for r in rows)
        smartphone = plan.categories.index(
            next(c for c in plan.categories if c.code == "electronics.smartphone")
        )
        phone_brands = {r["brand"] for r in rows if r["c"] == smartphone}
        assert {"samsung", "apple"} <= phone_brands
        assert {r["code"] for r in rows if plan.categories[r["c"]].code is None} == {None}
