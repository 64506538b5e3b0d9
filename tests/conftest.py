"""Shared fixtures: the device, a seeded generator, tiny networks, the shared reference folder."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

TINY_NET = dict(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, heads=(1, 2, 4, 8),
                ffn_expansion_factor=2.0)


@pytest.fixture
def device() -> torch.device:
    return torch.device("cpu")


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine more threads oversubscribe and crawl."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny_net_kwargs() -> dict:
    return dict(TINY_NET)


@pytest.fixture
def tiny_net():
    """A seeded, very small VLU-Net (all 8 stages, 1 block each) in eval mode."""
    from core import VLUNet
    torch.manual_seed(0)
    return VLUNet(**TINY_NET).eval()


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the shared reference folder {SHARED} is absent")
    return SHARED
