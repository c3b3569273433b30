"""A learned model of a user's event sequence, conditioned on the user's profile (a GRU).

What is modelled. A user's train events in time order; each event is three tokens:

* its **gap class**: whether the event opens a new session, and the seconds since the previous
  event in one of :data:`GAP_EDGES_S`'s log-spaced bins (the first event has none);
* its **event type** (the types seen in training, canonical funnel order first);
* its **item**, factorised as category then item within the category: a softmax over the
  categories (``category_id``), then one over that category's items. The category and price of
  an event follow from its item (the catalog).

A GRU reads the previous event's tokens (item embeddings, initialised from the gold text
embeddings when the catalog has them) plus a projection of the user's profile (the gold profile
row, encoded by the same :class:`~synth.models.encoding.TableEncoder` the profile models use),
which also sets its initial state. Heads predict, in order, the gap class, the type (given the
gap), the category (given the type) and the item (given type and category).

Scaling to real catalogs (10^5+ items). Training never computes a full item softmax: the item
loss is a sampled softmax over the target and ``negatives`` items drawn from the target's
category by popularity, with the log-proposal correction (a consistent estimate of the
within-category softmax). Sampling draws ``candidates`` items of the chosen category by
popularity and picks one with probability proportional to ``exp(logit) / proposal``
(sampling-importance-resampling; exact when the category has at most ``candidates`` items, all
of which are then scored).

Fallbacks (never a crash): an item of a prefix that the model's vocabulary lacks is read as the
"unknown item" token (its own embedding, never generated); a prefix event type the model never
saw is read as a view. Generated items always come from the vocabulary.

Determinism. Every draw of :meth:`EventSequenceModel.sample_events` is a counter-based hash of
(seed, purpose, user id, step[, candidate]) (:func:`synth.stats.hashing.hash_uniform`), so a
user's events depend on the seed, its own inputs and the weights; a caller that runs users in
fixed blocks (as :mod:`synth.generate.learned` does) gets the same events on any partitioning.

Row layout of the training cache (one float32 vector per user, so the Petastorm cache and every
training backend of :mod:`synth.train` carry it unchanged): the profile encoding, then the
event count ``n`` (capped at ``max_len``: a longer sequence keeps its first ``max_len`` events),
then ``max_len`` types, ``max_len`` items and ``max_len`` gap classes (padding: 0).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as nnf

from synth.errors import InvalidDataError, NotFittedError
from synth.models.base import EpochLog, TrainableModel, TrainConfig
from synth.models.encoding import Span
from synth.schema import COUNT_COLUMNS, EVENT_TYPES, OTHER_EVENTS
from synth.stats.hashing import hash_uniform

log = logging.getLogger(__name__)

__all__ = [
    "GAP_EDGES_S",
    "N_GAP",
    "EventSequenceModel",
    "SampledSequences",
    "SequenceVocabulary",
    "gap_class",
    "gap_seconds",
]

# Gap bins (seconds): bin b holds [edge b, edge b+1); the last bin is [30 days, 90 days].
GAP_EDGES_S: tuple[float, ...] = (
    0.0,
    1.0,
    3.0,
    10.0,
    30.0,
    60.0,
    180.0,
    600.0,
    1_800.0,
    3_600.0,
    4 * 3_600.0,
    86_400.0,
    3 * 86_400.0,
    7 * 86_400.0,
    30 * 86_400.0,
    90 * 86_400.0,
)
N_BINS = len(GAP_EDGES_S) - 1
N_GAP = 2 * N_BINS  # class = new_session * N_BINS + bin
_EDGES = np.asarray(GAP_EDGES_S)

# Purposes of the sampling draws (never renumber: that changes every generated data set).
_P_GAP, _P_TYPE, _P_CATEGORY, _P_CANDIDATE, _P_PICK, _P_GAP_VALUE = 21, 22, 23, 24, 25, 26
_TYPE_DIM = _GAP_DIM = 16


def gap_class(gap_s: np.ndarray, new_session: np.ndarray) -> np.ndarray:
    """The gap class of events: ``new_session * N_BINS + bin(gap_s)`` (int64)."""
    b = np.clip(
        np.searchsorted(_EDGES, np.asarray(gap_s, np.float64), side="right") - 1, 0, N_BINS - 1
    )
    return np.asarray(new_session, dtype=np.int64) * N_BINS + b


def gap_seconds(classes: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Whole seconds (int64, floor) for gap classes, given uniform draws ``u``.

    Uniform in the first bin ([0, 1) s), log-uniform in the others.
    """
    b = np.asarray(classes, dtype=np.int64) % N_BINS
    lo, hi = _EDGES[b], _EDGES[b + 1]
    log_lo = np.log(np.maximum(lo, 1.0))
    value = np.where(b == 0, u * hi, np.exp(log_lo + u * (np.log(hi) - log_lo)))
    return np.floor(value).astype(np.int64)


@dataclass(frozen=True, eq=False)
class SequenceVocabulary:
    """The items and event types a sequence model knows.

    Attributes:
        product_id: Product ids, ordered by category index then product id (int64).
        category: Category index of each item (int64, ascending).
        category_id: The ``category_id`` of each category index (int64, ascending).
        popularity: Each item's draw weight, ``n_events + 1`` (float64).
        event_types: Event type names, canonical funnel order first, then extra types sorted.
        text: Optional item text embeddings (float32, one row per item) for initialisation.
    """

    product_id: np.ndarray
    category: np.ndarray
    category_id: np.ndarray
    popularity: np.ndarray
    event_types: tuple[str, ...]
    text: np.ndarray | None = None

    @classmethod
    def build(
        cls, items: pd.DataFrame, event_types: Sequence[str], *, text_column: str | None = None
    ) -> SequenceVocabulary:
        """From gold item profiles (product_id, category_id, n_events[, text embeddings]).

        Raises:
            InvalidDataError: No items, a column missing, a null or repeated product id, or no
                event type.
        """
        need = ["product_id", "category_id", "n_events", *([text_column] if text_column else [])]
        missing = [c for c in need if c not in items.columns]
        if missing:
            raise InvalidDataError(f"item profiles lack column(s) {missing} (gold item_profiles)")
        if len(items) == 0:
            raise InvalidDataError("the item catalog is empty: a sequence model needs items")
        if items["product_id"].isna().any():
            raise InvalidDataError("item profiles: column product_id has nulls")
        if items["product_id"].duplicated().any():
            dup = int(items.loc[items["product_id"].duplicated(), "product_id"].iloc[0])
            raise InvalidDataError(f"item profiles: product {dup} appears twice; one row per item")
        if not event_types:
            raise InvalidDataError("no event types: the training sequences hold no events")
        cat_id = items["category_id"].fillna(-1).to_numpy(np.int64)
        pid = items["product_id"].to_numpy(np.int64)
        order = np.lexsort((pid, cat_id))
        category_id, category = np.unique(cat_id[order], return_inverse=True)
        text = None
        if text_column is not None:
            rows = items[text_column].to_numpy(dtype=object)[order]
            if all(v is not None and len(v) for v in rows):
                text = np.stack([np.asarray(v, dtype=np.float32) for v in rows])
        canonical = [t for t in EVENT_TYPES if t in set(event_types)]
        extra = sorted(set(event_types) - set(EVENT_TYPES))
        return cls(
            product_id=pid[order],
            category=category.astype(np.int64),
            category_id=category_id.astype(np.int64),
            popularity=items["n_events"].fillna(0).to_numpy(np.float64)[order] + 1.0,
            event_types=(*canonical, *extra),
            text=text,
        )

    @property
    def n_items(self) -> int:
        """Items in the vocabulary."""
        return len(self.product_id)

    @cached_property
    def _sorter(self) -> np.ndarray:
        return np.argsort(self.product_id, kind="stable")

    def item_index(self, product_id: np.ndarray) -> np.ndarray:
        """Vocabulary index of each product id; ``n_items + 1`` (unknown item) when absent."""
        sorter = self._sorter
        pid = np.asarray(product_id, dtype=np.int64)
        pos = np.clip(np.searchsorted(self.product_id, pid, sorter=sorter), 0, self.n_items - 1)
        found = sorter[pos]
        return np.where(self.product_id[found] == pid, found, self.n_items + 1)

    def tokens(
        self, frame: pd.DataFrame
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Type, item and gap-class indices of gold ``user_sequences`` rows (one array each)."""
        lengths = frame["event_types"].map(len).to_numpy(dtype=np.int64)
        cuts = np.cumsum(lengths)[:-1]

        def flat(column: str, dtype: type) -> np.ndarray:
            values = frame[column].to_numpy(dtype=object)
            if not len(values):
                return np.zeros(0, dtype=dtype)
            return np.concatenate([np.asarray(v, dtype=dtype) for v in values])

        types = np.split(self.type_index(flat("event_types", object)), cuts)
        items = np.split(self.item_index(flat("product_ids", np.int64)), cuts)
        gaps = np.split(gap_class(flat("gaps_s", np.float64), flat("new_session", bool)), cuts)
        return types, items, gaps

    def type_index(self, names: np.ndarray) -> np.ndarray:
        """Index of each event type name; an unknown name reads as the first type (a view)."""
        lookup = pd.Index(self.event_types).get_indexer(pd.Index(np.asarray(names, dtype=object)))
        return np.where(lookup < 0, 0, lookup).astype(np.int64)


def encode_sequence_rows(
    profiles: np.ndarray,
    types: Sequence[np.ndarray],
    items: Sequence[np.ndarray],
    gaps: Sequence[np.ndarray],
    *,
    max_len: int,
) -> np.ndarray:
    """Training rows (see the module docstring): profile encoding, count, three token blocks."""
    n, w = profiles.shape
    out = np.zeros((n, w + 1 + 3 * max_len), dtype=np.float32)
    out[:, :w] = profiles
    for i, (t, it, g) in enumerate(zip(types, items, gaps, strict=True)):
        k = min(len(t), max_len)
        out[i, w] = k
        out[i, w + 1 : w + 1 + k] = t[:k]
        out[i, w + 1 + max_len : w + 1 + max_len + k] = it[:k]
        out[i, w + 1 + 2 * max_len : w + 1 + 2 * max_len + k] = g[:k]
    return out


def type_groups(event_types: Sequence[str]) -> np.ndarray:
    """For each event type, the index of its profile count column (``n_view`` ... ``n_other``)."""
    keys = [*EVENT_TYPES, OTHER_EVENTS]
    return np.array(
        [keys.index(t) if t in EVENT_TYPES else keys.index(OTHER_EVENTS) for t in event_types],
        dtype=np.int64,
    )


assert len(COUNT_COLUMNS) == len(EVENT_TYPES) + 1  # n_<type> for each canonical type, n_other


@dataclass(frozen=True)
class SampledSequences:
    """Events drawn by :meth:`EventSequenceModel.sample_events`, one entry per event.

    Ordered by row then step. ``row`` is the input row (user) of the event, ``step`` its
    position in the user's sequence (prefix events included, and not returned), ``gap_class``
    -1 for a user's first event.
    """

    row: np.ndarray
    step: np.ndarray
    event_type: np.ndarray
    item: np.ndarray
    gap_class: np.ndarray


class _Net(nn.Module):
    product_id: torch.Tensor
    item_category: torch.Tensor
    category_start: torch.Tensor
    category_id: torch.Tensor
    cum_popularity: torch.Tensor
    type_group: torch.Tensor

    def __init__(
        self,
        profile_width: int,
        n_types: int,
        n_items: int,
        n_categories: int,
        *,
        hidden: int,
        item_dim: int,
        layers: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.layers, self.hidden = layers, hidden
        self.register_buffer("product_id", torch.zeros(n_items, dtype=torch.long))
        self.register_buffer("item_category", torch.zeros(n_items, dtype=torch.long))
        self.register_buffer("category_start", torch.zeros(n_categories + 1, dtype=torch.long))
        self.register_buffer("category_id", torch.zeros(n_categories, dtype=torch.long))
        self.register_buffer("cum_popularity", torch.zeros(n_items + 1, dtype=torch.float64))
        self.register_buffer("type_group", torch.zeros(n_types, dtype=torch.long))
        self.profile = nn.Sequential(nn.Linear(max(profile_width, 1), hidden), nn.Tanh())
        self.type_emb = nn.Embedding(n_types + 1, _TYPE_DIM)  # + BOS
        self.gap_emb = nn.Embedding(N_GAP + 1, _GAP_DIM)  # + "first event"
        self.item_in = nn.Embedding(n_items + 2, item_dim)  # + BOS + unknown item
        self.inp = nn.Linear(_TYPE_DIM + item_dim + _GAP_DIM + hidden, hidden)
        self.gru = nn.GRU(
            hidden,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0,
        )
        self.h0 = nn.Linear(hidden, layers * hidden)
        self.gap_head = nn.Linear(hidden, N_GAP)
        self.type_head = nn.Linear(hidden + _GAP_DIM, n_types)
        self.category_head = nn.Linear(hidden + _TYPE_DIM, n_categories)
        self.query = nn.Linear(hidden + _TYPE_DIM, item_dim)
        self.category_emb = nn.Embedding(n_categories, item_dim)
        self.item_out = nn.Embedding(n_items, item_dim)
        self.item_bias = nn.Embedding(n_items, 1)
        nn.init.zeros_(self.item_bias.weight)

    def start(self, profile: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Profile context (B, H) and the GRU's initial state (layers, B, H)."""
        ctx = self.profile(profile)
        h0 = torch.tanh(self.h0(ctx)).view(len(ctx), self.layers, self.hidden)
        return ctx, h0.transpose(0, 1).contiguous()

    def step_input(
        self, ctx: torch.Tensor, types: torch.Tensor, items: torch.Tensor, gaps: torch.Tensor
    ) -> torch.Tensor:
        """GRU inputs from the previous events' tokens (B, L) and the context (B, H)."""
        length = types.shape[1]
        parts = [
            self.type_emb(types),
            self.item_in(items),
            self.gap_emb(gaps),
            ctx[:, None, :].expand(-1, length, -1),
        ]
        return torch.relu(self.inp(torch.cat(parts, dim=-1)))

    def item_logits(
        self, out: torch.Tensor, types: torch.Tensor, categories: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """Logits of candidate ``items`` (P, K) for positions with hidden ``out`` (P, H)."""
        q = self.query(torch.cat([out, self.type_emb(types)], -1)) + self.category_emb(categories)
        return (q[:, None, :] * self.item_out(items)).sum(-1) + self.item_bias(items)[..., 0]


class EventSequenceModel(TrainableModel):
    """Autoregressive model of a user's events given the profile (see the module docstring).

    Args:
        train: Training settings (epochs, batch size in users, learning rate, seed, device).
        max_len: Events per user the model is trained on (the first ones).
        hidden: GRU width.
        item_dim: Item embedding width.
        layers: GRU layers.
        negatives: Sampled items per position in the item loss.
        candidates: Items scored per sampled event (sampling-importance-resampling).
        dropout: Dropout between GRU layers.
        vocabulary: The items and types (required to train; a loaded model reads them back).
    """

    name = "sequence"

    def __init__(
        self,
        train: TrainConfig | None = None,
        *,
        max_len: int = 64,
        hidden: int = 128,
        item_dim: int = 32,
        layers: int = 1,
        negatives: int = 64,
        candidates: int = 64,
        dropout: float = 0.0,
        vocabulary: SequenceVocabulary | None = None,
        n_items: int | None = None,
        n_categories: int | None = None,
        event_types: Sequence[str] | None = None,
    ) -> None:
        super().__init__(train)
        if min(max_len, hidden, item_dim, layers, negatives, candidates) < 1:
            raise ValueError(
                "EventSequenceModel: max_len, hidden, item_dim, layers, negatives and candidates "
                "must be >= 1"
            )
        self.max_len, self.hidden, self.item_dim, self.layers = max_len, hidden, item_dim, layers
        self.negatives, self.candidates, self.dropout = negatives, candidates, dropout
        self.vocabulary = vocabulary
        if vocabulary is not None:
            n_items, n_categories = vocabulary.n_items, len(vocabulary.category_id)
            event_types = vocabulary.event_types
        if n_items is None or n_categories is None or not event_types:
            raise ValueError("EventSequenceModel: pass a vocabulary (or its sizes when loading)")
        self.n_items, self.n_categories = int(n_items), int(n_categories)
        self.event_types = tuple(event_types)
        self.profile_width = 0

    # -- TrainableModel ----------------------------------------------------------------------------
    @property
    def row_width(self) -> int:
        """Width of a training row (profile encoding, count, three token blocks)."""
        return self.profile_width + 1 + 3 * self.max_len

    def _build(self, width: int, spans: list[Span]) -> None:
        torch.manual_seed(self.train.seed)
        self.profile_width = width
        self.net = _Net(
            width,
            len(self.event_types),
            self.n_items,
            self.n_categories,
            hidden=self.hidden,
            item_dim=self.item_dim,
            layers=self.layers,
            dropout=self.dropout,
        )
        if self.vocabulary is not None:
            self._load_vocabulary(self.vocabulary)
        self.net.to(self.device)
        adam = torch.optim.Adam(
            self.net.parameters(), lr=self.train.lr, weight_decay=self.train.weight_decay
        )
        self.optimizers = {"sequence": adam}

    def _load_vocabulary(self, vocab: SequenceVocabulary) -> None:
        net = self.net
        net.product_id.copy_(torch.from_numpy(vocab.product_id))
        net.item_category.copy_(torch.from_numpy(vocab.category))
        counts = np.bincount(vocab.category, minlength=len(vocab.category_id))
        net.category_start.copy_(torch.from_numpy(np.concatenate([[0], np.cumsum(counts)])))
        net.category_id.copy_(torch.from_numpy(vocab.category_id))
        net.cum_popularity.copy_(
            torch.from_numpy(np.concatenate([[0.0], np.cumsum(vocab.popularity)]))
        )
        net.type_group.copy_(torch.from_numpy(type_groups(vocab.event_types)))
        if vocab.text is not None and len(vocab.text):
            # a seeded random projection of the text embeddings, scaled like nn.Embedding's init
            gen = torch.Generator().manual_seed(self.train.seed)
            text = torch.from_numpy(vocab.text.astype(np.float32))
            proj = torch.randn(text.shape[1], self.item_dim, generator=gen) / math.sqrt(
                text.shape[1]
            )
            init = text @ proj
            init = init / init.std().clamp_min(1e-6)
            with torch.no_grad():
                net.item_in.weight[: self.n_items] = init
                net.item_out.weight.copy_(init * 0.1)

    def _modules(self) -> dict[str, nn.Module]:
        return {"sequence": self.net}

    def _optimized(self) -> dict[str, list[str]]:
        return {"sequence": ["sequence"]}

    def _config(self) -> dict[str, Any]:
        return {
            "max_len": self.max_len,
            "hidden": self.hidden,
            "item_dim": self.item_dim,
            "layers": self.layers,
            "negatives": self.negatives,
            "candidates": self.candidates,
            "dropout": self.dropout,
            "n_items": self.n_items,
            "n_categories": self.n_categories,
            "event_types": list(self.event_types),
        }

    @classmethod
    def _from_config(cls, config: dict[str, Any], train: TrainConfig) -> EventSequenceModel:
        return cls(
            train,
            max_len=int(config["max_len"]),
            hidden=int(config["hidden"]),
            item_dim=int(config["item_dim"]),
            layers=int(config["layers"]),
            negatives=int(config["negatives"]),
            candidates=int(config["candidates"]),
            dropout=float(config["dropout"]),
            n_items=int(config["n_items"]),
            n_categories=int(config["n_categories"]),
            event_types=tuple(config["event_types"]),
        )

    # -- the vocabulary as the saved tensors hold it -----------------------------------------------
    @property
    def product_ids(self) -> np.ndarray:
        """The vocabulary's product ids (index order)."""
        return self.net.product_id.cpu().numpy()

    def vocabulary_view(self) -> SequenceVocabulary:
        """The vocabulary read back from the model's tensors (text init not kept)."""
        net = self.net
        cum = net.cum_popularity.cpu().numpy()
        return SequenceVocabulary(
            product_id=net.product_id.cpu().numpy(),
            category=net.item_category.cpu().numpy(),
            category_id=net.category_id.cpu().numpy(),
            popularity=np.diff(cum),
            event_types=self.event_types,
        )

    # -- rows --------------------------------------------------------------------------------------
    def encode_rows(
        self,
        profiles: np.ndarray,
        types: Sequence[np.ndarray],
        items: Sequence[np.ndarray],
        gaps: Sequence[np.ndarray],
    ) -> np.ndarray:
        """Training rows (float32) from encoded profiles and per-user token arrays (indices)."""
        return encode_sequence_rows(profiles, types, items, gaps, max_len=self.max_len)

    def _split(
        self, data: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        w, length = self.profile_width, self.max_len
        if data.shape[1] != self.row_width:
            raise InvalidDataError(
                f"sequence rows have width {data.shape[1]}, the model expects {self.row_width} "
                f"(profile {w} + 1 + 3 x max_len {length}): the cache was written for another "
                "model configuration"
            )
        block = data[:, w:].round().long()
        return (
            data[:, :w],
            block[:, 0],
            block[:, 1 : 1 + length],
            block[:, 1 + length : 1 + 2 * length],
            block[:, 1 + 2 * length :],
        )

    # -- training ----------------------------------------------------------------------------------
    def _losses(self, data: torch.Tensor, rng: torch.Generator) -> dict[str, torch.Tensor]:
        net = self.net
        profile, n, types, items, gaps = self._split(data)
        # the GRU is causal: positions past the batch's longest sequence change nothing, so
        # they are cut (short-sequence data trains many times faster than max_len allows)
        longest = max(1, int(n.max()))
        types, items, gaps = types[:, :longest], items[:, :longest], gaps[:, :longest]
        b, length = types.shape
        dev = data.device
        valid = torch.arange(length, device=dev)[None, :] < n[:, None]
        n_types = len(self.event_types)
        prev_t = torch.cat(
            [torch.full((b, 1), n_types, device=dev, dtype=torch.long), types[:, :-1]], 1
        )
        prev_i = torch.cat(
            [torch.full((b, 1), self.n_items, device=dev, dtype=torch.long), items[:, :-1]], 1
        )
        prev_g = torch.cat(
            [torch.full((b, 1), N_GAP, device=dev, dtype=torch.long), gaps[:, :-1]], 1
        )
        ctx, h0 = net.start(profile)
        out, _ = net.gru(net.step_input(ctx, prev_t, prev_i, prev_g), h0)
        out = out[valid]
        t, it, g = types[valid], items[valid], gaps[valid]
        first = (torch.arange(length, device=dev)[None, :].expand(b, -1))[valid] == 0
        g_in = torch.where(first, torch.full_like(g, N_GAP), g)
        zero = out.new_zeros(())
        gap_loss = (
            nnf.cross_entropy(net.gap_head(out[~first]), g[~first]) if (~first).any() else zero
        )
        type_loss = nnf.cross_entropy(net.type_head(torch.cat([out, net.gap_emb(g_in)], -1)), t)
        known = it < self.n_items
        out, t, it = out[known], t[known], it[known]
        if len(it) == 0:
            return {"gap": gap_loss, "type": type_loss, "category": zero, "item": zero}
        cat = net.item_category[it]
        type_e = net.type_emb(t)
        category_loss = nnf.cross_entropy(net.category_head(torch.cat([out, type_e], -1)), cat)
        lo, hi = net.category_start[cat], net.category_start[cat + 1]
        multi = (hi - lo) > 1
        item_loss = zero
        if multi.any():
            out, t, it, cat, lo, hi = (
                out[multi],
                t[multi],
                it[multi],
                cat[multi],
                lo[multi],
                hi[multi],
            )
            cum = net.cum_popularity
            base, mass = cum[lo], cum[hi] - cum[lo]
            u = torch.rand((len(it), self.negatives), generator=rng, dtype=torch.float64).to(dev)
            neg = torch.searchsorted(cum, base[:, None] + u * mass[:, None], right=True) - 1
            neg = torch.minimum(torch.maximum(neg, lo[:, None]), hi[:, None] - 1)
            cand = torch.cat([it[:, None], neg], 1)
            log_q = (torch.log(cum[cand + 1] - cum[cand]) - torch.log(mass)[:, None]).float()
            logits = net.item_logits(out, t, cat, cand) - log_q
            hit = torch.cat(
                [torch.zeros_like(it[:, None], dtype=torch.bool), neg == it[:, None]], 1
            )
            logits = logits.masked_fill(hit, float("-inf"))
            item_loss = nnf.cross_entropy(logits, torch.zeros_like(it))
        return {"gap": gap_loss, "type": type_loss, "category": category_loss, "item": item_loss}

    def _train_epoch(self, data: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        order = torch.randperm(len(data), generator=rng).to(self.device)
        totals: dict[str, float] = {}
        steps = 0
        opt = self.optimizers["sequence"]
        for start in range(0, len(data), self.train.batch_size):
            batch = data[order[start : start + self.train.batch_size]]
            if len(batch) < 1:
                continue
            losses = self._losses(batch, rng)
            total = sum(losses.values(), start=batch.new_zeros(()))
            opt.zero_grad()
            total.backward()  # type: ignore[union-attr]
            nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
            opt.step()
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + float(value.detach())
            steps += 1
        return {k: v / max(steps, 1) for k, v in totals.items()}

    def evaluate_loss(self, data: torch.Tensor, *, seed: int = 0) -> dict[str, float]:
        """Mean losses on ``data`` without training (validation; sampled negatives seeded)."""
        self.net.eval()
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            losses = {k: float(v) for k, v in self._losses(data.to(self.device), gen).items()}
        self.net.train()
        return losses

    def validation_loss(self, data: torch.Tensor) -> float:
        """The sum of the four mean losses on ``data``.

        Negatives are drawn with the train seed, so every epoch is scored on the same draws.
        """
        return float(sum(self.evaluate_loss(data, seed=self.train.seed).values()))

    def fit_rows(
        self, rows: np.ndarray, *, validation: np.ndarray | None = None
    ) -> EventSequenceModel:
        """Train on encoded rows (:meth:`encode_rows`) in this process (call :meth:`setup` first).

        With ``validation`` rows, keeps the weights of the best validation loss and stops after
        ``train.patience`` epochs without improvement. Logs each epoch.
        """
        if self.encoder is None:
            raise NotFittedError("EventSequenceModel: call setup(encoder) first")
        data = torch.from_numpy(rows).to(self.device)
        gen = torch.Generator().manual_seed(self.train.seed)
        best, best_state, stale = math.inf, None, 0
        for epoch in range(1, self.train.epochs + 1):
            began = time.perf_counter()
            losses = self.train_epoch(data, gen)
            score = None
            if validation is not None and len(validation):
                score = sum(self.evaluate_loss(torch.from_numpy(validation), seed=epoch).values())
            self.history.append(
                EpochLog(epoch, losses, score, round(time.perf_counter() - began, 4))
            )
            if score is not None:
                if score < best:
                    best, stale = score, 0
                    best_state = {k: v.detach().clone() for k, v in self.net.state_dict().items()}
                else:
                    stale += 1
                    if self.train.patience and stale >= self.train.patience:
                        break
        if best_state is not None:
            self.net.load_state_dict(best_state)
        return self

    # -- sampling ----------------------------------------------------------------------------------
    def sample_events(
        self,
        profiles: np.ndarray,
        user_id: np.ndarray,
        n_new: np.ndarray,
        *,
        seed: int,
        type_budget: np.ndarray | None = None,
        breaks: np.ndarray | None = None,
        prefix: tuple[Sequence[np.ndarray], Sequence[np.ndarray], Sequence[np.ndarray]]
        | None = None,
    ) -> SampledSequences:
        """Draw ``n_new[r]`` events after each row's prefix (none by default).

        Args:
            profiles: Encoded profiles (rows, profile width).
            user_id: The user of each row (int64): the key of every draw.
            n_new: Events to draw per row.
            seed: The seed of the draws.
            type_budget: Optional (rows, 6) event counts by profile count column (``n_view``
                ... ``n_other``) summing to ``n_new``: types are drawn within what is left, so
                the drawn events have exactly those counts.
            breaks: Optional session breaks to draw per row (new sessions after the first
                event, at most ``n_new - 1``): exactly that many events open a session.
            prefix: Optional real events per row as (type names, product ids, gap classes)
                arrays, read before drawing (teacher forcing); unknown items and types fall back
                as the module says.
        """
        if self.encoder is None:
            raise NotFittedError("EventSequenceModel is not fitted: load() or train it first")
        net = self.net
        rows = len(profiles)
        n_new = np.asarray(n_new, dtype=np.int64)
        uid = np.asarray(user_id, dtype=np.int64)
        vocab_types = pd.Index(self.event_types)
        if prefix is not None:
            p_types = [
                vocab_types.get_indexer(pd.Index(np.asarray(t, dtype=object))) for t in prefix[0]
            ]
            p_types = [np.where(t < 0, 0, t) for t in p_types]
            view = self.vocabulary_view()
            p_items = [view.item_index(np.asarray(i)) for i in prefix[1]]
            p_gaps = [np.asarray(g, dtype=np.int64) for g in prefix[2]]
            p_len = np.array([len(t) for t in p_types], dtype=np.int64)
        else:
            p_types = p_items = p_gaps = []
            p_len = np.zeros(rows, dtype=np.int64)
        total = p_len + n_new
        if type_budget is not None:
            budget = np.asarray(type_budget, dtype=np.int64).copy()
            if (budget.sum(axis=1) != n_new).any():
                raise InvalidDataError("type_budget rows must sum to n_new")
        group = net.type_group.cpu().numpy()
        if type_budget is not None:
            absent = [k for k in range(budget.shape[1]) if k not in set(group.tolist())]
            if absent and budget[:, absent].sum() > 0:
                raise InvalidDataError(
                    "profiles ask for events of count columns "
                    f"{[COUNT_COLUMNS[k] for k in absent]} "
                    f"but the model never saw such a type (it knows {list(self.event_types)})"
                )
        breaks_left = (
            None
            if breaks is None
            else np.minimum(np.asarray(breaks, np.int64), np.maximum(n_new - 1, 0))
        )
        n_types = len(self.event_types)
        dev = self.device
        out_row, out_step, out_type, out_item, out_gap = [], [], [], [], []
        self.net.eval()
        with torch.no_grad():
            ctx, h = net.start(torch.from_numpy(np.asarray(profiles, np.float32)).to(dev))
            prev_t = np.full(rows, n_types, dtype=np.int64)
            prev_i = np.full(rows, self.n_items, dtype=np.int64)
            prev_g = np.full(rows, N_GAP, dtype=np.int64)
            start = net.category_start.cpu().numpy()
            cum = net.cum_popularity.cpu().numpy()
            for step in range(int(total.max(initial=0))):
                act = np.flatnonzero(total > step)
                if len(act) == 0:
                    break
                a = torch.from_numpy(act).to(dev)
                z = net.step_input(
                    ctx[a],
                    torch.from_numpy(prev_t[act])[:, None].to(dev),
                    torch.from_numpy(prev_i[act])[:, None].to(dev),
                    torch.from_numpy(prev_g[act])[:, None].to(dev),
                )
                o, h_new = net.gru(z, h[:, a])
                h[:, a] = h_new
                o = o[:, 0]
                forced = step < p_len[act]
                t_now = np.zeros(len(act), dtype=np.int64)
                i_now = np.zeros(len(act), dtype=np.int64)
                g_now = np.full(len(act), N_GAP, dtype=np.int64)
                for k in np.flatnonzero(forced):
                    r = act[k]
                    t_now[k], i_now[k] = p_types[r][step], p_items[r][step]
                    g_now[k] = N_GAP if step == 0 else p_gaps[r][step]
                free = np.flatnonzero(~forced)
                if len(free):
                    fr = act[free]
                    fo = o[torch.from_numpy(free).to(dev)]
                    u_key = uid[fr]
                    # gap class (none for a first event)
                    g_free = np.full(len(fr), N_GAP, dtype=np.int64)
                    later = step > 0
                    if later:
                        logits = net.gap_head(fo).double()
                        if breaks_left is not None:
                            left = total[fr] - step  # events still to draw, this one included
                            may_break = breaks_left[fr] > 0
                            must_break = breaks_left[fr] >= left
                            is_break = torch.arange(N_GAP, device=dev) >= N_BINS
                            allow = torch.where(
                                torch.from_numpy(must_break).to(dev)[:, None],
                                is_break[None, :],
                                torch.where(
                                    torch.from_numpy(may_break).to(dev)[:, None],
                                    torch.ones_like(is_break)[None, :],
                                    ~is_break[None, :],
                                ),
                            )
                            logits = logits.masked_fill(~allow, float("-inf"))
                        g_free = _draw(logits, hash_uniform(seed, _P_GAP, u_key, np.asarray(step)))
                        if breaks_left is not None:
                            breaks_left[fr] -= (g_free >= N_BINS).astype(np.int64)
                    g_t = torch.from_numpy(g_free).to(dev)
                    logits = net.type_head(torch.cat([fo, net.gap_emb(g_t)], -1)).double()
                    if type_budget is not None:
                        allowed = budget[fr][:, group] > 0
                        logits = logits.masked_fill(
                            ~torch.from_numpy(allowed).to(dev), float("-inf")
                        )
                    t_free = _draw(logits, hash_uniform(seed, _P_TYPE, u_key, np.asarray(step)))
                    if type_budget is not None:
                        np.subtract.at(budget, (fr, group[t_free]), 1)
                    t_t = torch.from_numpy(t_free).to(dev)
                    type_e = net.type_emb(t_t)
                    logits = net.category_head(torch.cat([fo, type_e], -1)).double()
                    c_free = _draw(logits, hash_uniform(seed, _P_CATEGORY, u_key, np.asarray(step)))
                    i_free = self._draw_items(fo, t_t, c_free, u_key, step, seed, start, cum)
                    t_now[free], i_now[free], g_now[free] = t_free, i_free, g_free
                    out_row.append(fr)
                    out_step.append(np.full(len(fr), step, dtype=np.int64))
                    out_type.append(t_free)
                    out_item.append(i_free)
                    out_gap.append(np.where(step == 0, -1, g_free))
                prev_t[act], prev_i[act], prev_g[act] = t_now, i_now, g_now
        self.net.train()

        def cat(parts: list[np.ndarray]) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

        row, step_ = cat(out_row), cat(out_step)
        order = np.lexsort((step_, row))
        return SampledSequences(
            row=row[order],
            step=step_[order],
            event_type=cat(out_type)[order],
            item=cat(out_item)[order],
            gap_class=cat(out_gap)[order],
        )

    def _draw_items(
        self,
        out: torch.Tensor,
        types: torch.Tensor,
        category: np.ndarray,
        uid: np.ndarray,
        step: int,
        seed: int,
        start: np.ndarray,
        cum: np.ndarray,
    ) -> np.ndarray:
        """One item per row of the drawn ``category`` (sampling-importance-resampling)."""
        m = self.candidates
        lo, hi = start[category], start[category + 1]
        size = hi - lo
        j = np.arange(m, dtype=np.int64)[None, :]
        small = size <= m
        cand = np.where(small[:, None], lo[:, None] + np.minimum(j, size[:, None] - 1), 0)
        log_q = np.zeros(cand.shape)
        big = np.flatnonzero(~small)
        if len(big):
            u = hash_uniform(seed, _P_CANDIDATE, uid[big, None], np.asarray(step), j)
            base, mass = cum[lo[big]], cum[hi[big]] - cum[lo[big]]
            pos = np.searchsorted(cum, base[:, None] + u * mass[:, None], side="right") - 1
            pos = np.clip(pos, lo[big, None], hi[big, None] - 1)
            cand[big] = pos
            log_q[big] = np.log(cum[pos + 1] - cum[pos]) - np.log(mass)[:, None]
        dev = self.device
        cand_t = torch.from_numpy(cand).to(dev)
        logits = self.net.item_logits(
            out, types, torch.from_numpy(category).to(dev), cand_t
        ).double() - torch.from_numpy(log_q).to(dev)
        pad = torch.from_numpy(small[:, None] & (j >= size[:, None])).to(dev)
        logits = logits.masked_fill(pad, float("-inf"))
        pick = _draw(logits, hash_uniform(seed, _P_PICK, uid, np.asarray(step)))
        return cand[np.arange(len(cand)), pick]


def _draw(logits: torch.Tensor, u: np.ndarray) -> np.ndarray:
    """One index per row by inverse CDF of ``softmax(logits)`` at the uniform draws ``u``."""
    probs = torch.softmax(logits.double(), dim=-1).cpu().numpy()
    cdf = np.cumsum(probs, axis=1)
    idx = (cdf < (u * cdf[:, -1])[:, None]).sum(axis=1)
    # never an index whose probability is 0 (rounding at the end of the CDF)
    idx = np.minimum(idx, probs.shape[1] - 1)
    bad = probs[np.arange(len(idx)), idx] <= 0
    if bad.any():
        idx[bad] = probs[bad].argmax(axis=1)
    return idx.astype(np.int64)


def gap_value_draws(seed: int, uid: np.ndarray, step: np.ndarray) -> np.ndarray:
    """The uniform draws that turn a drawn gap class into seconds (:func:`gap_seconds`)."""
    return hash_uniform(seed, _P_GAP_VALUE, uid, np.asarray(step))
