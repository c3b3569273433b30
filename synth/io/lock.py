"""One run at a time per lakehouse: a lock file with its holder, a heartbeat and stale takeover.

``synth run`` holds :class:`RunLock` for its whole run, so two runs on one lakehouse never
interleave bronze appends or table overwrites: the second one fails at once with
:class:`LakehouseInUse`, naming the holder (host, process id, command, start time, last
heartbeat).

The lock is the file ``<lakehouse>/_run.lock`` (JSON). It is created atomically: written under a
temporary name, then hard-linked to its final name, which fails when the name exists, so of two
runs starting together exactly one gets it, and a reader never sees a half-written lock. While
held, a daemon thread rewrites its ``heartbeat_at`` every ``heartbeat_s`` seconds.

A stale lock (its run was killed) is taken over, with a warning naming it: on the same host when
its process no longer exists; from any host when its heartbeat is older than ``stale_after_s``.
Takeover renames the stale file to a unique name first (one rename wins), then checks that it
moved the lock it judged stale (another run may have taken it over in between; then that run's
lock is put back and this one is refused).

On a lakehouse that is not a local folder (an object store, HDFS) the lock is the same JSON
object, written through the file layer (:mod:`synth.io.files`). Neither pyarrow's S3 client nor
Hadoop 3.4.1's s3a offers a create-if-absent write, so it is *write-then-verify*: a run that
finds no lock writes its own, waits ``settle_s`` (default 2 s) and reads it back; only the run
whose token is there then proceeds (S3, GCS and ADLS are strongly consistent for reads after
writes). Two runs starting within the same couple of seconds are thereby kept apart; the
residual race (a run that looked for the lock more than ``settle_s`` before writing its own) is
caught by the heartbeat, which checks the token every ``heartbeat_s`` and reports a lost lock.
A stale lock is removed only while it still holds the stale token, then created anew.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from synth.errors import SynthError
from synth.io import files
from synth.io.delta import Lakehouse

log = logging.getLogger(__name__)

LOCK_FILE = "_run.lock"
SINGLE_DRIVER_NOTE = (
    "This lakehouse is on S3 with Delta's single-driver log store (S3SingleDriverLogStore, "
    "Delta's default there): two drivers writing its tables at once can lose commits, so "
    "concurrent runs are refused. To write from several clusters, configure the multi-cluster "
    "log store (spark.delta.logStore.s3a.impl=io.delta.storage.S3DynamoDBLogStore with its "
    "DynamoDB table); synth still runs one pipeline at a time per lakehouse."
)


class LakehouseInUse(SynthError):
    """Another live run holds the lakehouse's run lock."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lock."""

    token: str
    host: str
    pid: int
    command: str
    started_at: str
    heartbeat_at: str

    def describe(self) -> str:
        """One line for messages."""
        return (
            f"{self.command!r} on host {self.host} (pid {self.pid}), started {self.started_at}, "
            f"last heartbeat {self.heartbeat_at}"
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _age_s(stamp: str) -> float:
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return float("inf")  # unreadable: as old as can be


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _read(path: str) -> Holder | None:
    """The holder in ``path``; None when the file is gone. An unreadable file is stale."""
    try:
        data = json.loads(files.read_text(path))
        return Holder(**data)
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return Holder("?", "?", -1, "(unreadable lock file)", "?", "")


def _text(holder: Holder) -> str:
    return json.dumps(asdict(holder))


class RunLock:
    """The run lock of one lakehouse (a context manager).

    Args:
        lakehouse: The lakehouse.
        command: What holds it, for the message another run gets (e.g. ``synth run``).
        stale_after_s: A lock whose heartbeat is older than this is stale (any host).
        heartbeat_s: How often the holder rewrites its heartbeat.
        settle_s: On a store without atomic create (object stores), how long a run waits
            between writing its lock and reading it back.
        note: A sentence added to the refusal another run gets (e.g. :data:`SINGLE_DRIVER_NOTE`).
    """

    def __init__(
        self,
        lakehouse: Lakehouse,
        *,
        command: str = "synth run",
        stale_after_s: float = 600.0,
        heartbeat_s: float = 30.0,
        settle_s: float = 2.0,
        note: str = "",
    ) -> None:
        if heartbeat_s <= 0 or stale_after_s <= 2 * heartbeat_s:
            raise ValueError(
                f"RunLock: stale_after_s ({stale_after_s}) must exceed twice heartbeat_s "
                f"({heartbeat_s}) > 0, or a live run's lock would look stale"
            )
        self.lakehouse = lakehouse
        self.path = files.join(lakehouse.root, LOCK_FILE)
        local = files.local_path(self.path) if files.kind_of(self.path) == "local" else None
        self._local = None if local is None else Path(local)
        self.settle_s = settle_s
        self.note = note
        self.command = command
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s
        self.holder: Holder | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # -- acquiring ---------------------------------------------------------------------------------
    def acquire(self) -> RunLock:
        """Take the lock, or raise :class:`LakehouseInUse` naming the live holder."""
        files.make_dirs(self.lakehouse.root)
        now = _now()
        mine = Holder(
            token=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=os.getpid(),
            command=self.command,
            started_at=now,
            heartbeat_at=now,
        )
        for _ in range(5):  # a takeover race lost is retried a few times
            if self._create(mine):
                self.holder = mine
                self._start_heartbeat()
                return self
            current = _read(self.path)
            if current is None:
                continue  # released meanwhile
            reason = self._stale(current)
            if reason is None:
                raise LakehouseInUse(
                    f"lakehouse {self.lakehouse.root} is in use by {current.describe()}. Wait "
                    f"for that run to finish. If it is dead and its lock was not detected as "
                    f"stale (a heartbeat is stale after {self.stale_after_s:.0f}s), remove "
                    f"{self.path}.{' ' + self.note if self.note else ''}"
                )
            self._take_over(current, reason)
        raise LakehouseInUse(
            f"lakehouse {self.lakehouse.root}: could not take the run lock {self.path} after "
            "several tries (other runs are starting at the same time); try again"
        )

    def _create(self, holder: Holder) -> bool:
        """Publish ``holder`` at :attr:`path` unless a lock is there.

        Atomic on a local folder (hard link); write-then-verify elsewhere (module docstring).
        """
        if self._local is None:
            if files.exists(self.path):
                return False
            files.write_text(self.path, _text(holder))
            time.sleep(self.settle_s)
            current = _read(self.path)
            return current is not None and current.token == holder.token
        tmp = self._local.with_name(f"{LOCK_FILE}.{holder.token}.tmp")
        tmp.write_text(_text(holder), encoding="utf-8")
        try:
            os.link(tmp, self._local)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _stale(self, holder: Holder) -> str | None:
        """Why ``holder``'s lock is stale; None while it is live."""
        if holder.host == socket.gethostname() and not _alive(holder.pid):
            return f"its process {holder.pid} on this host no longer exists"
        age = _age_s(holder.heartbeat_at)
        if age > self.stale_after_s:
            return f"its last heartbeat is {age:.0f}s old (stale after {self.stale_after_s:.0f}s)"
        return None

    def _take_over(self, stale: Holder, reason: str) -> None:
        if self._local is None:
            current = _read(self.path)
            if current is None or current.token != stale.token:
                return  # released or taken over meanwhile
            files.remove(self.path)
        elif not self._move_away(self._local, stale):
            return
        log.warning(
            "lakehouse %s: took over the stale run lock of %s: %s",
            self.lakehouse.root,
            stale.describe(),
            reason,
        )

    @staticmethod
    def _move_away(path: Path, stale: Holder) -> bool:
        """Rename the stale lock away (one rename wins); False when it was not ``stale``'s."""
        moved = path.with_name(f"{LOCK_FILE}.stale-{uuid.uuid4().hex}")
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            return False  # another run moved it first
        got = _read(str(moved))
        if got is not None and got.token != stale.token:
            # a live lock published after we read the stale one: put it back, unless yet
            # another run already holds the name
            with contextlib.suppress(FileExistsError):
                os.link(moved, path)
            moved.unlink(missing_ok=True)
            return False
        moved.unlink(missing_ok=True)
        return True

    # -- holding -----------------------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="synth-run-lock", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.beat()
            except SynthError as exc:  # a store unreachable for a moment: beat again later
                log.warning(
                    "lakehouse %s: the run lock's heartbeat failed: %s", self.lakehouse.root, exc
                )

    def beat(self) -> None:
        """Rewrite the heartbeat now (the holder's thread does it every ``heartbeat_s``)."""
        if self.holder is None:
            return
        current = _read(self.path)
        if current is None or current.token != self.holder.token:
            log.error(
                "lakehouse %s: this run's lock %s was removed or taken over; another run may "
                "write the lakehouse now",
                self.lakehouse.root,
                self.path,
            )
            self._stop.set()
            return
        self.holder = Holder(**{**asdict(self.holder), "heartbeat_at": _now()})
        files.write_text(self.path, _text(self.holder))  # atomic replace

    def release(self) -> None:
        """Give the lock back (only this run's own lock is removed)."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
            self._beat = None
        if self.holder is None:
            return
        current = _read(self.path)
        if current is not None and current.token == self.holder.token:
            files.remove(self.path)
        self.holder = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
