"""Propose a ``generic`` source config for an event log the project has never seen.

:func:`propose_source` reads a sample of a file, a folder or a glob (compressed files too),
guesses the canonical column mapping from the column names, refines it from the sampled values
(time format, integer or string ids, blank users, negative quantities, the event vocabulary) and
returns a :class:`Proposal`, whose :meth:`Proposal.to_yaml` is a commented ``source:`` block to
start a job config from (``synth inspect <path>``). :func:`best_timestamp_format` is the
candidate-format search on its own, for cleaning to tell the user which format would have parsed
their rows.

Nothing here writes anything. A proposal runs a few small Spark jobs: one collecting the sample
(the first rows of the first files), one format search per time-column candidate.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

import yaml
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from synth.clean.formats import (
    EPOCH_RANGES,
    TIMESTAMP_CANDIDATES,
    TIMESTAMP_PATTERNS,
    FormatSearch,
    best_timestamp_format,
    number,
    search_timestamp_formats,
    timestamp_format_shares,
)
from synth.errors import ConfigError, InputError, InvalidDataError
from synth.ingest.files import InputFile, list_files, parse_header, read_first_line
from synth.schema import (
    BRAND,
    CATEGORY_CODE,
    CATEGORY_ID,
    EVENT_TIME,
    EVENT_TYPE,
    PRICE,
    PRODUCT_ID,
    USER_ID,
    USER_SESSION,
)
from synth.spark import build_session

log = logging.getLogger(__name__)

Format = Literal["csv", "json", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "json", "parquet")
FORMAT_EXTENSIONS: dict[Format, tuple[str, ...]] = {
    "csv": (".csv", ".tsv", ".txt"),
    "json": (".json", ".jsonl"),
    "parquet": (".parquet",),
}
COMPRESSION_EXTENSIONS: tuple[str, ...] = (".gz", ".bz2", ".zst")
SEPARATORS: tuple[str, ...] = (",", ";", "\t", "|")

# Canonical event type -> source spellings (compared lower-cased, letters and digits only).
EVENT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "view": (
        "view",
        "views",
        "click",
        "clicks",
        "pv",
        "pageview",
        "pageviews",
        "detail",
        "itemview",
        "productview",
        "viewitem",
    ),
    "cart": ("cart", "carts", "addtocart", "addtobasket", "basket", "cartadd"),
    "remove_from_cart": ("remove", "removefromcart", "removefrombasket", "cartremove"),
    "purchase": (
        "purchase",
        "purchases",
        "buy",
        "order",
        "orders",
        "transaction",
        "checkout",
        "sale",
    ),
    "favorite": (
        "fav",
        "favorite",
        "favourite",
        "favorites",
        "favourites",
        "like",
        "likes",
        "wishlist",
        "save",
    ),
}
NEGATIVE_QUANTITY_TYPE = "return"
# A starting weight for extra types; a return takes back a purchase, so it counts against it.
EXTRA_TYPE_WEIGHT, RETURN_WEIGHT = 1.0, -5.0
MAX_EVENT_TYPES = 50
FALLBACK_BLANK_SHARE = 0.05  # a user column this blank gets a user_id_fallback proposed
MAX_SAMPLE_FILES = 8
_BLANK_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "nil"})
_INT64 = 2**63
_INTEGER = re.compile(r"^-?\d{1,19}$")
_DATE_ONLY = re.compile(r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")
# a time of day followed by a zone: Z, +02:00, UTC, CET, Europe/Berlin
_ZONED = re.compile(r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?|[A-Z]{3,4}|\w+/\w+)$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
_WIDTH = 100  # of the YAML lines, comments included
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none"})


@dataclass(frozen=True)
class _Role:
    """How a column is recognised by name: exact names, then name endings (normalised)."""

    exact: tuple[str, ...]
    endings: tuple[str, ...] = ()

    def rank(self, column: str) -> int | None:
        """Lower is better; None when the name does not fit the role."""
        leaf = column.rsplit(".", 1)[-1]
        key = _normalise(leaf)
        if key in self.exact:
            return self.exact.index(key)
        tokens = _tokens(leaf)
        for ending in (tokens[-1:], tokens[-2:]):
            joined = "".join(ending)
            if len(ending) and joined in self.endings:
                return len(self.exact) + self.endings.index(joined)
        return None


_TIME = _Role(
    (
        "eventtime",
        "timestamp",
        "eventtimestamp",
        "datetime",
        "ts",
        "time",
        "invoicedate",
        "orderdate",
        "createdat",
        "eventdate",
        "date",
        "at",
    ),
    ("time", "timestamp", "ts", "datetime", "date", "at"),
)
_TYPE = _Role(
    (
        "eventtype",
        "type",
        "event",
        "behaviour",
        "behavior",
        "behaviourtype",
        "behaviortype",
        "action",
        "actiontype",
        "interaction",
        "interactiontype",
    ),
    (
        "eventtype",
        "behaviour",
        "behavior",
        "behaviourtype",
        "behaviortype",
        "action",
        "actiontype",
        "interactiontype",
    ),
)
_PRODUCT = _Role(
    (
        "productid",
        "itemid",
        "sku",
        "stockcode",
        "aid",
        "product",
        "item",
        "articleid",
        "article",
        "asin",
    ),
    ("productid", "itemid", "sku"),
)
_USER = _Role(
    (
        "userid",
        "user",
        "customerid",
        "customer",
        "visitorid",
        "visitor",
        "clientid",
        "client",
        "shopper",
        "buyerid",
        "uid",
    ),
    ("userid", "customerid", "visitorid", "clientid"),
)
_SESSION = _Role(
    (
        "usersession",
        "sessionid",
        "session",
        "invoiceno",
        "invoice",
        "invoiceid",
        "orderid",
        "visitid",
        "visit",
    ),
    ("sessionid", "invoiceno", "invoiceid", "orderid"),
)
_CATEGORY = _Role(
    (
        "categoryid",
        "category",
        "catid",
        "cat",
        "categorycode",
        "categoryname",
        "catcode",
        "categorypath",
        "catpath",
    ),
    ("categoryid", "category", "categorycode", "categorypath"),
)
_CATEGORY_CODE_NAMES = frozenset(
    {"categorycode", "categoryname", "catcode", "categorypath", "catpath"}
)
_BRAND = _Role(("brand", "brandname", "manufacturer", "maker"), ("brand",))
_PRICE = _Role(("price", "unitprice", "itemprice", "amount", "saleprice"), ("price",))
_QUANTITY = _Role(("quantity", "qty"), ("quantity", "qty"))
_OFFSET = _Role(("timeframe", "offset", "elapsed", "elapsedms", "timeoffset", "offsetms"))


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _tokens(name: str) -> list[str]:
    return [t.lower() for t in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)]


# -- values ------------------------------------------------------------------------------------


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _BLANK_TOKENS)


def _text(value: Any) -> str:
    """The value as Spark casts it to a string (which is what the generic adapter reads)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_INT64 <= value < _INT64
    return (
        isinstance(value, str)
        and bool(_INTEGER.match(value.strip()))
        and -_INT64 <= int(value) < _INT64
    )


@dataclass(frozen=True)
class _Profile:
    """One sampled column: its non-blank values and what they look like."""

    name: str
    rows: int
    values: tuple[Any, ...]
    blank_tokens: Counter[str]  # non-empty placeholders seen (e.g. "NA") -> count

    @classmethod
    def of(cls, name: str, raw: Sequence[Any]) -> _Profile:
        tokens: Counter[str] = Counter(
            v.strip() for v in raw if isinstance(v, str) and v.strip() and _is_blank(v)
        )
        return cls(name, len(raw), tuple(v for v in raw if not _is_blank(v)), tokens)

    @property
    def blank_share(self) -> float:
        return 1.0 - len(self.values) / self.rows if self.rows else 0.0

    @property
    def all_integers(self) -> bool:
        return all(_is_integer(v) for v in self.values)

    @property
    def numeric_share(self) -> float:
        if not self.values:
            return 0.0
        return sum(number(v) is not None for v in self.values) / len(self.values)

    @property
    def negatives(self) -> int:
        return sum(1 for v in self.values if (n := number(v)) is not None and n < 0)

    @property
    def nested(self) -> bool:
        return any(isinstance(v, list | dict) for v in self.values)

    @property
    def date_only(self) -> bool:
        """Every value is a date with no time of day (``2016-05-09``, a Parquet date)."""
        return bool(self.values) and all(
            (isinstance(v, dt.date) and not isinstance(v, dt.datetime))
            or (isinstance(v, str) and bool(_DATE_ONLY.match(v.strip())))
            for v in self.values
        )

    def example(self, predicate: Callable[[Any], bool] | None = None) -> str:
        """A short sample value for a comment (the first one matching ``predicate``)."""
        for value in self.values:
            if predicate is None or predicate(value):
                return _comment_text(_text(value), 24)
        return ""


# -- the timestamp format search ---------------------------------------------------------------


# -- the sample --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sample:
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    files: int
    options: dict[str, str] = field(default_factory=dict)
    explode: str | None = None


def _strip_compression(name: str) -> str:
    for ext in COMPRESSION_EXTENSIONS:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def _format_of(file_name: str) -> Format | None:
    plain = _strip_compression(file_name.lower())
    for fmt, extensions in FORMAT_EXTENSIONS.items():
        if plain.endswith(extensions):
            return fmt
    return None


def _all_extensions() -> tuple[str, ...]:
    plain = tuple(e for exts in FORMAT_EXTENSIONS.values() for e in exts)
    return plain + tuple(p + c for p in plain for c in COMPRESSION_EXTENSIONS)


def _choose_files(
    spark: SparkSession, path: str, fmt: Format | None
) -> tuple[Format, list[InputFile], str]:
    """Return the input's data files, their format and how it was found.

    The format is the one given, else the most common file extension's, else sniffed.
    """
    files = list_files(spark, [path])  # raises InputError for a path that does not exist
    by_format: dict[Format, list[InputFile]] = {}
    for file in files:
        ext = _format_of(PurePosixPath(file.path).name)
        if ext is not None:
            by_format.setdefault(ext, []).append(file)
    if fmt is not None:
        found, how = fmt, "given"
    elif by_format:
        found = max(by_format, key=lambda f: len(by_format[f]))  # the most common; ties: csv
        how = "from the file extension"
    else:
        first = read_first_line(spark, files[0].path) or ""
        found = "parquet" if first.startswith("PAR1") else "json" if first[:1] in "{[" else "csv"
        how = "sniffed from the first line (no known file extension)"
    chosen = by_format.get(found) or files  # files named without an extension: take them all
    return found, chosen, how


def sniff_separator(header: str) -> str:
    """Return the separator of a CSV header line: the most frequent of :data:`SEPARATORS`.

    Quoted parts are ignored; a header with none of them (one column) gives ``,``.
    """
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {sep: unquoted.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _union(parts: list[DataFrame]) -> DataFrame:
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part, allowMissingColumns=True)
    return out


def _read_csv(spark: SparkSession, files: list[InputFile], rows: int) -> _Sample:
    line = read_first_line(spark, files[0].path)
    if line is None or not line.strip():
        raise InputError(f"{files[0].path}: file is empty (no header line) - nothing to inspect")
    sep = sniff_separator(line)
    header = parse_header(line, sep)
    chosen = [files[0]]
    for file in files[1:]:  # only files with the same header: one mapping must fit them all
        if len(chosen) == MAX_SAMPLE_FILES:
            break
        if read_first_line(spark, file.path) == line:
            chosen.append(file)
    unique = len(set(header)) == len(header) and all(header)
    # Field names equal to the header's keep Spark's header check quiet; positions are what count.
    fields = header if unique else [f"_c{i}" for i in range(len(header))]
    schema = StructType([StructField(f, StringType(), True) for f in fields])
    per_file = -(-rows // len(chosen))
    reader = spark.read.schema(schema).option("header", True).option("sep", sep)
    df = _union([reader.csv(f.path).limit(per_file) for f in chosen]).limit(rows)
    names: list[str] = []
    for name in header:  # a repeated or empty header cell cannot be mapped by name
        names.append(name if name and name not in names else "")
    records = [{n: v for n, v in zip(names, r, strict=True) if n} for r in df.collect()]
    return _Sample(
        tuple(n for n in names if n),
        records,
        len(chosen),
        {"header": "true", "sep": sep},
    )


def _read_nested(spark: SparkSession, files: list[InputFile], fmt: Format, rows: int) -> _Sample:
    chosen = files[:MAX_SAMPLE_FILES]
    per_file = -(-rows // len(chosen))
    records: list[dict[str, Any]] = []
    if fmt == "json":
        parts = [spark.read.text(f.path).limit(per_file) for f in chosen]
        for i, row in enumerate(_union(parts).limit(rows).collect()):
            line = str(row["value"]).strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidDataError(
                    f"{chosen[0].path}: sampled line {i + 1} is not JSON ({exc.msg}). synth reads "
                    "JSON Lines (one object per line); pass --format if the extension misleads."
                ) from None
            if not isinstance(record, dict):
                raise InvalidDataError(
                    f"{chosen[0].path}: sampled line {i + 1} is a JSON {type(record).__name__}, "
                    "not an object. synth reads JSON Lines (one object per line)."
                )
            records.append(record)
    else:
        parts = [spark.read.parquet(f.path).limit(per_file) for f in chosen]
        records = [r.asDict(recursive=True) for r in _union(parts).limit(rows).collect()]
    explode = _explode_column(records)
    flat = list(_flatten_records(records, explode, rows))
    columns: dict[str, None] = {}
    for record in flat:
        columns.update(dict.fromkeys(record))
    return _Sample(tuple(columns), flat, len(chosen), {}, explode)


def _explode_column(records: list[dict[str, Any]]) -> str | None:
    """The top-level field holding arrays of structs (a session's events), if any: the largest."""
    sizes: Counter[str] = Counter()
    for record in records:
        for key, value in record.items():
            if isinstance(value, list) and value and all(isinstance(e, dict) for e in value):
                sizes[key] += len(value)
    return sizes.most_common(1)[0][0] if sizes else None


def _flat(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(_flat(item, name + "."))
        else:
            out[name] = item
    return out


def _flatten_records(
    records: list[dict[str, Any]], explode: str | None, rows: int
) -> Iterator[dict[str, Any]]:
    produced = 0
    for record in records:
        if explode is None:
            elements: list[Any] = [None]
        else:
            elements = record.get(explode) or []
        outer = _flat({k: v for k, v in record.items() if k != explode})
        for element in elements:
            if produced >= rows:
                return
            inner = _flat(element, f"{explode}.") if isinstance(element, dict) else {}
            produced += 1
            yield {**outer, **inner}


def _read_sample(spark: SparkSession, files: list[InputFile], fmt: Format, rows: int) -> _Sample:
    """Read up to ``rows`` rows from the first :data:`MAX_SAMPLE_FILES` files (split evenly).

    CSV values are read as strings, with the separator sniffed from the header line; JSON Lines
    are parsed on the driver and Parquet rows keep their Python types. With nested records the
    array-of-structs field is exploded: one row per element, fields named ``<array>.<field>``.
    """
    if fmt == "csv":
        return _read_csv(spark, files, rows)
    return _read_nested(spark, files, fmt, rows)


# -- the proposal ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """A proposed ``generic`` source config, with the comments that explain each choice.

    :meth:`to_dict` is the config as ``yaml.safe_load`` reads :meth:`to_yaml` back. A value the
    inspection could not find is None, with a ``TODO`` comment in the YAML.

    Attributes:
        name: Table-safe source name (from the file name unless given).
        paths: The path given, as given.
        format: ``csv``, ``json`` or ``parquet``.
        options: Spark reader options (CSV: header, sep, the missing-value marker if any).
        explode: The array-of-structs field exploded into rows (nested JSON / Parquet).
        columns: Canonical column -> source column, ``{"constant": value}`` or None (not found).
        user_id_fallback: Source column standing in for a blank user id.
        quantity: ``{"column": ..., "negative_type": ...}`` when a quantity column exists.
        timestamp: ``{"format": ..., "timezone": ..., "offset": {...}}``.
        hashed_ids: Canonical id columns whose sampled values are not all integers.
        event_types: Source value (lower-cased) -> event type.
        event_counts: Source value (lower-cased) -> sampled rows.
        extra_weights: Extra event types -> a starting interaction weight.
        unmapped: Source columns left out of the mapping.
        comments: Comment per YAML key path (``"columns.user_id"``, ``"timestamp.format"``...).
        sampled_rows: Rows inspected.
        files: Files the sample came from.
    """

    name: str
    paths: tuple[str, ...]
    format: Format
    options: Mapping[str, str]
    explode: str | None
    columns: Mapping[str, str | Mapping[str, str] | None]
    user_id_fallback: str | None
    quantity: Mapping[str, str] | None
    timestamp: Mapping[str, Any]
    hashed_ids: tuple[str, ...]
    event_types: Mapping[str, str]
    event_counts: Mapping[str, int]
    extra_weights: Mapping[str, float]
    unmapped: tuple[str, ...]
    comments: Mapping[str, str]
    sampled_rows: int
    files: int

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data: ``{"source": {...}}``, plus ``features`` for extra types."""
        source: dict[str, Any] = {
            "kind": "generic",
            "name": self.name,
            "paths": list(self.paths),
            "format": self.format,
        }
        if self.options:
            source["options"] = dict(self.options)
        if self.explode is not None:
            source["explode"] = self.explode
        source["columns"] = {
            k: dict(v) if isinstance(v, Mapping) else v for k, v in self.columns.items()
        }
        if self.user_id_fallback is not None:
            source["user_id_fallback"] = self.user_id_fallback
        if self.quantity is not None:
            source["quantity"] = dict(self.quantity)
        source["timestamp"] = {
            k: dict(v) if isinstance(v, Mapping) else v for k, v in self.timestamp.items()
        }
        source["hashed_ids"] = list(self.hashed_ids)
        source["event_types"] = dict(self.event_types)
        out: dict[str, Any] = {"source": source}
        if self.extra_weights:
            out["features"] = {"interactions": {"weights": dict(self.extra_weights)}}
        return out

    def to_yaml(self) -> str:
        """The proposal as commented YAML (a ``source:`` block, and ``features:`` if needed)."""
        data = self.to_dict()
        source = data["source"]
        lines = [
            f"# Proposed by `synth inspect` from {_count(self.sampled_rows, 'sampled row')} "
            f"({_count(self.files, 'file')}).",
            "# Review every line (TODO marks what it could not find), then use it as the",
            "# `source:` of a job config.",
            "source:",
        ]
        say = self.comments.get
        for key in ("kind", "name", "paths", "format", "options", "explode"):
            if key in source:
                lines.append(_entry(1, key, source[key], say(key)))
        lines.append(_entry(1, "columns", None, say("columns"), block=True))
        for key, value in source["columns"].items():
            lines.append(_entry(2, key, value, say(f"columns.{key}")))
        for key in ("user_id_fallback", "quantity"):
            if key in source:
                lines.append(_entry(1, key, source[key], say(key)))
        lines.append(_entry(1, "timestamp", None, say("timestamp"), block=True))
        for key, value in source["timestamp"].items():
            lines.append(_entry(2, key, value, say(f"timestamp.{key}")))
        lines.append(_entry(1, "hashed_ids", source["hashed_ids"], say("hashed_ids")))
        if source["event_types"]:
            lines.append(_entry(1, "event_types", None, say("event_types"), block=True))
            for key, value in source["event_types"].items():
                lines.append(_entry(2, key, value, say(f"event_types.{key}")))
        else:
            lines.append(_entry(1, "event_types", {}, say("event_types")))
        if "features" in data:
            lines += ["features:", "  interactions:"]
            weights = data["features"]["interactions"]["weights"]
            lines.append(_entry(2, "weights", weights, say("weights")))
        if self.unmapped:
            lines.append(f"# unmapped: {_comment_text(', '.join(self.unmapped), 400)}")
        return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _YAML_WORDS:
        return text
    dumped = yaml.safe_dump(text, default_style='"', allow_unicode=True, width=1 << 30)
    return dumped.removesuffix("\n...\n").strip()


def _flow(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _comment_text(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _entry(indent: int, key: str, value: Any, comment: str | None, *, block: bool = False) -> str:
    """One ``key: value`` line; its comment trails it, or goes above it when that is too long."""
    pad = "  " * indent
    line = pad + f"{_scalar(key)}:" + ("" if block else f" {_flow(value)}")
    if not comment:
        return line
    text = _comment_text(comment, 400)
    if len(line) + 4 + len(text) <= _WIDTH:
        return f"{line}  # {text}"
    return "\n".join([*(f"{pad}# {t}" for t in textwrap.wrap(text, _WIDTH - len(pad) - 2)), line])


def source_name_from_path(path: str) -> str:
    """A table-safe name (``[a-z][a-z0-9_]*``, at most 63 chars) from a file, folder or glob.

    ``data/OnlineRetail_head9911.csv.gz`` -> ``online_retail_head9911``; ``shop_x/*.csv`` ->
    ``shop_x``; a name starting with a digit gets an ``src_`` prefix.
    """
    parts = [p for p in re.split(r"[/\\]", path.rstrip("/\\")) if p]
    while parts and re.search(r"[*?\[{]", parts[-1]):
        parts.pop()
    stem = parts[-1] if parts else ""
    stem = re.sub(r"^[a-z][a-z0-9+.-]*:", "", stem)  # a bare URI authority (s3a:, dbfs:)
    lowered = stem.lower()
    for _ in range(2):  # e.g. .csv.gz: the compression, then the format
        for ext in (*COMPRESSION_EXTENSIONS, *_all_extensions()):
            if lowered.endswith(ext):
                stem, lowered = stem[: -len(ext)], lowered[: -len(ext)]
                break
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", stem)
    name = re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")
    if not name:
        return "source"
    if not name[0].isalpha():
        name = f"src_{name}"
    return name[:63].rstrip("_")


def _event_type_name(value: str) -> str:
    """The canonical type a source value means, else a table-safe name of its own."""
    key = _normalise(value)
    for canonical, spellings in EVENT_SYNONYMS.items():
        if key in spellings:
            return canonical
    name = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"type_{name}" if name else "type_blank"
    return name[:63]


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _pct(share: float) -> str:
    if 0 < share < 0.001:
        return "<0.1%"
    if 0.999 < share < 1:
        return ">99.9%"
    return f"{share:.1%}".replace(".0%", "%")


class _Mapper:
    """Matches sampled columns to canonical roles, and collects the comments on the way."""

    def __init__(self, spark: SparkSession, sample: _Sample) -> None:
        self.spark = spark
        self.sample = sample
        self.profiles = {c: _Profile.of(c, [r.get(c) for r in sample.rows]) for c in sample.columns}
        self.used: set[str] = set()
        self.say: dict[str, str] = {}  # comment per YAML key path

    def candidates(self, role: _Role) -> list[str]:
        """The unused, non-nested columns whose name fits ``role``, best first."""
        ranked = [
            (rank, i, c)
            for i, c in enumerate(self.sample.columns)
            if c not in self.used
            and not self.profiles[c].nested
            and (rank := role.rank(c)) is not None
        ]
        return [c for _, _, c in sorted(ranked)]

    def take(self, role: _Role) -> str | None:
        """Claim the best column for ``role``, if any."""
        found = self.candidates(role)
        if found:
            self.used.add(found[0])
            return found[0]
        return None

    def time_column(self) -> tuple[str | None, FormatSearch]:
        """Claim the time column; return it with the format search over its values.

        That is the first time-named column most of whose values parse, else the first named.
        """
        tried: list[tuple[str, FormatSearch]] = []
        for column in self.candidates(_TIME):
            values = [_text(v) for v in self.profiles[column].values]
            tried.append((column, search_timestamp_formats(self.spark, values)))
            if max(tried[-1][1].shares().values()) >= 0.5:
                break
        if not tried:
            return None, FormatSearch(0, ())
        column, search = tried[-1] if max(tried[-1][1].shares().values()) >= 0.5 else tried[0]
        self.used.add(column)
        return column, search


def propose_source(
    spark: SparkSession,
    path: str,
    *,
    fmt: Format | None = None,
    sample_rows: int = 10_000,
    name: str | None = None,
) -> Proposal:
    """Read a sample of an event log and propose a ``generic`` source config for it.

    Columns are recognised by name (case-insensitive: ``ts``, ``InvoiceDate``, ``aid``,
    ``CustomerID``, ``session_id`` ...), then refined by their sampled values: the time format
    (:func:`timestamp_format_shares`), string ids to hash, a user column with many blanks next to
    a session column (``user_id_fallback``), negative quantities (``negative_type: return``),
    date-only times next to a millisecond offset column, and the event vocabulary, each value
    mapped through :data:`EVENT_SYNONYMS` or proposed as an extra type of its own.

    Reads the first rows of the first files only (:data:`MAX_SAMPLE_FILES`): a few small Spark
    jobs, no writes. Deterministic for the same input.

    Args:
        spark: The session to read with.
        path: A file, a folder or a glob, local or a Hadoop URI (compressed files are fine).
        fmt: ``csv``, ``json`` or ``parquet``; default: from the file extensions, else sniffed.
        sample_rows: Rows to inspect (after exploding nested sessions).
        name: The source name; default: from the file name.

    Returns:
        The proposal (:meth:`Proposal.to_yaml` prints it).

    Raises:
        InputError: The path does not exist, holds no files, or its sample holds no rows.
        ConfigError: ``sample_rows`` is not positive, or ``fmt`` / ``name`` is not allowed.
        InvalidDataError: A sampled JSON line is not a JSON object.
    """
    if sample_rows < 1:
        raise ConfigError(f"sample_rows={sample_rows}: give at least 1 row to inspect")
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"fmt={fmt!r}: allowed formats are {list(FORMATS)}")
    if name is not None and not _NAME.match(name):
        raise ConfigError(
            f"name={name!r}: lower-case letters, digits and '_', starting with a letter"
        )
    found, files, how = _choose_files(spark, path, fmt)
    sample = _read_sample(spark, files, found, sample_rows)
    if not sample.rows:
        raise InputError(f"{path}: the sampled files hold no rows - nothing to inspect")
    log.info(
        "inspect: %d rows from %d file(s) of %s (%s)", len(sample.rows), sample.files, path, found
    )
    m = _Mapper(spark, sample)
    m.say["format"] = how
    return _propose(m, path, found, name or source_name_from_path(path))


def _propose(m: _Mapper, path: str, fmt: Format, name: str) -> Proposal:
    sample, say = m.sample, m.say
    time_col, search = m.time_column()
    type_col = m.take(_TYPE)
    product_col = m.take(_PRODUCT)
    user_col = m.take(_USER)
    session_col = m.take(_SESSION)
    quantity_col = m.take(_QUANTITY)
    say["columns"] = "canonical column -> source column"
    columns: dict[str, str | Mapping[str, str] | None] = {EVENT_TIME: time_col}
    if time_col is None:
        say[f"columns.{EVENT_TIME}"] = "TODO: no column looks like an event time; name one"
    invoice_like = quantity_col is not None or "invoice" in (session_col or "").lower()
    columns[EVENT_TYPE], vocabulary, counts, extra = _event_types(m, type_col, invoice_like)
    columns[PRODUCT_ID] = product_col
    if product_col is None:
        say[f"columns.{PRODUCT_ID}"] = "TODO: no column looks like a product id; name one"
    columns[USER_ID], fallback = _user(m, user_col, session_col)
    if session_col is not None:
        columns[USER_SESSION] = session_col
    else:
        say["columns"] += " (no session column: cleaning rebuilds sessions from a 30-minute gap)"
    columns.update(_optional_columns(m))
    quantity = _quantity(m, quantity_col, extra)
    timestamp = _timestamp(m, time_col, search)
    hashed = _hashed_ids(m, columns, fallback)
    if extra:
        say["weights"] = "the extra event types, with a starting weight: adjust them"
    if NEGATIVE_QUANTITY_TYPE in extra:
        say["weights"] += f" (negative for {NEGATIVE_QUANTITY_TYPE}: it takes back a purchase)"
    options = dict(sample.options)
    if fmt == "csv":
        say["options"] = f"sep {options['sep']!r} sniffed from the header line"
        tokens = sum((m.profiles[c].blank_tokens for c in m.used), Counter[str]())
        if tokens:
            marker, n = tokens.most_common(1)[0]
            options["nullValue"] = marker
            say["options"] += f"; {marker!r} marks a missing value ({n:,} sampled cells)"
    if sample.explode is not None:
        say["explode"] = (
            f"an array of structs (a session's events): one row per element, its fields named "
            f"{sample.explode}.<field>"
        )
    order = (
        EVENT_TIME,
        EVENT_TYPE,
        PRODUCT_ID,
        USER_ID,
        USER_SESSION,
        CATEGORY_ID,
        CATEGORY_CODE,
        BRAND,
        PRICE,
    )
    return Proposal(
        name=name,
        paths=(path,),
        format=fmt,
        options=options,
        explode=sample.explode,
        columns={k: columns[k] for k in order if k in columns},
        user_id_fallback=fallback,
        quantity=quantity,
        timestamp=timestamp,
        hashed_ids=hashed,
        event_types=vocabulary,
        event_counts=counts,
        extra_weights=extra,
        unmapped=tuple(c for c in sample.columns if c not in m.used),
        comments=dict(say),
        sampled_rows=len(sample.rows),
        files=sample.files,
    )


def _event_types(
    m: _Mapper, type_col: str | None, invoice_like: bool
) -> tuple[str | dict[str, str], dict[str, str], dict[str, int], dict[str, float]]:
    """The event_type mapping, the vocabulary, sampled counts and extra types with weights."""
    say = m.say
    if type_col is None:
        constant = "purchase" if invoice_like else "view"
        why = "an invoice line is a purchase" if invoice_like else "every row is a view"
        say[f"columns.{EVENT_TYPE}"] = f"no column looks like an event type: {why}"
        say["event_types"] = "the constant event type"
        return {"constant": constant}, {constant: constant}, {}, {}
    profile = m.profiles[type_col]
    seen = Counter(_text(v).lower() for v in profile.values)
    vocabulary: dict[str, str] = {}
    counts: dict[str, int] = {}
    extra: dict[str, float] = {}
    for value, n in seen.most_common(MAX_EVENT_TYPES):
        target = _event_type_name(value)
        vocabulary[value], counts[value] = target, n
        say[f"event_types.{value}"] = _count(n, "row")
        if target not in EVENT_SYNONYMS:
            extra[target] = EXTRA_TYPE_WEIGHT
            say[f"event_types.{value}"] += "; not a canonical type: declared in features below"
    say[f"columns.{EVENT_TYPE}"] = f"{len(seen):,} distinct values in the sample"
    notes = ["sampled value (lower-cased) -> event type"]
    if len(seen) > MAX_EVENT_TYPES:
        notes.append(f"the {MAX_EVENT_TYPES} most frequent of {len(seen):,} values")
    if profile.blank_share:
        notes.append(f"{_pct(profile.blank_share)} of rows are blank (quarantined)")
    notes.append("values not listed are quarantined as unknown_event_type")
    say["event_types"] = "; ".join(notes)
    return type_col, vocabulary, counts, extra


def _user(
    m: _Mapper, user_col: str | None, session_col: str | None
) -> tuple[str | None, str | None]:
    """The user_id column (the session's when there is no user column) and the fallback."""
    say = m.say
    if user_col is None and session_col is not None:
        say[f"columns.{USER_ID}"] = f"no user column: each {session_col} is a user"
        return session_col, None
    if user_col is None:
        say[f"columns.{USER_ID}"] = "TODO: no column looks like a user id; name one"
        return None, None
    blank = m.profiles[user_col].blank_share
    if blank >= FALLBACK_BLANK_SHARE and session_col is not None:
        say["user_id_fallback"] = (
            f"{_pct(blank)} of sampled {user_col} values are blank: such a row's user is its "
            f"{session_col} (hashed from '~<value>', so never a real user's id)"
        )
        return user_col, session_col
    if blank:
        hint = f" (or set user_id_fallback: {session_col})" if session_col else ""
        say[f"columns.{USER_ID}"] = (
            f"{_pct(blank)} of sampled values are blank: quarantined as bad_user_id{hint}"
        )
    return user_col, None


def _optional_columns(m: _Mapper) -> dict[str, str]:
    """category_id / category_code (by name, then integers or dotted strings), brand, price."""
    out: dict[str, str] = {}
    for column in m.candidates(_CATEGORY):
        profile = m.profiles[column]
        named_code = _normalise(column.rsplit(".", 1)[-1]) in _CATEGORY_CODE_NAMES
        dotted = sum("." in _text(v) and number(v) is None for v in profile.values)
        is_code = named_code or (not profile.all_integers and 2 * dotted >= len(profile.values))
        target = CATEGORY_CODE if is_code else CATEGORY_ID
        if target not in out:
            out[target] = column
            m.used.add(column)
    if (brand := m.take(_BRAND)) is not None:
        out[BRAND] = brand
    if (price := m.take(_PRICE)) is not None:
        out[PRICE] = price
        share = m.profiles[price].numeric_share
        if share < 1:
            m.say[f"columns.{PRICE}"] = f"only {_pct(share)} of sampled values are numbers"
    return out


def _quantity(m: _Mapper, column: str | None, extra: dict[str, float]) -> dict[str, str] | None:
    """The quantity spec; a negative sampled quantity adds the ``return`` type to ``extra``."""
    if column is None:
        return None
    profile = m.profiles[column]
    if not profile.negatives:
        m.say["quantity"] = "units per event"
        return {"column": column}
    extra[NEGATIVE_QUANTITY_TYPE] = RETURN_WEIGHT
    m.say["quantity"] = (
        f"{profile.negatives:,} of {len(profile.values):,} sampled quantities are negative "
        f"(cancellations, returns): such rows become {NEGATIVE_QUANTITY_TYPE!r} events of "
        "|quantity| units"
    )
    return {"column": column, "negative_type": NEGATIVE_QUANTITY_TYPE}


def _timestamp(m: _Mapper, time_col: str | None, search: FormatSearch) -> dict[str, Any]:
    """The timestamp spec: the best format, the zone, and a time offset for date-only times."""
    say = m.say
    out: dict[str, Any] = {"format": None, "timezone": "UTC"}
    if time_col is None:
        say["timestamp.format"] = "TODO: name the event time column, then its format"
        return out
    profile = m.profiles[time_col]
    best, shares = search.best(), search.shares()
    if best is None:
        say["timestamp.format"] = (
            f"TODO: no candidate format parses {time_col} (e.g. {profile.example()!r}); give "
            "a Spark datetime pattern"
        )
        return out
    out["format"] = best
    note = f"parses {_pct(shares[best])} of sampled {time_col} values"
    if best in EPOCH_RANGES:
        fractions = any("." in _text(v) for v in profile.values)
        note += " (by magnitude" + (", with fractions of a second)" if fractions else ")")
    twins = [f for f in TIMESTAMP_PATTERNS if f != best and shares[f] == shares[best]]
    if best in TIMESTAMP_PATTERNS and twins:
        note += f"; so does {twins[0]!r}: check the day / month order"
    rest = search.rest(best)
    if rest is not None:
        note += (
            f"; {rest[0]!r} parses {_pct(rest[1])} more (format: [{best}, {rest[0]!r}] tries both)"
        )
    if best in EPOCH_RANGES:
        say["timestamp.timezone"] = "epochs are UTC instants"
    elif all(isinstance(v, dt.datetime) for v in profile.values):
        # A typed timestamp reaches bronze as text in the session's zone: parse it in that zone.
        out["timezone"] = m.spark.conf.get("spark.sql.session.timeZone") or "UTC"
        say["timestamp.timezone"] = "typed timestamps: the Spark session's zone they are read in"
    elif any(_ZONED.search(_text(v)) for v in profile.values):
        say["timestamp.timezone"] = "for times without a zone (the sampled ones carry theirs)"
    else:
        say["timestamp.timezone"] = "the sampled times carry no zone: set the shop's zone"
    offset = next((c for c in m.candidates(_OFFSET) if m.profiles[c].all_integers), None)
    if profile.date_only and offset is not None:
        m.used.add(offset)
        out["offset"] = {"column": offset, "unit": "ms"}
        say["timestamp.offset"] = (
            f"{time_col} holds dates only: time = date + {offset} milliseconds (the order "
            "within a session is real, the time of day is not)"
        )
    elif profile.date_only:
        note += "; dates only, no time of day"
    say["timestamp.format"] = note
    return out


def _hashed_ids(
    m: _Mapper, columns: Mapping[str, str | Mapping[str, str] | None], fallback: str | None
) -> tuple[str, ...]:
    """The canonical id columns to hash: string ids (SKUs, UUIDs), and user_id for a fallback."""
    hashed: list[str] = []
    reasons: list[str] = []
    for canonical in (PRODUCT_ID, USER_ID, CATEGORY_ID):
        source = columns.get(canonical)
        if not isinstance(source, str):
            continue
        sources = [source, fallback] if canonical == USER_ID and fallback else [source]
        strings = [s for s in sources if not m.profiles[s].all_integers]
        for s in strings:
            example = m.profiles[s].example(lambda v: not _is_integer(v))
            reasons.append(f"{canonical}: {s} holds strings (e.g. {example})")
        if canonical == USER_ID and fallback and not strings:
            reasons.append(f"{canonical}: user_id_fallback needs it")
        if strings or (canonical == USER_ID and fallback):
            hashed.append(canonical)
    if reasons:
        m.say["hashed_ids"] = "; ".join(reasons)
    elif any(isinstance(columns.get(c), str) for c in (PRODUCT_ID, USER_ID, CATEGORY_ID)):
        m.say["hashed_ids"] = "every sampled id is an integer"
    return tuple(hashed)


def inspect_source(
    path: str,
    *,
    fmt: Format | None = None,
    sample_rows: int = 10_000,
    name: str | None = None,
    spark_profile: str = "local",
) -> Proposal:
    """Entry point of ``synth inspect`` and the walkthrough notebook: :func:`propose_source`.

    Uses the active session (a notebook's, a test's) and builds one from ``spark_profile``
    only when there is none, as :func:`synth.notebook.run_stages` does.
    """
    active = SparkSession.getActiveSession()
    spark = active or build_session(spark_profile, app_name="synth-inspect")
    return propose_source(spark, path, fmt=fmt, sample_rows=sample_rows, name=name)


__all__ = [
    "EVENT_SYNONYMS",
    "TIMESTAMP_CANDIDATES",
    "Proposal",
    "best_timestamp_format",
    "inspect_source",
    "propose_source",
    "sniff_separator",
    "source_name_from_path",
    "FormatSearch",
    "search_timestamp_formats",
    "timestamp_format_shares",
]
