"""Behaviour events from user profiles (synth.generate.behaviour): pure pandas, no Spark."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from synth.errors import ConfigError, InvalidDataError
from synth.generate.behaviour import BehaviourParams, Catalog, generate_events
from synth.schema import SILVER_SCHEMA

T0 = pd.Timestamp("2019-10-01 08:00:00")
SEED = 1234

# product_id, category_id, category_code, category_l1, brand, price_median, n_events
ITEMS = [
    (101, 1, "electronics.smartphone", "electronics", "apple", 900.0, 50),
    (102, 1, "electronics.smartphone", "electronics", "samsung", 400.0, 80),
    (103, 1, "electronics.smartphone", "electronics", "xiaomi", 150.0, 30),
    (104, 2, "electronics.audio.headphone", "electronics", "apple", 200.0, 20),
    (105, 2, "electronics.audio.headphone", "electronics", "sony", 60.0, 10),
    (201, 3, "appliances.kitchen.kettle", "appliances", "bosch", 40.0, 15),
    (202, 3, "appliances.kitchen.kettle", "appliances", "samsung", 35.0, 5),
    (301, 4, "apparel.shoes", "apparel", "nike", 80.0, 25),
    (302, 4, "apparel.shoes", "apparel", "unknown", 20.0, 0),
    (401, -1, "unknown", "unknown", "unknown", 12.0, 3),
]
ELECTRONICS = {101, 102, 103, 104, 105}


def _items(rows: list[tuple] = ITEMS) -> pd.DataFrame:
    columns = ["product_id", "category_id", "category_code", "category_l1", "brand"]
    frame = pd.DataFrame(rows, columns=[*columns, "price_median", "n_events"])
    frame["price_mean"] = frame["price_median"]  # an extra column, ignored
    return frame


def _catalog() -> Catalog:
    return Catalog.from_items(_items())


def _profile(user_id: int, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "user_id": user_id,
        "n_view": 6,
        "n_cart": 2,
        "n_remove_from_cart": 1,
        "n_purchase": 1,
        "n_sessions": 3,
        "first_seen": T0,
        "last_seen": T0 + pd.Timedelta(days=5),
        "category_shares": {"electronics": 0.6, "appliances": 0.4},
        "top_brands": ["samsung", "apple"],
        "view_price_rel_category": 1.0,
        "hour_shares": None,
    }
    row.update(overrides)
    return row


def _profiles(*rows: dict[str, object]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    for col in ("user_id", "n_view", "n_cart", "n_remove_from_cart", "n_purchase", "n_sessions"):
        frame[col] = frame[col].astype("int64")
    for col in ("first_seen", "last_seen"):
        frame[col] = pd.to_datetime(frame[col]).astype("datetime64[ns]")
    return frame


def _generate(profiles: pd.DataFrame, params: BehaviourParams | None = None) -> pd.DataFrame:
    return generate_events(
        profiles,
        _catalog(),
        params or BehaviourParams(),
        seed=SEED,
        source="synthetic",
        source_file="run-1",
    )


class TestCatalog:
    def test_from_items_sorts_by_product_id_whatever_the_row_order(self):
        # Setup
        shuffled = _items().sample(frac=1.0, random_state=3)
        # Run
        catalog = Catalog.from_items(shuffled)
        # Assert
        assert catalog.product_id.tolist() == sorted(r[0] for r in ITEMS)
        assert catalog.brand[0] == "apple" and catalog.category_l1[-1] == "unknown"
        assert catalog.popularity.tolist() == [r[6] + 1.0 for r in ITEMS]

    def test_from_items_price_statistics_per_category_id(self):
        # Run
        catalog = _catalog()
        # Assert: category 1 holds prices 900, 400, 150 (median 400)
        assert catalog.rel_price[:3].tolist() == pytest.approx([2.25, 1.0, 0.375])
        logs = np.log([900.0, 400.0, 150.0])
        expected = (logs - logs.mean()) / logs.std(ddof=1)
        assert catalog.log_z[:3].tolist() == pytest.approx(expected.tolist())
        # a category with one item: z is 0 and rel is 1
        assert catalog.log_z[-1] == 0.0 and catalog.rel_price[-1] == 1.0

    def test_from_items_fills_missing_strings(self):
        # Setup
        items = _items()
        items.loc[0, "brand"] = None
        items.loc[0, "category_code"] = None
        # Run
        catalog = Catalog.from_items(items)
        # Assert
        assert catalog.brand[0] == "unknown" and catalog.category_code[0] == "unknown"

    def test_from_items_missing_columns_are_named(self):
        # Setup
        items = _items().drop(columns=["brand", "n_events"])
        # Run / Assert
        with pytest.raises(InvalidDataError, match=r"\['brand', 'n_events'\]"):
            Catalog.from_items(items)

    def test_from_items_empty_catalog_raises(self):
        with pytest.raises(InvalidDataError, match="empty"):
            Catalog.from_items(_items().iloc[:0])

    def test_from_items_bad_price_names_column_and_product(self):
        # Setup
        items = _items()
        items.loc[2, "price_median"] = 0.0
        # Run / Assert
        with pytest.raises(InvalidDataError, match="price_median.*103"):
            Catalog.from_items(items)


class TestBehaviourParams:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"brand_affinity": 1.5}, "brand_affinity"),
            ({"price_candidates": 0}, "price_candidates"),
            ({"mean_gap_s": -1.0}, "mean_gap_s"),
        ],
    )
    def test_out_of_range_values_raise(self, kwargs, field):
        with pytest.raises(ConfigError, match=field):
            BehaviourParams(**kwargs)


class TestGenerateEvents:
    def test_counts_per_type_per_user_are_exact(self):
        # Setup
        profiles = _profiles(
            _profile(-1),
            _profile(-2, n_view=3, n_cart=0, n_remove_from_cart=0, n_purchase=2),
            _profile(-3, n_view=0, n_cart=2, n_remove_from_cart=0, n_purchase=0, n_sessions=1),
            _profile(-4, n_view=0, n_cart=0, n_remove_from_cart=0, n_purchase=0),
        )
        # Run
        events = _generate(profiles)
        # Assert
        counts = events.groupby(["user_id", "event_type"]).size().to_dict()
        assert counts == {
            (-1, "view"): 6,
            (-1, "cart"): 2,
            (-1, "remove_from_cart"): 1,
            (-1, "purchase"): 1,
            (-2, "view"): 3,
            (-2, "purchase"): 2,
            (-3, "cart"): 2,
        }

    def test_funnel_events_reuse_viewed_and_carted_items(self):
        # Setup: several users, shares over the whole catalog so there is choice; one without
        # carts, one with neither views nor carts
        funnel = {"n_view": 8, "n_cart": 3, "n_remove_from_cart": 2, "n_purchase": 2}
        profiles = _profiles(
            *[_profile(-u, category_shares=None, **funnel) for u in range(1, 21)],
            _profile(-98, n_view=5, n_cart=0, n_remove_from_cart=0, n_purchase=3),
            _profile(-99, n_view=0, n_cart=0, n_remove_from_cart=1, n_purchase=2),
        )
        # Run
        events = _generate(profiles)
        # Assert
        for user_id, rows in events[events.user_id != -99].groupby("user_id"):
            items = {t: set(g.product_id) for t, g in rows.groupby("event_type")}
            assert items.get("cart", set()) <= items["view"]
            carted = items["cart"] if "cart" in items else items["view"]
            assert items.get("remove_from_cart", set()) <= carted, user_id
            assert items["purchase"] <= carted, user_id
        # with nothing viewed or carted, the events draw fresh items
        assert (
            events[events.user_id == -99].event_type.tolist()
            == ["remove_from_cart"] + ["purchase"] * 2
        )

    def test_same_user_same_events_in_any_batch(self):
        # Setup
        target = _profile(-7, n_view=9, n_cart=3, n_sessions=4)
        others = [_profile(-u, n_view=u, n_sessions=2) for u in range(1, 6)]
        alone = _profiles(target)
        crowded = _profiles(*others[:3], target, *others[3:]).iloc[::-1].reset_index(drop=True)
        crowded.index = crowded.index * 10 + 5  # an unusual index changes nothing either
        # Run
        first = _generate(alone)
        second = _generate(crowded)
        # Assert
        mine = second[second.user_id == -7].reset_index(drop=True)
        pd.testing.assert_frame_equal(first, mine)
        assert len(second) > len(first)
        assert second.user_id.is_monotonic_increasing

    def test_dict_and_arrow_pairs_give_the_same_events(self):
        # Setup: mapInPandas delivers maps as lists of (key, value) tuples
        as_dict = _profiles(_profile(-1, category_shares={"electronics": 0.3, "apparel": 0.7}))
        as_pairs = _profiles(
            _profile(
                -1,
                category_shares=[("electronics", 0.3), ("apparel", 0.7)],
                top_brands=np.array(["samsung", "apple"], dtype=object),
            )
        )
        # Run / Assert
        pd.testing.assert_frame_equal(_generate(as_dict), _generate(as_pairs))

    def test_single_category_share_gives_only_that_category(self):
        # Setup
        profiles = _profiles(_profile(-1, n_view=60, category_shares={"electronics": 1.0}))
        # Run
        events = _generate(profiles)
        # Assert
        assert set(events.product_id) <= ELECTRONICS
        assert events.category_code.str.startswith("electronics.").all()

    def test_other_and_unknown_keys_draw_from_the_whole_catalog(self):
        # Setup
        profiles = _profiles(
            _profile(-1, n_view=300, category_shares={"__other__": 1.0}),
            _profile(-2, n_view=300, category_shares={"toys": 1.0}),
            _profile(-3, n_view=300, category_shares=None, top_brands=None),
        )
        # Run
        events = _generate(profiles, BehaviourParams(brand_affinity=0.0))
        # Assert: every category l1 appears for every user
        for _, rows in events.groupby("user_id"):
            assert {c.split(".")[0] for c in rows.category_code} == {
                "electronics",
                "appliances",
                "apparel",
                "unknown",
            }

    def test_full_brand_affinity_gives_only_the_top_brand(self):
        # Setup
        profiles = _profiles(
            _profile(-1, n_view=40, category_shares={"electronics": 1.0}, top_brands=["apple"])
        )
        # Run
        events = _generate(profiles, BehaviourParams(brand_affinity=1.0))
        # Assert
        assert set(events.brand) == {"apple"}
        assert set(events.product_id) == {101, 104}

    def test_brand_missing_in_the_category_falls_back_to_the_category(self):
        # Setup: nike sells no electronics
        profiles = _profiles(
            _profile(-1, n_view=40, category_shares={"electronics": 1.0}, top_brands=["nike"])
        )
        # Run
        events = _generate(profiles, BehaviourParams(brand_affinity=1.0))
        # Assert
        assert set(events.product_id) <= ELECTRONICS
        assert len(set(events.brand)) > 1

    def test_price_sensitivity_orders_the_prices(self):
        # Setup: 40 items of one category, prices 10 .. 1000 on a log scale, equal popularity
        prices = np.geomspace(10.0, 1000.0, 40)
        rows = [(i, 1, "electronics.tv", "electronics", "b", p, 5) for i, p in enumerate(prices)]
        catalog = Catalog.from_items(_items(rows))
        common = {"n_view": 400, "n_cart": 0, "n_remove_from_cart": 0, "n_purchase": 0}
        profiles = _profiles(
            _profile(-1, view_price_rel_category=0.5, **common),
            _profile(-2, view_price_rel_category=2.0, **common),
            _profile(-3, view_price_rel_category=None, **common),
        )
        # Run
        events = generate_events(
            profiles,
            catalog,
            BehaviourParams(price_candidates=8, brand_affinity=0.0),
            seed=SEED,
            source="s",
            source_file="f",
        )
        # Assert: cheap seekers near rel 0.5, premium seekers near rel 2, no preference in between
        rel = events.groupby("user_id").price_rel_category_median.apply(
            lambda s: float(np.exp(np.log(s).mean()))
        )
        assert rel[-1] < 0.7 < rel[-3] < 1.5 < rel[-2]
        mean_price = events.groupby("user_id").price.mean()
        assert mean_price[-1] < mean_price[-2]

    def test_sessions_and_timestamps(self):
        # Setup
        profiles = _profiles(
            _profile(-1, n_view=20, n_sessions=4),
            _profile(-2, n_view=2, n_cart=0, n_remove_from_cart=0, n_purchase=0, n_sessions=5),
            _profile(-3, n_sessions=2, last_seen=T0 - pd.Timedelta(days=1)),
            _profile(12345, n_sessions=1, first_seen=T0, last_seen=T0),
        )
        # Run
        events = _generate(profiles, BehaviourParams(mean_gap_s=30.0))
        # Assert
        sessions = events.groupby("user_id").user_session.nunique().to_dict()
        assert sessions == {-3: 2, -2: 2, -1: 4, 12345: 1}  # -2: clipped to its 2 events
        pattern = re.compile(r"^synth-(-?\d+)-(\d+)$")
        for row in events.itertuples():
            match = pattern.match(row.user_session)
            assert match and int(match.group(1)) == row.user_id
        for user_id, rows in events.groupby("user_id"):
            profile = profiles.set_index("user_id").loc[user_id]
            window_end = max(profile.last_seen, profile.first_seen)
            starts = rows.groupby("user_session").event_time.min()
            durations = rows.groupby("user_session").event_time.agg(lambda t: t.max() - t.min())
            assert (starts >= profile.first_seen).all() and (starts <= window_end).all()
            assert rows.event_time.max() <= window_end + durations.sum()
            # sessions are numbered in time order, events of a session strictly increase
            assert list(starts.sort_values().index) == sorted(
                starts.index, key=lambda s: int(s.rsplit("-", 1)[1])
            )
            for _, session in rows.groupby("user_session"):
                assert session.event_time.is_monotonic_increasing
                assert session.event_time.is_unique
        # a one-instant window: the session starts exactly at first_seen
        assert events[events.user_id == 12345].event_time.min() == T0

    def test_rows_follow_the_event_order_within_a_user(self):
        # Setup
        profiles = _profiles(_profile(-1, n_sessions=1))
        # Run
        events = _generate(profiles)
        # Assert: one session: views, then carts, removals and purchases, second resolution
        assert events.event_type.tolist() == ["view"] * 6 + ["cart"] * 2 + [
            "remove_from_cart",
            "purchase",
        ]
        assert (events.event_time.dt.microsecond == 0).all()

    def test_hour_shares_place_the_middle_session_starts(self):
        # Setup: all traffic at 14:00-15:00 UTC; windows of ten days from 08:00 and of 3 hours
        hours = [0.0] * 24
        hours[14] = 1.0
        common = {"n_view": 30, "n_sessions": 10, "hour_shares": np.array(hours)}
        long_end = T0 + pd.Timedelta(days=10)
        short_end = T0 + pd.Timedelta(hours=3)
        profiles = _profiles(
            _profile(-1, last_seen=long_end, **common),
            _profile(-2, last_seen=short_end, **common),
        )
        # Run
        events = _generate(profiles, BehaviourParams(mean_gap_s=1.0))
        # Assert: the first and last sessions open at first_seen and last_seen, the others at
        # 14:xx on several days (moved a day when 14:xx of their day is outside the window)
        starts = events.groupby(["user_id", "user_session"]).event_time.min()
        long = starts[-1].sort_values()
        assert long.iloc[0] == T0 and long.iloc[-1] == long_end
        assert (long.iloc[1:-1].dt.hour == 14).all()
        assert long.iloc[1:-1].dt.date.nunique() > 1
        # 14:00 never fits a 08:00-11:00 window: the uniform times stay
        short = starts[-2].sort_values()
        assert short.iloc[0] == T0 and short.iloc[-1] == short_end
        assert short.between(T0, short_end).all()

    def test_output_columns_and_dtypes_follow_the_silver_schema(self):
        # Run
        events = _generate(_profiles(_profile(-1), _profile(-2)))
        # Assert
        assert list(events.columns) == SILVER_SCHEMA.names
        expected = {
            "event_time": "datetime64[ns]",
            "product_id": "int64",
            "category_id": "int64",
            "price": "float64",
            "user_id": "int64",
            "quantity": "int64",
            "price_imputed": "bool",
            "session_rebuilt": "bool",
            "price_rel_category_median": "float64",
            "price_log_z_category": "float64",
        }
        for col in SILVER_SCHEMA.names:
            assert str(events[col].dtype) == expected.get(col, "object"), col
        # every catalog item is priced: no price is missing, so price_missing is null throughout
        assert events.price_missing.isna().all()
        assert not events.drop(columns="price_missing").isna().any().any()
        assert set(events.split) == {"train"} and not events.price_imputed.any()
        assert set(events._source) == {"synthetic"} and set(events._source_file) == {"run-1"}
        # item attributes come from the catalog
        catalog = _catalog()
        pos = np.searchsorted(catalog.product_id, events.product_id)
        assert events.price.tolist() == catalog.price[pos].tolist()
        assert events.price_log_z_category.tolist() == catalog.log_z[pos].tolist()

    @pytest.mark.parametrize(
        "profiles",
        [
            _profiles(_profile(-1)).iloc[:0],
            _profiles(_profile(-1, n_view=0, n_cart=0, n_remove_from_cart=0, n_purchase=0)),
        ],
        ids=["no-profiles", "no-events"],
    )
    def test_no_events_gives_an_empty_frame_with_the_schema(self, profiles):
        # Run
        events = _generate(profiles)
        # Assert
        assert events.empty and list(events.columns) == SILVER_SCHEMA.names
        assert str(events.event_time.dtype) == "datetime64[ns]"
        assert str(events.product_id.dtype) == "int64" and str(events.price.dtype) == "float64"

    def test_missing_profile_columns_are_named(self):
        # Setup
        profiles = _profiles(_profile(-1)).drop(columns=["n_sessions", "hour_shares"])
        # Run / Assert
        with pytest.raises(InvalidDataError, match=r"\['n_sessions', 'hour_shares'\]"):
            _generate(profiles)

    def test_negative_count_names_column_and_user(self):
        # Setup
        profiles = _profiles(_profile(-1), _profile(-2, n_cart=-3))
        # Run / Assert
        with pytest.raises(InvalidDataError, match=r"n_cart.*user -2"):
            _generate(profiles)

    def test_bad_hour_shares_and_repeated_users_raise(self):
        # Setup
        short_hours = _profiles(_profile(-1, hour_shares=[1.0] * 23))
        repeated = _profiles(_profile(-1), _profile(-1))
        # Run / Assert
        with pytest.raises(InvalidDataError, match="hour_shares.*user -1"):
            _generate(short_hours)
        with pytest.raises(InvalidDataError, match="user_id repeats user -1"):
            _generate(repeated)


class TestOpenVocabularyAndPrices:
    """Favourites, declared extra types and items never priced."""

    def test_favourites_and_extra_types_follow_the_counts(self):
        # Setup: two favourites and three events of the declared extra types
        profiles = _profiles(
            _profile(1, n_favorite=2, n_other=3), _profile(2, n_view=0, n_favorite=0, n_other=0)
        )
        params = BehaviourParams(other_types=(("share", 3.0), ("like_video", 1.0)))
        # Run
        events = _generate(profiles, params)
        # Assert: exact counts per user; extra types drawn among the declared ones
        one = events[events.user_id == 1]
        assert (one.event_type == "favorite").sum() == 2
        extra = one[
            ~one.event_type.isin(["view", "cart", "remove_from_cart", "purchase", "favorite"])
        ]
        assert len(extra) == 3 and set(extra.event_type) <= {"share", "like_video"}
        viewed = set(one[one.event_type == "view"].product_id)
        assert set(one[one.event_type == "favorite"].product_id) <= viewed
        assert set(extra.product_id) <= viewed
        assert events.quantity.eq(1).all()
        pd.testing.assert_frame_equal(events, _generate(profiles, params))  # seeded

    def test_extra_events_without_declared_types_are_refused(self):
        with pytest.raises(InvalidDataError, match="n_other > 0 but no extra event types"):
            _generate(_profiles(_profile(1, n_other=1)))

    def test_items_never_priced_give_null_prices_with_the_reason(self):
        # Setup: the only appliance items carry no price
        rows = [r if r[3] != "appliances" else (*r[:5], None, r[6]) for r in ITEMS]
        catalog = Catalog.from_items(_items(rows))
        profile = _profile(1, category_shares={"appliances": 1.0}, top_brands=None)
        # Run
        events = generate_events(
            _profiles(profile),
            catalog,
            BehaviourParams(),
            seed=SEED,
            source="synthetic",
            source_file="run-1",
        )
        # Assert
        appliances = events[events.product_id.isin([201, 202])]
        assert len(appliances) > 0 and appliances.price.isna().all()
        assert set(appliances.price_missing) == {"never_priced"}
        assert appliances.price_rel_category_median.isna().all()
        assert events[~events.product_id.isin([201, 202])].price_missing.isna().all()

    def test_a_non_positive_price_is_still_refused(self):
        rows = [r if r[0] != 201 else (*r[:5], 0.0, r[6]) for r in ITEMS]
        with pytest.raises(InvalidDataError, match="positive and finite, or null"):
            Catalog.from_items(_items(rows))
