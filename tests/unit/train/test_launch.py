"""The TorchDistributor launcher: PySpark's log server replaced, or a warning when it cannot be."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pyspark.ml.torch import distributor
from pyspark.ml.torch.log_communication import LogStreamingServer

from synth.config.train import TrainStageConfig
from synth.train import launch, worker_logs
from synth.train.launch import LAUNCHERS


class _Distributor:
    """Records how it was made and what it was asked to run; runs nothing."""

    made: dict[str, Any] = {}

    def __init__(self, **kwargs: Any) -> None:  # noqa: ANN401
        _Distributor.made = kwargs

    def run(self, fn: object, job: object) -> dict[str, Any]:
        return {"ran": fn is launch.train_worker, "job": job}


@pytest.fixture
def fake_distributor(monkeypatch: pytest.MonkeyPatch) -> None:
    """PySpark's own log server in place (as before any launch); a distributor that runs nothing."""
    monkeypatch.setattr(distributor, "TorchDistributor", _Distributor)
    monkeypatch.setattr(distributor, "LogStreamingServer", LogStreamingServer)


def test_torch_distributor_runs_with_the_bound_log_server(fake_distributor, caplog):
    cfg = TrainStageConfig.model_validate({"backend": "torch_distributor", "num_processes": 2})
    # Run
    with caplog.at_level(logging.WARNING, logger="synth.train.launch"):
        result = LAUNCHERS["torch_distributor"](None, "job", cfg)  # type: ignore[arg-type]
    # Assert
    assert result == {"ran": True, "job": "job"}
    assert _Distributor.made == {"num_processes": 2, "local_mode": False, "use_gpu": False}
    assert distributor.LogStreamingServer is worker_logs.BoundLogStreamingServer
    assert not caplog.records


def test_a_pyspark_without_that_log_server_is_named_in_a_warning(
    fake_distributor, monkeypatch, caplog
):
    monkeypatch.setattr(distributor, "LogStreamingServer", type("Renamed", (), {}))
    cfg = TrainStageConfig.model_validate({"backend": "torch_distributor"})
    # Run
    with caplog.at_level(logging.WARNING, logger="synth.train.launch"):
        result = LAUNCHERS["torch_distributor"](None, "job", cfg)  # type: ignore[arg-type]
    # Assert: training still runs; the warning says what is lost
    assert result["ran"] is True
    (record,) = caplog.records
    assert "synth.train.worker_logs" in record.getMessage()
    assert "loses the workers' log lines" in record.getMessage()
