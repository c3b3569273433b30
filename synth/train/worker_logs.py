"""TorchDistributor's worker-log server, without the port race of PySpark 4.0's.

PySpark's ``LogStreamingServer`` picks a port by binding ``(spark.driver.host, 0)`` and closing
that socket, then binds ``("0.0.0.0", port)`` again in a thread. Between the two, or on another
address of the same host, the kernel may hand that port to any other socket (an outgoing
connection's local port is one): the second bind then fails with ``EADDRINUSE`` in the thread,
the workers' connections are refused and every line they print (the training progress among
them) is lost. Training itself goes on. The suite met it once in CI (``test_sequence.py``'s
TorchDistributor test, 2026-12-05).

:class:`BoundLogStreamingServer` binds its listening socket once, to port 0, and reports the
port the kernel gave it, so there is nothing to lose between choosing and listening.
:func:`install` puts it where ``pyspark.ml.torch.distributor`` looks the server class up.
"""

from __future__ import annotations

import socketserver
import threading

from pyspark.ml.torch import distributor as _distributor
from pyspark.ml.torch.log_communication import (  # type: ignore[attr-defined]
    _SERVER_POLL_INTERVAL,
    LogStreamingServer,
    WriteLogToStdout,
)

# The interface PySpark's distributor uses: start(spark_host_address), .port, shutdown().
_EXPECTED = ("start", "shutdown")


class BoundLogStreamingServer(LogStreamingServer):  # type: ignore[misc]
    """PySpark's log server, listening on a port it holds from the moment it is chosen."""

    server: socketserver.ThreadingTCPServer | None
    serve_thread: threading.Thread | None
    port: int | None

    def start(self, spark_host_address: str = "") -> None:
        """Listen on all addresses (as PySpark's does) on a port the kernel picks, then serve.

        ``spark_host_address`` is accepted for the caller's signature; like PySpark's server,
        this one listens on every address, and workers connect to the driver's host.
        """
        if self.server:
            raise RuntimeError("Cannot start the server twice.")
        server = socketserver.ThreadingTCPServer(("0.0.0.0", 0), WriteLogToStdout)
        server.is_active = True  # type: ignore[attr-defined]
        self.server = server
        self.port = int(server.server_address[1])

        def serve() -> None:
            try:
                server.serve_forever(poll_interval=_SERVER_POLL_INTERVAL)
            finally:
                server.server_close()

        self.serve_thread = threading.Thread(target=serve, name="synth-worker-logs", daemon=True)
        self.serve_thread.start()


def install() -> bool:
    """Make TorchDistributor use :class:`BoundLogStreamingServer`; False if PySpark changed.

    Idempotent. If PySpark's distributor no longer looks up ``LogStreamingServer`` by that name,
    or the class lost the methods this one relies on, nothing is replaced and PySpark's own
    server is used.
    """
    current = getattr(_distributor, "LogStreamingServer", None)
    if current is BoundLogStreamingServer:
        return True
    if current is not LogStreamingServer or not all(
        callable(getattr(LogStreamingServer, name, None)) for name in _EXPECTED
    ):
        return False
    _distributor.LogStreamingServer = BoundLogStreamingServer
    return True
