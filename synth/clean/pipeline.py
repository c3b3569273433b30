"""Bronze -> silver: run the cleaning rules, write silver and quarantine, account for every row.

The accounting invariant, checked on every run against what Delta actually wrote:
``bronze rows = silver rows + quarantined rows + removed duplicates``, per reason.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synth.clean.explain import check_kept_share
from synth.clean.rules import (
    DISPOSITION,
    PKEY,
    flag_bots,
    flag_duplicates,
    impute_prices,
    item_prices,
    order_by_user_time,
    parse_events,
    sessions_and_split,
    to_silver,
)
from synth.config.clean import CleanConfig
from synth.config.ingest import SourceConfig
from synth.errors import InputError, InvalidDataError
from synth.ingest.adapters import ParseSpec, get_adapter
from synth.io.delta import (
    Lakehouse,
    read_table,
    table_exists,
    table_version,
    write_json,
    write_table,
    written_rows,
)
from synth.schema import (
    EVENT_TYPES,
    QUARANTINE_SCHEMA,
    RAW_EXTRA,
    RAW_EXTRA_TYPE,
    REASON,
    SOURCE_FILE_MTIME,
    SOURCE_FILE_SIZE,
    Reason,
)
from synth.stages import StageReport

log = logging.getLogger(__name__)


@dataclass
class CleanReport(StageReport):
    """The accounting of one cleaning run."""

    source: str
    bronze_table: str
    bronze_version: int
    silver_table: str
    silver_version: int
    quarantine_table: str
    quarantine_version: int
    bronze_rows: int
    silver_rows: int
    quarantined: dict[str, int] = field(default_factory=dict)
    removed_duplicates: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """True when every bronze row is in silver, in quarantine, or a counted duplicate."""
        total = (
            self.silver_rows
            + sum(self.quarantined.values())
            + sum(self.removed_duplicates.values())
        )
        return total == self.bronze_rows

    def to_dict(self) -> dict[str, object]:
        """Return the report as JSON-ready data (with the invariant's verdict)."""
        return {**asdict(self), "balanced": self.balanced}

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"bronze {self.bronze_rows:,} = silver {self.silver_rows:,}"
            f" + quarantined {sum(self.quarantined.values()):,}"
            f" + removed duplicates {sum(self.removed_duplicates.values()):,}"
            f"  [{'balanced' if self.balanced else 'NOT BALANCED'}]",
        ]
        for reason, n in sorted({**self.quarantined, **self.removed_duplicates}.items()):
            lines.append(f"  {reason:<20} {n:>12,}")
        return "\n".join(lines)


# Bronze lineage that neither silver nor quarantine keeps: dropped before the shuffle.
_UNUSED_LINEAGE = (SOURCE_FILE_SIZE, SOURCE_FILE_MTIME)  # the ingest time bounds event times
# Per-product prices are broadcast to the imputation join when there are at most this many
# products (larger catalogs use a shuffled join).
BROADCAST_ITEMS_MAX = 2_000_000


def flag_events(bronze: DataFrame, spec: ParseSpec, cfg: CleanConfig) -> DataFrame:
    """Return bronze parsed, shuffled by user and marked by the duplicate and bot rules. Lazy."""
    parsed = parse_events(bronze.drop(*_UNUSED_LINEAGE), spec, cfg.prices, cfg.timestamps)
    return (
        parsed.repartition(PKEY)
        .transform(flag_duplicates, cfg.dedup)
        .transform(order_by_user_time)
        .transform(flag_bots, cfg.bots)
    )


def finish_events(flagged: DataFrame, items: DataFrame, cfg: CleanConfig) -> DataFrame:
    """Return ``flagged`` with prices imputed from ``items``, sessions rebuilt and split. Lazy."""
    return flagged.transform(impute_prices, items, cfg.require_price).transform(
        sessions_and_split, cfg.sessions, cfg.split
    )


def classify_events(
    bronze: DataFrame, spec: ParseSpec, cfg: CleanConfig
) -> tuple[DataFrame, DataFrame]:
    """Return (every bronze row with its disposition, per-product prices). Pure, lazy.

    A null :data:`~synth.clean.rules.DISPOSITION` means the row goes to silver; otherwise it is a
    quarantine reason or a duplicate code from :class:`synth.schema.Reason`.
    """
    flagged = flag_events(bronze, spec, cfg)
    items = item_prices(flagged)
    return finish_events(flagged, items, cfg), items


def clean(
    spark: SparkSession,
    source: SourceConfig,
    cfg: CleanConfig,
    lakehouse: Lakehouse,
    *,
    event_types: tuple[str, ...] = EVENT_TYPES,
) -> CleanReport:
    """Rebuild silver and quarantine from the source's current bronze version.

    Idempotent: the same bronze version and config give the same tables. Both tables are
    overwritten atomically (a failed run leaves the previous versions readable); the bronze
    version used is recorded in each commit's metadata and in the JSON accounting report
    (``<lakehouse>/_reports/clean_accounting.json``).

    ``event_types`` are the job's event types (canonical and declared extra ones): a source
    without an explicit vocabulary maps each of them to itself.

    Raises:
        InputError: The source has no bronze table yet, or the run would keep less than
            ``cfg.min_kept_share`` of bronze (or nothing): nothing is written then, and the
            message names the top reasons, an example raw row of each and the config key to
            change.
        InvalidDataError: The accounting does not balance (a bug; nothing is hidden).
    """
    adapter = get_adapter(source)
    btable = lakehouse.bronze_table(adapter.name)
    if not table_exists(spark, btable):
        raise InputError(
            f"no bronze table for source {adapter.name!r} at {btable}: run ingestion first"
        )
    bversion = table_version(spark, btable)
    bronze = read_table(spark, btable, version=bversion)
    if RAW_EXTRA not in bronze.columns:  # a bronze table written before _raw_extra existed
        bronze = bronze.withColumn(RAW_EXTRA, F.lit(None).cast(RAW_EXTRA_TYPE))
    bronze_rows = bronze.count()  # Delta answers this from file statistics
    spec = adapter.parse_spec(event_types)
    # One sort per rule family, each computed once: the flagged rows are cached, the per-product
    # prices come from that cache (no second parse of bronze) and are broadcast to the join.
    flagged = flag_events(bronze, spec, cfg).persist(StorageLevel.MEMORY_AND_DISK)
    items = item_prices(flagged).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        log.info(
            "clean %s: parsing, de-duplicating and flagging bots in bronze v%d",
            adapter.name,
            bversion,
        )
        n_items = items.count()
        priced = F.broadcast(items) if n_items <= BROADCAST_ITEMS_MAX else items
        # Every disposition is known before sessions and the split: count them, and write the
        # quarantine, from the cache without sorting again.
        decided = flagged.transform(impute_prices, priced, cfg.require_price)
        counts: dict[str | None, int] = {
            r[DISPOSITION]: int(r["count"]) for r in decided.groupBy(DISPOSITION).count().collect()
        }
        check_kept_share(decided, counts, bronze_rows, source, spec, cfg, btable, bversion)
        unexpected = set(counts) - {None, *Reason.QUARANTINE, *Reason.DUPLICATES}
        if unexpected:
            raise InvalidDataError(
                f"internal error: unexpected dispositions {sorted(map(str, unexpected))}"
            )
        lineage = {"source": adapter.name, "bronze_table": btable, "bronze_version": str(bversion)}
        quarantine = decided.where(F.col(DISPOSITION).isin(*Reason.QUARANTINE)).select(
            F.col(DISPOSITION).alias(REASON), *[F.col(f.name) for f in QUARANTINE_SCHEMA.fields[1:]]
        )
        qtable, stable = lakehouse.quarantine_table(), lakehouse.silver_table()
        log.info("clean %s: writing quarantine", adapter.name)
        qversion = write_table(quarantine, qtable, mode="overwrite", properties=lineage)
        log.info("clean %s: writing silver", adapter.name)
        silver = to_silver(finish_events(flagged, priced, cfg), items, has_price=spec.has_price)
        sversion = write_table(silver, stable, mode="overwrite", properties=lineage)
    finally:
        flagged.unpersist()
        items.unpersist()
    report = CleanReport(
        source=adapter.name,
        bronze_table=btable,
        bronze_version=bversion,
        silver_table=stable,
        silver_version=sversion,
        quarantine_table=qtable,
        quarantine_version=qversion,
        bronze_rows=bronze_rows,
        silver_rows=written_rows(spark, stable),
        quarantined={r: counts[r] for r in Reason.QUARANTINE if r in counts},
        removed_duplicates={r: counts[r] for r in Reason.DUPLICATES if r in counts},
    )
    written_q = written_rows(spark, qtable)
    if report.silver_rows != counts.get(None, 0) or written_q != sum(report.quarantined.values()):
        raise InvalidDataError(
            f"internal error: rows written (silver {report.silver_rows}, quarantine {written_q}) "
            f"differ from the classification ({counts})"
        )
    if not report.balanced:
        raise InvalidDataError(f"internal error: accounting does not balance:\n{report.summary()}")
    write_json(lakehouse.report_file("clean_accounting.json"), report.to_dict())
    log.info("clean %s:\n%s", adapter.name, report.summary())
    return report
