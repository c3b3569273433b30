"""Benchmark CSV -> bronze -> silver: the project's Spark jobs vs the same cleaning in DuckDB.

Steps (each in its own child process, so each starts cold and its memory is measured alone):

1. ``simulate``: ``--events`` simulated events with the default dirt, written as plain CSV under
   ``<workdir>/csv`` (timed, but not part of the comparison). ``--skip-simulate`` reuses the CSV
   when ``<workdir>/csv_marker.json`` says it was made with the same events and seed.
2. ``spark``: a fresh JVM and session from ``build_session("local")``; times
   ``synth.ingest.bronze.ingest`` (CSV -> bronze Delta) and ``synth.clean.pipeline.clean`` with the
   default ``CleanConfig()`` (bronze -> silver + quarantine Delta) into a fresh lakehouse.
3. ``duckdb``: the same cleaning written as DuckDB SQL (:data:`CLEAN_SQL`) on the same CSV files,
   writing silver and quarantine as Parquet; timed from connect to the last file written.

The parent process samples the resident memory of each child's process tree (the Spark child
includes its JVM) every 0.2 s, compares the per-reason counts of both engines, writes
``bench/results/ingest_clean.json`` and prints a summary. Targets that are missed are reported
as MISSED; the exit code is still 0 (1 only when a step fails).

Usage::

    .venv/bin/python -m bench.ingest_clean                       # 10M events (the real run)
    .venv/bin/python -m bench.ingest_clean --events 200000       # a quick end-to-end check
    .venv/bin/python -m bench.ingest_clean --skip-simulate       # reuse the CSV in the workdir

Memory: Spark gets ``--driver-memory`` of heap (default 8g; in local mode the driver is the only
JVM), DuckDB the same amount as ``memory_limit`` (``--duckdb-memory``), so neither engine wins by
using more RAM. Both spill under ``<workdir>``. The two runs do not overlap, so on a 24 GiB machine
the peak is one engine's, about 8 GiB heap plus JVM / Python overhead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    GIB,
    RESULTS,
    WORK,
    Targets,
    local_session,
    print_targets,
    result_document,
    run_module,
    write_json,
)

if TYPE_CHECKING:
    from synth.config.clean import CleanConfig

RESULT = RESULTS / "ingest_clean.json"
SOURCE_NAME = "bench"
MARKER = "csv_marker.json"

TARGETS: Targets = {
    "spark_events_per_s": (">=", 250_000),
    "spark_vs_duckdb_wall_ratio": ("<=", 5.0),
}

log = logging.getLogger("bench.ingest_clean")


# --------------------------------------------------------------------------------------------
# Step 1: simulate (child process)
# --------------------------------------------------------------------------------------------


def _session(args: argparse.Namespace, app: str) -> Any:
    work = Path(args.workdir)
    # Shuffle / spill files under the workdir, not /tmp.
    return local_session(
        app,
        driver_memory=args.driver_memory,
        local_dir=work / "spark-local",
        warehouse_dir=work / "spark-warehouse",
    )


def csv_files(csv_dir: Path) -> list[Path]:
    """Return the data files Spark's ingestion takes from ``csv_dir`` (no hidden files)."""
    return sorted(
        p
        for p in csv_dir.iterdir()
        if p.name.endswith(".csv") and not p.name.startswith(("_", "."))
    )


def phase_simulate(args: argparse.Namespace) -> dict[str, Any]:
    """Write the simulated CSV under ``<workdir>/csv``; return the seconds it took."""
    from synth.config.simulate import SimulatorConfig
    from synth.simulate import simulate_events, write_event_csv

    csv_dir = Path(args.workdir) / "csv"
    shutil.rmtree(csv_dir, ignore_errors=True)
    spark = _session(args, "bench-simulate")
    try:
        start = time.perf_counter()
        events = simulate_events(spark, SimulatorConfig(events=args.events, seed=args.seed))
        write_event_csv(events, str(csv_dir))
        seconds = time.perf_counter() - start
    finally:
        spark.stop()
    return {"simulate_s": seconds, "files": [p.name for p in csv_files(csv_dir)]}


# --------------------------------------------------------------------------------------------
# Step 2: the project's Spark jobs (child process: a fresh JVM, nothing cached)
# --------------------------------------------------------------------------------------------


def phase_spark(args: argparse.Namespace) -> dict[str, Any]:
    """Time ``ingest`` then ``clean`` into a fresh lakehouse; return times and the accounting."""
    from synth.clean.pipeline import clean
    from synth.config.clean import CleanConfig
    from synth.config.ingest import Rees46MultiCategorySource
    from synth.ingest.bronze import ingest
    from synth.io.delta import Lakehouse

    work = Path(args.workdir)
    lake_dir = work / "lakehouse"
    shutil.rmtree(lake_dir, ignore_errors=True)
    source = Rees46MultiCategorySource(name=SOURCE_NAME, paths=[str(work / "csv")])
    lakehouse = Lakehouse(str(lake_dir))
    spark = _session(args, "bench-ingest-clean")
    try:
        start = time.perf_counter()
        ingested = ingest(spark, source, lakehouse)
        after_ingest = time.perf_counter()
        report = clean(spark, source, CleanConfig(), lakehouse)
        end = time.perf_counter()
    finally:
        spark.stop()
    return {
        "ingest_s": after_ingest - start,
        "clean_s": end - after_ingest,
        "bronze_rows": report.bronze_rows,
        "rows_ingested": ingested.rows_added,
        "silver_rows": report.silver_rows,
        "reasons": {**report.quarantined, **report.removed_duplicates},
        "balanced": report.balanced,
    }


# --------------------------------------------------------------------------------------------
# Step 3: the same cleaning as DuckDB SQL (child process)
# --------------------------------------------------------------------------------------------

# The cleaning of synth/clean/rules.py, step by step. Placeholders in {braces} are filled from
# CleanConfig() and synth.schema.Reason, so thresholds and reason codes cannot drift apart.
#
# Reading (choice documented as the brief asks): every column is read as VARCHAR by DuckDB's own
# CSV parser with an explicit schema (no sniffing, no casts: the equivalent of all_varchar), and
# with store_rejects=true instead of ignore_errors=false. A line with the wrong number of fields
# is then not an error and not silently dropped: it is left out of `raw` and recorded in
# `reject_errors` (one entry per missing column, so rows are counted per distinct (file, line)),
# where its raw text becomes the quarantined row's `_raw_record`, exactly like Spark's PERMISSIVE
# reader puts it in `_corrupt_record`. Any other rejected line (e.g. an unterminated quote) is
# also quarantined as malformed_row; the error types seen are returned for inspection. Reading raw
# lines and splitting them would ignore CSV quoting, which Spark honours.
CLEAN_SQL: tuple[str, ...] = (
    # -- read: 9 raw string columns plus the file (Spark's _source_file lineage)
    """
    CREATE TEMP TABLE raw AS
    SELECT event_time, event_type, product_id, category_id, category_code, brand, price,
           user_id, user_session, filename AS _source_file
    FROM read_csv({files}, columns = {columns}, header = true, delim = ',', quote = '"',
                  escape = '"', auto_detect = false, store_rejects = true, filename = true)
    """,
    """
    CREATE TEMP TABLE malformed AS
    SELECT s.file_path AS _source_file, e.line AS _line, any_value(e.csv_line) AS _raw_record,
           min(e.error_type) AS _error_type
    FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id)
    GROUP BY s.file_path, e.line
    """,
    # -- parse_events: typed columns and the parse-level reason, same precedence as parse_reason.
    # Timestamps: Spark's pattern `yyyy-MM-dd HH:mm:ss z` with zone UTC; here the zone is the
    # literal `UTC` (every REES46 / simulator value), see SEMANTIC_NOTES.
    """
    CREATE TEMP TABLE parsed AS
    WITH typed AS (
        SELECT *,
            try_strptime(nullif(trim(event_time), ''), '%Y-%m-%d %H:%M:%S UTC') AS _ts,
            CASE WHEN lower(trim(event_type)) IN {event_types}
                 THEN lower(trim(event_type)) END AS _etype,
            CASE WHEN regexp_full_match(trim(user_id), '-?[0-9]{{1,19}}')
                 THEN TRY_CAST(trim(user_id) AS BIGINT) END AS _uid,
            CASE WHEN regexp_full_match(trim(product_id), '-?[0-9]{{1,19}}')
                 THEN TRY_CAST(trim(product_id) AS BIGINT) END AS _pid,
            CASE WHEN regexp_full_match(trim(category_id), '-?[0-9]{{1,19}}')
                 THEN TRY_CAST(trim(category_id) AS BIGINT) END AS _cid,
            TRY_CAST(nullif(trim(price), '') AS DOUBLE) AS _p
        FROM raw
    ), priced AS (
        SELECT * EXCLUDE (_p),
            CASE WHEN NOT isnan(_p) AND NOT isinf(_p) THEN _p END AS _price
        FROM typed
    )
    SELECT *,
        CASE
            WHEN _ts IS NULL THEN '{r_bad_timestamp}'
            WHEN _etype IS NULL THEN '{r_unknown_event_type}'
            WHEN _uid IS NULL THEN '{r_bad_user_id}'
            WHEN _pid IS NULL THEN '{r_bad_product_id}'
            WHEN nullif(trim(category_id), '') IS NOT NULL AND _cid IS NULL
                THEN '{r_bad_category_id}'
            WHEN (nullif(trim(price), '') IS NOT NULL AND _price IS NULL)
                 OR (_price IS NOT NULL AND (_price <= {min_price} OR _price > {max_price}))
                THEN '{r_invalid_price}'
        END AS _disposition
    FROM priced
    """,
    # -- item_prices: over every parseable row with a price (duplicates and bots included)
    """
    CREATE TEMP TABLE items AS
    SELECT _pid,
           quantile_cont(_price, 0.5) AS _item_median,
           coalesce(min(_cid) FILTER (WHERE _cid >= 0), {unknown_category}) AS _item_category
    FROM parsed
    WHERE _disposition IS NULL AND _price IS NOT NULL
    GROUP BY _pid
    """,
    # -- flag_duplicates: LAG over (user, product, type) in time order with Spark's tie-breakers
    # (raw fields, then lineage; nulls first). Only parse-open rows: Spark gives quarantined rows
    # their own negative partition keys, so they never meet open rows in a window.
    """
    CREATE TEMP TABLE deduped AS
    WITH lagged AS (
        SELECT *,
            lag(_ts) OVER w AS _prev_ts,
            lag(event_time) OVER w AS _l0, lag(event_type) OVER w AS _l1,
            lag(product_id) OVER w AS _l2, lag(category_id) OVER w AS _l3,
            lag(category_code) OVER w AS _l4, lag(brand) OVER w AS _l5,
            lag(price) OVER w AS _l6, lag(user_id) OVER w AS _l7,
            lag(user_session) OVER w AS _l8
        FROM parsed
        WHERE _disposition IS NULL
        WINDOW w AS (PARTITION BY _uid, _pid, _etype ORDER BY {tiebreak})
    )
    SELECT * EXCLUDE (_prev_ts, _l0, _l1, _l2, _l3, _l4, _l5, _l6, _l7, _l8, _disposition),
        CASE
            WHEN _prev_ts IS NOT NULL
                 AND _l0 IS NOT DISTINCT FROM event_time AND _l1 IS NOT DISTINCT FROM event_type
                 AND _l2 IS NOT DISTINCT FROM product_id AND _l3 IS NOT DISTINCT FROM category_id
                 AND _l4 IS NOT DISTINCT FROM category_code AND _l5 IS NOT DISTINCT FROM brand
                 AND _l6 IS NOT DISTINCT FROM price AND _l7 IS NOT DISTINCT FROM user_id
                 AND _l8 IS NOT DISTINCT FROM user_session
                THEN '{r_exact_duplicate}'
            WHEN {near_enabled} AND epoch_us(_ts) - epoch_us(_prev_ts) <= {near_us}
                THEN '{r_near_duplicate}'
        END AS _disposition
    FROM lagged
    """,
    # -- flag_bots: per user, the most remaining events in any rolling 60 s / 24 h (RANGE frames
    # over whole seconds, like unix_seconds + rangeBetween(-59, 0) / (-86399, 0))
    """
    CREATE TEMP TABLE bots AS
    WITH remaining AS (
        SELECT _uid, floor(epoch_us(_ts) / 1000000)::BIGINT AS _secs
        FROM deduped WHERE _disposition IS NULL
    ), rates AS (
        SELECT _uid,
            count(*) OVER (PARTITION BY _uid ORDER BY _secs
                           RANGE BETWEEN 59 PRECEDING AND CURRENT ROW) AS _pm,
            count(*) OVER (PARTITION BY _uid ORDER BY _secs
                           RANGE BETWEEN 86399 PRECEDING AND CURRENT ROW) AS _pd
        FROM remaining
    )
    SELECT _uid FROM rates
    GROUP BY _uid
    HAVING {bots_enabled} AND (max(_pm) > {max_per_minute} OR max(_pd) > {max_per_day})
    """,
    # -- flag_bots (mark) then impute_prices: the item median fills a missing price; rows with
    # nothing to fill from are quarantined as missing_price
    """
    CREATE TEMP TABLE classified AS
    SELECT d.* EXCLUDE (_price, _disposition),
        coalesce(d._price, i._item_median) AS _price,
        d._price IS NULL AND i._item_median IS NOT NULL AS _price_imputed,
        CASE
            WHEN d._disposition IS NOT NULL THEN d._disposition
            WHEN b._uid IS NOT NULL THEN '{r_bot_user}'
            WHEN d._price IS NULL AND i._item_median IS NULL THEN '{r_missing_price}'
        END AS _disposition
    FROM deduped d
    LEFT JOIN (SELECT DISTINCT _uid FROM bots) b ON d._uid = b._uid
    LEFT JOIN items i ON d._pid = i._pid
    """,
    # -- sessions_and_split + to_silver: rebuilt sessions over the user's kept events with a
    # missing id (gap between consecutive such events > gap), the per-user temporal split, and
    # per-category price normalisation from the item medians
    """
    COPY (
        WITH kept AS (
            SELECT *, nullif(trim(user_session), '') AS _sess
            FROM classified WHERE _disposition IS NULL
        ), ordered AS (
            SELECT *,
                last_value(CASE WHEN _sess IS NULL THEN _ts END IGNORE NULLS)
                    OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _prev_missing_ts,
                row_number() OVER w AS _rank,
                count(*) OVER (PARTITION BY _uid) AS _total
            FROM kept
            WINDOW w AS (PARTITION BY _uid ORDER BY {tiebreak})
        ), flagged AS (
            SELECT *,
                _sess IS NULL AND (
                    _prev_missing_ts IS NULL
                    OR floor(epoch_us(_ts) / 1000000) - floor(epoch_us(_prev_missing_ts) / 1000000)
                       > {gap_s}
                ) AS _new_session,
                (_rank - 1)::DOUBLE / _total AS _frac
            FROM ordered
        ), sessions AS (
            SELECT *,
                sum(_new_session::INTEGER) OVER (
                    PARTITION BY _uid ORDER BY _rank
                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _n_session
            FROM flagged
        ), stats AS (
            SELECT _item_category AS _cat,
                quantile_cont(_item_median, 0.5) AS _cat_median,
                avg(ln(_item_median)) AS _cat_log_mean,
                stddev_samp(ln(_item_median)) AS _cat_log_std
            FROM items GROUP BY _item_category
        ), overall AS (
            SELECT quantile_cont(_item_median, 0.5) AS _all_median,
                avg(ln(_item_median)) AS _all_log_mean,
                stddev_samp(ln(_item_median)) AS _all_log_std
            FROM items
        ), silver AS (
            SELECT
                _ts AS event_time,
                _etype AS event_type,
                _pid AS product_id,
                coalesce(_cid, {unknown_category}) AS category_id,
                coalesce(nullif(trim(category_code), ''), 'unknown') AS category_code,
                coalesce(nullif(trim(brand), ''), 'unknown') AS brand,
                _price AS price,
                _uid AS user_id,
                CASE WHEN _sess IS NULL
                     THEN 'rebuilt-' || _uid::VARCHAR || '-' || _n_session::VARCHAR
                     ELSE _sess END AS user_session,
                _price_imputed AS price_imputed,
                _sess IS NULL AS session_rebuilt,
                CASE
                    WHEN _total < {min_events_for_holdout} THEN '{split_train}'
                    WHEN _frac < {train_cut} THEN '{split_train}'
                    WHEN _frac < {validation_cut} THEN '{split_validation}'
                    ELSE '{split_test}'
                END AS split,
                _source_file
            FROM sessions
        )
        SELECT s.event_time, s.event_type, s.product_id, s.category_id, s.category_code,
            s.brand, s.price, s.user_id, s.user_session, s.price_imputed, s.session_rebuilt,
            s.price / coalesce(c._cat_median, o._all_median) AS price_rel_category_median,
            CASE
                WHEN (CASE WHEN c._cat_median IS NOT NULL THEN c._cat_log_std
                           ELSE o._all_log_std END) IS NULL
                     OR (CASE WHEN c._cat_median IS NOT NULL THEN c._cat_log_std
                              ELSE o._all_log_std END) <= 0
                    THEN 0.0
                ELSE (ln(s.price) - coalesce(c._cat_log_mean, o._all_log_mean))
                     / (CASE WHEN c._cat_median IS NOT NULL THEN c._cat_log_std
                             ELSE o._all_log_std END)
            END AS price_log_z_category,
            s.split,
            '{source}' AS _source,
            s._source_file
        FROM silver s
        LEFT JOIN stats c ON s.category_id = c._cat
        CROSS JOIN overall o
    ) TO '{silver_path}' (FORMAT parquet)
    """,
    # -- quarantine: parse / bot / missing-price reasons, plus the malformed lines (the fields are
    # the first nine comma-separated tokens, as Spark's PERMISSIVE reader fills them)
    """
    COPY (
        SELECT _disposition AS reason, event_time, event_type, product_id, category_id,
            category_code, brand, price, user_id, user_session,
            NULL::VARCHAR AS _raw_record, '{source}' AS _source, _source_file
        FROM parsed WHERE _disposition IS NOT NULL
        UNION ALL
        SELECT _disposition, event_time, event_type, product_id, category_id, category_code,
            brand, price, user_id, user_session, NULL, '{source}', _source_file
        FROM classified WHERE _disposition IN {quarantine_reasons}
        UNION ALL
        SELECT '{r_malformed_row}', t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9],
            _raw_record, '{source}', _source_file
        FROM (SELECT *, list_transform(string_split(_raw_record, ','),
                                       lambda x: nullif(x, '')) AS t FROM malformed)
    ) TO '{quarantine_path}' (FORMAT parquet)
    """,
)

COUNTS_SQL = """
SELECT _disposition, count(*) FROM parsed WHERE _disposition IS NOT NULL GROUP BY 1
UNION ALL
SELECT coalesce(_disposition, '<silver>'), count(*) FROM classified GROUP BY 1
UNION ALL
SELECT '{r_malformed_row}', count(*) FROM malformed
"""

# Known, deliberate differences from the Spark rules (none changes a count on simulator data):
SEMANTIC_NOTES = """\
- event_time: Spark parses `yyyy-MM-dd HH:mm:ss z` (any zone name, converted to UTC); the SQL
  accepts the literal zone `UTC` only. Every REES46 and simulator value ends in ` UTC`.
- price: Spark's string->double cast also takes Java forms such as `1.5d` or hex floats, DuckDB's
  does not (both take `NaN` / `inf`, which are then rejected as not finite). Not in the data.
- malformed lines: Spark's reader keeps the first nine tokens of a too-long line as its fields;
  the SQL re-splits the raw line on commas (quotes ignored) for the quarantine copy only. The
  row is quarantined either way; counts do not depend on it.
- medians / means: quantile_cont vs Spark's percentile and a different summation order can
  differ in the last bits of price_rel_category_median / price_log_z_category (values, not rows).
- tie-breaking: the same order (time, raw fields, file); Spark's file URI `file:/...` and DuckDB's
  plain path sort the same way. Spark also orders by _source_row and _ingest_id, constant here.
- keys: Spark partitions quarantined rows by negative hash keys in [-65536, -1]; a raw user_id in
  that range would share windows with them there (never here: simulator ids are positive).
"""


def _sql_list(values: list[str] | tuple[str, ...]) -> str:
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def render_sql(
    files: list[Path], out_dir: Path, cfg: CleanConfig | None = None
) -> tuple[list[str], str]:
    """Return the cleaning statements and the counting query, filled from ``cfg``.

    ``cfg`` defaults to ``CleanConfig()``, what the Spark side of the benchmark runs with.
    """
    from synth.config.clean import CleanConfig
    from synth.schema import (
        EVENT_COLUMNS,
        EVENT_TYPES,
        SPLIT_TEST,
        SPLIT_TRAIN,
        SPLIT_VALIDATION,
        UNKNOWN_CATEGORY_ID,
        Reason,
    )

    cfg = cfg or CleanConfig()
    tiebreak = ", ".join(
        [
            "_ts NULLS FIRST",
            *[f"{c} NULLS FIRST" for c in EVENT_COLUMNS],
            "_source_file NULLS FIRST",
        ]
    )
    values: dict[str, Any] = {
        "files": "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]",
        "columns": "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in EVENT_COLUMNS) + "}",
        "event_types": _sql_list(EVENT_TYPES),
        "min_price": f"{cfg.prices.min_price!r}::DOUBLE",
        "max_price": f"{cfg.prices.max_price!r}::DOUBLE",
        "unknown_category": UNKNOWN_CATEGORY_ID,
        "tiebreak": tiebreak,
        "near_enabled": "true" if cfg.dedup.near_duplicate_window_s > 0 else "false",
        "near_us": int(round(cfg.dedup.near_duplicate_window_s * 1e6)),
        "bots_enabled": "true" if cfg.bots.enabled else "false",
        "max_per_minute": cfg.bots.max_events_per_minute,
        "max_per_day": cfg.bots.max_events_per_day,
        "gap_s": f"{cfg.sessions.gap_minutes * 60!r}::DOUBLE",
        "min_events_for_holdout": cfg.split.min_events_for_holdout,
        # Python's sums, as Spark receives them: 0.8 + 0.1 is 0.9000000000000001.
        "train_cut": f"{cfg.split.train!r}::DOUBLE",
        "validation_cut": f"{cfg.split.train + cfg.split.validation!r}::DOUBLE",
        "split_train": SPLIT_TRAIN,
        "split_validation": SPLIT_VALIDATION,
        "split_test": SPLIT_TEST,
        "quarantine_reasons": _sql_list(Reason.QUARANTINE),
        "source": SOURCE_NAME,
        "silver_path": str(out_dir / "silver.parquet"),
        "quarantine_path": str(out_dir / "quarantine.parquet"),
    }
    for name in (*Reason.QUARANTINE, *Reason.DUPLICATES):
        values[f"r_{name}"] = name
    return [s.format(**values) for s in CLEAN_SQL], COUNTS_SQL.format(**values)


def phase_duckdb(args: argparse.Namespace) -> dict[str, Any]:
    """Run :data:`CLEAN_SQL` on the CSV files; return the time and per-reason counts."""
    import duckdb

    work = Path(args.workdir)
    out_dir = work / "duckdb"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    files = csv_files(work / "csv")
    statements, counts_sql = render_sql(files, out_dir)
    steps: dict[str, float] = {}
    start = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET threads = {int(args.threads)}")
    con.execute(f"SET memory_limit = '{args.duckdb_memory}'")
    con.execute(f"SET temp_directory = '{out_dir / 'tmp'}'")
    con.execute("SET preserve_insertion_order = false")
    for n, sql in enumerate(statements):
        t = time.perf_counter()
        con.execute(sql)
        steps[f"step{n}"] = round(time.perf_counter() - t, 3)
    # The accounting is part of the timed work, as it is in Spark's clean().
    reasons: dict[str, int] = {}
    for reason, count in con.execute(counts_sql).fetchall():
        reasons[reason] = reasons.get(reason, 0) + int(count)
    seconds = time.perf_counter() - start
    errors = dict(con.execute("SELECT _error_type, count(*) FROM malformed GROUP BY 1").fetchall())
    rows = int(con.execute("SELECT count(*) FROM raw").fetchone()[0]) + reasons.get(
        "malformed_row", 0
    )
    con.close()
    silver = reasons.pop("<silver>", 0)
    return {
        "total_s": seconds,
        "steps_s": steps,
        "rows": rows,
        "silver_rows": silver,
        "reasons": {k: v for k, v in reasons.items() if v},
        "reject_error_types": {str(k): int(v) for k, v in errors.items()},
    }


PHASES = {"simulate": phase_simulate, "spark": phase_spark, "duckdb": phase_duckdb}


# --------------------------------------------------------------------------------------------
# Orchestration (parent process)
# --------------------------------------------------------------------------------------------


def run_phase(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], float, float]:
    """Run one phase in a child process; return (its result, peak tree RSS in GiB, wall s)."""
    work = Path(args.workdir)
    out = work / f"phase_{name}.json"
    out.unlink(missing_ok=True)
    phase_args = [
        "--phase",
        name,
        "--events",
        str(args.events),
        "--workdir",
        str(work),
        "--seed",
        str(args.seed),
        "--driver-memory",
        args.driver_memory,
        "--duckdb-memory",
        args.duckdb_memory,
        "--threads",
        str(args.threads),
    ]
    log.info("[%s] started", name)
    start = time.perf_counter()
    rc, peak_bytes = run_module("bench.ingest_clean", *phase_args, cwd=work)
    wall = time.perf_counter() - start
    if rc != 0 or not out.is_file():
        raise RuntimeError(f"phase {name!r} failed (exit code {rc}); see its output above")
    log.info("[%s] done in %.1f s, peak RSS %.2f GiB", name, wall, peak_bytes / GIB)
    return json.loads(out.read_text()), peak_bytes / GIB, wall


def _reusable_csv(args: argparse.Namespace) -> dict[str, Any] | None:
    work = Path(args.workdir)
    marker = work / MARKER
    if not marker.is_file():
        return None
    saved = json.loads(marker.read_text())
    if saved.get("events") != args.events or saved.get("seed") != args.seed:
        log.info("CSV in %s was made with other settings (%s); simulating again", work, saved)
        return None
    present = [p.name for p in csv_files(work / "csv")] if (work / "csv").is_dir() else []
    if present != saved.get("files"):
        log.info("CSV files in %s differ from the marker; simulating again", work)
        return None
    return saved


def _count_table(spark: dict[str, Any], duck: dict[str, Any]) -> list[tuple[str, int, int]]:
    from synth.schema import Reason

    rows = [("silver", int(spark["silver_rows"]), int(duck["silver_rows"]))]
    for reason in (*Reason.QUARANTINE, *Reason.DUPLICATES):
        rows.append(
            (reason, int(spark["reasons"].get(reason, 0)), int(duck["reasons"].get(reason, 0)))
        )
    return rows


def csv_line_shapes(csv_dir: Path, fields: int = 9) -> dict[str, int]:
    """Count the data lines of the CSV files by shape, with Python's own CSV parser (untimed).

    The ground truth for ``malformed_row``: lines whose field count is not ``fields``, and among
    them the lines with exactly one extra field that is empty (a trailing delimiter), which a
    reader may or may not accept as well-formed.
    """
    import csv

    wrong = trailing = 0
    for path in csv_files(csv_dir):
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader, None)  # header
            for row in reader:
                if len(row) != fields:
                    wrong += 1
                    trailing += len(row) == fields + 1 and row[-1] == ""
    return {"csv_malformed_lines": wrong, "csv_trailing_empty_field_lines": trailing}


def build_result(
    args: argparse.Namespace,
    sim: dict[str, Any],
    spark: dict[str, Any],
    duck: dict[str, Any],
    peaks: dict[str, float],
    shapes: dict[str, int],
) -> dict[str, Any]:
    """Assemble the result document (numbers only under ``metrics``)."""
    from synth.schema import Reason

    events = int(spark["bronze_rows"])
    spark_total = spark["ingest_s"] + spark["clean_s"]
    table = _count_table(spark, duck)

    def total(which: int, reasons: tuple[str, ...]) -> int:
        return sum(row[which] for row in table if row[0] in reasons)

    # Exact match, reason by reason (stricter than comparing the three totals). Both engines apply
    # the same rules with the same tie-breakers, so no difference is expected; a mismatch is
    # reported (counts_match = 0, rows marked in the summary), never adjusted away.
    counts_match = all(s == d for _, s, d in table) and events == duck["rows"]
    metrics: dict[str, float] = {
        "events": events,
        "spark_ingest_s": round(spark["ingest_s"], 2),
        "spark_clean_s": round(spark["clean_s"], 2),
        "spark_total_s": round(spark_total, 2),
        "spark_events_per_s": round(events / spark_total),
        "duckdb_total_s": round(duck["total_s"], 2),
        "duckdb_events_per_s": round(events / duck["total_s"]),
        "spark_vs_duckdb_wall_ratio": round(spark_total / duck["total_s"], 2),
        "spark_peak_rss_gb": round(peaks["spark"], 2),
        "duckdb_peak_rss_gb": round(peaks["duckdb"], 2),
        "simulate_s": round(sim["simulate_s"], 2),
        "simulate_reused": int(bool(sim.get("reused"))),
        "silver_rows_spark": table[0][1],
        "silver_rows_duckdb": table[0][2],
        "quarantined_spark": total(1, Reason.QUARANTINE),
        "quarantined_duckdb": total(2, Reason.QUARANTINE),
        "duplicates_spark": total(1, Reason.DUPLICATES),
        "duplicates_duckdb": total(2, Reason.DUPLICATES),
        "counts_match": int(counts_match),
        "duckdb_threads": int(args.threads),
        **shapes,
    }
    if "simulate" in peaks:
        metrics["simulate_peak_rss_gb"] = round(peaks["simulate"], 2)
    return result_document("ingest_clean", metrics, TARGETS)


def print_summary(result: dict[str, Any], spark: dict[str, Any], duck: dict[str, Any]) -> None:
    """Print the timing table, the count comparison and the verdict per target."""
    m = result["metrics"]
    print()
    print(
        f"ingest_clean: {m['events']:,} events, {result['machine']['cores']} cores, "
        f"{result['machine']['memory_gb']} GiB"
    )
    print(
        f"  simulate (not compared){'':<8}{m['simulate_s']:>10.1f} s"
        + ("  (reused CSV)" if m["simulate_reused"] else "")
    )
    print(f"  {'':<30}{'wall s':>10}{'events/s':>14}{'peak RSS GiB':>15}")
    print(f"  {'spark ingest (CSV -> bronze)':<30}{m['spark_ingest_s']:>10.1f}")
    print(f"  {'spark clean (bronze -> silver)':<30}{m['spark_clean_s']:>10.1f}")
    print(
        f"  {'spark total':<30}{m['spark_total_s']:>10.1f}{m['spark_events_per_s']:>14,}"
        f"{m['spark_peak_rss_gb']:>15.2f}"
    )
    print(
        f"  {'duckdb total':<30}{m['duckdb_total_s']:>10.1f}{m['duckdb_events_per_s']:>14,}"
        f"{m['duckdb_peak_rss_gb']:>15.2f}"
    )
    print(f"  spark / duckdb wall time: {m['spark_vs_duckdb_wall_ratio']:.2f}x")
    print()
    print(f"  {'rows':<20}{'spark':>12}{'duckdb':>12}")
    for name, s, d in _count_table(spark, duck):
        if s or d:
            print(f"  {name:<20}{s:>12,}{d:>12,}{'' if s == d else '   <-- differs'}")
    print(f"  counts match: {'yes' if m['counts_match'] else 'NO'}")
    wrong, trailing = m["csv_malformed_lines"], m["csv_trailing_empty_field_lines"]
    print(
        f"  CSV lines with the wrong field count (Python csv): {wrong:,}, "
        f"of which {trailing:,} end in one extra, empty field"
    )
    print()
    print_targets(m, TARGETS, result["met"], name_width=29, value_spec=">12,", bound_spec=",")
    print()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events to simulate")
    parser.add_argument("--workdir", default=str(WORK), help="CSV, tables, spill (gitignored)")
    parser.add_argument("--seed", type=int, default=42, help="simulator seed")
    parser.add_argument("--driver-memory", default="8g", help="Spark driver (JVM heap) memory")
    parser.add_argument(
        "--duckdb-memory", default=None, help="DuckDB memory_limit (default: --driver-memory)"
    )
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="DuckDB threads (default: cores)"
    )
    parser.add_argument(
        "--skip-simulate", action="store_true", help="reuse the CSV in the workdir if it matches"
    )
    parser.add_argument("--output", default=str(RESULT), help="where the result JSON goes")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error(f"--events must be at least 1, got {args.events}")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    args.workdir = str(Path(args.workdir).resolve())
    if args.duckdb_memory is None:
        args.duckdb_memory = duckdb_memory(args.driver_memory)
    return args


def duckdb_memory(spark_memory: str) -> str:
    """Translate a JVM size (``8g``, ``512m``) into DuckDB's spelling (``8GiB``, ``512MiB``)."""
    match = re.fullmatch(r"(\d+)([kmgt])b?", spark_memory.strip().lower())
    if match is None:
        return spark_memory  # already a DuckDB size, or let DuckDB report it
    return f"{match.group(1)}{match.group(2).upper()}iB"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with the hidden ``--phase``, one step of it); return an exit code."""
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if args.phase:
        payload = PHASES[args.phase](args)
        (work / f"phase_{args.phase}.json").write_text(json.dumps(payload, indent=2) + "\n")
        return 0

    try:
        peaks: dict[str, float] = {}
        sim = _reusable_csv(args) if args.skip_simulate else None
        if sim is not None:
            log.info("reusing the CSV in %s (events=%d, seed=%d)", work, args.events, args.seed)
            sim = {**sim, "reused": True}
        else:
            (work / MARKER).unlink(missing_ok=True)
            sim, peaks["simulate"], _ = run_phase("simulate", args)
            marker = {"events": args.events, "seed": args.seed, **sim}
            (work / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
        spark, peaks["spark"], _ = run_phase("spark", args)
        duck, peaks["duckdb"], _ = run_phase("duckdb", args)
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    shapes = csv_line_shapes(work / "csv")
    result = build_result(args, sim, spark, duck, peaks, shapes)
    out = Path(args.output)
    write_json(out, result)
    print_summary(result, spark, duck)
    if duck.get("reject_error_types"):
        print(f"  DuckDB rejected lines by error type: {duck['reject_error_types']}")
    print(f"  written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
