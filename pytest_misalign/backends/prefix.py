"""Prefix-shared ("tree attention") planning for log-likelihood scoring.

Every scored request is a model input sequence `inp` (lm-eval's `(ctx + cont)[-(max_length+1):][:-1]`)
whose last `len(cont)` positions predict the continuation tokens. Many requests share prefixes:
the choices of one item share its whole context, items share a passage with different questions,
an "ambiguous" context is a prefix of its "disambiguated" version. Running each distinct prefix
once is the floor on the work a transformer has to do, because a token's hidden state depends
only on the tokens before it (its ancestors) and on its position.

So the inputs go into a token trie (`TokenTrie`): a node is one distinct prefix, its depth is the
position id of its last token. Trie nodes are then packed into rows of bounded length (`plan`):
a row holds, in depth-first order, the union of the root-to-node paths of the requests it
finishes, so every node's ancestors sit in the same row before it (a path that straddles a row
boundary is repeated in the next row; that repetition is the only overhead over the floor). A row
is run as one sequence with explicit `position_ids` (= depth) and a 4D attention mask in which a
node attends exactly to its ancestors and itself (`row_mask`). The hidden state of each node then
equals that of the same token in the plain, unshared sequence; logits are computed only at the
nodes that predict a continuation token.

This module is pure Python + numpy (no torch): the HF backend turns a plan into tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


class TokenTrie:
    """Distinct prefixes of token sequences. Node ids are dense ints in insertion order."""

    __slots__ = ("token", "parent", "depth", "_children")

    def __init__(self) -> None:
        self.token: list[int] = []
        self.parent: list[int] = []  # -1 for depth-0 nodes
        self.depth: list[int] = []
        self._children: list[dict[int, int]] = [{}]  # [0]: the virtual root; node v's at [v + 1]

    def __len__(self) -> int:
        return len(self.token)

    def insert(self, seq: Sequence[int]) -> list[int]:
        """Node ids along `seq` (one per token), creating the missing ones."""
        path: list[int] = []
        children = self._children[0]  # the virtual root
        parent = -1
        for depth, tok in enumerate(seq):
            node = children.get(tok)
            if node is None:
                node = len(self.token)
                self.token.append(int(tok))
                self.parent.append(parent)
                self.depth.append(depth)
                self._children.append({})
                children[tok] = node
            path.append(node)
            parent = node
            children = self._children[node + 1]
        return path


@dataclass
class Row:
    """One packed sequence: trie nodes in an order where ancestors come first."""

    nodes: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)  # requests whose scoring ends in this row

    def __len__(self) -> int:
        return len(self.nodes)


@dataclass
class Forward:
    """Rows run together in one model call (right-padded to the longest row)."""

    rows: list[Row]

    @property
    def width(self) -> int:
        return max(len(r) for r in self.rows)

    @property
    def tokens(self) -> int:
        return sum(len(r) for r in self.rows)

    @property
    def requests(self) -> list[int]:
        return [i for r in self.rows for i in r.requests]


@dataclass
class Plan:
    trie: TokenTrie
    paths: list[list[int]]  # per request: node ids of its input sequence
    forwards: list[Forward]

    @property
    def tokens(self) -> int:
        """Tokens the plan forwards (repeated boundary paths included, padding excluded)."""
        return sum(f.tokens for f in self.forwards)

    @property
    def padded_tokens(self) -> int:
        return sum(f.width * len(f.rows) for f in self.forwards)


def build_trie(seqs: Sequence[Sequence[int]]) -> tuple[TokenTrie, list[list[int]]]:
    trie = TokenTrie()
    return trie, [trie.insert(s) for s in seqs]


def plan(
    seqs: Sequence[Sequence[int]],
    *,
    row_tokens: int,
    forward_tokens: int | None = None,
    max_requests: int | None = None,
    trie: TokenTrie | None = None,
    paths: list[list[int]] | None = None,
) -> Plan:
    """Pack requests (their input token sequences) into rows and model calls.

    Requests are visited in lexicographic order of their sequences, which is the trie's
    depth-first order, so requests that share a prefix are neighbours. A row is filled greedily
    (next fit): a request adds the nodes of its path not already in the row (a suffix of the
    path, since rows are closed under ancestors). A row is closed when the next request would
    push it past `row_tokens` nodes, or when it holds `max_requests` requests. A request whose
    path alone is longer than `row_tokens` gets a row of its own.

    Rows are then grouped, in order, into model calls: at most `max_requests` requests per call
    (a fixed batch size), and at most `forward_tokens` padded tokens (rows x longest row) per call
    (the automatic size). A row that alone exceeds the budget is one call.
    """
    if row_tokens < 1:
        raise ValueError("row_tokens must be positive")
    if trie is None or paths is None:
        trie, paths = build_trie(seqs)
    order = sorted(range(len(seqs)), key=lambda i: tuple(seqs[i]))

    rows: list[Row] = []
    row = Row()
    in_row: set[int] = set()
    for i in order:
        path = paths[i]
        if not path:
            raise ValueError("cannot score a request with an empty input sequence")
        k = 0  # nodes already in the row form a prefix of the path (rows are ancestor-closed)
        while k < len(path) and path[k] in in_row:
            k += 1
        full = max_requests is not None and len(row.requests) >= max_requests
        if row.requests and (full or len(row.nodes) + len(path) - k > row_tokens):
            rows.append(row)
            row, in_row, k = Row(), set(), 0
        row.nodes.extend(path[k:])
        in_row.update(path[k:])
        row.requests.append(i)
    if row.requests:
        rows.append(row)

    forwards: list[Forward] = []
    current: list[Row] = []
    n_req = 0
    width = 0
    for r in rows:
        if current:
            new_width = max(width, len(r))
            over_tokens = forward_tokens is not None and new_width * (len(current) + 1) > forward_tokens
            over_reqs = max_requests is not None and n_req + len(r.requests) > max_requests
            if over_tokens or over_reqs:
                forwards.append(Forward(current))
                current, n_req, width = [], 0, 0
        current.append(r)
        n_req += len(r.requests)
        width = max(width, len(r))
    if current:
        forwards.append(Forward(current))
    return Plan(trie, paths, forwards)


def row_arrays(trie: TokenTrie, row: Row) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, int]]:
    """Token ids, position ids, an ancestor-or-self boolean mask [n, n], and node -> column."""
    n = len(row.nodes)
    col = {node: j for j, node in enumerate(row.nodes)}
    tokens = np.fromiter((trie.token[v] for v in row.nodes), dtype=np.int64, count=n)
    positions = np.fromiter((trie.depth[v] for v in row.nodes), dtype=np.int64, count=n)
    mask = np.zeros((n, n), dtype=bool)
    for j, node in enumerate(row.nodes):
        parent = trie.parent[node]
        if parent >= 0:
            mask[j] = mask[col[parent]]  # the parent's ancestors (parent precedes j in the row)
        mask[j, j] = True
    return tokens, positions, mask, col
