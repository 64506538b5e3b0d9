"""Shared fixtures: the device, a seeded generator, tiny networks, photos and photo folders, tiny training
runs, damaged safetensors files, the studio's tiny model holder, the shared reference folder."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

TINY_NET = dict(dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1, heads=(1, 2, 4, 8),
                ffn_expansion_factor=2.0)

# A restoration training run that takes well under a second a step on one CPU thread.
TINY_TRAIN = ["model_overrides.dim=8", "model_overrides.num_blocks=[1,1,1,1]", "model_overrides.num_refinement_blocks=1",
              "patch_size=32", "batch_size=2", "val_crop=32", "threads=1", "progress=false", "warmup_steps=2",
              "checkpoint_minutes=0"]


def write_photos(root: Path, train: int = 3, val: int = 2) -> Path:
    """Smooth random colour photos, 72 x 88 PNG, in ``<root>/{train,val}``; returns ``root``."""
    g = np.random.default_rng(0)
    for split, n in (("train", train), ("val", val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            yy, xx = np.mgrid[0:72, 0:88] / 88.0
            img = np.stack([np.sin(6 * yy * g.uniform(0.5, 2) + c + xx * g.uniform(1, 4)) for c in range(3)], -1)
            img = (0.5 + 0.4 * img + 0.05 * g.standard_normal(img.shape)).clip(0, 1)
            Image.fromarray((img * 255).astype(np.uint8)).save(root / split / f"p{i}.png")
    return root


def write_photo(path: Path, size=(37, 31), mode="RGB", seed=0) -> str:
    """A smooth random scene with some texture, saved at ``path`` in the PIL ``mode``; returns the path."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = Image.fromarray((rng.random((6, 6, 3)) * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    arr = np.clip(np.asarray(base, np.float32) + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr).convert(mode)
    img.save(path)
    return str(path)


def tiny_train_args(root: Path, photos: Path, name: str, *extra: str) -> list[str]:
    """Command line of a tiny training run on ``photos`` writing ``<root>/runs/<name>``."""
    return [f"name={name}", f"out_dir={root / 'runs'}", f"photos={photos}", *TINY_TRAIN, *extra]


def flip_tensor_bit(path: Path) -> None:
    """Flip one bit in the middle of the tensor data of the safetensors file ``path`` (past the
    8-byte header length and the JSON header): a damaged copy whose header still reads."""
    data = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")
    assert start < len(data), f"{path} holds no tensor data"
    data[(start + len(data)) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def strip_digest(path: Path) -> None:
    """Rewrite the safetensors file ``path`` without its ``sha256`` metadata entry, as older files are."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    with safe_open(str(path), framework="pt") as f:
        metadata = {k: v for k, v in (f.metadata() or {}).items() if k != "sha256"}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    save_file(tensors, str(path), metadata=metadata)


@pytest.fixture(scope="session")
def flip_bit():
    """``flip_bit(path)``: one flipped bit in a safetensors file's tensor data (:func:`flip_tensor_bit`)."""
    return flip_tensor_bit


@pytest.fixture(scope="session")
def without_digest():
    """``without_digest(path)``: rewrite a safetensors file without its checksum (:func:`strip_digest`)."""
    return strip_digest


@pytest.fixture
def device() -> torch.device:
    return torch.device("cpu")


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch threads, then restore the previous number."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread():
    """One torch thread: on a shared 2-core machine more threads oversubscribe and crawl."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def one_thread_module():
    """:func:`one_thread` for a whole module (module-scoped fixtures that run the network)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def make_photos():
    """``make_photos(root, train=3, val=2) -> root``: a photo folder (see :func:`write_photos`)."""
    return write_photos


@pytest.fixture(scope="session")
def make_photo():
    """``make_photo(path, size=(37, 31), mode="RGB", seed=0) -> str``: one photo (:func:`write_photo`)."""
    return write_photo


@pytest.fixture
def photos(tmp_path) -> Path:
    """Three train and two val photos under ``tmp_path/photos``."""
    return write_photos(tmp_path / "photos")


@pytest.fixture(scope="session")
def train_args():
    """``train_args(root, photos, name, *overrides)``: a tiny training run's command line (:func:`tiny_train_args`)."""
    return tiny_train_args


@pytest.fixture(scope="module")
def holder():
    """A studio model holder (``app.state.ModelHolder``) serving the seeded random-weight tiny restorer
    (``app.testing.tiny_restorer``), one per test module."""
    from app.config import AppConfig
    from app.state import ModelHolder
    from app.testing import tiny_restorer
    restorer, note = tiny_restorer()
    return ModelHolder(AppConfig(), lambda cfg: (restorer, note))


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
