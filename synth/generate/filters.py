"""Filtering synthetic rows for validity, realism and privacy; every removal has a reason.

* **Validity** (:func:`derive_constraints`, :func:`violation`): constraints derived from the real
  training rows in one aggregation: value ranges of numeric and timestamp columns, vocabularies
  of categorical columns (and of ranked-list heads), orders that hold in every real row between
  count columns (``n_purchase <= n_events``) and between timestamps (``first_seen <=
  last_seen``), and columns never null. Plain Spark columns: no Python.
* **Exact copies** (:func:`row_hash`): a synthetic row equal to any real row (training or holdout)
  in every model column.
* **Realism** (:class:`Scorer`): a logistic-regression detector trained on the driver to tell
  real training rows from synthetic ones, on the model's own encoding standardised by the
  training sample; rows it calls synthetic with probability above the threshold are removed.
* **Privacy** (:class:`Scorer`): the distance to the closest record (Euclidean on the encoding)
  of a seeded reference sample of training rows. The threshold is a low quantile of the same
  distance for real *holdout* rows (never trained on): a kept row is no closer to the training
  rows than almost all fresh real rows are.

Scores are computed in one ``mapInArrow`` pass (:func:`score_frame`) that appends
``realism_score`` and ``dcr`` to each row.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, StructField, StructType

from synth.config.synthesize import ValidityFilter
from synth.models.encoding import TableEncoder
from synth.models.table_frame import FIRST_SUFFIX, model_rows
from synth.schema import DCR, REALISM_SCORE
from synth.stats.distance import nearest_distance
from synth.stats.logistic import fit_logistic


class Reason:
    """Why a synthetic row was removed (the ``rejected_reason`` column)."""

    RANGE = "validity_range"
    VOCABULARY = "validity_vocabulary"
    ORDER = "validity_order"
    REQUIRED = "validity_required"
    EXACT_COPY = "privacy_exact_copy"
    TOO_CLOSE = "privacy_too_close"
    REALISM = "realism_detected"


@dataclass(frozen=True)
class Constraint:
    """One validity rule: ``kind`` over ``columns`` with JSON ``params``."""

    kind: str  # range | vocabulary | order | required
    columns: tuple[str, ...]
    params: dict[str, object] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """The rejection reason of a row violating it."""
        return {
            "range": Reason.RANGE,
            "vocabulary": Reason.VOCABULARY,
            "order": Reason.ORDER,
            "required": Reason.REQUIRED,
        }[self.kind]

    def describe(self) -> str:
        """One readable line."""
        if self.kind == "range":
            return f"{self.columns[0]} in [{self.params['low']}, {self.params['high']}]"
        if self.kind == "vocabulary":
            return f"{self.columns[0]} in its {self.params['size']} real values"
        if self.kind == "order":
            return f"{self.columns[0]} <= {self.columns[1]}"
        return f"{self.columns[0]} is not null"


def _model_column(name: str, columns: Sequence[str]) -> Column:
    """A model column read from gold rows (a ranked list's head for ``<list>_first``)."""
    if name not in columns and name.endswith(FIRST_SUFFIX):
        return F.try_element_at(F.col(name[: -len(FIRST_SUFFIX)]), F.lit(1))
    return F.col(name)


def derive_constraints(
    real: DataFrame, encoder: TableEncoder, cfg: ValidityFilter
) -> tuple[list[Constraint], list[str]]:
    """Constraints that every row of ``real`` (gold rows) meets. Runs one or two Spark jobs.

    Returns the constraints and notes on what was not checked (a vocabulary too large).
    """
    cols = real.columns
    specs = [s for s in encoder.specs if s.kind != "shares"]
    numeric = [s.name for s in specs if s.kind in ("count", "continuous", "timestamp")]
    categorical = [s.name for s in specs if s.kind == "categorical"]
    counts = [s.name for s in specs if s.kind == "count"]
    stamps = [s.name for s in specs if s.kind == "timestamp"]
    pairs = [(a, b) for group in (counts, stamps) for a, b in itertools.permutations(group, 2)]
    aggs: list[Column] = []
    for name in numeric:
        value = _model_column(name, cols)
        if name in stamps:
            value = value.cast("long")
        aggs += [F.min(value).alias(f"lo:{name}"), F.max(value).alias(f"hi:{name}")]
    for name in [s.name for s in specs]:
        aggs.append(F.count_if(_model_column(name, cols).isNull()).alias(f"null:{name}"))
    for name in categorical:
        aggs.append(F.approx_count_distinct(_model_column(name, cols)).alias(f"nd:{name}"))
    for a, b in pairs:
        left, right = _model_column(a, cols), _model_column(b, cols)
        aggs.append(F.count_if(left > right).alias(f"gt:{a}:{b}"))
    row = real.agg(*aggs).first()
    assert row is not None
    stats = row.asDict()
    out: list[Constraint] = []
    notes: list[str] = []
    if cfg.ranges:
        for name in numeric:
            low, high = stats[f"lo:{name}"], stats[f"hi:{name}"]
            if low is not None:
                out.append(
                    Constraint(
                        "range", (name,), {"low": low, "high": high, "timestamp": name in stamps}
                    )
                )
    if cfg.vocabularies:
        small = [n for n in categorical if stats[f"nd:{n}"] <= cfg.max_vocabulary]
        for name in [n for n in categorical if n not in small]:
            notes.append(
                f"vocabulary of {name} not checked (about {stats[f'nd:{name}']} values "
                f"> max_vocabulary {cfg.max_vocabulary})"
            )
        if small:
            sets = real.agg(
                *[F.collect_set(_model_column(n, cols).cast("string")).alias(n) for n in small]
            ).first()
            assert sets is not None
            for name in small:
                values = sorted(sets[name])
                out.append(
                    Constraint("vocabulary", (name,), {"values": values, "size": len(values)})
                )
    if cfg.orders:
        for a, b in pairs:
            if stats[f"gt:{a}:{b}"] == 0:
                out.append(Constraint("order", (a, b)))
    if cfg.required:
        for spec in encoder.specs:
            if spec.kind != "shares" and stats.get(f"null:{spec.name}") == 0:
                out.append(Constraint("required", (spec.name,)))
    return out, notes


def _violated(rule: Constraint, cols: Sequence[str]) -> Column:
    value = _model_column(rule.columns[0], cols)
    if rule.kind == "range":
        if rule.params.get("timestamp"):
            value = value.cast("long")
        return (value < F.lit(rule.params["low"])) | (value > F.lit(rule.params["high"]))
    if rule.kind == "vocabulary":
        return ~value.cast("string").isin(list(rule.params["values"]))  # type: ignore[call-overload]
    if rule.kind == "order":
        return value > _model_column(rule.columns[1], cols)
    return value.isNull()


def violation(constraints: Sequence[Constraint], columns: Sequence[str]) -> Column:
    """The reason of the first violated constraint, or null when the row meets them all.

    Kinds are checked in the order required, range, vocabulary, order; nulls pass every rule
    but ``required``.
    """
    order = {"required": 0, "range": 1, "vocabulary": 2, "order": 3}
    reason: Column = F.lit(None).cast("string")
    for rule in sorted(constraints, key=lambda r: -order[r.kind]):
        reason = F.when(
            F.coalesce(_violated(rule, columns), F.lit(False)), F.lit(rule.reason)
        ).otherwise(reason)
    return reason


def row_hash(df: DataFrame, encoder: TableEncoder) -> Column:
    """A 64-bit hash of a gold row's model columns (maps as sorted entries)."""
    parts = []
    for spec in encoder.specs:
        value = _model_column(spec.name, df.columns)
        if spec.kind == "shares":
            source = spec.name if spec.name in df.columns else None
            dtype = df.schema[source].dataType if source else None
            value = (
                F.col(spec.name)
                if isinstance(dtype, ArrayType)
                else F.array_sort(F.map_entries(F.col(spec.name)))
            )
        parts.append(value)
    return F.xxhash64(*parts)


# -- detector and distances ------------------------------------------------------------------------
def encode_rows(encoder: TableEncoder, rows: pd.DataFrame, schema: StructType) -> np.ndarray:
    """Gold rows -> the model's encoding (values unseen at fit time take fill values)."""
    return encoder.transform_lenient(model_rows(rows, schema, [s.name for s in encoder.specs]))[0]


@dataclass(frozen=True)
class Scorer:
    """What the scoring pass needs (plain numbers and JSON; shipped in the closure).

    Attributes:
        encoder_json: The model's encoder.
        names: The model columns, in encoder order.
        mean: Per encoded column, the training sample's mean (standardises the detector input).
        scale: Per encoded column, the training sample's standard deviation (floored).
        weights: The detector's weights (last: the intercept), or empty when realism is off.
        reference: Encoded training rows (the distance reference), or empty when privacy is off.
    """

    encoder_json: str
    names: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    reference: np.ndarray

    def encode(self, encoder: TableEncoder, gold: pd.DataFrame, schema: StructType) -> np.ndarray:
        """Gold rows -> the model's encoding (:func:`encode_rows`)."""
        return encode_rows(encoder, gold, schema)

    def realism(self, x: np.ndarray) -> np.ndarray:
        """The detector's probability that each encoded row is synthetic."""
        if not self.weights.size:
            return np.full(len(x), np.nan)
        z = ((x - self.mean) / self.scale) @ self.weights[:-1] + self.weights[-1]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))

    def dcr(self, x: np.ndarray, *, chunk: int = 2_048) -> np.ndarray:
        """Each row's Euclidean distance to its closest reference row (``chunk`` rows at a time)."""
        return nearest_distance(x, self.reference, chunk=chunk)


def fit_scorer(
    encoder: TableEncoder,
    real: np.ndarray,
    synthetic: np.ndarray | None,
    reference: np.ndarray | None,
    *,
    seed: int,
) -> Scorer:
    """Fit the detector (``real`` vs ``synthetic`` encoded rows) and keep the reference rows."""
    mean = real.mean(axis=0)
    scale = np.maximum(real.std(axis=0), 1e-3)
    weights = np.zeros(0)
    if synthetic is not None and len(synthetic):
        x = np.vstack([real, synthetic]).astype(np.float64)
        y = np.concatenate([np.zeros(len(real)), np.ones(len(synthetic))])
        weights = fit_logistic((x - mean) / scale, y, seed=seed)
    return Scorer(
        encoder_json=encoder.to_json(),
        names=[s.name for s in encoder.specs],
        mean=mean,
        scale=scale,
        weights=weights,
        reference=np.zeros((0, 0)) if reference is None else reference.astype(np.float32),
    )


def score_frame(df: DataFrame, scorer: Scorer, gold: StructType) -> DataFrame:
    """``df`` (gold rows plus extra columns) with ``realism_score`` and ``dcr`` appended.

    One ``mapInArrow`` pass: each batch is encoded once; the input columns pass through as
    they are. Deterministic (no randomness).
    """
    out_schema = StructType(
        [
            *df.schema.fields,
            StructField(REALISM_SCORE, DoubleType(), True),
            StructField(DCR, DoubleType(), True),
        ]
    )
    fn = _scoring(scorer, gold)
    return df.mapInArrow(fn, out_schema)  # type: ignore[arg-type]


def _scoring(
    scorer: Scorer, gold: StructType
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        encoder = TableEncoder.from_json(scorer.encoder_json)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = batch.to_pandas()
            x = scorer.encode(encoder, frame, gold)
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, pa.array(scorer.realism(x)), pa.array(scorer.dcr(x))],
                names=[*batch.schema.names, REALISM_SCORE, DCR],
            )

    return score


def constraints_json(constraints: Sequence[Constraint]) -> str:
    """The constraints as JSON (vocabularies summarised by size)."""
    return json.dumps(
        [
            {**asdict(c), "params": {k: v for k, v in c.params.items() if k != "values"}}
            for c in constraints
        ],
        sort_keys=True,
        default=str,
    )
