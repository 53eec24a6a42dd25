"""proxy.crypto: envelope formats, tamper detection, key handles, Ed25519 and HMAC."""

from __future__ import annotations

import ast
import copy
import json
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy import crypto
from proxy.crypto import AeadKey, HmacKey, RecordAad
from proxy.errors import DecryptionError, KeyringError

VECTORS = Path(__file__).resolve().parent / "vectors"
AAD = RecordAad("t1", "c1", "m1", 1)
KEK = AeadKey("eu:1", bytes(range(32)))
PLAINTEXT = b"order 42 ships on monday"


def _reader(data: bytes) -> crypto.Rng:
    pos = 0

    def rng(n: int) -> bytes:
        nonlocal pos
        chunk = data[pos : pos + n]
        pos += n
        return chunk

    return rng


def _flip(blob: bytes, i: int) -> bytes:
    b = bytearray(blob)
    b[i] ^= 0x01
    return bytes(b)


def _expect_opaque(fn: Callable[[], object]) -> None:
    with pytest.raises(DecryptionError) as info:
        fn()
    assert str(info.value) == crypto.DECRYPTION_FAILED


# --------------------------------------------------------------------------- format 1


def test_seal_then_open_returns_the_plaintext() -> None:
    """A format-1 blob opens with its KEK and record to the original bytes."""
    assert crypto.open(KEK, crypto.seal(KEK, PLAINTEXT, AAD), AAD) == PLAINTEXT


def test_each_seal_uses_a_fresh_data_key_and_nonce() -> None:
    """Sealing the same plaintext twice gives different blobs."""
    assert crypto.seal(KEK, PLAINTEXT, AAD) != crypto.seal(KEK, PLAINTEXT, AAD)


def test_blob_names_its_kek_key_id() -> None:
    """The key id is readable from the blob so the right KEK version can be found."""
    assert crypto.blob_key_id(crypto.seal(KEK, PLAINTEXT, AAD)) == "eu:1"


def _v1_fields(blob: bytes) -> dict[str, int]:
    """Offset of one byte inside each field of a format-1 blob."""
    n = blob[1]
    wrapped = 3 + n
    nonce = wrapped + crypto.WRAPPED_SIZE
    return {
        "version": 0,
        "key id length": 1,
        "key id": 2,
        "wrapped key length": 2 + n,
        "wrapped key nonce": wrapped,
        "wrapped key ciphertext": wrapped + crypto.NONCE_SIZE + 3,
        "wrapped key tag": nonce - 1,
        "nonce": nonce + 5,
        "ciphertext": nonce + crypto.NONCE_SIZE + 2,
        "tag": len(blob) - 1,
    }


@pytest.mark.parametrize(
    "field",
    [
        "version",  # format byte: 0x01 -> 0x00 is an unknown format
        "key id length",  # reads a shorter/longer key id, or runs into the wrapped key
        "key id",  # names another KEK (or not ASCII any more)
        "wrapped key length",  # must be exactly 60
        "wrapped key nonce",  # DEK unwrap fails
        "wrapped key ciphertext",  # DEK unwrap fails
        "wrapped key tag",  # DEK unwrap fails
        "nonce",  # payload tag fails
        "ciphertext",  # payload tag fails
        "tag",  # payload tag fails
    ],
)
def test_flipping_a_bit_in_any_v1_field_fails_opaquely(field: str) -> None:
    """A one-bit change anywhere in a format-1 blob raises the same opaque error."""
    blob = crypto.seal(KEK, PLAINTEXT, AAD)
    bad = _flip(blob, _v1_fields(blob)[field])
    _expect_opaque(lambda: crypto.open(lambda kid: KEK if kid == "eu:1" else None, bad, AAD))


@pytest.mark.parametrize(
    "other",
    [
        RecordAad("t2", "c1", "m1", 1),  # another tenant
        RecordAad("t1", "c2", "m1", 1),  # another conversation
        RecordAad("t1", "c1", "m2", 1),  # another message: the blob was moved
        RecordAad("t1", "c1", "m1", 2),  # another record schema version
        RecordAad("t1c", "1", "m1", 1),  # same concatenation, different split
    ],
)
def test_v1_blob_moved_to_another_record_does_not_open(other: RecordAad) -> None:
    """The associated data binds tenant, conversation, message id and schema version."""
    blob = crypto.seal(KEK, PLAINTEXT, AAD)
    _expect_opaque(lambda: crypto.open(KEK, blob, other))


def test_v1_wrapped_key_is_bound_to_the_record() -> None:
    """A wrapped data key spliced into another record's blob does not unwrap there."""
    a = crypto.seal(KEK, PLAINTEXT, AAD)
    other = RecordAad("t1", "c1", "m2", 1)
    b = crypto.seal(KEK, PLAINTEXT, other)
    start, end = 3 + a[1], 3 + a[1] + crypto.WRAPPED_SIZE
    spliced = b[:start] + a[start:end] + b[end:]
    _expect_opaque(lambda: crypto.open(KEK, spliced, other))


def test_v1_wrong_kek_with_the_same_id_fails() -> None:
    """Another key under the same id cannot open the blob."""
    blob = crypto.seal(KEK, PLAINTEXT, AAD)
    _expect_opaque(lambda: crypto.open(AeadKey("eu:1", bytes(32)), blob, AAD))


def test_v1_kek_with_another_id_is_refused() -> None:
    """A KEK whose id differs from the blob's key id is not even tried."""
    blob = crypto.seal(KEK, PLAINTEXT, AAD)
    _expect_opaque(lambda: crypto.open(AeadKey("us:1", bytes(range(32))), blob, AAD))


def test_v1_unknown_key_id_in_lookup_fails_opaquely() -> None:
    """A lookup that knows no KEK for the blob's id gives the same opaque error."""
    blob = crypto.seal(KEK, PLAINTEXT, AAD)
    _expect_opaque(lambda: crypto.open(lambda kid: None, blob, AAD))


@pytest.mark.parametrize("cut", [0, 1, 5, 40, 80, -1])
def test_v1_truncated_blob_fails_opaquely(cut: int) -> None:
    """Truncating a blob anywhere gives the opaque error, never an IndexError."""
    blob = crypto.seal(KEK, PLAINTEXT, AAD)
    _expect_opaque(lambda: crypto.open(KEK, blob[:cut], AAD))


def test_v1_appended_bytes_fail() -> None:
    """Extra bytes after the tag are detected."""
    blob = crypto.seal(KEK, PLAINTEXT, AAD)
    _expect_opaque(lambda: crypto.open(KEK, blob + b"\x00", AAD))


def _aad(d: dict[str, object]) -> RecordAad:
    return RecordAad(
        str(d["tenant"]),
        str(d["conversation_id"]),
        str(d["message_id"]),
        int(d["schema_version"]),  # type: ignore[call-overload]
    )


ENVELOPE_VECTORS = json.loads((VECTORS / "crypto_envelope_v1.json").read_text())


@pytest.mark.parametrize("v", ENVELOPE_VECTORS, ids=[v["name"] for v in ENVELOPE_VECTORS])
def test_envelope_vector_seals_to_the_recorded_bytes(v: dict[str, object]) -> None:
    """With fixed keys and nonces, seal produces exactly the recorded format-1 bytes."""
    kek = AeadKey(str(v["kek_id"]), bytes.fromhex(str(v["kek"])))
    blob = crypto.seal(
        kek,
        bytes.fromhex(str(v["plaintext"])),
        _aad(v["aad"]),  # type: ignore[arg-type]
        rng=_reader(bytes.fromhex(str(v["random"]))),
    )
    assert blob.hex() == v["blob"]


@pytest.mark.parametrize("v", ENVELOPE_VECTORS, ids=[v["name"] for v in ENVELOPE_VECTORS])
def test_envelope_vector_opens(v: dict[str, object]) -> None:
    """The recorded format-1 bytes open to the recorded plaintext."""
    kek = AeadKey(str(v["kek_id"]), bytes.fromhex(str(v["kek"])))
    out = crypto.open(kek, bytes.fromhex(str(v["blob"])), _aad(v["aad"]))  # type: ignore[arg-type]
    assert out.hex() == v["plaintext"]


# --------------------------------------------------------------------------- format 2

DEK = AeadKey(bytes(range(16)).hex(), bytes(range(32, 64)))
WRAP_AAD = crypto.encode_fields("test", "t1", "c1")


def test_data_key_seal_then_open_returns_the_plaintext() -> None:
    """A format-2 blob opens with its data key and record."""
    blob = crypto.seal_with_data_key(DEK, PLAINTEXT, AAD)
    assert crypto.open_with_data_key(DEK, blob, AAD) == PLAINTEXT


def test_data_key_blob_names_its_data_key() -> None:
    """The DEK id is readable from a format-2 blob."""
    assert crypto.blob_data_key_id(crypto.seal_with_data_key(DEK, PLAINTEXT, AAD)) == bytes(
        range(16)
    )


@pytest.mark.parametrize(
    "field, offset",
    [
        ("version", 0),  # 0x02 -> 0x03: unknown format
        ("data key id", 4),  # names another data key
        ("nonce", 1 + 16 + 3),  # payload tag fails
        ("ciphertext", 1 + 16 + 12 + 1),  # payload tag fails
        ("tag", -1),  # payload tag fails
    ],
)
def test_flipping_a_bit_in_any_v2_field_fails_opaquely(field: str, offset: int) -> None:
    """A one-bit change anywhere in a format-2 blob raises the same opaque error."""
    blob = crypto.seal_with_data_key(DEK, PLAINTEXT, AAD)
    bad = _flip(blob, offset % len(blob))
    _expect_opaque(lambda: crypto.open_with_data_key(DEK, bad, AAD))


@pytest.mark.parametrize(
    "other",
    [
        RecordAad("t2", "c1", "m1", 1),  # another tenant
        RecordAad("t1", "c2", "m1", 1),  # another conversation
        RecordAad("t1", "c1", "m2", 1),  # another message
        RecordAad("t1", "c1", "m1", 2),  # another schema version
    ],
)
def test_v2_blob_moved_to_another_record_does_not_open(other: RecordAad) -> None:
    """Format-2 payloads are bound to their record like format 1."""
    blob = crypto.seal_with_data_key(DEK, PLAINTEXT, AAD)
    _expect_opaque(lambda: crypto.open_with_data_key(DEK, blob, other))


def test_wrapped_data_key_unwraps_to_the_same_key() -> None:
    """wrap_data_key / unwrap_data_key round-trip a data key."""
    wrapped = crypto.wrap_data_key(KEK, DEK, WRAP_AAD)
    dek = crypto.unwrap_data_key(KEK, bytes(range(16)), wrapped, WRAP_AAD)
    assert dek == DEK


@pytest.mark.parametrize(
    "kek, dek_id, aad, flip",
    [
        (AeadKey("eu:1", bytes(32)), bytes(range(16)), WRAP_AAD, None),  # wrong KEK bytes
        (AeadKey("eu:2", bytes(range(32))), bytes(range(16)), WRAP_AAD, None),  # other KEK id
        (KEK, bytes(16), WRAP_AAD, None),  # another data key id
        (KEK, bytes(range(16)), crypto.encode_fields("test", "t1", "c2"), None),  # other context
        (KEK, bytes(range(16)), WRAP_AAD, 0),  # wrap nonce flipped
        (KEK, bytes(range(16)), WRAP_AAD, 20),  # wrapped key flipped
        (KEK, bytes(range(16)), WRAP_AAD, 59),  # wrap tag flipped
        (KEK, bytes(range(15)), WRAP_AAD, None),  # malformed data key id
    ],
)
def test_unwrap_with_any_mismatch_fails_opaquely(
    kek: AeadKey, dek_id: bytes, aad: bytes, flip: int | None
) -> None:
    """The wrapped key is bound to its KEK id, DEK id and context; any change fails."""
    wrapped = crypto.wrap_data_key(KEK, DEK, WRAP_AAD)
    if flip is not None:
        wrapped = _flip(wrapped, flip)
    _expect_opaque(lambda: crypto.unwrap_data_key(kek, dek_id, wrapped, aad))


def test_v2_blob_does_not_open_with_another_data_key() -> None:
    """Another conversation's data key cannot open the blob."""
    blob = crypto.seal_with_data_key(DEK, PLAINTEXT, AAD)
    _expect_opaque(lambda: crypto.open_with_data_key(crypto.new_data_key(), blob, AAD))


def test_v1_blob_is_not_a_v2_blob() -> None:
    """The two formats are not confused with each other."""
    _expect_opaque(lambda: crypto.open_with_data_key(DEK, crypto.seal(KEK, PLAINTEXT, AAD), AAD))


DATA_KEY_VECTORS = json.loads((VECTORS / "crypto_data_key_v2.json").read_text())


@pytest.mark.parametrize("v", DATA_KEY_VECTORS, ids=[v["name"] for v in DATA_KEY_VECTORS])
def test_data_key_vector(v: dict[str, str]) -> None:
    """Fixed KEK, data key and nonces give exactly the recorded wrapped key and blob."""
    kek = AeadKey(v["kek_id"], bytes.fromhex(v["kek"]))
    dek = AeadKey(v["dek_id"], bytes.fromhex(v["dek"]))
    aad = _aad(v["aad"])  # type: ignore[arg-type]
    wrapped = crypto.wrap_data_key(
        kek, dek, bytes.fromhex(v["wrap_aad"]), rng=_reader(bytes.fromhex(v["wrap_nonce"]))
    )
    blob = crypto.seal_with_data_key(
        dek, bytes.fromhex(v["plaintext"]), aad, rng=_reader(bytes.fromhex(v["nonce"]))
    )
    assert (wrapped.hex(), blob.hex()) == (v["wrapped"], v["blob"])
    back = crypto.unwrap_data_key(
        kek, bytes.fromhex(v["dek_id"]), wrapped, bytes.fromhex(v["wrap_aad"])
    )
    assert crypto.open_with_data_key(back, blob, aad).hex() == v["plaintext"]


# --------------------------------------------------------------------------- encoding


def test_associated_data_encoding_is_unambiguous() -> None:
    """Fields that concatenate alike still encode differently."""
    assert crypto.encode_fields("x", "ab", "c") != crypto.encode_fields("x", "a", "bc")


def test_associated_data_refuses_bool() -> None:
    """A bool is rejected rather than silently encoded as an int."""
    with pytest.raises(TypeError):
        crypto.encode_fields("x", True)


# --------------------------------------------------------------------------- handles

SECRET = bytes(range(100, 132))


@pytest.mark.parametrize(
    "make",
    [
        lambda: AeadKey("eu:1", SECRET),  # KEK or data key
        lambda: HmacKey("view", SECRET),  # keyed hash key
        lambda: crypto.load_signing_key(SECRET),  # audit signing key
    ],
)
def test_repr_of_a_key_handle_shows_no_key_bytes(make: Callable[[], object]) -> None:
    """repr and str show the key id only, in no encoding of the key bytes."""
    key = make()
    text = repr(key) + str(key)
    material = crypto.key_material(key)  # type: ignore[arg-type]
    for enc in (material.hex(), material.hex().upper(), repr(material)[2:-1]):
        assert enc[:16] not in text


@pytest.mark.parametrize(
    "make",
    [
        lambda: AeadKey("eu:1", SECRET),  # KEK or data key
        lambda: HmacKey("view", SECRET),  # keyed hash key
        lambda: crypto.load_signing_key(SECRET),  # audit signing key
    ],
)
def test_pickling_a_key_handle_raises(make: Callable[[], object]) -> None:
    """Key handles refuse pickling so key bytes never travel by accident."""
    with pytest.raises(TypeError):
        pickle.dumps(make())


def test_copying_a_key_handle_returns_the_same_handle() -> None:
    """copy/deepcopy do not go through pickling: an immutable key is its own copy."""
    key = AeadKey("eu:1", SECRET)
    assert copy.deepcopy(key) is key and copy.copy(key) is key


@pytest.mark.parametrize(
    "make",
    [
        lambda: AeadKey("eu:1", bytes(31)),  # AES key too short
        lambda: AeadKey("", bytes(32)),  # empty key id
        lambda: AeadKey("k" * 65, bytes(32)),  # key id too long for the blob header
        lambda: AeadKey("r\u00e9gion:1", bytes(32)),  # non-ASCII key id
        lambda: HmacKey("view", bytes(16)),  # HMAC key too short
        lambda: crypto.load_signing_key(bytes(31)),  # Ed25519 seed too short
    ],
)
def test_malformed_key_material_is_refused(make: Callable[[], object]) -> None:
    """Keys of the wrong size or with unusable ids raise KeyringError."""
    with pytest.raises(KeyringError):
        make()


# --------------------------------------------------------------------------- Ed25519

ED_VECTORS = json.loads((VECTORS / "crypto_ed25519_rfc8032.json").read_text())


@pytest.mark.parametrize("v", ED_VECTORS, ids=[v["name"] for v in ED_VECTORS])
def test_ed25519_rfc8032_vector(v: dict[str, str]) -> None:
    """Signing the RFC 8032 messages gives the RFC's signatures and public keys."""
    key = crypto.load_signing_key(bytes.fromhex(v["secret"]))
    msg = bytes.fromhex(v["message"])
    assert crypto.public_key_bytes(key).hex() == v["public"]
    assert crypto.sign(key, msg).hex() == v["signature"]
    assert crypto.verify(bytes.fromhex(v["public"]), msg, bytes.fromhex(v["signature"]))


def test_verify_rejects_a_changed_message() -> None:
    """A signature does not verify for another message."""
    key = crypto.generate_signing_key()
    sig = crypto.sign(key, b"checkpoint 1")
    assert not crypto.verify(crypto.public_key_bytes(key), b"checkpoint 2", sig)


@pytest.mark.parametrize(
    "public, sig",
    [
        (bytes(31), bytes(64)),  # public key of the wrong length
        (None, bytes(63)),  # signature of the wrong length
        (None, b""),  # empty signature
    ],
)
def test_verify_returns_false_on_malformed_input(public: bytes | None, sig: bytes) -> None:
    """verify never raises: malformed keys or signatures are simply not valid."""
    key = crypto.generate_signing_key()
    assert crypto.verify(public or crypto.public_key_bytes(key), b"m", sig) is False


def test_public_key_base64_round_trips() -> None:
    """A public key exported as base64 imports to the same key and verifies."""
    key = crypto.generate_signing_key()
    pub = crypto.public_key_from_b64(crypto.public_key_b64(key))
    assert pub.raw == crypto.public_key_bytes(key)
    assert pub.verify(b"m", crypto.sign(key, b"m"))


def test_signing_key_id_matches_the_audit_key_id() -> None:
    """The handle's key id is the audit trail's id of the public key."""
    from proxy.audit.checkpoint import key_id_of

    key = crypto.generate_signing_key()
    assert key.key_id == key_id_of(crypto.public_key_bytes(key))


def test_public_key_from_bad_base64_raises() -> None:
    """Importing text that is not base64 of 32 bytes raises KeyringError."""
    with pytest.raises(KeyringError):
        crypto.public_key_from_b64("not base64!")


# --------------------------------------------------------------------------- HMAC

HMAC_VECTORS = json.loads((VECTORS / "crypto_hmac_rfc4231.json").read_text())


@pytest.mark.parametrize("v", HMAC_VECTORS, ids=[v["name"] for v in HMAC_VECTORS])
def test_keyed_digest_rfc4231_vector(v: dict[str, str]) -> None:
    """keyed_digest is HMAC-SHA256 as RFC 4231 specifies it."""
    key = HmacKey("view", bytes.fromhex(v["key"]))
    assert crypto.keyed_digest(key, bytes.fromhex(v["message"])).hex() == v["digest"]


def test_keyed_digest_depends_on_the_key() -> None:
    """Two keys give unrelated digests of the same message."""
    a, b = HmacKey.generate("view"), HmacKey.generate("view")
    assert crypto.keyed_digest(a, b"x") != crypto.keyed_digest(b, b"x")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_crypto_imports_hazmat() -> None:
    """No module of the project but proxy/crypto.py imports cryptography.hazmat."""
    root = Path(__file__).resolve().parents[1]
    offenders = [
        str(p.relative_to(root))
        for d in ("proxy", "redact", "policies")
        for p in (root / d).rglob("*.py")
        if any(m.startswith("cryptography.hazmat") for m in _imports(p))
        and p != root / "proxy" / "crypto.py"
    ]
    assert offenders == []


# --------------------------------------------------------------------------- properties

_text = st.text(max_size=20)
_aads = st.builds(RecordAad, _text, _text, _text, st.integers(0, 2**31))


@settings(max_examples=200, deadline=None)
@given(plaintext=st.binary(max_size=256), aad=_aads, data=st.data())
def test_any_single_bit_flip_in_a_v1_blob_fails(
    plaintext: bytes, aad: RecordAad, data: st.DataObject
) -> None:
    """For random plaintexts and records, flipping any one bit of the blob fails opaquely."""
    blob = crypto.seal(KEK, plaintext, aad)
    assert crypto.open(KEK, blob, aad) == plaintext
    i = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    bad = bytearray(blob)
    bad[i] ^= 1 << bit
    _expect_opaque(lambda: crypto.open(lambda kid: KEK if kid == "eu:1" else None, bytes(bad), aad))


@settings(max_examples=200, deadline=None)
@given(plaintext=st.binary(max_size=256), aad=_aads, data=st.data())
def test_any_single_bit_flip_in_a_v2_blob_fails(
    plaintext: bytes, aad: RecordAad, data: st.DataObject
) -> None:
    """For random plaintexts and records, flipping any one bit of a format-2 blob fails."""
    blob = crypto.seal_with_data_key(DEK, plaintext, aad)
    assert crypto.open_with_data_key(DEK, blob, aad) == plaintext
    i = data.draw(st.integers(0, len(blob) - 1))
    bad = bytearray(blob)
    bad[i] ^= 1 << data.draw(st.integers(0, 7))
    _expect_opaque(lambda: crypto.open_with_data_key(DEK, bytes(bad), aad))
