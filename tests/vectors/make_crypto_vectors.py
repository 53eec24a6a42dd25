"""Regenerate the format vectors crypto_envelope_v1.json and crypto_data_key_v2.json.

Run only when the sealed formats change on purpose (then bump the format version byte):
    .venv/bin/python tests/vectors/make_crypto_vectors.py
The RFC vectors (crypto_ed25519_rfc8032.json, crypto_hmac_rfc4231.json) are copied from
the RFCs, not generated.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from proxy import crypto

HERE = Path(__file__).resolve().parent


def stream(seed: str, n: int) -> bytes:
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}/{i}".encode()).digest()
        i += 1
    return out[:n]


def reader(data: bytes) -> crypto.Rng:
    pos = 0

    def rng(n: int) -> bytes:
        nonlocal pos
        chunk = data[pos : pos + n]
        assert len(chunk) == n
        pos += n
        return chunk

    return rng


CASES = [
    # (name, key id, tenant, conversation, message, schema, plaintext)
    ("ascii", "eu:1", "t1", "c1", "m1", 1, b"order 42 ships on monday"),
    ("empty plaintext", "us:7", "tenant-b", "conv/9", "msg-0001", 1, b""),
    ("utf8 fields", "default:12", "t\u00e9", "\u4f1a\u8bdd", "m\u00fc", 2, "\u00e7a va".encode()),
]


def main() -> None:
    env = []
    dk = []
    for i, (name, kid, tenant, conv, msg, schema, pt) in enumerate(CASES):
        aad = crypto.RecordAad(tenant, conv, msg, schema)
        aad_fields = {
            "tenant": tenant,
            "conversation_id": conv,
            "message_id": msg,
            "schema_version": schema,
        }
        kek = stream(f"kek{i}", 32)
        rnd = stream(f"rnd{i}", 32 + 12 + 12)
        blob = crypto.seal(crypto.AeadKey(kid, kek), pt, aad, rng=reader(rnd))
        env.append(
            {
                "name": name,
                "kek_id": kid,
                "kek": kek.hex(),
                "random": rnd.hex(),
                "aad": aad_fields,
                "plaintext": pt.hex(),
                "blob": blob.hex(),
            }
        )
        dek_id = stream(f"dekid{i}", 16)
        dek_bytes = stream(f"dek{i}", 32)
        wrap_ctx = crypto.encode_fields("chatwarden/data-key", tenant, conv, "eu")
        wrap_nonce, nonce = stream(f"wn{i}", 12), stream(f"n{i}", 12)
        dek = crypto.AeadKey(dek_id.hex(), dek_bytes)
        wrapped = crypto.wrap_data_key(
            crypto.AeadKey(kid, kek), dek, wrap_ctx, rng=reader(wrap_nonce)
        )
        blob2 = crypto.seal_with_data_key(dek, pt, aad, rng=reader(nonce))
        dk.append(
            {
                "name": name,
                "kek_id": kid,
                "kek": kek.hex(),
                "dek_id": dek_id.hex(),
                "dek": dek_bytes.hex(),
                "wrap_aad": wrap_ctx.hex(),
                "wrap_nonce": wrap_nonce.hex(),
                "wrapped": wrapped.hex(),
                "nonce": nonce.hex(),
                "aad": aad_fields,
                "plaintext": pt.hex(),
                "blob": blob2.hex(),
            }
        )
    for fname, data in (("crypto_envelope_v1.json", env), ("crypto_data_key_v2.json", dk)):
        (HERE / fname).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
