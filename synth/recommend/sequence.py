"""The sequence baseline: SASRec, trained by the ``train`` stage's machinery, as a recommender.

Fitting one (variant, seed, parameter set):

1. Each training user's items, ordered by their last event time (the variant's ``order``
   matrix, on the seed's subsample of pairs), keep their last ``max_len + 1``; users with fewer
   than two items have no next item to learn and are left out (counted in the log).
2. The rows are written by Spark into a Petastorm cache (:func:`synth.train.data.write_cache`)
   under ``<lakehouse>/_cache/train/recommend_sequences/<digest of the rows>``: the grid's
   parameter sets of a (variant, seed) share it, other data never reads it.
   Fits running at once (``recommend.fit_threads``) write one cache at a time per digest.
3. :func:`synth.train.loop.train_worker` trains :class:`~synth.models.sasrec.SasRecModel` on the
   ``train`` stage's backend (``local``, ``horovod``, ``torch_distributor``) with its processes,
   checkpoints under ``<lakehouse>/_models/recommend_sequences/sasrec-<digest>/`` (over the
   rows, the parameters and the seed) and its ``resume`` setting; the last epoch's checkpoint
   is the model.
4. The weights (numpy arrays) and config become a :class:`SasRec` recommender, broadcast to the
   scoring tasks, which rebuild the network once per task and rank each user's next item from
   the last ``max_len`` items of their history (users without history get zero scores: the
   popularity tie-break fills their lists).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from pyspark.sql import SparkSession

from synth.config.train import TrainStageConfig
from synth.errors import ConfigError, InvalidDataError
from synth.models.base import TrainableModel, TrainConfig
from synth.models.sasrec import SasRecModel, empty_encoder, sequence_rows
from synth.recommend.models import MODELS, FitContext, Recommender, Training
from synth.train.data import CacheInfo, write_cache
from synth.train.launch import LAUNCHERS, process_count, stage_job

log = logging.getLogger(__name__)

TABLE = "recommend_sequences"  # the cache and model-store folder of these models
_NET_KEYS = ("max_len", "hidden", "heads", "layers", "dropout")
_TRAIN_KEYS = ("epochs", "batch_size", "lr", "weight_decay")
_WRITING: dict[str, threading.Lock] = {}  # per cache URL: fits in threads share a cache
_WRITING_GUARD = threading.Lock()


def _writing(url: str) -> threading.Lock:
    with _WRITING_GUARD:
        return _WRITING.setdefault(url, threading.Lock())


class SasRec(Recommender):
    """A trained SASRec model as a recommender (history rows hold last event times)."""

    ordered = True

    def __init__(
        self,
        config: dict[str, Any],
        weights: dict[str, np.ndarray],
        training: dict[str, Any] | None = None,
    ) -> None:
        self.config = dict(config)
        self.weights = weights
        self.training = dict(training or {})  # how it was trained: backend, processes, epochs
        self._model: SasRecModel | None = None

    @classmethod
    def from_model(cls, model: SasRecModel, training: dict[str, Any] | None = None) -> SasRec:
        """The recommender of a trained model (weights copied out as numpy arrays)."""
        state = model.net.state_dict()
        weights = {k: v.detach().cpu().numpy().copy() for k, v in state.items()}
        return cls(model._config(), weights, training)

    def __getstate__(self) -> dict[str, Any]:
        # shipped to the scoring tasks as config + arrays; the network is rebuilt there
        return {**self.__dict__, "_model": None}

    def model(self) -> SasRecModel:
        """The network, built from the weights on first use (once per process)."""
        if self._model is None:
            model = SasRecModel(TrainConfig(seed=0), **self.config)
            model.setup(empty_encoder())
            model.net.load_state_dict({k: torch.from_numpy(v) for k, v in self.weights.items()})
            self._model = model
        return self._model

    def scores(self, history: sp.csr_matrix) -> np.ndarray:
        """Next-item scores from each row's last ``max_len`` items by time (0 without history)."""
        model = self.model()
        tokens = sequence_rows(history, model.max_len, min_items=0)
        out = np.zeros((history.shape[0], model.n_items))
        seen = np.diff(history.tocsr().indptr) > 0
        if seen.any():
            out[seen] = model.next_scores(tokens[seen])
        return out


def _digest(rows: np.ndarray, n_items: int, extra: dict[str, Any] | None = None) -> str:
    h = hashlib.sha256(np.ascontiguousarray(rows).tobytes())
    payload = {"shape": list(rows.shape), "items": n_items, **(extra or {})}
    h.update(json.dumps(payload, sort_keys=True).encode())
    return h.hexdigest()[:16]


def _encode(batches: Iterator[pd.DataFrame]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for pdf in batches:  # item tokens as float32 rows; nothing is ever replaced
        if len(pdf):
            yield np.stack(pdf["tokens"].to_list()).astype(np.float32), np.zeros(len(pdf), np.int64)


def _write(
    spark: SparkSession,
    frame: pd.DataFrame,
    url: str,
    digest: str,
    max_len: int,
    stage: TrainStageConfig,
) -> CacheInfo:
    """The Petastorm cache of the sequence rows (reused when already written)."""
    return write_cache(
        spark,
        spark.createDataFrame(frame, "row long, tokens array<long>"),
        _encode,
        key="row",
        url=url,
        table=TABLE,
        version=0,
        rows=len(frame),
        width=max_len + 1,
        fingerprint=digest,
        rows_per_file=stage.cache_rows_per_file,
        min_files=2 * process_count(stage),
    )


def fit_sasrec(
    context: FitContext, train: Training, params: dict[str, Any], seed: int
) -> Recommender:
    """Train SASRec on ``train.order`` (see the module docstring)."""
    if context.lakehouse is None or context.train is None:
        raise ConfigError(
            "recommend.models.sasrec trains with the train stage's machinery: the recommend "
            "stage passes the lakehouse and the `train` config (FitContext.lakehouse / .train)"
        )
    if train.order is None:
        raise InvalidDataError("sasrec needs the variant's order matrix (Training.order)")
    stage, lakehouse, spark = context.train, context.lakehouse, context.spark
    max_len = int(params["max_len"])
    rows = sequence_rows(train.order, max_len + 1, min_items=2)
    users = int((np.diff(train.order.tocsr().indptr) > 0).sum())
    if len(rows) < 2:
        raise InvalidDataError(
            f"sasrec: {len(rows)} training user(s) with two or more items (of {users} with "
            "any): nothing to learn a next item from; disable recommend.models.sasrec for "
            "this data"
        )
    n_items = train.order.shape[1]
    rows_digest = _digest(rows, n_items)  # one cache per (variant, seed): shared by the grid
    digest = _digest(rows, n_items, {"params": params, "seed": seed})
    url = f"{lakehouse.train_cache_dir(TABLE)}/{rows_digest}"
    frame = pd.DataFrame({"row": np.arange(len(rows), dtype=np.int64), "tokens": list(rows)})
    with _writing(url):
        cache = _write(spark, frame, url, rows_digest, max_len, stage)
    config = TrainConfig(
        **{k: params[k] for k in _TRAIN_KEYS},
        seed=seed,
        validation_fraction=0.0,
        patience=0,
    )
    job = stage_job(
        stage,
        model=SasRecModel.name,
        params={"n_items": n_items, **{k: params[k] for k in _NET_KEYS}},
        train=config.model_dump(mode="json"),
        encoder_json=empty_encoder().to_json(),
        cache=cache,
        model_dir=lakehouse.model_dir(TABLE, f"sasrec-{digest}"),
    )
    log.info(
        "recommend: sasrec on %s sequences (%s users with items; %s with one item left out), "
        "%s items, with %s x%d",
        f"{len(rows):,}",
        f"{users:,}",
        f"{users - len(rows):,}",
        f"{n_items:,}",
        stage.backend,
        process_count(stage),
    )
    result = LAUNCHERS[stage.backend](spark, job, stage)
    model = TrainableModel.load(result["checkpoint"])
    assert isinstance(model, SasRecModel)
    training = {
        "backend": stage.backend,
        "world_size": int(result["world_size"]),
        "epochs": int(result["epochs"]),
        "resumed_after": int(result["resumed_after"]),
        "sequences": len(rows),
        "checkpoint": str(result["checkpoint"]),
    }
    return SasRec.from_model(model, training)


MODELS["sasrec"] = fit_sasrec
