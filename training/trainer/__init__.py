"""Restoration training: config, data plan, loop, resumable state, logs (see training/train_restorer.py)."""
from .config import TrainConfig, TrainConfigError, parse_args
from .loop import train
from .schedule import learning_rate

__all__ = ["TrainConfig", "TrainConfigError", "learning_rate", "parse_args", "train"]
