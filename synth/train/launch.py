"""The training backends, a registry by ``train.backend``.

:func:`synth.train.loop.train_worker` runs in this process (``local``), with
``horovod.spark.run`` (``horovod``) or with PySpark's ``TorchDistributor``
(``torch_distributor``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from pyspark.sql import SparkSession

from synth.config.train import TrainStageConfig
from synth.errors import InputError
from synth.io import files
from synth.train.data import CacheInfo
from synth.train.loop import TrainJob, train_worker

log = logging.getLogger(__name__)


def process_count(cfg: TrainStageConfig) -> int:
    """Training processes of the configured backend (``local``: one)."""
    return 1 if cfg.backend == "local" else cfg.num_processes


def stage_job(
    cfg: TrainStageConfig,
    *,
    model: str,
    params: dict[str, Any],
    train: dict[str, Any],
    encoder_json: str,
    cache: CacheInfo,
    model_dir: str,
    validation_path: str | None = None,
) -> TrainJob:
    """The job of one model trained by the ``train`` stage.

    The stage's backend, resume and GPU settings; checkpoints under ``model_dir``; the machine's
    cores shared by the processes; ``validation_path``: encoded validation rows (``.npy``) for
    early stopping (:mod:`synth.train.loop`).
    """
    return TrainJob(
        model=model,
        params=params,
        train=train,
        encoder_json=encoder_json,
        cache_url=cache.url,
        width=cache.width,
        rows=cache.rows,
        checkpoint_dir=f"{model_dir}/checkpoints",
        backend=cfg.backend,
        resume=cfg.resume,
        use_gpu=cfg.use_gpu,
        threads=max(1, (os.cpu_count() or 1) // process_count(cfg)),
        validation_path=validation_path,
        storage=files.s3_settings().to_dict(),
    )


def _launch_local(spark: SparkSession, job: TrainJob, cfg: TrainStageConfig) -> dict[str, Any]:
    result = train_worker(job)
    assert result is not None
    return result


def _launch_horovod(spark: SparkSession, job: TrainJob, cfg: TrainStageConfig) -> dict[str, Any]:
    try:
        import horovod.spark
    except ImportError as exc:
        raise InputError(
            "train.backend is `horovod` but Horovod is not installed: run bin/bootstrap (it "
            "builds Horovod when cmake and a C++ compiler are there) or pick `torch_distributor`"
        ) from exc
    results = horovod.spark.run(
        train_worker,
        args=(job,),
        num_proc=cfg.num_processes,
        use_gloo=not cfg.use_gpu,
        start_timeout=600,
    )
    return next(r for r in results if r is not None)


def _launch_torch_distributor(
    spark: SparkSession, job: TrainJob, cfg: TrainStageConfig
) -> dict[str, Any]:
    from pyspark.ml.torch.distributor import TorchDistributor

    from synth.train import worker_logs

    if not worker_logs.install():
        log.warning(
            "PySpark's TorchDistributor no longer has the log server synth.train.worker_logs "
            "replaces; its own is used, and a port taken between its choice and its bind loses "
            "the workers' log lines (training is not affected)"
        )
    distributor = TorchDistributor(
        num_processes=cfg.num_processes, local_mode=cfg.local_mode, use_gpu=cfg.use_gpu
    )
    result = distributor.run(train_worker, job)
    assert result is not None
    return dict(result)


LAUNCHERS: dict[str, Callable[[SparkSession, TrainJob, TrainStageConfig], dict[str, Any]]] = {
    "local": _launch_local,
    "horovod": _launch_horovod,
    "torch_distributor": _launch_torch_distributor,
}
