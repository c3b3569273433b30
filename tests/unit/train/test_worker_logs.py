"""The TorchDistributor worker-log server holds its port from the moment it is chosen."""

from __future__ import annotations

import socket
import time

import pytest
from pyspark.ml.torch import distributor
from pyspark.ml.torch.log_communication import LogStreamingClient, LogStreamingServer

from synth.train import worker_logs
from synth.train.worker_logs import BoundLogStreamingServer


@pytest.fixture
def taken_port():
    """A port some other socket listens on (on loopback only, as an outgoing port would be)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_start_listens_on_a_port_of_its_own_and_relays_worker_lines(taken_port, monkeypatch, capfd):
    # Setup: PySpark's port choice would hand out a port that is already taken
    monkeypatch.setattr(LogStreamingServer, "_get_free_port", staticmethod(lambda *_: taken_port))
    server = BoundLogStreamingServer()
    # Run
    server.start(spark_host_address="127.0.0.1")
    try:
        client = LogStreamingClient("127.0.0.1", server.port)
        client.send("epoch 1/2 loss 0.5")
        client.close()
        err, deadline = "", time.monotonic() + 10
        while "epoch 1/2 loss 0.5" not in err and time.monotonic() < deadline:
            time.sleep(0.05)
            err += capfd.readouterr().err
    finally:
        server.shutdown()
    err += capfd.readouterr().err
    # Assert: the line reached the driver's stderr; the racy choice was never used
    assert "epoch 1/2 loss 0.5" in err
    assert server.port != taken_port
    assert server.server is None and server.serve_thread is None


def test_start_twice_is_refused():
    server = BoundLogStreamingServer()
    server.start()
    try:
        with pytest.raises(RuntimeError, match="twice"):
            server.start()
    finally:
        server.shutdown()


def test_install_replaces_the_class_the_distributor_looks_up(monkeypatch):
    monkeypatch.setattr(distributor, "LogStreamingServer", LogStreamingServer)
    # Run / Assert: replaced once, idempotent after
    assert worker_logs.install() is True
    assert distributor.LogStreamingServer is BoundLogStreamingServer
    assert worker_logs.install() is True


def test_install_leaves_an_unknown_server_class_alone(monkeypatch):
    class Other:
        pass

    monkeypatch.setattr(distributor, "LogStreamingServer", Other)
    assert worker_logs.install() is False
    assert distributor.LogStreamingServer is Other
