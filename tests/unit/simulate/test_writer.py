"""``write_event_csv`` on hand-written rows: exact bytes, raw lines, errors."""

from __future__ import annotations

import gzip

import pytest

from synth.errors import ConfigError, SchemaMismatchError
from synth.schema import EVENT_COLUMNS, RAW_EVENT_SCHEMA, RAW_RECORD
from synth.simulate import HEADER, write_event_csv

pytestmark = pytest.mark.spark

SCHEMA = f"{', '.join(f'{c} string' for c in EVENT_COLUMNS)}, {RAW_RECORD} string"
ROWS = [
    (
        "2019-10-01 00:00:02 UTC",
        "view",
        "1",
        "2053013555631882655",
        None,
        "acme",
        "1.50",
        "7",
        "s-1",
        None,
    ),
    (
        "2019-10-01 00:00:01 UTC",
        "cart",
        "2",
        "2053013555631882655",
        "a.b",
        None,
        "0.00",
        "7",
        None,
        None,
    ),
    (
        "2019-10-01 00:00:03 UTC",
        "view",
        "3",
        None,
        None,
        None,
        None,
        None,
        None,
        "2019-10-01 00:00:03 UTC,view,3,4,,,9.99,7",
    ),
]


def _part_files(path):
    return sorted(p for p in path.iterdir() if p.name.startswith("part-"))


def test_writes_header_and_exact_lines_sorted_by_time(spark, tmp_path):
    # Setup
    df = spark.createDataFrame(ROWS, SCHEMA).coalesce(1)
    # Run
    write_event_csv(df, str(tmp_path / "out"))
    # Assert: byte for byte; nulls are empty fields; the raw line is written as is
    files = _part_files(tmp_path / "out")
    assert len(files) == 1
    assert (
        files[0].read_bytes()
        == (
            f"{HEADER}\n"
            "2019-10-01 00:00:01 UTC,cart,2,2053013555631882655,a.b,,0.00,7,\n"
            "2019-10-01 00:00:02 UTC,view,1,2053013555631882655,,acme,1.50,7,s-1\n"
            "2019-10-01 00:00:03 UTC,view,3,4,,,9.99,7\n"
        ).encode()
    )


def test_header_is_the_multi_category_store_header():
    assert HEADER == (
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
        "user_session"
    )


def test_files_and_gzip(spark, tmp_path):
    # Setup
    df = spark.createDataFrame(ROWS * 10, SCHEMA)
    # Run
    write_event_csv(df, str(tmp_path / "gz"), compression="gzip", files=2)
    # Assert: every file has the header; the files split the time range in order
    files = _part_files(tmp_path / "gz")
    assert all(f.name.endswith(".csv.gz") for f in files)
    lines = [gzip.decompress(f.read_bytes()).decode().splitlines() for f in files]
    assert all(chunk[0] == HEADER for chunk in lines)
    body = [line for chunk in lines for line in chunk[1:]]
    assert len(body) == 30
    assert body == sorted(body)


def test_frame_without_raw_record_column(spark, tmp_path):
    df = spark.createDataFrame([r[:9] for r in ROWS[:2]], RAW_EVENT_SCHEMA).coalesce(1)
    write_event_csv(df, str(tmp_path / "plain"))
    text = _part_files(tmp_path / "plain")[0].read_text()
    assert text.splitlines()[1].startswith("2019-10-01 00:00:01 UTC,cart,2,")


def test_existing_path_is_refused_unless_overwrite(spark, tmp_path):
    df = spark.createDataFrame(ROWS, SCHEMA)
    write_event_csv(df, str(tmp_path / "x"))
    with pytest.raises(Exception, match="already exists"):
        write_event_csv(df, str(tmp_path / "x"))
    write_event_csv(df, str(tmp_path / "x"), mode="overwrite")


def test_missing_columns_are_named(spark, tmp_path):
    df = spark.createDataFrame([("a", "b")], "event_time string, event_type string")
    with pytest.raises(SchemaMismatchError, match="lacks column\\(s\\) product_id, category_id"):
        write_event_csv(df, str(tmp_path / "bad"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compression": "rar"}, "compression='rar'"),
        ({"files": 0}, "files=0"),
        ({"mode": "append"}, "mode="),
    ],
)
def test_bad_options(spark, tmp_path, kwargs, message):
    df = spark.createDataFrame(ROWS, SCHEMA)
    with pytest.raises(ConfigError, match=message):
        write_event_csv(df, str(tmp_path / "bad"), **kwargs)
