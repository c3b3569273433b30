"""An S3-compatible server on loopback for the tests: moto's server mode, in a subprocess.

The s3a:// lakehouse tests run Spark (through Hadoop's s3a connector) and the file layer
(through pyarrow) against it; nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

ACCESS_KEY, SECRET_KEY, REGION = "synth-test-key", "synth-test-secret", "us-east-1"


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class S3Server:
    """A running server: its endpoint and the credentials it accepts (any, in fact)."""

    endpoint: str

    @property
    def env(self) -> dict[str, str]:
        """The AWS environment that points the file layer (and s3a's credential chain) at it."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    @property
    def spark_conf(self) -> dict[str, str]:
        """The s3a settings of a Spark session that uses it."""
        return {
            "spark.hadoop.fs.s3a.endpoint": self.endpoint,
            "spark.hadoop.fs.s3a.endpoint.region": REGION,
            "spark.hadoop.fs.s3a.access.key": ACCESS_KEY,
            "spark.hadoop.fs.s3a.secret.key": SECRET_KEY,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        }

    def new_bucket(self) -> str:
        """Create an empty bucket; its name."""
        import pyarrow.fs as pafs

        name = f"synth-{uuid.uuid4().hex[:12]}"
        host = self.endpoint.split("://", 1)[1]
        pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            region=REGION,
            endpoint_override=host,
            scheme="http",
            allow_bucket_creation=True,
        ).create_dir(name)
        return name


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    if proc.poll() is None:
        proc.kill()


def _start(timeout_s: float, attempts: int) -> tuple[subprocess.Popen[bytes], int]:
    """moto's server, listening on a free loopback port; another port if the first was taken.

    A free port can be taken between its choice and moto's bind (by any socket, an outgoing
    connection's local port among them): moto then exits, and the next attempt picks again.
    """
    for _ in range(attempts):
        port = free_port()
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return proc, port
            if time.monotonic() > deadline:
                _stop(proc)
                raise RuntimeError(f"moto's S3 server did not start on port {port}")
            time.sleep(0.1)
    raise RuntimeError(f"moto's S3 server exited at start {attempts} times (ports taken?)")


@contextlib.contextmanager
def s3_server(timeout_s: float = 30.0, attempts: int = 3) -> Iterator[S3Server]:
    """Start moto's server on a free loopback port; stop it on exit."""
    proc, port = _start(timeout_s, attempts)
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        _stop(proc)
