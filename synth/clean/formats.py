"""Which timestamp format parses a sample of raw event times (a candidate search).

Shared by cleaning (a run that quarantines most rows as ``bad_timestamp`` names the format that
would have parsed them) and ``synth inspect`` (which proposes a source config). Each candidate is
parsed exactly as cleaning parses it (:func:`synth.clean.parse.parse_timestamp`), except that a
plain number is judged by the epoch candidates only, by magnitude.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from synth.clean.parse import parse_timestamp

# The format search: Spark's own timestamp cast first, then patterns (their order breaks ties,
# so "M/d/yyyy" wins over "d/M/yyyy" when both parse everything), then epochs by magnitude.
TIMESTAMP_PATTERNS: tuple[str, ...] = (
    "yyyy-MM-dd HH:mm:ss z",
    "yyyy-MM-dd HH:mm:ss",
    "yyyy-MM-dd'T'HH:mm:ss",
    "M/d/yyyy H:mm",
    "d/M/yyyy H:mm",
    "dd.MM.yyyy HH:mm:ss",
    "yyyy-MM-dd",
    "yyyy/MM/dd HH:mm:ss",
)
# Plausible epoch magnitudes (1973 to 5138 for seconds, the same years for ms and us).
EPOCH_RANGES: dict[str, tuple[float, float]] = {
    "epoch_s": (1e8, 1e11),
    "epoch_ms": (1e11, 1e14),
    "epoch_us": (1e14, 1e17),
}
TIMESTAMP_CANDIDATES: tuple[str, ...] = ("iso", *TIMESTAMP_PATTERNS, *EPOCH_RANGES)

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def number(value: Any) -> float | None:
    """A finite number written as a plain number (int, float or numeric string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        out = float(value)
    elif isinstance(value, str) and _NUMBER.match(value.strip()):
        out = float(value)
    else:
        return None
    return out if math.isfinite(out) else None


def _parsed(value: Column, fmt: str) -> Column:
    return parse_timestamp(value, fmt)


@dataclass(frozen=True)
class FormatSearch:
    """Which candidate formats of :data:`TIMESTAMP_CANDIDATES` parse which sampled values.

    Attributes:
        total: Non-blank values searched.
        hits: One entry per distinct value: its occurrences and the candidates parsing it.
    """

    total: int
    hits: tuple[tuple[int, frozenset[str]], ...]

    def shares(self, among: Iterable[tuple[int, frozenset[str]]] | None = None) -> dict[str, float]:
        """Candidate -> share of all values it parses (of ``among`` only, when given)."""
        parsed: Counter[str] = Counter()
        for n, formats in self.hits if among is None else among:
            for fmt in formats:
                parsed[fmt] += n
        return {f: parsed[f] / self.total if self.total else 0.0 for f in TIMESTAMP_CANDIDATES}

    def best(self, among: Iterable[tuple[int, frozenset[str]]] | None = None) -> str | None:
        """The candidate parsing the most values (ties: the earlier); None if none parses any."""
        shares = self.shares(among)
        best = max(shares, key=lambda f: shares[f])  # max keeps the first of equal shares
        return best if shares[best] > 0 else None

    def rest(self, fmt: str) -> tuple[str, float] | None:
        """The best candidate for the values ``fmt`` leaves unparsed, with its share of all."""
        left = [(n, formats) for n, formats in self.hits if fmt not in formats]
        second = self.best(left)
        return None if second is None else (second, self.shares(left)[second])


def search_timestamp_formats(spark: SparkSession, values: Iterable[str | None]) -> FormatSearch:
    """Try every candidate of :data:`TIMESTAMP_CANDIDATES` on the values.

    Blank values (None, empty) are left out. A plain number is judged by the epoch candidates
    only, by magnitude (``1570000000.25`` is ``epoch_s``; fractions are allowed); any other
    string by Spark itself, as cleaning parses it (``iso`` is Spark's timestamp cast, a pattern
    goes through ``try_to_timestamp``). Runs one Spark job over the distinct strings (none when
    every value is a number); deterministic.
    """
    counts = Counter(v.strip() for v in values if v is not None and v.strip())
    hits: list[tuple[int, frozenset[str]]] = []
    strings: dict[str, int] = {}
    for value, n in counts.items():
        magnitude = number(value)
        if magnitude is None:
            strings[value] = n
        else:
            epochs = [e for e, (lo, hi) in EPOCH_RANGES.items() if lo <= abs(magnitude) < hi]
            hits.append((n, frozenset(epochs)))
    if strings:
        tried = ("iso", *TIMESTAMP_PATTERNS)
        df = spark.createDataFrame(sorted(strings.items()), "value string, n long")
        flags = [_parsed(F.col("value"), f).isNotNull().alias(f"c{i}") for i, f in enumerate(tried)]
        for row in df.select("n", *flags).collect():
            parsed = frozenset(f for i, f in enumerate(tried) if row[f"c{i}"])
            hits.append((int(row["n"]), parsed))
    return FormatSearch(sum(counts.values()), tuple(hits))


def timestamp_format_shares(spark: SparkSession, values: Iterable[str | None]) -> dict[str, float]:
    """Return the share of the non-blank values each candidate parses, in candidate order.

    Empty when there is no non-blank value. See :func:`search_timestamp_formats`.
    """
    search = search_timestamp_formats(spark, values)
    return search.shares() if search.total else {}


def best_timestamp_format(
    spark: SparkSession, values: Iterable[str | None]
) -> tuple[str, float] | None:
    """Return the candidate format that parses the most values, with the share it parses.

    ``values`` are raw event times as strings (as bronze holds them). Ties go to the earlier
    candidate of :data:`TIMESTAMP_CANDIDATES`. See :func:`search_timestamp_formats` for how each
    candidate is judged; one Spark job at most.

    Returns:
        ``(format, share)``, the format being a value for ``source.timestamp.format``; None when
        there is no non-blank value or no candidate parses any.
    """
    search = search_timestamp_formats(spark, values)
    best = search.best()
    return None if best is None else (best, search.shares()[best])


__all__ = [
    "EPOCH_RANGES",
    "FormatSearch",
    "TIMESTAMP_CANDIDATES",
    "TIMESTAMP_PATTERNS",
    "best_timestamp_format",
    "number",
    "search_timestamp_formats",
    "timestamp_format_shares",
]
