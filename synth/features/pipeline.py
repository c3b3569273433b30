"""Silver -> gold: user profiles, item profiles with text embeddings, interactions.

Each gold table is rebuilt from one silver version in one atomic Delta commit whose table
properties record that version and a fingerprint of the features config
(``synth.silver_version``, ``synth.features_fingerprint``). A run whose silver version and config
match what every gold table records rebuilds nothing (``force`` rebuilds anyway); the same silver
version and config always give the same tables.

Users and items with no event in the train split get no profile row; they are counted in the
report (``users_without_train_events``, ``items_without_train_events``) so later stages treat
them as cold. Interactions cover every split.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from synth.config.features import EmbeddingConfig, FeaturesConfig
from synth.errors import InputError, InvalidDataError
from synth.features.embed import Projection, embed_column, fit_projection, project_column
from synth.features.profiles import (
    conform,
    interactions,
    item_profiles,
    train_split,
    user_profiles,
)
from synth.features.sequences import user_sequences
from synth.io.delta import (
    Lakehouse,
    last_commit_metadata,
    read_table,
    replace_table,
    table_exists,
    table_properties,
    table_version,
    write_json,
    written_rows,
)
from synth.schema import (
    GOLD_SCHEMAS,
    PRICE_MISSING,
    PRODUCT_ID,
    SILVER_SCHEMA,
    SPLIT,
    SPLIT_TRAIN,
    USER_ID,
    schema_mismatches,
)
from synth.stages import StageReport

log = logging.getLogger(__name__)

PROP_SILVER_TABLE = "synth.silver_table"
PROP_SILVER_VERSION = "synth.silver_version"
PROP_FINGERPRINT = "synth.features_fingerprint"
PROP_PROJECTION_SHA = "synth.text_projection_sha256"
_EMB_FULL = "_embedding_full"


def features_fingerprint(cfg: FeaturesConfig) -> str:
    """A short stable hash of the features config."""
    payload = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class FeaturesReport(StageReport):
    """What one featurization run built."""

    silver_table: str
    silver_version: int
    fingerprint: str
    rebuilt: bool
    tables: dict[str, dict[str, object]] = field(default_factory=dict)
    users_without_train_events: int = 0
    items_without_train_events: int = 0
    # silver events without a price, by reason (silver price_missing), and gold items never priced
    unpriced_events: dict[str, int] = field(default_factory=dict)
    unpriced_items: int = 0
    embedding: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        """A few human-readable lines."""
        verb = "built" if self.rebuilt else "up to date"
        lines = [f"gold from silver v{self.silver_version} ({verb}):"]
        for name, info in self.tables.items():
            lines.append(f"  {name:<14} {int(str(info['rows'])):>12,} rows  v{info['version']}")
        lines.append(
            f"  without train events (no profile): {self.users_without_train_events:,} users, "
            f"{self.items_without_train_events:,} items"
        )
        if self.unpriced_events:
            why = ", ".join(f"{r} {n:,}" for r, n in sorted(self.unpriced_events.items()))
            lines.append(
                f"  without a price: {sum(self.unpriced_events.values()):,} events ({why}), "
                f"{self.unpriced_items:,} items (their price columns are null)"
            )
        if self.embedding:
            e = self.embedding
            lines.append(
                f"  embeddings: {int(e['texts']):,} distinct texts for {int(e['items']):,} items "
                f"in {e['seconds']:.1f}s ({e['items_per_s']:,.0f} items/s), dim {int(e['dim'])}"
            )
        return "\n".join(lines)


def _up_to_date(spark: SparkSession, paths: dict[str, str], props: dict[str, str]) -> bool:
    for path in paths.values():
        if not table_exists(spark, path):
            return False
        have = table_properties(spark, path)
        if any(have.get(k) != v for k, v in props.items() if k != PROP_PROJECTION_SHA):
            return False
    return True


def _sample_vectors(embedded: DataFrame, cfg: EmbeddingConfig) -> np.ndarray:
    """Collect a seeded sample of at most ``pca_sample`` full embeddings to the driver."""
    order = F.xxhash64(F.col("item_text"), F.lit(cfg.seed))
    rows = embedded.orderBy(order, F.col("item_text")).limit(cfg.pca_sample).collect()
    return np.asarray([r[_EMB_FULL] for r in rows], dtype=np.float64)


def _fit_padded(vectors: np.ndarray, cfg: EmbeddingConfig) -> Projection:
    """Fit the projection; with fewer distinct texts than ``dim + 1``, pad with zero components.

    PCA cannot find more directions than the sample has (rows - 1); the extra output values are
    then 0 for every item, so the column always has ``cfg.dim`` values.
    """
    n, width = vectors.shape
    rank = min(cfg.dim, n - 1, width)
    if rank >= cfg.dim:
        return fit_projection(vectors, cfg.dim, seed=cfg.seed)
    mean = tuple(float(v) for v in vectors.mean(axis=0))
    if rank >= 1:
        base = fit_projection(vectors, rank, seed=cfg.seed)
        components = list(base.components)
        ratios = list(base.explained_variance_ratio)
    else:
        components, ratios = [], []
    components += [tuple(0.0 for _ in range(width))] * (cfg.dim - len(components))
    ratios += [0.0] * (cfg.dim - len(ratios))
    return Projection(
        mean=mean, components=tuple(components), explained_variance_ratio=tuple(ratios)
    )


def attach_embeddings(
    items: DataFrame, cfg: EmbeddingConfig, lakehouse: Lakehouse
) -> tuple[DataFrame, dict[str, float], str, DataFrame]:
    """Fill ``text_embedding``: embed each distinct item text once, fit and apply the PCA.

    Returns the items frame (lazy), the embedding figures, the projection's sha256 and the cached
    text -> embedding lookup (the caller unpersists it once the items are written). Runs Spark
    jobs (the embedding itself and the PCA sample).
    """
    start = time.perf_counter()
    texts = items.select("item_text").distinct()
    embedded = embed_column(
        texts, "item_text", _EMB_FULL, batch_size=cfg.batch_size, max_length=cfg.max_length
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        n_texts = embedded.count()
        if n_texts == 0:
            raise InvalidDataError("no item texts to embed: the train split has no items")
        seconds = time.perf_counter() - start
        projection = _fit_padded(_sample_vectors(embedded, cfg), cfg)
        text = projection.to_json()
        sha = hashlib.sha256(text.encode()).hexdigest()
        write_json(lakehouse.text_projection_path(), json.loads(text))
        projected = project_column(embedded, _EMB_FULL, "text_embedding", projection)
        lookup = projected.select("item_text", "text_embedding").persist()
        lookup.count()
    finally:
        embedded.unpersist()
    out = items.drop("text_embedding").join(F.broadcast(lookup), "item_text", "left")
    figures = {
        "texts": float(n_texts),
        "seconds": round(seconds, 2),
        "texts_per_s": round(n_texts / seconds, 1),
        "dim": float(cfg.dim),
        "explained_variance": round(float(sum(projection.explained_variance_ratio)), 4),
    }
    return out, figures, sha, lookup


def _count_cold(silver: DataFrame, key: str) -> int:
    """Entities of ``silver`` with no train event."""
    has_train = F.max((F.col(SPLIT) == F.lit(SPLIT_TRAIN)).cast("int")).alias("_t")
    return silver.groupBy(key).agg(has_train).where(F.col("_t") == 0).count()


def _check_required(df: DataFrame, name: str) -> None:
    """Fail if a column the schema declares non-nullable holds a null (one scan of the table)."""
    schema = GOLD_SCHEMAS[name]
    required = [f.name for f in schema.fields if not f.nullable]
    row = df.agg(*[F.count_if(F.col(c).isNull()).alias(c) for c in required]).first()
    bad = {c: int(row[c]) for c in required if row is not None and row[c]}
    if bad:
        raise InvalidDataError(f"internal error: gold {name} has nulls in required columns {bad}")


def check_silver_current(spark: SparkSession, lakehouse: Lakehouse) -> None:
    """Refuse a silver table that is not the clean of its bronze table's current version.

    ``clean`` commits quarantine, then silver, each recording the bronze version it was built
    from (commit metadata ``bronze_table``, ``bronze_version``). A clean killed between the two
    commits, or bronze appended to since the last clean, leaves silver behind its bronze: gold
    built from it would be stale while looking up to date.

    Raises:
        InputError: Silver was built from an older bronze version, or quarantine from another
            one than silver (the message says which, and to run the clean stage).
    """
    silver = last_commit_metadata(spark, lakehouse.silver_table())
    btable, built_from = silver.get("bronze_table"), silver.get("bronze_version")
    if not btable or built_from is None:
        return  # a silver table written before lineage was recorded: nothing to compare
    qtable = lakehouse.quarantine_table()
    if table_exists(spark, qtable):
        quarantined = last_commit_metadata(spark, qtable).get("bronze_version")
        if quarantined is not None and quarantined != built_from:
            raise InputError(
                f"silver ({lakehouse.silver_table()}) was built from bronze v{built_from} of "
                f"{btable} but quarantine ({qtable}) from v{quarantined}: a clean was "
                "interrupted between its two commits. Run the clean stage again."
            )
    if table_exists(spark, btable):
        current = table_version(spark, btable)
        if str(current) != str(built_from):
            raise InputError(
                f"silver ({lakehouse.silver_table()}) was built from bronze v{built_from} of "
                f"{btable}, which is at v{current} now (ingested since, or a clean was "
                "interrupted): run the clean stage before features."
            )


def build_features(
    spark: SparkSession, lakehouse: Lakehouse, cfg: FeaturesConfig, *, force: bool = False
) -> FeaturesReport:
    """Rebuild the gold tables from the current silver version (unless already built from it).

    Raises:
        InputError: There is no silver table yet (run cleaning first).
        InvalidDataError: Silver has no train events, or an internal check failed.
    """
    stable = lakehouse.silver_table()
    if not table_exists(spark, stable):
        raise InputError(f"no silver table at {stable}: run the clean stage first")
    check_silver_current(spark, lakehouse)
    version = table_version(spark, stable)
    fp = features_fingerprint(cfg)
    props = {PROP_SILVER_TABLE: stable, PROP_SILVER_VERSION: str(version), PROP_FINGERPRINT: fp}
    paths = {name: lakehouse.gold_table(name) for name in GOLD_SCHEMAS}
    report = FeaturesReport(
        silver_table=stable, silver_version=version, fingerprint=fp, rebuilt=False
    )
    if not force and _up_to_date(spark, paths, props):
        log.info("features: gold tables already built from silver v%d (%s)", version, fp)
        for name, path in paths.items():
            report.tables[name] = {
                "path": path,
                "version": table_version(spark, path),
                "rows": written_rows(spark, path),
            }
        return report

    report.rebuilt = True
    silver = read_table(spark, stable, version=version).select(*SILVER_SCHEMA.names)
    silver = silver.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        start = time.perf_counter()
        train = train_split(silver)
        if train.limit(1).count() == 0:
            raise InvalidDataError(f"silver v{version} at {stable} has no train events")
        report.users_without_train_events = _count_cold(silver, USER_ID)
        report.items_without_train_events = _count_cold(silver, PRODUCT_ID)
        report.unpriced_events = {
            str(r[PRICE_MISSING]): int(r["count"])
            for r in silver.where(F.col(PRICE_MISSING).isNotNull())
            .groupBy(PRICE_MISSING)
            .count()
            .collect()
        }
        frames: dict[str, DataFrame] = {
            "user_profiles": user_profiles(train, cfg.profiles),
            "interactions": interactions(silver, cfg.interactions),
            "user_sequences": user_sequences(train),
        }
        items = item_profiles(train).persist(StorageLevel.MEMORY_AND_DISK)
        cached: list[DataFrame] = [items]
        try:
            n_items = items.count()
            if report.unpriced_events:
                report.unpriced_items = items.where(F.col("price_median").isNull()).count()
            table_props = dict(props)
            if cfg.embedding.enabled:
                log.info("features: embedding the texts of %s items", f"{n_items:,}")
                items_out, figures, sha, lookup = attach_embeddings(items, cfg.embedding, lakehouse)
                cached.append(lookup)
                figures["items"] = float(n_items)
                figures["items_per_s"] = round(n_items / figures["seconds"], 1)
                report.embedding = figures
                table_props[PROP_PROJECTION_SHA] = sha
                frames["item_profiles"] = conform(items_out, GOLD_SCHEMAS["item_profiles"])
            else:
                frames["item_profiles"] = items
            for name in ("user_profiles", "item_profiles", "interactions", "user_sequences"):
                df = frames[name]
                problems = schema_mismatches(df.schema, GOLD_SCHEMAS[name])
                if problems:
                    raise InvalidDataError(f"internal error: gold {name}: {'; '.join(problems)}")
                log.info("features: writing gold %s", name)
                t0 = time.perf_counter()
                props_for = table_props if name == "item_profiles" else props
                tversion = replace_table(df, paths[name], properties=props_for)
                _check_required(read_table(spark, paths[name]), name)
                report.seconds[name] = round(time.perf_counter() - t0, 2)
                report.tables[name] = {
                    "path": paths[name],
                    "version": tversion,
                    "rows": written_rows(spark, paths[name]),
                }
        finally:
            for df in cached:
                df.unpersist()
        report.seconds["total"] = round(time.perf_counter() - start, 2)
    finally:
        silver.unpersist()
    write_json(lakehouse.report_file("features.json"), report.to_dict())
    log.info("features:\n%s", report.summary())
    return report
