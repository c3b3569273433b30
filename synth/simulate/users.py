"""Simulated users: segments with category and price preferences, user and session ids.

A user is the integer ``u`` of ``spark.range(n_users)``; every attribute is a keyed draw on
``(seed, u)``, so users are identical whatever the partitioning. Each user belongs to one
*segment* that scales the traffic of some top-level groups (a "tech" user browses phones and
notebooks more), prefers a price level (the bargain hunter picks the cheaper of two candidate
products) and has its own purchase propensity. Per-segment category weights are fitted on the
driver (iterative proportional fitting) so that the traffic over all segments still matches the
category tree's shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column
from pyspark.sql import functions as F

from synth.seeding import derive_seed, hash_key
from synth.simulate.catalog import Category
from synth.simulate.tables import (
    choose_in,
    double_array,
    int_array,
    key_normal,
    key_uniform,
    lookup,
    quantize_weights,
    string_array,
)

USER_ID_BASE = 500_000_000
USER_ID_SPACE = 100_000_000  # user ids are a permutation of these many slots above the base
_USER_ID_PRIME = 1_000_003  # coprime with USER_ID_SPACE, so (u * p) mod space is a bijection
SEGMENT_RESOLUTION = 1_000
CATEGORY_RESOLUTION = 8_192


@dataclass(frozen=True)
class Segment:
    """A user segment.

    Attributes:
        name: Segment name.
        share: Share of (human) users.
        affinity: Traffic multiplier per top-level group (1 where absent).
        price_z: Preferred price position within a category, in standard deviations.
        buy_multiplier: Multiplier on the share of sessions with purchase intent.
    """

    name: str
    share: float
    affinity: Mapping[str, float] = field(default_factory=dict)
    price_z: float = 0.0
    buy_multiplier: float = 1.0


SEGMENTS: tuple[Segment, ...] = (
    Segment("casual", 0.30, {}, 0.0, 0.6),
    Segment("tech", 0.25, {"electronics": 2.2, "computers": 2.5}, 0.3, 1.0),
    Segment(
        "home",
        0.15,
        {"appliances": 2.5, "furniture": 2.5, "home": 2.5, "construction": 1.5},
        0.0,
        1.2,
    ),
    Segment(
        "style", 0.12, {"apparel": 3.0, "accessories": 2.5, "beauty": 3.0, "kids": 1.5}, 0.1, 1.1
    ),
    Segment(
        "outdoor",
        0.08,
        {"auto": 3.0, "sport": 3.0, "construction": 2.0, "country_yard": 3.0},
        0.0,
        1.2,
    ),
    Segment("bargain", 0.10, {}, -0.8, 1.4),
)


def fit_segment_weights(
    categories: Sequence[Category], segments: Sequence[Segment], *, iterations: int = 200
) -> list[list[float]]:
    """Return per-segment category weights whose user-share mixture equals the tree's shares.

    Args:
        categories: The category tree (its ``share`` is the target traffic share).
        segments: The segments (their ``share`` weights the mixture).
        iterations: Proportional-fitting rounds (it converges in a few dozen).

    Returns:
        One normalized weight list per segment, in category order.
    """
    total_share = sum(c.share for c in categories)
    target = [c.share / total_share for c in categories]
    seg_total = sum(s.share for s in segments)
    base = list(target)
    weights: list[list[float]] = []
    for _ in range(iterations):
        weights = []
        for s in segments:
            raw = [b * s.affinity.get(c.group, 1.0) for b, c in zip(base, categories, strict=True)]
            z = sum(raw)
            weights.append([r / z for r in raw])
        mix = [
            sum(s.share / seg_total * w[i] for s, w in zip(segments, weights, strict=True))
            for i in range(len(categories))
        ]
        base = [b * t / m if m > 0 else b for b, t, m in zip(base, target, mix, strict=True)]
    return weights


@dataclass(frozen=True)
class UserModel:
    """Column builders for user- and session-level attributes.

    Attributes:
        seed: The users' seed (derived from the root seed).
        segments: The segments.
        category_table: Per-segment category slot tables, concatenated
            (``CATEGORY_RESOLUTION`` slots each).
    """

    seed: int
    segments: tuple[Segment, ...]
    category_table: tuple[int, ...]

    def segment(self, u: Column) -> Column:
        """Return the user's segment index (``int``)."""
        table = quantize_weights([s.share for s in self.segments], SEGMENT_RESOLUTION)
        draw = key_uniform(derive_seed(self.seed, "segment"), u)
        return choose_in(int_array(table), SEGMENT_RESOLUTION, draw)

    def user_id(self, u: Column) -> Column:
        """Return the user id (``long``): a seeded permutation of 9-digit ids."""
        offset = derive_seed(self.seed, "user_id") % USER_ID_SPACE
        slot = F.pmod((u + F.lit(offset)) * F.lit(_USER_ID_PRIME), F.lit(USER_ID_SPACE))
        return F.lit(USER_ID_BASE) + slot

    def price_preference(self, u: Column, segment: Column) -> Column:
        """Return the user's preferred price position (segment level plus personal noise)."""
        seg_z = lookup(double_array([s.price_z for s in self.segments]), segment)
        return seg_z + key_normal(derive_seed(self.seed, "price_pref"), u)

    def buy_multiplier(self, segment: Column) -> Column:
        """Return the segment's multiplier on purchase-intent sessions (``double``)."""
        return lookup(double_array([s.buy_multiplier for s in self.segments]), segment)

    def category(self, segment: Column, draw: Column) -> Column:
        """Return a category index drawn from the segment's category weights."""
        table = int_array(self.category_table)
        return choose_in(table, CATEGORY_RESOLUTION, draw, segment * F.lit(CATEGORY_RESOLUTION))


def plan_users(
    seed: int,
    categories: Sequence[Category],
    segments: Sequence[Segment] = SEGMENTS,
) -> UserModel:
    """Fit the segments' category weights and build the user model (driver only, no job)."""
    weights = fit_segment_weights(categories, segments)
    table: list[int] = []
    for w in weights:
        table.extend(quantize_weights(w, CATEGORY_RESOLUTION))
    return UserModel(
        seed=derive_seed(seed, "sim", "users"),
        segments=tuple(segments),
        category_table=tuple(table),
    )


def _hex16(seed: int, u: Column, s: Column) -> Column:
    return F.lower(F.lpad(F.hex(hash_key(seed, u, s)), 16, "0"))


def session_uuid(seed: int, u: Column, s: Column) -> Column:
    """Return a lowercase UUID-v4-like string keyed by ``(seed, user, session)`` (``long`` keys)."""
    h1 = _hex16(derive_seed(seed, "uuid", 1), u, s)
    h2 = _hex16(derive_seed(seed, "uuid", 2), u, s)
    variant_index = F.pmod(hash_key(derive_seed(seed, "uuid", 3), u, s), 4)
    variant = lookup(string_array(["8", "9", "a", "b"]), variant_index)
    return F.concat(
        F.substring(h1, 1, 8),
        F.lit("-"),
        F.substring(h1, 9, 4),
        F.lit("-4"),
        F.substring(h1, 14, 3),
        F.lit("-"),
        variant,
        F.substring(h2, 2, 3),
        F.lit("-"),
        F.substring(h2, 5, 12),
    )
