"""The one error type of the lanes boundary."""


class LaneError(ValueError):
    """An image, camera model, configuration or file cannot be used for lane detection.

    The message names the offending value, shape or file.
    """
