"""Data-parallel training on PyTorch's own engine: torchrun starts the processes, we join them.

`torchrun --nproc-per-node N -m archspec train SPEC ...` sets WORLD_SIZE, RANK and LOCAL_RANK;
`World.from_environment()` then joins the process group (gloo on CPU, NCCL on CUDA). Every rank
draws the same global batch order (seeded by seed and epoch) and prepares the same global batch,
then keeps its strided share, so N processes at batch B/N see exactly the batches one process
sees at batch B. DistributedDataParallel averages the gradients; metrics are summed across ranks;
only rank 0 writes files or prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from archspec.errors import ArchspecError

T = TypeVar("T")


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
            dist.init_process_group(backend)
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process: cuda becomes cuda:LOCAL_RANK under torchrun."""
        if device.type == "cuda" and self.size > 1:
            return torch.device("cuda", self.local_rank)
        return device

    def shard(self, tensor: torch.Tensor) -> torch.Tensor:
        """This rank's strided share of a batch (shares differ in size by at most one)."""
        return tensor[self.rank :: self.size] if self.size > 1 else tensor

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
