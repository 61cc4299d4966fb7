"""The RFC 9162 (section 2.1) Merkle tree: hashes, proofs, and their verification.

Nodes are named by (level, index): the node covers leaves
[index * 2**level, (index + 1) * 2**level). Only such perfect nodes are ever
stored; any other subtree of the RFC's tree is a fold over at most log2(n) of
them along its right edge. Proof generation first lists the perfect nodes it
needs, so a store can fetch them in one query, then folds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

Node = tuple[int, int]  # (level, index)

EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A Merkle proof that does not verify."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# -- The compact range: the right edge of the tree over [0, size) ------------------


class Frontier:
    """The perfect subtrees covering leaves [0, size), largest first.

    Appending a leaf merges equal-sized neighbours, exactly as a binary counter
    carries; each merge is a new perfect node that a store may keep.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if len(hashes) != size.bit_count():
            raise ValueError(f"a frontier of size {size} has {size.bit_count()} hashes")
        self.size = size
        self.hashes = list(hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes) -> Frontier:
        return cls(size, [data[i : i + 32] for i in range(0, len(data), 32)])

    def to_bytes(self) -> bytes:
        return b"".join(self.hashes)

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)

    def append(self, leaf_hash_: bytes) -> list[tuple[Node, bytes]]:
        """Add one leaf; return the perfect nodes it completes, the leaf first."""
        index = self.size
        made: list[tuple[Node, bytes]] = [((0, index), leaf_hash_)]
        value = leaf_hash_
        level = 0
        while (index >> level) & 1:
            value = node_hash(self.hashes.pop(), value)
            level += 1
            made.append(((level, index >> level), value))
        self.hashes.append(value)
        self.size += 1
        return made

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        value = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            value = node_hash(left, value)
        return value

    def nodes(self) -> list[Node]:
        """The (level, index) of each hash, in order."""
        out: list[Node] = []
        start = 0
        for level in range(self.size.bit_length() - 1, -1, -1):
            if self.size >> level & 1:
                out.append((level, start >> level))
                start += 1 << level
        return out


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    frontier = Frontier()
    for value in leaf_hashes:
        frontier.append(value)
    return frontier.root()


# -- Which subtrees a proof needs (RFC 9162 2.1.3.1 PATH, 2.1.4.1 SUBPROOF) ---------

Range = tuple[int, int]  # leaves [start, end)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The subtrees whose hashes form the audit path, deepest first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The subtrees whose hashes form the consistency proof, deepest first."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[Range] = []
    lo, hi, m, whole = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            m -= k
            whole = False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def perfect_nodes(start: int, end: int) -> list[Node]:
    """The perfect nodes that make up leaves [start, end), left to right."""
    out: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        out.append((level, start >> level))
        start += 1 << level
    return out


def nodes_for(ranges: Iterable[Range]) -> set[Node]:
    needed: set[Node] = set()
    for start, end in ranges:
        needed.update(perfect_nodes(start, end))
    return needed


def range_hash(start: int, end: int, nodes: Mapping[Node, bytes]) -> bytes:
    parts = [nodes[n] for n in perfect_nodes(start, end)]
    value = parts[-1]
    for left in reversed(parts[:-1]):
        value = node_hash(left, value)
    return value


NodeFetcher = Callable[[set[Node]], Mapping[Node, bytes]]


def inclusion_proof(index: int, size: int, fetch: NodeFetcher) -> list[bytes]:
    ranges = inclusion_ranges(index, size)
    nodes = fetch(nodes_for(ranges))
    return [range_hash(s, e, nodes) for s, e in ranges]


def consistency_proof(old_size: int, new_size: int, fetch: NodeFetcher) -> list[bytes]:
    ranges = consistency_ranges(old_size, new_size)
    nodes = fetch(nodes_for(ranges))
    return [range_hash(s, e, nodes) for s, e in ranges]


def root_at(size: int, fetch: NodeFetcher) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    return range_hash(0, size, fetch(set(perfect_nodes(0, size))))


# -- Verification (RFC 9162 2.1.3.2 and 2.1.4.2) ----------------------------------


def _check_hashes(*hashes: bytes) -> None:
    for value in hashes:
        if len(value) != 32:
            raise ProofError(f"a hash is 32 bytes, not {len(value)}")


def verify_inclusion(
    index: int, size: int, leaf_hash_: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `proof` shows leaf `index` in the tree `root`."""
    _check_hashes(leaf_hash_, root, *proof)
    # 1. The index must lie inside the tree.
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    # 2.-3. Walk up from the leaf, hashing each sibling on the side the index says.
    fn, sn, r = index, size - 1, leaf_hash_
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # 4. The walk must end at the root, and the root must match.
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("inclusion proof does not lead to the expected root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless `proof` shows tree `old_root` is a prefix of `new_root`.

    As in transparency-dev/merkle (whose vectors we pass), a proof from the empty
    tree is refused: it would prove nothing, so asking for one is a caller's error.
    """
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots")
        return
    _check_hashes(old_root, new_root, *proof)
    # 1. An empty proof cannot show anything.
    if not proof:
        raise ProofError("consistency proof is empty")
    # 2. If the old size is a power of two, its root is the proof's implicit start.
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3.-4. Start from the old tree's last leaf, skipping the levels where it is a right child.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.-6. Rebuild both roots at once.
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7. Both roots must match and the walk must have reached the top.
    if sn != 0:
        raise ProofError("consistency proof is shorter than needed")
    if fr != old_root:
        raise ProofError("consistency proof does not rebuild the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not rebuild the new root")
