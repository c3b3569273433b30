"""Truncated and corrupt compressed input: one InputError naming the file and the fix, no commit."""

from __future__ import annotations

import bz2
import gzip
import json
import random
from pathlib import Path

import pytest

from synth.config.base import parse_model
from synth.config.ingest import GenericSource, Rees46MultiCategorySource
from synth.errors import InputError
from synth.ingest.bronze import ingest
from synth.ingest.files import check_decodes, raise_if_undecodable
from synth.io.delta import Lakehouse, table_exists, table_version

pytestmark = pytest.mark.spark

HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
)
FIX = "Fix: re-download or re-export the file"
SKIP_IT = "or remove it from `paths` to ingest the others"


def _rees46_csv(rows: int = 3000, seed: int = 1) -> bytes:
    """A REES46 CSV with random ids, so it compresses to ~100 kB over many deflate blocks."""
    rng = random.Random(seed)
    lines = [HEADER] + [
        f"2019-10-01 00:{i // 60 % 60:02d}:{i % 60:02d} UTC,view,{rng.randrange(10**8)},"
        f"2103807459595387724,,shiseido,{rng.random() * 100:.2f},{rng.randrange(10**9)},"
        f"{rng.getrandbits(128):032x}"
        for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _bad_block_type(member: bytes) -> bytes:
    """A gzip member whose first deflate block header says BTYPE=11 (reserved: invalid)."""
    corrupt = bytearray(member)
    corrupt[10] |= 0b110  # the byte after the 10-byte gzip header: BFINAL, then 2 BTYPE bits
    return bytes(corrupt)


def _table(lakehouse: Lakehouse) -> str:
    return lakehouse.bronze_table("rees46_multi_category")


class TestCheckDecodes:
    def test_check_decodes_whole_plain_and_truncated(self, spark, tmp_path):
        # Setup
        data = gzip.compress(_rees46_csv(), mtime=0)
        whole = _write(tmp_path / "whole.csv.gz", data)
        plain = _write(tmp_path / "plain.csv", b"not compressed at all")
        cut = _write(tmp_path / "cut.csv.gz", data[: len(data) // 2])
        # Run / Assert
        assert check_decodes(spark, whole.as_uri()) is None
        assert check_decodes(spark, plain.as_uri()) is None  # nothing to decode
        assert check_decodes(spark, cut.as_uri()) == (
            "java.io.EOFException: Unexpected end of input stream"
        )

    def test_raise_if_undecodable_ignores_other_failures(self, spark, tmp_path):
        # Setup: a whole file, and a failure that is or only looks like a decoding error
        data = gzip.compress(_rees46_csv(rows=50), mtime=0)
        whole = _write(tmp_path / "whole.csv.gz", data).as_uri()
        # Run / Assert: returns, so the caller re-raises the original error
        assert raise_if_undecodable(spark, [whole], RuntimeError("executor lost")) is None
        looks = RuntimeError("java.io.EOFException: Unexpected end of input stream")
        assert raise_if_undecodable(spark, [whole], looks) is None


class TestIngestBadCompressedFiles:
    def test_ingest_truncated_gzip_names_file_and_fix(self, spark, lakehouse, tmp_path):
        # Setup: a valid multi-kB gzip cut in half (the header and first rows still decode)
        data = gzip.compress(_rees46_csv(), mtime=0)
        bad = _write(tmp_path / "in" / "2019-Oct.csv.gz", data[: len(data) // 2])
        source = Rees46MultiCategorySource(paths=[str(bad)])
        # Run
        with pytest.raises(InputError) as err:
            ingest(spark, source, lakehouse)
        # Assert
        message = str(err.value)
        assert message.startswith(bad.as_uri().replace("file:///", "file:/") + ": ")
        assert "truncated or corrupt gzip data: Unexpected end of input stream" in message
        assert FIX in message and f"`gzip -t {bad}` checks a gzip file" in message
        assert SKIP_IT in message and "at org.apache" not in message
        assert not table_exists(spark, _table(lakehouse))

    def test_ingest_invalid_block_type_in_header(self, spark, lakehouse, tmp_path):
        # Setup: the first deflate block is corrupt, so even the header cannot be decoded
        data = _bad_block_type(gzip.compress(_rees46_csv(), mtime=0))
        bad = _write(tmp_path / "in" / "events.csv.gz", data)
        # Run
        with pytest.raises(InputError) as err:
            ingest(spark, Rees46MultiCategorySource(paths=[str(bad)]), lakehouse)
        # Assert
        message = str(err.value)
        assert "events.csv.gz: cannot decode the header line" in message
        assert "truncated or corrupt gzip data: invalid block type" in message
        assert FIX in message and "gzip -t" in message and SKIP_IT in message
        assert not table_exists(spark, _table(lakehouse))

    def test_ingest_invalid_block_type_after_header(self, spark, lakehouse, tmp_path):
        # Setup: two gzip members (as `cat a.gz b.gz` makes): the first whole, the second corrupt
        head = gzip.compress(_rees46_csv(rows=500), mtime=0)  # > the readers' 8 kB buffers
        tail = _bad_block_type(gzip.compress(b"\n".join(_rees46_csv().splitlines()[1:]), mtime=0))
        bad = _write(tmp_path / "in" / "events.csv.gz", head + tail)
        # Run
        with pytest.raises(InputError) as err:
            ingest(spark, Rees46MultiCategorySource(paths=[str(bad)]), lakehouse)
        # Assert: found by the failed Spark job, not by the header check
        message = str(err.value)
        assert "events.csv.gz: truncated or corrupt gzip data: invalid block type" in message
        assert "header" not in message and FIX in message and SKIP_IT in message
        assert not table_exists(spark, _table(lakehouse))

    def test_ingest_bad_file_among_new_ones_adds_no_version(self, spark, lakehouse, tmp_path):
        # Setup: a first ingest, then two new files of which one is truncated
        landing = tmp_path / "landing"
        _write(landing / "day1.csv.gz", gzip.compress(_rees46_csv(rows=100, seed=1), mtime=0))
        source = Rees46MultiCategorySource(paths=[str(landing)])
        first = ingest(spark, source, lakehouse)
        _write(landing / "day2.csv.gz", gzip.compress(_rees46_csv(seed=2), mtime=0))
        cut = gzip.compress(_rees46_csv(seed=3), mtime=0)
        _write(landing / "day3.csv.gz", cut[: len(cut) // 2])
        # Run
        with pytest.raises(InputError) as err:
            ingest(spark, source, lakehouse)
        # Assert: the culprit is named, the others are not, and bronze has no new version
        message = str(err.value)
        assert "day3.csv.gz: truncated or corrupt gzip data" in message
        assert "day1" not in message and "day2" not in message
        assert table_version(spark, _table(lakehouse)) == first.table_version

    def test_ingest_truncated_bzip2(self, spark, lakehouse, tmp_path):
        # Setup: one bzip2 block (< 900 kB), so the cut already breaks the header's block
        data = bz2.compress(_rees46_csv())
        bad = _write(tmp_path / "in" / "events.csv.bz2", data[: len(data) // 2])
        # Run
        with pytest.raises(InputError) as err:
            ingest(spark, Rees46MultiCategorySource(paths=[str(bad)]), lakehouse)
        # Assert
        message = str(err.value)
        assert "events.csv.bz2: cannot decode the header line" in message
        assert "truncated or corrupt bzip2 data" in message
        assert f"`bzip2 -t {bad}` checks a bzip2 file" in message and SKIP_IT in message
        assert not table_exists(spark, _table(lakehouse))

    def test_ingest_truncated_json_gzip(self, spark, lakehouse, tmp_path):
        # Setup: a JSON-lines event log (no header to check) cut in half
        rng = random.Random(5)
        lines = [
            json.dumps(
                {
                    "ts": f"2024-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}",
                    "action": "view",
                    "sku": rng.getrandbits(64),
                    "shopper": rng.getrandbits(32),
                }
            )
            for i in range(3000)
        ]
        data = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
        bad = _write(tmp_path / "in" / "events.json.gz", data[: len(data) // 2])
        source = parse_model(
            GenericSource,
            {
                "kind": "generic",
                "name": "shop_json",
                "paths": [str(bad)],
                "format": "json",
                "columns": {
                    "event_time": "ts",
                    "event_type": "action",
                    "product_id": "sku",
                    "user_id": "shopper",
                },
                "timestamp": {"format": "iso"},
            },
            where="t",
        )
        # Run
        with pytest.raises(InputError) as err:
            ingest(spark, source, lakehouse)
        # Assert
        message = str(err.value)
        assert "events.json.gz: truncated or corrupt gzip data: Unexpected end of input" in message
        assert FIX in message and SKIP_IT in message
        assert not table_exists(spark, lakehouse.bronze_table("shop_json"))
