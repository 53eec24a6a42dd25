"""RFC 9162 Merkle tree: tree heads, inclusion and consistency proofs."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_of,
    tree_head,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "rfc6962_merkle.json").read_text())
DATA = [bytes.fromhex(x) for x in VECTORS["leaves_hex"]]


# --- reference implementation: the RFC's recursive definitions, written literally ---


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return EMPTY_ROOT
    if len(d) == 1:
        return leaf_hash(d[0])
    k = _k(len(d))
    return node_hash(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def hashes(d: list[bytes]) -> list[bytes]:
    return [leaf_hash(x) for x in d]


trees = st.lists(st.binary(max_size=8), min_size=1, max_size=40)


def test_empty_tree_head_is_hash_of_nothing() -> None:
    """The empty tree's head is SHA-256 of the empty string."""
    assert tree_head([]).hex() == VECTORS["empty_root"]


def test_tree_heads_match_reference_vectors() -> None:
    """Tree heads over the first n CT test leaves equal the published roots."""
    for n, want in enumerate(VECTORS["roots"], 1):
        assert tree_head(DATA[:n]).hex() == want, f"size {n}"


def test_frontier_root_matches_reference_vectors() -> None:
    """The incremental frontier reaches the same published roots."""
    f = Frontier()
    for n, want in enumerate(VECTORS["roots"], 1):
        f = f.append(leaf_hash(DATA[n - 1]))
        assert f.root().hex() == want, f"size {n}"


@given(trees)
def test_root_matches_recursive_definition(d: list[bytes]) -> None:
    """The bottom-up root equals the RFC's recursive MTH."""
    assert root_of(hashes(d)) == ref_mth(d)


@given(trees)
def test_frontier_round_trips_and_matches_root(d: list[bytes]) -> None:
    """A frontier encodes, decodes and yields the tree head of its leaves."""
    f = Frontier.of(hashes(d))
    assert Frontier.decode(f.encode()) == f
    assert f.root() == ref_mth(d)


@given(trees, st.data())
def test_inclusion_proof_matches_rfc_path(d: list[bytes], data: st.DataObject) -> None:
    """PATH(m, D[n]) equals the RFC's recursive definition and verifies."""
    m = data.draw(st.integers(0, len(d) - 1))
    proof = inclusion_proof(m, hashes(d))
    assert list(proof) == ref_path(m, d)
    assert verify_inclusion(leaf_hash(d[m]), m, len(d), proof, ref_mth(d))


@settings(max_examples=60)
@given(trees, st.data())
def test_inclusion_rejects_other_index_or_leaf(d: list[bytes], data: st.DataObject) -> None:
    """A proof verifies for no other index and no other leaf content."""
    m = data.draw(st.integers(0, len(d) - 1))
    proof = inclusion_proof(m, hashes(d))
    root = ref_mth(d)
    for other in range(len(d)):
        if other != m and d[other] != d[m]:
            assert not verify_inclusion(leaf_hash(d[m]), other, len(d), proof, root)
    assert not verify_inclusion(leaf_hash(d[m] + b"x"), m, len(d), proof, root)


@settings(max_examples=60)
@given(trees, st.data())
def test_inclusion_rejects_flipped_proof_byte(d: list[bytes], data: st.DataObject) -> None:
    """Flipping any bit of any proof element makes the proof fail."""
    m = data.draw(st.integers(0, len(d) - 1))
    proof = list(inclusion_proof(m, hashes(d)))
    if not proof:
        return
    i = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    bad = bytearray(proof[i])
    bad[bit // 8] ^= 1 << (bit % 8)
    proof[i] = bytes(bad)
    assert not verify_inclusion(leaf_hash(d[m]), m, len(d), proof, ref_mth(d))


@given(trees, st.data())
def test_consistency_proof_matches_rfc_and_verifies(d: list[bytes], data: st.DataObject) -> None:
    """PROOF(m, D[n]) equals the RFC's SUBPROOF and verifies between the two heads."""
    m = data.draw(st.integers(0, len(d)))
    proof = consistency_proof(m, hashes(d))
    want = [] if m in (0, len(d)) else ref_subproof(m, d, True)
    assert list(proof) == want
    assert verify_consistency(m, len(d), ref_mth(d[:m]), ref_mth(d), proof)


@settings(max_examples=80)
@given(trees, st.data())
def test_consistency_rejects_a_fork(d: list[bytes], data: st.DataObject) -> None:
    """A changed leaf inside the old tree makes the consistency proof fail."""
    m = data.draw(st.integers(1, len(d)))
    i = data.draw(st.integers(0, m - 1))
    forked = list(d)
    forked[i] = d[i] + b"!"
    proof = consistency_proof(m, hashes(forked))
    assert not verify_consistency(m, len(d), ref_mth(d[:m]), ref_mth(forked), proof)


@settings(max_examples=60)
@given(trees, st.data())
def test_consistency_rejects_flipped_proof_byte(d: list[bytes], data: st.DataObject) -> None:
    """Flipping a bit of any consistency proof element makes it fail."""
    m = data.draw(st.integers(1, len(d)))
    proof = list(consistency_proof(m, hashes(d)))
    if not proof:
        return
    i = data.draw(st.integers(0, len(proof) - 1))
    bad = bytearray(proof[i])
    bad[0] ^= 0x80
    proof[i] = bytes(bad)
    assert not verify_consistency(m, len(d), ref_mth(d[:m]), ref_mth(d), proof)


def test_inclusion_rejects_index_outside_the_tree() -> None:
    """An index at or beyond the tree size never verifies."""
    proof = inclusion_proof(2, hashes(DATA[:3]))
    assert not verify_inclusion(leaf_hash(DATA[2]), 3, 3, proof, tree_head(DATA[:3]))


def test_consistency_rejects_a_shrinking_tree() -> None:
    """A "new" tree smaller than the old one is never consistent with it."""
    assert not verify_consistency(5, 4, tree_head(DATA[:5]), tree_head(DATA[:4]), ())


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 300), st.data())
def test_cached_tree_matches_rfc_for_large_trees(n: int, data: st.DataObject) -> None:
    """Above the cache threshold, MerkleTree's proofs and roots still equal the RFC's."""
    d = [i.to_bytes(4, "big") for i in range(n)]
    tree = MerkleTree(hashes(d))
    for _ in range(3):
        m = data.draw(st.integers(0, n - 1))
        size = data.draw(st.integers(m + 1, n))
        assert list(tree.inclusion_proof(m, size)) == ref_path(m, d[:size])
        old = data.draw(st.integers(1, size))
        want = [] if old == size else ref_subproof(old, d[:size], True)
        assert list(tree.consistency_proof(old, size)) == want
    assert tree.root() == ref_mth(d)
