"""chatwarden's detection and redaction library. Knows nothing of HTTP or storage."""

from redact.engine import Engine
from redact.errors import ConfigError, DetectionFailed, ModelUnavailable, RedactError
from redact.normalize import Normalized, normalize
from redact.operators import (
    ConversationState,
    Drop,
    KeyedHash,
    Mask,
    OperatorTable,
    Placeholder,
    build_operator,
)
from redact.redactor import Message, Redaction, Redactor, render
from redact.registry import RedactConfig, build_engine
from redact.resolve import resolve
from redact.span import ENTITY_TYPES, Span

__all__ = [
    "ENTITY_TYPES",
    "ConfigError",
    "ConversationState",
    "DetectionFailed",
    "Drop",
    "Engine",
    "KeyedHash",
    "Mask",
    "Message",
    "ModelUnavailable",
    "Normalized",
    "OperatorTable",
    "Placeholder",
    "RedactConfig",
    "RedactError",
    "Redaction",
    "Redactor",
    "Span",
    "build_engine",
    "build_operator",
    "normalize",
    "render",
    "resolve",
]
