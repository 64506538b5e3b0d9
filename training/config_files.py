"""Command lines of the form ``--config FILE [key=value ...]``: a YAML mapping of defaults, then overrides.

    python -m training.train_restorer --config training/configs/base/cpu.yaml name=mine steps=10 model_overrides.dim=16
    python -m training.train_encoder --config training/configs/encoder_offline.yaml epochs=5 encoder.backbone=clip

Values are parsed as YAML (``5``, ``true``, ``[a, b]``, ``{dim: 8}``, ``null``); a dotted key sets a
key inside a mapping field. A file may start from another with ``base: other.yaml`` (a path relative
to the file's folder): the base's keys come first and every key of the file replaces the base's
whole value (a ``task_repeat`` is written out in full), so a training phase that changes a few keys
of the one before it names that file and the keys; bases may chain, a cycle is an error. Where the
chain sets a ``name``, the file (or a ``name=`` override) must set its own: a run's folder is its
name, and a phase that took its base's would write into, and resume, the base's run.

Every problem -- a YAML syntax error, a file that is not a mapping, an override without ``=``, an
unknown option, a value of the wrong type -- is one line naming the file, line or key, raised as
the ``error`` class the command passes (a ``ValueError``); a missing file is a
``FileNotFoundError``. Each command turns the merged mapping into its own typed config.
"""
from __future__ import annotations

import argparse
import difflib
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A command line or config file that cannot be used."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are raised (one line) instead of printing usage and exiting."""

    def __init__(self, *args, error: type[ValueError] = ConfigError, **kwargs):
        super().__init__(*args, **kwargs)
        self._error = error

    def error(self, message: str):
        raise self._error(f"{message} (see {self.prog} --help)")


def read_mapping(path: Path, error: type[ValueError] = ConfigError) -> dict[str, Any]:
    """The mapping in the YAML file ``path`` (an empty file is ``{}``)."""
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise error(f"{path}: YAML syntax error{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path} cannot be read ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{path} must hold a mapping of keys to values, not a {type(data).__name__}")
    return data


def read_config(path: Path, error: type[ValueError] = ConfigError,
                inherit_name: bool = False) -> dict[str, Any]:
    """The mapping in ``path`` with its ``base:`` chain resolved: each file's keys over its base's.
    A ``name`` set only by a base is an error unless ``inherit_name`` (an override names the run)."""
    chain: list[Path] = []
    data: dict[str, Any] = {}
    own_name: bool | None = None      # whether the first file sets its own name
    while True:
        chain.append(path.resolve())
        if chain[-1] in chain[:-1]:
            names = " -> ".join(p.name for p in chain)
            raise error(f"config {chain[0]}: its base files form a cycle ({names})")
        mapping = read_mapping(path, error)
        if own_name is None:
            own_name = "name" in mapping
        data = {**{k: v for k, v in mapping.items() if k != "base"}, **data}
        base = mapping.get("base")
        if base is None:
            if len(chain) > 1 and "name" in data and not (own_name or inherit_name):
                raise error(f"config {chain[0]} must set its own 'name': with its base's "
                            f"({data['name']!r}) it would train into, and resume, that run's folder")
            return data
        if not isinstance(base, str) or not base.strip():
            raise error(f"{path}: 'base' must be the path of another config file, got {base!r}")
        base_path = path.parent / base
        if not base_path.is_file():
            raise error(f"{path}: its base file {base_path} does not exist")
        path = base_path


def split_override(item: str, error: type[ValueError] = ConfigError) -> tuple[list[str], Any]:
    """``"a.b=value"`` -> (``["a", "b"]``, the value read as YAML); a one-line error otherwise."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise error(f"override {item!r} is not of the form key=value")
    try:
        value = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError as exc:
        raise error(f"override {item!r}: value is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return key.strip().split("."), value


def apply_override(data: dict[str, Any], item: str, keys: list[str], value: Any,
                   error: type[ValueError] = ConfigError) -> None:
    """Set the override ``item``, read by :func:`split_override` as ``keys`` and ``value``, in ``data``
    (a dotted key reaches into a mapping field such as ``model_overrides``)."""
    *parents, leaf = keys
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise error(f"override {item!r}: {part!r} is not a mapping")
    node[leaf] = value


def read_command_line(argv: list[str] | None, prog: str | None, description: str,
                      error: type[ValueError] = ConfigError) -> dict[str, Any]:
    """``--config FILE [key=value ...]`` -> the file's mapping with the overrides applied."""
    parser = _OneLineParser(prog=prog, description=description, error=error)
    parser.add_argument("--config", type=Path, help="YAML file of defaults")
    parser.add_argument("overrides", nargs="*", help="key=value settings that override the file")
    args = parser.parse_args(argv)
    overrides = [split_override(item, error) for item in args.overrides]
    named = any(keys == ["name"] for keys, _ in overrides)
    data = read_config(args.config, error, inherit_name=named) if args.config is not None else {}
    for item, (keys, value) in zip(args.overrides, overrides):
        apply_override(data, item, keys, value, error)
    return data


def type_name(hint: Any) -> str:
    """``int`` for ``<class 'int'>``, ``tuple[int, ...]`` as written for generic aliases."""
    return hint.__name__ if isinstance(hint, type) and not typing.get_args(hint) else str(hint)


def coerce(name: str, value: Any, hint: Any, error: type[ValueError] = ConfigError) -> Any:
    """``value`` converted to the annotated type ``hint`` (ints and numeric strings such as ``1e-3``
    accepted for floats, lists for tuples); anything else is ``error`` naming the key."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    bad = error(f"config key {name!r} expects {type_name(hint)}, got {value!r}")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(name, value, option, error)
            except error:
                pass
        raise bad
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise bad
        items = args[:1] * len(value) if len(args) == 2 and args[1] is Ellipsis else args
        if len(items) != len(value):
            raise bad
        try:
            return tuple(coerce(name, v, h, error) for v, h in zip(value, items))
        except error:
            raise bad from None
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):      # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            raise bad from None
    if isinstance(value, bool) and hint is not bool or not isinstance(value, hint):
        raise bad
    return value


def check_keys(data: dict[str, Any], known: typing.Iterable[str], what: str,
               error: type[ValueError] = ConfigError) -> None:
    """The one strict check of every config mapping: a key of ``data`` not in ``known`` is one
    ``error`` line, ``unknown <what> 'key' (did you mean 'closest'? known: ...)``."""
    known = sorted(known)
    unknown = sorted(set(data) - set(known))
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise error(f"unknown {what} {unknown[0]!r} ({hint}known: {', '.join(known)})")


def coerce_fields(cls: type, data: dict[str, Any], error: type[ValueError] = ConfigError) -> dict[str, Any]:
    """``data`` with every value coerced to the type of the dataclass field of its key."""
    hints = typing.get_type_hints(cls)
    return {key: coerce(key, value, hints[key], error) if key in hints else value for key, value in data.items()}


def field_names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}
