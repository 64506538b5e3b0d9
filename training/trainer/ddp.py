"""Process-group setup for ``torchrun`` (NCCL on GPUs, gloo on CPUs) and the single-process case."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass
class Distributed:
    rank: int
    world_size: int
    device: torch.device
    initialised: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str = "auto") -> "Distributed":
        """Read ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (set by torchrun) and join the group."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(device)
        if dev.type == "cuda":
            dev = torch.device("cuda", local)
            torch.cuda.set_device(dev)
        if world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        return cls(rank, world, dev, world > 1)

    def wrap(self, network: torch.nn.Module, find_unused: bool = False) -> torch.nn.Module:
        """DDP around ``network`` (itself when single-process). ``find_unused``: some parameters
        get no gradient (VLU-Net's retrieval layers under uniform retrieval)."""
        if self.world_size == 1:
            return network
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(network, device_ids=ids, find_unused_parameters=find_unused)

    def broadcast_int(self, value: int) -> int:
        """Process 0's ``value`` on every process (the value itself when single-process)."""
        if self.world_size == 1:
            return value
        box = torch.tensor([value], dtype=torch.int64, device=self.device)
        dist.broadcast(box, src=0)
        return int(box.item())

    def close(self) -> None:
        if self.initialised and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
