"""Errors raised by the redaction library.

Messages name the kind of problem and the fix, never the text being redacted.
"""


class RedactError(Exception):
    """Base class of every error this package raises."""


class ConfigError(RedactError):
    """The redaction configuration is invalid (unknown entity type, bad operator...)."""


class ModelUnavailable(RedactError):
    """The NER model could not be loaded or crashed; callers must fail closed."""


class DetectionFailed(RedactError):
    """A detector failed on a message; callers must fail closed."""
