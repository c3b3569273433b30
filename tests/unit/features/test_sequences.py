"""Gold user_sequences: order (time, funnel, product), gaps, session starts, train split only."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from synth.features.profiles import train_split
from synth.features.sequences import user_sequences
from synth.schema import USER_SEQUENCE_SCHEMA, schema_mismatches
from tests.factories import make_silver, silver_event

pytestmark = pytest.mark.spark

T0 = datetime(2019, 10, 1, 0, 0, 0)


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_sequences_are_ordered_with_gaps_and_session_starts(spark) -> None:  # noqa: ANN001
    e = silver_event
    events = [
        # user 1: a cart and a view at the same instant (the view comes first), a second
        # session 2.5 s and then a day later
        e(user_id=1, user_session="a", event_time=_t(10), product_id=7, event_type="cart"),
        e(user_id=1, user_session="a", event_time=_t(10), product_id=9, event_type="view"),
        e(user_id=1, user_session="a", event_time=_t(0), product_id=5, event_type="view"),
        e(user_id=1, user_session="b", event_time=_t(12.5), product_id=5, event_type="view"),
        e(user_id=1, user_session="b", event_time=_t(86_412.5), product_id=3),
        e(user_id=2, user_session="c", event_time=_t(5), product_id=8),
        # a test event is not in the train sequences
        e(user_id=2, user_session="c", event_time=_t(6), product_id=8, split="test"),
    ]
    df = user_sequences(train_split(make_silver(spark, events)))
    assert schema_mismatches(df.schema, USER_SEQUENCE_SCHEMA) == []
    rows = {r["user_id"]: r for r in df.collect()}
    one = rows[1]
    assert one["length"] == 5 and one["first_event_time"] == T0
    assert one["event_types"] == ["view", "view", "cart", "view", "view"]
    assert one["product_ids"] == [5, 9, 7, 5, 3]
    assert one["gaps_s"] == [0, 10, 0, 2, 86_400]
    assert one["new_session"] == [True, False, False, True, False]
    two = rows[2]
    assert (two["length"], two["product_ids"], two["gaps_s"]) == (1, [8], [0])
