"""Shipped encoder adapters, found by name: `list_encoders()`, `resolve_encoder(name_or_path)`."""
from __future__ import annotations

from pathlib import Path

from .errors import EncoderAssetMissingError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "encoder"

# name -> (file in assets/encoder, the command that creates it)
ENCODERS: dict[str, tuple[str, str]] = {
    "offline": ("offline-adapters.safetensors",
                "python -m training.train_encoder --config training/configs/encoder_offline.yaml"),
    "clip": ("clip-vit-b-32-adapters.safetensors",
             "python -m training.train_encoder --config training/configs/encoder_clip.yaml"),
}
DEFAULT = "offline"


def list_encoders(available_only: bool = False) -> list[str]:
    """Registered encoder names (those whose file is present, with `available_only`)."""
    return sorted(n for n, (f, _) in ENCODERS.items() if not available_only or (ASSETS / f).is_file())


def resolve_encoder(name_or_path: str | Path | None = None) -> Path:
    """A registered name (None: the shipped offline default) or a file path -> an existing file."""
    name = DEFAULT if name_or_path is None else str(name_or_path)
    if name in ENCODERS:
        file, command = ENCODERS[name]
        path = ASSETS / file
        if not path.is_file():
            raise EncoderAssetMissingError(f"encoder adapters {name!r} not found at {path}; create them with `{command}`")
        return path
    path = Path(name)
    if not path.is_file():
        raise EncoderAssetMissingError(f"{name!r} is neither a registered encoder {list_encoders()} nor an existing file")
    return path
