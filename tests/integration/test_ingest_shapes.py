"""Event logs of other shapes through ingest, clean and features, and the fail-fast messages.

Each shape is a small file written here: a log without prices with a favourite behaviour and
fractional unix seconds; a session-only click log with no event type; invoice lines with a
byte-order mark, CRLF endings, quantities, cancellations and guest checkouts; nested JSON Lines
sessions; quoted CSV fields holding line breaks.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from synth.clean.pipeline import clean
from synth.config.base import parse_model
from synth.config.job import JobConfig
from synth.errors import InputError, SchemaMismatchError
from synth.features.pipeline import build_features
from synth.ingest.bronze import ingest
from synth.io.delta import read_table, table_exists

pytestmark = pytest.mark.spark


def _job(tmp_path: Path, source: dict[str, Any], **rest: Any) -> JobConfig:
    return parse_model(
        JobConfig,
        {"lakehouse": str(tmp_path / "lh"), "source": source, **rest},
        where="job.yaml",
    )


def _clean(spark, lakehouse, cfg: JobConfig):  # noqa: ANN001, ANN202
    ingest(spark, cfg.source, lakehouse)  # type: ignore[arg-type]
    return clean(
        spark,
        cfg.source,  # type: ignore[arg-type]
        cfg.clean,
        lakehouse,
        event_types=cfg.features.interactions.event_types(),
    )


def _no_embeddings() -> dict[str, Any]:
    return {"embedding": {"enabled": False}}


class TestPricelessLogWithFavourites:
    """user/item/category/behaviour/unix-time, no price column, a `fav` and a `share` type."""

    def _cfg(self, tmp_path: Path) -> JobConfig:
        lines = ["user,item,cat,behaviour,ts"]
        t0 = 1511544070
        for u in range(1, 7):
            for k, b in enumerate(["pv", "share", "fav", "cart", "buy", "pv"]):
                lines.append(f"{u},{100 + (u + k) % 4},{7 + k % 2},{b},{t0 + 3600 * u + 60 * k}.5")
        path = tmp_path / "taobao_like.csv"
        path.write_text("\n".join(lines) + "\n")
        source = {
            "kind": "generic",
            "name": "noprice",
            "paths": [str(path)],
            "columns": {
                "event_time": "ts",
                "event_type": "behaviour",
                "product_id": "item",
                "user_id": "user",
                "category_id": "cat",
            },
            "timestamp": {"format": "epoch_s"},
            "event_types": {
                "pv": "view",
                "cart": "cart",
                "buy": "purchase",
                "fav": "favorite",
                "share": "share",
            },
        }
        features = {**_no_embeddings(), "interactions": {"weights": {"share": 4.0}}}
        return _job(tmp_path, source, features=features)

    def test_every_row_kept_with_null_prices_and_a_reason(self, spark, lakehouse, tmp_path):
        cfg = self._cfg(tmp_path)
        report = _clean(spark, lakehouse, cfg)
        assert report.balanced and report.bronze_rows == 36 and report.silver_rows == 36
        silver = read_table(spark, lakehouse.silver_table()).toPandas()
        assert silver.price.isna().all() and set(silver.price_missing) == {"not_in_source"}
        assert silver.price_rel_category_median.isna().all()
        assert silver.price_log_z_category.isna().all()
        assert set(silver.event_type) == {"view", "cart", "purchase", "favorite", "share"}
        assert silver.event_time.min().microsecond == 500000  # fractional seconds kept

    def test_gold_counts_favourites_and_extra_types(self, spark, lakehouse, tmp_path):
        cfg = self._cfg(tmp_path)
        _clean(spark, lakehouse, cfg)
        report = build_features(spark, lakehouse, cfg.features)
        assert report.unpriced_events == {"not_in_source": 36}
        users = read_table(spark, lakehouse.gold_table("user_profiles")).toPandas()
        assert (users.n_favorite + users.n_other).sum() > 0
        counts = users[
            ["n_view", "n_cart", "n_remove_from_cart", "n_purchase", "n_favorite", "n_other"]
        ].sum(axis=1)
        assert (counts == users.n_events).all()
        assert users.view_price_mean.isna().all() and users.monetary.isna().any()
        items = read_table(spark, lakehouse.gold_table("item_profiles")).toPandas()
        assert items.price_median.isna().all() and items.price_trend.isna().all()
        assert report.unpriced_items == len(items)
        pairs = read_table(spark, lakehouse.gold_table("interactions")).toPandas()
        train = pairs[pairs.split == "train"]
        assert users.n_other.sum() > 0 and train.n_other.sum() == users.n_other.sum()
        assert (pairs.strength >= 0).all()

    def test_require_price_fails_fast_naming_the_key(self, spark, lakehouse, tmp_path):
        cfg = self._cfg(tmp_path).model_copy(
            update={"clean": self._cfg(tmp_path).clean.model_copy(update={"require_price": True})}
        )
        with pytest.raises(InputError) as err:
            _clean(spark, lakehouse, cfg)
        text = str(err.value)
        assert "keep 0 of 36 bronze rows" in text and "missing_price: 36 rows" in text
        assert "clean.require_price: false" in text and "taobao_like.csv" in text
        assert not table_exists(spark, lakehouse.silver_table())


class TestSessionOnlyClickLog:
    """session/item/time with no user id and no event type: user = session, every row a view."""

    def test_user_is_session_and_long_sessions_get_holdout_events(self, spark, lakehouse, tmp_path):
        lines = ["session_id;user_id;item_id;timeframe;eventdate"]
        for s in range(1, 5):
            for k in range(2 + 2 * s):
                lines.append(f"{s};NA;{10 + (k * s) % 5};{(k * 7919) % 100000};2016-05-0{s}")
        path = tmp_path / "views.csv"
        path.write_text("\n".join(lines))  # no final newline, as the real sample
        source = {
            "kind": "generic",
            "name": "sessions",
            "paths": [str(path)],
            "options": {"sep": ";"},
            "columns": {
                "event_time": "eventdate",
                "event_type": {"constant": "view"},
                "product_id": "item_id",
                "user_id": "session_id",
                "user_session": "session_id",
            },
            "timestamp": {"format": "yyyy-MM-dd", "offset": {"column": "timeframe", "unit": "ms"}},
        }
        cfg = _job(tmp_path, source)
        report = _clean(spark, lakehouse, cfg)
        assert report.silver_rows == report.bronze_rows == len(lines) - 1
        silver = read_table(spark, lakehouse.silver_table()).toPandas()
        assert set(silver.event_type) == {"view"} and silver.user_id.nunique() == 4
        assert (silver.user_session == silver.user_id.astype(str)).all()
        # events of a session follow its timeframe order, whatever the file order
        first = silver[silver.user_id == 4].sort_values("event_time")
        assert first.event_time.is_monotonic_increasing
        assert set(silver.split) == {"train", "validation", "test"}


class TestInvoiceLines:
    """BOM, CRLF, m/d/yyyy h:mm, quantities, `C` cancellations, guest checkouts."""

    def test_quantities_reversals_and_guest_users(self, spark, lakehouse, tmp_path):
        rows = [
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
            "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,United Kingdom",  # noqa: E501
            '536365,71053,"AIRLINE LOUNGE,METAL SIGN",6,12/1/2010 8:26,3.39,17850,United Kingdom',
            "536366,22633,HAND WARMER,6,12/1/2010 8:28,1.85,,United Kingdom",
            "C536379,85123A,WHITE HANGING HEART T-LIGHT HOLDER,-2,12/1/2010 9:41,2.55,17850,United Kingdom",  # noqa: E501
            "536380,22633,HAND WARMER,0,12/1/2010 9:45,1.85,17851,United Kingdom",
        ]
        path = tmp_path / "retail.csv"
        path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
        source = {
            "kind": "generic",
            "name": "retail",
            "paths": [str(path)],
            "columns": {
                "event_time": "InvoiceDate",
                "event_type": {"constant": "purchase"},
                "product_id": "StockCode",
                "user_id": "CustomerID",
                "user_session": "InvoiceNo",
                "price": "UnitPrice",
            },
            "user_id_fallback": "InvoiceNo",
            "quantity": {"column": "Quantity", "negative_type": "return"},
            "timestamp": {"format": "M/d/yyyy H:mm", "timezone": "Europe/London"},
            "hashed_ids": ["product_id", "user_id"],
        }
        cfg = _job(tmp_path, source, features={"interactions": {"weights": {"return": -5.0}}})
        report = _clean(spark, lakehouse, cfg)
        assert report.bronze_rows == 5 and report.quarantined == {"bad_quantity": 1}
        silver = read_table(spark, lakehouse.silver_table()).toPandas()
        assert sorted(silver.quantity) == [2, 6, 6, 6]
        assert sorted(silver.event_type) == ["purchase", "purchase", "purchase", "return"]
        assert silver.user_session.str.endswith("\r").sum() == 0
        assert silver.user_id.nunique() == 2  # 17850 and the guest of invoice 536366
        assert str(silver.event_time.min()) == "2010-12-01 08:26:00"  # London = UTC in December
        bad = read_table(spark, lakehouse.quarantine_table()).toPandas()
        assert bad.reason.tolist() == ["bad_quantity"] and bad._raw_extra[0]["quantity"] == "0"
        features = build_features(
            spark,
            lakehouse,
            cfg.features.model_copy(
                update={"embedding": cfg.features.embedding.model_copy(update={"enabled": False})}
            ),
        )
        assert features.tables["user_profiles"]["rows"] == 2
        users = read_table(spark, lakehouse.gold_table("user_profiles")).toPandas()
        main = users.sort_values("n_events").iloc[-1]
        assert (main.n_purchase, main.n_other, main.n_events) == (12, 2, 14)
        assert main.monetary == pytest.approx(6 * 2.55 + 6 * 3.39)


class TestNestedSessions:
    def test_explode_one_row_per_event(self, spark, lakehouse, tmp_path):
        sessions = [
            {
                "session": 1,
                "events": [
                    {"aid": 5, "ts": 1659304800038, "type": "clicks"},
                    {"aid": 6, "ts": 1659304866606, "type": "carts"},
                    {"aid": 6, "ts": 1659304900000, "type": "orders"},
                ],
            },
            {"session": 2, "events": [{"aid": 7, "ts": 1659305000000, "type": "clicks"}]},
            {"session": 3, "events": []},
        ]
        path = tmp_path / "train.jsonl.gz"
        path.write_bytes(gzip.compress("\n".join(json.dumps(s) for s in sessions).encode()))
        source = {
            "kind": "generic",
            "name": "otto_like",
            "paths": [str(path)],
            "format": "json",
            "explode": "events",
            "columns": {
                "event_time": "events.ts",
                "event_type": "events.type",
                "product_id": "events.aid",
                "user_id": "session",
                "user_session": "session",
            },
            "timestamp": {"format": "epoch_ms"},
            "event_types": {"clicks": "view", "carts": "cart", "orders": "purchase"},
        }
        report = _clean(spark, lakehouse, _job(tmp_path, source))
        # the empty session is one row of nulls: quarantined, not lost
        assert report.bronze_rows == 5 and report.silver_rows == 4
        assert report.quarantined == {"bad_timestamp": 1}
        silver = read_table(spark, lakehouse.silver_table()).toPandas()
        assert sorted(silver.event_type) == ["cart", "purchase", "view", "view"]


class TestQuotedLineBreaks:
    def test_a_quoted_field_with_a_line_break_is_one_row(self, spark, lakehouse, tmp_path):
        path = tmp_path / "e.csv"
        path.write_text(
            "ts,action,item,user,note\n"
            '2024-03-01T10:00:00,view,1,9,"two\nlines"\n'
            "2024-03-01T10:05:00,view,2,9,plain\n"
        )
        source = {
            "kind": "generic",
            "name": "quoted",
            "paths": [str(path)],
            "columns": {
                "event_time": "ts",
                "event_type": "action",
                "product_id": "item",
                "user_id": "user",
                "brand": "note",
            },
        }
        report = _clean(spark, lakehouse, _job(tmp_path, source))
        assert report.bronze_rows == 2 and report.silver_rows == 2 and report.quarantined == {}
        silver = read_table(spark, lakehouse.silver_table()).toPandas()
        assert sorted(silver.brand) == ["plain", "two\nlines"]


class TestFailFast:
    """Bad configs that parse no row stop before writing, saying what to change."""

    def _source(self, tmp_path: Path, **changes: Any) -> dict[str, Any]:
        path = tmp_path / "clicks.csv"
        path.write_text(
            "session,item,when,kind\n"
            + "".join(
                f"{s},{i},{1396437466 + 60 * i + s}.94,click\n" for s in range(3) for i in range(4)
            )
        )
        base = {
            "kind": "generic",
            "name": "clicks",
            "paths": [str(path)],
            "columns": {
                "event_time": "when",
                "event_type": "kind",
                "product_id": "item",
                "user_id": "session",
            },
            "event_types": {"click": "view"},
        }
        return {**base, **changes}

    def test_timestamp_format_that_parses_no_row_names_the_one_that_would(
        self, spark, lakehouse, tmp_path
    ):
        cfg = _job(tmp_path, self._source(tmp_path, timestamp={"format": "yyyy-MM-dd HH:mm:ss"}))
        with pytest.raises(InputError) as err:
            _clean(spark, lakehouse, cfg)
        text = str(err.value)
        assert "keep 0 of 12 bronze rows" in text and "bad_timestamp: 12 rows (100.0%)" in text
        assert "example: file:" in text and "event_time='1396437466.94'" in text
        assert "format 'epoch_s' (100% of it)" in text
        assert not table_exists(spark, lakehouse.silver_table())
        assert not table_exists(spark, lakehouse.quarantine_table())

    def test_vocabulary_that_matches_no_row_lists_the_values(self, spark, lakehouse, tmp_path):
        cfg = _job(
            tmp_path,
            self._source(
                tmp_path, event_types={"pageview": "view"}, timestamp={"format": "epoch_s"}
            ),
        )
        with pytest.raises(InputError) as err:
            _clean(spark, lakehouse, cfg)
        text = str(err.value)
        assert "unknown_event_type: 12 rows" in text and "unmapped values 'click' (12)" in text
        assert "source.event_types" in text and "{constant: view}" in text

    def test_low_share_stops_and_zero_share_setting_accepts(self, spark, lakehouse, tmp_path):
        source = self._source(tmp_path, timestamp={"format": "epoch_s"})
        path = Path(source["paths"][0])
        path.write_text(path.read_text() + "".join(f"9,{i},soon,click\n" for i in range(20)))
        with pytest.raises(InputError, match=r"keep 12 of 32 .*below clean.min_kept_share = 0.5"):
            _clean(spark, lakehouse, _job(tmp_path, source))
        report = _clean(spark, lakehouse, _job(tmp_path, source, clean={"min_kept_share": 0}))
        assert report.silver_rows == 12 and report.quarantined == {"bad_timestamp": 20}

    def test_mapping_to_a_missing_column_names_it_and_the_separator(
        self, spark, lakehouse, tmp_path
    ):
        source = self._source(tmp_path)
        path = Path(source["paths"][0])
        path.write_text(path.read_text().replace(",", ";"))
        with pytest.raises(SchemaMismatchError) as err:
            ingest(spark, _job(tmp_path, source).source, lakehouse)  # type: ignore[arg-type]
        text = str(err.value)
        assert "missing: ['item', 'kind', 'session', 'when']" in text
        assert "set options.sep: ';'" in text and "synth inspect" in text


class TestOlderBronze:
    def test_bronze_without_raw_extra_is_cleaned_and_appended_to(self, spark, lakehouse, tmp_path):
        from synth.config.ingest import Rees46MultiCategorySource
        from synth.io.delta import write_table
        from tests.factories import event, make_bronze, ts

        # Setup: a bronze table as written before the _raw_extra column was added
        old = make_bronze(spark, [event(event_time=ts(i), product_id=str(i)) for i in range(3)])
        write_table(old.drop("_raw_extra"), lakehouse.bronze_table("old"), mode="overwrite")
        path = tmp_path / "new.csv"
        path.write_text(
            "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
            "user_session\n2019-10-01 01:00:00 UTC,view,7,1,,,3.0,2,s\n"
        )
        source = Rees46MultiCategorySource(name="old", paths=[str(path)])
        # Run: a new file is appended (the column is added), then cleaning reads both
        assert ingest(spark, source, lakehouse).rows_added == 1
        report = clean(spark, source, JobConfig(source=source).clean, lakehouse)
        # Assert
        assert report.bronze_rows == 4 and report.silver_rows == 4 and report.balanced
