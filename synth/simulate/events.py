"""Sessions, browsing steps, the view -> cart -> purchase funnel, and the clock.

Generation is a chain of narrow ``explode`` s, each keyed by the integers of its level:

1. users ``u`` (``spark.range``) -> sessions ``s`` (``sequence(0, n_sessions - 1)``);
2. sessions -> steps ``k`` (``sequence``); a step's start offset is the running sum of the
   keyed gap draws of the steps before it, a window over ``(u, s)`` ordered by ``k``. The rows
   of ``spark.range`` are range-partitioned by ``u``, which already clusters every ``(u, s)``, so
   Spark plans that window with a local sort and no shuffle;
3. steps -> events ``i``: a step is a *block* of 1-3 events on one product: ``view``,
   ``view, cart``, ``view, cart, purchase``, ``view, cart, remove_from_cart`` or
   ``view, purchase`` (the real October data logs many purchases with no cart event).

Every draw is ``xxhash64(seed, u, s, k, ...)``, so rows do not depend on partitioning, and there
is no shuffle and no join: memory per task stays flat at any volume.

The clock: a session starts on a day drawn with a weekday profile (weekends a little busier), at
an hour drawn from an hour-of-day profile in UTC (the real store is in UTC+3: quiet at night UTC,
peaking in the late afternoon), and its steps follow log-normal gaps (median about half a minute).
Bots ignore the clock: they start at any second and fire about two views a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from synth.config.simulate import BehaviourConfig
from synth.schema import (
    BRAND,
    CART,
    CATEGORY_CODE,
    CATEGORY_ID,
    EVENT_TYPE,
    PRODUCT_ID,
    PURCHASE,
    REMOVE_FROM_CART,
    USER_ID,
    USER_SESSION,
    VIEW,
)
from synth.seeding import derive_seed, hash_key
from synth.simulate.catalog import CatalogPlan
from synth.simulate.tables import (
    choose_in,
    discrete_lognormal,
    int_array,
    key_normal,
    key_uniform,
    lognormal,
    lookup,
    quantize_weights,
    zipf_rank,
)
from synth.simulate.users import UserModel, session_uuid

# Hour-of-day traffic profile in UTC (relative weights), shaped like the real store's: the three
# night hours of the real October sample (00:00-02:50 UTC) carry ~13% of an average hour.
HOUR_WEIGHTS_UTC: tuple[float, ...] = (
    0.12, 0.10, 0.14, 0.30, 0.55, 0.85, 1.05, 1.20, 1.28, 1.30, 1.30, 1.30,
    1.30, 1.35, 1.45, 1.55, 1.60, 1.55, 1.40, 1.10, 0.75, 0.45, 0.25, 0.15,
)  # fmt: skip
# Weekday profile, Monday first: a mild weekly rhythm with busier weekends.
WEEKDAY_WEIGHTS: tuple[float, ...] = (1.00, 0.98, 0.97, 0.96, 0.98, 1.04, 1.10)
_HOUR_RESOLUTION = 2_400
_WEEKDAY_RESOLUTION = 7_000

# Block types of a browsing step.
BLOCK_VIEW, BLOCK_CART, BLOCK_CART_PURCHASE, BLOCK_CART_REMOVE, BLOCK_PURCHASE = 0, 1, 2, 3, 4

# Within-block delays (seconds): view -> cart, and cart -> purchase / remove_from_cart.
_CART_DELAY_MEDIAN, _CART_DELAY_SIGMA, _CART_DELAY_MAX = 20.0, 0.8, 900.0
_AFTER_DELAY_MEDIAN, _AFTER_DELAY_SIGMA, _AFTER_DELAY_MAX = 45.0, 0.8, 1_800.0

# Internal key and helper columns (dropped before the public frame).
U, S, K, I = "_u", "_s", "_k", "_i"
T = "_t"  # event time, whole seconds since ``start`` 00:00 UTC
H = "_h"  # a 64-bit hash identifying the event (keys the dirt draws)
BOT = "_bot"
PRICE_CENTS = "_price_cents"


@dataclass(frozen=True)
class Clock:
    """The simulated period and its day / hour profiles (driver side).

    Attributes:
        start: First simulated day.
        days: Number of days.
    """

    start: date
    days: int

    def weekday_tables(self) -> tuple[list[int], list[int], list[int]]:
        """Return the weekday slot table, each weekday's first day offset and its day count."""
        first = [0] * 7
        count = [0] * 7
        for offset in range(min(self.days, 7)):
            first[(self.start + timedelta(days=offset)).weekday()] = offset
        for offset in range(self.days):
            count[(self.start + timedelta(days=offset)).weekday()] += 1
        weights = [WEEKDAY_WEIGHTS[w] * count[w] for w in range(7)]
        return quantize_weights(weights, _WEEKDAY_RESOLUTION), first, count

    def day(self, u: Column) -> Column:
        """Return a day offset in ``[0, days)`` drawn with the weekday profile.

        Two stages, exact and O(1): pick a weekday with weight ``profile * days on that weekday``,
        then one of its days uniformly.
        """
        table, first, count = self.weekday_tables()
        weekday = choose_in(int_array(table), _WEEKDAY_RESOLUTION, u)
        n = lookup(int_array(count), weekday)
        u2 = (u * F.lit(_WEEKDAY_RESOLUTION)) - F.floor(u * F.lit(_WEEKDAY_RESOLUTION))
        nth = F.least(F.floor(u2 * n), n - F.lit(1))
        return (lookup(int_array(first), weekday) + F.lit(7) * nth).cast("int")

    @staticmethod
    def hour(u: Column) -> Column:
        """Return an hour of day drawn with the UTC hour profile."""
        table = quantize_weights(HOUR_WEIGHTS_UTC, _HOUR_RESOLUTION)
        return choose_in(int_array(table), _HOUR_RESOLUTION, u)

    @property
    def end_second(self) -> int:
        """Return the first second after the period."""
        return self.days * 86_400


@dataclass(frozen=True)
class EventModel:
    """Column builders for sessions, steps and events.

    Attributes:
        seed: The events' seed (derived from the root seed).
        behaviour: The behaviour knobs.
        catalog: The resolved catalog.
        users: The user model.
        clock: The simulated period.
    """

    seed: int
    behaviour: BehaviourConfig
    catalog: CatalogPlan
    users: UserModel
    clock: Clock

    def _u(self, name: str, *keys: Column | str) -> Column:
        return key_uniform(derive_seed(self.seed, name), *keys)

    def _z(self, name: str, *keys: Column | str) -> Column:
        return key_normal(derive_seed(self.seed, name), *keys)

    # -- user and session level ----------------------------------------------------------------
    def n_sessions(self, bot: Column) -> Column:
        """Return the number of sessions of the user ``U`` (heavy-tailed; bots have 1-2)."""
        b = self.behaviour
        human = discrete_lognormal(
            self._z("n_sessions", U),
            b.sessions_per_user_median,
            b.sessions_per_user_sigma,
            1,
            b.max_sessions_per_user,
        )
        bot_n = (F.lit(1) + F.floor(self._u("bot_sessions", U) * F.lit(2))).cast("int")
        return F.when(bot, bot_n).otherwise(human)

    def _independent_start(self, s: Column, bot: Column) -> Column:
        day = self.clock.day(self._u("day", U, s))
        hour_second = self.clock.hour(self._u("hour", U, s)) * F.lit(3_600) + F.floor(
            self._u("second", U, s) * F.lit(3_600)
        )
        any_second = F.floor(self._u("second", U, s) * F.lit(86_400))
        sod = F.when(bot, any_second).otherwise(hour_second)
        return day.cast("long") * F.lit(86_400) + sod.cast("long")

    def session_start(self, bot: Column) -> Column:
        """Return the start of session ``(U, S)`` in seconds since the period start.

        A session starts on its own day and hour, except a *return visit*: a later session that
        comes back ``S`` times a log-normal delay (median 45 minutes, at least 31) after the
        user's first session, as real users do within the same day.
        """
        s = F.col(S)
        independent = self._independent_start(s, bot)
        first = self._independent_start(F.lit(0).cast("long"), bot)
        returns = ~bot & (s > F.lit(0)) & (self._u("return", U, S) < F.lit(self.behaviour.return_rate))
        delay = F.least(
            F.greatest(lognormal(self._z("return_delay", U, S), 2_700.0, 0.9), F.lit(1_860.0)),
            F.lit(43_200.0),
        )
        back = first + F.floor(s.cast("double") * delay).cast("long")
        return F.when(returns, back).otherwise(independent)

    def buy_intent(self, segment: Column, bot: Column) -> Column:
        """Return whether session ``(U, S)`` has purchase intent."""
        rate = F.lit(self.behaviour.buy_session_rate) * self.users.buy_multiplier(segment)
        return ~bot & (self._u("buy", U, S) < rate)

    def n_steps(self, bot: Column) -> Column:
        """Return the number of browsing steps of session ``(U, S)`` (bots: hundreds)."""
        b = self.behaviour
        human = discrete_lognormal(
            self._z("n_steps", U, S), b.session_steps_median, b.session_steps_sigma, 1,
            b.max_session_steps,
        )  # fmt: skip
        span = b.bot_events_max - b.bot_events_min + 1
        bot_n = F.lit(b.bot_events_min) + F.floor(self._u("bot_steps", U, S) * F.lit(span))
        return F.when(bot, bot_n.cast("int")).otherwise(human)

    # -- step level (keys U, S and a step column) ----------------------------------------------
    def block_type(self, k: Column, buy: Column, bot: Column) -> Column:
        """Return the block type of step ``k`` (one of the ``BLOCK_*`` codes)."""
        b = self.behaviour
        p_cart = F.when(buy, F.lit(b.cart_rate_buy)).otherwise(F.lit(b.cart_rate_browse))
        u_after = self._u("after_cart", U, S, k)
        after = (
            F.when(u_after < F.lit(b.purchase_after_cart), F.lit(BLOCK_CART_PURCHASE))
            .when(
                u_after < F.lit(b.purchase_after_cart + b.remove_after_cart),
                F.lit(BLOCK_CART_REMOVE),
            )
            .otherwise(F.lit(BLOCK_CART))
        )
        direct = buy & (self._u("direct", U, S, k) < F.lit(b.direct_purchase_rate))
        return (
            F.when(bot, F.lit(BLOCK_VIEW))
            .when(self._u("cart", U, S, k) < p_cart, after)
            .when(direct, F.lit(BLOCK_PURCHASE))
            .otherwise(F.lit(BLOCK_VIEW))
        )

    def cart_delay(self, k: Column) -> Column:
        """Return the view -> next event delay of a step's block, in seconds."""
        d = lognormal(self._z("cart_delay", U, S, k), _CART_DELAY_MEDIAN, _CART_DELAY_SIGMA)
        return F.least(F.greatest(d, F.lit(1.0)), F.lit(_CART_DELAY_MAX))

    def after_delay(self, k: Column) -> Column:
        """Return the cart -> purchase / remove delay of a step's block, in seconds."""
        d = lognormal(self._z("after_delay", U, S, k), _AFTER_DELAY_MEDIAN, _AFTER_DELAY_SIGMA)
        return F.least(F.greatest(d, F.lit(1.0)), F.lit(_AFTER_DELAY_MAX))

    def block_span(self, k: Column, buy: Column, bot: Column) -> Column:
        """Return the time from a step's view to its block's last event, in seconds."""
        bt = self.block_type(k, buy, bot)
        first = self.cart_delay(k)
        return (
            F.when(bt == F.lit(BLOCK_VIEW), F.lit(0.0))
            .when(bt.isin(BLOCK_CART, BLOCK_PURCHASE), first)
            .otherwise(first + self.after_delay(k))
        )

    def gap(self, k: Column) -> Column:
        """Return the pause before step ``k``'s view (after the previous block), in seconds."""
        b = self.behaviour
        g = lognormal(self._z("gap", U, S, k), b.gap_median_s, b.gap_sigma)
        return F.least(F.greatest(g, F.lit(1.0)), F.lit(b.max_gap_s))

    def step_advance(self, buy: Column, bot: Column) -> Column:
        """Return the time from step ``K``'s view to step ``K + 1``'s view, in seconds.

        That is the step's block span plus the pause before the next step. A step's start offset
        is the running sum of the advances of the steps before it (see
        :func:`generate_clean_events`).
        """
        return self.block_span(F.col(K), buy, bot) + self.gap(F.col(K) + F.lit(1))

    def bot_offset(self) -> Column:
        """Return a bot's step offset in closed form: ``(k + jitter(k)) / 2``, about 2 views/s.

        Crawlers fire far faster than people: at about 120 events a minute a bot session crosses
        any sensible rate threshold (cleaning's default is 60 in a rolling minute).
        """
        return F.lit(0.5) * (F.col(K) + self._u("bot_jitter", U, S, K))

    def revisit_target(self, bot: Column) -> Column:
        """Return the step whose product step ``K`` shows (itself, or an earlier one)."""
        k = F.col(K)
        revisit = (
            ~bot
            & (k > F.lit(0))
            & (self._u("revisit", U, S, K) < F.lit(self.behaviour.revisit_rate))
        )
        earlier = F.floor(self._u("revisit_to", U, S, K) * k).cast("long")
        return F.when(revisit, earlier).otherwise(k)

    def category(self, j: Column, main: Column, segment: Column, bot: Column) -> Column:
        """Return the category of the product first shown at step ``j``."""
        stay = self._u("stay", U, S, j) < F.lit(self.behaviour.category_stickiness)
        other = self.users.category(segment, self._u("category", U, S, j))
        crawl = self.catalog.uniform_category(self._u("bot_category", U, S, j))
        return F.when(bot, crawl).when(stay, main).otherwise(other).cast("long")

    def rank_candidates(self, j: Column, cat: Column, bot: Column) -> tuple[Column, Column]:
        """Return two candidate popularity ranks for the product first shown at step ``j``.

        Humans draw both from the category's Zipf law (:meth:`prefer_first` then picks the one
        whose price suits them); bots crawl uniformly (both candidates are the same).
        """
        n = self.catalog.n_items(cat)
        s = self.behaviour.zipf_exponent
        crawl = F.least(F.floor(self._u("bot_rank", U, S, j) * n), n - F.lit(1))
        first = F.when(bot, crawl).otherwise(zipf_rank(self._u("rank1", U, S, j), n, s))
        second = F.when(bot, crawl).otherwise(zipf_rank(self._u("rank2", U, S, j), n, s))
        return first.cast("long"), second.cast("long")

    @staticmethod
    def prefer_first(z1: Column, z2: Column, price_pref: Column) -> Column:
        """Return whether the first candidate's price position is closer to the preference."""
        return F.abs(z1 - price_pref) <= F.abs(z2 - price_pref)

    # -- event level -----------------------------------------------------------------------------
    @staticmethod
    def block_length(bt: Column) -> Column:
        """Return the number of events of a block type."""
        return (
            F.when(bt == F.lit(BLOCK_VIEW), F.lit(1))
            .when(bt.isin(BLOCK_CART, BLOCK_PURCHASE), F.lit(2))
            .otherwise(F.lit(3))
        )

    @staticmethod
    def event_type(bt: Column, i: Column) -> Column:
        """Return the event type of event ``i`` of a block of type ``bt``."""
        second = F.when(bt == F.lit(BLOCK_PURCHASE), F.lit(PURCHASE)).otherwise(F.lit(CART))
        third = F.when(bt == F.lit(BLOCK_CART_PURCHASE), F.lit(PURCHASE)).otherwise(
            F.lit(REMOVE_FROM_CART)
        )
        return F.when(i == F.lit(0), F.lit(VIEW)).when(i == F.lit(1), second).otherwise(third)


def _long_sequence(last: Column) -> Column:
    """Return ``[0, 1, ..., last]`` as ``array<long>`` (keys stay ``long``; see ``tables``)."""
    return F.sequence(F.lit(0).cast("long"), last.cast("long"))


def generate_clean_events(
    spark: SparkSession, model: EventModel, *, n_users: int, partitions: int
) -> DataFrame:
    """Return the lazy frame of clean events, with internal key columns.

    Columns: ``_u, _s, _k, _i`` (``long`` keys), ``_t`` (seconds since the start), ``_h`` (the
    event's 64-bit identity hash), ``_bot``,
    the event type, product, category, brand and user / session columns of the raw schema (ids
    as strings), and ``_price_cents``. Triggers no Spark job.
    """
    users = model.users
    cat = model.catalog
    seg, main, buy, pref = "_segment", "_main", "_buy", "_pref"
    c, r, j, bt, off, start, n = "_c", "_r", "_j", "_bt", "_off", "_start", "_n"
    bot = F.col(BOT)

    frame = spark.range(0, n_users, 1, partitions).select(F.col("id").alias(U))
    frame = frame.select(
        U,
        users.segment(F.col(U)).alias(seg),
        users.is_bot(F.col(U)).alias(BOT),
        users.user_id(F.col(U)).cast("string").alias(USER_ID),
    )
    frame = frame.select(
        U,
        seg,
        BOT,
        USER_ID,
        users.price_preference(F.col(U), F.col(seg)).alias(pref),
        F.explode(_long_sequence(model.n_sessions(bot) - F.lit(1))).alias(S),
    )
    frame = frame.select(
        U,
        S,
        seg,
        BOT,
        USER_ID,
        pref,
        session_uuid(model.seed, F.col(U), F.col(S)).alias(USER_SESSION),
        model.session_start(bot).alias(start),
        model.buy_intent(F.col(seg), bot).alias(buy),
        users.category(F.col(seg), model._u("main_category", U, S)).cast("long").alias(main),
        model.n_steps(bot).alias(n),
    )
    session_cols = [U, S, seg, BOT, USER_ID, USER_SESSION, pref, start, buy, main]
    frame = frame.select(*session_cols, F.explode(_long_sequence(F.col(n) - F.lit(1))).alias(K))
    before = Window.partitionBy(U, S).orderBy(K).rowsBetween(Window.unboundedPreceding, -1)
    frame = frame.select(
        "*",
        model.block_type(F.col(K), F.col(buy), bot).alias(bt),
        model.cart_delay(F.col(K)).alias("_d1"),
        model.after_delay(F.col(K)).alias("_d2"),
        model.gap(F.col(K) + F.lit(1)).alias("_gap_next"),
        model.revisit_target(bot).alias(j),
    )
    frame = frame.select("*", model.category(F.col(j), F.col(main), F.col(seg), bot).alias(c))
    span = (
        F.when(F.col(bt) == F.lit(BLOCK_VIEW), F.lit(0.0))
        .when(F.col(bt).isin(BLOCK_CART, BLOCK_PURCHASE), F.col("_d1"))
        .otherwise(F.col("_d1") + F.col("_d2"))
    )
    advance = F.when(bot, F.lit(0.0)).otherwise(span + F.col("_gap_next"))
    human_offset = F.coalesce(F.sum(advance).over(before), F.lit(0.0))
    frame = frame.select(
        *session_cols,
        K,
        bt,
        "_d1",
        "_d2",
        j,
        c,
        F.when(bot, model.bot_offset()).otherwise(human_offset).alias(off),
    )
    r1, r2 = model.rank_candidates(F.col(j), F.col(c), bot)
    frame = frame.select("*", r1.alias("_r1"), r2.alias("_r2"))
    frame = frame.select(
        "*",
        cat.price_z(F.col(c), F.col("_r1")).alias("_z1"),
        cat.price_z(F.col(c), F.col("_r2")).alias("_z2"),
    )
    first = model.prefer_first(F.col("_z1"), F.col("_z2"), F.col(pref))
    frame = frame.select(
        "*",
        F.when(first, F.col("_r1")).otherwise(F.col("_r2")).alias(r),
        F.when(first, F.col("_z1")).otherwise(F.col("_z2")).alias("_z"),
    )
    steps = frame.select(
        U,
        S,
        K,
        BOT,
        USER_ID,
        USER_SESSION,
        start,
        off,
        bt,
        "_d1",
        "_d2",
        cat.product_id(F.col(c), F.col(r)).cast("string").alias(PRODUCT_ID),
        cat.category_id(F.col(c)).alias(CATEGORY_ID),
        cat.category_code(F.col(c)).alias(CATEGORY_CODE),
        cat.brand(F.col(c), F.col(r)).alias(BRAND),
        cat.price_cents(F.col(c), F.col(r), z=F.col("_z")).alias(PRICE_CENTS),
    )
    frame = steps.select(
        "*", F.explode(_long_sequence(model.block_length(F.col(bt)) - F.lit(1))).alias(I)
    )
    within = (
        F.when(F.col(I) == F.lit(0), F.lit(0.0))
        .when(F.col(I) == F.lit(1), F.col("_d1"))
        .otherwise(F.col("_d1") + F.col("_d2"))
    )
    t = F.col(start) + F.floor(F.col(off) + within).cast("long")
    events = frame.select(
        U,
        S,
        K,
        I,
        BOT,
        t.alias(T),
        hash_key(derive_seed(model.seed, "event"), F.col(U), F.col(S), F.col(K), F.col(I)).alias(H),
        model.event_type(F.col(bt), F.col(I)).alias(EVENT_TYPE),
        PRODUCT_ID,
        CATEGORY_ID,
        CATEGORY_CODE,
        BRAND,
        PRICE_CENTS,
        USER_ID,
        USER_SESSION,
    )
    return events.where(F.col(T) < F.lit(model.clock.end_second))
