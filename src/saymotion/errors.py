"""Errors that reach the user as one clear line instead of a traceback."""


class SaymotionError(Exception):
    """A problem with the user's input or environment; the CLI prints it and exits non-zero."""

    exit_code = 2


class DataError(SaymotionError):
    """The dataset archive or a prepared dataset is missing or malformed."""


class AudioError(SaymotionError):
    """An audio file or array cannot be used as a spoken instruction."""


class CheckpointError(SaymotionError):
    """A checkpoint is missing, corrupt or incompatible."""
