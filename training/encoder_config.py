"""YAML config + `key=value` overrides -> a frozen dataclass (the encoder scripts' command line).

    --config training/configs/encoder_offline.yaml epochs=5 encoder.backbone=clip

Values are parsed as YAML (`5`, `true`, `[a, b]`, `null`); a dotted key sets a key inside a
mapping field. Unknown keys are an error naming the known ones.
"""
from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set `key=value` (dotted keys reach into mappings) in `data`, in place."""
    if "=" not in item:
        raise ValueError(f"override {item!r} is not of the form key=value")
    key, _, raw = item.partition("=")
    value = yaml.safe_load(raw) if raw else None
    *parents, leaf = key.strip().split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"override {item!r}: {part!r} is not a mapping")
    node[leaf] = value


def build(cls: type[T], data: dict[str, Any]) -> T:
    """`cls(**data)` with a one-line error for unknown keys; lists become tuples where the default is one."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; known keys are {sorted(known)}")
    data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**data)


def load_config(cls: type[T], argv: list[str] | None, description: str = "") -> T:
    """Parse `--config FILE [key=value ...]` into `cls`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, help="YAML file of defaults")
    parser.add_argument("overrides", nargs="*", help="key=value settings that override the file")
    args = parser.parse_args(argv)
    data: dict[str, Any] = {}
    if args.config is not None:
        if not args.config.is_file():
            raise FileNotFoundError(f"config file {args.config} does not exist")
        data = yaml.safe_load(args.config.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{args.config} must hold a mapping of keys to values")
    for item in args.overrides:
        apply_override(data, item)
    return build(cls, data)
