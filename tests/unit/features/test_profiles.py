"""Parity: every gold feature computed by Spark equals a small pandas reference on hand-written
events (exact for counts, ids and tags; 1e-9 relative for floats)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from synth.config.features import InteractionConfig, ProfileConfig
from synth.features.profiles import (
    interactions,
    item_profiles,
    top_categories,
    train_split,
    user_profiles,
)
from synth.schema import (
    INTERACTIONS_SCHEMA,
    ITEM_PROFILE_SCHEMA,
    USER_PROFILE_SCHEMA,
    schema_mismatches,
)
from tests.factories import make_silver, silver_event

pytestmark = pytest.mark.spark

T0 = datetime(2019, 10, 1, 0, 0, 0)  # a Tuesday


def _t(days: float = 0, hours: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours, seconds=seconds)


def _events() -> list[dict[str, object]]:
    e = silver_event
    return [
        # user 1: two sessions, a cart and a purchase, two categories, one unknown brand
        e(user_id=1, user_session="a", event_time=_t(0, 1), product_id=100, price=10.0),
        e(
            user_id=1,
            user_session="a",
            event_time=_t(0, 1, 30),
            product_id=100,
            price=10.0,
            event_type="cart",
        ),
        e(
            user_id=1,
            user_session="a",
            event_time=_t(0, 1, 90),
            product_id=100,
            price=12.0,
            event_type="purchase",
            price_rel_category_median=1.2,
        ),
        e(
            user_id=1,
            user_session="b",
            event_time=_t(3, 20),
            product_id=200,
            category_id=8,
            category_code="apparel.shoes.keds",
            brand="unknown",
            price=55.5,
            price_rel_category_median=0.8,
        ),
        e(
            user_id=1,
            user_session="b",
            event_time=_t(3, 20, 5),
            product_id=201,
            category_id=8,
            category_code="apparel.shoes.keds",
            brand="nike",
            price=80.0,
            price_rel_category_median=1.5,
        ),
        # user 1's later events are not train: not in profiles, but in interactions
        e(user_id=1, user_session="c", event_time=_t(9, 2), product_id=100, split="validation"),
        e(
            user_id=1,
            user_session="c",
            event_time=_t(9, 3),
            product_id=300,
            split="test",
            event_type="purchase",
            price=3.0,
        ),
        # user 2: views only, unknown category code, a remove_from_cart
        e(
            user_id=2,
            user_session="z",
            event_time=_t(5, 23, 59),
            product_id=300,
            category_id=-1,
            category_code="unknown",
            brand="unknown",
            price=3.0,
            price_rel_category_median=1.0,
        ),
        e(
            user_id=2,
            user_session="z",
            event_time=_t(5, 23, 60),
            product_id=300,
            category_id=-1,
            category_code="unknown",
            brand="unknown",
            price=3.5,
            event_type="remove_from_cart",
        ),
        # user 3: one purchase without a view (rates null), on day 8 (new)
        e(
            user_id=3,
            user_session="q",
            event_time=_t(8, 12),
            product_id=201,
            category_id=8,
            category_code="apparel.shoes.keds",
            brand="nike",
            price=70.0,
            event_type="purchase",
            price_rel_category_median=1.3,
        ),
        # user 4: only validation events (no profile)
        e(user_id=4, user_session="v", event_time=_t(9, 5), product_id=400, split="validation"),
    ]


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return pd.DataFrame(_events())


@pytest.fixture(scope="module")
def silver(spark, events):  # noqa: ANN001, ANN201
    return make_silver(spark, _events())


def _epoch(ts: pd.Series) -> pd.Series:
    return (ts - pd.Timestamp("1970-01-01")).dt.total_seconds()


def _top(counts: pd.Series, k: int) -> list[object]:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [key for key, _ in items[:k]]


def _std(values: pd.Series) -> float | None:
    return float(values.std(ddof=1)) if len(values) >= 2 else None


def _mean_or_none(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None


def reference_users(events: pd.DataFrame, cfg: ProfileConfig) -> pd.DataFrame:
    train = events[events.split == "train"].copy()
    train["secs"] = _epoch(train.event_time)
    ref = train.secs.max()
    rows = []
    for user, g in train.groupby("user_id"):
        n = len(g)
        count = {
            t: int((g.event_type == t).sum())
            for t in ("view", "cart", "remove_from_cart", "purchase")
        }
        views, buys = g[g.event_type == "view"], g[g.event_type == "purchase"]
        l1 = g.category_code.map(lambda c: "unknown" if c == "unknown" else c.split(".")[0])
        hours = ((g.secs % 86_400) // 3_600).astype(int)
        weekdays = ((g.secs // 86_400 + 3) % 7).astype(int)
        first, last = g.secs.min(), g.secs.max()
        rows.append(
            {
                "user_id": user,
                "n_events": n,
                **{f"n_{t}": c for t, c in count.items()},
                "n_sessions": g.user_session.nunique(),
                "events_per_session": n / g.user_session.nunique(),
                "n_items": g.product_id.nunique(),
                "n_categories": g.category_id.nunique(),
                "first_seen": g.event_time.min(),
                "last_seen": g.event_time.max(),
                "recency_days": (ref - last) / 86_400,
                "tenure_days": (last - first) / 86_400,
                "monetary": float(buys.price.sum()),
                "cart_rate": count["cart"] / count["view"] if count["view"] else None,
                "purchase_rate": count["purchase"] / count["view"] if count["view"] else None,
                "category_shares": {k: v / n for k, v in l1.value_counts().items()},
                "top_categories": _top(g.category_id.value_counts(), cfg.top_k_categories),
                "top_brands": _top(g[g.brand != "unknown"].brand.value_counts(), cfg.top_k_brands),
                "view_price_mean": _mean_or_none(views.price),
                "view_price_median": float(views.price.median()) if len(views) else None,
                "view_price_std": _std(views.price),
                "view_price_rel_category": _mean_or_none(views.price_rel_category_median),
                "purchase_price_mean": _mean_or_none(buys.price),
                "purchase_price_median": float(buys.price.median()) if len(buys) else None,
                "purchase_price_std": _std(buys.price),
                "purchase_price_rel_category": _mean_or_none(buys.price_rel_category_median),
                "hour_shares": [float((hours == h).sum()) / n for h in range(24)],
                "weekday_shares": [float((weekdays == d).sum()) / n for d in range(7)],
                "lifecycle": "new"
                if first >= ref - cfg.new_days * 86_400
                else "active"
                if last >= ref - cfg.active_days * 86_400
                else "lapsing",
            }
        )
    return pd.DataFrame(rows).set_index("user_id").sort_index()


def _close(a: object, b: object) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple, np.ndarray)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _assert_frames_match(spark_df: pd.DataFrame, ref: pd.DataFrame) -> None:
    assert list(spark_df.index) == list(ref.index)
    for column in ref.columns:
        for key in ref.index:
            got, want = spark_df.at[key, column], ref.at[key, column]
            got = (
                None
                if got is not None
                and not isinstance(got, (list, dict, np.ndarray))
                and pd.isna(got)
                else got
            )
            want = (
                None
                if want is not None and not isinstance(want, (list, dict)) and pd.isna(want)
                else want
            )
            if isinstance(got, pd.Timestamp):
                got = got.to_pydatetime()
            if isinstance(want, pd.Timestamp):
                want = want.to_pydatetime()
            assert _close(got, want), f"{column} of {key}: spark {got!r} != pandas {want!r}"


class TestUserProfiles:
    def test_every_feature_matches_pandas(self, silver, events):
        # Setup
        cfg = ProfileConfig(top_k_categories=2, top_k_brands=2)
        # Run
        out = user_profiles(train_split(silver), cfg)
        rows = [r.asDict(recursive=True) for r in out.collect()]
        got = pd.DataFrame(rows).set_index("user_id").sort_index()
        # Assert
        assert schema_mismatches(out.schema, USER_PROFILE_SCHEMA) == []
        _assert_frames_match(got, reference_users(events, cfg))

    def test_top_categories_alone_equal_the_profile_column(self, silver, events):
        # Setup
        cfg = ProfileConfig(top_k_categories=2)
        train = train_split(silver)
        # Run
        alone = {r.user_id: list(r.top_categories) for r in top_categories(train, 2).collect()}
        profiled = {
            r.user_id: list(r.top_categories)
            for r in user_profiles(train, cfg).select("user_id", "top_categories").collect()
        }
        # Assert: the same users and tags, and those of the pandas reference
        assert alone == profiled
        reference = reference_users(events, cfg)["top_categories"]
        assert alone == {int(u): list(t) for u, t in reference.items()}

    def test_users_without_train_events_have_no_row(self, silver):
        ids = {r.user_id for r in user_profiles(train_split(silver), ProfileConfig()).collect()}
        assert ids == {1, 2, 3}

    def test_lifecycle_segments(self, silver):
        out = user_profiles(train_split(silver), ProfileConfig(new_days=1, active_days=4))
        got = {r.user_id: r.lifecycle for r in out.collect()}
        # reference: user 3's purchase on day 8; user 2 last seen day 6; user 1 day 3
        assert got == {1: "lapsing", 2: "active", 3: "new"}


def reference_items(events: pd.DataFrame) -> pd.DataFrame:
    train = events[events.split == "train"].copy()
    train["secs"] = _epoch(train.event_time)
    ref = train.secs.max()
    rows = []
    for product, g in train.groupby("product_id"):

        def mode(col: str, g: pd.DataFrame = g) -> object:
            counts = g[col].value_counts()
            return sorted(counts[counts == counts.max()].index)[0]

        code = mode("category_code")
        levels = [] if code == "unknown" else code.split(".")
        days = g.secs / 86_400
        var = days.var(ddof=0)
        mean = g.price.mean()
        trend = (
            float(((days - days.mean()) * (g.price - mean)).mean() / var / mean) if var > 0 else 0.0
        )
        count = {
            t: int((g.event_type == t).sum())
            for t in ("view", "cart", "remove_from_cart", "purchase")
        }
        brand = mode("brand")
        path = None if code == "unknown" else code.replace(".", " ").replace("_", " ")
        text = " ".join(p for p in (path, None if brand == "unknown" else brand) if p) or "product"
        rows.append(
            {
                "product_id": product,
                "category_id": mode("category_id"),
                "category_code": code,
                **{
                    f"category_l{i + 1}": levels[i] if i < len(levels) else "unknown"
                    for i in range(3)
                },
                "brand": brand,
                "price_mean": mean,
                "price_median": float(g.price.median()),
                "price_min": g.price.min(),
                "price_max": g.price.max(),
                "price_std": float(g.price.std(ddof=0)),
                "price_trend": trend,
                "n_events": len(g),
                **{f"n_{t}": c for t, c in count.items()},
                "n_users": g.user_id.nunique(),
                "cart_rate": count["cart"] / count["view"] if count["view"] else None,
                "purchase_rate": count["purchase"] / count["view"] if count["view"] else None,
                "first_seen": g.event_time.min(),
                "last_seen": g.event_time.max(),
                "recency_days": (ref - g.secs.max()) / 86_400,
                "item_text": text,
                "text_embedding": None,
            }
        )
    out = pd.DataFrame(rows)
    order = out.sort_values(["n_events", "product_id"], ascending=[False, True]).product_id
    out["popularity_rank"] = out.product_id.map({p: i + 1 for i, p in enumerate(order)})
    return out.set_index("product_id").sort_index()


class TestItemProfiles:
    def test_every_feature_matches_pandas(self, silver, events):
        out = item_profiles(train_split(silver))
        got = pd.DataFrame([r.asDict(recursive=True) for r in out.collect()])
        got = got.set_index("product_id").sort_index()
        assert schema_mismatches(out.schema, ITEM_PROFILE_SCHEMA) == []
        _assert_frames_match(got, reference_items(events))

    def test_texts(self, silver):
        texts = {r.product_id: r.item_text for r in item_profiles(train_split(silver)).collect()}
        assert texts == {
            100: "electronics smartphone acme",
            200: "apparel shoes keds",
            201: "apparel shoes keds nike",
            300: "product",
        }


def reference_interactions(events: pd.DataFrame, cfg: InteractionConfig) -> pd.DataFrame:
    df = events.copy()
    df["secs"] = _epoch(df.event_time)
    df["ref"] = df.groupby("split").secs.transform("max")
    df["w"] = df.event_type.map(cfg.weights) * 0.5 ** (
        (df.ref - df.secs) / 86_400 / cfg.half_life_days
    )
    rows = []
    for (user, product, split), g in df.groupby(["user_id", "product_id", "split"]):
        rows.append(
            {
                "user_id": user,
                "product_id": product,
                "split": split,
                **{
                    f"n_{t}": int((g.event_type == t).sum())
                    for t in ("view", "cart", "remove_from_cart", "purchase")
                },
                "strength": max(0.0, float(g.w.sum())),
                "last_event_time": g.event_time.max(),
            }
        )
    return pd.DataFrame(rows).set_index(["user_id", "product_id", "split"]).sort_index()


class TestInteractions:
    def test_every_column_matches_pandas(self, silver, events):
        cfg = InteractionConfig(half_life_days=2.0)
        out = interactions(silver, cfg)
        got = pd.DataFrame([r.asDict() for r in out.collect()])
        got = got.set_index(["user_id", "product_id", "split"]).sort_index()
        assert schema_mismatches(out.schema, INTERACTIONS_SCHEMA) == []
        _assert_frames_match(got, reference_interactions(events, cfg))

    def test_negative_strength_floored_at_zero(self, silver):
        out = {
            (r.user_id, r.product_id): r.strength
            for r in interactions(silver, InteractionConfig()).where("split = 'train'").collect()
        }
        assert out[(2, 300)] == 0.0  # a view (1.0) and a removal (-1.0, a second later) -> 0

    def test_quantities_and_declared_types_weigh_in(self, spark):
        # Setup: one pair with a purchase of 3 units and a declared `share`, both at the split's end
        events = [
            silver_event(event_type="purchase", quantity=3, event_time=_t()),
            silver_event(event_type="share", event_time=_t()),
            silver_event(event_type="favorite", product_id=200, event_time=_t()),
        ]
        cfg = InteractionConfig(weights={"share": 4.0})
        # Run
        rows = {r.product_id: r for r in interactions(make_silver(spark, events), cfg).collect()}
        # Assert: strength = 5 * 3 + 4 (no decay at the reference time); favourites weigh 2
        assert rows[100].strength == pytest.approx(19.0) and rows[100].n_purchase == 3
        assert rows[100].n_other == 1 and rows[200].n_favorite == 1
        assert rows[200].strength == pytest.approx(2.0)
