"""Restoration training: config, data plan, loop, resumable state, logs (see training/train_restorer.py)."""
from .config import TrainConfig, TrainConfigError, parse_args
from .loop import learning_rate, train

__all__ = ["TrainConfig", "TrainConfigError", "learning_rate", "parse_args", "train"]
