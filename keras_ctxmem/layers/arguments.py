"""Checks of layer and model arguments, with messages that name the argument."""


def check_rate(name, value):
    """Raises a ValueError unless `value` is a rate in [0, 1)."""
    if not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {value!r}")
