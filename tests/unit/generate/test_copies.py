"""The copied-run check: the run length calibrated on the holdout, copiers found, order kept."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from synth.generate.copies import (
    choose_length,
    copying_users,
    event_sequences,
    share_with_copies,
)
from tests.factories import make_silver, silver_event

pytestmark = pytest.mark.spark


def _seqs(spark, rows: list[tuple[int, list[int]]]):  # noqa: ANN001, ANN202
    return spark.createDataFrame(rows, "user_id long, product_ids array<long>")


def test_the_length_is_the_shortest_the_holdout_rarely_shares(spark) -> None:  # noqa: ANN001
    # training users all pass through 1 -> 2 (a popular pair); one has the run 5 6 7 8
    train = _seqs(spark, [(1, [1, 2, 3]), (2, [9, 1, 2]), (3, [5, 6, 7, 8])])
    # fresh users share the popular pair, never a run of three
    holdout = _seqs(spark, [(10, [1, 2, 4]), (11, [4, 1, 2, 9]), (12, [3, 4, 5])])
    check = choose_length(train, holdout, max_holdout_share=0.1, longest=5)
    assert check.holdout_shares[2] == pytest.approx(2 / 3)
    assert check.length == 3 and check.holdout_shares[3] == 0.0
    synthetic = _seqs(spark, [(-1, [4, 6, 7, 8]), (-2, [1, 2, 4]), (-3, [8, 7, 6])])
    assert [r[0] for r in copying_users(synthetic, train, 3).collect()] == [-1]
    assert share_with_copies(synthetic, train, 3) == (pytest.approx(1 / 3), 3)


def test_no_length_when_the_holdout_shares_every_run(spark) -> None:  # noqa: ANN001
    train = _seqs(spark, [(1, [1, 2, 3])])
    holdout = _seqs(spark, [(10, [1, 2, 3])])
    check = choose_length(train, holdout, max_holdout_share=0.5, longest=3)
    assert check.length is None and check.holdout_shares == {2: 1.0, 3: 1.0}
    empty = choose_length(train, holdout.limit(0), max_holdout_share=0.5, longest=3)
    assert empty.length is None and empty.holdout_shares == {}


def test_event_sequences_follow_time_then_funnel(spark) -> None:  # noqa: ANN001
    t0 = datetime(2020, 1, 1)
    events = [
        silver_event(user_id=1, event_time=t0 + timedelta(seconds=5), product_id=3),
        silver_event(user_id=1, event_time=t0, product_id=2, event_type="cart"),
        silver_event(user_id=1, event_time=t0, product_id=9, event_type="view"),
    ]
    rows = event_sequences(make_silver(spark, events)).collect()
    assert [(r["user_id"], r["product_ids"]) for r in rows] == [(1, [9, 2, 3])]
