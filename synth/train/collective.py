"""What the shared training loop needs from a backend: ranks, averaging, a prepared model.

A registry (:data:`COLLECTIVES`) keyed by the config's ``backend``:

* ``local``: one process; everything is the identity.
* ``horovod``: ``hvd.init()``; parameters and optimizer state broadcast from rank 0; every
  optimizer wrapped in ``hvd.DistributedOptimizer`` (gradients averaged by allreduce during the
  backward pass); metrics averaged with ``hvd.allreduce``.
* ``torch_distributor``: ``torch.distributed`` as set up by TorchDistributor's ``torchrun``
  (Gloo on CPU, NCCL on GPU); parameters broadcast from rank 0; every optimizer wrapped so its
  step first averages the gradients with one flattened ``all_reduce`` per optimizer (what DDP's
  reducer does; DDP's module wrapper itself is not used because the WGAN-GP critic's gradient
  penalty differentiates through ``torch.autograd.grad``, which DDP's documentation lists as
  unsupported and which gives wrong reduced gradients under DDP: pytorch/pytorch#47562).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

from synth.models.base import TrainableModel

# Set by torchrun's agent in every worker process it starts (TorchDistributor launches torchrun).
TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"


def _end_before_teardown() -> None:
    if any(getattr(sys, name, None) is not None for name in ("last_exc", "last_value")):
        return  # the script raised after training: Python's own exit (and its code) stands
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def end_at_exit() -> None:
    """End this process with code 0 when its script completes, before the interpreter's teardown.

    For a ``torchrun`` worker whose training succeeded. At the first exit handler, the output
    is written (TorchDistributor's script pickles the function's result before it exits), logs
    and standard streams are flushed, and the process ends without tearing the interpreter down.
    A script that raised after this call keeps its traceback and non-zero exit code.

    Why: Gloo's worker threads drop their last reference to a finished collective's tensors a
    moment after the caller sees the result. When that moment falls inside the interpreter's
    teardown, the thread cannot take the GIL, and the process aborts (``terminate called
    without an active exception``, SIGABRT: a core dump shows ``ProcessGroupGloo::runLoop``
    destroying an ``AsyncAllreduceWork`` in ``pybind11::gil_scoped_acquire`` while the main
    thread is in ``Py_FinalizeEx``; the same race as pytorch/pytorch#179291).

    A loop over the SASRec TorchDistributor test (``tests/integration/recommend/
    test_sequence.py``), with the barrier of :meth:`TorchDistributedCollective.finish` taken out
    to make the race likelier, met the abort before this function and not with it (counts in
    the commit that added it). The barrier alone makes the abort rarer, not impossible (a 300 s
    stall in a suite run of 2026-12-06). PySpark 4.0's ``torch_run_process_wrapper`` exits 0
    whatever ``torchrun`` returned, so an abort of rank 0 (after its output is written) goes
    unseen; an abort of another rank leaves rank 0's agent in ``torchrun``'s 300 s exit
    barrier, waiting for an agent that has already failed: a run that passes 5 minutes late.
    """
    atexit.unregister(_end_before_teardown)  # registered once, however often this is called
    atexit.register(_end_before_teardown)


class Collective(ABC):
    """A training process's view of its group."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @abstractmethod
    def prepare(self, model: TrainableModel) -> None:
        """Make every rank start from rank 0's weights; make optimizers average gradients."""

    @abstractmethod
    def min_int(self, value: int) -> int:
        """The smallest ``value`` over the ranks."""

    @abstractmethod
    def sum_int(self, value: int) -> int:
        """The sum of ``value`` over the ranks."""

    @abstractmethod
    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the ranks (same keys on every rank)."""

    def finish(self) -> None:  # noqa: B027 - optional hook
        """Wait until every rank is done with its collectives (after a run that did not fail)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the group (when the backend needs it)."""


class LocalCollective(Collective):
    """One process."""

    def prepare(self, model: TrainableModel) -> None:  # noqa: D102
        return None

    def min_int(self, value: int) -> int:  # noqa: D102
        return value

    def sum_int(self, value: int) -> int:  # noqa: D102
        return value

    def mean(self, values: dict[str, float]) -> dict[str, float]:  # noqa: D102
        return dict(values)


class HorovodCollective(Collective):
    """Horovod (Gloo on CPU, NCCL on GPU, as the wheel was built)."""

    def __init__(self) -> None:
        import horovod.torch as hvd

        hvd.init()
        self.hvd = hvd
        self.rank, self.size, self.local_rank = hvd.rank(), hvd.size(), hvd.local_rank()

    def prepare(self, model: TrainableModel) -> None:  # noqa: D102
        hvd = self.hvd
        for module in model._modules().values():
            hvd.broadcast_parameters(module.state_dict(), root_rank=0)
        named = model.optimizer_parameters()
        for name, optimizer in list(model.optimizers.items()):
            hvd.broadcast_optimizer_state(optimizer, root_rank=0)
            model.optimizers[name] = hvd.DistributedOptimizer(
                optimizer, named_parameters=named[name], op=hvd.Average
            )

    def min_int(self, value: int) -> int:  # noqa: D102
        out = self.hvd.allreduce(
            torch.tensor([value], dtype=torch.int64), op=self.hvd.Min, name="synth.min_int"
        )
        return int(out[0])

    def sum_int(self, value: int) -> int:  # noqa: D102
        out = self.hvd.allreduce(
            torch.tensor([value], dtype=torch.int64), op=self.hvd.Sum, name="synth.sum_int"
        )
        return int(out[0])

    def mean(self, values: dict[str, float]) -> dict[str, float]:  # noqa: D102
        keys = sorted(values)
        tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        out = self.hvd.allreduce(tensor, op=self.hvd.Average, name="synth.mean")
        return {k: float(v) for k, v in zip(keys, out.tolist(), strict=True)}

    def close(self) -> None:  # noqa: D102
        self.hvd.shutdown()


class _AveragingOptimizer:
    """Wraps an optimizer: ``step`` averages the gradients over the group first."""

    def __init__(self, optimizer: torch.optim.Optimizer, size: int) -> None:
        self.optimizer, self.size = optimizer, size

    def step(self) -> None:
        grads = [
            p.grad
            for group in self.optimizer.param_groups
            for p in group["params"]
            if p.grad is not None
        ]
        if grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= self.size
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()
        self.optimizer.step()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)


class TorchDistributedCollective(Collective):
    """``torch.distributed`` under TorchDistributor (environment from ``torchrun``)."""

    def __init__(self) -> None:
        backend = (
            "nccl" if torch.cuda.is_available() and os.environ.get("SYNTH_USE_GPU") else "gloo"
        )
        if not dist.is_initialized():
            dist.init_process_group(backend=backend)
        self.dist = dist
        self.rank, self.size = dist.get_rank(), dist.get_world_size()
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))

    def prepare(self, model: TrainableModel) -> None:  # noqa: D102
        for module in model._modules().values():
            for tensor in module.state_dict().values():
                self.dist.broadcast(tensor, src=0)
        for name, optimizer in list(model.optimizers.items()):
            model.optimizers[name] = _AveragingOptimizer(optimizer, self.size)  # type: ignore[assignment]

    def min_int(self, value: int) -> int:  # noqa: D102
        tensor = torch.tensor([value], dtype=torch.int64)
        self.dist.all_reduce(tensor, op=self.dist.ReduceOp.MIN)
        return int(tensor[0])

    def sum_int(self, value: int) -> int:  # noqa: D102
        tensor = torch.tensor([value], dtype=torch.int64)
        self.dist.all_reduce(tensor)
        return int(tensor[0])

    def mean(self, values: dict[str, float]) -> dict[str, float]:  # noqa: D102
        keys = sorted(values)
        tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
        self.dist.all_reduce(tensor)
        return {k: float(v) / self.size for k, v in zip(keys, tensor.tolist(), strict=True)}

    def finish(self) -> None:
        """A barrier, then :func:`end_at_exit` (under ``torchrun`` only).

        The barrier: no rank tears the group down while another is still using it.
        :func:`end_at_exit`: this worker process ends before the interpreter's teardown, where
        Gloo's worker threads can abort it (see that function).
        """
        self.dist.barrier()
        if TORCHRUN_ENV in os.environ:
            end_at_exit()

    def close(self) -> None:  # noqa: D102
        self.dist.destroy_process_group()


COLLECTIVES: dict[str, Callable[[], Collective]] = {
    "local": LocalCollective,
    "horovod": HorovodCollective,
    "torch_distributor": TorchDistributedCollective,
}
