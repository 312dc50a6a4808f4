"""Data-parallel training on PyTorch's own engine: torchrun starts the processes, we join them.

`torchrun --nproc-per-node N -m archspec train SPEC ...` sets WORLD_SIZE, RANK and LOCAL_RANK;
`World.from_environment()` then joins the process group (gloo on CPU, NCCL on CUDA). Every rank
draws the same global batch order (seeded by seed and epoch) and prepares the same global batch,
then keeps its strided share, so N processes at batch B/N see exactly the batches one process
sees at batch B. DistributedDataParallel averages the gradients; metrics are summed across ranks;
only rank 0 writes files or prints.

Under `torchrun --max-restarts N` a failed rank makes torchrun stop the group and start it again with
TORCHELASTIC_RESTART_COUNT one higher; `Elastic.from_environment()` reads that, and the run plan
(archspec.train.plan) continues the attempt's run folder from its last checkpoint. `World.agree` makes the
ranks compare what each was given (spec, recipe, data) before a step is trained.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch._C._distributed_c10d import PrefixStore, TCPStore

from archspec.errors import ArchspecError

T = TypeVar("T")


@dataclass(frozen=True)
class Elastic:
    """What torchrun says of this attempt: its rendezvous id, which restart it is, how many it may have."""

    run_id: str | None = None  # torchrun's --rdzv-id (a fresh uuid with --standalone); None outside torchrun
    restart: int = 0  # TORCHELASTIC_RESTART_COUNT: 0 for the first attempt
    max_restarts: int = 0

    @classmethod
    def from_environment(cls) -> Elastic:
        run_id = os.environ.get("TORCHELASTIC_RUN_ID")
        return cls(
            run_id if run_id not in (None, "", "none") else None,  # "none": torchrun's default --rdzv-id
            _int_env("TORCHELASTIC_RESTART_COUNT"),
            _int_env("TORCHELASTIC_MAX_RESTARTS"),
        )

    @property
    def restarted(self) -> bool:
        return self.restart > 0

    @property
    def may_restart(self) -> bool:
        return self.max_restarts > 0


def _attempt_store() -> dict[str, Any]:
    """On a restarted attempt, the process group's rendezvous on torchrun's shared store under a prefix of its
    own; {} otherwise (torch's env:// default). torchrun (2.13) keeps one TCP store for all its attempts and
    gives the workers no prefix per attempt, so the keys of the killed attempt (its ranks' addresses, its
    barrier counts) are still there: a restarted rank then connected to a dead address, or waited for ever."""
    restart = _int_env("TORCHELASTIC_RESTART_COUNT")
    if restart == 0 or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return {}
    size = int(os.environ["WORLD_SIZE"])
    shared = TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), size, is_master=False)
    store = PrefixStore(f"archspec/attempt-{restart}", shared)
    return {"store": store, "rank": int(os.environ["RANK"]), "world_size": size}


def _int_env(name: str) -> int:
    text = os.environ.get(name, "0")
    return int(text) if text.isdigit() else 0


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environment(cls, device: torch.device) -> World:
        """Join torchrun's process group if this process was started by torchrun with more than one process."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size <= 1:
            return cls()
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            if device.type == "cuda":
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group(backend, **_attempt_store())
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process: cuda becomes cuda:LOCAL_RANK under torchrun."""
        if device.type == "cuda" and self.size > 1:
            return torch.device("cuda", self.local_rank)
        return device

    def shard(self, tensor: torch.Tensor) -> torch.Tensor:
        """This rank's strided share of a batch (shares differ in size by at most one)."""
        return tensor[self.rank :: self.size] if self.size > 1 else tensor

    def share(self, local: int, total: int) -> float:
        """What this rank's mean loss over `local` of a global batch's `total` examples is multiplied by, so that
        DDP's average of the ranks' gradients is the gradient of the global batch's mean: local x size / total
        (exactly 1.0 where the shares are equal, and always in one process)."""
        return local * self.size / total if self.size > 1 else 1.0

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of `tensor` over all ranks (in place)."""
        if self.size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def broadcast(self, value: T) -> T:
        """Rank 0's `value`, on every rank."""
        if self.size == 1:
            return value
        box: list[Any] = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]  # type: ignore[no-any-return]

    def agree(self, what: str, value: str) -> None:
        """Refuse, on every rank alike, when the ranks hold different `value`s of `what` (a hash): the error
        names rank 0's value and the first rank that differs, and its own. Every rank must call it."""
        if self.size == 1:
            return
        values: list[Any] = [None] * self.size
        dist.all_gather_object(values, value)
        for rank, other in enumerate(values):
            if other != values[0]:
                raise ArchspecError(
                    f"rank {rank} was given another {what} than rank 0 ({other} against {values[0]}); "
                    "every process must train the same thing: start them all with the same arguments and files"
                )

    def wrap(self, model: nn.Module, device: torch.device, sync_batchnorm: bool) -> nn.Module:
        """The module to train: `model` itself, or DistributedDataParallel around it."""
        if sync_batchnorm:
            if self.size == 1:
                return model
            if device.type != "cuda":
                raise ArchspecError(
                    "sync_batchnorm: PyTorch's SyncBatchNorm runs only on GPUs; on the CPU set it to false "
                    "(each process then normalises its own share of the batch)"
                )
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[no-untyped-call]
        if self.size == 1:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def finish(self) -> None:
        """Wait for every rank at the end of a run that went well, so that no rank tears gloo's connections down
        while another still uses them: without it a rank sometimes aborted at exit on a loaded machine
        ("terminate called without an active exception") after the run itself had finished. Not on an error:
        the other ranks may never get here, and a barrier would hang."""
        if self.size > 1 and dist.is_initialized():
            dist.barrier()

    def close(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()
