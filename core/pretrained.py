"""Shipped restoration weights, found by name.

Each entry names a safetensors file under ``assets/`` (beside the package), its SHA-256 and its
model card. The training recipe of a name is ``training/configs/<name>.yaml``, or the recipe its
entry names (the one-by-one specialists share one); the card says what the model is good and bad
at. :data:`SPECIALISTS` lists the one-by-one specialists shipped beside an all-in-one model;
an entry's ``ensemble`` is the self-ensemble its restores use by default (:mod:`core.ensemble`).
``resolve_weights`` turns a name or a path into a file, with a one-line message naming the recipe
when the weights are not there.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"


@dataclass(frozen=True)
class PretrainedEntry:
    name: str
    file: str      # relative to assets/
    sha256: str    # of the file's bytes
    card: str      # relative to assets/
    recipe: str = ""   # training/configs/<recipe>.yaml (default: the name's own)
    ensemble: str = "none"   # the default self-ensemble of its restores (core.ensemble.ENSEMBLES)


PRETRAINED: dict[str, PretrainedEntry] = {entry.name: entry for entry in (
    PretrainedEntry("vlunet-tiny", "models/vlunet-tiny.safetensors",
                    "e76cc7ef6c67d2db33fb022efc6901c1e8fb8de3f85d122433b579337c3ccfb3", "models/vlunet-tiny.md",
                    ensemble="mirror"),
    PretrainedEntry("vlunet-tiny-gpu", "models/vlunet-tiny-gpu.safetensors",
                    "5f989cf80d9ff4960cc24ca3278151cd4bccd6d6bedb6b288ba403d128479efe", "models/vlunet-tiny-gpu.md",
                    ensemble="mirror"),
    PretrainedEntry("vlunet-tiny-noise", "models/vlunet-tiny-noise.safetensors",
                    "8bb9e3eb5b49adc3f421cc7e4ffffe830c7de73f4c25048089cf812e57dcce30", "models/vlunet-tiny-specialists.md",
                    recipe="vlunet-tiny-specialists", ensemble="mirror"),
    PretrainedEntry("vlunet-tiny-blur", "models/vlunet-tiny-blur.safetensors",
                    "27093b622b08c2a69fbec32361889dc0f39fd353973113b10714b2ce5fc7309d", "models/vlunet-tiny-specialists.md",
                    recipe="vlunet-tiny-specialists", ensemble="mirror"),
    PretrainedEntry("vlunet-tiny-haze", "models/vlunet-tiny-haze.safetensors",
                    "86ae1212aea0c496c540945714ce717ad16918a8f36fda633359cfca71a24e05", "models/vlunet-tiny-specialists.md",
                    recipe="vlunet-tiny-specialists", ensemble="mirror"),
)}
DEFAULT = "vlunet-tiny"

#: The one-by-one specialists shipped beside an all-in-one model (:mod:`core.one_by_one`):
#: all-in-one name -> {degradation type: registered name}.
SPECIALISTS: dict[str, dict[str, str]] = {
    "vlunet-tiny": {"noise": "vlunet-tiny-noise", "blur": "vlunet-tiny-blur", "haze": "vlunet-tiny-haze"}}


class WeightsNotFoundError(FileNotFoundError):
    """Named weights that are not on disk."""


def list_pretrained() -> list[str]:
    return sorted(PRETRAINED)


def all_in_one_names() -> list[str]:
    """The registered models that restore every degradation (not the specialists of one)."""
    specialists = {name for kinds in SPECIALISTS.values() for name in kinds.values()}
    return [name for name in list_pretrained() if name not in specialists]


def specialists_of(name_or_path: str | os.PathLike | None = None) -> dict[str, str]:
    """The specialists shipped for a registered name (None: the default); none for a path."""
    key = DEFAULT if name_or_path is None else name_or_path
    return dict(SPECIALISTS.get(key, {})) if isinstance(key, str) else {}


def default_ensemble(name_or_path: str | os.PathLike | None = None) -> str:
    """The self-ensemble a registered name (None: the default) restores with by default; "none"
    (one pass) for a path."""
    key = DEFAULT if name_or_path is None else name_or_path
    entry = PRETRAINED.get(key) if isinstance(key, str) else None
    return entry.ensemble if entry else "none"


def recipe_file(name: str) -> str:
    """The recipe of the shipped weights ``name``, relative to the repository."""
    entry = PRETRAINED.get(name)
    return f"training/configs/{(entry.recipe if entry else '') or name}.yaml"


def resolve_weights(name_or_path: str | os.PathLike | None = None) -> Path:
    """A registered name (None: the default) or a path -> an existing weights file."""
    key = DEFAULT if name_or_path is None else name_or_path
    if isinstance(key, str) and key in PRETRAINED:
        entry = PRETRAINED[key]
        path = ASSETS / entry.file
        if not path.is_file():
            raise WeightsNotFoundError(
                f"the shipped weights {entry.name!r} are missing ({path}); create them with `python -m "
                f"training.train_restorer --recipe {recipe_file(entry.name)}` or pass the path of a checkpoint")
        return path
    path = Path(os.fspath(key))
    if not path.is_file():
        raise WeightsNotFoundError(f"no weights named {str(key)!r} and no file at {path}; "
                                   f"registered names: {', '.join(list_pretrained())}")
    return path
