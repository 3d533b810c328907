"""The one exception type of the temporal controller boundary."""


class ControllerError(ValueError):
    """A controller model, sidecar, input or data set is unusable; the message names it."""
