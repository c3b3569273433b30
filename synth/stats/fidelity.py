"""Fidelity of a synthetic table: column shapes, column-pair trends and their mean (pandas).

The definitions are those of SDMetrics' single-table quality report (cross-checked against the
``sdmetrics`` package in the tests):

* column shape: ``1 - KS statistic`` for numerical and datetime columns (non-null values;
  datetimes as numbers), ``1 - total variation distance`` of the category frequencies
  (nulls counted as a category) for categorical columns;
* column-pair trend: for two numerical columns ``1 - |r_real - r_synth| / 2`` (Pearson
  correlations on rows where both are present); otherwise ``1 - TVD`` of the two columns' joint
  frequencies, numerical columns cut into 10 equal-width bins, each table over its own range
  (as SDMetrics' report does);
* each property is the mean over its columns / pairs, and the overall score is the mean of the
  two properties. As in SDMetrics (0.32), only pairs that are associated in the real data count
  towards the trends property: numerical pairs with ``|r_real| > 0.5``, other pairs with a real
  Cramér's V above 0.3 (when no pair qualifies, every pair counts). Pairs whose correlation is
  undefined (a constant column) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

Sdtype = Literal["numerical", "datetime", "categorical"]
# encoder column kinds -> SDMetrics sdtypes; share maps have no single-column shape
SDTYPE_OF_KIND: dict[str, Sdtype] = {
    "categorical": "categorical",
    "timestamp": "datetime",
    "continuous": "numerical",
    "count": "numerical",
}


def sdtypes(specs: Iterable[Any]) -> dict[str, Sdtype]:
    """``{column: sdtype}`` for encoder column specs (``.name``, ``.kind``), shares left out."""
    return {s.name: SDTYPE_OF_KIND[s.kind] for s in specs if s.kind in SDTYPE_OF_KIND}


NUMERIC_KINDS: tuple[str, ...] = ("numerical", "datetime")
BINS = 10
CORRELATION_THRESHOLD = 0.5
ASSOCIATION_THRESHOLD = 0.3


@dataclass(frozen=True)
class QualityScore:
    """A quality report's numbers."""

    column_shapes: float
    column_pair_trends: float
    overall: float
    per_column: dict[str, float]
    per_pair: dict[str, float]
    counted_pairs: tuple[str, ...]


def _numeric(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.dropna().astype("int64").to_numpy(dtype=np.float64)
    return pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=np.float64)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic (largest gap between the two ECDFs).

    ``scipy.stats.ks_2samp``'s statistic (its p-value is not used: ``method="asymp"`` keeps it
    cheap, and numpy's warnings about it, e.g. for one-row samples, are silenced); 1.0 when
    either sample is empty.
    """
    if a.size == 0 or b.size == 0:
        return 1.0
    with np.errstate(all="ignore"):
        return float(ks_2samp(a, b, method="asymp").statistic)


def _frequencies(frame: pd.DataFrame) -> pd.Series:
    return frame.astype(object).where(frame.notna(), "\x00null").value_counts(normalize=True)


def tv_complement(real: pd.DataFrame, synth: pd.DataFrame) -> float:
    """``1 - TVD`` between the (joint) frequencies of the same columns."""
    p, q = _frequencies(real), _frequencies(synth)
    index = p.index.union(q.index)
    return float(
        1.0 - 0.5 * np.abs(p.reindex(index, fill_value=0) - q.reindex(index, fill_value=0)).sum()
    )


def column_shape(real: pd.Series, synth: pd.Series, sdtype: Sdtype) -> float:
    """The shape score of one column."""
    if sdtype in NUMERIC_KINDS:
        return 1.0 - ks_statistic(_numeric(real), _numeric(synth))
    return tv_complement(real.to_frame(), synth.to_frame())


def _binned(real: pd.Series, synth: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each table's values in 10 equal-width bins over *its own* range (SDMetrics' report)."""
    out = []
    for values in (real, synth):
        numbers = pd.Series(_numeric_all(values))
        edges = np.histogram_bin_edges(numbers.dropna(), bins=BINS)
        out.append(pd.Series(np.digitize(numbers, edges)))
    return out[0], out[1]


def _numeric_all(values: pd.Series) -> np.ndarray:
    """Numbers for every row (nulls as NaN)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = values.astype("int64").to_numpy(dtype=np.float64)
        out[values.isna().to_numpy()] = np.nan
        return out
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)


def cramers_v(frame: pd.DataFrame) -> float:
    """Cramér's V of two columns' contingency table (no continuity correction; nulls count)."""
    filled = frame.astype(object).where(frame.notna(), "\x00null")
    table = pd.crosstab(filled.iloc[:, 0], filled.iloc[:, 1]).to_numpy(dtype=np.float64)
    n = table.sum()
    k = min(table.shape) - 1
    if n == 0 or k == 0:
        return float("nan")
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (n * k)))


def pair_trend(
    real: pd.DataFrame, synth: pd.DataFrame, a: str, b: str, kinds: Mapping[str, Sdtype]
) -> tuple[float, bool] | None:
    """Return the trend score of ``(a, b)`` and whether the pair is associated in the real data.

    ``None`` when the correlation is undefined (a constant column).
    """
    if kinds[a] in NUMERIC_KINDS and kinds[b] in NUMERIC_KINDS:
        r = pd.DataFrame({"a": _numeric_all(real[a]), "b": _numeric_all(real[b])}).dropna()
        s = pd.DataFrame({"a": _numeric_all(synth[a]), "b": _numeric_all(synth[b])}).dropna()
        if min(len(r), len(s)) < 2 or (r.std() == 0).any() or (s.std() == 0).any():
            return None
        r_real = r.a.corr(r.b)
        score = float(1.0 - abs(r_real - s.a.corr(s.b)) / 2.0)
        return score, bool(abs(r_real) > CORRELATION_THRESHOLD)
    cols_r, cols_s = {}, {}
    for name in (a, b):
        if kinds[name] in NUMERIC_KINDS:
            cols_r[name], cols_s[name] = _binned(real[name], synth[name])
        else:
            cols_r[name] = real[name].reset_index(drop=True)
            cols_s[name] = synth[name].reset_index(drop=True)
    real_pair = pd.DataFrame(cols_r)
    score = tv_complement(real_pair, pd.DataFrame(cols_s))
    association = cramers_v(real_pair)
    return score, bool(not np.isnan(association) and association > ASSOCIATION_THRESHOLD)


def quality_score(
    real: pd.DataFrame, synth: pd.DataFrame, kinds: Mapping[str, Sdtype]
) -> QualityScore:
    """Score ``synth`` against ``real`` over the columns named in ``kinds``."""
    missing = [c for c in kinds if c not in real.columns or c not in synth.columns]
    if missing:
        raise ValueError(f"columns {missing} are missing from the real or the synthetic table")
    if len(real) == 0 or len(synth) == 0:
        raise ValueError("cannot score an empty table")
    per_column = {c: column_shape(real[c], synth[c], k) for c, k in kinds.items()}
    return combine_scores(per_column, real, synth, kinds)


def combine_scores(
    per_column: Mapping[str, float],
    real: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Sdtype],
) -> QualityScore:
    """Score the column pairs of ``real`` / ``synth`` and combine them with the column shapes.

    Shared by the pandas and the Spark reports (the latter passes its sampled rows).
    """
    per_pair: dict[str, float] = {}
    counted: list[str] = []
    for a, b in combinations(list(kinds), 2):
        result = pair_trend(real, synth, a, b, kinds)
        if result is not None:
            per_pair[f"{a}|{b}"] = result[0]
            if result[1]:
                counted.append(f"{a}|{b}")
    if per_pair and not counted:
        counted = list(per_pair)
    shapes = float(np.mean(list(per_column.values())))
    trends = float(np.mean([per_pair[k] for k in counted])) if counted else float("nan")
    overall = shapes if not counted else (shapes + trends) / 2.0
    return QualityScore(shapes, trends, overall, dict(per_column), per_pair, tuple(counted))
