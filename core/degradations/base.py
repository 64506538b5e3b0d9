"""Names, the parameter-record base class and shared helpers of the degradation synthesis.

Every family (noise, rain, haze, blur, low light) has a frozen parameter dataclass whose
fields are per-item tensors of shape ``(B,)`` or ``(B, k)`` plus plain settings, a sampler
``sample_<family>(generator, batch_size, ...)`` and a pure ``apply_<family>(clean, params)``.
Random fields (noise, rain drops, depth fields) are drawn inside ``apply`` from a per-item
``seed`` recorded in the parameters, so the same parameters always give the same image.
"""

from __future__ import annotations

import dataclasses
import re

import torch

#: The seven degradations of the 5-task setting, in the authors' label order (their CLIP
#: fine-tuning prompts 0..6: noise sigma 15/25/50, haze, rain, blur, low light).
CANONICAL: tuple[str, ...] = ("noise_15", "noise_25", "noise_50", "haze", "rain", "blur", "low_light")
#: Coarse degradation types (what a user names in the app).
COARSE: tuple[str, ...] = ("noise", "rain", "haze", "blur", "low_light")
#: Canonical name -> coarse name.
COARSE_OF: dict[str, str] = {
    "noise_15": "noise", "noise_25": "noise", "noise_50": "noise",
    "haze": "haze", "rain": "rain", "blur": "blur", "low_light": "low_light",
}
#: Extra single degradations beyond the canonical seven: continuous-sigma noise and heavy rain.
EXTRA: tuple[str, ...] = ("noise", "rain_heavy")
#: Family of every single degradation name.
FAMILY_OF: dict[str, str] = {**COARSE_OF, "noise": "noise", "rain_heavy": "rain"}

MAX_SEED = 2**62


class DegradationError(ValueError):
    """Unknown degradation name or parameters that do not fit the image."""


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class Params:
    """Base of every parameter record: per-item tensors + settings, all recorded.

    ``seed`` (int64, shape (B,)) seeds the random field of each item.
    """

    seed: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.seed.shape[0])

    def summary(self) -> dict[str, object]:
        """All parameters as plain Python values (lists per item), for logs and tests."""
        family = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__.removesuffix("Params")).lower()
        out: dict[str, object] = {"family": family}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, torch.Tensor) else v
        return out

    def item(self, i: int) -> dict[str, object]:
        """Parameters of item ``i`` as plain Python scalars (lists for vector fields)."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v[i].tolist() if isinstance(v, torch.Tensor) else v
        return out

    def select(self, index: int | slice) -> "Params":
        """The parameters of a sub-batch (``index`` is an int or a slice over items)."""
        sl = slice(index, index + 1) if isinstance(index, int) else index
        changes = {f.name: getattr(self, f.name)[sl] for f in dataclasses.fields(self)
                   if isinstance(getattr(self, f.name), torch.Tensor)}
        return dataclasses.replace(self, **changes)


class RangeConfig:
    """Base of the families' sampling configs (``BlurConfig``, ...): checks them when built.

    A field named ``*probability`` must lie in [0, 1]; a ``(low, high)`` range needs low <= high.
    Anything else is one :class:`DegradationError` naming the config and the field.
    """

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            where = f"{type(self).__name__}.{f.name}"
            if f.name.endswith("probability") and not 0 <= value <= 1:
                raise DegradationError(f"{where} must be in [0, 1], got {value}")
            if isinstance(value, tuple) and len(value) == 2 and value[0] > value[1]:
                raise DegradationError(f"{where} must be (low, high) with low <= high, got {value}")


def check_image(clean: torch.Tensor) -> None:
    """Raise :class:`DegradationError` unless ``clean`` is a float B x 3 x H x W tensor."""
    if not isinstance(clean, torch.Tensor) or clean.ndim != 4 or clean.shape[1] != 3:
        shape = tuple(clean.shape) if isinstance(clean, torch.Tensor) else type(clean).__name__
        raise DegradationError(f"expected a B x 3 x H x W image tensor, got {shape}")
    if not clean.is_floating_point():
        raise DegradationError(f"expected a float image in [0, 1], got dtype {clean.dtype}")


def check_batch(clean: torch.Tensor, params: Params) -> None:
    if params.batch_size != clean.shape[0]:
        raise DegradationError(f"parameters are for {params.batch_size} images, got a batch of {clean.shape[0]}")


def seeds(generator: torch.Generator, batch_size: int) -> torch.Tensor:
    """Per-item int64 seeds drawn from ``generator``."""
    return torch.randint(0, MAX_SEED, (batch_size,), generator=generator, dtype=torch.int64)


def uniform(generator: torch.Generator, batch_size: int, low: float, high: float, k: int | None = None) -> torch.Tensor:
    """``batch_size`` (x ``k``) uniform draws in [low, high] (float32)."""
    shape = (batch_size,) if k is None else (batch_size, k)
    return low + (high - low) * torch.rand(shape, generator=generator)


def item_generator(seed: torch.Tensor | int, offset: int = 0) -> torch.Generator:
    """A CPU generator for one item's random field (``offset`` separates several fields)."""
    return torch.Generator().manual_seed((int(seed) + offset) % MAX_SEED)
