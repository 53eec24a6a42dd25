"""Merkle tree hashing, inclusion and consistency proofs as RFC 9162 (RFC 6962bis) §2.1.

* leaf hash  ``H(0x00 || data)``; interior node ``H(0x01 || left || right)``; H = SHA-256.
* ``MTH`` of ``n`` leaves splits at the largest power of two smaller than ``n``; the
  empty tree's hash is ``H("")``.
* Proofs are computed from the sequence of *leaf hashes* (the log stores them), and
  verified with the RFC's iterative algorithms (§2.1.3.2 and §2.1.4.2), which need only
  the proof, the sizes and the roots.

Everything here is a pure function over ``bytes``; nothing knows about events or storage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

HASH_SIZE = 32
_LEAF = b"\x00"
_NODE = b"\x01"

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The RFC 9162 hash of one leaf: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 9162 hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """``MTH`` over already-hashed leaves, bottom-up in O(n).

    Pairing neighbours level by level and promoting a lone last node unchanged builds
    exactly the RFC's left-balanced tree.
    """
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def tree_head(data: Sequence[bytes]) -> bytes:
    """``MTH(D[n])`` over raw leaf data, for callers holding entries rather than hashes."""
    return root_of([leaf_hash(d) for d in data])


class MerkleTree:
    """The RFC 9162 tree over a list of leaf hashes, for computing many proofs.

    Subtree roots are computed once and cached for subtrees of at least ``CACHE_MIN``
    leaves (so memory is about ``2n / CACHE_MIN`` hashes); smaller ones are recomputed on
    demand. After the first proof (O(n)), each proof costs O(log n) cached look-ups plus
    at most a few small subtrees: a bundle of k events from an n-event log is O(n + k log n)
    instead of O(n k).
    """

    CACHE_MIN = 64

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._leaves = leaves
        self._cache: dict[tuple[int, int], bytes] = {}

    def __len__(self) -> int:
        return len(self._leaves)

    def root(self, lo: int = 0, hi: int | None = None) -> bytes:
        """``MTH`` of leaves ``lo..hi-1`` (the whole tree by default)."""
        hi = len(self._leaves) if hi is None else hi
        n = hi - lo
        if n <= 0:
            return EMPTY_ROOT
        if n == 1:
            return self._leaves[lo]
        if n < self.CACHE_MIN:
            return root_of(self._leaves[lo:hi])
        key = (lo, hi)
        hit = self._cache.get(key)
        if hit is None:
            k = _split(n)
            hit = node_hash(self.root(lo, lo + k), self.root(lo + k, hi))
            self._cache[key] = hit
        return hit

    def inclusion_proof(self, index: int, size: int | None = None) -> tuple[bytes, ...]:
        """``PATH(index, D[size])`` (``size`` defaults to the whole tree)."""
        size = len(self._leaves) if size is None else size
        if not 0 <= index < size <= len(self._leaves):
            raise ValueError("leaf index outside the tree")
        path: list[bytes] = []
        lo, hi, m = 0, size, index
        # Walk from the root down, collecting the sibling subtree at each split; the RFC's
        # recursion appends siblings on the way back up, so reverse at the end.
        while hi - lo > 1:
            k = _split(hi - lo)
            if m < k:
                path.append(self.root(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.root(lo, lo + k))
                lo, m = lo + k, m - k
        path.reverse()
        return tuple(path)

    def consistency_proof(self, old_size: int, size: int | None = None) -> tuple[bytes, ...]:
        """``PROOF(old_size, D[size])``."""
        size = len(self._leaves) if size is None else size
        if not 0 <= old_size <= size <= len(self._leaves):
            raise ValueError("old tree size must lie between 0 and the new size")
        if old_size in (0, size):
            return ()
        return tuple(self._subproof(old_size, 0, size, True))

    def _subproof(self, m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if whole else [self.root(lo, hi)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, lo, lo + k, whole), self.root(lo + k, hi)]
        return [*self._subproof(m - k, lo + k, hi, False), self.root(lo, lo + k)]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> tuple[bytes, ...]:
    """``PATH(index, D[n])``: the audit path of leaf ``index`` in the tree of ``leaves``."""
    return MerkleTree(leaves).inclusion_proof(index)


def consistency_proof(old_size: int, leaves: Sequence[bytes]) -> tuple[bytes, ...]:
    """``PROOF(m, D[n])``: shows the tree of the first ``old_size`` leaves is a prefix."""
    return MerkleTree(leaves).consistency_proof(old_size)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``leaf`` (a leaf *hash*) sit at ``index`` of the tree ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree ``old_root`` of ``old_size`` a prefix of ``new_root``?"""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        # Every tree extends the empty one; the RFC leaves this case to the caller.
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


@dataclass(frozen=True, slots=True)
class Frontier:
    """The right edge of a tree: roots of its perfect subtrees, largest first.

    ``sizes`` are the powers of two in the binary expansion of the tree size. Appending
    a leaf and taking the root are O(log n), so a writer never re-reads the whole log.
    """

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def append(self, leaf: bytes) -> Frontier:
        """The frontier after adding one leaf hash."""
        hashes = list(self.hashes)
        hashes.append(leaf)
        # Each trailing 1-bit of the old size is a perfect subtree the new leaf completes.
        n = self.size
        while n & 1:
            right = hashes.pop()
            hashes[-1] = node_hash(hashes[-1], right)
            n >>= 1
        return Frontier(self.size + 1, tuple(hashes))

    def root(self) -> bytes:
        """``MTH`` of the tree this frontier ends."""
        if not self.hashes:
            return EMPTY_ROOT
        r = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            r = node_hash(h, r)
        return r

    def encode(self) -> bytes:
        """Size (8 bytes, big-endian) followed by the subtree hashes."""
        return self.size.to_bytes(8, "big") + b"".join(self.hashes)

    @classmethod
    def decode(cls, blob: bytes) -> Frontier:
        size = int.from_bytes(blob[:8], "big")
        body = blob[8:]
        count = bin(size).count("1")
        if len(body) != count * HASH_SIZE:
            raise ValueError("frontier length does not match its size")
        return cls(size, tuple(body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)))

    @classmethod
    def of(cls, leaves: Sequence[bytes]) -> Frontier:
        f = cls()
        for h in leaves:
            f = f.append(h)
        return f
