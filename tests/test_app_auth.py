"""Bearer tokens: minted, hashed with the pepper, checked in constant time by id."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from proxy.auth import Authenticator, Unauthorized, mint_token

PEPPER = b"p" * 32


def hasher(b: bytes) -> bytes:
    return hmac.new(PEPPER, b, hashlib.sha256).digest()


def make() -> tuple[str, Authenticator]:
    token, entry = mint_token("ingest", hasher)
    return token, Authenticator([entry], hasher)


def test_minted_token_checks_with_its_id_and_role() -> None:
    """A freshly minted token authenticates as its id and role."""
    token, auth = make()
    principal = auth.check(f"Bearer {token}")
    assert principal.role == "ingest" and token.startswith(f"cw_{principal.token_id}_")


def test_stored_entry_holds_no_part_of_the_secret() -> None:
    """The stored entry is a keyed hash; the secret part of the token is not in it."""
    token, entry = mint_token("admin", hasher)
    assert token.rsplit("_", 1)[1] not in repr(entry) + entry.hash


@pytest.mark.parametrize(
    "header",
    [
        None,  # no header
        "",  # empty header
        "Basic dXNlcjpwYXNz",  # another scheme
        "Bearer",  # scheme without a token
        "Bearer cw_0000_" + "A" * 43,  # unknown id
        "Bearer not-a-token",  # wrong shape
        "Bearer cw_ab\u00e9c_" + "A" * 43,  # non-ASCII
    ],
)
def test_bad_headers_are_unauthorized(header: str | None) -> None:
    """Every malformed, foreign or unknown credential raises Unauthorized."""
    _, auth = make()
    with pytest.raises(Unauthorized):
        auth.check(header)


def test_right_id_with_wrong_secret_is_unauthorized() -> None:
    """A token whose id exists but whose secret differs is refused."""
    token, auth = make()
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(Unauthorized):
        auth.check(f"Bearer {forged}")


def test_error_message_never_contains_the_token() -> None:
    """The refusal names the problem, not the presented token."""
    token, auth = make()
    with pytest.raises(Unauthorized) as err:
        auth.check(f"Bearer {token}x")
    assert token not in str(err.value)
