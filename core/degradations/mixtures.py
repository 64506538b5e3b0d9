"""Mixtures of degradations, e.g. ``"haze+noise_25"`` or ``"low_light+noise"``.

Components are applied in physical order, whatever order the name gives: the scene
(haze, then rain), the optics (blur), the exposure (low light) and finally the sensor
(noise). :func:`canonical_mixture` returns the name in that order.
"""

from __future__ import annotations

import dataclasses

from .base import FAMILY_OF, DegradationError, Params

#: Order in which the families act on the clean scene.
PHYSICAL_ORDER: tuple[str, ...] = ("haze", "rain", "blur", "low_light", "noise")


def split_name(name: str) -> tuple[str, ...]:
    """Components of ``name`` (one for a single degradation), in physical order.

    Raises :class:`DegradationError` for unknown or repeated families.
    """
    if not isinstance(name, str) or not name:
        raise DegradationError(f"degradation name must be a non-empty string, got {name!r}")
    parts = tuple(s.strip() for s in name.split("+"))
    unknown = [s for s in parts if s not in FAMILY_OF]
    if unknown:
        raise DegradationError(f"unknown degradation {unknown[0]!r}; known: {', '.join(FAMILY_OF)} "
                               f"and mixtures joined by '+' (e.g. 'haze+noise_25')")
    families = [FAMILY_OF[s] for s in parts]
    if len(set(families)) != len(families):
        raise DegradationError(f"mixture {name!r} repeats a degradation family")
    return tuple(sorted(parts, key=lambda s: PHYSICAL_ORDER.index(FAMILY_OF[s])))


def canonical_mixture(name: str) -> str:
    """``name`` with its components in physical order (``"noise_25+haze"`` -> ``"haze+noise_25"``)."""
    return "+".join(split_name(name))


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class MixtureParams:
    """The parameters of each component, in the order they are applied."""

    names: tuple[str, ...]
    components: tuple[Params, ...]

    @property
    def batch_size(self) -> int:
        return self.components[0].batch_size

    def summary(self) -> dict[str, object]:
        return {"family": "mixture", "names": list(self.names),
                "components": [c.summary() for c in self.components]}

    def item(self, i: int) -> dict[str, object]:
        return {n: c.item(i) for n, c in zip(self.names, self.components)}

    def select(self, index) -> "MixtureParams":
        return MixtureParams(names=self.names, components=tuple(c.select(index) for c in self.components))
