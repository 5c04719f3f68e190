"""The divergence view's prefix tree (lab.divergence) and its HTML (lab.trace_html), on
hand-made traces: shared prefixes, fork probabilities, counts, answers and their grades."""

from __future__ import annotations

import math
import time

from lab.divergence import build_trie, chain_labels, divergent_chains
from lab.engine.base import Token
from lab.tasks.problem import Problem
from lab.trace import VOTE_CORRECT, Node, NodeKind, Trace, TraceStatus
from lab.trace_html import chain_html, divergence_html, divergence_summary, node_tree_html

WORDS = {"The": 0, " sum": 1, " is": 2, " 18": 3, " 17": 4, " total": 5, ".": 6}


def chain(node_id: int, words: list[tuple[str, float]], answer: str | None,
          **meta: object) -> Node:
    tokens = [Token(WORDS.setdefault(w, len(WORDS)), w, math.log(p)) for w, p in words]
    text = "".join(w for w, _ in words)
    return Node(node_id, 0, NodeKind.CHAIN, text, tokens, answer=answer, meta=dict(meta))


def voting_trace(chains: list[Node], votes: dict[str, bool]) -> Trace:
    trace = Trace("self-consistency", Problem("p1", "What is 9 + 9?", gold="18"),
                  nodes=[Node(0, None, NodeKind.PROMPT, "What is 9 + 9?"), *chains],
                  votes={a: 1.0 for a in votes}, final_answer="18",
                  status=TraceStatus.COMPLETE, correct=True)
    trace.meta[VOTE_CORRECT] = votes
    return trace


def four_chains() -> Trace:
    """Chains 1-3 share "The", then 1 and 2 say " sum is 18", 3 " total is 17"; 4 starts
    differently."""
    sure, fork = 0.99, [0.5, 0.3, 0.2]
    return voting_trace([
        chain(1, [("The", 0.8), (" sum", fork[0]), (" is", sure), (" 18", 0.9)], "18"),
        chain(2, [("The", 0.8), (" sum", fork[0]), (" is", sure), (" 18", 0.9)], "18"),
        chain(3, [("The", 0.8), (" total", fork[1]), (" is", sure), (" 17", 0.6)], "17"),
        chain(4, [(" 18", 0.2), (".", sure)], "18"),
    ], {"18": True, "17": False})


def test_shared_beginnings_are_stored_once_and_forks_counted() -> None:
    trie = build_trie(four_chains())
    root = trie.root
    assert root.tokens == [] and root.count == 4  # chain 4 differs at the first token
    the, other = root.children  # the branch most chains took comes first
    assert (the.text, the.count, the.start) == ("The", 3, 0)
    assert other.text == " 18." and other.count == 1
    assert math.isclose(the.probability or 0, 0.8) and math.isclose(other.probability or 0, 0.2)
    sum_branch, total = the.children
    assert (sum_branch.text, sum_branch.count, sum_branch.start) == (" sum is 18", 2, 1)
    assert total.text == " total is 17" and total.count == 1
    assert math.isclose(sum_branch.probability or 0, 0.5)
    assert math.isclose(total.probability or 0, 0.3)
    assert [b.end for b in trie.forks()] == [0, 1]
    assert trie.first_fork() == 0


def test_leaves_carry_the_chains_answers_and_grades() -> None:
    trie = build_trie(four_chains())
    the, other = trie.root.children
    sum_branch, total = the.children
    assert [(e.label, e.answer, e.correct) for e in sum_branch.ends] == [
        ("Chain 1", "18", True), ("Chain 2", "18", True)]
    assert [(e.label, e.answer, e.correct) for e in total.ends] == [("Chain 3", "17", False)]
    assert the.answers() == [("18", True, 2), ("17", False, 1)]
    assert [e.label for e in trie.chains] == ["Chain 1", "Chain 2", "Chain 3", "Chain 4"]


def test_a_chain_that_is_a_prefix_of_another_ends_inside_the_branch() -> None:
    trace = voting_trace([
        chain(1, [("The", 0.9), (" sum", 0.9)], None),
        chain(2, [("The", 0.9), (" sum", 0.9), (" is", 0.9), (" 18", 0.9)], "18"),
    ], {"18": True})
    root = build_trie(trace).root
    assert root.text == "The sum" and [e.label for e in root.ends] == ["Chain 1"]
    assert root.ends[0].correct is False  # no answer is wrong
    [rest] = root.children
    assert rest.text == " is 18" and rest.count == 1 and rest.ends[0].answer == "18"


def test_grades_come_from_the_vote_group_the_final_answer_or_the_caller() -> None:
    trace = voting_trace([chain(1, [("A", 0.5)], "18.0", group="18"),
                          chain(2, [("B", 0.5)], "20"), chain(3, [("C", 0.5)], "21")],
                         {"18": True})
    trace.final_answer = "20"
    ends = {e.label: e.correct for e in build_trie(trace, graded={"21": False}).chains}
    assert ends == {"Chain 1": True, "Chain 2": True, "Chain 3": False}
    assert build_trie(trace).chains[2].correct is None  # graded by no one


def test_rollouts_revisions_and_empty_chains_are_left_out_but_numbered() -> None:
    trace = four_chains()
    trace.nodes[1].meta["rollout"] = True
    trace.nodes.append(Node(5, 1, NodeKind.REVISION, "The answer is 18.", answer="18"))
    trace.nodes.append(Node(6, 0, NodeKind.CHAIN, ""))
    assert [n.id for n in divergent_chains(trace)] == [2, 3, 4]
    assert chain_labels(trace) == {2: "Chain 1", 3: "Chain 2", 4: "Chain 3", 6: "Chain 4"}


def test_chains_without_tokens_are_split_into_words() -> None:
    trace = voting_trace([Node(1, 0, NodeKind.CHAIN, "We add them. So 18.", answer="18"),
                          Node(2, 0, NodeKind.CHAIN, "We add 9 and 9: 18.", answer="18")],
                         {"18": True})
    trie = build_trie(trace)
    assert not trie.exact and trie.root.text == "We add"
    assert [c.probability for c in trie.root.children] == [None, None]
    assert "split into words" in divergence_summary(trie)


def test_html_draws_forks_counts_and_answers() -> None:
    trie = build_trie(four_chains())
    page = divergence_html(trie)
    assert "p = 0.80" in page and "3 chains" in page and "p = 0.20" in page
    assert "Chain 3</b> ends: answer" in page and "17 ✗" in page and "18 ✓</b> ×2" in page
    assert page.count("<details open") == 2  # branches holding several chains start open
    assert ("at the first token, the chains part 2 ways (their first tokens hold 100% of the "
            "probability)") in page and "after 1 token, the chains part 2 ways" in page
    assert "2 forks" in divergence_summary(trie)


def test_sixteen_chains_of_256_tokens_stay_small_and_fast() -> None:
    chains = []
    for i in range(16):  # 16 chains that fork at tokens 4, 8, 12, 16 (a binary tree)
        words = [(f" w{i >> (4 - min(position // 4, 4))}_{position}", 0.7)
                 for position in range(256)]
        chains.append(chain(i + 1, words, str(i % 3), group=str(i % 3)))
    trace = voting_trace(chains, {"0": True, "1": False, "2": False})
    started = time.perf_counter()
    trie = build_trie(trace)
    page = divergence_html(trie)
    assert time.perf_counter() - started < 1.0
    assert len(list(trie.root.walk())) == 31 and len(trie.forks()) == 15
    assert trie.first_fork() == 4 and len(page) < 300_000  # every token shaded: the worst case


def test_chain_html_highlights_the_answer_and_shades_unlikely_tokens() -> None:
    node = chain(1, [("The", 0.99), (" sum", 0.3), (" is", 0.99), (" 18", 0.9)], "18")
    node.answer_span = (len("The sum is "), len("The sum is 18"))
    page = chain_html(node)
    assert '<span title="p = 0.30"' in page and ">18</span></mark>" in page
    assert node_tree_html(four_chains()).count("<li>") == 5
