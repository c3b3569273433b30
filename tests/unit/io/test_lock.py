"""The lakehouse run lock: one holder, clear refusals, stale takeover, tested across processes."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synth.io import files
from synth.io.delta import Lakehouse
from synth.io.lock import LOCK_FILE, LakehouseInUse, RunLock

HOLD = """
import sys, time
from synth.io import files
from synth.io.delta import Lakehouse
from synth.io.lock import RunLock
lock = RunLock(Lakehouse(sys.argv[1]), command="holder-under-test").acquire()
print("held", flush=True)
time.sleep(120)
"""

RACE = """
import sys, time
from synth.io import files
from synth.io.delta import Lakehouse
from synth.io.lock import LakehouseInUse, RunLock
start = float(sys.argv[2])
while time.time() < start:
    pass
try:
    RunLock(Lakehouse(sys.argv[1])).acquire()
    print("won", flush=True)
    time.sleep(5)
except LakehouseInUse:
    print("refused", flush=True)
"""


def _holder(root: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_acquire_writes_the_holder_and_release_removes_it(tmp_path):
    lakehouse = Lakehouse(str(tmp_path / "lh"))
    with RunLock(lakehouse, command="synth run (ingest to report)") as lock:
        data = json.loads((tmp_path / "lh" / LOCK_FILE).read_text())
        assert data["pid"] == os.getpid() and data["host"] == socket.gethostname()
        assert data["command"] == "synth run (ingest to report)"
        assert lock.holder is not None and data["token"] == lock.holder.token
    assert not (tmp_path / "lh" / LOCK_FILE).exists()
    assert [p.name for p in (tmp_path / "lh").iterdir()] == []  # no temporary files left


def test_a_live_run_in_another_process_is_named_and_a_killed_one_is_taken_over(tmp_path, caplog):
    root = tmp_path / "lh"
    proc = _holder(root)
    try:
        # Run / Assert: refused while the other process lives, naming it
        with pytest.raises(LakehouseInUse) as refused:
            RunLock(Lakehouse(str(root))).acquire()
        message = str(refused.value)
        assert "holder-under-test" in message and f"pid {proc.pid}" in message
        assert socket.gethostname() in message and str(root / LOCK_FILE) in message
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # the holder was killed: its lock is stale (same host, process gone) and taken over
    with caplog.at_level(logging.WARNING, logger="synth.io.lock"):
        lock = RunLock(Lakehouse(str(root))).acquire()
    try:
        assert lock.holder is not None and lock.holder.pid == os.getpid()
        assert f"process {proc.pid} on this host no longer exists" in caplog.text
    finally:
        lock.release()


def test_of_two_runs_starting_together_one_wins(tmp_path):
    start = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, str(tmp_path / "lh"), str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outcomes == ["refused", "won"]


def _write(root: Path, host: str, heartbeat_at: str) -> None:
    root.mkdir(parents=True, exist_ok=True)
    holder = {
        "token": "t0",
        "host": host,
        "pid": 1,
        "command": "synth run (ingest to report)",
        "started_at": "2026-01-01T00:00:00+00:00",
        "heartbeat_at": heartbeat_at,
    }
    (root / LOCK_FILE).write_text(json.dumps(holder))


def test_another_hosts_lock_is_stale_only_after_its_heartbeat_ages(tmp_path, caplog):
    root = tmp_path / "lh"
    fresh = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    _write(root, "other-host", fresh)
    with pytest.raises(LakehouseInUse, match="other-host"):
        RunLock(Lakehouse(str(root))).acquire()
    _write(root, "other-host", "2026-01-01T00:00:00+00:00")
    with caplog.at_level(logging.WARNING, logger="synth.io.lock"):
        with RunLock(Lakehouse(str(root)), stale_after_s=600) as lock:
            assert lock.holder is not None and lock.holder.host == socket.gethostname()
    assert "last heartbeat is" in caplog.text and "stale after 600s" in caplog.text


def test_the_heartbeat_moves_and_a_lost_lock_is_reported(tmp_path, caplog):
    root = tmp_path / "lh"
    lock = RunLock(Lakehouse(str(root)), stale_after_s=10, heartbeat_s=0.2).acquire()
    first = json.loads((root / LOCK_FILE).read_text())["heartbeat_at"]
    time.sleep(1.5)
    assert json.loads((root / LOCK_FILE).read_text())["heartbeat_at"] > first
    (root / LOCK_FILE).unlink()  # someone removed it by hand
    with caplog.at_level(logging.ERROR, logger="synth.io.lock"):
        lock.beat()
    assert "was removed or taken over" in caplog.text
    lock.release()


def test_a_heartbeat_slower_than_the_stale_age_is_refused(tmp_path):
    with pytest.raises(ValueError, match="twice heartbeat_s"):
        RunLock(Lakehouse(str(tmp_path)), stale_after_s=10, heartbeat_s=6)


# -- on an object store (moto's S3 server): write-then-verify ---------------------------------


def test_on_an_object_store_a_live_run_is_named_and_a_killed_one_is_taken_over(s3_bucket, caplog):
    root = f"s3a://{s3_bucket}/lh"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, root], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    try:
        with pytest.raises(LakehouseInUse) as refused:
            RunLock(Lakehouse(root), settle_s=0.2).acquire()
        message = str(refused.value)
        assert "holder-under-test" in message and f"pid {proc.pid}" in message
        assert f"{root}/{LOCK_FILE}" in message
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with caplog.at_level(logging.WARNING, logger="synth.io.lock"):
        lock = RunLock(Lakehouse(root), settle_s=0.2).acquire()
    try:
        assert lock.holder is not None and lock.holder.pid == os.getpid()
        assert f"process {proc.pid} on this host no longer exists" in caplog.text
        assert files.read_json(f"{root}/{LOCK_FILE}")["token"] == lock.holder.token
    finally:
        lock.release()
    assert files.list_names(root) == []


def test_on_an_object_store_of_two_runs_starting_together_one_wins(s3_bucket):
    start = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, f"s3a://{s3_bucket}/lh", str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = sorted(p.communicate(timeout=60)[0].strip() for p in procs)
    assert outcomes == ["refused", "won"]


def test_on_an_object_store_a_stale_heartbeat_is_taken_over(s3_bucket, caplog):
    root = f"s3a://{s3_bucket}/lh"
    holder = {
        "token": "t0",
        "host": "other-host",
        "pid": 1,
        "command": "synth run (ingest to report)",
        "started_at": "2026-01-01T00:00:00+00:00",
        "heartbeat_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
    }
    files.write_text(f"{root}/{LOCK_FILE}", json.dumps(holder))
    with pytest.raises(LakehouseInUse, match="other-host"):
        RunLock(Lakehouse(root), settle_s=0.2).acquire()
    holder["heartbeat_at"] = "2026-01-01T00:00:00+00:00"
    files.write_text(f"{root}/{LOCK_FILE}", json.dumps(holder))
    with caplog.at_level(logging.WARNING, logger="synth.io.lock"):
        with RunLock(Lakehouse(root), settle_s=0.2) as lock:
            assert lock.holder is not None and lock.holder.host == socket.gethostname()
    assert "last heartbeat is" in caplog.text


def test_a_heartbeat_that_cannot_reach_the_store_warns_and_beats_again(
    tmp_path, caplog, monkeypatch
):
    from synth.io import lock as lock_module
    from synth.io.files import StorageError

    real_read, failures = lock_module._read, []

    def flaky(path: str):
        if not failures:
            failures.append(path)
            raise StorageError(f"could not read {path}: the store cannot be reached")
        return real_read(path)

    lock = RunLock(Lakehouse(str(tmp_path / "lh")), stale_after_s=10, heartbeat_s=0.1).acquire()
    try:
        first = json.loads((tmp_path / "lh" / LOCK_FILE).read_text())["heartbeat_at"]
        with caplog.at_level(logging.WARNING, logger="synth.io.lock"):
            monkeypatch.setattr(lock_module, "_read", flaky)
            time.sleep(1.5)
        assert failures and "heartbeat failed" in caplog.text
        assert lock._beat is not None and lock._beat.is_alive()
        assert json.loads((tmp_path / "lh" / LOCK_FILE).read_text())["heartbeat_at"] >= first
    finally:
        lock.release()
