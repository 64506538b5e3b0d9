"""Opt-in reduced precision for CPU inference: bfloat16 convolutions and matrix products.

Inside :func:`bfloat16_inference` the network's convolutions and matrix products run in
bfloat16 (oneDNN kernels, about twice the float32 throughput on CPUs with ``avx512_bf16``),
while layer normalisation, the softmax, the residual sums and the degradation-key retrieval
stay in float32 (PyTorch's CPU autocast policy, which the blocks' dtypes then follow: a
float32 residual plus a bfloat16 branch is float32). The output is float32.

It is not the default: bfloat16 keeps 8 bits of mantissa, and the outputs differ from float32
by more than the 1e-3 allowed for a reduced-precision path (max abs difference about 5e-3 on
the paper configuration); the measured difference on restored images (PSNR) is in
docs/benchmarks.md. Float32 inference (no context) is unchanged.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def bfloat16_inference(enabled: bool = True) -> Iterator[None]:
    """Run CPU forwards of VLU-Net in bfloat16 within this context (``enabled=False``: float32)."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
        yield
