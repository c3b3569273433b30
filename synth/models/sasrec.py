"""A SASRec-style next-item model: a causal transformer over a user's items in time order.

What is modelled. A user's distinct items ordered by their last interaction (the recommender's
training pairs, :mod:`synth.recommend.data`), the last ``max_len + 1`` of them. Each position's
input is the item embedding (scaled by ``sqrt(hidden)``) plus a learned position embedding;
``layers`` pre-norm transformer blocks attend causally (a position sees itself and the real
items before it, never padding); the output at position ``t`` scores the item at ``t + 1`` by a
dot product with the (shared) item embeddings. Training follows SASRec (Kang & McAuley, 2018):
binary cross-entropy of every position's next item against one negative item drawn uniformly
from the catalog with the epoch's seeded generator.

Row layout of the training cache (one float32 vector per user, so the Petastorm cache and every
training backend of :mod:`synth.train` carry it unchanged): ``max_len + 1`` item tokens, left
padded with 0; token ``i + 1`` is catalog item ``i`` (exact in float32 below 2^24 items).

The model has no table columns: its :class:`~synth.models.encoding.TableEncoder` is the empty
one (:func:`empty_encoder`), kept so the model folder has the layout every model has.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as nnf

from synth.errors import InvalidDataError, NotFittedError
from synth.models.base import TrainableModel, TrainConfig
from synth.models.encoding import Span, TableEncoder

MAX_ITEMS = (1 << 24) - 1  # item tokens are float32 in the cache: exact below 2^24
PAD = 0


def empty_encoder() -> TableEncoder:
    """The encoder of a model without table columns (width 0)."""
    return TableEncoder([]).fit(pd.DataFrame(index=[0]))


def sequence_rows(order: sp.csr_matrix, max_len: int, *, min_items: int = 1) -> np.ndarray:
    """Each row's items ordered by their value in ``order`` (a time; ties by item index).

    Returns one row per matrix row with at least ``min_items`` items: its last ``max_len`` item
    tokens (item index + 1), left padded with :data:`PAD`, as int64.
    """
    order = order.tocsr()
    lengths = np.diff(order.indptr)
    rows = np.flatnonzero(lengths >= min_items)
    out = np.zeros((len(rows), max_len), dtype=np.int64)
    if not len(rows):
        return out
    row_of = np.repeat(np.arange(order.shape[0]), lengths)
    # one sort for all rows: by row, then time, then item
    sorted_at = np.lexsort((order.indices, order.data, row_of))
    items = order.indices[sorted_at].astype(np.int64) + 1
    ends = order.indptr[rows + 1]
    take = np.minimum(lengths[rows], max_len)
    for n in range(max_len):  # position n from the end; vectorised over rows
        has = take > n
        out[has, max_len - 1 - n] = items[ends[has] - 1 - n]
    return out


class _Net(nn.Module):
    """Item and position embeddings, causal pre-norm transformer blocks, a final norm."""

    def __init__(
        self, n_items: int, max_len: int, hidden: int, heads: int, layers: int, dropout: float
    ) -> None:
        super().__init__()
        self.hidden = hidden
        self.items = nn.Embedding(n_items + 1, hidden, padding_idx=PAD)
        self.positions = nn.Embedding(max_len, hidden)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                hidden,
                heads,
                dim_feedforward=hidden,
                dropout=dropout,
                batch_first=True,
                norm_first=True,
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(hidden)
        self.heads = heads
        nn.init.normal_(self.items.weight, std=hidden**-0.5)
        with torch.no_grad():
            self.items.weight[PAD].zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(batch, length)`` item tokens -> ``(batch, length, hidden)`` states."""
        batch, length = tokens.shape
        real = tokens != PAD
        at = torch.arange(length, device=tokens.device)
        x = self.items(tokens) * math.sqrt(self.hidden) + self.positions(at)[None, :, :]
        x = self.dropout(x) * real[:, :, None]
        # a query sees earlier real keys and itself (so no row is fully masked)
        later = at[None, :] > at[:, None]
        blocked = later[None, :, :] | ~real[:, None, :]
        blocked = blocked & ~torch.eye(length, dtype=torch.bool, device=tokens.device)[None]
        mask = blocked.repeat_interleave(self.heads, dim=0)
        for block in self.blocks:
            x = block(x, src_mask=mask) * real[:, :, None]
        out: torch.Tensor = self.norm(x)
        return out


class SasRecModel(TrainableModel):
    """The trainable model (see the module docstring); rows as :func:`sequence_rows` makes them.

    Args:
        train: Epochs, batch size, learning rate, weight decay, seed, device.
        n_items: Catalog items (tokens 1..n_items).
        max_len: Input positions (a row holds ``max_len + 1`` tokens: inputs and their targets).
        hidden: Embedding and state size (a multiple of ``heads``).
        heads: Attention heads.
        layers: Transformer blocks.
        dropout: Dropout of the embeddings and inside the blocks.
    """

    name = "sasrec"

    def __init__(
        self,
        train: TrainConfig | None = None,
        *,
        n_items: int,
        max_len: int = 20,
        hidden: int = 32,
        heads: int = 1,
        layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__(train)
        if not 1 <= n_items <= MAX_ITEMS:
            raise InvalidDataError(f"sasrec: n_items must be in [1, {MAX_ITEMS}], got {n_items}")
        if hidden % heads:
            raise InvalidDataError(f"sasrec: hidden {hidden} is not a multiple of heads {heads}")
        self.n_items, self.max_len = int(n_items), int(max_len)
        self.hidden, self.heads, self.layers = int(hidden), int(heads), int(layers)
        self.dropout = float(dropout)

    @property
    def row_width(self) -> int:
        """Tokens per training row: ``max_len`` inputs and the last target."""
        return self.max_len + 1

    def _build(self, width: int, spans: list[Span]) -> None:
        if width:
            raise InvalidDataError(
                f"sasrec takes no table columns: its encoder must be empty (width {width})"
            )
        torch.manual_seed(self.train.seed)
        self.net = _Net(
            self.n_items, self.max_len, self.hidden, self.heads, self.layers, self.dropout
        ).to(self.device)
        adam = torch.optim.Adam(
            self.net.parameters(), lr=self.train.lr, weight_decay=self.train.weight_decay
        )
        self.optimizers = {"sasrec": adam}

    def _modules(self) -> dict[str, nn.Module]:
        return {"sasrec": self.net}

    def _optimized(self) -> dict[str, list[str]]:
        return {"sasrec": ["sasrec"]}

    def _config(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "max_len": self.max_len,
            "hidden": self.hidden,
            "heads": self.heads,
            "layers": self.layers,
            "dropout": self.dropout,
        }

    @classmethod
    def _from_config(cls, config: dict[str, Any], train: TrainConfig) -> SasRecModel:
        return cls(train, **config)

    # -- training ----------------------------------------------------------------------------------
    def _check_rows(self, data: torch.Tensor) -> torch.Tensor:
        if data.ndim != 2 or data.shape[1] != self.row_width:
            raise InvalidDataError(
                f"sasrec: rows must be (n, {self.row_width}) item tokens (max_len + 1), got "
                f"{tuple(data.shape)}"
            )
        tokens = data.round().long()
        if len(tokens) and (int(tokens.min()) < 0 or int(tokens.max()) > self.n_items):
            raise InvalidDataError(
                f"sasrec: item tokens must be in [0, {self.n_items}], got "
                f"[{int(tokens.min())}, {int(tokens.max())}]: the rows were built for another "
                "catalog"
            )
        return tokens

    def _loss(self, tokens: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        states = self.net(inputs)
        counted = (inputs != PAD) & (targets != PAD)
        negatives = torch.randint(1, self.n_items + 1, targets.shape, generator=rng)
        negatives = negatives.to(tokens.device)
        emb = self.net.items
        positive = (states * emb(targets)).sum(-1)
        negative = (states * emb(negatives)).sum(-1)
        losses = nnf.softplus(-positive) + nnf.softplus(negative)  # BCE, logits form
        n = counted.sum().clamp_min(1)
        return (losses * counted).sum() / n

    def _train_epoch(self, data: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        tokens = self._check_rows(data)
        self.net.train()
        order = torch.randperm(len(tokens), generator=rng).to(self.device)
        opt = self.optimizers["sasrec"]
        total, steps = 0.0, 0
        for start in range(0, len(tokens), self.train.batch_size):
            batch = tokens[order[start : start + self.train.batch_size]]
            loss = self._loss(batch, rng)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
            opt.step()
            total += float(loss.detach())
            steps += 1
        return {"bce": total / max(steps, 1)}

    def validation_loss(self, data: torch.Tensor) -> float:
        """Mean BCE on ``data`` with negatives drawn from the train seed (the same every time)."""
        tokens = self._check_rows(data.to(self.device))
        self.net.eval()
        with torch.no_grad():
            loss = float(self._loss(tokens, torch.Generator().manual_seed(self.train.seed)))
        self.net.train()
        return loss

    # -- scoring -----------------------------------------------------------------------------------
    def next_scores(self, tokens: np.ndarray) -> np.ndarray:
        """``(users, n_items)`` scores of each user's next item from ``max_len`` input tokens."""
        if not hasattr(self, "net"):
            raise NotFittedError("sasrec: call setup() or load() first")
        if tokens.ndim != 2 or tokens.shape[1] != self.max_len:
            raise InvalidDataError(
                f"sasrec: inputs must be (users, {self.max_len}) tokens, got {tokens.shape}"
            )
        self.net.eval()
        with torch.no_grad():
            states = self.net(torch.from_numpy(tokens).long().to(self.device))[:, -1, :]
            scores = states @ self.net.items.weight[1:].T
        return scores.double().cpu().numpy()
