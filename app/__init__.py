"""VLU-Net Studio, the Gradio app: ``from app import build_demo; build_demo().launch()``.

``build_demo`` is imported on first use, so ``app.handlers`` and friends load without gradio.
"""
from __future__ import annotations

__all__ = ["build_demo", "launch_kwargs"]


def __getattr__(name: str):
    if name in __all__:
        from . import ui
        return getattr(ui, name)
    raise AttributeError(f"module 'app' has no attribute {name!r}")
