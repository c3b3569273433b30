"""The generic source config: constants, explode, quantities, fallbacks, the event vocabulary."""

from __future__ import annotations

import re
from typing import Any

import pytest

from synth.config.base import parse_model
from synth.config.ingest import GenericSource
from synth.config.job import JobConfig
from synth.errors import ConfigError


def _source(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "generic",
        "name": "shop",
        "paths": ["events.csv"],
        "columns": {
            "event_time": "ts",
            "event_type": "behaviour",
            "product_id": "item",
            "user_id": "user",
        },
        "event_types": {"pv": "view", "buy": "purchase", "fav": "favorite"},
    }
    return {**base, **changes}


def _job(source: dict[str, Any], **rest: Any) -> JobConfig:
    return parse_model(JobConfig, {"source": source, **rest}, where="job.yaml")


class TestGenericSource:
    def test_favorite_is_canonical(self):
        cfg = _job(_source())
        assert isinstance(cfg.source, GenericSource)
        assert cfg.source.vocabulary(cfg.features.interactions.event_types())["fav"] == "favorite"

    def test_undeclared_extra_type_names_the_weights_key(self):
        with pytest.raises(
            ConfigError,
            match=r"\['share'\] are neither canonical.*"
            r"features.interactions.weights \(e.g. share: 1.0\)",
        ):
            _job(_source(event_types={"pv": "view", "sh": "share"}))

    def test_declared_extra_type_is_accepted(self):
        cfg = _job(
            _source(event_types={"pv": "view", "sh": "share"}),
            features={"interactions": {"weights": {"share": 1.5}}},
        )
        assert cfg.features.interactions.extra_types() == ("share",)

    def test_constant_event_type_needs_no_vocabulary(self):
        columns = {**_source()["columns"], "event_type": {"constant": "view"}}
        cfg = _job(_source(columns=columns, event_types={}))
        assert isinstance(cfg.source, GenericSource)
        assert cfg.source.constant_event_type() == "view"

    def test_constant_event_type_not_in_the_vocabulary_is_refused(self):
        columns = {**_source()["columns"], "event_type": {"constant": "click"}}
        with pytest.raises(
            ConfigError,
            match=r"constant 'click' is not in the event vocabulary.*"
            r"source.event_types \(e.g. click: view\)",
        ):
            _job(_source(columns=columns, event_types={}))

    def test_required_columns_hint_at_constants_and_sessions(self):
        columns = {"event_time": "ts", "product_id": "item"}
        with pytest.raises(
            ConfigError,
            match=r"\['event_type', 'user_id'\].*constant: view.*"
            r"session column",
        ):
            _job(_source(columns=columns))

    def test_explode_needs_element_fields(self):
        with pytest.raises(ConfigError, match=r"name them `events.<field>`"):
            _job(_source(format="json", explode="events"))
        with pytest.raises(ConfigError, match="explode applies to nested formats"):
            _job(_source(explode="events"))

    def test_explode_source_columns(self):
        columns = {
            "event_time": "events.ts",
            "event_type": "events.type",
            "product_id": "events.aid",
            "user_id": "session",
        }
        src = parse_model(
            GenericSource, _source(format="json", explode="events", columns=columns), where="t"
        )
        assert src.source_columns() == ["events.aid", "events.ts", "events.type", "session"]

    def test_user_fallback_needs_hashed_user_ids(self):
        with pytest.raises(ConfigError, match="user_id_fallback needs user_id in hashed_ids"):
            _job(_source(user_id_fallback="invoice"))
        cfg = _job(_source(user_id_fallback="invoice", hashed_ids=["user_id"]))
        assert isinstance(cfg.source, GenericSource)
        assert cfg.source.extra_columns() == {"user_fallback": "invoice"}

    def test_quantity_negative_type_must_be_known(self):
        with pytest.raises(ConfigError, match=r"\['return'\] are neither canonical"):
            _job(_source(quantity={"column": "qty", "negative_type": "return"}))
        cfg = _job(
            _source(quantity={"column": "qty", "negative_type": "return"}),
            features={"interactions": {"weights": {"return": -5}}},
        )
        assert isinstance(cfg.source, GenericSource)
        assert cfg.source.extra_columns() == {"quantity": "qty"}

    @pytest.mark.parametrize("zone", ["Europe/Berlin", "UTC", "+01:00", "GMT-5"])
    def test_known_time_zones(self, zone):
        src = parse_model(GenericSource, _source(timestamp={"timezone": zone}), where="t")
        assert src.timestamp.timezone == zone

    def test_unknown_time_zone_is_refused_before_anything_runs(self):
        with pytest.raises(
            ConfigError, match=r"timestamp.timezone: .*unknown time zone 'Mars/Base'"
        ):
            _job(_source(timestamp={"timezone": "Mars/Base"}))

    def test_timestamp_formats_list(self):
        src = parse_model(
            GenericSource,
            _source(timestamp={"format": ["M/d/yyyy H:mm", "iso"], "offset": {"column": "ms"}}),
            where="t",
        )
        assert src.timestamp.formats() == ("M/d/yyyy H:mm", "iso")
        assert src.extra_columns() == {"time_offset": "ms"}


class TestTimestampSettings:
    """A bad format or time zone fails at config validation, before anything is ingested."""

    @pytest.mark.parametrize(
        ("timestamp", "message"),
        [
            (
                {"format": "YYYY-MM-dd HH:mm:ss"},
                r"'Y' is the week-based year; for the calendar year use 'y'",
            ),
            (
                {"format": "yyyy-MM-ddTHH:mm:ss"},
                r"'T' is not a Spark datetime pattern letter; put literal",
            ),
            ({"format": ["iso", "dd.MM.yyyy 'at HH:mm"]}, r"a quote \(\'\) is not closed"),
            ({"timezone": "+25:00"}, r"offset '\+25:00' is out of range: offsets run from -18:00"),
            ({"timezone": "Mars/Olympus"}, r"unknown time zone 'Mars/Olympus'"),
            ({"timezone": "localtime"}, r"unknown time zone 'localtime'"),
        ],
    )
    def test_refused_with_the_key_and_a_fix(self, timestamp, message):
        where = r"source\.generic\.timestamp\.(format|timezone)"
        with pytest.raises(ConfigError, match=where) as refused:
            _job(_source(timestamp=timestamp))
        assert re.search(message, str(refused.value)), str(refused.value)

    @pytest.mark.parametrize(
        "timestamp",
        [
            {"format": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"},
            {"format": ["epoch_ms", "M/d/yyyy H:mm"], "timezone": "Europe/Berlin"},
            {"format": "dd.MM.yyyy HH:mm", "timezone": "-05:30"},
            {"format": "iso", "timezone": "GMT+8"},
        ],
    )
    def test_valid_settings_pass(self, timestamp):
        assert isinstance(_job(_source(timestamp=timestamp)).source, GenericSource)
