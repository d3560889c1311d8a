"""Errors the UI turns into clear messages. Anything else is a bug."""


class InputError(ValueError):
    """The request itself is bad (wrong type, out of range, unreadable image): say what to change."""


class ModelUnavailable(RuntimeError):
    """A model cannot be used here (offline, missing files, failed to load); other models still work."""
