"""Gold ``user_sequences``: each user's train events as ordered arrays (the sequence model's data).

One row per user with a train event. Events are ordered by time, then by the funnel order of
their type (a view before a cart at the same instant), then by product id, so the order is a
function of the events alone. ``gaps_s`` are whole seconds (floor) from the previous event;
``new_session`` marks an event whose ``user_session`` differs from the previous event's.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from synth.features.profiles import conform
from synth.schema import (
    EVENT_TIME,
    EVENT_TYPE,
    EVENT_TYPES,
    PRODUCT_ID,
    USER_ID,
    USER_SEQUENCE_SCHEMA,
    USER_SESSION,
)


def type_rank() -> F.Column:
    """The funnel position of ``event_type`` (view 0, cart 1, ...; other types last)."""
    rank = F.lit(len(EVENT_TYPES))
    for i, event_type in reversed(list(enumerate(EVENT_TYPES))):
        rank = F.when(F.col(EVENT_TYPE) == F.lit(event_type), F.lit(i)).otherwise(rank)
    return rank


def user_sequences(train: DataFrame) -> DataFrame:
    """The ``user_sequences`` table of ``train`` (:data:`synth.schema.USER_SEQUENCE_SCHEMA`)."""
    micros = F.unix_micros(F.col(EVENT_TIME))
    order = Window.partitionBy(USER_ID).orderBy(micros, type_rank(), F.col(PRODUCT_ID))
    events = train.select(
        USER_ID,
        EVENT_TYPE,
        PRODUCT_ID,
        USER_SESSION,
        EVENT_TIME,
        micros.alias("_us"),
        type_rank().alias("_rank"),
    )
    ordered = events.select(
        USER_ID,
        EVENT_TIME,
        F.row_number().over(order).alias("_pos"),
        F.struct(
            F.col(EVENT_TYPE).alias("t"),
            F.col(PRODUCT_ID).alias("p"),
            F.coalesce(
                F.floor((F.col("_us") - F.lag("_us").over(order)) / F.lit(1_000_000)), F.lit(0)
            )
            .cast("long")
            .alias("g"),
            F.coalesce(F.col(USER_SESSION) != F.lag(USER_SESSION).over(order), F.lit(True)).alias(
                "s"
            ),
        ).alias("_e"),
    )
    grouped = ordered.groupBy(USER_ID).agg(
        F.count("*").alias("length"),
        F.min(EVENT_TIME).alias("first_event_time"),
        F.array_sort(F.collect_list(F.struct(F.col("_pos"), F.col("_e")))).alias("_events"),
    )
    events_of = F.col("_events")
    return conform(
        grouped.select(
            USER_ID,
            "length",
            "first_event_time",
            F.transform(events_of, lambda e: e["_e"]["t"]).alias("event_types"),
            F.transform(events_of, lambda e: e["_e"]["p"]).alias("product_ids"),
            F.transform(events_of, lambda e: e["_e"]["g"]).alias("gaps_s"),
            F.transform(events_of, lambda e: e["_e"]["s"]).alias("new_session"),
        ),
        USER_SEQUENCE_SCHEMA,
    )
