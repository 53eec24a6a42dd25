"""Bearer tokens: minted by ``chatwarden init``, kept in the config only as keyed hashes.

A token reads ``cw_<id>_<secret>``: ``id`` is public (it names the token in logs and the
audit trail), ``secret`` is 32 random bytes (base64url). The config stores
``hmac-sha256:<hex>``, the HMAC of the whole token under the keyring's ``token`` key (a
pepper: a leaked config alone does not let anyone test guesses). Checking a token finds
its entry by id and compares hashes in constant time; the token itself is never logged or
put in an error.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from proxy.config import TokenEntry
from proxy.errors import ChatwardenError

__all__ = [
    "AUTHENTICATOR",
    "Authenticator",
    "Forbidden",
    "Principal",
    "Unauthorized",
    "mint_token",
    "require_role",
]

_TOKEN = re.compile(r"cw_([a-z0-9]{4,32})_([A-Za-z0-9_-]{43})")

Hasher = Callable[[bytes], bytes]
"""Keyed hash (HMAC-SHA256 under the token pepper) of a token's bytes."""


class Unauthorized(ChatwardenError):
    """No bearer token, or one this service did not issue (HTTP 401)."""


class Forbidden(ChatwardenError):
    """A valid token whose role may not use the endpoint (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's public id and its role. Same fields as the audit
    trail's ``Actor``."""

    token_id: str
    role: str


def token_hash(hasher: Hasher, token: str) -> str:
    return "hmac-sha256:" + hasher(token.encode("ascii")).hex()


def mint_token(
    role: str, hasher: Hasher, rng: Callable[[int], bytes] = os.urandom
) -> tuple[str, TokenEntry]:
    """A new token for ``role`` and the entry to store for it."""
    token_id = rng(4).hex()
    secret = base64.urlsafe_b64encode(rng(32)).decode("ascii").rstrip("=")
    token = f"cw_{token_id}_{secret}"
    return token, TokenEntry(token_id, role, token_hash(hasher, token))


class Authenticator:
    """Checks ``Authorization: Bearer`` headers against the configured token entries."""

    __slots__ = ("_by_id", "_hasher")

    def __init__(self, entries: Iterable[TokenEntry], hasher: Hasher) -> None:
        self._by_id = {e.id: e for e in entries}
        self._hasher = hasher

    def __repr__(self) -> str:
        return f"Authenticator(tokens={len(self._by_id)})"

    def check(self, header: str | None) -> Principal:
        """The principal of an Authorization header value; Unauthorized otherwise."""
        if not header:
            raise Unauthorized("missing bearer token; send Authorization: Bearer <token>")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("the Authorization header must be: Bearer <token>")
        m = _TOKEN.fullmatch(token.strip())
        # Hash even for a malformed or unknown token, so timing does not tell them apart.
        clean = token.strip()[:128].encode("ascii", "replace").decode("ascii")
        presented = token_hash(self._hasher, clean)
        entry = self._by_id.get(m.group(1)) if m else None
        expected = entry.hash if entry is not None else "hmac-sha256:" + "0" * 64
        if not hmac.compare_digest(presented.encode(), expected.encode()) or entry is None:
            raise Unauthorized("invalid bearer token; use a token printed by chatwarden init")
        return Principal(entry.id, entry.role)

    def authenticate(self, request: web.Request, roles: frozenset[str] | None = None) -> Principal:
        principal = self.check(request.headers.get("Authorization"))
        if roles is not None and principal.role not in roles:
            raise Forbidden("this token's role may not use this endpoint")
        return principal


AUTHENTICATOR = web.AppKey("chatwarden.authenticator", Authenticator)


def require_role(request: web.Request, *roles: str) -> Principal:
    """The caller's principal if its role is one of ``roles`` (Unauthorized/Forbidden)."""
    return request.app[AUTHENTICATOR].authenticate(request, frozenset(roles))
