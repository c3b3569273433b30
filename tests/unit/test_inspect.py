"""synth.inspect: the proposed generic source config for each log shape, and ``synth inspect``."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
import yaml

from synth.cli import main
from synth.config.job import JobConfig
from synth.errors import ConfigError, InputError
from synth.inspect import (
    Proposal,
    best_timestamp_format,
    propose_source,
    sniff_separator,
    source_name_from_path,
    timestamp_format_shares,
)
from tests.conftest import shared_data

# -- the four shapes, as small files ------------------------------------------------------------

REES46_LIKE = """\
timestamp,behaviour,item_id,category_id,category_code,brand,price,user_id,session
1570000000.25,pv,101,2053013555631882655,electronics.smartphone,apple,489.07,5001,s-a1
1570000003.5,pv,102,2053013555631882655,electronics.smartphone,,230.00,5001,s-a1
1570000007,fav,101,2053013555631882655,electronics.smartphone,apple,489.07,5001,s-a1
1570000010.75,cart,101,2053013555631882655,electronics.smartphone,apple,489.07,5001,s-a1
1570000011.125,buy,101,2053013555631882655,electronics.smartphone,apple,489.07,5001,s-a1
1570000020.5,PV,205,2053013563810775923,appliances.kitchen.oven,bosch,99.90,5002,s-b7
1570000031.0,share,205,2053013563810775923,appliances.kitchen.oven,bosch,99.90,5002,s-b7
"""

SESSION_LOG = """\
sessionId;userId;itemId;timeframe;eventdate
1;NA;81766;526309;2016-05-09
1;NA;31331;1031018;2016-05-09
1;NA;32118;243569;2016-05-09
2;NA;9654;75848;2016-05-09
3;5;33043;1099911;2016-05-10
3;5;9654;1151800;2016-05-10
4;NA;121060;301000;2016-05-12
"""

INVOICES = (
    "\ufeffInvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n"
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850,"
    "United Kingdom\r\n"
    "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom\r\n"
    "536366,22633,HAND WARMER UNION JACK,6,12/1/2010 8:28,1.85,,United Kingdom\r\n"
    "C536379,D,Discount,-1,12/1/2010 9:41,27.5,14527,United Kingdom\r\n"
    '536380,22961,"JAM MAKING SET, PRINTED",-3,12/13/2010 9:41,0,,France\r\n'
)

SESSIONS = [
    {
        "session": 0,
        "events": [
            {"aid": 1517085, "ts": 1659304800025, "type": "clicks"},
            {"aid": 1563459, "ts": 1659304904511, "type": "clicks"},
            {"aid": 1649869, "ts": 1659369893840, "type": "carts"},
            {"aid": 1649869, "ts": 1659370027105, "type": "orders"},
        ],
    },
    {
        "session": 1,
        "events": [
            {"aid": 424964, "ts": 1659304800025, "type": "carts"},
            {"aid": 424964, "ts": 1659304800026, "type": "clicks"},
            {"aid": 763743, "ts": 1659304810000, "type": "clicks"},
        ],
    },
]


def _rees46_like(tmp_path):
    path = tmp_path / "Shop-X_events.csv"
    path.write_text(REES46_LIKE)
    return path


def _session_log(tmp_path):
    path = tmp_path / "train-item-views.csv"
    path.write_text(SESSION_LOG)
    return path


def _invoices(tmp_path):
    path = tmp_path / "OnlineRetail.csv.gz"
    path.write_bytes(gzip.compress(INVOICES.encode("utf-8")))
    return path


def _sessions(tmp_path):
    path = tmp_path / "otto_train.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in SESSIONS))
    return path


SHAPES = [_rees46_like, _session_log, _invoices, _sessions]


def _round_trip(proposal: Proposal) -> dict:
    text = proposal.to_yaml()
    loaded = yaml.safe_load(text)
    assert loaded == proposal.to_dict(), text
    return loaded


# -- pure helpers -------------------------------------------------------------------------------


class TestSourceNameFromPath:
    @pytest.mark.parametrize(
        ("path", "name"),
        [
            ("data/OnlineRetail_head9911.csv.gz", "online_retail_head9911"),
            ("/x/sample_train-item-views_srgnn.csv.gz", "sample_train_item_views_srgnn"),
            ("shop_x/*.csv", "shop_x"),
            ("/data/otto-recsys/", "otto_recsys"),
            ("2019-Oct.csv", "src_2019_oct"),
            ("s3a://bucket/logs/part-*.parquet", "logs"),
            ("***", "source"),
        ],
    )
    def test_source_name_from_path_is_table_safe(self, path, name):
        assert source_name_from_path(path) == name


class TestSniffSeparator:
    @pytest.mark.parametrize(
        ("header", "sep"),
        [
            ("a,b,c", ","),
            ("session_id;user_id;item_id", ";"),
            ("a\tb\tc", "\t"),
            ("a|b", "|"),
            ('"x;y",b,c', ","),  # a separator inside quotes does not count
            ("single", ","),
        ],
    )
    def test_sniff_separator_picks_the_most_frequent(self, header, sep):
        assert sniff_separator(header) == sep


class TestProposalToYaml:
    def test_to_yaml_quotes_what_plain_yaml_would_misread(self):
        # Setup: keys and values that plain YAML turns into booleans, numbers or syntax
        proposal = Proposal(
            name="odd",
            paths=("/data/a b/*.tsv",),
            format="csv",
            options={"header": "true", "sep": "\t", "nullValue": "N/A"},
            explode=None,
            columns={"event_time": "Zeit: Stempel", "event_type": "yes", "product_id": "#id"},
            user_id_fallback=None,
            quantity=None,
            timestamp={"format": "dd.MM.yyyy HH:mm:ss", "timezone": "Europe/Berlin"},
            hashed_ids=(),
            event_types={"yes": "view", "1": "cart", "in den korb": "in_den_korb", "ü": "type_"},
            event_counts={},
            extra_weights={"in_den_korb": 1.0},
            unmapped=("a", "b"),
            comments={"columns.event_time": "a comment with # and : and\nnewline " * 5},
            sampled_rows=3,
            files=1,
        )
        # Run
        text = proposal.to_yaml()
        # Assert: it reads back to the same structure; long comments are wrapped above their key
        assert yaml.safe_load(text) == proposal.to_dict()
        assert max(len(line) for line in text.splitlines()) <= 100
        assert text.rstrip().endswith("# unmapped: a, b")


# -- the format search --------------------------------------------------------------------------


@pytest.mark.spark
class TestBestTimestampFormat:
    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            (["2019-10-01 00:00:00 UTC", "2019-10-01 00:00:07 UTC"], "iso"),
            (["2024-03-01T10:00:00", "2024-03-01T10:00:30+01:00"], "iso"),
            (["12/1/2010 8:26", "12/13/2010 16:05"], "M/d/yyyy H:mm"),
            (["13/1/2010 8:26", "1/12/2010 16:05"], "d/M/yyyy H:mm"),
            (["01.02.2020 10:11:12"], "dd.MM.yyyy HH:mm:ss"),
            (["2020/01/02 10:11:12"], "yyyy/MM/dd HH:mm:ss"),
            (["1570000000.25", "1570000003"], "epoch_s"),
            (["1659304800025"], "epoch_ms"),
            (["1659304800025123"], "epoch_us"),
        ],
    )
    def test_best_timestamp_format_takes_the_most_parsed(self, spark, values, expected):
        assert best_timestamp_format(spark, values) == (expected, 1.0)

    def test_best_timestamp_format_ties_go_to_month_first_and_share_is_reported(self, spark):
        # both M/d and d/M parse 12/1/2010; one value of four parses with neither
        values = ["12/1/2010 8:26", "12/2/2010 9:00", "12/3/2010 9:30", "yesterday", "", None]
        shares = timestamp_format_shares(spark, values)
        assert shares["M/d/yyyy H:mm"] == shares["d/M/yyyy H:mm"] == 0.75
        assert best_timestamp_format(spark, values) == ("M/d/yyyy H:mm", 0.75)

    def test_best_timestamp_format_none_when_nothing_parses(self, spark):
        assert best_timestamp_format(spark, ["soon", "later"]) is None
        assert best_timestamp_format(spark, ["", None]) is None
        assert best_timestamp_format(spark, ["42"]) is None  # a number, but no plausible epoch


# -- proposals ----------------------------------------------------------------------------------


@pytest.mark.spark
class TestProposeSource:
    def test_propose_source_rees46_like_csv_with_epoch_fractions_and_extra_type(
        self, spark, tmp_path
    ):
        # Setup
        path = _rees46_like(tmp_path)
        # Run
        proposal = propose_source(spark, str(path))
        # Assert
        assert _round_trip(proposal) == {
            "source": {
                "kind": "generic",
                "name": "shop_x_events",
                "paths": [str(path)],
                "format": "csv",
                "options": {"header": "true", "sep": ","},
                "columns": {
                    "event_time": "timestamp",
                    "event_type": "behaviour",
                    "product_id": "item_id",
                    "user_id": "user_id",
                    "user_session": "session",
                    "category_id": "category_id",
                    "category_code": "category_code",
                    "brand": "brand",
                    "price": "price",
                },
                "timestamp": {"format": "epoch_s", "timezone": "UTC"},
                "hashed_ids": [],
                "event_types": {
                    "pv": "view",
                    "fav": "favorite",
                    "cart": "cart",
                    "buy": "purchase",
                    "share": "share",
                },
            },
            "features": {"interactions": {"weights": {"share": 1.0}}},
        }
        assert proposal.event_counts == {"pv": 3, "fav": 1, "cart": 1, "buy": 1, "share": 1}
        text = proposal.to_yaml()
        assert "pv: view  # 3 rows" in text
        assert "with fractions of a second" in text
        assert proposal.unmapped == ()

    def test_propose_source_session_log_with_na_users_dates_and_offset(self, spark, tmp_path):
        # Setup
        path = _session_log(tmp_path)
        # Run
        proposal = propose_source(spark, str(path))
        # Assert: users from the session where NA; time = date + timeframe ms
        source = _round_trip(proposal)["source"]
        assert source["options"] == {"header": "true", "sep": ";", "nullValue": "NA"}
        assert source["columns"] == {
            "event_time": "eventdate",
            "event_type": {"constant": "view"},
            "product_id": "itemId",
            "user_id": "userId",
            "user_session": "sessionId",
        }
        assert source["user_id_fallback"] == "sessionId"
        assert source["timestamp"] == {
            "format": "iso",
            "timezone": "UTC",
            "offset": {"column": "timeframe", "unit": "ms"},
        }
        assert source["hashed_ids"] == ["user_id"]  # the fallback needs it
        assert source["event_types"] == {"view": "view"}
        assert "features" not in proposal.to_dict()
        assert "71.4% of sampled userId values are blank" in proposal.to_yaml()

    def test_propose_source_invoices_with_bom_crlf_returns_and_guest_customers(
        self, spark, tmp_path
    ):
        # Setup: gzip, a byte-order mark, CRLF, m/d/yyyy dates, negative quantities
        path = _invoices(tmp_path)
        # Run
        proposal = propose_source(spark, str(path))
        # Assert
        data = _round_trip(proposal)
        source = data["source"]
        assert source["name"] == "online_retail"
        assert source["options"] == {"header": "true", "sep": ","}
        assert source["columns"] == {
            "event_time": "InvoiceDate",
            "event_type": {"constant": "purchase"},
            "product_id": "StockCode",
            "user_id": "CustomerID",
            "user_session": "InvoiceNo",
            "price": "UnitPrice",
        }
        assert source["user_id_fallback"] == "InvoiceNo"
        assert source["quantity"] == {"column": "Quantity", "negative_type": "return"}
        assert source["timestamp"] == {"format": "M/d/yyyy H:mm", "timezone": "UTC"}
        assert source["hashed_ids"] == ["product_id", "user_id"]
        assert source["event_types"] == {"purchase": "purchase"}
        assert data["features"]["interactions"]["weights"] == {"return": -5.0}
        assert proposal.unmapped == ("Description", "Country")
        text = proposal.to_yaml()
        assert "2 of 5 sampled quantities are negative" in text
        assert "40% of sampled CustomerID values are blank" in text
        assert text.rstrip().endswith("# unmapped: Description, Country")

    def test_propose_source_nested_json_sessions_explode_events(self, spark, tmp_path):
        # Setup
        path = _sessions(tmp_path)
        # Run
        proposal = propose_source(spark, str(path))
        # Assert: one row per event, a user is a session
        source = _round_trip(proposal)["source"]
        assert "options" not in source
        assert source["format"] == "json"
        assert source["explode"] == "events"
        assert source["columns"] == {
            "event_time": "events.ts",
            "event_type": "events.type",
            "product_id": "events.aid",
            "user_id": "session",
            "user_session": "session",
        }
        assert source["timestamp"] == {"format": "epoch_ms", "timezone": "UTC"}
        assert source["hashed_ids"] == []
        assert source["event_types"] == {"clicks": "view", "carts": "cart", "orders": "purchase"}
        assert proposal.event_counts == {"clicks": 4, "carts": 2, "orders": 1}
        assert proposal.sampled_rows == 7
        assert "no user column: each session is a user" in proposal.to_yaml()

    def test_propose_source_nested_parquet_with_timestamps_and_string_ids(self, spark, tmp_path):
        # Setup: Parquet sessions of events with a timestamp type and SKU strings
        day = dt.datetime(2024, 3, 1)
        rows = [
            ("u-1", [("A1", day, "view"), ("B2", day + dt.timedelta(hours=1), "add_to_cart")]),
            ("u-2", [("A1", day + dt.timedelta(days=1), "checkout")]),
        ]
        schema = "visitor_id string, events array<struct<sku:string, at:timestamp, action:string>>"
        spark.createDataFrame(rows, schema).write.parquet(str(tmp_path / "logs"))
        # Run: a folder (with Spark's _SUCCESS marker in it)
        proposal = propose_source(spark, str(tmp_path / "logs"))
        # Assert
        source = _round_trip(proposal)["source"]
        assert (source["format"], source["explode"], source["name"]) == (
            "parquet",
            "events",
            "logs",
        )
        assert source["columns"] == {
            "event_time": "events.at",
            "event_type": "events.action",
            "product_id": "events.sku",
            "user_id": "visitor_id",
        }
        assert source["timestamp"]["format"] == "iso"
        assert source["hashed_ids"] == ["product_id", "user_id"]
        assert source["event_types"] == {
            "view": "view",
            "add_to_cart": "cart",
            "checkout": "purchase",
        }
        assert "cleaning rebuilds sessions" in proposal.to_yaml()

    def test_propose_source_folder_glob_format_and_name_options(self, spark, tmp_path):
        # Setup: two CSV files and a README in a folder
        folder = tmp_path / "shop"
        folder.mkdir()
        (folder / "a.csv").write_text(REES46_LIKE)
        (folder / "b.csv").write_text(REES46_LIKE)
        (folder / "README.md").write_text("# not data\n")
        # Run
        by_folder = propose_source(spark, str(folder), sample_rows=3, name="my_shop")
        by_glob = propose_source(spark, str(folder / "*.csv"))
        # Assert: the README is not read; rows are sampled from both files
        assert (by_folder.name, by_folder.files, by_folder.sampled_rows) == ("my_shop", 2, 3)
        assert (by_glob.name, by_glob.files, by_glob.sampled_rows) == ("shop", 2, 14)
        assert by_glob.event_counts["pv"] == 6
        with pytest.raises(ConfigError, match="sample_rows=0"):
            propose_source(spark, str(folder), sample_rows=0)
        with pytest.raises(ConfigError, match="name='My Shop'"):
            propose_source(spark, str(folder), name="My Shop")

    def test_propose_source_unknown_columns_left_null_with_todo(self, spark, tmp_path):
        # Setup: nothing looks like an event log
        path = tmp_path / "mystery.txt"
        path.write_text("alpha|beta|gamma\n1|2|3\n")
        # Run
        proposal = propose_source(spark, str(path))
        # Assert: still a proposal, with nulls and TODO comments
        source = _round_trip(proposal)["source"]
        assert source["options"] == {"header": "true", "sep": "|"}
        assert source["columns"] == {
            "event_time": None,
            "event_type": {"constant": "view"},
            "product_id": None,
            "user_id": None,
        }
        assert source["timestamp"]["format"] is None
        text = proposal.to_yaml()
        assert "user_id: null  # TODO: no column looks like a user id; name one" in text
        assert "event_time: null  # TODO: no column looks like an event time; name one" in text
        assert proposal.unmapped == ("alpha", "beta", "gamma")

    def test_propose_source_missing_path_raises_input_error(self, spark, tmp_path):
        with pytest.raises(InputError, match="does not exist"):
            propose_source(spark, str(tmp_path / "nope.csv"))

    @pytest.mark.parametrize("shape", SHAPES, ids=lambda f: f.__name__.strip("_"))
    def test_propose_source_result_is_a_valid_job_config(self, spark, tmp_path, shape):
        # the proposal is a config to start from: as proposed, the job config model accepts it
        proposal = propose_source(spark, str(shape(tmp_path)))
        config = JobConfig.model_validate(yaml.safe_load(proposal.to_yaml()))
        assert config.source.name == proposal.name


@pytest.mark.spark
@pytest.mark.data
class TestProposeSourceOnSharedSamples:
    def test_propose_source_on_the_shared_real_samples(self, spark):
        # Setup: the real samples (skipped with a reason when ../shared/data is absent)
        diginetica = shared_data("diginetica-cikm2016")
        retail = shared_data("uci-online-retail", "OnlineRetail_head9911.csv.gz")
        otto = shared_data("otto-recsys")
        # Run
        views = _round_trip(propose_source(spark, str(diginetica)))["source"]
        invoices = _round_trip(propose_source(spark, str(retail)))
        sessions = propose_source(spark, str(otto))
        # Assert: DIGINETICA - ';', NA users (62%), a date plus milliseconds
        assert views["options"] == {"header": "true", "sep": ";", "nullValue": "NA"}
        assert (views["columns"]["product_id"], views["user_id_fallback"]) == (
            "item_id",
            "session_id",
        )
        assert views["timestamp"]["offset"] == {"column": "timeframe", "unit": "ms"}
        # UCI Online Retail - m/d/yyyy (d/M parses these four days too), returns, guests
        source = invoices["source"]
        assert source["timestamp"]["format"] == "M/d/yyyy H:mm"
        assert source["quantity"] == {"column": "Quantity", "negative_type": "return"}
        assert source["user_id_fallback"] == "InvoiceNo"
        assert source["hashed_ids"] == ["product_id", "user_id"]
        assert invoices["features"]["interactions"]["weights"] == {"return": -5.0}
        # OTTO - nested sessions, epoch ms, the vocabulary with its counts
        assert sessions.explode == "events"
        assert sessions.timestamp["format"] == "epoch_ms"
        assert sessions.event_counts == {"clicks": 800, "carts": 52, "orders": 10}
        assert dict(sessions.event_types) == {
            "clicks": "view",
            "carts": "cart",
            "orders": "purchase",
        }
        _round_trip(sessions)


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.spark
class TestCliInspect:
    def test_main_inspect_prints_yaml_and_returns_0(self, spark, tmp_path, capsys):
        # Setup
        path = _sessions(tmp_path)
        # Run: no --config needed
        code = main(["inspect", str(path), "--rows", "5", "--name", "otto"])
        # Assert: stdout is exactly the YAML
        assert code == 0
        out = yaml.safe_load(capsys.readouterr().out)
        assert out["source"]["name"] == "otto"
        assert out["source"]["explode"] == "events"

    def test_main_inspect_missing_path_returns_2_with_message(self, spark, tmp_path, capsys):
        code = main(["inspect", str(tmp_path / "missing.csv")])
        captured = capsys.readouterr()
        assert code == 2
        assert captured.out == ""
        assert "error: input path does not exist" in captured.err
