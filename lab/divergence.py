"""Where sampled chains part ways: a run's chains merged into a prefix tree of tokens.

Pure data, no drawing (lab/trace_html.py draws it as HTML for the app and the report). The
tree is compressed: each `Branch` holds the run of tokens every chain below it shares, so N
chains give at most 2N - 1 branches however long they are. A fork is a branch with several
children; each child says the probability of its first token (the model's, at temperature 1)
and how many chains took it. A chain ends in the branch where its tokens run out, labelled
with its answer and whether that answer was right (graded after the run: the trace's
`vote_correct`, else the final answer's grade, else a `graded` mapping the caller passes).

    trie = build_trie(trace)
    trie.root.count, [c.probability for c in trie.root.children], trie.forks()
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from lab.engine.base import Token
from lab.trace import Node, NodeKind, Trace, drawn_chains
from lab.trace import chain_labels as labels_of

_WORD = re.compile(r"\n+|[^\S\n]*\S+|[^\S\n]+")  # stand-in tokens for a chain without tokens
TokenKey = tuple[int, str]


@dataclass(frozen=True)
class ChainEnd:
    """A chain, where its tokens run out: its label, answer and grade."""

    node_id: int
    label: str  # "Chain 3", numbered as the chain panels are
    answer: str | None
    correct: bool | None  # None: not graded (no gold answer, or an answer no one graded)
    chosen: bool = False
    cut: bool = False  # ended at its token cap


@dataclass
class Branch:
    """A run of tokens shared by every chain below it, then a fork or the chains' ends."""

    start: int  # tokens before this branch: where it forks off its parent
    tokens: list[Token]
    chains: list[int]  # node ids of the chains through this branch, in trace order
    probability: float | None = None  # p of the branch's first token (None: root, unknown)
    children: list[Branch] = field(default_factory=list)
    ends: list[ChainEnd] = field(default_factory=list)  # chains that end in this branch

    @property
    def count(self) -> int:
        return len(self.chains)

    @property
    def text(self) -> str:
        return "".join(t.text for t in self.tokens)

    @property
    def end(self) -> int:
        """The token position where this branch ends (and its children fork)."""
        return self.start + len(self.tokens)

    def walk(self) -> Iterator[Branch]:
        """This branch and every branch below it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def leaves(self) -> list[ChainEnd]:
        """Every chain ending in or below this branch."""
        return [end for branch in self.walk() for end in branch.ends]

    def answers(self) -> list[tuple[str | None, bool | None, int]]:
        """The answers of the chains below: (answer, correct, how many), most frequent first."""
        counts = Counter((end.answer, end.correct) for end in self.leaves())
        return [(answer, correct, n) for (answer, correct), n in counts.most_common()]


@dataclass
class Trie:
    root: Branch
    chains: list[ChainEnd]  # every chain merged, in trace order
    exact: bool = True  # False: some chain had no tokens and was split into words instead

    def forks(self) -> list[Branch]:
        """The branches where chains part ways, in depth-first order."""
        return [b for b in self.root.walk() if len(b.children) > 1]

    def first_fork(self) -> int | None:
        """How many tokens every chain shares before the first fork (None: no fork)."""
        forks = self.forks()
        return forks[0].end if forks else None


def divergent_chains(trace: Trace) -> list[Node]:
    """The chains merged: sampled chains (not revisions or search rollouts) with some text."""
    return [n for n in _numbered_chains(trace) if n.tokens or n.text]


def chain_labels(trace: Trace) -> dict[int, str]:
    """Each sampled chain's name, as every drawing of the run names it."""
    chains = {n.id for n in _numbered_chains(trace)}
    return {i: label for i, label in labels_of(drawn_chains(trace.nodes)).items() if i in chains}


def build_trie(trace: Trace, graded: Mapping[str, bool | None] | None = None) -> Trie:
    """The run's chains merged into a prefix tree of tokens. `graded` adds grades of answers
    the run did not grade (e.g. best-of-n's losing candidates)."""
    nodes = divergent_chains(trace)
    labels = chain_labels(trace)
    sequences = {n.id: chain_tokens(n) for n in nodes}
    ends = {n.id: ChainEnd(n.id, labels[n.id], n.answer, chain_correct(trace, n, graded),
                           n.chosen, n.cut) for n in nodes}
    if not nodes:
        return Trie(Branch(0, [], []), [])
    root = _grow([(n.id, sequences[n.id]) for n in nodes], 0, None, ends)
    return Trie(root, [ends[n.id] for n in nodes], exact=all(n.tokens for n in nodes))


def chain_tokens(node: Node) -> list[Token]:
    """The chain's tokens; a chain stored without them, its text split into words."""
    if node.tokens:
        return list(node.tokens)
    return [Token(-1, word, math.nan) for word in _WORD.findall(node.text)]


def chain_correct(trace: Trace, node: Node,
                  graded: Mapping[str, bool | None] | None = None) -> bool | None:
    """Whether the chain's answer was right, as graded after the run (never graded here)."""
    if node.answer is None:
        return False if trace.problem.gold is not None else None  # no answer is wrong
    for key in (node.meta.get("group"), node.answer):
        if isinstance(key, str) and (found := trace.vote_correct(key)) is not None:
            return found
    if node.answer == trace.final_answer and trace.correct is not None:
        return trace.correct
    return (graded or {}).get(node.answer)


def _numbered_chains(trace: Trace) -> list[Node]:
    return [n for n in list(trace.nodes) if n.kind == NodeKind.CHAIN and not n.meta.get("rollout")]


def _grow(sequences: Sequence[tuple[int, list[Token]]], start: int, probability: float | None,
          ends: Mapping[int, ChainEnd]) -> Branch:
    """The branch of `sequences` from token `start`: their shared run, then a child for each
    next token (most chains first), and the chains that end."""
    stop = _shared_until(sequences, start)
    first = sequences[0][1]
    branch = Branch(start, first[start:stop], [cid for cid, _ in sequences], probability)
    branch.ends = [ends[cid] for cid, tokens in sequences if len(tokens) == stop]
    groups: dict[TokenKey, list[tuple[int, list[Token]]]] = {}
    for cid, tokens in sequences:
        if len(tokens) > stop:
            groups.setdefault(_key(tokens[stop]), []).append((cid, tokens))
    children = [_grow(group, stop, _probability(group, stop), ends) for group in groups.values()]
    branch.children = sorted(children, key=lambda c: (-c.count, -(c.probability or 0.0)))
    return branch


def _shared_until(sequences: Sequence[tuple[int, list[Token]]], start: int) -> int:
    """The first position from `start` where the sequences differ or one of them ends."""
    shortest = min(len(tokens) for _, tokens in sequences)
    first = sequences[0][1]
    position = start
    while position < shortest and all(_key(tokens[position]) == _key(first[position])
                                      for _, tokens in sequences[1:]):
        position += 1
    return position


def _key(token: Token) -> TokenKey:
    return token.id, token.text


def _probability(group: Sequence[tuple[int, list[Token]]], position: int) -> float | None:
    """The probability of the group's first token (the same context gives every chain the
    same one; their mean smooths batching's rounding)."""
    logprobs = [tokens[position].logprob for _, tokens in group]
    if any(math.isnan(lp) for lp in logprobs):
        return None
    return sum(math.exp(min(0.0, lp)) for lp in logprobs) / len(logprobs)
