"""The one error type of the detection boundary."""


class DetectorError(ValueError):
    """A model, its metadata, its output or an input image cannot be used.

    The message names the offending file, shape or value.
    """
