"""How a torchrun worker ends: before the interpreter's teardown, and only after a run that worked.

Each case runs a Python process whose teardown aborts (an object whose ``__del__`` calls
``os.abort()``, freed when the interpreter clears its modules), which is where Gloo's worker
threads abort a real worker (:func:`synth.train.collective.end_at_exit`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from synth.train.collective import TORCHRUN_ENV
from tests.jvm import ROOT

_ABORTING_TEARDOWN = """
import os


class AbortsAtTeardown:
    def __del__(self, abort=os.abort) -> None:  # bound now: module globals are gone by then
        abort()


teardown = AbortsAtTeardown()
"""


def _run(
    body: str, *, torchrun: bool = False, aborting_teardown: bool = True
) -> subprocess.CompletedProcess[str]:
    script = (_ABORTING_TEARDOWN if aborting_teardown else "") + textwrap.dedent(body)
    env = {k: v for k, v in os.environ.items() if k != TORCHRUN_ENV}
    if torchrun:
        env[TORCHRUN_ENV] = "synth-test"
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


def test_the_stand_in_teardown_aborts_a_process_left_to_end_normally():
    # Run
    done = _run('print("output written")\n')
    # Assert: without end_at_exit the process dies by SIGABRT, as the workers did
    assert done.returncode == -signal.SIGABRT, done.stderr


def test_end_at_exit_ends_with_code_0_and_flushed_output():
    # Run
    done = _run(
        """
        from synth.train.collective import end_at_exit
        end_at_exit()
        end_at_exit()  # twice: one handler
        print("output written")  # buffered (a pipe): the handler flushes it
        """
    )
    # Assert
    assert done.returncode == 0, done.stderr
    assert done.stdout == "output written\n"


def test_a_script_that_raises_after_end_at_exit_keeps_its_failure():
    # Run
    done = _run(
        """
        from synth.train.collective import end_at_exit
        end_at_exit()
        raise RuntimeError("the output could not be written")
        """,
        aborting_teardown=False,
    )
    # Assert: Python's own exit code for an uncaught exception, and its traceback
    assert done.returncode == 1, done.stderr
    assert "RuntimeError: the output could not be written" in done.stderr


@pytest.mark.parametrize("under_torchrun", [True, False])
def test_finish_ends_a_torchrun_worker_before_teardown(tmp_path, under_torchrun):
    # Arrange: a one-rank Gloo group, one all_reduce, then the end of a run that worked
    body = f"""
        import torch
        import torch.distributed as dist
        from synth.train.collective import TorchDistributedCollective

        dist.init_process_group(
            "gloo", init_method="file://{tmp_path / "store"}", rank=0, world_size=1
        )
        collective = TorchDistributedCollective()
        assert collective.sum_int(3) == 3
        collective.finish()
        collective.close()
        print("trained")
        """
    # Run
    done = _run(body, torchrun=under_torchrun)
    # Assert: only a worker started by torchrun is ended early
    if under_torchrun:
        assert done.returncode == 0, done.stderr
        assert done.stdout == "trained\n"
    else:
        assert done.returncode == -signal.SIGABRT, done.stderr
