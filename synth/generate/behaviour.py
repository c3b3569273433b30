"""Behaviour events for user profiles: silver-shaped rows for synthetic or sparse real users.

:func:`generate_events` turns a batch of user profiles (gold ``user_profiles`` columns) into
events in the silver schema, on the items of a :class:`Catalog` built from gold
``item_profiles``. It is pure numpy/pandas and vectorized over events; it is meant to run inside
Spark's ``mapInPandas`` and triggers no Spark job.

Determinism: every random draw is :func:`~synth.stats.hashing.hash_uniform` of (seed, purpose,
user id, event or session index[, candidate]), a counter-based splitmix64 hash, and every
per-user computation (share normalisation, cumulative sums) reads only that user's values. A
user therefore gets exactly the same events whatever batch it lands in, with whichever other
users, in any row order.

Generation rules (the behaviour contract):

- **Counts.** A user gets exactly ``n_view`` views, ``n_cart`` add-to-carts, ``n_remove_from_cart``
  removals, ``n_purchase`` purchases, ``n_favorite`` favourites and ``n_other`` events of the
  declared extra types (the caller decides them); a user with no events yields no rows. Within
  a user, events are indexed in that order. An ``n_other`` event's type is drawn among
  ``BehaviourParams.other_types`` by weight.
- **Viewed items.** A view draws a top-level category from the user's ``category_shares``
  (inverse CDF on the user's own cumulative shares). The key ``__other__``, a category the
  catalog lacks, and a missing or empty map (or shares that are all missing, non-positive or
  non-finite) mean "any category": the whole catalog. Within the category, an item is drawn by
  popularity (``n_events + 1``). With probability ``brand_affinity`` the draw is restricted to
  the items of the user's brand (first of ``top_brands``; ``'unknown'`` is no brand) in that
  category, when there are some; otherwise the category's items are used. ``price_candidates``
  items are drawn that way and the one whose log ``rel_price`` is closest to the log of the
  user's ``view_price_rel_category`` wins (the first candidate when the user has no price
  preference, or with one candidate).
- **Funnel items.** An add-to-cart, a favourite and an extra-type event are on an item the user
  viewed (uniform among their views).
  A removal or a purchase is on an item the user carted (uniform among their carts), or viewed
  when they have no carts. With no views (and, for removals and purchases, no carts) an event
  draws a fresh item as a view does.
- **Sessions.** ``n_sessions`` is clipped to [1, events]. Event ``i`` of ``m`` goes to session
  ``floor(i * n_sessions / m)``. Session 0 starts at ``first_seen`` and the last session at
  ``last_seen`` (``last_seen`` earlier than ``first_seen`` counts as ``first_seen``), so the
  first event is at ``first_seen`` and the last session opens at ``last_seen``. The others
  start at a uniform time in between (whole seconds from ``first_seen``), whose hour of day is
  then replaced by a draw from ``hour_shares`` (uniform when missing), keeping the day and the
  minutes and seconds. When that puts the start outside [first_seen, last_seen] it moves one
  day later (or earlier); when the hour fits on neither day (windows of under a day) the start
  keeps its uniform time. So starts never leave the window. The two anchored starts keep their
  own hours: redrawing them inside the window could only move them later (earlier), skewing the
  hours towards the middle of the day. The starts are sorted and given to sessions 0, 1, ... in
  order. A session's events follow its start with exponential gaps of mean ``mean_gap_s``,
  rounded up to whole seconds (with a positive mean, the events of a session strictly increase
  in time; sessions may overlap).
- **Session ids** are ``synth-{user_id}-{k}``: real sessions are UUIDs, so they never collide.
- **Rows** have the silver columns in ``SILVER_SCHEMA`` order: the item's category id, code,
  brand and (median) price, ``price_rel_category_median`` = the item's ``rel_price``,
  ``price_log_z_category`` = its ``log_z`` (all three null, and ``price_missing``
  ``never_priced``, for an item never priced), quantity 1, ``price_imputed`` and
  ``session_rebuilt`` false,
  ``split`` ``train``, and the lineage given. They are ordered by user id, event time and event
  index.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, fields
from functools import cached_property
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from synth.errors import ConfigError, InvalidDataError
from synth.schema import (
    BRAND,
    CATEGORY_CODE,
    CATEGORY_ID,
    COUNT_COLUMNS,
    EVENT_TIME,
    EVENT_TYPE,
    EVENT_TYPES,
    OTHER_EVENTS,
    PRICE,
    PRICE_IMPUTED,
    PRICE_LOG_Z_CATEGORY,
    PRICE_MISSING,
    PRICE_REL_CATEGORY,
    PRODUCT_ID,
    QUANTITY,
    SESSION_REBUILT,
    SILVER_SCHEMA,
    SOURCE,
    SOURCE_FILE,
    SPLIT,
    SPLIT_TRAIN,
    UNKNOWN_BRAND,
    UNKNOWN_CATEGORY_CODE,
    UNKNOWN_CATEGORY_ID,
    UNKNOWN_LEVEL,
    USER_ID,
    USER_SESSION,
    PriceMissing,
)
from synth.stats.hashing import hash_uniform

__all__ = [
    "BehaviourParams",
    "Catalog",
    "events_frame",
    "generate_events",
    "session_id_strings",
    "time_column",
]

# Purposes of the draws (never renumber: that changes every generated data set).
_P_CATEGORY, _P_BRAND, _P_ITEM, _P_CART_PICK, _P_FOLLOW_PICK = 1, 2, 3, 4, 5
_P_OTHER_TYPE = 11
_P_SESSION_START, _P_HOUR, _P_GAP = 6, 7, 8

# -- the catalog ----------------------------------------------------------------------------------
_ITEM_COLUMNS: tuple[str, ...] = (
    PRODUCT_ID,
    CATEGORY_ID,
    CATEGORY_CODE,
    "category_l1",
    BRAND,
    "price_median",
    "n_events",
)
_ANY_CATEGORY = "__other__"


@dataclass(frozen=True)
class _GroupSampler:
    """Popularity-weighted draws of an item within groups of items keyed by an int64 key."""

    keys: np.ndarray  # sorted unique group keys
    start: np.ndarray  # first entry of each group
    end: np.ndarray  # one past its last entry
    items: np.ndarray  # catalog positions, grouped by key, by product id within a group
    cum: np.ndarray  # cumulative popularity over the entries, 0 first (len(items) + 1)

    @classmethod
    def build(cls, key: np.ndarray, item: np.ndarray, popularity: np.ndarray) -> _GroupSampler:
        order = np.argsort(key, kind="stable")
        key, item = key[order], item[order]
        keys, start = np.unique(key, return_index=True)
        end = np.append(start[1:], len(key))
        cum = np.concatenate([[0.0], np.cumsum(popularity[item])])
        return cls(keys, start, end, item, cum)

    def sample(self, key: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Draw one item per (key, r); -1 where the group does not exist."""
        g = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        found = self.keys[g] == key
        s, e = self.start[g], self.end[g]
        base = self.cum[s]
        pos = np.searchsorted(self.cum, base + r * (self.cum[e] - base), side="right") - 1
        # The clip only guards rounding at a group's edges.
        pos = np.clip(pos, s, e - 1)
        return np.where(found, self.items[pos], -1)


@dataclass(frozen=True)
class _CatalogIndex:
    """Lookup structures derived from a catalog (built once per catalog)."""

    l1_names: pd.Index
    brand_names: pd.Index
    by_category: _GroupSampler  # key: l1 code, or n_l1 for "any category"
    by_brand: _GroupSampler  # key: l1 code * n_brands + brand code (l1 code n_l1: any)
    log_rel: np.ndarray  # log rel_price (NaN where not positive and finite)

    @property
    def any_category(self) -> int:
        return len(self.l1_names)


# eq=False: the fields are arrays (no meaningful ==, and hashing must not look at them).
@dataclass(frozen=True, eq=False)
class Catalog:
    """The real item catalog, as numpy arrays (one entry per item).

    Attributes:
        product_id: Product ids (int64), ascending.
        category_id: Category ids (int64).
        category_code: Category codes (object, str).
        category_l1: First level of the category code (object, str; ``'unknown'`` if none).
        brand: Brands (object, str; ``'unknown'`` when unknown).
        price: The item's median price (float64).
        popularity: Draw weight, ``n_events + 1`` (float64, > 0).
        rel_price: Price / median price of the items of its category id (float64).
        log_z: (log price - mean log price of its category id) / their sample standard deviation
            (0 when the standard deviation is 0 or undefined), as silver's
            ``price_log_z_category``.
    """

    product_id: np.ndarray
    category_id: np.ndarray
    category_code: np.ndarray
    category_l1: np.ndarray
    brand: np.ndarray
    price: np.ndarray
    popularity: np.ndarray
    rel_price: np.ndarray
    log_z: np.ndarray

    def __post_init__(self) -> None:
        sizes = {f.name: len(getattr(self, f.name)) for f in fields(self)}
        if len(set(sizes.values())) != 1:
            raise InvalidDataError(f"Catalog arrays must have one length; got {sizes}")
        if sizes[PRODUCT_ID] == 0:
            raise InvalidDataError("the item catalog is empty; events need at least one item")

    @classmethod
    def from_items(cls, items: pd.DataFrame) -> Catalog:
        """Build the catalog from gold item profiles.

        Args:
            items: A frame with the ``item_profiles`` columns product_id, category_id,
                category_code, category_l1, brand, price_median and n_events (others ignored),
                in any row order.

        Returns:
            The catalog, sorted by product id (so it does not depend on the row order).

        Raises:
            InvalidDataError: A column is missing, the catalog is empty, a product id is null or
                repeated, a price is not positive and finite, or n_events is null or negative.
        """
        missing = [c for c in _ITEM_COLUMNS if c not in items.columns]
        if missing:
            raise InvalidDataError(
                f"item profiles lack column(s) {missing}; pass the gold item_profiles table "
                "(synth.schema.ITEM_PROFILE_SCHEMA)"
            )
        if len(items) == 0:
            raise InvalidDataError("the item catalog is empty; events need at least one item")
        df = items.loc[:, list(_ITEM_COLUMNS)]
        for col in (PRODUCT_ID, "n_events"):
            if df[col].isna().any():
                raise InvalidDataError(f"item profiles: column {col} has nulls")
        df = df.sort_values(PRODUCT_ID, kind="stable").reset_index(drop=True)
        product_id = df[PRODUCT_ID].to_numpy(dtype=np.int64)
        repeated = product_id[1:][product_id[1:] == product_id[:-1]]
        if len(repeated):
            raise InvalidDataError(
                f"item profiles: column {PRODUCT_ID} repeats product {int(repeated[0])}; "
                "one row per product expected"
            )
        # null: the item was never priced (kept as NaN: its events get a null price)
        price = pd.to_numeric(df["price_median"], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isnan(price) & ~(np.isfinite(price) & (price > 0))
        if bad.any():
            raise InvalidDataError(
                f"item profiles: column price_median must be positive and finite, or null for "
                f"an item never priced; product {int(product_id[bad][0])} has {price[bad][0]}"
            )
        n_events = df["n_events"].to_numpy(dtype=np.int64)
        if (n_events < 0).any():
            raise InvalidDataError(
                f"item profiles: column n_events is negative for product "
                f"{int(product_id[n_events < 0][0])}"
            )
        category_id = df[CATEGORY_ID].fillna(UNKNOWN_CATEGORY_ID).to_numpy(dtype=np.int64)
        log_price = pd.Series(np.log(price))
        groups = log_price.groupby(category_id)
        std = groups.transform("std").to_numpy(dtype=np.float64)  # sample std, as silver
        z = (log_price.to_numpy() - groups.transform("mean").to_numpy(dtype=np.float64)) / np.where(
            std > 0, std, 1.0
        )
        median = pd.Series(price).groupby(category_id).transform("median").to_numpy(np.float64)
        return cls(
            product_id=product_id,
            category_id=category_id,
            category_code=_strings(df[CATEGORY_CODE], UNKNOWN_CATEGORY_CODE),
            category_l1=_strings(df["category_l1"], UNKNOWN_LEVEL),
            brand=_strings(df[BRAND], UNKNOWN_BRAND),
            price=price,
            popularity=n_events.astype(np.float64) + 1.0,
            rel_price=price / median,
            log_z=np.where(np.isnan(price), np.nan, np.where(np.isfinite(std) & (std > 0), z, 0.0)),
        )

    @cached_property
    def _index(self) -> _CatalogIndex:
        l1_names, l1_code = np.unique(self.category_l1.astype(str), return_inverse=True)
        brand_names, brand_code = np.unique(self.brand.astype(str), return_inverse=True)
        n, n_l1, n_brands = len(self.product_id), len(l1_names), len(brand_names)
        items = np.arange(n, dtype=np.int64)
        pairs = np.concatenate([items, items])
        l1_code = l1_code.astype(np.int64)
        brand_code = brand_code.astype(np.int64)
        category_key = np.concatenate([l1_code, np.full(n, n_l1, dtype=np.int64)])
        brand_key = np.concatenate([l1_code * n_brands, np.full(n, n_l1 * n_brands)]) + np.tile(
            brand_code, 2
        )
        ok = np.isfinite(self.rel_price) & (self.rel_price > 0)
        return _CatalogIndex(
            l1_names=pd.Index(l1_names, dtype=object),
            brand_names=pd.Index(brand_names, dtype=object),
            by_category=_GroupSampler.build(category_key, pairs, self.popularity),
            by_brand=_GroupSampler.build(brand_key, pairs, self.popularity),
            log_rel=np.log(np.where(ok, self.rel_price, 1.0)) + np.where(ok, 0.0, np.nan),
        )


def _strings(col: pd.Series, missing: str) -> np.ndarray:
    """A string column as an object array, with ``missing`` for nulls."""
    return col.astype(object).where(col.notna(), missing).astype(str).to_numpy(dtype=object)


# -- parameters -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class BehaviourParams:
    """How profiles turn into items and times.

    Attributes:
        brand_affinity: Probability that a freshly drawn item is drawn among the items of the
            user's top brand in the chosen category (when that brand has some there).
        price_candidates: Items drawn per fresh event; the one whose log ``rel_price`` is
            closest to the log of the user's ``view_price_rel_category`` wins (1: no price
            sensitivity).
        mean_gap_s: Mean seconds between consecutive events of a session (exponential).
        other_types: The job's declared extra event types with their weights (e.g. their share
            of the real extra-type events): an ``n_other`` event gets one of them, drawn by
            weight. Empty: profiles must have ``n_other`` = 0.
    """

    brand_affinity: float = 0.5
    price_candidates: int = 4
    mean_gap_s: float = 90.0
    other_types: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.brand_affinity <= 1.0:
            raise ConfigError(
                f"BehaviourParams.brand_affinity={self.brand_affinity}: must be in [0, 1]"
            )
        if self.price_candidates < 1:
            raise ConfigError(
                f"BehaviourParams.price_candidates={self.price_candidates}: must be at least 1"
            )
        if not (math.isfinite(self.mean_gap_s) and self.mean_gap_s >= 0):
            raise ConfigError(
                f"BehaviourParams.mean_gap_s={self.mean_gap_s}: must be finite and >= 0"
            )
        bad = [(t, w) for t, w in self.other_types if not (math.isfinite(w) and w >= 0)]
        if bad or (self.other_types and sum(w for _, w in self.other_types) <= 0):
            raise ConfigError(
                f"BehaviourParams.other_types={self.other_types}: weights must be >= 0 and "
                "not all 0"
            )


# -- profiles -------------------------------------------------------------------------------------
_COUNT_COLUMNS: tuple[str, ...] = COUNT_COLUMNS  # view, cart, removal, purchase, favorite, other
_OPTIONAL_COUNTS: tuple[str, ...] = ("n_favorite", "n_other")  # absent: 0 (older profile rows)
_PROFILE_COLUMNS: tuple[str, ...] = (
    USER_ID,
    *[c for c in _COUNT_COLUMNS if c not in _OPTIONAL_COUNTS],
    "n_sessions",
    "first_seen",
    "last_seen",
    "category_shares",
    "top_brands",
    "view_price_rel_category",
    "hour_shares",
)
_SHARE_SCALE = float(1 << 32)  # category shares become integer weights (exact cumulative sums)
_NS = 1_000_000_000
_HOUR_NS = 3_600 * _NS
_DAY_NS = 24 * _HOUR_NS
_EVENT_TYPE_NAMES = np.array([*EVENT_TYPES, OTHER_EVENTS], dtype=object)
_FAVORITE, _OTHER = len(EVENT_TYPES) - 1, len(EVENT_TYPES)  # etype codes (funnel order first)


def _missing(value: object) -> bool:
    """Whether a nested profile value is null (None, or pandas' float NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pairs(value: Any) -> Collection[Any]:  # noqa: ANN401
    """A category_shares value as a collection of (key, share) pairs."""
    if _missing(value):
        return ()
    if isinstance(value, dict):
        return value.items()
    return value  # type: ignore[no-any-return]


def _first(value: Any) -> object:  # noqa: ANN401
    """The first element of a list-like value, or None."""
    if _missing(value) or len(value) == 0:
        return None
    return value[0]


def _int_column(profiles: pd.DataFrame, col: str) -> np.ndarray:
    values = profiles[col]
    if values.isna().any():
        raise InvalidDataError(f"profiles: column {col} has nulls")
    return values.to_numpy(dtype=np.int64)


def time_column(profiles: pd.DataFrame, col: str) -> np.ndarray:
    """A timestamp column as int64 nanoseconds since the epoch, UTC."""
    values = pd.to_datetime(profiles[col])
    if values.dt.tz is not None:
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    if values.isna().any():
        raise InvalidDataError(f"profiles: column {col} has nulls")
    return values.to_numpy(dtype="datetime64[ns]").view(np.int64)


@dataclass(frozen=True)
class _Shares:
    """Every user's category shares as integer weights, grouped by user (CSR layout)."""

    start: np.ndarray  # first entry of each user
    end: np.ndarray  # one past its last entry
    code: np.ndarray  # category l1 code per entry (index.any_category: any)
    cum: np.ndarray  # cumulative integer weights, 0 first

    def sample(self, user: np.ndarray, r: np.ndarray) -> np.ndarray:
        base = self.cum[self.start[user]]
        total = self.cum[self.end[user]] - base
        target = base + np.minimum(np.floor(r * total).astype(np.int64), total - 1)
        return self.code[np.searchsorted(self.cum, target, side="right") - 1]


def _category_shares(raw: np.ndarray, index: _CatalogIndex) -> _Shares:
    """Parse category_shares (dicts or Arrow (key, value) lists) into integer weights.

    Parsing touches each user's Python object once (nested Arrow values arrive as Python
    objects); everything after is vectorized.
    """
    n = len(raw)
    pairs = [_pairs(v) for v in raw]
    lens = np.fromiter(map(len, pairs), dtype=np.int64, count=n)
    flat = list(chain.from_iterable(pairs))
    keys = np.empty(0, dtype=object)
    values = np.empty(0, dtype=np.float64)
    if flat:
        key_tuple, value_tuple = zip(*flat, strict=True)
        keys = np.empty(len(key_tuple), dtype=object)
        keys[:] = key_tuple
        values = np.array(value_tuple, dtype=np.float64)
    any_code = index.any_category
    code = index.l1_names.get_indexer(pd.Index(keys, dtype=object)).astype(np.int64)
    code[(code < 0) | (keys == _ANY_CATEGORY)] = any_code
    user = np.repeat(np.arange(n, dtype=np.int64), lens)
    valid = np.isfinite(values) & (values > 0)
    values = np.where(valid, values, 0.0)
    # bincount sums each user's shares in entry order: the result reads only that user's values.
    total = np.bincount(user, weights=values, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.floor(np.where(valid, values / total[user], 0.0) * _SHARE_SCALE)
    weight = weight.astype(np.int64)
    has_weight = np.bincount(user, weights=weight, minlength=n) > 0
    # One extra "any category" entry per user, weighted only when the user has no usable share.
    user = np.concatenate([user, np.arange(n, dtype=np.int64)])
    code = np.concatenate([code, np.full(n, any_code, dtype=np.int64)])
    weight = np.concatenate([weight, (~has_weight).astype(np.int64)])
    order = np.argsort(user, kind="stable")
    sizes = lens + 1
    end = np.cumsum(sizes)
    return _Shares(
        start=end - sizes,
        end=end,
        code=code[order],
        cum=np.concatenate([[0], np.cumsum(weight[order])]),
    )


def _hour_cumulative(raw: np.ndarray, user_id: np.ndarray) -> np.ndarray:
    """Per-user cumulative hour shares, shape (users, 25), 0 first and 1 last."""
    n = len(raw)
    shares = np.ones((n, 24), dtype=np.float64)
    present = np.fromiter((not _missing(v) for v in raw), dtype=bool, count=n)
    if present.any():
        rows = raw[present]
        lens = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
        if (lens != 24).any():
            bad = np.flatnonzero(present)[lens != 24][0]
            raise InvalidDataError(
                f"profiles: column hour_shares must hold 24 values (UTC hours 0-23); user "
                f"{int(user_id[bad])} has {int(lens[lens != 24][0])}"
            )
        # One C-level conversion, fast for both Arrow's arrays and Python lists (None: NaN).
        shares[present] = np.array(rows.tolist(), dtype=np.float64).reshape(-1, 24)
    shares = np.where(np.isfinite(shares) & (shares > 0), shares, 0.0)
    # cumsum is sequential along the row: each user's result reads only its own shares.
    cum = np.cumsum(shares, axis=1)
    total = cum[:, -1:]
    cum = np.where(total > 0, cum / np.where(total > 0, total, 1.0), np.arange(1, 25) / 24.0)
    cum[:, -1] = 1.0
    return np.concatenate([np.zeros((n, 1)), cum], axis=1)


# -- generation -----------------------------------------------------------------------------------
def _empty_events() -> pd.DataFrame:
    dtypes: dict[str, Any] = {
        EVENT_TIME: "datetime64[ns]",
        PRODUCT_ID: np.int64,
        CATEGORY_ID: np.int64,
        PRICE: np.float64,
        USER_ID: np.int64,
        QUANTITY: np.int64,
        PRICE_IMPUTED: bool,
        SESSION_REBUILT: bool,
        PRICE_REL_CATEGORY: np.float64,
        PRICE_LOG_Z_CATEGORY: np.float64,
    }
    return pd.DataFrame(
        {c: pd.Series(np.empty(0, dtype=dtypes.get(c, object))) for c in SILVER_SCHEMA.names}
    )


def _draw_items(
    seed: int,
    uid: np.ndarray,
    j: np.ndarray,
    user: np.ndarray,
    shares: _Shares,
    brand_code: np.ndarray,
    log_rel_target: np.ndarray,
    index: _CatalogIndex,
    params: BehaviourParams,
) -> np.ndarray:
    """Fresh items (catalog positions) for events (uid, j) of batch users ``user``."""
    category = shares.sample(user, hash_uniform(seed, _P_CATEGORY, uid, j))
    k = params.price_candidates
    candidate = np.arange(k, dtype=np.int64)[None, :]
    r = hash_uniform(seed, _P_ITEM, uid[:, None], j[:, None], candidate)
    candidates = np.full((len(uid), k), -1, dtype=np.int64)
    brand = brand_code[user]
    on_brand = (brand >= 0) & (hash_uniform(seed, _P_BRAND, uid, j) < params.brand_affinity)
    if on_brand.any():
        key = category[on_brand] * len(index.brand_names) + brand[on_brand]
        candidates[on_brand] = index.by_brand.sample(
            np.repeat(key, k), r[on_brand].ravel()
        ).reshape(-1, k)
    # Events without a brand draw, or whose brand has no item in the category.
    rest = candidates[:, 0] < 0
    candidates[rest] = index.by_category.sample(
        np.repeat(category[rest], k), r[rest].ravel()
    ).reshape(-1, k)
    if k == 1:
        return candidates[:, 0]
    distance = np.abs(index.log_rel[candidates] - log_rel_target[user][:, None])
    # NaN (no preference, or an item without a usable rel_price) never wins; all NaN: the first.
    best = np.argmin(np.where(np.isnan(distance), np.inf, distance), axis=1)
    return candidates[np.arange(len(uid)), best]


def _pick(seed: int, purpose: int, uid: np.ndarray, j: np.ndarray, n: np.ndarray) -> np.ndarray:
    """A uniform index in [0, n) per event."""
    return np.minimum(np.floor(hash_uniform(seed, purpose, uid, j) * n).astype(np.int64), n - 1)


def _session_starts(
    seed: int,
    uid: np.ndarray,
    n_sessions: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    hour_cum: np.ndarray,
) -> np.ndarray:
    """Sorted session start times (int64 ns), grouped by user (sessions of user 0 first)."""
    total = int(n_sessions.sum())
    s_end = np.cumsum(n_sessions)
    user = np.repeat(np.arange(len(uid), dtype=np.int64), n_sessions)
    k = np.arange(total, dtype=np.int64) - (s_end - n_sessions)[user]
    s = n_sessions[user]
    t0, span = first[user], (last - first)[user]
    frac = hash_uniform(seed, _P_SESSION_START, uid[user], k)
    offset = np.minimum((np.floor(frac * span) // _NS * _NS).astype(np.int64), span)
    offset = np.where(k == 0, 0, np.where((k == s - 1) & (s > 1), span, offset))
    start = t0 + offset
    # Middle sessions: the hour of day from hour_shares, a day later or earlier when that
    # leaves the window; the uniform time stays when the hour fits on neither day.
    middle = np.flatnonzero((k > 0) & (k < s - 1))
    r = hash_uniform(seed, _P_HOUR, uid[user[middle]], k[middle])
    hour = np.minimum((hour_cum[user[middle], 1:] <= r[:, None]).sum(axis=1), 23)
    old = start[middle]
    day = old // _DAY_NS * _DAY_NS
    moved = day + hour * _HOUR_NS + (old - day) % _HOUR_NS
    lo, hi = t0[middle], (t0 + span)[middle]
    moved = np.where(moved < lo, moved + _DAY_NS, np.where(moved > hi, moved - _DAY_NS, moved))
    start[middle] = np.where((moved >= lo) & (moved <= hi), moved, old)
    return start[np.lexsort((start, user))]


def generate_events(
    profiles: pd.DataFrame,
    catalog: Catalog,
    params: BehaviourParams,
    *,
    seed: int,
    source: str,
    source_file: str,
) -> pd.DataFrame:
    """Generate the behaviour events of a batch of user profiles (see the module's rules).

    Pure pandas/numpy; no Spark job. Deterministic per user: a user's rows depend only on
    ``seed``, its own profile, the catalog and ``params``, never on the other rows of the batch
    or their order, so the function can run in ``mapInPandas`` over any partitioning.

    Args:
        profiles: One row per user with the gold user-profile columns user_id, n_view, n_cart,
            n_remove_from_cart, n_purchase, n_favorite and n_other (events to generate; the
            last two count 0 when absent), n_sessions, first_seen,
            last_seen (tz-naive UTC), category_shares (dict or Arrow list of (key, share)
            pairs, or null), top_brands (list or null), view_price_rel_category (float or null)
            and hour_shares (24 floats or null). Other columns are ignored.
        catalog: The items to draw from.
        params: Brand affinity, price sensitivity and session pace.
        seed: The seed of every draw (derive it with :func:`synth.seeding.derive_seed`).
        source: The ``_source`` lineage value of every row.
        source_file: The ``_source_file`` lineage value of every row.

    Returns:
        The events, with the columns of ``SILVER_SCHEMA`` in order (event_time datetime64[ns]
        tz-naive UTC, strings as objects), ordered by user id, event time and event index.
        Empty (with those columns) when no user has events.

    Raises:
        InvalidDataError: A profile column is missing; a user id, count, n_sessions or
            timestamp is null; a count is negative; a user id repeats; or hour_shares does not
            hold 24 values.
    """
    missing = [c for c in _PROFILE_COLUMNS if c not in profiles.columns]
    if missing:
        raise InvalidDataError(
            f"profiles lack column(s) {missing}; pass gold user_profiles rows "
            "(synth.schema.USER_PROFILE_SCHEMA) with the event counts to generate"
        )
    if len(profiles) == 0:
        return _empty_events()
    all_uid = _int_column(profiles, USER_ID)
    counts = np.stack(
        [
            _int_column(profiles, c)
            if c in profiles.columns or c not in _OPTIONAL_COUNTS
            else np.zeros(len(profiles), dtype=np.int64)
            for c in _COUNT_COLUMNS
        ],
        axis=1,
    )
    for i, col in enumerate(_COUNT_COLUMNS):
        negative = counts[:, i] < 0
        if negative.any():
            raise InvalidDataError(
                f"profiles: column {col} is negative ({int(counts[negative, i][0])}) for user "
                f"{int(all_uid[negative][0])}; event counts must be >= 0"
            )
    unique, seen = np.unique(all_uid, return_counts=True)
    if (seen > 1).any():
        raise InvalidDataError(
            f"profiles: column {USER_ID} repeats user {int(unique[seen > 1][0])}; "
            "one row per user expected"
        )
    m_all = counts.sum(axis=1)
    keep = m_all > 0
    if not keep.any():
        return _empty_events()
    kept = profiles.loc[keep]
    uid, counts, m = all_uid[keep], counts[keep], m_all[keep]
    n = len(uid)
    n_sessions = np.clip(_int_column(kept, "n_sessions"), 1, m)
    first = time_column(kept, "first_seen")
    last = np.maximum(time_column(kept, "last_seen"), first)
    index = catalog._index
    shares = _category_shares(kept["category_shares"].to_numpy(dtype=object), index)
    top_brand = [_first(v) for v in kept["top_brands"].to_numpy(dtype=object)]
    brand_code = index.brand_names.get_indexer(pd.Index(top_brand, dtype=object)).astype(np.int64)
    brand_code[np.array([b == UNKNOWN_BRAND for b in top_brand], dtype=bool)] = -1
    rel = pd.to_numeric(kept["view_price_rel_category"], errors="coerce").to_numpy(np.float64)
    ok = np.isfinite(rel) & (rel > 0)
    log_rel_target = np.where(ok, np.log(np.where(ok, rel, 1.0)), np.nan)
    hour_cum = _hour_cumulative(kept["hour_shares"].to_numpy(dtype=object), uid)

    # One row per event: user ``user`` (batch position), event index ``j`` within the user.
    total = int(m.sum())
    u_end = np.cumsum(m)
    u_start = u_end - m
    user = np.repeat(np.arange(n, dtype=np.int64), m)
    j = np.arange(total, dtype=np.int64) - u_start[user]
    uid_e = uid[user]
    n_view, n_cart = counts[user, 0], counts[user, 1]
    # event j of a user: its views first, then carts, removals, purchases, favourites, others
    bounds = np.cumsum(counts, axis=1)[user]
    etype = (j[:, None] >= bounds[:, :-1]).sum(axis=1).astype(np.int64)
    has_view, has_cart = n_view > 0, n_cart > 0
    item = np.full(total, -1, dtype=np.int64)
    # carts, favourites and other types pick a viewed item; removals / purchases a carted one
    from_views = (etype == 1) | (etype >= _FAVORITE)
    fresh = (etype == 0) | (~has_view & (from_views | ~has_cart))
    if fresh.any():
        item[fresh] = _draw_items(
            seed,
            uid_e[fresh],
            j[fresh],
            user[fresh],
            shares,
            brand_code,
            log_rel_target,
            index,
            params,
        )
    cart = from_views & has_view
    pick = _pick(seed, _P_CART_PICK, uid_e[cart], j[cart], n_view[cart])
    item[cart] = item[u_start[user[cart]] + pick]
    follow = (etype >= 2) & (etype < _FAVORITE) & (has_cart | has_view)
    pool_first = np.where(has_cart, n_view, 0)[follow]
    pool_size = np.where(has_cart, n_cart, n_view)[follow]
    pick = _pick(seed, _P_FOLLOW_PICK, uid_e[follow], j[follow], pool_size)
    item[follow] = item[u_start[user[follow]] + pool_first + pick]

    # Sessions and times.
    starts = _session_starts(seed, uid, n_sessions, first, last, hour_cum)
    s_start = np.cumsum(n_sessions) - n_sessions
    local = j * n_sessions[user] // m[user]
    session = s_start[user] + local
    draw = hash_uniform(seed, _P_GAP, uid_e, j)
    gap = np.ceil(-params.mean_gap_s * np.log1p(-draw)).astype(np.int64)
    opens = np.ones(total, dtype=bool)
    opens[1:] = session[1:] != session[:-1]
    gap[opens] = 0
    elapsed = np.cumsum(gap)
    elapsed -= elapsed[np.flatnonzero(opens)][session]
    time = starts[session] + elapsed * _NS

    session_user = np.repeat(uid, n_sessions)
    session_k = np.arange(len(session_user), dtype=np.int64) - np.repeat(s_start, n_sessions)
    session_ids = session_id_strings(session_user, session_k)

    names = _EVENT_TYPE_NAMES[etype]
    other = etype == _OTHER
    if other.any():
        if not params.other_types:
            bad = int(uid_e[other][0])
            raise InvalidDataError(
                f"profiles: user {bad} has n_other > 0 but no extra event types are declared "
                "(BehaviourParams.other_types; features.interactions.weights)"
            )
        types = np.array([t for t, _ in params.other_types], dtype=object)
        cum = np.cumsum([w for _, w in params.other_types], dtype=np.float64)
        r = hash_uniform(seed, _P_OTHER_TYPE, uid_e[other], j[other]) * cum[-1]
        names[other] = types[np.minimum(np.searchsorted(cum, r, side="right"), len(types) - 1)]
    order = np.lexsort((j, time, uid_e))
    return events_frame(
        catalog,
        item[order],
        uid_e[order],
        time[order],
        names[order],
        session_ids[session[order]],
        source=source,
        source_file=source_file,
    )


def session_id_strings(user_id: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``synth-{user_id}-{k}`` session ids (object array; real sessions never look like that)."""
    return np.char.add(
        np.char.add(np.char.add("synth-", user_id.astype(str)), "-"), k.astype(str)
    ).astype(object)


def events_frame(
    catalog: Catalog,
    item: np.ndarray,
    user_id: np.ndarray,
    time_ns: np.ndarray,
    event_type: np.ndarray,
    session: np.ndarray,
    *,
    source: str,
    source_file: str,
) -> pd.DataFrame:
    """Silver-schema rows for events given as catalog positions, users, times and types.

    The item's category, brand, price and price ratios come from the catalog (null price and
    ``never_priced`` for an item never priced); quantity 1, not imputed, not rebuilt, split
    ``train``, the lineage given. Rows keep the order given.
    """
    total = len(item)
    price = catalog.price[item]
    unpriced = np.full(total, None, dtype=object)
    unpriced[np.isnan(price)] = PriceMissing.NEVER_PRICED
    frame = {
        EVENT_TIME: np.asarray(time_ns, dtype=np.int64).view("datetime64[ns]"),
        EVENT_TYPE: event_type,
        PRODUCT_ID: catalog.product_id[item],
        CATEGORY_ID: catalog.category_id[item],
        CATEGORY_CODE: catalog.category_code[item],
        BRAND: catalog.brand[item],
        PRICE: price,
        USER_ID: user_id,
        USER_SESSION: session,
        QUANTITY: np.ones(total, dtype=np.int64),
        PRICE_IMPUTED: np.zeros(total, dtype=bool),
        PRICE_MISSING: unpriced,
        SESSION_REBUILT: np.zeros(total, dtype=bool),
        PRICE_REL_CATEGORY: catalog.rel_price[item],
        PRICE_LOG_Z_CATEGORY: catalog.log_z[item],
        SPLIT: np.full(total, SPLIT_TRAIN, dtype=object),
        SOURCE: np.full(total, source, dtype=object),
        SOURCE_FILE: np.full(total, source_file, dtype=object),
    }
    return pd.DataFrame({c: frame[c] for c in SILVER_SCHEMA.names})
