"""The one error of the authors' release loaders."""


class OfficialCheckpointError(ValueError):
    """The authors' checkpoint cannot be read, or does not fit what it is loaded into."""
