"""Properties of the Merkle tree code: what we generate, we (and RFC 9162) verify."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from ledger import merkle


def _naive_root(leaves: list[bytes]) -> bytes:
    # RFC 9162 section 2.1.1, written as the recursion it is.
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_naive_root(leaves[:k]), _naive_root(leaves[k:]))


def _tree(n: int) -> tuple[list[bytes], dict[merkle.Node, bytes], list[bytes]]:
    leaves = [hashlib.sha256(str(i).encode()).digest() for i in range(n)]
    nodes: dict[merkle.Node, bytes] = {}
    frontier = merkle.Frontier()
    roots = [frontier.root()]
    for leaf in leaves:
        nodes.update(frontier.append(merkle.leaf_hash(leaf)))
        roots.append(frontier.root())
    return leaves, nodes, roots


@given(st.integers(min_value=0, max_value=70))
def test_frontier_root_equals_the_rfc_recursion(n: int) -> None:
    leaves, nodes, roots = _tree(n)
    for size in range(n + 1):
        assert roots[size] == _naive_root(leaves[:size])
        assert merkle.root_at(size, lambda want: {k: nodes[k] for k in want}) == roots[size]


@given(st.data())
def test_generated_proofs_verify_and_tampered_ones_do_not(data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=1, max_value=70))
    leaves, nodes, roots = _tree(n)
    fetch = lambda want: {k: nodes[k] for k in want}  # noqa: E731

    size = data.draw(st.integers(min_value=1, max_value=n))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = merkle.inclusion_proof(index, size, fetch)
    leaf = merkle.leaf_hash(leaves[index])
    merkle.verify_inclusion(index, size, leaf, proof, roots[size])
    if proof:
        bad = list(proof)
        bad[0] = bytes(32)
        try:
            merkle.verify_inclusion(index, size, leaf, bad, roots[size])
            raise AssertionError("a tampered inclusion proof verified")
        except merkle.ProofError:
            pass

    old = data.draw(st.integers(min_value=1, max_value=size))
    cproof = merkle.consistency_proof(old, size, fetch)
    merkle.verify_consistency(old, size, roots[old], roots[size], cproof)
    if old < size:
        try:
            merkle.verify_consistency(
                old, size, roots[old], roots[size - 1] if size - 1 != old else bytes(32), cproof
            )
            raise AssertionError("a consistency proof verified against the wrong root")
        except merkle.ProofError:
            pass
