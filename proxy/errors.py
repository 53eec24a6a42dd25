"""Errors of the service layer. Messages name the kind of problem and the fix, never content."""


class ChatwardenError(Exception):
    """Base class of every service error."""


class UsageError(ChatwardenError):
    """A command-line or configuration mistake the user can fix."""


class InputError(ChatwardenError):
    """A malformed input record; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


class DecryptionError(ChatwardenError):
    """A sealed blob could not be opened. One opaque error for every cause (wrong or
    destroyed key, tampering, a blob moved to another record): it never says which."""


class KeyringError(ChatwardenError):
    """A key file, key id or key material is missing or malformed."""
