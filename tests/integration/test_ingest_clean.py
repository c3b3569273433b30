"""Ingestion and cleaning end to end on files: adapters, idempotency, bad input, accounting."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from synth.clean.pipeline import clean
from synth.config.base import load_yaml, parse_model
from synth.config.clean import CleanConfig
from synth.config.ingest import GenericSource, Rees46CosmeticsSource, Rees46MultiCategorySource
from synth.errors import InputError, SchemaMismatchError
from synth.ingest.bronze import ingest
from synth.io.delta import read_table, table_exists
from tests.conftest import shared_data
from tests.factories import REES46_HEADER, write_csv

pytestmark = pytest.mark.spark

REPO = Path(__file__).resolve().parents[2]
LINES = [
    "2019-10-01 00:00:00 UTC,view,100,2053013555631882655,electronics.smartphone,acme,10.00,1,s1",
    "2019-10-01 00:00:00 UTC,view,100,2053013555631882655,electronics.smartphone,acme,10.00,1,s1",
    "2019-10-01 00:05:00 UTC,cart,100,2053013555631882655,electronics.smartphone,acme,10.00,1,s1",
    "2019-10-01 00:06:00 UTC,purchase,100,2053013555631882655,,,10.00,1,s1",
    "not a time,view,101,2053013555631882655,,,5.00,2,s2",
    "2019-10-01 00:07:00 UTC,view,101,2053013555631882655,,,5.00,2",
    "2019-10-01 00:08:00 UTC,view,101,2053013555631882655,,,0,2,s2",
]


class TestIngest:
    def test_ingest_idempotent_and_appends_new_files(self, spark, lakehouse, tmp_path):
        # Setup
        landing = tmp_path / "landing"
        write_csv(landing / "day1.csv", LINES)
        source = Rees46MultiCategorySource(name="t", paths=[str(landing)])
        # Run: first ingest, same files again, then a new file
        first = ingest(spark, source, lakehouse)
        again = ingest(spark, source, lakehouse)
        write_csv(landing / "day2.csv.gz", []).unlink()
        with gzip.open(landing / "day2.csv.gz", "wt") as fh:
            fh.write("\n".join([REES46_HEADER, *LINES[:2]]) + "\n")
        third = ingest(spark, source, lakehouse)
        # Assert
        assert first.rows_added == 7 and len(first.new_files) == 1
        assert again.rows_added == 0 and again.new_files == [] and len(again.skipped_files) == 1
        assert third.rows_added == 2 and [Path(f).name for f in third.new_files] == ["day2.csv.gz"]
        bronze = read_table(spark, lakehouse.bronze_table("t"))
        assert bronze.count() == 9
        malformed = bronze.where("_raw_record is not null").collect()
        assert len(malformed) == 1 and malformed[0]["_raw_record"].endswith(",5.00,2")
        assert {r["_ingest_id"] for r in bronze.select("_ingest_id").distinct().collect()} == {
            first.ingest_id,
            third.ingest_id,
        }

    def test_ingest_missing_path_is_clear_error(self, spark, lakehouse, tmp_path):
        source = Rees46MultiCategorySource(paths=[str(tmp_path / "nope")])
        with pytest.raises(InputError, match=r"input path does not exist: .*nope"):
            ingest(spark, source, lakehouse)
        assert not table_exists(spark, lakehouse.bronze_table("rees46_multi_category"))

    def test_ingest_header_mismatch_names_expected_and_found(self, spark, lakehouse, tmp_path):
        bad = write_csv(tmp_path / "in" / "x.csv", ["1,2"], header="time,kind")
        good = write_csv(tmp_path / "in" / "a.csv", LINES)
        source = Rees46MultiCategorySource(paths=[str(good), str(bad)])
        with pytest.raises(SchemaMismatchError) as err:
            ingest(spark, source, lakehouse)
        message = str(err.value)
        assert "x.csv" in message and "expected columns: event_time,event_type" in message
        assert "found columns:    time,kind" in message and "generic" in message
        # Nothing partial: the good file was not written either
        assert not table_exists(spark, lakehouse.bronze_table("rees46_multi_category"))

    def test_ingest_empty_inputs_rejected(self, spark, lakehouse, tmp_path):
        header_only = write_csv(tmp_path / "h" / "a.csv", [])
        with pytest.raises(InputError, match="input is empty"):
            ingest(spark, Rees46MultiCategorySource(paths=[str(header_only)]), lakehouse)
        zero = tmp_path / "z" / "b.csv"
        zero.parent.mkdir()
        zero.write_text("")
        with pytest.raises(InputError, match=r"b.csv: file is empty"):
            ingest(spark, Rees46MultiCategorySource(paths=[str(zero)]), lakehouse)
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "notes.md").write_text("# not data")
        with pytest.raises(InputError, match=r"no data files ending in \.csv"):
            ingest(spark, Rees46MultiCategorySource(paths=[str(tmp_path / "d")]), lakehouse)
        assert not (Path(lakehouse.root) / "bronze").exists()


class TestCleanAccounting:
    def test_clean_accounts_for_every_row(self, spark, lakehouse, tmp_path):
        # Setup
        write_csv(tmp_path / "l" / "a.csv", LINES)
        source = Rees46MultiCategorySource(name="t", paths=[str(tmp_path / "l")])
        ingest(spark, source, lakehouse)
        # Run
        report = clean(spark, source, CleanConfig(), lakehouse)
        # Assert: 7 rows = 4 silver + 1 exact duplicate + bad_timestamp + malformed + invalid_price
        assert report.balanced and report.bronze_rows == 7 and report.silver_rows == 3
        assert report.removed_duplicates == {"exact_duplicate": 1}
        assert report.quarantined == {"malformed_row": 1, "bad_timestamp": 1, "invalid_price": 1}
        quarantine = read_table(spark, lakehouse.quarantine_table()).toPandas()
        assert sorted(quarantine.reason) == ["bad_timestamp", "invalid_price", "malformed_row"]
        written = json.loads(
            (Path(lakehouse.root) / "_reports" / "clean_accounting.json").read_text()
        )
        assert (
            written["balanced"] is True
            and written["silver_rows"] == 3
            and written["bronze_version"] == 0
        )

    def test_clean_is_idempotent_and_records_bronze_version(self, spark, lakehouse, tmp_path):
        write_csv(tmp_path / "l" / "a.csv", LINES)
        source = Rees46MultiCategorySource(name="t", paths=[str(tmp_path / "l")])
        ingest(spark, source, lakehouse)
        clean(spark, source, CleanConfig(), lakehouse)
        first = read_table(spark, lakehouse.silver_table()).toPandas()
        clean(spark, source, CleanConfig(), lakehouse)
        second = read_table(spark, lakehouse.silver_table()).toPandas()
        key = list(first.columns)
        assert (
            first.sort_values(key)
            .reset_index(drop=True)
            .equals(second.sort_values(key).reset_index(drop=True))
        )
        from synth.io.delta import last_commit_metadata

        assert last_commit_metadata(spark, lakehouse.silver_table())["bronze_version"] == "0"

    def test_clean_without_bronze_is_clear_error(self, spark, lakehouse):
        with pytest.raises(InputError, match="run ingestion first"):
            clean(
                spark, Rees46MultiCategorySource(name="none", paths=["x"]), CleanConfig(), lakehouse
            )


class TestGenericAdapter:
    def _source(self) -> GenericSource:
        data = load_yaml(REPO / "configs" / "generic_example.yaml")["source"]
        data["paths"] = [str(REPO / "tests" / "data" / "generic_events.csv")]
        return parse_model(GenericSource, data, where="generic_example.yaml")

    def test_generic_csv_example_config(self, spark, lakehouse):
        source = self._source()
        ingest(spark, source, lakehouse)
        report = clean(spark, source, CleanConfig(), lakehouse)
        assert report.bronze_rows == 10 and report.silver_rows == 6 and report.balanced
        assert report.quarantined == {
            "malformed_row": 1,
            "bad_timestamp": 1,
            "unknown_event_type": 1,
            "invalid_price": 1,
        }
        silver = read_table(spark, lakehouse.silver_table()).toPandas()
        assert silver.price_imputed.sum() == 1 and silver.session_rebuilt.sum() == 1
        assert str(silver.event_time.min()) == "2024-03-01 09:00:00"  # Europe/Berlin -> UTC

    def test_generic_parquet_and_missing_mapped_column(self, spark, lakehouse, tmp_path):
        import pandas as pd

        frame = pd.DataFrame(
            {
                "when": ["2024-01-01 10:00:00"],
                "what": ["click"],
                "item": [5],
                "who": [9],
                "p": [1.5],
            }
        )
        frame.to_parquet(tmp_path / "e.parquet")
        base = {
            "kind": "generic",
            "name": "pq",
            "paths": [str(tmp_path / "e.parquet")],
            "format": "parquet",
            "event_types": {"click": "view"},
        }
        ok = parse_model(
            GenericSource,
            {
                **base,
                "columns": {
                    "event_time": "when",
                    "event_type": "what",
                    "product_id": "item",
                    "user_id": "who",
                    "price": "p",
                },
            },
            where="t",
        )
        assert ingest(spark, ok, lakehouse).rows_added == 1
        report = clean(spark, ok, CleanConfig(), lakehouse)
        assert report.silver_rows == 1 and report.quarantined == {}
        bad = parse_model(
            GenericSource,
            {
                **base,
                "name": "pq2",
                "columns": {
                    "event_time": "when",
                    "event_type": "kind",
                    "product_id": "item",
                    "user_id": "who",
                },
            },
            where="t",
        )
        with pytest.raises(SchemaMismatchError, match=r"missing: \['kind'\]"):
            ingest(spark, bad, lakehouse)


@pytest.mark.data
class TestRealRees46:
    def test_multi_category_sample_known_counts(self, spark, lakehouse):
        source = Rees46MultiCategorySource(paths=[str(shared_data("rees46-multi-category-store"))])
        assert ingest(spark, source, lakehouse).rows_added == 17_434  # SOURCE.md
        report = clean(spark, source, CleanConfig(), lakehouse)
        assert report.balanced and report.bronze_rows == 17_434
        # Reference counts checked independently with pandas (exact duplicates over all 9 fields,
        # same user/product/type within 1 s, prices <= 0).
        assert report.removed_duplicates == {"exact_duplicate": 5, "near_duplicate": 9}
        assert report.quarantined == {"invalid_price": 19}
        assert report.silver_rows == 17_434 - 5 - 9 - 19

    def test_cosmetics_samples_known_counts(self, spark, lakehouse, tmp_path):
        folder = shared_data("rees46-cosmetics-shop")
        source = Rees46CosmeticsSource(paths=[str(folder)])
        report_in = ingest(spark, source, lakehouse)
        assert report_in.rows_added == 22_283 + 20_286  # SOURCE.md
        report = clean(spark, source, CleanConfig(), lakehouse)
        assert report.balanced
        assert report.removed_duplicates == {
            "exact_duplicate": 1242 + 1199,
            "near_duplicate": 399 + 389,
        }
        assert report.quarantined["invalid_price"] == 53
        assert report.quarantined.get("bot_user", 0) > 0
        rows = read_table(spark, lakehouse.bronze_table("rees46_cosmetics")).where(
            "_source_row = '4102282'"
        )
        assert rows.count() == 1  # the file's own row numbers are kept for tracing

    def test_cosmetics_file_rejected_by_multi_category_adapter(self, spark, lakehouse):
        folder = shared_data("rees46-cosmetics-shop")
        with pytest.raises(SchemaMismatchError, match="unexpected: \\['source_row'\\]"):
            ingest(spark, Rees46MultiCategorySource(paths=[str(folder)]), lakehouse)
