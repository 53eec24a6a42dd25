"""The service configuration: one TOML file, validated once when loaded.

:func:`load_config` reads ``chatwarden.toml`` and returns a frozen :class:`Config`; every
problem is a :class:`ConfigError` that names the key and the fix. Relative paths (the key
file, a ``sqlite:`` URL) are relative to the config file's directory. Sections other
components own (``[audit]``, ``[policies]``...) are left to them; unknown keys inside the
sections below are refused, so a typo never silently falls back to a default.

Every key is documented in the README ("Configuration"). :func:`render_config` writes the
file ``chatwarden init`` creates.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from proxy.errors import UsageError
from redact.span import ENTITY_TYPES

__all__ = [
    "ROLES",
    "AuthConfig",
    "Config",
    "ConfigError",
    "KeysConfig",
    "RedactSettings",
    "RetentionConfig",
    "ServerConfig",
    "StorageConfig",
    "TokenEntry",
    "UpstreamConfig",
    "load_config",
    "parse_config",
]

ROLES = ("ingest", "dispute_agent", "risk_analyst", "compliance_officer", "auditor", "admin")
"""The built-in roles (DESIGN.md); ``init`` makes one token for each."""

OPERATOR_KINDS = ("placeholder", "mask", "hash", "drop")
_TOKEN_ID = re.compile(r"[a-z0-9]{4,32}")
_TOKEN_HASH = re.compile(r"hmac-sha256:[0-9a-f]{64}")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_REGION = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class ConfigError(UsageError):
    """The configuration file is missing, unreadable or has a bad key."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1 << 20
    max_batch: int = 100
    max_in_flight: int = 64
    max_in_flight_messages: int = 1000
    latency_target_ms: float = 10.0
    latency_target_per_message_ms: float = 5.0
    latency_headroom: float = 2.0
    request_timeout: float = 10.0
    retry_after: int = 1


@dataclass(frozen=True, slots=True)
class StorageConfig:
    url: str = "sqlite:///chatwarden.db"


@dataclass(frozen=True, slots=True)
class KeysConfig:
    file: Path = Path("keys.json")
    regions: tuple[str, ...] = ("default",)
    default_region: str = "default"


@dataclass(frozen=True, slots=True)
class RedactSettings:
    spacy_model: str = "en_core_web_sm"
    ner: bool = True
    workers: int = 1
    max_text_chars: int = 20_000
    # entity type (or "default") -> operator spec table, e.g. {"kind": "mask", "keep_last": 4}
    operators: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    url: str | None = None
    timeout: float = 5.0
    max_attempts: int = 12
    batch: int = 32


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """One API token as stored: its public id, its role and a keyed hash of the secret."""

    id: str
    role: str
    hash: str

    def __repr__(self) -> str:
        return f"TokenEntry(id={self.id!r}, role={self.role!r})"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    tokens: tuple[TokenEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    default_days: int = 30
    purpose_days: Mapping[str, int] = field(default_factory=dict)

    def days_for(self, purposes: frozenset[str]) -> int:
        """The longest retention any of ``purposes`` needs, at least ``default_days``."""
        return max([self.default_days, *(self.purpose_days.get(p, 0) for p in purposes)])


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    redact: RedactSettings = field(default_factory=RedactSettings)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    tenant: str = "default"
    log_level: str = "info"


# ------------------------------------------------------------------------------ loading


def load_config(path: Path) -> Config:
    """Read and validate the config file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "config file not found; create one with `chatwarden init DIR` and pass "
            "--config DIR/chatwarden.toml"
        ) from None
    except (OSError, UnicodeDecodeError):
        raise ConfigError("cannot read the config file; check its path and permissions") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file is not valid TOML ({exc}); fix the syntax") from None
    return parse_config(doc, base=path.resolve().parent, path=path.resolve())


class _Section:
    """Typed reads from one table, naming ``[section] key`` in every error."""

    def __init__(self, doc: Mapping[str, Any], name: str, known: set[str]) -> None:
        raw = doc.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(f"[{name}] must be a table; write it as a [{name}] section")
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(
                f"[{name}] {unknown[0]}: unknown key; the keys of [{name}] are "
                f"{', '.join(sorted(known))} (see the README, Configuration)"
            )
        self.name, self.raw = name, raw

    def where(self, key: str) -> str:
        return f"[{self.name}] {key}"

    def get_int(self, key: str, default: int, lo: int, hi: int) -> int:
        v = self.raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ConfigError(f"{self.where(key)}: must be an integer from {lo} to {hi}")
        return v

    def get_float(
        self, key: str, default: float, lo: float, hi: float, unit: str = "seconds"
    ) -> float:
        v = self.raw.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise ConfigError(f"{self.where(key)}: must be a number of {unit} from {lo} to {hi}")
        return float(v)

    def get_str(self, key: str, default: str | None) -> str | None:
        v = self.raw.get(key, default)
        if v is not None and (not isinstance(v, str) or not v):
            raise ConfigError(f"{self.where(key)}: must be a non-empty string")
        return v

    def get_bool(self, key: str, default: bool) -> bool:
        v = self.raw.get(key, default)
        if not isinstance(v, bool):
            raise ConfigError(f"{self.where(key)}: must be true or false")
        return v


def parse_config(doc: Mapping[str, Any], *, base: Path, path: Path | None = None) -> Config:
    """Validate a parsed TOML document; relative paths resolve against ``base``."""
    s = _Section(
        doc,
        "server",
        {
            "host",
            "port",
            "max_body_bytes",
            "max_batch",
            "max_in_flight",
            "max_in_flight_messages",
            "latency_target_ms",
            "latency_target_per_message_ms",
            "latency_headroom",
            "request_timeout",
            "retry_after",
        },
    )
    server = ServerConfig(
        host=s.get_str("host", "127.0.0.1") or "127.0.0.1",
        port=s.get_int("port", 8080, 0, 65535),
        max_body_bytes=s.get_int("max_body_bytes", 1 << 20, 256, 1 << 30),
        max_batch=s.get_int("max_batch", 100, 1, 10_000),
        max_in_flight=s.get_int("max_in_flight", 64, 1, 100_000),
        max_in_flight_messages=s.get_int("max_in_flight_messages", 1000, 1, 10_000_000),
        latency_target_ms=s.get_float(
            "latency_target_ms", 10.0, 0.0, 60_000.0, unit="milliseconds"
        ),
        latency_target_per_message_ms=s.get_float(
            "latency_target_per_message_ms", 5.0, 0.0, 60_000.0, unit="milliseconds"
        ),
        latency_headroom=s.get_float(
            "latency_headroom", 2.0, 0.0, 1000.0, unit="times the unqueued median"
        ),
        request_timeout=s.get_float("request_timeout", 10.0, 0.1, 3600.0),
        retry_after=s.get_int("retry_after", 1, 1, 3600),
    )

    if 0 < server.latency_headroom < 1:
        raise ConfigError(
            "[server] latency_headroom: must be 0 (off) or at least 1; below 1 the target "
            "is faster than the server is with nothing queued, and it would shed at any load"
        )
    if server.max_in_flight_messages < server.max_batch:
        raise ConfigError(
            "[server] max_in_flight_messages: must be at least [server] max_batch, or a full "
            "batch could never be admitted"
        )

    st = _Section(doc, "storage", {"url", "path"})
    url = st.get_str("url", None)
    if url is None:
        legacy = st.get_str("path", None)
        url = f"sqlite:{legacy}" if legacy else "sqlite:chatwarden.db"
    storage = StorageConfig(url=resolve_storage_url(url, base))

    k = _Section(doc, "keys", {"file", "regions", "default_region"})
    regions_raw = k.raw.get("regions", ["default"])
    if (
        not isinstance(regions_raw, list)
        or not regions_raw
        or not all(isinstance(r, str) and _REGION.fullmatch(r) for r in regions_raw)
    ):
        raise ConfigError(
            "[keys] regions: must be a non-empty list of region names (lower-case letters, "
            'digits, - and _), e.g. ["eu", "us"]'
        )
    default_region = k.get_str("default_region", regions_raw[0]) or regions_raw[0]
    if default_region not in regions_raw:
        raise ConfigError("[keys] default_region: must be one of [keys] regions; add it there")
    keys = KeysConfig(
        file=_path(base, k.get_str("file", "keys.json") or "keys.json"),
        regions=tuple(regions_raw),
        default_region=default_region,
    )

    r = _Section(doc, "redact", {"spacy_model", "ner", "workers", "max_text_chars", "operators"})
    redact = RedactSettings(
        spacy_model=r.get_str("spacy_model", "en_core_web_sm") or "en_core_web_sm",
        ner=r.get_bool("ner", True),
        workers=r.get_int("workers", 1, 0, 64),
        max_text_chars=r.get_int("max_text_chars", 20_000, 1, 1_000_000),
        operators=_operators(r.raw.get("operators", {})),
    )

    u = _Section(doc, "upstream", {"url", "timeout", "max_attempts", "batch"})
    up_url = u.get_str("url", None)
    if up_url is not None:
        parsed = urlparse(up_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError("[upstream] url: must be an http:// or https:// URL, or left out")
    upstream = UpstreamConfig(
        url=up_url,
        timeout=u.get_float("timeout", 5.0, 0.1, 600.0),
        max_attempts=u.get_int("max_attempts", 12, 1, 1000),
        batch=u.get_int("batch", 32, 1, 1000),
    )

    a = _Section(doc, "auth", {"tokens"})
    auth = AuthConfig(tokens=_tokens(a.raw.get("tokens", [])))

    t = _Section(doc, "tenant", {"id"})
    tenant = t.get_str("id", "default") or "default"
    if not _TENANT.fullmatch(tenant):
        raise ConfigError("[tenant] id: 1-64 letters, digits, '.', '_' or '-'")

    ret = _Section(doc, "retention", {"default_days", "purposes"})
    purposes_raw = ret.raw.get("purposes", {})
    if not isinstance(purposes_raw, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 36500
        for v in purposes_raw.values()
    ):
        raise ConfigError(
            "[retention] purposes: must be a table purpose = days (1-36500), "
            "e.g. dispute_handling = 730"
        )
    retention = RetentionConfig(
        default_days=ret.get_int("default_days", 30, 1, 36500),
        purpose_days=dict(purposes_raw),
    )

    lg = _Section(doc, "logging", {"level"})
    level = (lg.get_str("level", "info") or "info").lower()
    if level not in ("debug", "info", "warning", "error"):
        raise ConfigError("[logging] level: must be one of debug, info, warning, error")

    return Config(
        path=path,
        server=server,
        storage=storage,
        keys=keys,
        redact=redact,
        upstream=upstream,
        auth=auth,
        retention=retention,
        tenant=tenant,
        log_level=level,
    )


def _path(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def resolve_storage_url(url: str, base: Path) -> str:
    """A storage URL with a relative SQLite path made absolute against ``base``."""
    scheme = urlparse(url).scheme
    if scheme in ("postgresql", "postgres"):
        return url
    if scheme != "sqlite":
        raise ConfigError(
            "[storage] url: use sqlite:///path/to/chatwarden.db (or sqlite:relative.db) or "
            "postgresql://user@host:port/db"
        )
    rest = url[len("sqlite:") :]
    if rest.removeprefix("//") == ":memory:":
        return "sqlite::memory:"
    if rest.startswith("///"):
        return url
    rest = rest.removeprefix("//")
    if not rest or rest.endswith("/"):
        raise ConfigError("[storage] url: a SQLite URL names a file, e.g. sqlite:chatwarden.db")
    return "sqlite:///" + str(_path(base, rest).resolve()).lstrip("/")


def _operators(raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict):
        raise ConfigError(
            '[redact] operators: must be a table, e.g. CREDIT_CARD = "mask" or '
            'IBAN = { kind = "hash" }'
        )
    out: dict[str, dict[str, Any]] = {}
    for etype, spec in raw.items():
        where = f"[redact.operators] {etype}"
        if etype != "default" and etype not in ENTITY_TYPES:
            raise ConfigError(
                f"{where}: unknown entity type; use a type from DESIGN.md or 'default'"
            )
        table = {"kind": spec} if isinstance(spec, str) else spec
        if not isinstance(table, dict) or table.get("kind") not in OPERATOR_KINDS:
            raise ConfigError(
                f"{where}: the operator kind must be one of {', '.join(OPERATOR_KINDS)}"
            )
        allowed = {
            "placeholder": {"kind"},
            "drop": {"kind"},
            "mask": {"kind", "keep_last", "char"},
            "hash": {"kind", "length"},
        }[table["kind"]]
        extra = sorted(set(table) - allowed)
        if extra:
            raise ConfigError(f"{where}: '{extra[0]}' is not an option of {table['kind']}")
        out[etype] = dict(table)
    return out


def _tokens(raw: Any) -> tuple[TokenEntry, ...]:
    if not isinstance(raw, list):
        raise ConfigError("[auth] tokens: must be an array of tables ([[auth.tokens]])")
    out: list[TokenEntry] = []
    seen: set[str] = set()
    for i, t in enumerate(raw, 1):
        where = f"[[auth.tokens]] #{i}"
        if not isinstance(t, dict) or set(t) != {"id", "role", "hash"}:
            raise ConfigError(f"{where}: needs exactly the keys id, role and hash")
        tid, role, h = t["id"], t["role"], t["hash"]
        if not isinstance(tid, str) or not _TOKEN_ID.fullmatch(tid):
            raise ConfigError(f"{where} id: 4-32 lower-case letters or digits")
        if tid in seen:
            raise ConfigError(f"{where} id: duplicate token id; every token needs its own id")
        if role not in ROLES:
            raise ConfigError(f"{where} role: must be one of {', '.join(ROLES)}")
        if not isinstance(h, str) or not _TOKEN_HASH.fullmatch(h):
            raise ConfigError(
                f"{where} hash: must be hmac-sha256:<64 hex digits>; make tokens with "
                "`chatwarden init`, never paste a token itself here"
            )
        seen.add(tid)
        out.append(TokenEntry(tid, role, h))
    return tuple(out)


# ------------------------------------------------------------------------------ writing


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(
    *,
    keys_file: str,
    storage_url: str,
    tokens: tuple[TokenEntry, ...],
    tenant: str = "default",
    regions: tuple[str, ...] = ("default",),
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
) -> str:
    """The TOML text ``chatwarden init`` writes: every key, with its default."""
    lines = [
        "# chatwarden configuration, written by `chatwarden init`. Every key is described in",
        "# the README (Configuration). Relative paths are relative to this file.",
        "",
        "[server]",
        f"host = {_toml_str(host)}",
        f"port = {port}",
        "max_body_bytes = 1048576   # larger bodies get 413 before they are read",
        'max_batch = 100            # messages in one {"messages": [...]} body',
        "max_in_flight = 64         # ingest requests processed at once; more get 503",
        "latency_target_ms = 10.0   # fewer at once while the median ingest takes longer"
        " (0: fixed)",
        "latency_target_per_message_ms = 5.0  # more time allowed per further message of a batch",
        "latency_headroom = 2.0     # ... and at most this many times the median measured"
        " while nothing queued (0: off)",
        "max_in_flight_messages = 1000  # messages being processed at once; more get 503",
        "request_timeout = 10.0     # seconds; a slower request gets 503 + Retry-After",
        "retry_after = 1            # seconds, sent in Retry-After with every 503",
        "",
        "[tenant]",
        f"id = {_toml_str(tenant)}",
        "",
        "[storage]",
        f"url = {_toml_str(storage_url)}",
        "",
        "[keys]",
        f"file = {_toml_str(keys_file)}",
        "regions = [" + ", ".join(_toml_str(r) for r in regions) + "]",
        f"default_region = {_toml_str(regions[0])}",
        "",
        "[redact]",
        'spacy_model = "en_core_web_sm"',
        "ner = true",
        f"workers = {workers}                # detection processes (0: a thread of the server)",
        "max_text_chars = 20000",
        "",
        "[redact.operators]",
        'default = "placeholder"      # placeholder | mask | hash | drop',
        "",
        "[upstream]",
        '# url = "https://example.internal/chat-copies"   # forward redacted copies here',
        "timeout = 5.0",
        "max_attempts = 12",
        "",
        "[retention]",
        "default_days = 30",
        "",
        "[retention.purposes]",
        "dispute_handling = 730",
        "risk_control = 1095",
        "regulatory_request = 1825",
        "",
        "[logging]",
        'level = "info"',
        "",
        "# API tokens: only a keyed hash is kept; the tokens were printed once by init.",
    ]
    for t in tokens:
        lines += [
            "",
            "[[auth.tokens]]",
            f"id = {_toml_str(t.id)}",
            f"role = {_toml_str(t.role)}",
            f"hash = {_toml_str(t.hash)}",
        ]
    return "\n".join(lines) + "\n"
