"""Stages ``synthesize``, ``filter`` and ``fuse``: a trained model -> fused profile tables.

Tables (Delta, partitioned by ``run_id``; re-running a run id replaces exactly its rows):

* ``synthetic/<table>_raw``: every sampled row (gold schema of the model's table, synthetic
  negative ids, ``_row``, ``run_id``, ``model_id``), derived columns recomputed from their
  definitions (:mod:`synth.generate.consistency`). Written by :func:`run_synthesize`.
* ``synthetic/<table>``: every raw row again, with ``realism_score``, ``dcr`` and
  ``rejected_reason`` (null when kept): nothing is dropped silently. Written by
  :func:`run_filter`; the report counts rows per reason, and raw = kept + rejected.
* ``synthetic/events``: behaviour events in the silver schema (plus ``run_id``, ``model_id``,
  ``origin``: ``synthetic_user`` or ``enrichment``). ``synthetic/events_rejected``: events that
  failed their checks (an item outside the catalog, a time outside the real window), with the
  reason. Written by :func:`run_fuse`.
* ``fused/user_profiles``, ``fused/item_profiles``: real and synthetic rows with provenance
  (``is_synthetic``, ``enriched``, ``model_id``, ``run_id``) and ``weight``, written with one
  Delta commit per table (:func:`synth.io.delta.merge_partition`: an append for a new run id,
  a MERGE for one written before): idempotent per run id, and a failed run leaves the previous
  state readable.

Enrichment rule (``synthesize.fusion.enrich``): a real user with at most ``max_events`` train
events receives ``target_events - n_events`` synthetic events drawn from their own profile
(categories, top brand, price sensitivity, hours, within their first..last seen window), the
event types split by the real population's funnel (largest share first, rounded); their fused
profile is recomputed from real + synthetic events with the real reference time and flagged
``enriched``. Fused item profiles are recomputed from real + synthetic events (items are real;
``enriched`` marks items that received synthetic events). Synthetic user rows keep the
generator's profile as sampled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    StructType,
)

from synth.config.job import JobConfig
from synth.errors import InputError, InvalidDataError
from synth.features.profiles import item_profiles, reference_time, train_split, user_profiles
from synth.generate.behaviour import BehaviourParams, Catalog, generate_events
from synth.generate.consistency import apply_identities
from synth.generate.copies import choose_length, copying_users, event_sequences, share_with_copies
from synth.generate.filters import (
    Constraint,
    Reason,
    derive_constraints,
    encode_rows,
    fit_scorer,
    row_hash,
    score_frame,
    violation,
)
from synth.generate.learned import SequenceRef, learned_events, resolve_sequence_model
from synth.generate.sampler import (
    ModelBlob,
    check_feasible,
    plan_blocks,
    sample_flat,
    to_gold,
)
from synth.io.delta import (
    Lakehouse,
    merge_partition,
    read_table,
    replace_partition,
    table_exists,
    written_rows,
)
from synth.models.encoding import TableEncoder
from synth.models.table_frame import model_rows
from synth.refs import ModelRef, resolve_model, resolve_run_id
from synth.schema import (
    COUNT_COLUMNS,
    DCR,
    ENRICHED,
    ENRICHMENT,
    EVENT_TIME,
    EVENT_TYPE,
    EVENT_TYPES,
    GOLD_SCHEMAS,
    IS_SYNTHETIC,
    ITEM_PROFILE_SCHEMA,
    MODEL_ID,
    ORIGIN,
    OTHER_EVENTS,
    PRODUCT_ID,
    REALISM_SCORE,
    REJECTED_REASON,
    ROW,
    RUN_ID,
    SILVER_SCHEMA,
    SYNTHETIC_USER,
    USER_ID,
    USER_PROFILE_SCHEMA,
    WEIGHT,
    table_key,
)
from synth.seeding import derive_seed, holdout_mask
from synth.stages import StageReport
from synth.stats.auc import roc_auc
from synth.stats.fidelity import quality_score, sdtypes
from synth.stats.hashing import hash_sample

log = logging.getLogger(__name__)


# -- the model's encoder and real rows -----------------------------------------------------------
def _encoder(blob: ModelBlob) -> TableEncoder:
    return TableEncoder.from_json(blob.files["encoder.json"].decode("utf-8"))


def model_encoder(ref: ModelRef) -> TableEncoder:
    """The encoder the referenced model was trained with (its ``encoder.json``)."""
    return _encoder(ModelBlob.from_dir(ref.model_dir))


def real_split(spark: SparkSession, ref: ModelRef) -> tuple[DataFrame, DataFrame | None]:
    """The model's table at its trained version: (training rows, holdout rows or None)."""
    real = read_table(spark, ref.table_path, version=ref.delta_version)
    if ref.holdout_fraction <= 0:
        return real, None
    mask = holdout_mask(table_key(ref.table), ref.holdout_fraction, ref.holdout_seed)
    return real.where(~mask), real.where(mask)


def count_by(df: DataFrame, column: str) -> tuple[dict[str, int], int]:
    """Rows per non-null value of ``column``, and rows where it is null (one Spark job)."""
    rows = df.groupBy(column).agg(F.count(F.lit(1)).alias("n")).collect()
    counts = {str(r[column]): int(r["n"]) for r in rows if r[column] is not None}
    return counts, sum(int(r["n"]) for r in rows if r[column] is None)


# -- synthesize ----------------------------------------------------------------------------------
@dataclass
class SynthesizeReport(StageReport):
    """What the ``synthesize`` stage wrote."""

    run_id: str
    model_id: str
    table: str
    path: str
    rows: int
    groups: list[int]
    blocks: int
    partitions: int
    seconds: float
    rows_per_s: float

    def summary(self) -> str:
        """One line."""
        return (
            f"{self.rows:,} synthetic {self.table} rows ({self.blocks} blocks, "
            f"{self.partitions} partitions) in {self.seconds:.1f}s = {self.rows_per_s:,.0f} rows/s"
            f" -> {self.path} run_id={self.run_id}"
        )


MAX_CONDITION_ROWS = 100_000


def positional_columns(encoder: TableEncoder, gold: StructType) -> list[str]:
    """The model's positional share vectors (``array<double>`` gold columns: hour shares)."""
    names = {spec.name for spec in encoder.specs}
    return [
        f.name
        for f in gold.fields
        if f.name in names
        and isinstance(f.dataType, ArrayType)
        and f.dataType.elementType == DoubleType()
    ]


def _condition_table(spark: SparkSession, path: str | None) -> list[tuple[dict[str, object], int]]:
    """The rows of a condition table: (column -> value, rows), in sorted order."""
    if path is None:
        return []
    if not table_exists(spark, path):
        raise InputError(f"synthesize.conditions_table: {path} is not a Delta table")
    df = read_table(spark, path)
    if "rows" not in df.columns:
        raise InvalidDataError(
            f"condition table {path} has no `rows` column (it has {df.columns}): add one with "
            "the number of rows to make per condition"
        )
    found = df.orderBy(*df.columns).limit(MAX_CONDITION_ROWS + 1).collect()
    if len(found) > MAX_CONDITION_ROWS:
        raise InvalidDataError(
            f"condition table {path} has more than {MAX_CONDITION_ROWS:,} rows: group them"
        )
    out: list[tuple[dict[str, object], int]] = []
    for index, row in enumerate(found):
        values = row.asDict()
        count = values.pop("rows")
        where = {k: v for k, v in values.items() if v is not None}
        if count is None or int(count) < 1 or not where:
            raise InvalidDataError(
                f"condition table {path}, row {index} ({row.asDict()}): needs rows >= 1 and at "
                "least one non-null condition column"
            )
        out.append((where, int(count)))
    return out


def run_synthesize(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> SynthesizeReport:
    """Stage ``synthesize``: sample the model into ``synthetic/<table>_raw`` (by ``run_id``)."""
    began = time.perf_counter()
    s = cfg.synthesize
    ref = resolve_model(spark, lakehouse, cfg)
    run = resolve_run_id(cfg, ref)
    blob = ModelBlob.from_dir(ref.model_dir)
    encoder = _encoder(blob)
    gold = GOLD_SCHEMAS[ref.table]
    key = table_key(ref.table)
    real = read_table(spark, ref.table_path, version=ref.delta_version)
    positional = positional_columns(encoder, gold)
    row = real.agg(
        F.min(key).alias("low"), *[F.max(F.size(c)).alias(c) for c in positional]
    ).first()
    assert row is not None
    if row["low"] is not None and row["low"] < 0:
        raise InvalidDataError(
            f"{ref.table_path}: real {key} values go down to {row['low']}; synthetic ids are the "
            "negative numbers, so real ids must be >= 0 (remap the source's ids)"
        )
    table_conditions = _condition_table(spark, s.conditions_table)
    groups = [s.rows, *[c.rows for c in s.conditions], *[n for _, n in table_conditions]]
    conditions: list[dict[str, object]] = [{}]
    conditions += [{k: v for k, v in c.where.items()} for c in s.conditions]
    conditions += [where for where, _ in table_conditions]
    if any(conditions):
        check_feasible(blob.load(), groups, conditions, block_rows=s.block_rows, seed=s.seed)
    partitions = s.partitions or spark.sparkContext.defaultParallelism
    flat = sample_flat(
        spark,
        blob,
        encoder,
        gold,
        groups=groups,
        conditions=conditions,
        seed=s.seed,
        block_rows=s.block_rows,
        partitions=partitions,
        torch_threads=s.torch_threads,
        array_lengths={c: int(row[c]) for c in positional},
    )
    rows = to_gold(flat, gold, run_id=run, model_id=ref.model_id)
    derived = apply_identities(rows, ref.table)
    rows = derived.select(  # the identities keep every column; restore the gold comments
        *[
            F.col(c.name).cast(c.dataType).alias(c.name, metadata=c.metadata)
            if c.name in gold.names
            else F.col(c.name)
            for c in rows.schema.fields
        ]
    )
    path = lakehouse.synthetic_table(f"{ref.table}_raw")
    log.info(
        "synthesize: %s rows of %s from %s (run %s)",
        f"{sum(groups):,}",
        ref.table,
        ref.model_id,
        run,
    )
    replace_partition(rows, path, column=RUN_ID, value=run)
    written = written_rows(spark, path)
    seconds = time.perf_counter() - began
    return SynthesizeReport(
        run_id=run,
        model_id=ref.model_id,
        table=ref.table,
        path=path,
        rows=written,
        groups=groups,
        blocks=len(plan_blocks(groups, s.block_rows, s.seed)),
        partitions=partitions,
        seconds=round(seconds, 2),
        rows_per_s=round(written / max(seconds, 1e-9), 1),
    )


# -- filter --------------------------------------------------------------------------------
@dataclass
class FilterReport(StageReport):
    """What the filters removed and why; raw rows = kept + every reason's count."""

    run_id: str
    path: str
    raw_rows: int
    kept_rows: int
    removed: dict[str, int]
    constraints: list[str]
    notes: list[str]
    realism: dict[str, float | None] = field(default_factory=dict)
    privacy: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        """A few lines."""
        removed = ", ".join(f"{k} {v:,}" for k, v in sorted(self.removed.items())) or "none"
        quality = self.realism.get("quality_before"), self.realism.get("quality_after")
        lines = [
            f"kept {self.kept_rows:,} of {self.raw_rows:,} rows; removed: {removed}",
            f"  {len(self.constraints)} validity constraints; quality before/after "
            f"{quality[0]} / {quality[1]}; privacy threshold {self.privacy.get('threshold')}",
        ]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])


def _quality(
    encoder: TableEncoder, gold: StructType, real: pd.DataFrame, synth: pd.DataFrame
) -> float | None:
    if real.empty or synth.empty:
        return None
    kinds = sdtypes(encoder.specs)
    names = list(kinds)
    score = quality_score(model_rows(real, gold, names), model_rows(synth, gold, names), kinds)
    return round(score.overall, 4)


def run_filter(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> FilterReport:
    """Stage ``filter``: score and flag the run's raw rows into ``synthetic/<table>``.

    See the module docstring.
    """
    began = time.perf_counter()
    fcfg = cfg.synthesize.filters
    seed = cfg.synthesize.seed
    ref = resolve_model(spark, lakehouse, cfg)
    run = resolve_run_id(cfg, ref)
    encoder = model_encoder(ref)
    gold = GOLD_SCHEMAS[ref.table]
    key = table_key(ref.table)
    raw_path = lakehouse.synthetic_table(f"{ref.table}_raw")
    if not table_exists(spark, raw_path):
        raise InputError(f"{raw_path} does not exist: run the `synthesize` stage first")
    raw = read_table(spark, raw_path).where(F.col(RUN_ID) == F.lit(run))
    train_rows, holdout = real_split(spark, ref)
    notes: list[str] = []

    constraints: list[Constraint] = []
    reason = F.lit(None).cast("string")
    if fcfg.validity.enabled:
        constraints, more = derive_constraints(train_rows, encoder, fcfg.validity)
        notes += more
        reason = violation(constraints, raw.columns)
    flagged = raw.withColumn(REJECTED_REASON, reason)
    if fcfg.privacy.enabled and fcfg.privacy.exact:
        real_all = read_table(spark, ref.table_path, version=ref.delta_version)
        copies = real_all.select(row_hash(real_all, encoder).alias("_h")).distinct()
        flagged = (
            flagged.withColumn("_h", row_hash(flagged, encoder))
            .join(copies.withColumn("_copy", F.lit(True)), "_h", "left")
            .withColumn(
                REJECTED_REASON,
                F.coalesce(
                    F.col(REJECTED_REASON), F.when(F.col("_copy"), F.lit(Reason.EXACT_COPY))
                ),
            )
            .drop("_h", "_copy")
        )

    # the detector and the distance reference, fitted on the driver on seeded samples
    rows_real = hash_sample(train_rows, key, fcfg.realism.sample_rows, seed)
    x_real = encode_rows(encoder, rows_real, gold)
    x_syn = None
    rows_syn = pd.DataFrame()
    if fcfg.realism.enabled:
        valid = flagged.where(F.col(REJECTED_REASON).isNull()).drop(REJECTED_REASON)
        rows_syn = hash_sample(valid, ROW, fcfg.realism.sample_rows, seed)
        if len(rows_syn):
            x_syn = encode_rows(encoder, rows_syn, gold)
    reference = None
    threshold: float | None = None
    privacy: dict[str, float | None] = {"quantile": fcfg.privacy.quantile, "threshold": None}
    if fcfg.privacy.enabled and fcfg.privacy.quantile > 0:
        if holdout is None:
            notes.append("no holdout (train.holdout_fraction is 0): distance filter skipped")
        else:
            ref_rows = hash_sample(train_rows, key, fcfg.privacy.reference_rows, seed + 1)
            reference = encode_rows(encoder, ref_rows, gold)
            hold_rows = hash_sample(holdout, key, fcfg.privacy.holdout_rows, seed + 2)
            if len(hold_rows) == 0:
                notes.append("the holdout is empty: distance filter skipped")
                reference = None
            else:
                probe = fit_scorer(encoder, x_real, None, reference, seed=seed)
                x_hold = encode_rows(encoder, hold_rows, gold)
                hold_dcr = probe.dcr(x_hold)
                threshold = float(np.quantile(hold_dcr, fcfg.privacy.quantile))
                privacy.update(
                    threshold=round(threshold, 6),
                    holdout_rows=float(len(hold_rows)),
                    reference_rows=float(len(ref_rows)),
                    holdout_dcr_median=round(float(np.median(hold_dcr)), 6),
                )
    scorer = fit_scorer(encoder, x_real, x_syn, reference, seed=seed)
    scored = score_frame(flagged, scorer, gold)
    later = F.lit(None).cast("string")
    if threshold is not None:
        later = F.when(F.col(DCR) < F.lit(threshold), F.lit(Reason.TOO_CLOSE))
    if x_syn is not None:
        later = F.coalesce(
            F.when(F.col(REALISM_SCORE) > F.lit(fcfg.realism.threshold), F.lit(Reason.REALISM)),
            later,
        )
    out = scored.withColumn(REJECTED_REASON, F.coalesce(F.col(REJECTED_REASON), later))
    path = lakehouse.synthetic_table(ref.table)
    log.info("filter: scoring run %s into %s", run, path)
    replace_partition(out, path, column=RUN_ID, value=run)

    written = read_table(spark, path).where(F.col(RUN_ID) == F.lit(run))
    counts, kept = count_by(written, REJECTED_REASON)
    raw_rows = raw.count()
    if kept + sum(counts.values()) != raw_rows:
        raise InvalidDataError(
            f"filter accounting broken: {raw_rows} raw rows != {kept} kept + {sum(counts.values())}"
        )
    realism: dict[str, float | None] = {"threshold": fcfg.realism.threshold}
    if x_syn is not None:
        realism["detector_auc_in_sample"] = round(
            roc_auc(
                np.concatenate([np.zeros(len(x_real)), np.ones(len(x_syn))]),
                np.concatenate([scorer.realism(x_real), scorer.realism(x_syn)]),
            ),
            4,
        )
    q_rows = fcfg.realism.quality_rows
    real_q = rows_real.head(q_rows)
    before = hash_sample(written, ROW, q_rows, seed + 3)
    after = hash_sample(written.where(F.col(REJECTED_REASON).isNull()), ROW, q_rows, seed + 3)
    realism["quality_before"] = _quality(encoder, gold, real_q, before)
    realism["quality_after"] = _quality(encoder, gold, real_q, after)
    return FilterReport(
        run_id=run,
        path=path,
        raw_rows=raw_rows,
        kept_rows=kept,
        removed=counts,
        constraints=[c.describe() for c in constraints],
        notes=notes,
        realism=realism,
        privacy=privacy,
        seconds=round(time.perf_counter() - began, 2),
    )


# -- fuse ----------------------------------------------------------------------------------
@dataclass
class FuseReport(StageReport):
    """What the ``fuse`` stage wrote."""

    run_id: str
    synthetic_rows: int
    enriched_users: int
    events: dict[str, int]
    rejected_events: dict[str, int]
    fused: dict[str, dict[str, int]]
    paths: dict[str, str]
    seconds: float
    behaviour: str = "rules"  # synthesize.fusion.behaviour.model
    copies: dict[str, object] = field(default_factory=dict)  # the copied-run check
    sequence_model_id: str | None = None  # the sequence model, with learned behaviour

    def summary(self) -> str:
        """A few lines."""
        events = ", ".join(f"{k} {v:,}" for k, v in sorted(self.events.items()))
        rejected = ", ".join(f"{k} {v:,}" for k, v in sorted(self.rejected_events.items()))
        lines = [
            f"{self.synthetic_rows:,} synthetic rows, {self.enriched_users:,} enriched users; "
            f"events ({self.behaviour}"
            + (f", {self.sequence_model_id}" if self.sequence_model_id else "")
            + f"): {events}; rejected events: {rejected or 'none'}"
        ]
        for table, metrics in self.fused.items():
            lines.append(f"  {table}: {metrics} -> {self.paths[table]}")
        return "\n".join(lines)


def _event_generator(
    catalog: Catalog, params: BehaviourParams, seed: int, source: str, source_file: str
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    def generate(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in frames:
            out = generate_events(
                frame,
                catalog,
                params,
                seed=seed,
                source=source,
                source_file=source_file,
            )
            if len(out):
                yield out

    return generate


_EVENT_INPUT = (
    USER_ID,
    *COUNT_COLUMNS,
    "n_sessions",
    "first_seen",
    "last_seen",
    "category_shares",
    "top_brands",
    "view_price_rel_category",
    "hour_shares",
)
_COUNT_KEYS = (*EVENT_TYPES, OTHER_EVENTS)  # the keys of the funnel shares (n_<key> columns)


def _funnel_counts(extra: F.Column, shares: dict[str, float]) -> list[F.Column]:
    """Split ``extra`` events by the population's event-type shares (the largest: the rest)."""
    ranked = sorted(_COUNT_KEYS, key=lambda t: (-shares.get(t, 0.0), t))
    columns: dict[str, F.Column] = {}
    for event_type in ranked[1:]:
        columns[event_type] = F.round(extra * F.lit(shares.get(event_type, 0.0))).cast("long")
    rest = extra.cast("long")
    for value in columns.values():
        rest = rest - value
    columns[ranked[0]] = F.greatest(rest, F.lit(0).cast("long"))
    return [columns[t].alias(f"n_{t}") for t in _COUNT_KEYS]


def _provenance(
    df: DataFrame,
    *,
    synthetic: bool,
    enriched: F.Column,
    model: str | None,
    run: str,
    weight: float,
) -> DataFrame:
    return df.select(
        "*",
        F.lit(synthetic).alias(IS_SYNTHETIC),
        enriched.alias(ENRICHED),
        F.lit(model).cast("string").alias(MODEL_ID),
        F.lit(run).alias(RUN_ID),
        F.lit(float(weight)).alias(WEIGHT),
    )


@dataclass
class BehaviourInputs:
    """What drawing behaviour events needs: the real train split and its catalog and funnel."""

    train: DataFrame
    reference_s: float
    window: tuple[object, object]
    shares: dict[str, float]
    catalog: Catalog
    params: BehaviourParams

    @classmethod
    def read(cls, spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> BehaviourInputs:
        """From silver's train split and the gold item profiles."""
        silver = lakehouse.silver_table()
        if not table_exists(spark, silver):
            raise InputError(f"{silver} does not exist: run the `clean` stage first")
        train = train_split(read_table(spark, silver))
        window = train.agg(F.min(EVENT_TIME).alias("lo"), F.max(EVENT_TIME).alias("hi")).first()
        assert window is not None
        type_counts = count_by(train, EVENT_TYPE)[0]
        total = max(1, sum(type_counts.values()))
        extras = {t: n for t, n in sorted(type_counts.items()) if t not in EVENT_TYPES}
        item_columns = [
            "product_id",
            "category_id",
            "category_code",
            "category_l1",
            "brand",
            "price_median",
            "n_events",
        ]
        gold_items = read_table(spark, lakehouse.gold_table("item_profiles"))
        behaviour = cfg.synthesize.fusion.behaviour
        return cls(
            train=train,
            reference_s=reference_time(train),
            window=(window["lo"], window["hi"]),
            shares={
                **{t: type_counts.get(t, 0) / total for t in EVENT_TYPES},
                OTHER_EVENTS: sum(extras.values()) / total,
            },
            catalog=Catalog.from_items(gold_items.select(*item_columns).toPandas()),
            params=BehaviourParams(
                brand_affinity=behaviour.brand_affinity,
                price_candidates=behaviour.price_candidates,
                mean_gap_s=behaviour.mean_gap_s,
                other_types=tuple((t, float(n)) for t, n in extras.items()),
            ),
        )

    def enrichment(
        self, sparse: DataFrame, target_events: int, *, seed: int, source: str, run: str
    ) -> DataFrame:
        """Events that bring each sparse user profile (gold columns) to ``target_events``.

        The extra events split by the real funnel's event-type shares; items, times and
        sessions are drawn from the user's own profile (:mod:`synth.generate.behaviour`).
        """
        extra = F.lit(target_events) - F.col("n_events")
        wanted = sparse.select(
            USER_ID,
            *_funnel_counts(extra, self.shares),
            *[c for c in _EVENT_INPUT[1 + len(COUNT_COLUMNS) :]],
        )
        gen = _event_generator(self.catalog, self.params, seed, source, run)
        return wanted.mapInPandas(gen, SILVER_SCHEMA).withColumn(  # type: ignore[arg-type]
            ORIGIN, F.lit(ENRICHMENT)
        )


COPIED_RUN = "copied_run"  # events_rejected reason: the user replays a training run of items


def _copy_check(
    spark: SparkSession, lakehouse: Lakehouse, ref: ModelRef, events: DataFrame, cfg: JobConfig
) -> tuple[DataFrame | None, dict[str, object]]:
    """The synthetic users whose events replay a training user's run (:mod:`.copies`).

    Returns the copying users (None when no run length could be calibrated) and the figures
    for the report: the calibration and the synthetic share beside the holdout share.
    """
    copy_cfg = cfg.synthesize.filters.sequences
    path = lakehouse.gold_table("user_sequences")
    if not table_exists(spark, path):
        return None, {"skipped": f"{path} does not exist (run the features stage)"}
    sequences = read_table(spark, path)
    held = holdout_mask(USER_ID, ref.holdout_fraction, ref.holdout_seed)
    train, holdout = sequences.where(~held), sequences.where(held)
    check = choose_length(
        train, holdout, max_holdout_share=copy_cfg.max_holdout_share, longest=copy_cfg.longest
    )
    figures: dict[str, object] = check.to_dict()
    if check.length is None:
        figures["skipped"] = (
            "no holdout users to calibrate on"
            if not check.holdout_shares
            else f"holdout users share runs of every length up to {copy_cfg.longest}"
        )
        return None, figures
    synthetic = event_sequences(events.where(F.col(ORIGIN) == F.lit(SYNTHETIC_USER)))
    # persisted: counted for the report, then joined to the events (the caller unpersists it)
    copying = copying_users(synthetic, train, check.length).persist()
    share, users = share_with_copies(synthetic, train, check.length, copying=copying)
    figures["synthetic_share"] = round(share, 6)
    figures["synthetic_users"] = users
    return copying, figures


@dataclass
class LearnedBehaviour:
    """Drawing events with the trained sequence model (:mod:`synth.generate.learned`)."""

    ref: SequenceRef
    blob: ModelBlob
    catalog: Catalog
    window_hi_ns: int
    partitions: int
    sequences: DataFrame
    threads: int

    @classmethod
    def read(
        cls, spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig, inputs: BehaviourInputs
    ) -> LearnedBehaviour:
        """The model trained on the current gold versions (an error names what is missing)."""
        ref = resolve_sequence_model(spark, lakehouse, cfg)
        hi = pd.Timestamp(inputs.window[1])  # type: ignore[arg-type]
        hi = hi.tz_convert("UTC").tz_localize(None) if hi.tzinfo is not None else hi
        sequences = read_table(
            spark, lakehouse.gold_table("user_sequences"), version=ref.versions["user_sequences"]
        )
        return cls(
            ref=ref,
            blob=ModelBlob.from_dir(ref.model_dir),
            catalog=inputs.catalog,
            window_hi_ns=int(hi.value),
            partitions=cfg.synthesize.partitions or spark.sparkContext.defaultParallelism,
            sequences=sequences,
            threads=cfg.synthesize.torch_threads,
        )

    def synthetic_users(self, kept: DataFrame, *, seed: int, source: str, run: str) -> DataFrame:
        """Events with each synthetic profile's counts, sessions and window."""
        return learned_events(
            kept.select(*USER_PROFILE_SCHEMA.names),
            self.blob,
            self.catalog,
            seed=seed,
            source=source,
            source_file=run,
            enrich=False,
            window_hi_ns=self.window_hi_ns,
            partitions=self.partitions,
            threads=self.threads,
        )

    def enrichment(
        self, sparse: DataFrame, target_events: int, *, seed: int, source: str, run: str
    ) -> DataFrame:
        """Each sparse user's real sequence continued to ``target_events`` events."""
        prefix = self.sequences.select(
            USER_ID, "first_event_time", "event_types", "product_ids", "gaps_s", "new_session"
        )
        users = sparse.select(*USER_PROFILE_SCHEMA.names).join(prefix, USER_ID, "inner")
        users = users.withColumn(
            "_n_new", F.greatest(F.lit(target_events) - F.col("n_events"), F.lit(0))
        )
        return learned_events(
            users,
            self.blob,
            self.catalog,
            seed=seed,
            source=source,
            source_file=run,
            enrich=True,
            window_hi_ns=self.window_hi_ns,
            partitions=self.partitions,
            threads=self.threads,
        )


def run_fuse(spark: SparkSession, lakehouse: Lakehouse, cfg: JobConfig) -> FuseReport:
    """Stage ``fuse``: behaviour events and fused profiles of the run (see the module docstring)."""
    began = time.perf_counter()
    s = cfg.synthesize
    ref = resolve_model(spark, lakehouse, cfg)
    run = resolve_run_id(cfg, ref)
    filtered_path = lakehouse.synthetic_table(ref.table)
    if not table_exists(spark, filtered_path):
        raise InputError(f"{filtered_path} does not exist: run the `filter` stage first")
    kept = read_table(spark, filtered_path).where(
        (F.col(RUN_ID) == F.lit(run)) & F.col(REJECTED_REASON).isNull()
    )
    gold_users = read_table(spark, lakehouse.gold_table("user_profiles"))
    gold_items = read_table(spark, lakehouse.gold_table("item_profiles"))
    inputs = BehaviourInputs.read(spark, lakehouse, cfg)
    train, reference_s = inputs.train, inputs.reference_s
    window = {"lo": inputs.window[0], "hi": inputs.window[1]}
    source = f"synthetic:{ref.model_id}"

    synthetic_rows = kept.count()
    parts: list[DataFrame] = []
    enrich = s.fusion.enrich
    sparse = gold_users.where(F.col("n_events") <= F.lit(enrich.max_events))
    learned: LearnedBehaviour | None = None
    if s.fusion.behaviour.model == "learned":
        learned = LearnedBehaviour.read(spark, lakehouse, cfg, inputs)
    if ref.table == "user_profiles":
        seed = derive_seed(s.seed, "events", SYNTHETIC_USER)
        if learned is not None:
            drawn = learned.synthetic_users(kept, seed=seed, source=source, run=run)
        else:
            gen = _event_generator(inputs.catalog, inputs.params, seed, source, run)
            drawn = kept.select(*_EVENT_INPUT).mapInPandas(gen, SILVER_SCHEMA)  # type: ignore[arg-type]
        parts.append(drawn.withColumn(ORIGIN, F.lit(SYNTHETIC_USER)))
    if enrich.enabled:
        seed = derive_seed(s.seed, "events", ENRICHMENT)
        if learned is not None:
            parts.append(
                learned.enrichment(
                    sparse, enrich.target_events, seed=seed, source=source, run=run
                ).withColumn(ORIGIN, F.lit(ENRICHMENT))
            )
        else:
            parts.append(
                inputs.enrichment(sparse, enrich.target_events, seed=seed, source=source, run=run)
            )
    events = parts[0] if parts else None
    for part in parts[1:]:
        events = events.unionByName(part) if events is not None else part
    paths = {
        "events": lakehouse.synthetic_table("events"),
        "events_rejected": lakehouse.synthetic_table("events_rejected"),
        "user_profiles": lakehouse.fused_table("user_profiles"),
        "item_profiles": lakehouse.fused_table("item_profiles"),
    }
    empty_events = spark.createDataFrame([], SILVER_SCHEMA).withColumn(
        ORIGIN, F.lit(SYNTHETIC_USER)
    )
    # drawn once: the copy check and both writes read the persisted events (the draws are
    # deterministic, but drawing tens of millions of events twice doubled the stage's time)
    events = (events if events is not None else empty_events).persist(StorageLevel.DISK_ONLY)
    copies: dict[str, object] = {}
    copying: DataFrame | None = None
    try:
        known = gold_items.select(F.col(PRODUCT_ID).alias("_pid"), F.lit(True).alias("_known"))
        reason = F.when(F.col("_known").isNull(), F.lit("unknown_item")).when(
            (F.col(EVENT_TIME) < F.lit(window["lo"])) | (F.col(EVENT_TIME) > F.lit(window["hi"])),
            F.lit("outside_real_window"),
        )
        checked = events.join(F.broadcast(known), events[PRODUCT_ID] == known["_pid"], "left")
        copy_cfg = s.filters.sequences
        if copy_cfg.enabled and ref.table == "user_profiles":
            copying, copies = _copy_check(spark, lakehouse, ref, events, cfg)
            if copying is not None:
                flag = copying.select(F.col(USER_ID).alias("_copier"), F.lit(True).alias("_copy"))
                checked = checked.join(flag, checked[USER_ID] == flag["_copier"], "left")
                reason = reason.when(
                    F.col("_copy").isNotNull() & (F.col(ORIGIN) == F.lit(SYNTHETIC_USER)),
                    F.lit(COPIED_RUN),
                )
        checked = (
            checked.withColumn("_reason", reason)
            .drop("_pid", "_known", "_copier", "_copy")
            .withColumn(MODEL_ID, F.lit(ref.model_id))
            .withColumn(RUN_ID, F.lit(run))
        )
        replace_partition(
            checked.where(F.col("_reason").isNull()).drop("_reason"),
            paths["events"],
            column=RUN_ID,
            value=run,
        )
        replace_partition(
            checked.where(F.col("_reason").isNotNull()).withColumnRenamed("_reason", "reason"),
            paths["events_rejected"],
            column=RUN_ID,
            value=run,
        )
    finally:
        events.unpersist()
        if copying is not None:
            copying.unpersist()
    written = read_table(spark, paths["events"]).where(F.col(RUN_ID) == F.lit(run))
    event_counts = count_by(written, ORIGIN)[0]
    rejected = read_table(spark, paths["events_rejected"]).where(F.col(RUN_ID) == F.lit(run))
    rejected_counts = count_by(rejected, "reason")[0]
    silver_events = written.select(*SILVER_SCHEMA.names)

    # fused users: untouched real users, enriched sparse users, synthetic users
    enriched_ids = written.where(F.col(ORIGIN) == F.lit(ENRICHMENT)).select(USER_ID).distinct()
    enriched_users = enriched_ids.count()
    sparse_events = train.join(enriched_ids, USER_ID, "left_semi").unionByName(
        written.where(F.col(ORIGIN) == F.lit(ENRICHMENT)).select(*SILVER_SCHEMA.names)
    )
    recomputed = user_profiles(sparse_events, cfg.features.profiles, reference_s=reference_s)
    users = [
        _provenance(
            gold_users.join(enriched_ids, USER_ID, "left_anti"),
            synthetic=False,
            enriched=F.lit(False),
            model=None,
            run=run,
            weight=1.0,
        ),
        _provenance(
            recomputed,
            synthetic=False,
            enriched=F.lit(True),
            model=ref.model_id,
            run=run,
            weight=1.0,
        ),
    ]
    if ref.table == "user_profiles":
        users.append(
            _provenance(
                kept.select(*USER_PROFILE_SCHEMA.names),
                synthetic=True,
                enriched=F.lit(False),
                model=ref.model_id,
                run=run,
                weight=s.fusion.synthetic_weight,
            )
        )
    fused_users = (
        users[0].unionByName(users[1]).unionByName(users[2])
        if len(users) == 3
        else users[0].unionByName(users[1])
    )

    # fused items: recomputed from real + synthetic events (embeddings from gold), plus
    # synthetic item rows when the model is an item model
    touched = silver_events.select(F.col(PRODUCT_ID).alias("_touched")).distinct()
    items = item_profiles(train.unionByName(silver_events), reference_s=reference_s)
    embeddings = gold_items.select(PRODUCT_ID, F.col("text_embedding").alias("_emb"))
    items = (
        items.drop("text_embedding")
        .join(embeddings, PRODUCT_ID, "left")
        .withColumnRenamed("_emb", "text_embedding")
        .select(*ITEM_PROFILE_SCHEMA.names)
    )
    items = items.join(touched, items[PRODUCT_ID] == touched["_touched"], "left")
    items = items.withColumn("_enriched", F.col("_touched").isNotNull()).drop("_touched")
    fused_items = _provenance(
        items, synthetic=False, enriched=F.col("_enriched"), model=ref.model_id, run=run, weight=1.0
    )
    fused_items = fused_items.drop("_enriched")
    if ref.table == "item_profiles":
        fused_items = fused_items.unionByName(
            _provenance(
                kept.select(*ITEM_PROFILE_SCHEMA.names),
                synthetic=True,
                enriched=F.lit(False),
                model=ref.model_id,
                run=run,
                weight=s.fusion.synthetic_weight,
            )
        )
    metrics = {
        "user_profiles": merge_partition(
            fused_users, paths["user_profiles"], keys=[USER_ID], column=RUN_ID, value=run
        ),
        "item_profiles": merge_partition(
            fused_items, paths["item_profiles"], keys=[PRODUCT_ID], column=RUN_ID, value=run
        ),
    }
    return FuseReport(
        run_id=run,
        synthetic_rows=synthetic_rows,
        enriched_users=enriched_users,
        events=event_counts,
        rejected_events=rejected_counts,
        fused=metrics,
        paths=paths,
        seconds=round(time.perf_counter() - began, 2),
        behaviour=s.fusion.behaviour.model,
        copies=copies,
        sequence_model_id=learned.ref.model_id if learned is not None else None,
    )
