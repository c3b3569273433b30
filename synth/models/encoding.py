"""Reversible data encoding for the generators: one column transformer per kind of column.

A table (pandas) is encoded into one float matrix made of *spans*; each span has an activation
the networks apply to it (:class:`Span`): ``tanh`` for scaled scalars, ``softmax`` for one-hot
groups (Gumbel-softmax in the GAN). ``reverse_transform`` maps a matrix back to the table.

Column kinds (:data:`ENCODERS`, a registry keyed by :attr:`ColumnSpec.kind`):

* ``continuous``: mode-specific normalisation with point masses. Values that alone hold at
  least 1% of the column (zero rates and spends, a rate of exactly 1, a popular price: up to
  ``max_atoms`` of them) are *atoms*, reproduced exactly; a 1-D variational Gaussian mixture
  (Dirichlet weight prior, so unneeded modes get ~0 weight and are pruned) is fitted on a
  bounded, seeded sample of the other values (of their logarithms when they are positive and
  span more than three decades, e.g. durations from seconds to weeks). A value becomes
  (one-hot over modes and atoms, its offset from its mode's mean in units of 4 standard
  deviations; 0 for an atom). The reverse clips to the range seen at fit time (a rate never
  comes back negative).
* ``count``: non-negative integers, zero-inflated and heavy-tailed. A zero indicator (one-hot of
  two) plus ``log1p`` of the value, standardised over the non-zero values; the reverse rounds, so
  integers come back exactly and the zero mass is its own span.
* ``categorical``: one-hot of the ``max_categories`` most frequent values (ties by value), all
  others in an explicit ``__other__`` bucket, so the width is bounded whatever the cardinality.
  The fit records the bucket's :data:`TAIL_CAP` most frequent values and their counts; a seeded
  reverse (sampling) draws ``__other__`` rows from them by frequency, so the long tail keeps its
  shape, and an unseeded reverse (a plain decode) gives the most frequent of them.
* ``shares``: a map of shares (category affinity) as a vector over the ``max_categories`` most
  common keys plus ``__other__``, one softmax span; the reverse keeps the non-zero shares.
* ``timestamp``: epoch seconds, then as ``continuous``.

Any column with nulls at fit time gets a null indicator span (one-hot of two) first; null cells
are encoded as the column's fill value and come back as null. All state is plain JSON
(:meth:`TableEncoder.to_json`): no pickles.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy.special import digamma

from synth.errors import InvalidDataError, NotFittedError

Activation = Literal["tanh", "softmax"]
ColumnKind = Literal["continuous", "count", "categorical", "shares", "timestamp"]
Rng = np.random.Generator | None
OTHER = "__other__"
ATOM_SHARE = 0.01  # a value holding this share of a column is a point mass
ATOM_MIN_COUNT = 3
LOG_RANGE = 1_000.0  # positive values whose 90th / 10th percentile exceeds this: modes in logs
TAIL_CAP = 1_000  # values of a categorical's __other__ bucket kept for sampling
SHARE_EPSILON = 1e-9  # decoded shares at or below this are dropped (a map keeps real keys only)
ENCODING_VERSION = 2


@dataclass(frozen=True)
class Span:
    """A block of the encoded matrix: ``dim`` columns with one activation.

    A ``softmax`` span is ``discrete`` (one-hot: a category, a mode, a null flag; sampled as one
    category) unless it holds a share vector (kept as probabilities).
    """

    dim: int
    activation: Activation
    discrete: bool = True


@dataclass(frozen=True)
class ColumnSpec:
    """How to encode one column.

    Attributes:
        name: The column.
        kind: One of :data:`ENCODERS`.
        max_categories: For ``categorical`` and ``shares``: one-hot width cap (plus ``__other__``).
        max_modes: For ``continuous`` and ``timestamp``: most mixture modes.
        max_atoms: For ``continuous`` and ``timestamp``: most point masses (values holding at
            least :data:`ATOM_SHARE` of the column) reproduced exactly; 0 turns them off.
    """

    name: str
    kind: ColumnKind
    max_categories: int = 50
    max_modes: int = 10
    max_atoms: int = 10


# -- numerics ----------------------------------------------------------------------------------
def fit_vgm(
    values: np.ndarray, *, max_modes: int, seed: int, iterations: int = 200, prune: float = 0.005
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit a 1-D variational Gaussian mixture; return ``(weights, means, stds)`` of kept modes.

    Variational Bayes for a Gaussian mixture (Bishop, PRML 10.2) with a small Dirichlet
    concentration (``1e-3``), so modes the data do not need shrink to ~0 weight and are pruned
    (weight below ``prune``). Deterministic for a given ``seed`` (used for the initial
    assignment only).
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    spread = float(x.std()) or 1.0
    k = int(max(1, min(max_modes, n)))
    rng = np.random.default_rng(seed)
    # init: quantile-spaced centres, hard assignment to the nearest (ties broken by a seeded jitter)
    centres = np.quantile(x, (np.arange(k) + 0.5) / k) + rng.normal(0, 1e-6 * spread, k)
    resp = np.zeros((n, k))
    resp[np.arange(n), np.abs(x[:, None] - centres[None, :]).argmin(axis=1)] = 1.0
    alpha0, beta0, m0 = 1e-3, 1e-3, float(x.mean())
    nu0, w0 = 1.0, 1.0 / (spread * spread)
    for _ in range(iterations):
        nk = resp.sum(axis=0) + 1e-10
        xbar = resp.T @ x / nk
        sk = (resp * (x[:, None] - xbar[None, :]) ** 2).sum(axis=0) / nk
        alpha, beta = alpha0 + nk, beta0 + nk
        m = (beta0 * m0 + nk * xbar) / beta
        w = 1.0 / (1.0 / w0 + nk * sk + beta0 * nk / (beta0 + nk) * (xbar - m0) ** 2)
        nu = nu0 + nk
        e_ln_pi = digamma(alpha) - digamma(np.array([alpha.sum()]))[0]
        e_ln_lambda = digamma(nu / 2.0) + math.log(2.0) + np.log(w)
        quad = 1.0 / beta[None, :] + nu[None, :] * w[None, :] * (x[:, None] - m[None, :]) ** 2
        log_rho = e_ln_pi[None, :] + 0.5 * e_ln_lambda[None, :] - 0.5 * quad
        log_rho -= log_rho.max(axis=1, keepdims=True)
        new = np.exp(log_rho)
        new /= new.sum(axis=1, keepdims=True)
        if np.abs(new - resp).max() < 1e-6:
            resp = new
            break
        resp = new
    weights = alpha / alpha.sum()
    stds = np.sqrt(1.0 / (nu * w))
    keep = weights > prune
    if not keep.any():
        keep[weights.argmax()] = True
    order = np.argsort(m[keep], kind="stable")
    kept_w = weights[keep][order]
    return kept_w / kept_w.sum(), m[keep][order], np.maximum(stds[keep][order], 1e-6 * spread)


# -- column encoders -------------------------------------------------------------------------------
class ColumnEncoder(ABC):
    """Fit / transform / reverse one column (non-null values only; nulls are handled outside)."""

    kind: ClassVar[str]

    def __init__(self, spec: ColumnSpec) -> None:
        self.spec = spec

    @abstractmethod
    def fit(self, values: pd.Series, seed: int) -> None:
        """Learn the encoding from the column's non-null values."""

    @abstractmethod
    def spans(self) -> list[Span]:
        """The encoded blocks, in order."""

    @abstractmethod
    def transform(self, values: pd.Series) -> np.ndarray:
        """Encode non-null values: ``(len(values), sum of span dims)``."""

    @abstractmethod
    def reverse(self, block: np.ndarray, rng: Rng = None) -> pd.Series:
        """Decode a block back to values (any real numbers in, valid values out).

        ``rng``, when given, draws what the block leaves open (a value of an ``__other__``
        bucket); without it the decode is a pure function of the block.
        """

    @abstractmethod
    def fill_value(self) -> object:
        """A value that stands in for nulls when encoding (the null indicator says which)."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """The fitted state as plain JSON data."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`."""


def _one_hot(index: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((index.size, width), dtype=np.float64)
    out[np.arange(index.size), index] = 1.0
    return out


class ContinuousEncoder(ColumnEncoder):
    """Mode-specific normalisation with point masses (atoms) and a variational Gaussian mixture."""

    kind = "continuous"
    SAMPLE = 20_000  # values the mixture is fitted on (seeded sample); enough for 1-D modes

    def fit(self, values: pd.Series, seed: int) -> None:  # noqa: D102
        x = self._numbers(values)
        uniques, counts = np.unique(x, return_counts=True)
        order = np.lexsort((uniques, -counts))[: self.spec.max_atoms]
        heavy = order[(counts[order] >= max(ATOM_SHARE * x.size, ATOM_MIN_COUNT))]
        self.atoms = sorted(float(v) for v in uniques[heavy])
        rest = x[~np.isin(x, self.atoms)]
        if rest.size > self.SAMPLE:
            rest = np.random.default_rng(seed).choice(rest, self.SAMPLE, replace=False)
        self.log = self._wide(rest)
        # in log mode, values at or below the smallest fitted one (e.g. a synthetic -0.1 where the
        # real column has atoms at 0 and positive values) are encoded as that smallest value
        self.log_floor = float(rest.min()) if self.log else 0.0
        if self.log:
            rest = np.log(rest)
        if rest.size:
            w, m, s = fit_vgm(rest, max_modes=self.spec.max_modes, seed=seed)
            self.weights, self.means, self.stds = w.tolist(), m.tolist(), s.tolist()
        else:
            self.weights, self.means, self.stds = [], [], []
        self.median = float(np.median(x))
        self.low, self.high = float(x.min()), float(x.max())

    def _numbers(self, values: pd.Series) -> np.ndarray:
        return values.to_numpy(dtype=np.float64)

    def _wide(self, rest: np.ndarray) -> bool:
        """Whether the non-atom values are positive and span decades (then modes are in logs)."""
        if rest.size < 2 or rest.min() <= 0:
            return False
        low, high = np.quantile(rest, [0.1, 0.9])
        return bool(high / low > LOG_RANGE)

    def spans(self) -> list[Span]:  # noqa: D102
        return [Span(1, "tanh"), Span(len(self.means) + len(self.atoms), "softmax")]

    def transform(self, values: pd.Series) -> np.ndarray:  # noqa: D102
        x = self._numbers(values)
        width = len(self.means) + len(self.atoms)
        slot = np.full(x.size, -1, dtype=np.int64)
        scaled = np.zeros(x.size)
        for i, atom in enumerate(self.atoms):
            slot[x == atom] = len(self.means) + i
        free = slot < 0
        if free.any():
            if not self.means:  # every fitted value was an atom: the nearest atom stands in
                atoms = np.array(self.atoms)
                slot[free] = np.abs(x[free, None] - atoms[None, :]).argmin(axis=1)
            else:
                m, s, w = np.array(self.means), np.array(self.stds), np.array(self.weights)
                xf = np.log(np.maximum(x[free], self.log_floor)) if self.log else x[free]
                log_p = np.log(w)[None, :] - np.log(s)[None, :] - 0.5 * ((xf[:, None] - m) / s) ** 2
                mode = log_p.argmax(axis=1)
                slot[free] = mode
                scaled[free] = (xf - m[mode]) / (4.0 * s[mode])
        return np.hstack([scaled[:, None], _one_hot(slot, width)])

    def reverse(self, block: np.ndarray, rng: Rng = None) -> pd.Series:  # noqa: D102
        slot = block[:, 1:].argmax(axis=1)
        n_modes = len(self.means)
        in_mode = slot < n_modes
        out = np.array([*self.means, *self.atoms])[slot]
        if n_modes:
            mode = np.minimum(slot, n_modes - 1)
            offset = np.array(self.means)[mode] + 4.0 * np.array(self.stds)[mode] * np.nan_to_num(
                block[:, 0]
            )
            if self.log:
                offset = np.exp(np.minimum(offset, 700.0))
            out = np.where(in_mode, np.clip(offset, self.low, self.high), out)
        return pd.Series(out, dtype="float64")

    def fill_value(self) -> object:  # noqa: D102
        return self.median

    def state(self) -> dict[str, Any]:  # noqa: D102
        return {
            "weights": self.weights,
            "means": self.means,
            "stds": self.stds,
            "atoms": self.atoms,
            "log": self.log,
            "log_floor": self.log_floor,
            "median": self.median,
            "low": self.low,
            "high": self.high,
        }

    def load_state(self, state: dict[str, Any]) -> None:  # noqa: D102
        self.weights, self.means, self.stds = state["weights"], state["means"], state["stds"]
        self.atoms = [float(a) for a in state["atoms"]]
        self.log = bool(state["log"])
        self.log_floor = float(state["log_floor"])
        self.median = float(state["median"])
        self.low, self.high = float(state["low"]), float(state["high"])


class TimestampEncoder(ContinuousEncoder):
    """Timestamps as epoch seconds, then mode-specific normalisation; UTC-naive out."""

    kind = "timestamp"

    def _numbers(self, values: pd.Series) -> np.ndarray:
        ts = pd.to_datetime(values, utc=True)
        return (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)

    def reverse(self, block: np.ndarray, rng: Rng = None) -> pd.Series:  # noqa: D102
        secs = super().reverse(block, rng).round()
        return pd.Series(pd.to_datetime(secs, unit="s"), name=None)

    def fill_value(self) -> object:  # noqa: D102
        return pd.Timestamp(self.median, unit="s")


class CountEncoder(ColumnEncoder):
    """Non-negative integers: a zero indicator plus standardised ``log1p`` of the value.

    A column that is 0 in every fitted row (a count of an event type the source never has, such
    as views in a purchase-only log) has no span at all and decodes to 0: a generator cannot
    get it wrong.
    """

    kind = "count"
    all_zero: bool = False

    def fit(self, values: pd.Series, seed: int) -> None:  # noqa: D102
        x = values.to_numpy(dtype=np.float64)
        if np.any(x < 0) or np.any(np.floor(x) != x):
            raise InvalidDataError(
                f"column {self.spec.name!r} is encoded as a count but holds negative or "
                "non-integer values; declare it `continuous`"
            )
        logs = np.log1p(x[x > 0])
        self.mean = float(logs.mean()) if logs.size else 0.0
        self.std = float(logs.std()) if logs.size > 1 and logs.std() > 0 else 1.0
        self.all_zero = bool(x.size) and not bool(np.any(x > 0))

    def spans(self) -> list[Span]:  # noqa: D102
        return [] if self.all_zero else [Span(2, "softmax"), Span(1, "tanh")]

    def transform(self, values: pd.Series) -> np.ndarray:  # noqa: D102
        x = values.to_numpy(dtype=np.float64)
        if self.all_zero:
            return np.zeros((len(x), 0))
        zero = (x == 0).astype(np.int64)
        scaled = np.where(x > 0, (np.log1p(np.maximum(x, 0)) - self.mean) / (4.0 * self.std), 0.0)
        return np.hstack([_one_hot(zero, 2), scaled[:, None]])

    def reverse(self, block: np.ndarray, rng: Rng = None) -> pd.Series:  # noqa: D102
        if self.all_zero:
            return pd.Series(np.zeros(len(block), dtype=np.int64))
        is_zero = block[:, :2].argmax(axis=1) == 1
        # any real input decodes to a valid count: NaN as 0, log value capped below int64's range
        log_value = np.clip(self.mean + 4.0 * self.std * np.nan_to_num(block[:, 2]), 0.0, 43.0)
        value = np.rint(np.expm1(log_value))
        return pd.Series(np.where(is_zero, 0, np.maximum(value, 1)).astype(np.int64))

    def fill_value(self) -> object:  # noqa: D102
        return 0

    def state(self) -> dict[str, Any]:  # noqa: D102
        return {"mean": self.mean, "std": self.std, "all_zero": self.all_zero}

    def load_state(self, state: dict[str, Any]) -> None:  # noqa: D102
        self.mean, self.std = float(state["mean"]), float(state["std"])
        self.all_zero = bool(state.get("all_zero", False))


def _ranked(counts: pd.Series) -> list[str]:
    """Keys by descending count, ties by key (as strings, deterministic)."""
    items = sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0]))
    return [k for k, _ in items]


class CategoricalEncoder(ColumnEncoder):
    """One-hot of the most frequent values, the rest in an explicit ``__other__`` bucket."""

    kind = "categorical"

    def fit(self, values: pd.Series, seed: int) -> None:  # noqa: D102
        counts = values.astype(str).value_counts()
        ranked = _ranked(counts)
        self.categories = ranked[: self.spec.max_categories]
        rest = ranked[self.spec.max_categories :]
        self.other_value = rest[0] if rest else None
        self.tail = rest[:TAIL_CAP]
        self.tail_counts = [int(counts[v]) for v in self.tail]
        self.dtype = str(values.dtype)

    @property
    def _width(self) -> int:
        return len(self.categories) + (1 if self.other_value is not None else 0)

    def spans(self) -> list[Span]:  # noqa: D102
        return [Span(self._width, "softmax")]

    def transform(self, values: pd.Series) -> np.ndarray:  # noqa: D102
        index = {c: i for i, c in enumerate(self.categories)}
        other = len(self.categories)
        codes = np.array([index.get(str(v), other) for v in values], dtype=np.int64)
        if self.other_value is None and np.any(codes == other):
            unknown = sorted({str(v) for v in values if str(v) not in index})[:5]
            raise InvalidDataError(
                f"column {self.spec.name!r}: values not seen at fit time: {unknown}"
            )
        return _one_hot(codes, self._width)

    def reverse(self, block: np.ndarray, rng: Rng = None) -> pd.Series:  # noqa: D102
        labels = [*self.categories, *([self.other_value] if self.other_value is not None else [])]
        picked = np.array(labels, dtype=object)[block.argmax(axis=1)]
        other = block.argmax(axis=1) == len(self.categories)
        if rng is not None and self.tail and other.any():
            weights = np.array(self.tail_counts, dtype=np.float64)
            draw = rng.choice(len(self.tail), size=int(other.sum()), p=weights / weights.sum())
            picked[other] = np.array(self.tail, dtype=object)[draw]
        out = pd.Series(picked)
        if self.dtype.startswith(("int", "Int")):
            return out.astype(np.int64)
        return out

    def fill_value(self) -> object:  # noqa: D102
        return self.categories[0]

    def state(self) -> dict[str, Any]:  # noqa: D102
        return {
            "categories": self.categories,
            "other_value": self.other_value,
            "tail": self.tail,
            "tail_counts": self.tail_counts,
            "dtype": self.dtype,
        }

    def load_state(self, state: dict[str, Any]) -> None:  # noqa: D102
        self.categories = list(state["categories"])
        self.other_value = state["other_value"]
        self.tail = list(state["tail"])
        self.tail_counts = [int(c) for c in state["tail_counts"]]
        self.dtype = str(state["dtype"])


class SharesEncoder(ColumnEncoder):
    """A map of shares as a vector over the most common keys plus ``__other__`` (one softmax)."""

    kind = "shares"

    def fit(self, values: pd.Series, seed: int) -> None:  # noqa: D102
        counts: dict[str, int] = {}
        for mapping in values:
            for key in self._items(mapping):
                counts[key] = counts.get(key, 0) + 1
        self.keys = _ranked(pd.Series(counts, dtype="int64"))[: self.spec.max_categories]

    @staticmethod
    def _items(mapping: object) -> dict[str, float]:
        if isinstance(mapping, dict):
            return {str(k): float(v) for k, v in mapping.items()}
        pairs = mapping if isinstance(mapping, (list, tuple, np.ndarray)) else []
        return {str(k): float(v) for k, v in pairs}  # Arrow maps arrive as (key, value) pairs

    def spans(self) -> list[Span]:  # noqa: D102
        return [Span(len(self.keys) + 1, "softmax", discrete=False)]

    def transform(self, values: pd.Series) -> np.ndarray:  # noqa: D102
        index = {k: i for i, k in enumerate(self.keys)}
        out = np.zeros((len(values), len(self.keys) + 1))
        for row, mapping in enumerate(values):
            for key, share in self._items(mapping).items():
                out[row, index.get(key, len(self.keys))] += share
        return out

    @property
    def labels(self) -> list[str]:
        """The keys of the dense form's columns: the fitted keys, then ``__other__``."""
        return [*self.keys, OTHER]

    def reverse_dense(self, block: np.ndarray) -> np.ndarray:
        """Decode to a dense share matrix over :attr:`labels` (rows sum to 1, or all 0)."""
        clipped = np.clip(block, 0.0, None)
        totals = clipped.sum(axis=1, keepdims=True)
        shares = np.divide(clipped, totals, out=np.zeros_like(clipped), where=totals > 0)
        shares[shares <= SHARE_EPSILON] = 0.0
        return shares

    def reverse(self, block: np.ndarray, rng: Rng = None) -> pd.Series:  # noqa: D102
        shares = self.reverse_dense(block)
        rows, cols = np.nonzero(shares)  # row-major: each row's entries are contiguous
        keys = np.array(self.labels, dtype=object)[cols].tolist()
        values = shares[rows, cols].tolist()
        bounds = np.searchsorted(rows, np.arange(len(shares) + 1)).tolist()
        maps = [
            dict(zip(keys[a:b], values[a:b], strict=True))
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        return pd.Series(maps, dtype=object)

    def fill_value(self) -> object:  # noqa: D102
        return {}

    def state(self) -> dict[str, Any]:  # noqa: D102
        return {"keys": self.keys}

    def load_state(self, state: dict[str, Any]) -> None:  # noqa: D102
        self.keys = list(state["keys"])


ENCODERS: dict[str, Callable[[ColumnSpec], ColumnEncoder]] = {
    cls.kind: cls
    for cls in (
        ContinuousEncoder,
        TimestampEncoder,
        CountEncoder,
        CategoricalEncoder,
        SharesEncoder,
    )
}


# -- the table encoder -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DenseShares:
    """A decoded share column in dense form: ``values[:, j]`` is the share of ``labels[j]``.

    Rows flagged in ``nulls`` are null maps (their values are meaningless).
    """

    labels: list[str]
    values: np.ndarray
    nulls: np.ndarray

    def take(self, index: np.ndarray) -> DenseShares:
        """The rows at ``index`` (a boolean mask or integer positions)."""
        return DenseShares(self.labels, self.values[index], self.nulls[index])

    @staticmethod
    def concat(parts: Sequence[DenseShares]) -> DenseShares:
        """Stack row blocks of the same column."""
        return DenseShares(
            parts[0].labels,
            np.vstack([p.values for p in parts]),
            np.concatenate([p.nulls for p in parts]),
        )


@dataclass
class _Column:
    spec: ColumnSpec
    encoder: ColumnEncoder
    has_nulls: bool
    spans: list[Span] = field(default_factory=list)


class TableEncoder:
    """Encode a pandas table into spans and back (see the module docstring)."""

    def __init__(self, specs: Sequence[ColumnSpec]) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate column specs: {names}")
        unknown = sorted({s.kind for s in specs} - set(ENCODERS))
        if unknown:
            raise ValueError(f"unknown column kinds {unknown}; known: {sorted(ENCODERS)}")
        self.specs = list(specs)
        self._columns: list[_Column] | None = None

    @property
    def columns(self) -> list[_Column]:
        """The fitted columns (raises :class:`NotFittedError` before :meth:`fit`)."""
        if self._columns is None:
            raise NotFittedError("the TableEncoder is not fitted: call fit(table) first")
        return self._columns

    def fit(self, table: pd.DataFrame, *, seed: int = 0) -> TableEncoder:
        """Learn every column's encoding; raises on an empty table or an all-null column."""
        missing = [s.name for s in self.specs if s.name not in table.columns]
        if missing:
            raise InvalidDataError(
                f"columns {missing} are not in the table (it has {list(table.columns)})"
            )
        if len(table) == 0:
            raise InvalidDataError("cannot fit an encoder on an empty table")
        columns = []
        for i, spec in enumerate(self.specs):
            values = table[spec.name]
            nulls = values.isna()
            if nulls.all():
                raise InvalidDataError(f"column {spec.name!r} is entirely null: drop it")
            encoder = ENCODERS[spec.kind](spec)
            encoder.fit(values[~nulls].reset_index(drop=True), seed + i)
            col = _Column(spec, encoder, bool(nulls.any()))
            col.spans = ([Span(2, "softmax")] if col.has_nulls else []) + encoder.spans()
            columns.append(col)
        self._columns = columns
        return self

    @property
    def spans(self) -> list[Span]:
        """Every span of the encoded matrix, in order."""
        return [span for col in self.columns for span in col.spans]

    @property
    def width(self) -> int:
        """Columns of the encoded matrix."""
        return sum(span.dim for span in self.spans)

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """Encode ``table`` into a float32 matrix of :attr:`width` columns.

        Raises:
            InvalidDataError: A column has nulls it had none of at fit time, or a categorical
                column without an ``__other__`` bucket has a value not seen at fit time.
        """
        return self._encode(table, lenient=False)[0]

    def transform_lenient(self, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Encode rows the fit did not see (e.g. with an encoder fitted on a sample).

        A null in a column that had none at fit time, and a categorical value outside the
        fitted categories of a column without an ``__other__`` bucket, are encoded as the
        column's fill value (its most frequent category, its median). Returns the matrix and,
        per row, how many cells were replaced so, for the caller to count and report.
        """
        return self._encode(table, lenient=True)

    def _encode(self, table: pd.DataFrame, *, lenient: bool) -> tuple[np.ndarray, np.ndarray]:
        blocks = []
        replaced = np.zeros(len(table), dtype=np.int64)
        for col in self.columns:
            values = table[col.spec.name].reset_index(drop=True)
            nulls = values.isna().to_numpy()
            fill = nulls.copy()
            if nulls.any() and not col.has_nulls:
                if not lenient:
                    raise InvalidDataError(
                        f"column {col.spec.name!r} has nulls, but had none when the encoder was "
                        "fitted"
                    )
                replaced += nulls
            unseen = self._unseen(col, values) & ~nulls
            if unseen.any():
                if not lenient:
                    shown = sorted({str(v) for v in values[unseen]})[:5]
                    raise InvalidDataError(
                        f"column {col.spec.name!r}: values not seen at fit time: {shown}"
                    )
                replaced += unseen
                fill |= unseen
            filled = values
            if fill.any():
                filler = col.encoder.fill_value()
                filled = pd.Series([filler if f else v for v, f in zip(values, fill, strict=True)])
            if col.has_nulls:
                blocks.append(_one_hot(nulls.astype(np.int64), 2))
            blocks.append(col.encoder.transform(filled))
        return np.hstack(blocks).astype(np.float32), replaced

    @staticmethod
    def _unseen(col: _Column, values: pd.Series) -> np.ndarray:
        """Categorical cells outside the fitted categories of a column with no other bucket."""
        encoder = col.encoder
        if not isinstance(encoder, CategoricalEncoder) or encoder.other_value is not None:
            return np.zeros(len(values), dtype=bool)
        known = set(encoder.categories)
        return np.array([v is not None and str(v) not in known for v in values], dtype=bool)

    def reverse_transform(self, matrix: np.ndarray, *, seed: int | None = None) -> pd.DataFrame:
        """Decode a matrix (e.g. generator output) back into a table.

        With ``seed``, what the matrix leaves open (which long-tail value an ``__other__`` row
        is) is drawn from the fitted frequencies, reproducibly; without it the decode is a pure
        function of the matrix.
        """
        columns = self.reverse_columns(matrix, seed=seed)
        out: dict[str, pd.Series] = {}
        for col in self.columns:
            decoded = columns[col.spec.name]
            if isinstance(decoded, DenseShares):
                assert isinstance(col.encoder, SharesEncoder)
                values = col.encoder.reverse(decoded.values)  # already a share matrix: idempotent
                if decoded.nulls.any():
                    values = values.astype(object)
                    values[decoded.nulls] = None
                decoded = values
            out[col.spec.name] = decoded
        return pd.DataFrame(out)

    def reverse_columns(
        self, matrix: np.ndarray, *, seed: int | None = None
    ) -> dict[str, pd.Series | DenseShares]:
        """Decode column by column; share columns stay dense (:class:`DenseShares`).

        The columnar form of :meth:`reverse_transform` (same values, same draws): for writers
        that build Arrow maps from the dense matrix instead of one dict per row.
        """
        if matrix.ndim != 2 or matrix.shape[1] != self.width:
            raise ValueError(f"expected a matrix of {self.width} columns, got {matrix.shape}")
        out: dict[str, pd.Series | DenseShares] = {}
        start = 0
        for i, col in enumerate(self.columns):
            rng = None if seed is None else np.random.default_rng([seed, i])
            width = sum(s.dim for s in col.spans)
            block = matrix[:, start : start + width].astype(np.float64)
            start += width
            nulls = np.zeros(len(matrix), dtype=bool)
            if col.has_nulls:
                nulls = block[:, :2].argmax(axis=1) == 1
                block = block[:, 2:]
            if isinstance(col.encoder, SharesEncoder):
                out[col.spec.name] = DenseShares(
                    col.encoder.labels, col.encoder.reverse_dense(block), nulls
                )
                continue
            values = col.encoder.reverse(block, rng)
            if nulls.any():
                values = values.astype(object)
                values[nulls] = None
            out[col.spec.name] = values
        return out

    def to_json(self) -> str:
        """The fitted encoder as JSON (no pickles)."""
        return json.dumps(
            {
                "encoding_version": ENCODING_VERSION,
                "columns": [
                    {"spec": asdict(c.spec), "has_nulls": c.has_nulls, "state": c.encoder.state()}
                    for c in self.columns
                ],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> TableEncoder:
        """Restore :meth:`to_json`; a file from another encoding version is refused."""
        data = json.loads(text)
        version = data.get("encoding_version")
        if version != ENCODING_VERSION:
            raise InvalidDataError(
                f"encoder state has encoding_version {version!r}; this synth reads "
                f"{ENCODING_VERSION}: refit the model with this version"
            )
        specs = [ColumnSpec(**c["spec"]) for c in data["columns"]]
        encoder = cls(specs)
        columns = []
        for spec, c in zip(specs, data["columns"], strict=True):
            col_encoder = ENCODERS[spec.kind](spec)
            col_encoder.load_state(c["state"])
            col = _Column(spec, col_encoder, bool(c["has_nulls"]))
            col.spans = ([Span(2, "softmax")] if col.has_nulls else []) + col_encoder.spans()
            columns.append(col)
        encoder._columns = columns
        return encoder
