"""One-line errors of the degradation encoder."""
from __future__ import annotations


class EncoderWeightsError(ValueError):
    """An adapter file is unreadable, corrupt or does not match its backbone."""


class EncoderAssetMissingError(FileNotFoundError):
    """A named or shipped adapter file is absent."""


class BackboneUnavailableError(FileNotFoundError):
    """The weights of a frozen backbone cannot be found (for example CLIP while offline)."""
