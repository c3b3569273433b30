"""Work the suite's processes do once between them: the suite runs on pytest-xdist workers.

``bin/test`` runs the tests on two worker processes (pyproject's addopts). What is built for the
whole suite (the class archive of :mod:`tests.jvm`, the gold lakehouses of
``tests/integration/conftest.py``) is built by the first worker that needs it, under an
exclusive file lock, while the other waits and then uses it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


@contextlib.contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (made if missing) across processes."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_temp(factory: pytest.TempPathFactory) -> Path:
    """A temporary folder every worker of this run sees (the run's own when there are none)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
