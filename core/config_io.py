"""Readers shared by the typed configurations (network, encoder, baselines): a JSON object, and a
frozen dataclass built from a plain dict whose unknown keys are one error line."""
from __future__ import annotations

import json
from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def json_object(text: str, what: str, error: type[Exception]) -> dict:
    """``text`` parsed as a JSON object; anything else is one ``error`` line naming ``what``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{what} JSON must be an object")
    return data


def dataclass_from_dict(cls: type[T], data: dict[str, Any], what: str, error: type[Exception] = ValueError) -> T:
    """``cls(**data)``; keys that are not fields of ``cls`` are one ``error`` line naming them and
    the known keys (``what``: the config's name in that line)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(f"unknown {what} keys {unknown}; known keys: {sorted(known)}")
    return cls(**data)
