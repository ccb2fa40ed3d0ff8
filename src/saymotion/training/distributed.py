"""Process context for single-process and torchrun (DDP) training.

Launch several processes with `torchrun --nproc-per-node N -m saymotion train ...` (add `--nnodes`
and a rendezvous endpoint for several machines). Each process trains on its own batches; gradients
are averaged by DistributedDataParallel, codebook statistics by the quantizer itself, and only
rank 0 writes checkpoints and logs. The backend is gloo on CPU and NCCL on CUDA.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from saymotion.errors import SaymotionError


@dataclass(frozen=True)
class RunContext:
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when available; `cuda` without a GPU is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SaymotionError("--device cuda was requested but no CUDA GPU is available")
    if name != "cpu" and not name.startswith("cuda"):
        raise SaymotionError(f"unknown device {name!r} (use auto, cpu or cuda)")
    return torch.device(name)


def start(device_name: str) -> RunContext:
    """Join the torchrun process group when launched by torchrun, else run alone."""
    device = resolve_device(device_name)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return RunContext(device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return RunContext(device, dist.get_rank(), dist.get_world_size())


def stop(context: RunContext) -> None:
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: RunContext) -> None:
    if context.distributed:
        dist.barrier()


def wrap(model: nn.Module, context: RunContext) -> nn.Module:
    """The model as the training step should call it: DDP-wrapped when distributed."""
    if not context.distributed:
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    # Buffers (codebooks) are kept identical by the quantizer's own collectives; no re-broadcast.
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, forward_sync_buffers=False)


def model_digest(model: nn.Module) -> str:
    """A short hash of every parameter and buffer, to compare replicas."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def check_replicas_agree(model: nn.Module, context: RunContext) -> str:
    """Raise if the replicas' weights differ (a synchronisation bug); returns this replica's digest."""
    digest = model_digest(model)
    if context.distributed:
        digests: list[str | None] = [None] * context.world_size
        dist.all_gather_object(digests, digest)
        if len(set(digests)) != 1:
            raise SaymotionError(f"DDP replicas diverged: weight digests {digests}")
    return digest
