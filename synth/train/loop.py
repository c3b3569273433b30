"""The one training loop every backend runs (one call per process), with checkpoints and resume.

Every rank reads its Petastorm shard of the encoded cache once and keeps it for all its epochs
(each epoch held its whole shard in memory anyway; in ``bin/run``'s log the default job's
epochs went from 3.0-3.8 s to 2.4-2.7 s). Each epoch, all ranks cut their shard to the smallest
shard's length (so every rank takes the same number of optimizer steps: a collective step on one
rank alone would hang the others; the rows a longer shard leaves out are drawn anew each epoch),
and the model's own ``train_epoch`` (the single-process code of ``synth.models``, unchanged,
which draws its own row order) runs on it with a torch generator seeded by ``(seed, rank,
epoch)``. Losses are averaged over the ranks; rank 0 writes a checkpoint (weights, optimizer
state, history) after every epoch, atomically, and keeps the last two.

Because the per-epoch randomness depends only on ``(seed, rank, epoch)``, a run killed after
epoch k and resumed from its checkpoint continues exactly as the uninterrupted run would have.

Early stopping: with ``TrainJob.validation_path`` (encoded validation rows, ``.npy``), rank 0
scores the model's :meth:`~synth.models.base.TrainableModel.validation_loss` every
``validate_every`` epochs (recorded as the epoch's ``validation_score``; lower is better); after
``patience`` scores without a new best the ranks stop together (the decision is summed over the
collective), and the run's model is the best epoch's checkpoint, which is kept beside the last
two. The best epoch and the stop condition are functions of the recorded history, so a resumed
run makes the same choices.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import torch

from synth.config.train import TrainConfig
from synth.io import files
from synth.models import gan, sasrec, sequence, vae  # noqa: F401  (registers the model classes)
from synth.models.base import MODEL_FILE, EpochLog, TrainableModel
from synth.models.encoding import TableEncoder
from synth.seeding import derive_seed
from synth.train.collective import COLLECTIVES, Collective
from synth.train.data import read_shard

log = logging.getLogger(__name__)

LATEST = "LATEST"
STOP_AFTER_ENV = (
    "SYNTH_TRAIN_EXIT_AFTER_EPOCH"  # tests: die (exit 137) after this epoch's checkpoint
)


@dataclass(frozen=True)
class TrainJob:
    """Everything a training process needs (plain data: it is pickled to the workers)."""

    model: str
    params: dict[str, Any]
    train: dict[str, Any]
    encoder_json: str
    cache_url: str
    width: int
    rows: int
    checkpoint_dir: str
    backend: str
    resume: bool
    use_gpu: bool = False
    threads: int = 1
    validation_path: str | None = None
    storage: dict[str, Any] | None = None  # the driver's S3 settings (synth.io.files.S3Settings)


def build_model(job: TrainJob, device: str) -> TrainableModel:
    """A fresh model of the job's class with its encoder, on ``device``."""
    cls = TrainableModel.registry[job.model]
    config = TrainConfig(**{**job.train, "device": device})
    model = cls(config, **job.params)  # type: ignore[call-arg]
    return model.setup(TableEncoder.from_json(job.encoder_json))


def epoch_generator(seed: int, rank: int, epoch: int) -> torch.Generator:
    """The randomness of one rank's epoch (batch order, noise): a function of its coordinates."""
    return torch.Generator().manual_seed(((seed * 1_000_003) + rank) * 1_000_003 + epoch)


def kept_rows(length: int, rows: int, seed: int, rank: int, epoch: int) -> torch.Tensor:
    """The ``rows`` of a ``length``-row shard an epoch trains on (a seeded draw, in shard order)."""
    rng = torch.Generator().manual_seed(derive_seed(seed, "train", "kept_rows", rank, epoch))
    return torch.randperm(length, generator=rng)[:rows].sort().values


def latest_epoch(checkpoint_dir: str) -> int:
    """The last epoch with a complete checkpoint, 0 when none."""
    marker = files.join(checkpoint_dir, LATEST)
    try:
        return int(files.read_text(marker).strip())
    except FileNotFoundError:
        return 0


def checkpoint_path(checkpoint_dir: str, epoch: int) -> str:
    """The folder of epoch ``epoch``'s checkpoint."""
    return files.join(checkpoint_dir, f"epoch-{epoch:05d}")


def best_epoch(history: list[EpochLog]) -> int:
    """The epoch of the lowest validation score (the first of equals); 0 when none."""
    scored = [e for e in history if e.validation_score is not None]
    if not scored:
        return 0
    return min(scored, key=lambda e: (e.validation_score, e.epoch)).epoch


def should_stop(history: list[EpochLog], patience: int) -> bool:
    """Whether ``patience`` validation scores came after the best one without beating it."""
    best = best_epoch(history)
    if not patience or not best:
        return False
    later = [e for e in history if e.validation_score is not None and e.epoch > best]
    return len(later) >= patience


def write_checkpoint(model: TrainableModel, checkpoint_dir: str, epoch: int, keep: int = 0) -> str:
    """Save weights, optimizer state and history for ``epoch``; then point LATEST at it.

    The epoch's folder is complete before ``LATEST`` names it (write-then-commit, on any store:
    :func:`synth.io.files.publish_folder`), so a kill at any moment leaves a resumable
    checkpoint. Older checkpoints are removed except the previous epoch's and epoch ``keep``'s.
    """
    final = checkpoint_path(checkpoint_dir, epoch)
    files.publish_folder(
        final, {**model.optimizer_files(), **model.model_files()}, commit=MODEL_FILE
    )
    files.write_text(files.join(checkpoint_dir, LATEST), str(epoch))  # atomic
    for name in files.list_names(checkpoint_dir):
        if not name.startswith("epoch-"):
            continue
        if not name[len("epoch-") :].isdigit():  # a publish's leftover (.partial-, .old-)
            files.remove(files.join(checkpoint_dir, name))
            continue
        number = int(name[len("epoch-") :])
        if number < epoch - 1 and number != keep:
            files.remove(files.join(checkpoint_dir, name))
    return final


def restore(model: TrainableModel, checkpoint_dir: str, epoch: int, device: str) -> None:
    """Load ``epoch``'s checkpoint into ``model`` (weights, optimizer state, history)."""
    folder = checkpoint_path(checkpoint_dir, epoch)
    saved = TrainableModel.load(folder, device=device)
    for name, module in model._modules().items():
        module.load_state_dict(saved._modules()[name].state_dict())
    model.load_optimizers(folder)
    model.history = list(saved.history)


def train_worker(job: TrainJob) -> dict[str, Any] | None:
    """Train on this process's shard; rank 0 returns the run's summary, the others None."""
    torch.set_num_threads(max(1, job.threads))
    if job.storage is not None:  # reach the lakehouse's store as the driver does
        files.configure_s3(job.storage)
    if job.use_gpu:
        os.environ["SYNTH_USE_GPU"] = "1"
    collective: Collective = COLLECTIVES[job.backend]()
    rank, size = collective.rank, collective.size
    device = f"cuda:{collective.local_rank}" if job.use_gpu else str(job.train.get("device", "cpu"))
    if size > 1 and not job.use_gpu:
        device = "cpu"
    model = build_model(job, device)
    seed, epochs = int(job.train.get("seed", 0)), int(job.train["epochs"])
    start = 1
    if job.resume:
        done = latest_epoch(job.checkpoint_dir)
        if done:
            restore(model, job.checkpoint_dir, done, device)
            start = done + 1
            if rank == 0:
                log.info("train: resuming after epoch %d from %s", done, job.checkpoint_dir)
    elif rank == 0:
        files.remove(job.checkpoint_dir)
    if rank == 0:
        files.make_dirs(job.checkpoint_dir)
    collective.prepare(model)
    stop_after = int(os.environ.get(STOP_AFTER_ENV, "0"))
    patience = int(job.train.get("patience", 0))
    every = max(1, int(job.train.get("validate_every", 1)))
    validation = None
    if job.validation_path and rank == 0:
        validation = torch.from_numpy(files.read_npy(job.validation_path))
    rows_seen, last = 0, start - 1
    try:
        shard = torch.from_numpy(read_shard(job.cache_url, job.width, rank=rank, size=size))
        total = collective.sum_int(len(shard))
        if total != job.rows:
            raise RuntimeError(
                f"the {size} shard(s) of {job.cache_url} hold {total} rows, the cache has "
                f"{job.rows}: a reader lost rows"
            )
        rows = collective.min_int(len(shard))
        if rows < 2:
            raise RuntimeError(
                f"rank {rank}/{size}: the smallest shard of {job.cache_url} has {rows} rows (this "
                f"rank's: {len(shard)}); write the cache with more files "
                "(train.cache_rows_per_file) than processes"
            )
        for epoch in range(start, epochs + 1):
            if should_stop(model.history, patience):
                break
            began = time.perf_counter()
            data = shard
            if rows < len(shard):
                data = shard[kept_rows(len(shard), rows, seed, rank, epoch)]
            losses = model.train_epoch(data, epoch_generator(seed, rank, epoch))
            losses = collective.mean(losses)
            rows_seen += rows * size
            score = None
            if validation is not None and epoch % every == 0:
                score = round(model.validation_loss(validation), 6)
            entry = EpochLog(epoch, losses, score, round(time.perf_counter() - began, 4))
            model.history.append(entry)
            last = epoch
            if rank == 0:
                write_checkpoint(model, job.checkpoint_dir, epoch, keep=best_epoch(model.history))
                shown = " ".join(f"{k}={v:.4f}" for k, v in losses.items())
                if score is not None:
                    shown += f" validation={score:.4f}"
                log.info(
                    "train: epoch %d/%d %s (%d rows x %d ranks, %.2fs)",
                    epoch,
                    epochs,
                    shown,
                    rows,
                    size,
                    entry.seconds,
                )
            if stop_after and epoch == stop_after:
                os._exit(137)  # a kill right after the checkpoint (resume tests)
            # rank 0 alone holds the validation rows: its decision is shared
            stop = 1 if rank == 0 and should_stop(model.history, patience) else 0
            if collective.sum_int(stop) > 0:
                if rank == 0:
                    log.info(
                        "train: stopped after epoch %d: %d validation scores without beating "
                        "epoch %d's",
                        epoch,
                        patience,
                        best_epoch(model.history),
                    )
                break
        collective.finish()  # not after a failure: a rank that raised must not wait for others
    finally:
        collective.close()
    if rank != 0:
        return None
    best = best_epoch(model.history)
    chosen = best or latest_epoch(job.checkpoint_dir)
    return {
        "epochs": max(last, latest_epoch(job.checkpoint_dir)),
        "best_epoch": best or None,
        "resumed_after": start - 1,
        "world_size": size,
        "rows_per_epoch": rows_seen // max(1, last - start + 1),
        "history": [entry.__dict__ for entry in model.history],
        "checkpoint": checkpoint_path(job.checkpoint_dir, chosen),
        "device": device,
    }
